"""The physics: one small pure jnp function per equation, composed by `carbon_footprint`.

The output table (`OUTPUTS`, `HEADLINE`, `WITHOUT_PUE`) is plain data and loads at once; the jnp
equations load on first use, so that reading the table does not import JAX.
"""

import importlib

from .outputs import HEADLINE, OUTPUTS, WITHOUT_PUE

_LAZY = {"RunConstants": "model", "carbon_footprint": "model", "derived_device_hours": "model", "energy_and_emissions": "model",
         "energy_on_scopes": "model"}
_SUBMODULES = ("compute", "emissions", "energy", "model", "scaling", "hardware", "parallelism", "experts", "layout")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["HEADLINE", "OUTPUTS", "WITHOUT_PUE", "RunConstants", "carbon_footprint", "compute", "derived_device_hours", "emissions",
           "energy", "energy_and_emissions", "energy_on_scopes"]
