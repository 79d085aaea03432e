"""Priors as data: priors/*.toml -> validated NumPyro distributions with units and sources."""

from .families import FAMILIES, JointNormal, Triangular, build_distribution
from .loader import PRIORS_ENV, Prior, PriorTable, Quantity, build_prior, env_overlay_dirs, load_priors
from .overlay import apply_overlay

__all__ = [
    "FAMILIES", "PRIORS_ENV", "JointNormal", "Prior", "PriorTable", "Quantity", "Triangular", "build_distribution", "apply_overlay", "build_prior", "env_overlay_dirs",
    "load_priors",
]
