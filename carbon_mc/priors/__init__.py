"""Priors as data: priors/*.toml -> validated NumPyro distributions with units and sources."""

from .families import FAMILIES, EmpiricalDraws, Family, build_distribution, check_params
from .load import env_overlay_dirs, load_priors
from .loader import PRIORS_ENV, Prior, PriorTable, Quantity, build_prior, read_toml
from .overlay import apply_overlay

__all__ = [
    "FAMILIES",
    "PRIORS_ENV",
    "EmpiricalDraws",
    "Family",
    "JointNormal",
    "Prior",
    "PriorTable",
    "Quantity",
    "Triangular",
    "apply_overlay",
    "build_distribution",
    "build_prior",
    "check_params",
    "env_overlay_dirs",
    "load_priors",
    "read_toml",
]


def __getattr__(name: str):
    """The NumPyro distribution classes, imported on first use (the samplers never need NumPyro)."""
    if name in ("JointNormal", "Triangular"):
        from . import distributions

        return getattr(distributions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
