"""Priors as data: priors/*.toml -> validated NumPyro distributions with units and sources."""

from .families import FAMILIES, EmpiricalDraws, Family, JointNormal, Triangular, build_distribution
from .loader import Prior, PriorTable, Quantity, build_prior, load_priors, read_toml

__all__ = ["FAMILIES", "EmpiricalDraws", "Family", "JointNormal", "Prior", "PriorTable", "Quantity", "Triangular", "build_distribution", "build_prior", "load_priors", "read_toml"]
