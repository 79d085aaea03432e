"""carbon-mc: distributions, not point estimates, for the carbon footprint of training LLMs.

The entry point is `estimate`: a scenario in, an xarray Dataset of draws out; `summarize` turns it
into credible intervals.
"""

from .claims import Claim, check_claim, check_claims
from .compare import compare
from .engine import Model, build_model, estimate
from .errors import CarbonMCError
from .io import load_dataset, save_dataset
from .priors import load_priors
from .scenario import Scenario, load_scenario, parse_scenario
from .sensitivity import sensitivity
from .summary import hdi, percentile_of, summarize

__all__ = [
    "CarbonMCError",
    "Claim",
    "Model",
    "Scenario",
    "build_model",
    "check_claim",
    "check_claims",
    "compare",
    "estimate",
    "hdi",
    "load_dataset",
    "load_priors",
    "load_scenario",
    "parse_scenario",
    "percentile_of",
    "save_dataset",
    "sensitivity",
    "summarize",
]
