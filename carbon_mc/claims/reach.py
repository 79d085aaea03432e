"""Which inputs would have to move for a claim: their shifts among the draws beyond it, and the factors.

- `input_shifts`: each drawn input among the selected draws (those at or beyond a claim) against
  all its draws (its prior), ranked by Kolmogorov-Smirnov distance.
- `reach_factors`: when no draw reaches a claim, the smallest factor by which the inputs would have
  to move, all together or one alone (`ReachFactors`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError, close_matches
from ..results.statistics import percentile_of
from ..sampling import Simulator
from ..sampling.args import check_choice, check_real, check_text, check_values
from ..sampling.simulator import check_simulator

__all__ = ["MAX_FACTOR", "InputShift", "ReachFactors", "input_columns", "input_shifts", "ks_distance", "reach_factors"]

MAX_FACTOR = 1e6  # factors beyond this are reported as unreachable (math.inf)


def _finite(v: float) -> float | None:
    """`v`, or None where it is not finite (JSON has no inf)."""
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class InputShift:
    """How one input's draws at or beyond the claim differ from its prior (all its draws).

    Attributes:
      name: the input (``pue``), or ``name[component]`` for one component of a joint prior.
      units: its units.
      prior: (p5, median, p95) of all draws, i.e. of the prior.
      conditional: (p5, median, p95) of the draws at or beyond the claim.
      median_ratio: conditional median / prior median (> 1: the claim needs a larger value).
      prior_percentile: where the conditional median sits in the prior, 0-100.
      ks_distance: Kolmogorov-Smirnov distance between the two samples, 0 (no shift) to 1.
    """

    name: str
    units: str
    prior: tuple[float, float, float]
    conditional: tuple[float, float, float]
    median_ratio: float
    prior_percentile: float
    ks_distance: float

    def to_dict(self) -> dict:
        return {
            "input": self.name,
            "units": self.units,
            "prior_p5_median_p95": list(self.prior),
            "conditional_p5_median_p95": list(self.conditional),
            "median_ratio": self.median_ratio,
            "prior_percentile_of_conditional_median": self.prior_percentile,
            "ks_distance": self.ks_distance,
        }


@dataclass(frozen=True)
class ReachFactors:
    """How far the drawn inputs would have to move for any draw to reach an unreached claim.

    Each drawn input is multiplied by f or divided by f, whichever moves the quantity toward the
    claim (`directions`: +1 multiply, -1 divide, 0 the quantity does not depend on it).

    Attributes:
      common: the smallest f >= 1 that, applied to every input that matters at once, brings at
        least one draw to the claim. For a quantity that is a product of k such inputs it is
        (claim / extreme) ** (1 / k), the extreme being the largest (or smallest) draw.
      per_input: {input: the smallest f for that input alone}, ``math.inf`` when moving it alone by
        up to `MAX_FACTOR` does not reach the claim (e.g. it only enters an additive term).
      directions: {input: +1 | -1 | 0}.

    The factors are distances, not plausibilities: they ignore the priors' supports (a PUE below 1,
    a utilization above 1) and say only how far the inputs are from what the claim needs. They are
    measured from the most extreme draw, so they shrink slowly as the number of draws grows (for the
    Strubell NAS claim: 2.9 at 2e5 draws, 2.7 at 1e6).
    """

    common: float
    per_input: dict[str, float]
    directions: dict[str, int]

    @property
    def num_inputs(self) -> int:
        """How many inputs move (those the quantity depends on)."""
        return sum(1 for d in self.directions.values() if d != 0)

    @property
    def alone(self) -> list[tuple[str, float]]:
        """(input, factor) of the inputs that reach the claim alone, smallest factor first."""
        return [(n, f) for f, n in sorted((f, n) for n, f in self.per_input.items() if math.isfinite(f))]

    def to_dict(self) -> dict:
        return {
            "common_factor": _finite(self.common),
            "num_inputs_moved": self.num_inputs,
            "per_input_factor": {k: _finite(v) for k, v in self.per_input.items()},
            "directions": self.directions,
        }


# ---------------------------------------------------------------------------------------------
def _check_inputs(inputs, model: Simulator) -> None:
    """`inputs` is a dict of draws holding every drawn input of `model`, else an `InputError` naming it."""
    if not isinstance(inputs, dict):
        raise InputError(f"inputs must be a dict of draws (input name -> array), got {type(inputs).__name__}")
    missing = [name for name in model.stochastic if name not in inputs]
    if missing:
        raise InputError(f"inputs lacks the draws of {', '.join(missing[:4])}")


def input_columns(model: Simulator, inputs: dict) -> Iterator[tuple[str, str, np.ndarray]]:
    """(label, units, values) of every drawn input, one per component of a joint prior."""
    check_simulator(model)
    _check_inputs(inputs, model)
    for name in model.stochastic:
        x = np.asarray(inputs[name], dtype=np.float64)
        prior = model.priors[name]
        if x.ndim == 1:
            yield name, prior.units, x
        else:
            for j, comp in enumerate(prior.components):
                yield f"{name}[{comp}]", prior.units, x[:, j]


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic, sup |F_a - F_b| over the pooled values."""
    a, b = check_values(a, "a"), check_values(b, "b")
    a, b = np.sort(a), np.sort(b)
    z = np.concatenate([a, b])
    fa = np.searchsorted(a, z, side="right") / a.size
    fb = np.searchsorted(b, z, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def _p5_median_p95(x: np.ndarray) -> tuple[float, float, float]:
    p5, p50, p95 = (float(v) for v in np.quantile(x, [0.05, 0.5, 0.95]))
    return p5, p50, p95


def _shift(name: str, units: str, x: np.ndarray, selected: np.ndarray) -> InputShift:
    sub = x[selected]
    prior = _p5_median_p95(x)
    cond = _p5_median_p95(sub)
    ratio = cond[1] / prior[1] if prior[1] != 0 else math.nan
    return InputShift(name, units, prior, cond, ratio, float(percentile_of(x, cond[1])), ks_distance(sub, x))


def input_shifts(model: Simulator, inputs: dict, selected: np.ndarray) -> list[InputShift]:
    """Each drawn input among the `selected` draws against all draws (its prior), largest shift first.

    Raises:
      KeyError: `inputs` lacks a drawn input of `model`.
    """
    check_simulator(model)
    _check_inputs(inputs, model)
    if not isinstance(selected, np.ndarray) or selected.dtype != bool or selected.ndim != 1:
        raise InputError(f"selected must be a 1-dimensional boolean NumPy array (which draws), got {type(selected).__name__}")
    shifts = [_shift(name, units, x, selected) for name, units, x in input_columns(model, inputs)]
    return sorted(shifts, key=lambda s: -s.ks_distance)


# ---------------------------------------------------------------------------------------------
def _extreme_draw(model: Simulator, inputs: dict, quantity: str, toward: float) -> Callable[[np.ndarray], float]:
    """g(log_f): the extreme draw of `quantity` with input i scaled by exp(log_f[i]), signed by `toward`.

    Larger is closer to a claim on the `toward` side (+1 above the draws, -1 below).
    """
    names = list(model.stochastic)
    fixed = {k: jnp.float32(v) for k, v in model.fixed.items()}
    x = {k: jnp.asarray(inputs[k]) for k in names}
    n = next(iter(x.values())).shape[0]

    @jax.jit
    def extreme(xs, log_f):
        scaled = {k: xs[k] * jnp.exp(log_f[i]) for i, k in enumerate(names)}
        y = jnp.broadcast_to(model.outputs({**fixed, **scaled})[quantity], (n,))
        return jnp.max(toward * y)

    return lambda log_f: float(extreme(x, jnp.asarray(log_f, jnp.float32)))


def _directions(g: Callable[[np.ndarray], float], names: list[str]) -> dict[str, int]:
    """+1 where multiplying an input by 2 moves the extreme draw toward the claim, -1 dividing, else 0."""
    k = len(names)
    base = g(np.zeros(k))

    def closer(v):
        return v > base + 1e-6 * abs(base)  # beyond float32 rounding

    step = math.log(2.0)
    directions = {}
    for i, name in enumerate(names):
        e = np.zeros(k)
        e[i] = step
        directions[name] = 1 if closer(g(e)) else (-1 if closer(g(-e)) else 0)
    return directions


def _smallest_factor(g: Callable[[np.ndarray], float], signs: np.ndarray, target: float, max_factor: float) -> float:
    """The smallest f with g(log f * signs) >= target, by bisection on log f; inf beyond `max_factor`."""
    if not signs.any():
        return math.inf
    hi = math.log(max_factor)
    if g(hi * signs) < target:
        return math.inf
    lo = 0.0
    if g(np.zeros(signs.size)) >= target:
        return 1.0
    while hi - lo > 1e-7:
        mid = 0.5 * (lo + hi)
        if g(mid * signs) >= target:
            hi = mid
        else:
            lo = mid
    return math.exp(hi)


def reach_factors(
    model: Simulator, inputs: dict, quantity: str, claim_value: float, direction: str = "above", *, max_factor: float = MAX_FACTOR
) -> ReachFactors:
    """The factors by which the drawn inputs would have to move for a draw to reach `claim_value`.

    See `ReachFactors` for the definitions. `direction` is "above" when the claim lies above the
    draws (the quantity must grow), "below" otherwise. Each factor is found by bisection on log f
    over every draw (the carbon model is monotone in each input, so the extreme draw moves
    monotonically with f).

    Raises:
      KeyError: `quantity` is not an output of `model`, or `inputs` lacks one of its drawn inputs.
    """
    check_simulator(model)
    _check_inputs(inputs, model)
    check_text(quantity, "quantity"), check_choice(direction, "direction", ("above", "below"))
    if quantity not in model.output_table:
        raise InputError(f"quantity {quantity!r} is not an output of this scenario's chain; {close_matches(quantity, model.output_table)}")
    check_real(claim_value, "claim_value"), check_real(max_factor, "max_factor", above=1.0)
    names = list(model.stochastic)
    if not names:
        return ReachFactors(common=math.inf, per_input={}, directions={})
    toward = 1.0 if direction == "above" else -1.0
    g = _extreme_draw(model, inputs, quantity, toward)
    target = toward * claim_value
    directions = _directions(g, names)
    signs = np.array([directions[n] for n in names], dtype=np.float64)
    per_input = {}
    for i, name in enumerate(names):
        only = np.zeros(len(names))
        only[i] = signs[i]
        per_input[name] = _smallest_factor(g, only, target, max_factor)
    return ReachFactors(common=_smallest_factor(g, signs, target, max_factor), per_input=per_input, directions=directions)
