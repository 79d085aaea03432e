"""Check a published figure against the distribution a scenario implies.

`check_claim` draws the scenario (on the claim's accounting basis) and answers:

- where the claim falls: its percentile, and the probability that the true value is at least the claim;
- how far off it is: the ratio claim / X, its median claim / median(X) and 90% interval
  [claim / q95(X), claim / q5(X)] (Patterson et al. 2021 found Strubell et al.'s NAS estimate
  "88 times" too high: that ratio, here with its uncertainty);
- what it would take: the inputs' distributions among the draws at or beyond the claim against their
  priors, ranked by how far they shift (Kolmogorov-Smirnov distance), and, when no draw reaches
  the claim, the smallest factor by which the inputs would have to move (`ReachFactors`).

`model_card_block` writes the distribution as a Hugging Face ``co2_eq_emissions`` block (``emissions``:
operational CO2e in grams; the total with embodied carbon as extra keys), and `merge_front_matter`
writes it into a model card README's YAML front matter, keeping the rest of the card;
`check_scenario` checks a scenario's claims and writes its model card from the same draws.

Modules: `check` (claims, checks, draws), `result` (what a check finds), `reach` (which inputs would have to move, and how far),
`model_card` (the Hub block), `front_matter` (the block in a README).

    >>> result = check_claim("evolved_transformer_nas_actual", 626_155, "lb", quantity="operational_tco2e")
    >>> result.verdict, round(result.ratio_median)   # doctest: +SKIP
"""

from .check import (
    CI_PROB,
    TAIL_FRACTION,
    Claim,
    check_claim,
    check_claims,
    check_scenario,
    make_claim,
    scenario_claims,
    select_claims,
    simulate,
)
from .front_matter import merge_front_matter
from .model_card import (
    ModelCardFields,
    card_quantity,
    model_card_block,
    model_card_from_draws,
)
from .reach import (
    MAX_FACTOR,
    InputShift,
    ReachFactors,
    input_columns,
    input_shifts,
    ks_distance,
    reach_factors,
)
from .result import ClaimCheck, ScenarioCheck

__all__ = [
    "CI_PROB",
    "MAX_FACTOR",
    "TAIL_FRACTION",
    "Claim",
    "ClaimCheck",
    "InputShift",
    "ModelCardFields",
    "ReachFactors",
    "ScenarioCheck",
    "card_quantity",
    "check_claim",
    "check_claims",
    "check_scenario",
    "input_columns",
    "input_shifts",
    "ks_distance",
    "make_claim",
    "merge_front_matter",
    "model_card_block",
    "model_card_from_draws",
    "reach_factors",
    "scenario_claims",
    "select_claims",
    "simulate",
]
