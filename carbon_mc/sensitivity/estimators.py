"""Sobol' index estimators on the evaluations of a Saltelli design, and a vectorised bootstrap.

Inputs are the model outputs at the design points: f_A, f_B of shape (N,), f_AB (and f_BA) of
shape (N, G), column g for the matrix whose group-g columns were swapped. Every estimator takes
optional row weights: ``None`` gives the plain estimate, bootstrap resampling counts give one
bootstrap replicate of it (resampling base rows with replacement is the same as weighting each
row by how often it was drawn), so the bootstrap is one `jax.vmap` of the estimator itself.

The formulas are SALib's ``sobol.analyze`` (first and total order as in Saltelli et al. 2010,
second order as in Saltelli 2002), with the variance taken over the A and B evaluations together;
normalise the outputs first (`standardize`), as SALib does, and the numbers agree with SALib's.
Run them in float64 (``with jax.enable_x64(True):``), which `carbon_mc.sensitivity` does.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


def standardize(values: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """(y − mean) / sd. Centring removes the bias a large mean puts into the first-order estimator
    (Saltelli et al. 2010, §3; SALib centres on the mean of all evaluations and divides by their sd)."""
    return (values - mean) / sd


def _weighted_mean(weights, x):
    """Mean over the first axis of `x`, rows weighted by `weights` (None: equal weights)."""
    if weights is None:
        return jnp.mean(x, axis=0)
    return jnp.tensordot(weights, x, axes=1) / jnp.sum(weights)


def output_variance(f_a, f_b, weights=None):
    """Var(Y) over the A and B evaluations pooled (2N values): E[y²] − E[y]².

    Reference: SALib ``sobol.first_order`` (``np.var(np.r_[A, B])``).
    """
    mean = 0.5 * (_weighted_mean(weights, f_a) + _weighted_mean(weights, f_b))
    mean_sq = 0.5 * (_weighted_mean(weights, f_a**2) + _weighted_mean(weights, f_b**2))
    return mean_sq - mean**2


def first_order(f_a, f_b, f_ab, weights=None):
    """First-order indices S_g = mean(f_B · (f_ABg − f_A)) / Var(Y), shape (G,).

    Reference: Saltelli et al. 2010, "Variance based sensitivity analysis of model output",
    Comput. Phys. Commun. 181:259, Table 2 (b); SALib ``sobol.first_order``.
    """
    numerator = _weighted_mean(weights, f_b[:, None] * (f_ab - f_a[:, None]))
    return numerator / output_variance(f_a, f_b, weights)


def total_order(f_a, f_b, f_ab, weights=None):
    """Total-order indices ST_g = ½ · mean((f_A − f_ABg)²) / Var(Y), shape (G,).

    Reference: Jansen 1999, "Analysis of variance designs for model output", Comput. Phys.
    Commun. 117:35; Saltelli et al. 2010, Table 2 (f); SALib ``sobol.total_order``.
    """
    numerator = 0.5 * _weighted_mean(weights, (f_a[:, None] - f_ab) ** 2)
    return numerator / output_variance(f_a, f_b, weights)


def second_order(f_a, f_b, f_ab, f_ba, weights=None):
    """Second-order indices S_jk = mean(f_BAj · f_ABk − f_A · f_B) / Var(Y) − S_j − S_k, shape (G, G).

    Symmetrised from the upper triangle (j < k); the diagonal is NaN.
    Reference: Saltelli 2002, "Making best use of model evaluations to compute sensitivity
    indices", Comput. Phys. Commun. 145:280, eq. (12); SALib ``sobol.second_order``.
    """
    s1 = first_order(f_a, f_b, f_ab, weights)
    cross = f_ba[:, :, None] * f_ab[:, None, :] - (f_a * f_b)[:, None, None]  # (N, G, G): [n, j, k]
    v_jk = _weighted_mean(weights, cross) / output_variance(f_a, f_b, weights)
    upper = v_jk - s1[:, None] - s1[None, :]
    g = s1.shape[0]
    j, k = jnp.triu_indices(g, 1)
    out = jnp.full((g, g), jnp.nan, dtype=upper.dtype)
    return out.at[j, k].set(upper[j, k]).at[k, j].set(upper[j, k])


def sobol_estimates(f_a, f_b, f_ab, f_ba=None, weights=None) -> dict:
    """``{"S1": (G,), "ST": (G,)}``, plus ``"S2": (G, G)`` when `f_ba` is given."""
    out = {"S1": first_order(f_a, f_b, f_ab, weights), "ST": total_order(f_a, f_b, f_ab, weights)}
    if f_ba is not None:
        out["S2"] = second_order(f_a, f_b, f_ab, f_ba, weights)
    return out


def resample_counts(rng_key, num_base: int):
    """How often each of `num_base` base rows is drawn in one resample with replacement, shape (N,).

    For N a power of two the row indices are the top bits of uniform 32-bit words (exactly
    uniform, half the random bits of `jax.random.randint`); otherwise `jax.random.randint`.
    """
    if num_base & (num_base - 1) == 0 and num_base <= 2**32:
        shift = 32 - (num_base.bit_length() - 1)
        bits = jax.random.bits(rng_key, (num_base,), jnp.uint32)
        index = (bits >> shift).astype(jnp.int32) if shift < 32 else jnp.zeros(num_base, jnp.int32)
    else:
        index = jax.random.randint(rng_key, (num_base,), 0, num_base)
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    return jnp.zeros(num_base, dtype).at[index].add(1.0)


@partial(jax.jit, static_argnames=("num_resamples", "batch_size"))
def bootstrap(rng_key, f_a, f_b, f_ab, f_ba=None, *, num_resamples: int = 1000, batch_size: int = 16) -> dict:
    """Bootstrap replicates of `sobol_estimates`: base rows resampled with replacement.

    Returns the same keys as `sobol_estimates`, each with a leading axis of `num_resamples`.
    Resamples are processed `batch_size` at a time (a vmap inside a `lax.map`), so memory is
    about ``batch_size × N`` floats. Reference: Archer, Saltelli & Sobol' 1997, J. Stat. Comput.
    Simul. 58:99 (bootstrap confidence intervals for Sobol' indices).
    """
    num_base = f_a.shape[0]
    keys = jax.random.split(rng_key, num_resamples)

    def replicate(key):
        return sobol_estimates(f_a, f_b, f_ab, f_ba, weights=resample_counts(key, num_base))

    return jax.lax.map(replicate, keys, batch_size=min(batch_size, num_resamples))


def percentile_interval(replicates: np.ndarray, conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap percentile interval: the (1 ∓ conf_level)/2 quantiles of the replicates (axis 0).

    Reference: Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13.
    """
    alpha = (1.0 - conf_level) / 2.0
    lower, upper = np.quantile(np.asarray(replicates, dtype=np.float64), [alpha, 1.0 - alpha], axis=0)
    return lower, upper


def normal_interval(estimate: np.ndarray, replicates: np.ndarray, conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    """Normal-approximation interval: estimate ± z · sd(replicates), as SALib's ``S1_conf``."""
    from scipy.stats import norm

    z = norm.ppf(0.5 + conf_level / 2.0)
    half = z * np.std(np.asarray(replicates, dtype=np.float64), axis=0, ddof=1)
    return estimate - half, estimate + half
