"""Sampling: every draw of carbon-mc takes one road through this package.

    uniforms (Monte Carlo streams, scrambled Sobol' points, or a caller's design)
      -> inputs (each prior's float32 inverse CDF, `carbon_mc.priors.Prior.icdf32`)
      -> outputs (the carbon chain, `carbon_mc.footprint.carbon_footprint`)

The public contract:

- `build_simulator(scenario)` binds a scenario to its priors: a `Simulator`.
- `evaluate(simulator, u)` maps uniforms to inputs and outputs, unjitted: callers that own their
  loop (sensitivity designs, the calibration's predictions, the benchmark) use it.
- `uniform_columns(simulator, num_draws=..., seed=..., method=...)` gives a run's first uniforms.
- `draw` / `estimate` keep the draws (NumPy arrays / an xarray Dataset); `estimate_summary`,
  `stream_summary` and `stream_to_precision` summarize them on the fly in flat memory.

Modules: `streams` (Threefry counter streams), `qmc` (scrambled Sobol'), `samplers` (which uniforms
a run uses), `simulator` (scenario + priors + chain), `dispatch` (jitted, sharded programs),
`draws` (draws kept, provenance, Dataset), `histograms` and `summaries` (streamed summaries).
Same seed and method, same numbers, whatever the chunk size or the number of devices.
"""

from .dispatch import mesh_of, output_shapes
from .distributed import initialize as initialize_distributed
from .draws import DEFAULT_CHUNK, draw, estimate, kept_draws, package_version, provenance, to_dataset
from .histograms import StreamSummary
from .inference_data import to_inference_data
from .samplers import COMMON_RANDOM_NUMBERS_METHOD, DEFAULT_METHOD, METHOD_NAMES, METHODS, check_method, sampler, uniform_columns
from .simulator import Simulator, build_simulator, evaluate
from .streams import BLOCK, stream_id, uniforms
from .summaries import STREAM_THRESHOLD, estimate_summary, stream_summary, stream_to_precision

__all__ = [
    "BLOCK",
    "COMMON_RANDOM_NUMBERS_METHOD",
    "DEFAULT_CHUNK",
    "DEFAULT_METHOD",
    "METHODS",
    "METHOD_NAMES",
    "STREAM_THRESHOLD",
    "Simulator",
    "StreamSummary",
    "build_simulator",
    "check_method",
    "draw",
    "estimate",
    "estimate_summary",
    "evaluate",
    "initialize_distributed",
    "kept_draws",
    "mesh_of",
    "output_shapes",
    "package_version",
    "provenance",
    "sampler",
    "stream_id",
    "stream_summary",
    "stream_to_precision",
    "to_dataset",
    "to_inference_data",
    "uniform_columns",
    "uniforms",
]
