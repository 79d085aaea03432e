"""Distribution families a prior may use: each builds a NumPyro distribution and owns its float32 inverse CDF.

Every family has a closed-form (or cheap) inverse CDF, so one matrix of uniforms can drive plain
Monte Carlo, quasi-Monte Carlo and Sobol' designs alike. `FAMILIES` maps a family's name to a
`Family`: ``check(params)`` validates the TOML parameters into a spec (plain Python, cheap), and
``icdf32(spec)`` returns the float32 inverse CDF the samplers use, written for speed and tested
against the NumPyro distribution's ``icdf`` on every bundled prior. The NumPyro distributions (the
exact references, with ``log_prob`` and ``icdf``) live in `carbon_mc.priors.distributions` and are
built only when asked for. Beta and Gamma are left out on purpose: JAX has no fast inverse CDF for them,
and ``jax.random.beta`` draws about 0.8 M/s on a 2-core CPU.

The float32 inverse CDFs expect uniforms strictly inside (0, 1), as the samplers' are (in
[2^-24, 1 - 2^-24]): at 0 or 1 the normal quantile inside returns a finite value, not an infinity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import shown
from .float32 import ndtri_open_f32
from .support import check_magnitude

# z-score of the 95th percentile of a standard normal, for lognormal {p5, p95} intervals.
_Z95 = 1.6448536269514722


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
    return {"value": value}


def _uniform(params):
    _check_extra(params, {"low", "high"})
    low, high = _require(params, ("low", "high"))
    if not low < high:
        raise ValueError(f"needs low < high, got low={low}, high={high}")
    return {"low": low, "high": high}


def _normal(params):
    _check_extra(params, {"loc", "scale"})
    loc, scale = _require(params, ("loc", "scale"))
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return {"loc": loc, "scale": scale}


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
    return {"loc": loc, "scale": scale, "low": low, "high": high}


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
    return {"median": median, "sigma": sigma}


def _triangular(params):
    _check_extra(params, {"low", "mode", "high"})
    low, mode, high = _require(params, ("low", "mode", "high"))
    if not (low <= mode <= high and low < high):
        raise ValueError(f"needs low <= mode <= high and low < high, got {low}, {mode}, {high}")
    return {"low": low, "mode": mode, "high": high}


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
    cov_arr = np.asarray(cov, dtype=np.float64)
    if cov_arr.shape != (k, k) or not np.allclose(cov_arr, cov_arr.T):
        raise ValueError("covariance must be a symmetric k x k matrix")
    if np.linalg.eigvalsh(cov_arr).min() <= 0:
        raise ValueError("covariance must be positive definite")
    return {"components": tuple(components), "mean": tuple(mean), "cov": tuple(map(tuple, cov_arr.tolist()))}


# ------------------------------------------------------------------------------------------------
# float32 inverse CDFs: (validated spec) -> (u -> draws); u strictly inside (0, 1)


def _fixed_icdf32(s):
    value = np.float32(s["value"])
    return lambda u: jnp.full(jnp.shape(u), value, jnp.float32)


def _uniform_icdf32(s):
    low, width = np.float32(s["low"]), np.float32(s["high"] - s["low"])
    return lambda u: low + jnp.asarray(u, jnp.float32) * width


def _normal_icdf32(s):
    loc, scale = np.float32(s["loc"]), np.float32(s["scale"])
    return lambda u: loc + scale * ndtri_open_f32(u)


def _lognormal_icdf32(s):
    mu, sigma = np.float32(math.log(s["median"])), np.float32(s["sigma"])
    return lambda u: jnp.exp(mu + sigma * ndtri_open_f32(u))


def _ndtr(x: float) -> float:
    """Standard normal CDF in float64, from the complementary error function (accurate in both tails)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _truncated_normal_icdf32(s):
    """Inverse CDF of a normal truncated to [low, high], accurate in both tails in float32.

    With a = (low - loc)/scale and b = (high - loc)/scale, the lower-tail form Phi(a) + u S and the
    upper-tail form Phi(-b) + (1 - u) S (S the mass kept, all three in float64 on the host) give
    the standard normal quantile; whichever is below 1/2 is used, so that the float32 argument of
    the normal quantile is never close to 1.
    """
    loc, scale, low, high = s["loc"], s["scale"], s["low"], s["high"]
    a = -math.inf if low is None else (low - loc) / scale
    b = math.inf if high is None else (high - loc) / scale
    mass = _ndtr(-a) - _ndtr(-b) if a > 0 else _ndtr(b) - _ndtr(a)
    p0, q0, mass = np.float32(_ndtr(a)), np.float32(_ndtr(-b)), np.float32(mass)
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


def _triangular_icdf32(s):
    low, mode, high = s["low"], s["mode"], s["high"]
    split = np.float32((mode - low) / (high - low))
    left, right = np.float32((high - low) * (mode - low)), np.float32((high - low) * (high - mode))
    low32, high32 = np.float32(low), np.float32(high)

    def icdf(u):
        u = jnp.asarray(u, jnp.float32)
        return jnp.where(u < split, low32 + jnp.sqrt(u * left), high32 - jnp.sqrt((np.float32(1.0) - u) * right))

    return icdf


def _multivariate_normal_icdf32(s):
    loc = np.asarray(s["mean"], np.float32)
    with jax.ensure_compile_time_eval():  # a constant of the sampler, even when first asked for inside a trace
        tril = np.asarray(jnp.linalg.cholesky(jnp.asarray(s["cov"], jnp.float32)), np.float32)  # as NumPyro's scale_tril
    return lambda u: loc + jnp.einsum("...j,ij->...i", ndtri_open_f32(u), tril)


class Family(NamedTuple):
    """A distribution family: its parameter check (TOML params -> validated spec) and its float32 inverse CDF."""

    check: Callable[[Mapping], dict]
    icdf32: Callable[[dict], Callable]


FAMILIES: dict[str, Family] = {
    "fixed": Family(_fixed, _fixed_icdf32),
    "uniform": Family(_uniform, _uniform_icdf32),
    "normal": Family(_normal, _normal_icdf32),
    "truncated_normal": Family(_truncated_normal, _truncated_normal_icdf32),
    "lognormal": Family(_lognormal, _lognormal_icdf32),
    "triangular": Family(_triangular, _triangular_icdf32),
    "multivariate_normal": Family(_multivariate_normal, _multivariate_normal_icdf32),
}


def check_params(family: str, params: Mapping) -> dict:
    """The validated spec of a family's parameters; ValueError if invalid, KeyError if no such family."""
    if family not in FAMILIES:
        raise KeyError(family)
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a table, got {params!r}")
    return FAMILIES[family].check(params)


def build_distribution(family: str, params: Mapping):
    """NumPyro distribution for a family name and its parameters; ValueError if invalid.

    Imports NumPyro (`carbon_mc.priors.distributions`) on first use: the samplers never need it.
    """
    from . import distributions

    return distributions.build(family, check_params(family, params))


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


def icdf32(family: str, spec, empirical=None) -> Callable:
    """The float32 inverse CDF the samplers use for a prior of `family` (its validated `spec`, or its fitted draws)."""
    if family in EMPIRICAL_FAMILIES:
        return empirical.icdf
    return FAMILIES[family].icdf32(spec)
