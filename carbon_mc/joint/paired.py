"""Compare two scenarios with common random numbers: the distribution of B / A and B - A.

"What does moving the run from Iowa to Quebec save, and how sure are we?" Much of the uncertainty
of a footprint is shared by the two sides of such a question: the same accelerators draw the same
unknown share of their TDP, sit in data centres of the same class, and wear out over the same
unknown life. Drawing those shared inputs once and using the same draw on both sides (common random
numbers; Glasserman 2004, *Monte Carlo Methods in Financial Engineering*, §4.2) cancels their
uncertainty out of the comparison, which is then much sharper than the difference of two
independent runs.

An input is shared when both scenarios draw it from the same prior (same quantity, same family and
parameters). An input whose prior differs (Quebec's grid against Iowa's) is an independent
uncertainty: B draws it from a stream of its own, renamed with `B_STREAM_SUFFIX`. Side A always
draws exactly as `carbon_mc.estimate` does with the same seed.

    >>> c = compare("models/llama31_8b.toml", "models/llama31_70b.toml", quantity="total_tco2e")
    >>> c.summary()["ratio"]["median"]   # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CarbonMCError, close_matches
from ..priors import Prior, PriorTable
from ..results.finite import apply_policy, check_policy
from ..sampling import COMMON_RANDOM_NUMBERS_METHOD, DEFAULT_CHUNK, Simulator, build_simulator, draw
from ..sampling.args import check_accounting, check_draw_args, check_flag, check_scenario, check_text
from ..scenarios import AnyScenario, load_any_scenario
from ..scenarios.deployment import ServingScenario
from ..scenarios.training import Scenario
from ..scenarios.units import CHECKABLE, SERVING_CHECKABLE

__all__ = ["B_STREAM_SUFFIX", "Comparison", "compare", "shared_inputs"]

B_STREAM_SUFFIX = "|compare:b"  # appended to the stream name of every input B draws on its own


@dataclass(frozen=True)
class Comparison:
    """Paired draws of one quantity for scenarios A and B.

    Attributes:
      quantity, units: the model output compared.
      a_name, b_name: the scenarios' names.
      a, b: the paired draws (draw i of A and draw i of B share the draws of every shared input).
      shared: inputs drawn once and used by both sides (empty without common random numbers).
      separate: inputs that B draws independently of A.
      common_random_numbers, num_draws, seed, accounting: how the draws were made.
    """

    quantity: str
    units: str
    a_name: str
    b_name: str
    a: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    shared: tuple[str, ...]
    separate: tuple[str, ...]
    common_random_numbers: bool
    num_draws: int
    seed: int
    accounting: dict
    nonfinite_draws_dropped: int = 0  # paired draws left out (nonfinite="drop"): not finite on either side

    @property
    def ratio(self) -> np.ndarray:
        """B / A, draw by draw (inf or nan where A is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.b / self.a

    @property
    def difference(self) -> np.ndarray:
        """B - A, draw by draw, in `units`."""
        return self.b - self.a

    @property
    def prob_b_less(self) -> float:
        """Share of paired draws with B < A: an estimate of P(B < A)."""
        return float(np.mean(self.b < self.a))

    def summary(self, ci_prob: float = 0.9) -> dict:
        """Median, mean and central `ci_prob` interval of A, B, B/A and B-A; P(B < A) with its MC error."""
        lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2

        def stats(x: np.ndarray) -> dict | None:
            if not np.all(np.isfinite(x)):
                return None  # B/A where A is 0
            q = np.quantile(x, [lo, 0.5, hi])
            return {"median": float(q[1]), "mean": float(np.mean(x)), "lower": float(q[0]), "upper": float(q[2])}

        p = self.prob_b_less
        return {
            "a": stats(self.a),
            "b": stats(self.b),
            "ratio": stats(self.ratio),
            "difference": stats(self.difference),
            "prob_b_less": p,
            "prob_b_less_se": math.sqrt(p * (1 - p) / self.a.size),
            "ci_prob": ci_prob,
        }

    def to_dict(self) -> dict:
        """JSON-ready record (no arrays)."""
        return {
            "a": self.a_name,
            "b": self.b_name,
            "quantity": self.quantity,
            "units": self.units,
            "num_draws": self.num_draws,
            "seed": self.seed,
            "common_random_numbers": self.common_random_numbers,
            "accounting": self.accounting,
            "shared_inputs": list(self.shared),
            "separate_inputs": list(self.separate),
            "summary": self.summary(),
            **({"nonfinite_draws_dropped": self.nonfinite_draws_dropped} if self.nonfinite_draws_dropped else {}),
        }


def _same_prior(p: Prior, q: Prior) -> bool:
    return p.family == q.family and p.params == q.params and p.num_columns == q.num_columns


def shared_inputs(a: Simulator, b: Simulator) -> list[str]:
    """Drawn inputs that `a` and `b` take from the same prior (same family and parameters)."""
    return [n for n in a.stochastic if n in b.stochastic and _same_prior(a.priors[n], b.priors[n])]


def compare(
    a: AnyScenario | str | Path,
    b: AnyScenario | str | Path,
    *,
    quantity: str = "total_tco2e",
    num_draws: int = 100_000,
    seed: int = 0,
    common_random_numbers: bool = True,
    grid_basis: str | None = None,
    pue_included: bool | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    nonfinite: str = "refuse",
) -> Comparison:
    """The distribution of B / A and B - A for one quantity, with common random numbers.

    Args:
      a, b: scenarios (objects, paths, or names of bundled ones): two training runs, or two
        deployments (serving scenarios, e.g. one model on A100 and on H100).
      quantity: the model output compared (``total_tco2e``, ``operational_tco2e``, ``energy_mwh``, ...).
      num_draws, seed, chunk_size: as for `carbon_mc.estimate`; both sides use the same seed.
      common_random_numbers: True (default) draws the shared inputs once for both sides; False
        draws every input of B independently of A (what two separate runs would give).
      grid_basis, pue_included: accounting switches applied to both sides (None: each scenario's own).
      nonfinite: "refuse" (default) draws that are not finite, or "drop" the pairs where either side
        is not (`carbon_mc.finite`); the count is ``nonfinite_draws_dropped``.

    Returns:
      a `Comparison`.

    Raises:
      InputError: an invalid scenario, draw count, seed or accounting switch.
      NumericError: draws of either scenario that are not finite (`carbon_mc.finite`).
    """
    check_scenario(a, "scenario a"), check_scenario(b, "scenario b"), check_text(quantity, "quantity")
    check_draw_args(num_draws=num_draws, seed=seed, chunk_size=chunk_size, priors=priors, nonfinite=nonfinite)
    check_flag(common_random_numbers, "common_random_numbers"), check_accounting(grid_basis, pue_included)
    sa, sb = (s if isinstance(s, (Scenario, ServingScenario)) else load_any_scenario(s, priors=priors) for s in (a, b))
    if isinstance(sa, ServingScenario) != isinstance(sb, ServingScenario):
        raise CarbonMCError(f"cannot compare a training run with a deployment ({sa.name!r}, {sb.name!r}); "
                            "for training plus serving use carbon_mc.lifecycle")
    valid = SERVING_CHECKABLE if isinstance(sa, ServingScenario) else CHECKABLE
    if quantity not in valid:
        raise CarbonMCError(f"cannot compare quantity {quantity!r}; {close_matches(quantity, valid)}")
    sa = sa.with_accounting(grid_basis=grid_basis, pue_included=pue_included)
    sb = sb.with_accounting(grid_basis=grid_basis, pue_included=pue_included)
    ma, mb = build_simulator(sa, priors=priors), build_simulator(sb, priors=priors)
    shared = shared_inputs(ma, mb) if common_random_numbers else []
    separate = [n for n in mb.stochastic if n not in shared]
    mb = mb.with_streams({n: mb.stream(n) + B_STREAM_SUFFIX for n in separate})
    check_policy(nonfinite)
    _, out_a = draw(ma, num_draws=num_draws, seed=seed, chunk_size=chunk_size, method=COMMON_RANDOM_NUMBERS_METHOD, nonfinite="keep")
    _, out_b = draw(mb, num_draws=num_draws, seed=seed, chunk_size=chunk_size, method=COMMON_RANDOM_NUMBERS_METHOD, nonfinite="keep")
    _, pairs, dropped = apply_policy({}, {**{f"A {k}": v for k, v in out_a.items()}, **{f"B {k}": v for k, v in out_b.items()}},
                                     nonfinite)  # pairs stay paired: a draw is dropped on both sides or neither
    out_a, out_b = ({k: pairs[f"{side} {k}"] for k in out} for side, out in (("A", out_a), ("B", out_b)))
    return Comparison(
        quantity=quantity,
        units=ma.output_table[quantity].units,
        a_name=sa.name,
        b_name=sb.name,
        a=np.asarray(out_a[quantity], dtype=np.float64),
        b=np.asarray(out_b[quantity], dtype=np.float64),
        shared=tuple(shared),
        separate=tuple(separate),
        common_random_numbers=common_random_numbers,
        num_draws=num_draws,
        seed=int(seed),
        accounting={
            "a": {"grid_basis": ma.run.grid_basis, "pue_included": ma.run.pue_included},
            "b": {"grid_basis": mb.run.grid_basis, "pue_included": mb.run.pue_included},
        },
        nonfinite_draws_dropped=dropped,
    )
