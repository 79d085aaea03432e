"""Sobol' index estimators on the evaluations of a Saltelli design, and a vectorised bootstrap.

Inputs are the model outputs at the design points: f_A, f_B of shape (N,), f_AB (and f_BA) of
shape (N, G), column g for the matrix whose group-g columns were swapped. Each estimator is a mean
of per-row terms divided by the output variance, so `sobol_terms` lays every term side by side
and one pass of (weighted) means gives every index. Resampling base rows with replacement is the
same as weighting each row by how often it was drawn, so a bootstrap replicate is one row of
counts times that matrix, and a batch of replicates one matrix product.

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


def first_order_terms(f_a, f_b, f_ab):
    """Per-row summands of the first-order estimator, f_B · (f_ABg − f_A), shape (N, G).

    S_g = mean(these) / Var(Y). Reference: Saltelli et al. 2010, "Variance based sensitivity
    analysis of model output", Comput. Phys. Commun. 181:259, Table 2; SALib ``first_order``.
    """
    return f_b[:, None] * (f_ab - f_a[:, None])


def total_order_terms(f_a, f_ab):
    """Per-row summands of the total-order estimator, ½ (f_A − f_ABg)², shape (N, G).

    ST_g = mean(these) / Var(Y). Reference: Jansen 1999, "Analysis of variance designs for model
    output", Comput. Phys. Commun. 117:35; Saltelli et al. 2010, Table 2; SALib ``total_order``.
    """
    return 0.5 * (f_a[:, None] - f_ab) ** 2


def second_order_terms(f_a, f_b, f_ab, f_ba):
    """Per-row summands of the closed second-order estimator, f_BAj · f_ABk − f_A · f_B, shape (N, G, G).

    V_jk = mean(these) / Var(Y) and S_jk = V_jk − S_j − S_k (j < k). Reference: Saltelli 2002,
    "Making best use of model evaluations to compute sensitivity indices", Comput. Phys. Commun.
    145:280; SALib ``second_order``.
    """
    return f_ba[:, :, None] * f_ab[:, None, :] - (f_a * f_b)[:, None, None]


def output_variance(mean_a, mean_b, mean_a2, mean_b2):
    """Var(Y) of the A and B evaluations pooled (2N values), E[y²] − E[y]², from their means.

    Reference: SALib ``sobol.first_order`` (``np.var(np.r_[A, B])``).
    """
    return 0.5 * (mean_a2 + mean_b2) - (0.5 * (mean_a + mean_b)) ** 2


def sobol_terms(f_a, f_b, f_ab, f_ba=None):
    """Every per-row summand side by side, shape (N, 4 + 2G [+ G²]): the means of these columns
    are all the estimators need, so one weighted pass gives one (bootstrap) estimate."""
    n = f_a.shape[0]
    parts = [jnp.stack([f_a, f_b, f_a**2, f_b**2], axis=1), first_order_terms(f_a, f_b, f_ab), total_order_terms(f_a, f_ab)]
    if f_ba is not None:
        parts.append(second_order_terms(f_a, f_b, f_ab, f_ba).reshape(n, -1))
    return jnp.concatenate(parts, axis=1)


def indices_from_means(means, num_groups: int, second_order: bool = False) -> dict:
    """S1, ST (and S2) from the column means of `sobol_terms`; `means` has shape (..., columns).

    S2 is symmetric with NaN on the diagonal (SALib fills only j < k).
    """
    g = num_groups
    var = output_variance(means[..., 0], means[..., 1], means[..., 2], means[..., 3])[..., None]
    out = {"S1": means[..., 4 : 4 + g] / var, "ST": means[..., 4 + g : 4 + 2 * g] / var}
    if second_order:
        v_jk = means[..., 4 + 2 * g :].reshape((*means.shape[:-1], g, g)) / var[..., None]
        s1 = out["S1"]
        s2 = v_jk - s1[..., :, None] - s1[..., None, :]
        upper = jnp.triu(jnp.ones((g, g), bool), 1)
        s2 = jnp.where(upper, s2, jnp.swapaxes(s2, -1, -2))
        out["S2"] = jnp.where(jnp.eye(g, dtype=bool), jnp.nan, s2)
    return out


def sobol_estimates(f_a, f_b, f_ab, f_ba=None, weights=None) -> dict:
    """``{"S1": (G,), "ST": (G,)}``, plus ``"S2": (G, G)`` when `f_ba` is given.

    `weights` (N,), optional: row weights, e.g. bootstrap resampling counts (one replicate).
    """
    terms = sobol_terms(f_a, f_b, f_ab, f_ba)
    means = jnp.mean(terms, axis=0) if weights is None else weights @ terms / jnp.sum(weights)
    return indices_from_means(means, f_ab.shape[1], f_ba is not None)


def _row_indices(rng_key, num_base: int):
    """`num_base` row indices drawn uniformly from 0..num_base−1 with replacement.

    For N = 2^m the indices are the top m bits of uniform random words: exactly uniform, and for
    m ≤ 16 both 16-bit halves of one 32-bit word serve (a quarter of `jax.random.randint`'s random
    bits, which draws two words per index). Otherwise `jax.random.randint`.
    """
    m = num_base.bit_length() - 1
    if num_base != 1 << m:
        return jax.random.randint(rng_key, (num_base,), 0, num_base, jnp.int32)
    if m == 0:
        return jnp.zeros(1, jnp.int32)
    if m <= 16 and num_base >= 2:
        words = jax.random.bits(rng_key, (num_base // 2,), jnp.uint32)
        return jnp.concatenate([words >> 16, words & 0xFFFF]).astype(jnp.int32) >> (16 - m)
    return (jax.random.bits(rng_key, (num_base,), jnp.uint32) >> (32 - m)).astype(jnp.int32)


def resample_counts(rng_keys, num_base: int):
    """How often each of `num_base` base rows is drawn in resamples with replacement, one per key.

    Returns float32 counts of shape (len(rng_keys), N) (exact: counts are small integers).
    """
    num_keys = rng_keys.shape[0]
    index = jax.vmap(lambda k: _row_indices(k, num_base))(rng_keys)
    flat = (index + num_base * jnp.arange(num_keys, dtype=jnp.int32)[:, None]).ravel()
    counts = jnp.zeros(num_keys * num_base, jnp.float32).at[flat].add(1.0, mode="promise_in_bounds")
    return counts.reshape(num_keys, num_base)


@partial(jax.jit, static_argnames=("num_groups", "second_order"))
def _replicates(keys, terms, num_groups: int, second_order: bool):
    # Every resample has N rows, so mean_w(t) = mean(t) + Σ_n c_n (t_n − mean(t)) / N exactly. The
    # float64 column means carry the level; only the centred fluctuations go through a float32
    # matrix product (several times faster than float64 on a CPU), whose rounding, relative to
    # √N·sd rather than N·mean, is orders of magnitude below the bootstrap's own spread.
    num_base = terms.shape[0]
    mean = jnp.mean(terms, axis=0)
    centred = (terms - mean).astype(jnp.float32)
    counts = resample_counts(keys, num_base)
    return indices_from_means(mean + (counts @ centred).astype(terms.dtype) / num_base, num_groups, second_order)


def bootstrap(rng_key, f_a, f_b, f_ab, f_ba=None, *, num_resamples: int = 1000, batch_size: int | None = None) -> dict:
    """Bootstrap replicates of `sobol_estimates`: base rows resampled with replacement.

    Returns the same keys as `sobol_estimates`, each with a leading axis of `num_resamples`.
    A resample weights each base row by how often it was drawn, so a replicate is one matrix
    product of the counts with `sobol_terms`. Replicate r uses the key ``fold_in(rng_key, r)``, so
    the replicates do not depend on `batch_size`, the resamples one jitted call computes (memory
    about ``batch_size × N`` floats; default 64, fewer for N > 2^16). Reference: Archer, Saltelli
    & Sobol' 1997, J. Stat. Comput. Simul. 58:99 (bootstrap intervals for Sobol' indices).
    """
    num_groups, second_order = int(np.shape(f_ab)[1]), f_ba is not None
    terms = sobol_terms(jnp.asarray(f_a), jnp.asarray(f_b), jnp.asarray(f_ab), None if f_ba is None else jnp.asarray(f_ba))
    num_base = int(terms.shape[0])
    if batch_size is None:
        batch_size = max(1, min(64, 2**22 // num_base))
    batch_size = min(batch_size, num_resamples)
    num_batches = -(-num_resamples // batch_size)
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(rng_key, jnp.arange(num_batches * batch_size, dtype=jnp.uint32))
    pieces = [_replicates(keys[i * batch_size : (i + 1) * batch_size], terms, num_groups, second_order) for i in range(num_batches)]
    return {k: np.concatenate([np.asarray(p[k]) for p in pieces])[:num_resamples] for k in pieces[0]}


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
