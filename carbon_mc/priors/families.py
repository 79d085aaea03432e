"""Distribution families a prior may use: each builds a NumPyro distribution and owns its float32 inverse CDF.

Every family has a closed-form (or cheap) inverse CDF, so one matrix of uniforms can drive plain
Monte Carlo, quasi-Monte Carlo and Sobol' designs alike. `FAMILIES` maps a family's name to a
`Family`: ``build(params)`` validates the parameters and returns the NumPyro distribution (the exact
reference, with ``log_prob`` and ``icdf``); ``icdf32(params, distribution)`` returns the float32
inverse CDF the samplers use, written for speed and tested against the distribution's ``icdf`` on
every bundled prior. Beta and Gamma are left out on purpose: JAX has no fast inverse CDF for them,
and ``jax.random.beta`` draws about 0.8 M/s on a 2-core CPU.

The float32 inverse CDFs expect uniforms strictly inside (0, 1), as the samplers' are (in
[2^-24, 1 - 2^-24]): at 0 or 1 the normal quantile inside returns a finite value, not an infinity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes

from ..errors import shown
from .float32 import ndtri_open_f32
from .support import check_magnitude

# z-score of the 95th percentile of a standard normal, for lognormal {p5, p95} intervals.
_Z95 = 1.6448536269514722


class Triangular(dist.Distribution):
    """Triangular distribution on [low, high] peaking at `peak` (its mode).

    Reference: Johnson, Kotz & Balakrishnan, *Continuous Univariate Distributions* vol. 2, ch. 26.
    """

    arg_constraints = {"low": constraints.real, "peak": constraints.real, "high": constraints.real}
    reparametrized_params = ["low", "peak", "high"]

    def __init__(self, low, peak, high, *, validate_args=None):
        self.low, self.peak, self.high = promote_shapes(low, peak, high)
        batch_shape = jnp.broadcast_shapes(jnp.shape(low), jnp.shape(peak), jnp.shape(high))
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    @property
    def _split(self):
        return (self.peak - self.low) / (self.high - self.low)

    def icdf(self, q):
        width = self.high - self.low
        left = self.low + jnp.sqrt(q * width * (self.peak - self.low))
        right = self.high - jnp.sqrt((1.0 - q) * width * (self.high - self.peak))
        return jnp.where(q < self._split, left, right)

    def cdf(self, value):
        width = self.high - self.low
        left = (value - self.low) ** 2 / (width * (self.peak - self.low))
        right = 1.0 - (self.high - value) ** 2 / (width * (self.high - self.peak))
        inside = jnp.where(value <= self.peak, left, right)
        return jnp.clip(jnp.where(value <= self.low, 0.0, inside), 0.0, 1.0)

    def sample(self, key, sample_shape=()):
        import jax

        shape = sample_shape + self.batch_shape
        return self.icdf(jax.random.uniform(key, shape))

    def log_prob(self, value):
        width = self.high - self.low
        left = 2.0 * (value - self.low) / (width * (self.peak - self.low))
        right = 2.0 * (self.high - value) / (width * (self.high - self.peak))
        density = jnp.where(value <= self.peak, left, right)
        inside = (value >= self.low) & (value <= self.high)
        return jnp.where(inside, jnp.log(jnp.where(inside, density, 1.0)), -jnp.inf)

    @property
    def mode(self):
        return self.peak

    @property
    def mean(self):
        return (self.low + self.peak + self.high) / 3.0

    @property
    def variance(self):
        a, c, b = self.low, self.peak, self.high
        return (a * a + b * b + c * c - a * b - a * c - b * c) / 18.0


def _require(params: Mapping, names: tuple[str, ...]) -> list[float]:
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"missing parameter(s) {', '.join(missing)}")
    values = []
    for n in names:
        v = params[n]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"parameter {n} must be a finite number, got {shown(v)}")
        values.append(check_magnitude(float(v), f"parameter {n}"))
    return values


def _check_extra(params: Mapping, allowed: set[str]) -> None:
    extra = sorted(set(params) - allowed)
    if extra:
        raise ValueError(f"unknown parameter(s) {', '.join(extra)}; valid: {', '.join(sorted(allowed))}")


def _fixed(params):
    _check_extra(params, {"value"})
    (value,) = _require(params, ("value",))
    return dist.Delta(jnp.asarray(value, jnp.float32))


def _uniform(params):
    _check_extra(params, {"low", "high"})
    low, high = _require(params, ("low", "high"))
    if not low < high:
        raise ValueError(f"needs low < high, got low={low}, high={high}")
    return dist.Uniform(low, high)


def _normal(params):
    _check_extra(params, {"loc", "scale"})
    loc, scale = _require(params, ("loc", "scale"))
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return dist.Normal(loc, scale)


def _truncated_normal(params):
    _check_extra(params, {"loc", "scale", "low", "high"})
    loc, scale = _require(params, ("loc", "scale"))
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if "low" not in params and "high" not in params:
        raise ValueError("needs low and/or high (else use normal)")
    low = _require(params, ("low",))[0] if "low" in params else None
    high = _require(params, ("high",))[0] if "high" in params else None
    if low is not None and high is not None and not low < high:
        raise ValueError(f"needs low < high, got low={low}, high={high}")
    for bound in (low, high):
        if bound is not None and abs(bound - loc) > 8 * scale and (
            (low is not None and loc < low) or (high is not None and loc > high)
        ):
            raise ValueError("loc lies more than 8 scales outside the bounds: no mass left")
    return dist.TruncatedNormal(loc, scale, low=low, high=high)


def _lognormal(params):
    if "median" in params or "sigma" in params:
        _check_extra(params, {"median", "sigma"})
        median, sigma = _require(params, ("median", "sigma"))
    else:
        _check_extra(params, {"p5", "p95"})
        p5, p95 = _require(params, ("p5", "p95"))
        if not 0 < p5 < p95:
            raise ValueError(f"needs 0 < p5 < p95, got p5={p5}, p95={p95}")
        median = math.sqrt(p5 * p95)
        sigma = math.log(p95 / p5) / (2 * _Z95)
    if median <= 0 or sigma <= 0:
        raise ValueError(f"median and sigma must be > 0, got median={median}, sigma={sigma}")
    return dist.LogNormal(math.log(median), sigma)


def _triangular(params):
    _check_extra(params, {"low", "mode", "high"})
    low, mode, high = _require(params, ("low", "mode", "high"))
    if not (low <= mode <= high and low < high):
        raise ValueError(f"needs low <= mode <= high and low < high, got {low}, {mode}, {high}")
    return Triangular(low, mode, high)


def _numbers(values, name: str) -> list[float]:
    """A list of finite numbers in float32's usable range, else a ValueError naming `name`."""
    if not isinstance(values, list) or not values:
        raise ValueError(f"{name} must be a list of numbers, got {shown(values)}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must hold finite numbers, got {shown(v)}")
        check_magnitude(float(v), name)
    return [float(v) for v in values]


def _matrix(rows, name: str, k: int) -> list[list[float]]:
    if not isinstance(rows, list) or len(rows) != k:
        raise ValueError(f"{name} must be a {k} x {k} array of numbers, got {shown(rows)}")
    out = [_numbers(row, name) for row in rows]
    if any(len(r) != k for r in out):
        raise ValueError(f"{name} must be a {k} x {k} array of numbers")
    return out


class JointNormal(dist.MultivariateNormal):
    """Multivariate normal whose components are named; sampled through z = Φ⁻¹(u), x = μ + L z.

    Used for constants fitted jointly (e.g. the scaling-law constants, whose estimates are strongly
    correlated: Besiroglu et al. 2024, arXiv:2404.10102), which must not be drawn independently.
    """

    def __init__(self, loc, covariance_matrix, components, *, validate_args=None):
        self.components = tuple(components)
        super().__init__(loc=loc, covariance_matrix=covariance_matrix, validate_args=validate_args)

    def tree_flatten(self):
        raise NotImplementedError("JointNormal is not a pytree")

    def icdf(self, u):
        """Map uniforms of shape (..., k) to draws of shape (..., k)."""
        from jax.scipy.special import ndtri

        z = ndtri(u)
        return self.loc + jnp.einsum("...j,ij->...i", z, self.scale_tril)


def _multivariate_normal(params):
    _check_extra(params, {"components", "mean", "sd", "corr", "cov"})
    for key in ("components", "mean"):
        if key not in params:
            raise ValueError(f"missing parameter {key}")
    components, mean = params["components"], _numbers(params["mean"], "mean")
    if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
        raise ValueError(f"components must be a list of names, got {shown(components)}")
    k = len(components)
    if k < 2 or len(mean) != k or len(set(components)) != k:
        raise ValueError("components must be >= 2 distinct names, with one mean each")
    if "cov" in params:
        cov = _matrix(params["cov"], "cov", k)
    elif "sd" in params and "corr" in params:
        sd, corr = _numbers(params["sd"], "sd"), _matrix(params["corr"], "corr", k)
        if len(sd) != k:
            raise ValueError("sd needs k entries and corr k x k")
        cov = [[corr[i][j] * sd[i] * sd[j] for j in range(k)] for i in range(k)]
    else:
        raise ValueError("needs cov, or sd and corr")
    import numpy as np

    cov_arr = np.asarray(cov, dtype=np.float64)
    if cov_arr.shape != (k, k) or not np.allclose(cov_arr, cov_arr.T):
        raise ValueError("covariance must be a symmetric k x k matrix")
    if np.linalg.eigvalsh(cov_arr).min() <= 0:
        raise ValueError("covariance must be positive definite")
    return JointNormal(jnp.asarray(mean), jnp.asarray(cov_arr, jnp.float32), components)


# ------------------------------------------------------------------------------------------------
# float32 inverse CDFs: (params, distribution) -> (u -> draws); u strictly inside (0, 1)


def _fixed_icdf32(params, d):
    value = np.float32(params["value"])
    return lambda u: jnp.full(jnp.shape(u), value, jnp.float32)


def _uniform_icdf32(params, d):
    low, width = np.float32(params["low"]), np.float32(params["high"] - params["low"])
    return lambda u: low + jnp.asarray(u, jnp.float32) * width


def _normal_icdf32(params, d):
    loc, scale = np.float32(params["loc"]), np.float32(params["scale"])
    return lambda u: loc + scale * ndtri_open_f32(u)


def _lognormal_icdf32(params, d):
    mu, sigma = np.float32(np.asarray(d.base_dist.loc)), np.float32(np.asarray(d.base_dist.scale))
    return lambda u: jnp.exp(mu + sigma * ndtri_open_f32(u))


def _truncated_normal_icdf32(params, d):
    """Inverse CDF of a normal truncated to [low, high], accurate in both tails in float32.

    With a = (low - loc)/scale and b = (high - loc)/scale, the lower-tail form Phi(a) + u S and the
    upper-tail form Phi(-b) + (1 - u) S (S the mass kept, all three in float64 on the host) give
    the standard normal quantile; whichever is below 1/2 is used, so that the float32 argument of
    the normal quantile is never close to 1.
    """
    from scipy.special import ndtr

    loc, scale, low, high = float(params["loc"]), float(params["scale"]), params.get("low"), params.get("high")
    a = -math.inf if low is None else (low - loc) / scale
    b = math.inf if high is None else (high - loc) / scale
    mass = float(ndtr(-a) - ndtr(-b)) if a > 0 else float(ndtr(b) - ndtr(a))
    p0, q0, mass = np.float32(ndtr(a)), np.float32(ndtr(-b)), np.float32(mass)
    loc32, scale32 = np.float32(loc), np.float32(scale)
    lo = np.float32(-math.inf if low is None else low)
    hi = np.float32(math.inf if high is None else high)

    def icdf(u):
        u = jnp.asarray(u, jnp.float32)
        p = p0 + u * mass
        lower = p < np.float32(0.5)
        z = ndtri_open_f32(jnp.where(lower, p, q0 + (np.float32(1.0) - u) * mass))
        return jnp.clip(loc32 + scale32 * jnp.where(lower, z, -z), lo, hi)

    return icdf


def _triangular_icdf32(params, d):
    low, mode, high = (float(params[k]) for k in ("low", "mode", "high"))
    split = np.float32((mode - low) / (high - low))
    left, right = np.float32((high - low) * (mode - low)), np.float32((high - low) * (high - mode))
    low32, high32 = np.float32(low), np.float32(high)

    def icdf(u):
        u = jnp.asarray(u, jnp.float32)
        return jnp.where(u < split, low32 + jnp.sqrt(u * left), high32 - jnp.sqrt((np.float32(1.0) - u) * right))

    return icdf


def _multivariate_normal_icdf32(params, d):
    loc = np.asarray(d.loc, np.float32)
    tril = np.asarray(d.scale_tril, np.float32)
    return lambda u: loc + jnp.einsum("...j,ij->...i", ndtri_open_f32(u), tril)


class Family(NamedTuple):
    """A distribution family: its validating constructor and its float32 inverse CDF."""

    build: Callable[[Mapping], dist.Distribution]
    icdf32: Callable[[Mapping, dist.Distribution], Callable]


FAMILIES: dict[str, Family] = {
    "fixed": Family(_fixed, _fixed_icdf32),
    "uniform": Family(_uniform, _uniform_icdf32),
    "normal": Family(_normal, _normal_icdf32),
    "truncated_normal": Family(_truncated_normal, _truncated_normal_icdf32),
    "lognormal": Family(_lognormal, _lognormal_icdf32),
    "triangular": Family(_triangular, _triangular_icdf32),
    "multivariate_normal": Family(_multivariate_normal, _multivariate_normal_icdf32),
}


def build_distribution(family: str, params: Mapping) -> dist.Distribution:
    """NumPyro distribution for a family name and its parameters; ValueError if invalid."""
    if family not in FAMILIES:
        raise KeyError(family)
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a table, got {params!r}")
    return FAMILIES[family].build(params)


class EmpiricalDraws:
    """Draws of a fitted (posterior or posterior-predictive) distribution, resampled by uniforms.

    ``icdf(u) = values[floor(u · n)]``: the inverse CDF of the draws in their stored order (which is
    also its float32 form). Every `EmpiricalDraws` built with the same `stream` name is drawn from
    one set of uniforms, so one sampler draw takes every such input from the same fitted draw and
    their joint (posterior) correlation is kept. The map is not monotone: such inputs act as one
    joint group, not as independent inputs.
    """

    def __init__(self, values, stream: str | None = None):
        self.values = np.asarray(values, dtype=np.float32).ravel()
        self.num_draws = self.values.size
        self.stream = stream

    def icdf(self, u):
        idx = jnp.minimum((jnp.asarray(u) * self.num_draws).astype(jnp.int32), self.num_draws - 1)
        return jnp.asarray(self.values)[idx]

    @property
    def mean(self):
        return float(self.values.mean())


# Families built from fitted draws rather than from TOML parameters (never named in a priors file).
EMPIRICAL_FAMILIES = ("posterior_predictive",)


def icdf32(family: str, params: Mapping, distribution) -> Callable:
    """The float32 inverse CDF the samplers use for a prior of `family`."""
    if family in EMPIRICAL_FAMILIES:
        return distribution.icdf
    return FAMILIES[family].icdf32(params, distribution)
