"""carbon-mc: distributions, not point estimates, for the carbon footprint of training LLMs.

The entry point is `estimate`: a scenario in, an xarray Dataset of draws out; `summarize` turns it
into credible intervals.
"""

from ._version import __version__
from .calibrate import calibrated_priors, fit_calibration, load_calibration, measured_runs, save_calibration
from .claims import Claim, check_claim, check_claims
from .compare import compare
from .engine import Model, build_model, estimate, estimate_summary
from .errors import CarbonMCError
from .io import load_dataset, save_dataset
from .priors import load_priors
from .scenario import Scenario, load_scenario, parse_scenario
from .sensitivity import sensitivity
from .summary import hdi, percentile_of, summarize
from .sweep import carbon_exponents, megatron_check, scaling_sweep
from .validate import leave_one_out

__all__ = [
    "__version__",
    "CarbonMCError",
    "Claim",
    "Model",
    "Scenario",
    "build_model",
    "calibrated_priors",
    "carbon_exponents",
    "check_claim",
    "check_claims",
    "compare",
    "estimate",
    "estimate_summary",
    "fit_calibration",
    "hdi",
    "leave_one_out",
    "load_calibration",
    "load_dataset",
    "load_priors",
    "load_scenario",
    "measured_runs",
    "megatron_check",
    "parse_scenario",
    "percentile_of",
    "save_calibration",
    "save_dataset",
    "scaling_sweep",
    "sensitivity",
    "summarize",
]
