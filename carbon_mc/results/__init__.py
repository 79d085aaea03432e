"""What a run returns, and what it may return.

- `run`: `run_scenario`, the driver behind `carbon-mc run` (a scenario in, statistics out).
- `statistics`: statistics of kept draws (quantiles, HDI, percentile of a figure, `summarize`).
- `finite`: the one policy for draws that are not finite.
"""

import importlib

_LAZY = {"RunResult": "run", "run_scenario": "run", "summarize": "statistics", "hdi": "statistics",
         "percentile_of": "statistics"}


def __getattr__(name: str):  # PEP 562: `statistics` and `finite` load without JAX; `run` loads it
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
