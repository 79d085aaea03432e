"""Priors as data: priors/*.toml -> validated NumPyro distributions with units and sources."""

from .families import FAMILIES, EmpiricalDraws, Family, JointNormal, Triangular, build_distribution
from .loader import PRIORS_ENV, Prior, PriorTable, Quantity, build_prior, env_overlay_dirs, load_priors, read_toml
from .overlay import apply_overlay

__all__ = [
    "FAMILIES", "PRIORS_ENV", "EmpiricalDraws", "Family", "JointNormal", "Prior", "PriorTable", "Quantity", "Triangular",
    "apply_overlay", "build_distribution", "build_prior", "env_overlay_dirs", "load_priors", "read_toml",
]
