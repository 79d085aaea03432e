"""carbon-mc: distributions, not point estimates, for the carbon footprint of training LLMs.

The entry point is `estimate`: a scenario in, an xarray Dataset of draws out; `summarize` turns it
into credible intervals, and `estimate_summary` gives the same summaries without keeping draws.
Every draw goes through `carbon_mc.sampling` (uniforms -> priors' inverse CDFs -> the carbon chain
of `carbon_mc.footprint`); `carbon-mc run FILE --seed S` and ``estimate(FILE, seed=S)`` use the
same default sampler (randomized quasi-Monte Carlo) and give the same numbers.
"""

from . import _interrupt  # noqa: F401  (first: Ctrl-C while the command line imports exits 130 quietly)
from ._version import __version__
from .calibration import calibrated_priors, fit_calibration, leave_one_out, load_calibration, measured_runs, save_calibration
from .claims import Claim, check_claim, check_claims
from .comparison import compare
from .errors import CarbonMCError, InputError, NumericError, OutputError
from .io import load_dataset, save_dataset
from .priors import load_priors
from .results import RunResult, run_scenario
from .sampling import Simulator, build_simulator, draw, estimate, estimate_summary
from .scenario import Scenario, load_scenario, parse_scenario
from .sobol import sensitivity
from .summary import hdi, percentile_of, summarize
from .sweep import carbon_exponents, megatron_check, scaling_sweep

__all__ = [
    "__version__",
    "CarbonMCError",
    "Claim",
    "InputError",
    "NumericError",
    "OutputError",
    "RunResult",
    "Scenario",
    "Simulator",
    "build_simulator",
    "calibrated_priors",
    "carbon_exponents",
    "check_claim",
    "check_claims",
    "compare",
    "draw",
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
    "run_scenario",
    "save_calibration",
    "save_dataset",
    "scaling_sweep",
    "sensitivity",
    "summarize",
]
