"""The engine: priors -> vectorised draws (in chunks, sharded over devices) -> the carbon model -> xarray.

Random streams (the contract). Draw ``i`` of input ``q`` depends only on the seed, the name of
``q``'s stream (its own name unless `Model.streams` renames it) and ``i``; never on the chunk size,
the device count, or which other inputs the model has (so two scenarios that share an input share
its draws: common random numbers). The generator is counter-based Threefry-2x32 with 20 rounds
(Salmon, Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3", SC'11; the same
function as ``jax.random``'s default, bit for bit), written here in jnp so that XLA vectorises it
(``jax.random.uniform`` draws 2 to 4 times slower on a CPU; BENCHMARKS.md):

- the key of input ``q`` is ``key_data(fold_in(key(seed), stream_id(q)))`` (`stream_key`, `stream_id`
  a 31-bit CRC-32 of the name); a joint prior with ``k`` columns gives column ``c`` the key
  ``key_data(fold_in(fold_in(key(seed), stream_id(q)), c))``;
- draws ``2p`` and ``2p+1`` are the two output words of ``threefry2x32(key_q, (p >> 32, p mod 2^32))``;
- a 32-bit word ``w`` becomes the uniform ``((w >> 9) + 1/2) * 2^-23``, in ``[2^-24, 1 - 2^-24]``.

Each uniform goes through its prior's inverse CDF (`fast_icdf`: closed forms in float32 for the
bundled families, with a normal quantile after Giles 2010; tested against NumPyro's ``icdf``).
Quasi-Monte Carlo (``method="qmc"``) replaces the uniforms by one scrambled Sobol' sequence over all
drawn columns (`carbon_mc.qmc`). A run is cut into dispatches of whole `BLOCK`s of draws (16 blocks
per device on a CPU, 4096 on an accelerator); with several devices each dispatch is sharded over a
``jax.sharding.Mesh`` along its blocks. A dispatch runs three jitted programs (uniforms, inverse
CDFs, then the model with the outputs kept or binned), so that XLA cannot fuse an expensive
producer into each of its consumers. Summaries of large runs are computed on the fly from fixed
histograms (`estimate_summary`, `carbon_mc.streaming`), so that memory does not grow with the
number of draws.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .errors import CarbonMCError
from .footprint import OUTPUTS, RunConstants, carbon_footprint
from .priors import Prior, PriorTable, load_priors
from .scenario import Scenario, load_scenario

BLOCK = 4096
DEFAULT_CHUNK = 1 << 20


def stream_id(name: str) -> int:
    """Stable 31-bit id of an input's random stream (survives model edits and reordering)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


# ---------------------------------------------------------------------------------------------
# Random streams: Threefry-2x32-20 in jnp


_THREEFRY_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
_THREEFRY_PARITY = np.uint32(0x1BD11BDA)


def _rotl32(x, r: int):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32 with 20 rounds: key words (k0, k1), counter words (x0, x1) -> two uint32 words.

    Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3" (SC'11), the Random123
    reference; bit-identical to ``jax.extend.random.threefry_2x32`` (tested), but plain jnp
    arithmetic that XLA fuses and vectorises. All arguments broadcast; dtype uint32.
    """
    k2 = k0 ^ k1 ^ _THREEFRY_PARITY
    ks = (k0, k1, k2)
    x0 = x0 + k0
    x1 = x1 + k1
    for r in range(20):
        x0 = x0 + x1
        x1 = _rotl32(x1, _THREEFRY_ROTATIONS[r % 8]) ^ x0
        if r % 4 == 3:
            s = r // 4 + 1
            x0 = x0 + ks[s % 3]
            x1 = x1 + ks[(s + 1) % 3] + np.uint32(s)
    return x0, x1


def _key_words(rng_key) -> jax.Array:
    """An integer seed or a threefry JAX key -> a typed threefry key."""
    if isinstance(rng_key, (int, np.integer)):
        return jax.random.key(int(rng_key))
    if jnp.issubdtype(rng_key.dtype, jax.dtypes.prng_key):
        if str(jax.random.key_impl(rng_key)) != "threefry2x32":
            raise ValueError("the engine's streams need an integer seed or a threefry2x32 key")
        return rng_key
    return jax.random.wrap_key_data(jnp.asarray(rng_key, jnp.uint32))  # legacy uint32[2] key


def stream_key(rng_key, name: str, columns: int = 1) -> np.ndarray:
    """Key words of input stream `name`: uint32 array (columns, 2), one Threefry key per column."""
    if isinstance(rng_key, (int, np.integer)):
        return _stream_key_of_seed(int(rng_key), name, columns).copy()
    return _stream_key(rng_key, name, columns)


@functools.lru_cache(maxsize=1024)
def _stream_key_of_seed(seed: int, name: str, columns: int) -> np.ndarray:
    return _stream_key(seed, name, columns)


def _stream_key(rng_key, name: str, columns: int) -> np.ndarray:
    stream = jax.random.fold_in(_key_words(rng_key), stream_id(name))
    if columns == 1:
        return np.asarray(jax.random.key_data(stream), np.uint32).reshape(1, 2)
    return np.stack([np.asarray(jax.random.key_data(jax.random.fold_in(stream, c)), np.uint32) for c in range(columns)])


def bits_to_uniform(bits):
    """uint32 words -> float32 uniforms ``((w >> 9) + 1/2) 2^-23``, symmetric in [2^-24, 1 - 2^-24]."""
    return ((bits >> np.uint32(9)).astype(jnp.float32) + np.float32(0.5)) * np.float32(2.0**-23)


def threefry_uniforms(keys, first_block, num_blocks: int):
    """Uniforms for draws ``first_block*BLOCK ...`` of each key row: (C, 2) uint32 -> (C, num_blocks*BLOCK)."""
    keys = jnp.asarray(keys, jnp.uint32)
    first_block = jnp.asarray(first_block, jnp.uint32)
    half = BLOCK // 2
    j = jnp.arange(num_blocks * half, dtype=jnp.uint32)
    block = first_block + j // np.uint32(half)
    pair_lo = (block << np.uint32(11)) | (j % np.uint32(half))  # pair index p = block * 2048 + j
    pair_hi = block >> np.uint32(21)
    y0, y1 = threefry2x32(keys[:, :1], keys[:, 1:], pair_hi[None, :], pair_lo[None, :])
    bits = jnp.stack([y0, y1], axis=-1).reshape(keys.shape[0], num_blocks * BLOCK)
    return bits_to_uniform(bits)


def uniforms(rng_key, name: str, first_block, num_blocks: int, columns: int = 1):
    """Uniforms in (0, 1) for draws ``first_block*BLOCK ... (first_block+num_blocks)*BLOCK - 1`` of input `name`.

    Shape (num_blocks*BLOCK,), or (num_blocks*BLOCK, columns) when `columns` > 1 (joint priors).
    `rng_key` is an integer seed or a threefry JAX key; see the module docstring for the layout.
    """
    u = threefry_uniforms(stream_key(rng_key, name, columns), first_block, num_blocks)
    return u[0] if columns == 1 else u.T


# ---------------------------------------------------------------------------------------------
# Inverse CDFs in float32


def _log_normal_f32(x):
    """`log_f32` for finite normal float32 `x` > 0 only: no edge cases (the engine's own arguments)."""
    bits = jax.lax.bitcast_convert_type(x, jnp.int32)
    e = ((bits >> 23) & 0xFF) - 126
    m = jax.lax.bitcast_convert_type((bits & 0x007FFFFF) | 0x3F000000, jnp.float32)  # in [0.5, 1)
    small = m < np.float32(0.7071067811865476)
    e = jnp.where(small, e - 1, e).astype(jnp.float32)
    m = jnp.where(small, m + m, m) - np.float32(1.0)
    z = m * m
    p = np.float32(7.0376836292e-2)
    for c in (-1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
              2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1):
        p = p * m + np.float32(c)
    y = p * m * z + e * np.float32(-2.12194440e-4) - np.float32(0.5) * z
    return m + y + e * np.float32(0.693359375)


def log_f32(x):
    """Natural log of float32 `x` > 0 from its exponent and a degree-9 polynomial (Cephes ``logf``).

    Moshier, Cephes Math Library (netlib.org/cephes), ``logf.c``; absolute error below 5e-7 on
    (0, 1] (tested). Returns -inf at 0 and NaN below.
    """
    x = jnp.asarray(x, jnp.float32)
    return jnp.where(x > 0, _log_normal_f32(x), jnp.where(x == 0, -jnp.inf, jnp.nan))


# Giles 2010, "Approximating the erfinv function", GPU Computing Gems Jade, ch. 10: single precision.
_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
               -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _horner_either(central, a, b, t):
    """Horner's scheme for polynomial `a` where `central` holds and `b` elsewhere, in one pass.

    Each lane picks its coefficients instead of evaluating both polynomials and discarding one.
    """
    p = jnp.where(central, np.float32(a[0]), np.float32(b[0]))
    for ca, cb in zip(a[1:], b[1:]):
        p = p * t + jnp.where(central, np.float32(ca), np.float32(cb))
    return p


def _ndtri_open_f32(u):
    """`ndtri_f32` for `u` strictly inside (0, 1) (the engine's uniforms), without edge cases."""
    u = jnp.asarray(u, jnp.float32)
    x = np.float32(2.0) * u - np.float32(1.0)
    w = -_log_normal_f32(np.float32(4.0) * u * (np.float32(1.0) - u))
    central = w < np.float32(5.0)
    t = jnp.where(central, w - np.float32(2.5), jnp.sqrt(w) - np.float32(3.0))
    return np.float32(math.sqrt(2.0)) * _horner_either(central, _GILES_CENTRAL, _GILES_TAIL, t) * x


def ndtri_f32(u):
    """Standard normal quantile of float32 `u`: sqrt(2) erfinv(2u - 1) after Giles (2010).

    ``w = -log((1-x)(1+x))`` is computed as ``-log(4u(1-u))``, exact for the engine's uniforms, which
    keeps the tails accurate: absolute error under 1e-6 over [2^-24, 1 - 2^-24] against SciPy
    (tested). -inf at 0, +inf at 1, NaN outside [0, 1].
    """
    u = jnp.asarray(u, jnp.float32)
    z = _ndtri_open_f32(u)  # finite nonsense at and beyond the edges, replaced below
    edge = jnp.where(u == 0, -jnp.inf, jnp.where(u == 1, jnp.inf, jnp.nan))
    return jnp.where((u > 0) & (u < 1), z, edge)


def _truncated_normal_icdf(loc: float, scale: float, low: float | None, high: float | None) -> Callable:
    """Inverse CDF of a normal truncated to [low, high], accurate in both tails in float32.

    With a = (low - loc)/scale and b = (high - loc)/scale, the lower-tail form Phi(a) + u S and the
    upper-tail form Phi(-b) + (1 - u) S (S the mass kept, all three in float64 on the host) give
    the standard normal quantile; whichever is below 1/2 is used, so that the float32 argument of
    the normal quantile is never close to 1.
    """
    from scipy.special import ndtr

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
        z = _ndtri_open_f32(jnp.where(lower, p, q0 + (np.float32(1.0) - u) * mass))
        return jnp.clip(loc32 + scale32 * jnp.where(lower, z, -z), lo, hi)

    return icdf


def fast_icdf(prior: Prior) -> Callable | None:
    """A float32 inverse CDF for `prior` written for speed, or None where only ``prior.icdf`` applies.

    Covers uniform, normal, lognormal, truncated_normal, triangular and multivariate_normal; each
    agrees with the NumPyro distribution's ``icdf`` to float32 precision (tested on every bundled
    prior). Uniforms must lie strictly inside (0, 1), as the engine's do: at 0 or 1 the normal
    quantile inside returns a finite value, not an infinity.
    """
    d, q = prior.distribution, prior.params
    if prior.family == "uniform":
        low, width = np.float32(q["low"]), np.float32(q["high"] - q["low"])
        return lambda u: low + jnp.asarray(u, jnp.float32) * width
    if prior.family == "normal":
        loc, scale = np.float32(q["loc"]), np.float32(q["scale"])
        return lambda u: loc + scale * _ndtri_open_f32(u)
    if prior.family == "lognormal":
        mu, sigma = np.float32(np.asarray(d.base_dist.loc)), np.float32(np.asarray(d.base_dist.scale))
        return lambda u: jnp.exp(mu + sigma * _ndtri_open_f32(u))
    if prior.family == "truncated_normal":
        return _truncated_normal_icdf(float(q["loc"]), float(q["scale"]), q.get("low"), q.get("high"))
    if prior.family == "triangular":
        low, mode, high = (float(q[k]) for k in ("low", "mode", "high"))
        split = np.float32((mode - low) / (high - low))
        left, right = np.float32((high - low) * (mode - low)), np.float32((high - low) * (high - mode))
        low32, high32 = np.float32(low), np.float32(high)

        def triangular(u):
            u = jnp.asarray(u, jnp.float32)
            return jnp.where(u < split, low32 + jnp.sqrt(u * left), high32 - jnp.sqrt((np.float32(1.0) - u) * right))

        return triangular
    if prior.family == "multivariate_normal":
        loc = np.asarray(d.loc, np.float32)
        tril = np.asarray(d.scale_tril, np.float32)
        return lambda u: loc + jnp.einsum("...j,ij->...i", _ndtri_open_f32(u), tril)
    return None


@dataclass(frozen=True)
class Model:
    """A scenario bound to its priors: what is drawn, what is fixed, and the model function."""

    scenario: Scenario
    priors: dict[str, Prior]
    run: RunConstants
    table: PriorTable
    # Input name -> name of its random stream, where they differ. Empty by default: each input
    # draws from the stream named after it. `carbon_mc.compare` renames the streams of inputs that
    # two scenarios do not share, so that only shared uncertainties get common random numbers.
    streams: dict[str, str] = field(default_factory=dict)

    def stream(self, name: str) -> str:
        """The name of input `name`'s random stream."""
        return self.streams.get(name, name)

    def with_streams(self, streams: dict[str, str]) -> Model:
        """A copy whose inputs draw from the given streams (input name -> stream name)."""
        unknown = set(streams) - set(self.priors)
        if unknown:
            raise ValueError(f"no such inputs: {sorted(unknown)}")
        return replace(self, streams={**self.streams, **streams})

    @property
    def stochastic(self) -> list[str]:
        """Names of the inputs that are drawn (not fixed), in a stable order."""
        return [name for name, p in self.priors.items() if not p.is_fixed]

    @property
    def fixed(self) -> dict[str, float]:
        return {name: p.fixed_value for name, p in self.priors.items() if p.is_fixed}

    def icdf(self, name: str, u):
        """Input `name` from uniforms `u` through its prior's inverse CDF (the fast float32 form where one exists)."""
        prior = self.priors[name]
        fn = fast_icdf(prior)
        return prior.icdf(u) if fn is None else fn(u)

    def inputs_from_uniforms(self, u: dict) -> dict:
        """Inputs for the model: each drawn input through its prior's inverse CDF, fixed ones as scalars."""
        x = {name: jnp.float32(v) for name, v in self.fixed.items()}
        for name in self.stochastic:
            x[name] = self.icdf(name, u[name])
        return x

    def outputs(self, x: dict) -> dict:
        """Every output of the carbon model for inputs `x`."""
        return carbon_footprint(x, self.run)


def build_model(scenario: Scenario | str | Path, *, priors: PriorTable | None = None, posterior: dict[str, Prior] | None = None) -> Model:
    """Bind a scenario (object or TOML path) to its resolved priors.

    `posterior` replaces some of them ({input name: Prior}, e.g. from
    `carbon_mc.calibrate.calibrated_priors`); inputs whose replacement's distribution names a
    ``stream`` draw from that shared stream, so one draw takes them all from the same posterior draw.
    """
    table = priors or load_priors()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, priors=table)
    resolved = scenario.resolve_priors(table)
    spec = table.hardware_spec(scenario.hardware, file=scenario.file)
    model = Model(scenario, resolved, RunConstants.from_scenario(scenario, spec), table)
    if posterior:
        unknown = sorted(set(posterior) - set(resolved))
        if unknown:
            raise CarbonMCError(f"posterior for {', '.join(unknown)}, which {scenario.name!r} does not draw")
        model = replace(model, priors={**resolved, **posterior})
        shared = {n: p.distribution.stream for n, p in posterior.items() if getattr(p.distribution, "stream", None)}
        model = model.with_streams(shared) if shared else model
    return model


# ---------------------------------------------------------------------------------------------
# Samplers, kernels and dispatch

METHODS = ("mc", "qmc")
METHOD_NAMES = {"mc": "monte_carlo", "qmc": "randomized_quasi_monte_carlo"}
# Blocks per device per dispatch: small on a CPU, so that a dispatch's intermediates stay in cache;
# large on an accelerator, so that launch overhead vanishes.
_DISPATCH_BLOCKS = {"cpu": 16}
_DISPATCH_BLOCKS_ACCELERATOR = 4096


@dataclass(frozen=True)
class Sampler:
    """Where a run's uniforms come from: `method`, the device constants, and a description.

    ``uniforms(consts, first_block, num_blocks)`` returns (columns, num_blocks*BLOCK) float32.
    """

    method: str
    consts: tuple
    uniforms: Callable
    description: str


def _columns(model: Model) -> list[tuple[str, int]]:
    return [(name, model.priors[name].num_columns) for name in model.stochastic]


def _seed_words(seed) -> list[int]:
    if isinstance(seed, (int, np.integer)):
        return [int(seed)]
    if isinstance(seed, (list, tuple)):
        return [int(w) for w in seed]
    return [int(w) for w in np.asarray(jax.random.key_data(_key_words(seed))).ravel()]


def _mc_uniforms(consts, first_block, num_blocks):
    return threefry_uniforms(consts[0], first_block, num_blocks)


def _qmc_uniforms(consts, first_block, num_blocks):
    """Blocks of scrambled Sobol' points; block ``b`` belongs to replicate ``b mod R`` (its ``b div R``-th block)."""
    from .qmc import sobol_words

    direction, shift = consts  # (R, C, 32), (R, C)
    replicates, columns = direction.shape[0], direction.shape[1]
    block = jnp.asarray(first_block, jnp.uint32) + jnp.arange(num_blocks, dtype=jnp.uint32)
    local = jnp.arange(BLOCK, dtype=jnp.uint32)[None, :]
    if replicates == 1:
        words = sobol_words(direction[0], shift[0], (block[:, None] * np.uint32(BLOCK) + local).reshape(-1))
        return bits_to_uniform(words)
    r = (block % np.uint32(replicates)).astype(jnp.int32)
    index = (block // np.uint32(replicates))[:, None] * np.uint32(BLOCK) + local  # (blocks, BLOCK)
    words = sobol_words(direction[r], shift[r], index)  # (blocks, C, BLOCK)
    return bits_to_uniform(words).transpose(1, 0, 2).reshape(columns, num_blocks * BLOCK)


def sampler(model: Model, seed=0, method: str = "mc", *, last_index: int | None = None, replicates: int = 1) -> Sampler:
    """The uniforms of `model` under `seed` by `method` ("mc": Threefry streams; "qmc": scrambled Sobol').

    With `replicates` > 1, block ``b`` of the run belongs to replicate ``b mod replicates``: for
    Monte Carlo the draws are those of the plain run, only grouped; for quasi-Monte Carlo each
    replicate is its own independently scrambled sequence, laid out block by block.
    """
    if method == "mc":
        keys = np.concatenate([np.zeros((0, 2), np.uint32)] + [stream_key(seed, model.stream(n), k) for n, k in _columns(model)])
        return Sampler("mc", (keys,), _mc_uniforms,
                       f"threefry2x32-20 counter streams; per input fold_in(key, crc32(name)); two draws per counter; blocks of {BLOCK}"
                       + (f"; streams renamed {json.dumps(model.streams, sort_keys=True)}" if model.streams else ""))
    if method == "qmc":
        from .qmc import replicate_tables

        width = sum(k for _, k in _columns(model))
        if last_index is not None and last_index // replicates >= (1 << 32):
            raise CarbonMCError(f"quasi-Monte Carlo supports at most 2^32 draws per replicate, asked for {last_index + 1:,}")
        direction, shift = replicate_tables(width, _seed_words(seed), replicates)
        return Sampler("qmc", (direction, shift), _qmc_uniforms,
                       f"scrambled Sobol' (Joe-Kuo directions, linear matrix scramble + digital shift, scipy) over {width} columns "
                       "in model order" + (f"; {replicates} independent scramblings, block b in replicate b mod {replicates}" if replicates > 1 else ""))
    raise CarbonMCError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")


def _model_key(model: Model) -> str:
    """What a compiled kernel depends on: the priors, their order and the run's constants."""
    priors = [(n, p.family, json.dumps(p.describe()["params"], sort_keys=True, default=str)) for n, p in model.priors.items()]
    return json.dumps([priors, repr(model.run), model.streams], default=str)


def mesh_of(devices=None, *, local: bool = False) -> jax.sharding.Mesh:
    """A one-axis ``Mesh(devices, ("draw",))`` over `devices`.

    By default all of ``jax.devices()`` (every host's, after ``jax.distributed.initialize()``), or
    with `local` only this process's ``jax.local_devices()``.
    """
    if devices is None:
        devices = jax.local_devices() if local else jax.devices()
    devices = list(devices)
    return jax.sharding.Mesh(np.array(devices), ("draw",))


def _dispatch_blocks(mesh: jax.sharding.Mesh, chunk_size: int) -> int:
    """Blocks per device per dispatch: the platform's default, or fewer if `chunk_size` asks."""
    platform = mesh.devices.flat[0].platform
    default = _DISPATCH_BLOCKS.get(platform, _DISPATCH_BLOCKS_ACCELERATOR)
    return max(1, min(default, math.ceil(chunk_size / BLOCK / mesh.size)))


_KERNELS: dict = {}


def _cached(key, build):
    if key not in _KERNELS:
        if len(_KERNELS) > 64:
            _KERNELS.clear()
        _KERNELS[key] = build()
    return _KERNELS[key]


def output_shapes(model: Model) -> dict[str, tuple]:
    """Shape of each output for two draws: () marks an output that does not vary (traced once per model)."""

    def trace():
        dummy = {name: jax.ShapeDtypeStruct((2,) if k == 1 else (2, k), jnp.float32) for name, k in _columns(model)}
        return {k: v.shape for k, v in jax.eval_shape(lambda u: model.outputs(model.inputs_from_uniforms(u)), dummy).items()}

    return dict(_cached(("output_shapes", _model_key(model)), trace))


_P = jax.sharding.PartitionSpec


def _uniforms_kernel(smp: Sampler, mesh, nblk: int):
    """Jitted ``(consts, first_block) -> (columns, mesh.size * nblk * BLOCK)`` uniforms, sharded by block."""

    def local(consts, first_block):
        device = jax.lax.axis_index("draw").astype(jnp.uint32)
        return smp.uniforms(consts, first_block + device * np.uint32(nblk), nblk)

    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(_P(), _P()), out_specs=_P(None, "draw")))


def _inputs_kernel(model: Model, mesh):
    """Jitted ``uniforms (columns, n) -> {drawn input: values}``, sharded by block.

    A dispatch runs three jitted programs: uniforms, inverse CDFs, then the model with the
    summaries or the outputs kept. Materialising the uniforms and the inputs in between stops XLA
    from fusing a producer into each of its consumers and recomputing it there (an
    ``optimization_barrier`` does not prevent it on the CPU), which cost 1.5 to 10 times.
    """
    width = dict(_columns(model))

    def local(u):
        out, row, first_row = {}, 0, {}
        for name, k in width.items():
            start = first_row.setdefault(model.stream(name), row)  # inputs sharing a stream share its uniforms (MC and QMC alike)
            out[name] = model.icdf(name, u[start] if k == 1 else u[start : start + k].T)
            row += k
        return out

    specs = {k: _P("draw") for k in width}
    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(_P(None, "draw"),), out_specs=specs))


def _full_inputs(model: Model, drawn: dict) -> dict:
    return {**{name: jnp.float32(v) for name, v in model.fixed.items()}, **drawn}


def _draw_kernel(model: Model, mesh, nblk: int, keep: tuple[str, ...]):
    """Jitted ``drawn inputs -> {name: values}`` for the variables in `keep`, sharded by block."""
    n = nblk * BLOCK
    drawn_names = [name for name, _ in _columns(model)]

    def local(drawn):
        values = {**drawn, **model.outputs(_full_inputs(model, drawn))}
        return {k: jnp.broadcast_to(values[k], (n,) + tuple(jnp.shape(values[k])[1:])) for k in keep}

    in_specs = ({k: _P("draw") for k in drawn_names},)
    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs={k: _P("draw") for k in keep}))


def _summary_kernel(model: Model, mesh, nblk: int, names: tuple[str, ...], kinds: tuple[str, ...], width: int, replicates: int):
    """Jitted ``(drawn inputs, first_block, num_valid, hist, base, lo, inv_width, nbins) -> hist``, sharded by block.

    `hist` (devices, replicates * variables, width) int32 gains this dispatch's counts; block ``b``
    counts in replicate ``b mod replicates``. Row ``r V + v``: column 0 underflow, 1..nbins[v] the
    bins, nbins[v]+1 overflow, width-2 non-finite, width-1 draws past `num_valid` (dropped). See
    `carbon_mc.streaming` for the bins.
    """
    from .streaming import FLOAT_SHIFT

    n = nblk * BLOCK
    drawn_names = [name for name, _ in _columns(model)]

    def local(drawn, first_block, num_valid, hist, base, lo, inv_width, nbins):
        device = jax.lax.axis_index("draw")
        values = {**drawn, **model.outputs(_full_inputs(model, drawn))}
        valid = jnp.arange(n, dtype=jnp.int32) < (num_valid - device * n)
        row = jnp.int32(0)
        if replicates > 1:
            block = first_block + device.astype(jnp.uint32) * np.uint32(nblk) + jnp.arange(nblk, dtype=jnp.uint32)
            row = jnp.repeat((block % np.uint32(replicates)).astype(jnp.int32) * (len(names) * width), BLOCK)
        flat = hist.reshape(-1)
        for v, (name, kind) in enumerate(zip(names, kinds)):
            x = jnp.broadcast_to(values[name], (n,))
            if kind == "float":  # exponent and top mantissa bits: log-linear bins without a log
                b = (jax.lax.bitcast_convert_type(x, jnp.int32) >> FLOAT_SHIFT) - base[v]
            else:
                b = jnp.floor((x - lo[v]) * inv_width[v]).clip(-1.0, nbins[v].astype(jnp.float32)).astype(jnp.int32)
            idx = jnp.clip(b, -1, nbins[v]) + 1
            idx = jnp.where(valid, jnp.where(jnp.abs(x) < jnp.inf, idx, width - 2), width - 1)
            flat = flat.at[idx + (v * width) + row].add(1, mode="promise_in_bounds")
        return flat.reshape(hist.shape)

    rep = _P()
    in_specs = ({k: _P("draw") for k in drawn_names}, rep, rep, _P("draw"), rep, rep, rep, rep)
    fn = jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs=_P("draw"))
    return jax.jit(fn, donate_argnums=(3,))


def _as_key(seed) -> jax.Array:
    if isinstance(seed, (int, np.integer)):
        return jax.random.key(int(seed))
    return seed


class _Dispatcher:
    """The compiled programs of one (model, sampler, mesh, dispatch size), and the loop over dispatches."""

    def __init__(self, model: Model, smp: Sampler, mesh, nblk: int):
        self.model, self.smp, self.mesh, self.nblk = model, smp, mesh, nblk
        self.key = (_model_key(model), smp.method, mesh.devices.tobytes(), nblk)
        self.uniforms = _cached(("uniforms", *self.key), lambda: _uniforms_kernel(smp, mesh, nblk))
        self.inputs = _cached(("inputs", *self.key), lambda: _inputs_kernel(model, mesh))
        self.consts = tuple(jnp.asarray(c) for c in smp.consts)
        self.step = nblk * mesh.size * BLOCK  # draws per dispatch

    def drawn(self, first_draw: int):
        """The drawn inputs of the dispatch starting at draw `first_draw` (a multiple of BLOCK), on the devices."""
        return self.inputs(self.uniforms(self.consts, np.uint32(first_draw // BLOCK)))


def draw(
    model: Model,
    *,
    num_draws: int,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Callable | None = None,
    method: str = "mc",
    variables: list[str] | None = None,
    devices=None,
):
    """Draw inputs and outputs as NumPy arrays ``(inputs, outputs)``, dispatch by dispatch.

    Args:
      model, num_draws, seed: the model, how many draws, an integer seed (or a threefry JAX key).
      chunk_size: at most this many draws per device dispatch (bounds device memory); results never
        depend on it, nor on the number of devices.
      progress: optional callback ``progress(done, total)``.
      method: "mc" (Threefry streams) or "qmc" (scrambled Sobol').
      variables: keep only these inputs/outputs (default: every drawn input and every output).
      devices: the devices to shard the draws over (default: this process's ``jax.local_devices()``).
    """
    if num_draws < 1:
        raise ValueError("num_draws must be >= 1")
    if method not in METHODS:
        raise CarbonMCError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    shapes = output_shapes(model)
    available = list(model.stochastic) + list(shapes)
    keep = tuple(available if variables is None else variables)
    unknown = [k for k in keep if k not in available]
    if unknown:
        raise CarbonMCError(f"unknown variable(s) {', '.join(unknown)}; valid: {', '.join(available)}")
    smp = sampler(model, seed, method, last_index=num_draws - 1)
    mesh = mesh_of(devices, local=True)  # every draw comes back to this process
    disp = _Dispatcher(model, smp, mesh, _dispatch_blocks(mesh, chunk_size))
    outputs_fn = _cached(("draw", *disp.key, keep), lambda: _draw_kernel(model, mesh, disp.nblk, keep))
    width = dict(_columns(model))
    result = {k: np.empty((num_draws,) + ((width[k],) if width.get(k, 1) > 1 else ()), np.float32) for k in keep}
    starts = list(range(0, num_draws, disp.step))
    pending = None
    for start in [*starts, None]:
        queued = None if start is None else (start, outputs_fn(disp.drawn(start)))  # queue the next dispatch first
        if pending is not None:
            s, values = pending
            take = min(disp.step, num_draws - s)
            for k, v in values.items():
                result[k][s : s + take] = np.asarray(v)[:take]
            if progress is not None:
                progress(s + take, num_draws)
        pending = queued
    inputs = {k: result[k] for k in keep if k in model.stochastic}
    outputs = {k: result[k] for k in keep if k not in model.stochastic}
    return inputs, outputs


@functools.lru_cache(maxsize=None)
def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "unknown"


def provenance(model: Model, *, seed, num_draws: int, method: str = "monte_carlo") -> dict:
    """CF-style global attributes: versions, seed, draws, and every prior with its source."""
    s = model.scenario
    return {
        "title": f"carbon-mc estimate: {s.name}",
        "Conventions": "CF-1.10",
        "institution": "carbon-mc",
        "carbon_mc_version": _version("carbon-mc"),
        "jax_version": jax.__version__,
        "numpyro_version": _version("numpyro"),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": int(seed) if isinstance(seed, (int, np.integer)) else -1,
        "num_draws": int(num_draws),
        "method": method,
        "random_streams": f"threefry2x32-20 counter streams (jnp); per input fold_in(key, crc32(name)); two draws per counter; blocks of {BLOCK} draws"
        + (f"; streams renamed {json.dumps(model.streams, sort_keys=True)}" if model.streams else ""),
        "scenario_name": s.name,
        "scenario_file": Path(s.file).name,
        "scenario_sha256": s.sha256 or "",
        "hardware": s.hardware,
        "priors_sha256": json.dumps(model.table.files, sort_keys=True),
        "priors": json.dumps({n: p.describe() for n, p in model.priors.items()}, sort_keys=True),
        "reported": json.dumps({**s.reported.figures(), "basis": s.reported.basis, "source": s.reported.source}),
        "accounting": json.dumps({"grid_basis": model.run.grid_basis, "pue_included": model.run.pue_included}),
    }


def to_dataset(model: Model, inputs: dict, outputs: dict, attrs: dict) -> xr.Dataset:
    """Assemble draws into a labelled Dataset with units, long names and sources."""
    data_vars = {}
    for name, prior in model.priors.items():
        var_attrs = {
            "units": prior.units,
            "long_name": prior.long_name,
            "distribution": prior.family,
            "variant": prior.variant,
            "source": prior.source,
            "role": "input",
        }
        if prior.is_fixed:
            data_vars[name] = xr.Variable((), np.float32(prior.fixed_value), var_attrs)
        elif prior.components:
            data_vars[name] = xr.Variable(("draw", f"{name}_component"), inputs[name], var_attrs)
        else:
            data_vars[name] = xr.Variable(("draw",), inputs[name], var_attrs)
    for name, values in outputs.items():
        meta = OUTPUTS[name]
        data_vars[name] = xr.Variable(("draw",), values, {"units": meta.units, "long_name": meta.long_name, "role": "output"})
    n = len(next(iter(outputs.values())))
    coords = {"draw": np.arange(n)}
    for name, prior in model.priors.items():
        if prior.components and not prior.is_fixed:
            coords[f"{name}_component"] = list(prior.components)
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def estimate(
    scenario: Scenario | str | Path,
    *,
    num_draws: int = 100_000,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    progress: Callable | None = None,
    method: str = "mc",
    devices=None,
    posterior: dict[str, Prior] | None = None,
) -> xr.Dataset:
    """Distribution of a training run's energy and CO2e, as an xarray Dataset over `draw`.

    Args:
      scenario: a `Scenario`, a path to a scenario TOML, or the name of a bundled one.
      num_draws: number of Monte Carlo draws.
      seed: integer seed (or a JAX key). Same seed, same numbers, whatever `chunk_size`.
      chunk_size: draws processed at once; bounds memory.
      priors: a `PriorTable` (default: the bundled priors/).
      progress: optional callback ``progress(done, total)`` called after each chunk.
      method: "mc" (Monte Carlo, the default) or "qmc" (randomized quasi-Monte Carlo: scrambled
        Sobol' points, `carbon_mc.qmc`).
      devices: devices to shard the draws over (default: all of ``jax.devices()``); the draws do not
        depend on them.
      posterior: priors to draw some inputs from instead ({input name: Prior}; see `build_model`).

    Returns:
      Dataset with every drawn input, every output (``energy_mwh``, ``operational_tco2e``,
      ``embodied_tco2e``, ``total_tco2e`` and intermediates) with CF ``units``/``long_name``, fixed
      inputs as scalars, and provenance in ``attrs``.
    """
    model = build_model(scenario, priors=priors, posterior=posterior)
    inputs, outputs = draw(model, num_draws=num_draws, seed=seed, chunk_size=chunk_size, progress=progress, method=method, devices=devices)
    attrs = provenance(model, seed=seed, num_draws=num_draws, method=METHOD_NAMES.get(method, method))
    if method != "mc":
        attrs["random_streams"] = sampler(model, seed, method).description
    return to_dataset(model, inputs, outputs, attrs)


# ---------------------------------------------------------------------------------------------
# Streaming summaries

_FLUSH_DRAWS = 1 << 30  # move the device's int32 counts to the host at least this often (draws per device)
# Runs above this many draws are summarized on the fly by default (`carbon-mc run`).
STREAM_THRESHOLD = 10_000_000


def _summary_variables(model: Model, variables) -> tuple[list[str], dict[str, float]]:
    """(variables to stream, constants): outputs that do not vary are summarized without drawing."""
    shapes = output_shapes(model)
    scalar_inputs = [n for n, k in _columns(model) if k == 1]
    available = scalar_inputs + list(shapes)
    names = available if variables is None else list(variables)
    unknown = [k for k in names if k not in available]
    if unknown:
        raise CarbonMCError(f"unknown variable(s) {', '.join(unknown)}; valid: {', '.join(available)}")
    constants = {}
    if any(shapes.get(k) == () for k in names):
        dummy = {name: jnp.full((1,) if k == 1 else (1, k), 0.5, jnp.float32) for name, k in _columns(model)}
        out = model.outputs(model.inputs_from_uniforms(dummy))
        constants = {k: float(out[k]) for k in names if shapes.get(k) == ()}
    return [k for k in names if k not in constants], constants


def _to_host(x) -> np.ndarray:
    """A (possibly multi-host) sharded array as one NumPy array on this process."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


class _Streamer:
    """Counts the draws of one sampler into host histograms (one set per replicate), dispatch by dispatch."""

    def __init__(self, disp: _Dispatcher, names: list[str], specs: dict, replicates: int = 1):
        self.disp, self.names, self.specs, self.replicates = disp, names, specs, replicates
        kinds = tuple(specs[k].kind for k in names)
        self.width = max(specs[k].bins for k in names) + 4
        key = ("summary", *disp.key, tuple(names), kinds, self.width, replicates)
        self.fn = _cached(key, lambda: _summary_kernel(disp.model, disp.mesh, disp.nblk, tuple(names), kinds, self.width, replicates))
        self.params = (
            jnp.asarray([specs[k].base for k in names], jnp.int32),
            jnp.asarray([specs[k].lo for k in names], jnp.float32),
            jnp.asarray([1.0 / specs[k].width if specs[k].width else 0.0 for k in names], jnp.float32),
            jnp.asarray([specs[k].bins for k in names], jnp.int32),
        )
        self.sharding = jax.sharding.NamedSharding(disp.mesh, _P("draw"))
        self.counts = np.zeros((replicates * len(names), self.width), np.int64)
        self.hist = None

    def _flush(self):
        if self.hist is not None:
            self.counts += _to_host(self.hist).astype(np.int64).sum(axis=0)
            self.hist = None

    def run(self, first_draw: int, last_draw: int, progress=None, offset: int = 0, total: int = 0):
        """Count draws ``first_draw <= i < last_draw`` (first_draw a multiple of the dispatch size)."""
        per_flush = max(1, _FLUSH_DRAWS // (self.disp.nblk * BLOCK))
        for i, start in enumerate(range(first_draw, last_draw, self.disp.step)):
            if self.hist is None:
                zeros = np.zeros((self.disp.mesh.size, self.replicates * len(self.names), self.width), np.int32)
                self.hist = jax.device_put(zeros, self.sharding)
            valid = np.int32(min(self.disp.step, last_draw - start))
            self.hist = self.fn(self.disp.drawn(start), np.uint32(start // BLOCK), valid, self.hist, *self.params)
            if (i + 1) % per_flush == 0:
                self._flush()
            if progress is not None and (i + 1) % 64 == 0:
                progress(offset + min(start + self.disp.step, last_draw) - first_draw, total)
        self._flush()

    def histograms(self, replicate: int | None = None) -> dict:
        """Histograms of all draws, or of one replicate's."""
        from .streaming import Histogram

        v_count = len(self.names)
        counts = self.counts.reshape(self.replicates, v_count, self.width)
        counts = counts.sum(axis=0) if replicate is None else counts[replicate]
        out = {}
        for v, name in enumerate(self.names):
            spec, row = self.specs[name], counts[v]
            out[name] = Histogram(spec, counts=row[: spec.bins + 2].copy(), nonfinite=int(row[self.width - 2]))
        return out


def _plan(disp: _Dispatcher, names: list[str]) -> dict:
    """Bins for each streamed variable from the pilot: the run's first PILOT_DRAWS draws."""
    from .streaming import PILOT_DRAWS, plan_bins

    fn = _cached(("draw", *disp.key, tuple(names)), lambda: _draw_kernel(disp.model, disp.mesh, disp.nblk, tuple(names)))
    pilot = [fn(disp.drawn(start)) for start in range(0, PILOT_DRAWS, disp.step)]
    return {k: plan_bins(np.concatenate([_to_host(p[k]) for p in pilot])[:PILOT_DRAWS]) for k in names}


def _var_attrs(model: Model, name: str) -> dict:
    if name in model.priors:
        p = model.priors[name]
        return {"units": p.units, "long_name": p.long_name, "role": "input", "source": p.source}
    meta = OUTPUTS[name]
    return {"units": meta.units, "long_name": meta.long_name, "role": "output"}


def stream_summary(
    model: Model,
    *,
    num_draws: int,
    seed=0,
    method: str = "mc",
    variables: list[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    devices=None,
    progress: Callable | None = None,
):
    """Summaries of `num_draws` draws computed on the fly: a `carbon_mc.streaming.StreamSummary`.

    Memory does not grow with `num_draws`: each streamed variable costs one histogram. The draws
    are those of `draw` with the same seed and method, and the result does not depend on
    `chunk_size` or on the devices (integer counts, merged exactly).
    """
    from .streaming import StreamSummary

    if num_draws < 1:
        raise ValueError("num_draws must be >= 1")
    names, constants = _summary_variables(model, variables)
    smp = sampler(model, seed, method, last_index=max(num_draws - 1, 1 << 16))
    mesh = mesh_of(devices)
    hists = {}
    if names:
        disp = _Dispatcher(model, smp, mesh, _dispatch_blocks(mesh, chunk_size))
        streamer = _Streamer(disp, names, _plan(disp, names))
        streamer.run(0, num_draws, progress, 0, num_draws)
        hists = streamer.histograms()
    attrs = provenance(model, seed=seed, num_draws=num_draws, method=METHOD_NAMES[method])
    attrs["random_streams"] = smp.description
    attrs["devices"] = f"{mesh.size} x {mesh.devices.flat[0].platform}"
    return StreamSummary(hists, constants, {k: _var_attrs(model, k) for k in [*names, *constants]}, attrs)


def _target_quantile(stat: str) -> float:
    from .summary import _QUANTILES

    if stat not in _QUANTILES:
        raise CarbonMCError(f"unknown interval endpoint {stat!r}; valid: {', '.join(_QUANTILES)}")
    return _QUANTILES[stat]


def stream_to_precision(
    model: Model,
    *,
    rel_error: float,
    max_draws: int = 100_000_000,
    seed=0,
    method: str = "mc",
    variables: list[str] | None = None,
    targets: tuple[str, ...] = ("p5", "p95"),
    replicates: int = 16,
    first_draws: int = BLOCK,
    devices=None,
    progress: Callable | None = None,
):
    """Draw until the relative standard error of the `targets` of every variable is at most `rel_error`.

    Block ``b`` of the run counts in replicate ``b mod replicates``. For Monte Carlo these are just
    the plain run's draws grouped (so the pooled result equals `stream_summary` of as many draws);
    for quasi-Monte Carlo each replicate is an independently scrambled Sobol' sequence (the standard
    randomized-QMC error estimate, Owen 1997). The run doubles from `first_draws` draws per
    replicate; after each doubling an endpoint's standard error is the spread of its replicate
    estimates over sqrt(replicates) (15 degrees of freedom with 16 replicates: the error estimate is
    itself good to about 20%), and the endpoint reported is read from all draws pooled. Stops at
    `max_draws` whatever the precision reached (attribute ``rel_error_achieved``). Returns a
    `carbon_mc.streaming.StreamSummary` whose ``num_draws`` attribute is the number of draws used.
    """
    from .streaming import StreamSummary

    if not 0 < rel_error < 1:
        raise CarbonMCError(f"rel_error must lie in (0, 1), got {rel_error}")
    if replicates < 2:
        raise ValueError("need at least 2 replicates")
    names, constants = _summary_variables(model, variables)
    if not names:
        raise CarbonMCError("none of the requested variables varies; nothing to estimate")
    quantiles = {t: _target_quantile(t) for t in targets}
    mesh = mesh_of(devices)
    smp = sampler(model, seed, method, last_index=max(max_draws, 1 << 16), replicates=replicates)
    disp = _Dispatcher(model, smp, mesh, _dispatch_blocks(mesh, DEFAULT_CHUNK))
    streamer = _Streamer(disp, names, _plan(disp, names), replicates)
    unit = replicates * BLOCK  # draws per round of blocks, one block per replicate
    total = unit * max(1, math.ceil(first_draws / BLOCK))
    cap = max(unit, unit * (max_draws // unit))
    done = 0
    while True:
        total = min(total, cap)
        streamer.run(done, total)
        done = total
        if progress is not None:
            progress(done, cap)
        pooled = streamer.histograms()
        per_rep = [streamer.histograms(r) for r in range(replicates)]
        se = {}
        for k in names:
            for t, q in quantiles.items():
                est = np.array([h[k].quantile(q) for h in per_rep])
                value = pooled[k].quantile(q)
                se[(k, t)] = float(est.std(ddof=1) / math.sqrt(replicates) / abs(value)) if value else math.inf
        worst = max(se.values())
        if worst <= rel_error or done >= cap:
            break
        total = 2 * done
    attrs = provenance(model, seed=seed, num_draws=done, method=METHOD_NAMES[method])
    attrs.update({
        "random_streams": f"{smp.description}; {replicates} replicates, block b in replicate b mod {replicates}",
        "devices": f"{mesh.size} x {mesh.devices.flat[0].platform}",
        "rel_error_target": float(rel_error),
        "rel_error_achieved": float(worst),
        "rel_error_endpoints": ",".join(targets),
        "replicates": int(replicates),
    })
    var_attrs = {k: _var_attrs(model, k) for k in [*names, *constants]}
    for (k, t), v in se.items():
        var_attrs[k][f"{t}_rel_se"] = v
    return StreamSummary(pooled, constants, var_attrs, attrs)


def estimate_summary(
    scenario: Scenario | str | Path,
    *,
    num_draws: int = 1_000_000,
    seed: int = 0,
    method: str = "mc",
    variables: list[str] | None = None,
    rel_error: float | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    progress: Callable | None = None,
    devices=None,
    posterior: dict[str, Prior] | None = None,
) -> xr.Dataset:
    """Summary Dataset over ``stat`` (as `carbon_mc.summarize`) computed on the fly, without keeping draws.

    Args:
      scenario: a `Scenario`, a path to a scenario TOML, or the name of a bundled one.
      num_draws: draws (the cap when `rel_error` is given). Memory does not grow with it.
      seed: integer seed. method: "mc" (Monte Carlo) or "qmc" (randomized quasi-Monte Carlo).
      variables: what to summarize (default: every output and every drawn scalar input; with
        `rel_error`, the headline outputs).
      rel_error: if given, stop once the 5% and 95% quantiles of every summarized variable have a
        relative standard error at most this (`stream_to_precision`); attrs record the draws used.
      chunk_size, priors, progress, posterior: as for `estimate`. devices: as for `draw`.

    Returns:
      Dataset shaped like ``summarize(estimate(...))``, with ``summary_method`` and each variable's
      histogram resolution in its attributes (`carbon_mc.streaming` gives the error bound).
    """
    model = build_model(scenario, priors=priors, posterior=posterior)
    if rel_error is not None:
        from .footprint import HEADLINE

        shapes = output_shapes(model)
        targets = [k for k in HEADLINE if shapes.get(k, ()) != ()]
        result = stream_to_precision(model, rel_error=rel_error, max_draws=num_draws, seed=seed, method=method,
                                     variables=variables or targets, devices=devices, progress=progress)
    else:
        result = stream_summary(model, num_draws=num_draws, seed=seed, method=method, variables=variables,
                                chunk_size=chunk_size, devices=devices, progress=progress)
    return result.to_dataset()
