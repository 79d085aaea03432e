"""The NumPyro distributions of the prior families: the exact references (``log_prob``, ``cdf``, ``icdf``).

Built only when asked for (`carbon_mc.priors.Prior.distribution`): the samplers draw through each
family's float32 inverse CDF (`carbon_mc.priors.families`) and never need NumPyro, whose import and
argument checks cost a default run about a second and a half on a 2-core CPU (BENCHMARKS.md).
"""

from __future__ import annotations

import math
from typing import ClassVar

import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes


class Triangular(dist.Distribution):
    """Triangular distribution on [low, high] peaking at `peak` (its mode).

    Reference: Johnson, Kotz & Balakrishnan, *Continuous Univariate Distributions* vol. 2, ch. 26.
    """

    arg_constraints: ClassVar[dict] = {"low": constraints.real, "peak": constraints.real, "high": constraints.real}
    reparametrized_params: ClassVar[list[str]] = ["low", "peak", "high"]

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



def build(family: str, spec: dict) -> dist.Distribution:
    """The NumPyro distribution of a validated `spec` (`carbon_mc.priors.families.Family.check`)."""
    s = spec
    if family == "fixed":
        return dist.Delta(jnp.asarray(s["value"], jnp.float32))
    if family == "uniform":
        return dist.Uniform(s["low"], s["high"])
    if family == "normal":
        return dist.Normal(s["loc"], s["scale"])
    if family == "truncated_normal":
        return dist.TruncatedNormal(s["loc"], s["scale"], low=s["low"], high=s["high"])
    if family == "lognormal":
        return dist.LogNormal(math.log(s["median"]), s["sigma"])
    if family == "triangular":
        return Triangular(s["low"], s["mode"], s["high"])
    if family == "multivariate_normal":
        return JointNormal(jnp.asarray(s["mean"]), jnp.asarray(s["cov"], jnp.float32), s["components"])
    raise KeyError(family)
