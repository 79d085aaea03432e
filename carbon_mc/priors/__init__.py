"""Priors as data: priors/*.toml -> validated NumPyro distributions with units and sources.

Names are imported on first use (PEP 562): the name tables (`places`, `hardware_names`, `reading`)
load without JAX, which the families and the loader need.
"""

import importlib

_EXPORTS = {
    "FAMILIES": "families", "EmpiricalDraws": "families", "Family": "families", "build_distribution": "families",
    "check_params": "families",
    "env_overlay_dirs": "load", "load_priors": "load",
    "PRIORS_ENV": "loader", "Prior": "loader", "PriorTable": "loader", "Quantity": "loader", "build_prior": "loader",
    "read_toml": "loader",
    "apply_overlay": "overlay",
    "JointNormal": "distributions", "Triangular": "distributions",
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
