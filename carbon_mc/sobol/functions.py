"""Analytic test functions with known Sobol' indices, written on uniforms so they run through the
same design and estimators as a scenario (the checks of `carbon_mc.sensitivity` against known answers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

__all__ = ["additive", "additive_indices", "ishigami", "ishigami_indices", "sobol_g", "sobol_g_indices"]


def ishigami(u, a: float = 7.0, b: float = 0.1):
    """Ishigami function of x_i = −π + 2π·u_i: sin x1 + a sin² x2 + b x3⁴ sin x1.

    `u`: dict with "x1", "x2", "x3" (each (n,)) or an array (n, 3). Reference: Ishigami & Homma
    1990, "An importance quantification technique in uncertainty analysis for computer models".
    """
    u1, u2, u3 = (u["x1"], u["x2"], u["x3"]) if isinstance(u, dict) else (u[:, 0], u[:, 1], u[:, 2])
    x1, x2, x3 = (jnp.pi * (2.0 * v - 1.0) for v in (u1, u2, u3))
    return jnp.sin(x1) + a * jnp.sin(x2) ** 2 + b * x3**4 * jnp.sin(x1)


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> dict[str, np.ndarray]:
    """Analytic S1 and ST of `ishigami` for (x1, x2, x3).

    V = a²/8 + bπ⁴/5 + b²π⁸/18 + 1/2, V1 = (1 + bπ⁴/5)²/2, V2 = a²/8, V13 = 8b²π⁸/225.
    Reference: Sobol' & Levitan 1999, Comput. Phys. Commun. 117:52; Saltelli et al. 2008,
    *Global Sensitivity Analysis: The Primer*, §4.
    """
    pi4, pi8 = math.pi**4, math.pi**8
    v1 = 0.5 * (1.0 + b * pi4 / 5.0) ** 2
    v2 = a * a / 8.0
    v13 = 8.0 * b * b * pi8 / 225.0
    v = v1 + v2 + v13
    return {"S1": np.array([v1, v2, 0.0]) / v, "ST": np.array([v1 + v13, v2, v13]) / v}


def sobol_g(u, a: Sequence[float]):
    """Sobol' G function Π_i (|4u_i − 2| + a_i) / (1 + a_i) of uniforms u (array (n, D) or dict x1..xD).

    Small a_i make input i important. Reference: Saltelli & Sobol' 1995, Reliab. Eng. Syst. Saf.
    50:225; Saltelli et al. 2010, §5.
    """
    coeffs = jnp.asarray(a, jnp.float32)
    if isinstance(u, dict):
        u = jnp.stack([u[f"x{i + 1}"] for i in range(coeffs.shape[0])], axis=-1)
    return jnp.prod((jnp.abs(4.0 * u - 2.0) + coeffs) / (1.0 + coeffs), axis=-1)


def sobol_g_indices(a: Sequence[float]) -> dict[str, np.ndarray]:
    """Analytic S1 and ST of `sobol_g`: V_i = 1/(3(1 + a_i)²), V = Π(1 + V_i) − 1,
    S_i = V_i / V, ST_i = V_i Π_{j≠i}(1 + V_j) / V. Reference: Saltelli et al. 2010, §5."""
    vi = 1.0 / (3.0 * (1.0 + np.asarray(a, dtype=np.float64)) ** 2)
    total = np.prod(1.0 + vi)
    v = total - 1.0
    return {"S1": vi / v, "ST": vi * total / (1.0 + vi) / v}


def additive(u, coefficients: Sequence[float]):
    """Linear additive model Σ c_i u_i of uniforms u (array (n, D) or dict x1..xD)."""
    c = jnp.asarray(coefficients, jnp.float32)
    if isinstance(u, dict):
        u = jnp.stack([u[f"x{i + 1}"] for i in range(c.shape[0])], axis=-1)
    return u @ c


def additive_indices(coefficients: Sequence[float]) -> dict[str, np.ndarray]:
    """Analytic indices of `additive`: S1 = ST = c_i² / Σ c² (no interactions, so ΣS1 = 1)."""
    c2 = np.asarray(coefficients, dtype=np.float64) ** 2
    return {"S1": c2 / c2.sum(), "ST": c2 / c2.sum()}
