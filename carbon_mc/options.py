"""The choices and defaults the command line offers, as data (no JAX, no xarray).

Each library module that owns a choice imports it from here, so the command line can list it in
``--help`` without importing the library (a ``--help`` answers in about 0.1 s).
"""

from __future__ import annotations

# Samplers (carbon_mc.sampling). Randomized QMC reached 0.1% relative standard error on the 5%/95%
# endpoints with 4-16x fewer draws than plain Monte Carlo on all 36 bundled scenarios, and sooner in
# wall time (BENCHMARKS.md): it is the default of the command line and of the Python API alike.
METHODS = ("mc", "qmc")
METHOD_NAMES = {"mc": "monte_carlo", "qmc": "randomized_quasi_monte_carlo"}
DEFAULT_METHOD = "qmc"
# Plain Monte Carlo, each input on its own stream: an input two runs share is drawn once for both.
# Comparisons, life cycles and claim checks now draw DEFAULT_METHOD (run's own numbers) and keep common
# random numbers input by input on its uniforms (carbon_mc.joint.paired); this stays for callers that ask.
COMMON_RANDOM_NUMBERS_METHOD = "mc"

# Runs (carbon_mc.results)
DEFAULT_DRAWS = 100_000
DEFAULT_MAX_DRAWS = 100_000_000  # the cap of a run to a target precision
STREAM_THRESHOLD = 10_000_000  # runs above this many draws are summarized on the fly by default

# Sobol' sensitivity (carbon_mc.sobol)
DEFAULT_NUM_BASE = 2**16
MIN_NUM_BASE = 16
CI_METHODS = ("percentile", "normal")
SOBOL_SAMPLERS = ("sobol", "random")

# The CarbonScaling sweep (carbon_mc.sweep)
DEFAULT_HARDWARE = ("v100", "a100_80gb", "h100_sxm", "b200")
DEFAULT_PARAMETERS = (1e9, 3e9, 1e10, 3e10, 1e11, 3e11, 1e12)
UTILIZATIONS = ("realistic", "ideal")
BATCH_POLICIES = ("fixed", "critical")
CRITICAL_BATCH_LAWS = ("data_power_law", "kaplan_2020")
SCALING_FITS = ("besiroglu_2024", "hoffmann_2022")

# The publishable report (carbon_mc.report)
REPORT_DRAWS = 50_000
REPORT_BASE_DRAWS = 2048  # Saltelli base rows of the sensitivity ranking (a power of two)
