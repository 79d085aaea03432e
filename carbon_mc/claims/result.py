"""What a claim check finds: one claim against a scenario's draws (`ClaimCheck`), and a scenario's
claims with its model card (`ScenarioCheck`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..footprint import WITHOUT_PUE
from ..scenarios.training import Claim
from .method import MethodVerdict
from .reach import InputShift, ReachFactors

__all__ = ["ClaimCheck", "ScenarioCheck"]


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


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
        `rule_of_three_bound` is a 95% upper bound).
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
      method: when the claim states how it was computed, the arithmetic and physics verdicts
        (`carbon_mc.claims.method.MethodVerdict`); else None.
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
    method: MethodVerdict | None = field(default=None, repr=False, compare=False)

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

    @property
    def pue_in_quantity(self) -> bool:
        """Whether the quantity can include the data centre's overhead (PUE) at all."""
        return self.quantity not in WITHOUT_PUE

    @property
    def rule_of_three_bound(self) -> float:
        """3 / num_draws: a 95% upper bound on P(true value >= claim) when no draw is >= the claim."""
        return 3 / self.num_draws

    def to_dict(self) -> dict:
        """JSON-ready record (no arrays); "method" only when the claim states its method."""
        record = {
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
            "ratio_claim_to_median": _finite(self.ratio_median),
            "ratio_interval_90": [_finite(v) for v in self.ratio_interval],
            "verdict": self.verdict,
            "direction": self.direction,
            "num_beyond": self.num_beyond,
            "extreme": self.extreme,
            "shifts_conditioned_on": self.conditioned_on,
            "shifts": [s.to_dict() for s in self.shifts],
            "reach": self.reach.to_dict() if self.reach else None,
        }
        if self.method is not None:
            record["method"] = self.method.to_dict()
        return record


@dataclass(frozen=True)
class ScenarioCheck:
    """What `check_scenario` found: the claims checked and, if asked for, the model card of the same draws
    (`model_card`, the ``co2_eq_emissions`` YAML; `card_body`, the Hub template's "Environmental Impact"
    fields from the same numbers, `carbon_mc.claims.model_card.environmental_values`)."""

    scenario_name: str
    checks: tuple[ClaimCheck, ...]
    model_card: str | None = None
    card_body: dict | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        """JSON-ready record of the checks (the model card is text of its own)."""
        return {"checks": [c.to_dict() for c in self.checks]}
