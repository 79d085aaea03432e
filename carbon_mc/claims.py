"""Check a published figure against the distribution a scenario implies.

`check_claim` draws the scenario (on the claim's accounting basis) and answers:

- where the claim falls: its percentile, and the probability that the true value is at least the claim;
- how far off it is: the ratio claim / X, its median claim / median(X) and 90% interval
  [claim / q95(X), claim / q5(X)] (Patterson et al. 2021 found Strubell et al.'s NAS estimate
  "88 times" too high: that ratio, here with its uncertainty);
- what it would take: the inputs' distributions among the draws at or beyond the claim against their
  priors, ranked by how far they shift (Kolmogorov-Smirnov distance), and, when no draw reaches
  the claim, the smallest factor by which the inputs would have to move (`ReachFactors`).

`model_card_block` writes the distribution as a Hugging Face ``co2_eq_emissions`` block.

    >>> result = check_claim("evolved_transformer_nas_actual", 626_155, "lb", quantity="operational_tco2e")
    >>> result.verdict, round(result.ratio_median)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .sampling import DEFAULT_CHUNK, Simulator, build_simulator, draw, package_version
from .errors import CarbonMCError
from .footprint import OUTPUTS
from .priors import PriorTable
from .scenario import CO2E_SCOPES, ENERGY_SCOPES, Claim, Scenario, load_scenario
from .summary import percentile_of
from .units import CHECKABLE, default_quantity, parse_unit, to_quantity_units

__all__ = [
    "Claim",
    "ClaimCheck",
    "InputShift",
    "ReachFactors",
    "check_claim",
    "check_claims",
    "input_shifts",
    "ks_distance",
    "make_claim",
    "model_card_block",
    "reach_factors",
    "scenario_claims",
    "simulate",
]

CI_PROB = 0.90
MAX_FACTOR = 1e6  # factors beyond this are reported as unreachable (math.inf)
TAIL_FRACTION = 0.01  # when no draw reaches a claim, shifts are read from this share of draws nearest it


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

    def to_dict(self) -> dict:
        finite = lambda v: v if math.isfinite(v) else None  # noqa: E731  (JSON has no inf)
        return {
            "common_factor": finite(self.common),
            "num_inputs_moved": self.num_inputs,
            "per_input_factor": {k: finite(v) for k, v in self.per_input.items()},
            "directions": self.directions,
        }


@dataclass(frozen=True)
class ClaimCheck:
    """A claim checked against a scenario's distribution. Values are in the quantity's units.

    Attributes:
      claim: the claim as given; `claim_value` is it in `units` (t CO2e or MWh).
      quantity, units: the model output checked.
      accounting: {"grid_basis": ..., "pue_included": ...} the draws were made on.
      median, interval: median and central 90% interval (p5, p95) of the quantity.
      percentile: the claim's percentile in the draws (mid-rank for ties), 0-100.
      prob_at_least: share of draws >= the claim, an estimate of P(true value >= claim);
        `prob_at_least_se` its Monte Carlo standard error (0 when no draw is >= the claim: then
        `3 / num_draws` is a 95% upper bound, the "rule of three").
      ratio_median, ratio_interval: claim / median and the 90% interval of claim / X,
        (claim / p95, claim / p5); nan where the quantity is 0.
      direction: "above" (the claim is at or above the median) or "below".
      num_beyond: draws at or beyond the claim (>= for above, <= for below).
      extreme: the largest draw (claim above) or the smallest (claim below).
      conditioned_on: which draws `shifts` describe.
      shifts: per input, sorted by KS distance, largest first.
      reach: when no draw reaches the claim, the factors the inputs would need; else None.
      values, inputs, selected: the draws of the quantity, of each drawn input ({label: draws},
        one label per component of a joint prior), and the mask of the draws `shifts` describes.
    """

    claim: Claim
    claim_value: float
    quantity: str
    units: str
    scenario_name: str
    accounting: dict
    num_draws: int
    seed: int
    median: float
    interval: tuple[float, float]
    percentile: float
    prob_at_least: float
    prob_at_least_se: float
    ratio_median: float
    ratio_interval: tuple[float, float]
    direction: str
    num_beyond: int
    extreme: float
    conditioned_on: str
    shifts: tuple[InputShift, ...]
    reach: ReachFactors | None
    sources: dict[str, str] = field(default_factory=dict, repr=False)
    values: np.ndarray | None = field(default=None, repr=False, compare=False)
    inputs: dict | None = field(default=None, repr=False, compare=False)
    selected: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def verdict(self) -> str:
        """One phrase: inside the 90% interval, outside it, an extreme outlier, or beyond every draw."""
        if self.num_beyond == 0:
            return f"beyond every one of the {self.num_draws:,} draws"
        if not 0.5 <= self.percentile <= 99.5:
            return "an extreme outlier (beyond the central 99%)"
        if not 5.0 <= self.percentile <= 95.0:
            return "outside the central 90% interval"
        return "inside the central 90% interval"

    def to_dict(self) -> dict:
        """JSON-ready record (no arrays)."""
        finite = lambda v: v if math.isfinite(v) else None  # noqa: E731
        return {
            "scenario": self.scenario_name,
            "claim": {
                "label": self.claim.label,
                "value": self.claim.value,
                "unit": self.claim.unit,
                "source": self.claim.source,
                "value_in_quantity_units": self.claim_value,
            },
            "quantity": self.quantity,
            "units": self.units,
            "accounting": self.accounting,
            "num_draws": self.num_draws,
            "seed": self.seed,
            "median": self.median,
            "p5": self.interval[0],
            "p95": self.interval[1],
            "percentile": self.percentile,
            "prob_at_least": self.prob_at_least,
            "prob_at_least_se": self.prob_at_least_se,
            "ratio_claim_to_median": finite(self.ratio_median),
            "ratio_interval_90": [finite(v) for v in self.ratio_interval],
            "verdict": self.verdict,
            "direction": self.direction,
            "num_beyond": self.num_beyond,
            "extreme": self.extreme,
            "shifts_conditioned_on": self.conditioned_on,
            "shifts": [s.to_dict() for s in self.shifts],
            "reach": self.reach.to_dict() if self.reach else None,
        }


# ---------------------------------------------------------------------------------------------
def simulate(
    scenario: Scenario | str | Path,
    *,
    num_draws: int = 100_000,
    seed: int = 0,
    grid_basis: str | None = None,
    pue_included: bool | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
) -> tuple[Simulator, dict, dict]:
    """Draw a scenario on a given accounting basis: (model, inputs, outputs), NumPy arrays over draws."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, priors=priors)
    scenario = scenario.with_accounting(grid_basis=grid_basis, pue_included=pue_included)
    model = build_simulator(scenario, priors=priors)
    inputs, outputs = draw(model, num_draws=num_draws, seed=seed, chunk_size=chunk_size)
    return model, inputs, outputs


def scenario_claims(scenario: Scenario) -> list[Claim]:
    """The claims a scenario carries: its [[claims]], then the figures of its [reported] block."""
    claims = list(scenario.claims)
    rep = scenario.reported
    if rep.energy_mwh is not None:
        quantity = ENERGY_SCOPES[rep.energy_scope]  # compare like with like: the figure's own energy scope
        claims.append(Claim(rep.energy_mwh, "MWh", quantity, label=f"reported energy ({rep.energy_scope})", source=rep.source))
    if rep.co2e_t is not None:
        claims.append(Claim(rep.co2e_t, "t", CO2E_SCOPES[rep.co2e_scope], label=f"reported {rep.co2e_scope} CO2e",
                            source=rep.source))
    return claims


def make_claim(value: float, unit: str, quantity: str | None = None, **extra) -> Claim:
    """A validated `Claim` from a value and a unit; the quantity defaults by the unit's kind."""
    symbol = parse_unit(unit).symbol
    quantity = quantity or default_quantity(symbol)
    to_quantity_units(value, symbol, quantity)  # raises on a mass against an energy, or a bad value
    extra.setdefault("label", f"{value:g} {symbol}")
    return Claim(float(value), symbol, quantity, **extra)


def check_claim(
    scenario: Scenario | str | Path,
    claim: Claim | float,
    unit: str | None = None,
    *,
    quantity: str | None = None,
    grid_basis: str | None = None,
    pue_included: bool | None = None,
    num_draws: int = 100_000,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    tail_fraction: float = TAIL_FRACTION,
    _draws: tuple | None = None,
) -> ClaimCheck:
    """Check one published figure against the distribution of `scenario`.

    Args:
      scenario: a `Scenario`, a path, or the name of a bundled scenario.
      claim: a `Claim`, or a number with its `unit` ("lb", "tCO2e", "kWh", ...).
      quantity: the model output to check against (default: the claim's, or total_tco2e for a
        mass and energy_mwh for an energy).
      grid_basis, pue_included: accounting switches; None uses the claim's own, else the scenario's.
      num_draws, seed, chunk_size: as for `carbon_mc.estimate`.
      tail_fraction: when no draw reaches the claim, the share of draws nearest it whose inputs
        `shifts` describes.

    Returns:
      a `ClaimCheck`.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, priors=priors)
    if not isinstance(claim, Claim):
        if unit is None:
            raise CarbonMCError("a claim given as a number needs its unit (e.g. 't', 'lb', 'kWh')")
        claim = make_claim(claim, unit, quantity)
    elif quantity is not None and quantity != claim.quantity:
        claim = make_claim(claim.value, claim.unit, quantity, label=claim.label, source=claim.source,
                           grid_basis=claim.grid_basis, pue_included=claim.pue_included)
    if claim.quantity not in CHECKABLE:
        raise CarbonMCError(f"cannot check against {claim.quantity!r}; valid: {', '.join(CHECKABLE)}")
    basis = claim.grid_basis if grid_basis is None else grid_basis
    pue = claim.pue_included if pue_included is None else pue_included
    if _draws is None:
        _draws = simulate(scenario, num_draws=num_draws, seed=seed, grid_basis=basis, pue_included=pue,
                          chunk_size=chunk_size, priors=priors)
    model, inputs, outputs = _draws
    if claim.quantity not in outputs:
        raise CarbonMCError(f"this run's model has no {claim.quantity} on this accounting basis", file=scenario.file)
    return _analyse(model, inputs, outputs, claim, seed=seed, tail_fraction=tail_fraction)


def check_claims(
    scenario: Scenario | str | Path,
    claims: Sequence[Claim] | None = None,
    *,
    grid_basis: str | None = None,
    pue_included: bool | None = None,
    num_draws: int = 100_000,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
) -> list[ClaimCheck]:
    """Check several claims (default: all the scenario carries), drawing once per accounting basis."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, priors=priors)
    claims = scenario_claims(scenario) if claims is None else list(claims)
    if not claims:
        raise CarbonMCError("the scenario carries no claim: add [[claims]] or [reported], or give one", file=scenario.file)
    cache: dict[tuple, tuple] = {}
    results = []
    for claim in claims:
        basis = claim.grid_basis if grid_basis is None else grid_basis
        pue = claim.pue_included if pue_included is None else pue_included
        effective = scenario.with_accounting(grid_basis=basis, pue_included=pue).accounting
        key = (effective.grid_basis, effective.pue_included)
        if key not in cache:
            cache[key] = simulate(scenario, num_draws=num_draws, seed=seed, grid_basis=basis, pue_included=pue,
                                  chunk_size=chunk_size, priors=priors)
        results.append(check_claim(scenario, claim, grid_basis=basis, pue_included=pue, seed=seed, _draws=cache[key]))
    return results


# ---------------------------------------------------------------------------------------------
def _analyse(model: Simulator, inputs: dict, outputs: dict, claim: Claim, *, seed, tail_fraction: float) -> ClaimCheck:
    y = np.asarray(outputs[claim.quantity], dtype=np.float64)
    n = y.size
    c = claim.value_in_quantity_units
    p5, median, p95 = (float(v) for v in np.quantile(y, [0.05, 0.5, 0.95]))
    direction = "above" if c >= median else "below"
    beyond = y >= c if direction == "above" else y <= c
    num_beyond = int(np.count_nonzero(beyond))
    prob = float(np.count_nonzero(y >= c)) / n
    if num_beyond > 0:
        selected = beyond
        conditioned_on = f"the {num_beyond:,} draws at or {direction} the claim"
    else:
        m = max(1, math.ceil(tail_fraction * n))
        order = np.argpartition(-y if direction == "above" else y, m - 1)[:m]
        selected = np.zeros(n, dtype=bool)
        selected[order] = True
        conditioned_on = f"the {m:,} draws nearest the claim ({tail_fraction:.0%}); none reach it"
    reach = None
    if num_beyond == 0:
        reach = reach_factors(model, inputs, claim.quantity, c, direction)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = lambda d: float(c / d) if d != 0 else math.nan  # noqa: E731
        ratio_median, ratio_interval = ratio(median), (ratio(p95), ratio(p5))
    return ClaimCheck(
        claim=claim,
        claim_value=c,
        quantity=claim.quantity,
        units=OUTPUTS[claim.quantity].units,
        scenario_name=model.scenario.name,
        accounting={"grid_basis": model.run.grid_basis, "pue_included": model.run.pue_included},
        num_draws=n,
        seed=int(seed) if isinstance(seed, (int, np.integer)) else -1,
        median=median,
        interval=(p5, p95),
        percentile=float(percentile_of(y, c)),
        prob_at_least=prob,
        prob_at_least_se=math.sqrt(prob * (1.0 - prob) / n),
        ratio_median=ratio_median,
        ratio_interval=ratio_interval,
        direction=direction,
        num_beyond=num_beyond,
        extreme=float(y.max() if direction == "above" else y.min()),
        conditioned_on=conditioned_on,
        shifts=tuple(input_shifts(model, inputs, selected)),
        reach=reach,
        sources={name: p.source for name, p in model.priors.items()},
        values=y,
        inputs={label: x for label, _, x in _columns(model, inputs)},
        selected=selected,
    )


def _columns(model: Simulator, inputs: dict):
    """(label, units, values) of every drawn input, one per component of a joint prior."""
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
    a, b = np.sort(a), np.sort(b)
    z = np.concatenate([a, b])
    fa = np.searchsorted(a, z, side="right") / a.size
    fb = np.searchsorted(b, z, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def input_shifts(model: Simulator, inputs: dict, selected: np.ndarray) -> list[InputShift]:
    """Each drawn input among the `selected` draws against all draws (its prior), largest shift first."""
    shifts = []
    for name, units, x in _columns(model, inputs):
        sub = x[selected]
        prior = tuple(float(v) for v in np.quantile(x, [0.05, 0.5, 0.95]))
        cond = tuple(float(v) for v in np.quantile(sub, [0.05, 0.5, 0.95]))
        ratio = cond[1] / prior[1] if prior[1] != 0 else math.nan
        shifts.append(InputShift(name, units, prior, cond, ratio, float(percentile_of(x, cond[1])), ks_distance(sub, x)))
    return sorted(shifts, key=lambda s: -s.ks_distance)


# ---------------------------------------------------------------------------------------------
def reach_factors(
    model: Simulator, inputs: dict, quantity: str, claim_value: float, direction: str = "above", *, max_factor: float = MAX_FACTOR
) -> ReachFactors:
    """The factors by which the drawn inputs would have to move for a draw to reach `claim_value`.

    See `ReachFactors` for the definitions. `direction` is "above" when the claim lies above the
    draws (the quantity must grow), "below" otherwise. Each factor is found by bisection on log f
    over every draw (the carbon model is monotone in each input, so the extreme draw moves
    monotonically with f).
    """
    names = list(model.stochastic)
    if not names:
        return ReachFactors(common=math.inf, per_input={}, directions={})
    fixed = {k: jnp.float32(v) for k, v in model.fixed.items()}
    x = {k: jnp.asarray(inputs[k]) for k in names}
    n = next(iter(x.values())).shape[0]
    toward = 1.0 if direction == "above" else -1.0

    @jax.jit
    def extreme(xs, log_f):  # the extreme draw, signed so that larger is closer to the claim
        scaled = {k: xs[k] * jnp.exp(log_f[i]) for i, k in enumerate(names)}
        y = jnp.broadcast_to(model.outputs({**fixed, **scaled})[quantity], (n,))
        return jnp.max(toward * y)

    def g(log_f: np.ndarray) -> float:
        return float(extreme(x, jnp.asarray(log_f, jnp.float32)))

    target = toward * claim_value
    k = len(names)
    base = g(np.zeros(k))
    closer = lambda v: v > base + 1e-6 * abs(base)  # noqa: E731  (beyond float32 rounding)
    directions = {}
    step = math.log(2.0)
    for i, name in enumerate(names):
        e = np.zeros(k)
        e[i] = step
        directions[name] = 1 if closer(g(e)) else (-1 if closer(g(-e)) else 0)
    signs = np.array([directions[n] for n in names], dtype=np.float64)

    def smallest(sign_vector: np.ndarray) -> float:
        if not sign_vector.any():
            return math.inf
        hi = math.log(max_factor)
        if g(hi * sign_vector) < target:
            return math.inf
        lo = 0.0
        if g(np.zeros(k)) >= target:
            return 1.0
        while hi - lo > 1e-7:
            mid = 0.5 * (lo + hi)
            if g(mid * sign_vector) >= target:
                hi = mid
            else:
                lo = mid
        return math.exp(hi)

    per_input = {}
    for i, name in enumerate(names):
        only = np.zeros(k)
        only[i] = signs[i]
        per_input[name] = smallest(only)
    return ReachFactors(common=smallest(signs), per_input=per_input, directions=directions)


# ---------------------------------------------------------------------------------------------
def _yaml_scalar(value) -> str:
    """One YAML scalar: numbers bare, strings double-quoted with escapes (YAML 1.2 §7.3.1)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value!r} to a model card")
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def _yaml(obj, indent: int = 0) -> list[str]:
    pad = " " * indent
    lines = []
    for key, value in obj.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.extend(_yaml(value, indent + 2))
        elif isinstance(value, (list, tuple)):
            lines.append(f"{pad}{key}:")
            lines.extend(f"{pad}  - {_yaml_scalar(v)}" for v in value)
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(value)}")
    return lines


def _sig(x: float, digits: int = 4):
    """`x` rounded to `digits` significant figures; an int when that loses nothing."""
    if x == 0 or not math.isfinite(x):
        return 0 if x == 0 else x
    r = float(f"{x:.{digits}g}")
    return int(r) if abs(r) >= 10 ** (digits - 1) else r


def model_card_block(
    scenario: Scenario,
    values_t: np.ndarray,
    *,
    quantity: str = "total_tco2e",
    accounting: dict | None = None,
    num_draws: int | None = None,
    seed: int | None = None,
    sources: dict[str, str] | None = None,
    training_type: str = "pre-training",
    geographical_location: str | None = None,
    hardware_used: str | None = None,
) -> str:
    """A Hugging Face ``co2_eq_emissions`` metadata block (YAML) for a distribution of CO2e.

    The Hub's fields (huggingface.co/docs/hub/model-cards-co2): ``emissions`` in grams (here the
    median), ``source``, ``training_type``, ``geographical_location``, ``hardware_used``. carbon-mc
    adds the 90% interval (grams), the quantity, the accounting basis, the method and the source of
    every prior.

    Args:
      scenario: the run.
      values_t: draws of `quantity` in tonnes CO2e.
      sources: {input: source} of the priors used.
    """

    if OUTPUTS[quantity].units != "t":
        raise CarbonMCError(f"a model card reports CO2e; {quantity} is not in t CO2e")
    g = np.asarray(values_t, dtype=np.float64) * 1e6
    p5, median, p95 = (float(v) for v in np.quantile(g, [0.05, 0.5, 0.95]))
    if geographical_location is None:
        geographical_location = (f"grid region '{scenario.region}' (carbon-mc priors)" if scenario.region
                                 else "not given (grid factor fixed in the scenario)")
    if hardware_used is None:
        from .priors import load_priors

        name = load_priors().hardware.get(scenario.hardware, {}).get("name", scenario.hardware)
        if scenario.devices:
            hardware_used = f"{int(scenario.devices):,} x {name}"
        elif scenario.device_hours:
            hardware_used = f"{scenario.device_hours:,.0f} device-hours of {name}"
        else:
            hardware_used = f"{name} (device-hours derived from compute and utilization)"
    accounting = accounting or {"grid_basis": scenario.accounting.grid_basis, "pue_included": scenario.accounting.pue_included}
    draws_text = f"{num_draws:,} draws, seed {seed}" if num_draws is not None else f"{g.size:,} draws"
    block = {
        "co2_eq_emissions": {
            "emissions": _sig(median),
            "source": f"carbon-mc {package_version('carbon-mc')} Monte Carlo estimate for '{scenario.name}'"
                      + (f" (run facts: {scenario.source})" if scenario.source else ""),
            "training_type": training_type,
            "geographical_location": geographical_location,
            "hardware_used": hardware_used,
            "emissions_interval_90": [_sig(p5), _sig(p95)],
            "emissions_statistic": "median",
            "emissions_quantity": quantity,
            "accounting": {
                "grid_basis": f"{accounting['grid_basis']}-based",
                "pue_included": bool(accounting["pue_included"]),
            },
            "method": f"carbon-mc: Monte Carlo over cited priors ({draws_text}); emissions is the median "
                      "and emissions_interval_90 the central 90% interval, in grams CO2e",
            "priors_sources": [f"{k}: {v}" for k, v in sorted((sources or {}).items())],
        }
    }
    return "\n".join(_yaml(block)) + "\n"
