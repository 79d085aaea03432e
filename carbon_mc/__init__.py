"""carbon-mc: distributions, not point estimates, for the carbon footprint of training LLMs.

The entry point is `estimate`: a scenario in, an xarray Dataset of draws out; `summarize` turns it
into credible intervals, and `estimate_summary` gives the same summaries without keeping draws.
Every draw goes through `carbon_mc.sampling` (uniforms -> priors' inverse CDFs -> the carbon chain
of `carbon_mc.footprint`); `carbon-mc run FILE --seed S` and ``estimate(FILE, seed=S)`` use the
same default sampler (randomized quasi-Monte Carlo) and give the same numbers.
"""

import importlib

# isort: off
from .io import signals  # noqa: F401  (first: Ctrl-C while the command line imports exits 130 quietly)
# isort: on
from .errors import CarbonMCError, InputError, NumericError, OutputError
from .version import __version__

# Public name -> the module that defines it. Imported on first use (PEP 562), so that
# `carbon-mc --help`, `import carbon_mc` and a default run load only what they need
# (JAX, xarray and NumPyro cost about 0.5, 0.3 and 1.5 s to import on a 2-core CPU).
_EXPORTS = {
    "calibrated_priors": "calibration", "fit_calibration": "calibration", "leave_one_out": "calibration",
    "load_calibration": "calibration", "measured_runs": "calibration", "save_calibration": "calibration",
    "Claim": "claims", "check_claim": "claims", "check_claims": "claims",
    "compare": "joint.paired",
    "load_dataset": "io.files", "save_dataset": "io.files",
    "load_priors": "priors",
    "RunResult": "results.run", "run_scenario": "results.run",
    "Simulator": "sampling", "build_simulator": "sampling", "draw": "sampling", "estimate": "sampling",
    "estimate_summary": "sampling", "to_inference_data": "sampling",
    "Scenario": "scenarios", "load_scenario": "scenarios", "parse_scenario": "scenarios",
    "sensitivity": "sobol",
    "hdi": "results.statistics", "percentile_of": "results.statistics", "summarize": "results.statistics",
    "lifecycle": "joint.training_and_serving", "load_any_scenario": "scenarios",
    "ServingScenario": "scenarios", "load_serving_scenario": "scenarios",
    "carbon_exponents": "sweep", "megatron_check": "sweep", "scaling_sweep": "sweep",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "CarbonMCError",
    "Claim",
    "InputError",
    "NumericError",
    "OutputError",
    "RunResult",
    "Scenario",
    "ServingScenario",
    "Simulator",
    "__version__",
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
    "lifecycle",
    "load_any_scenario",
    "load_calibration",
    "load_dataset",
    "load_priors",
    "load_scenario",
    "load_serving_scenario",
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
    "to_inference_data",
]
