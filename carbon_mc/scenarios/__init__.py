"""Scenarios: what a user describes in a TOML file, validated. One call loads either kind.

- `training`: a training run (`Scenario`, a ``[run]`` table; models/*.toml).
- `deployment`: a deployment that serves a model (`ServingScenario`, a ``[serving]`` table;
  models/serving/*.toml).
- `common`: what both kinds share, written once: published figures (`Reported`, ``[reported]``),
  `Claim` (``[[claims]]``), `Accounting` (``[accounting]``), ``[priors]`` overrides and the
  resolution of a scenario's priors, finding and reading the file.
- `fields`: readers of typed, bounded fields with errors that name the file and the key.
- `units`: units of published figures (CO2e masses and energies) and their conversion.

`load_any_scenario` reads a file with a ``[serving]`` table as a deployment and any other as a
training run; a bare name is looked up among the bundled training runs (models/), then among the
bundled deployments (models/serving/).
"""

import importlib

# Public name -> the module that defines it, imported on first use (PEP 562): `carbon_mc.scenarios.units`
# and `fields` load without the priors (and so without JAX), which `carbon-mc COMMAND --help` relies on.
_EXPORTS = {
    "Accounting": "common", "Claim": "common", "Reported": "common",
    "Scenario": "training", "ServingScenario": "deployment",
    "AnyScenario": "load", "bundled_names": "load", "is_serving_file": "load", "load_any_scenario": "load",
    "load_scenario": "load", "load_serving_scenario": "load", "parse_scenario": "load", "parse_serving_scenario": "load",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
