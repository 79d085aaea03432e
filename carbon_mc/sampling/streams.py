"""Random streams: counter-based Threefry-2x32 uniforms, one stream per input.

Draw ``i`` of input ``q`` depends only on the seed, the name of ``q``'s stream (its own name unless
`carbon_mc.sampling.Simulator.streams` renames it) and ``i``; never on the chunk size, the device
count, or which other inputs the model has (so two scenarios that share an input share its draws:
common random numbers). The generator is counter-based Threefry-2x32 with 20 rounds (Salmon,
Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3", SC'11; the same function
as ``jax.random``'s default, bit for bit), written here in jnp so that XLA vectorises it
(``jax.random.uniform`` draws 2 to 4 times slower on a CPU; BENCHMARKS.md):

- the key of input ``q`` is ``key_data(fold_in(key(seed), stream_id(q)))`` (`stream_key`, `stream_id`
  a 31-bit CRC-32 of the name); a joint prior with ``k`` columns gives column ``c`` the key
  ``key_data(fold_in(fold_in(key(seed), stream_id(q)), c))``;
- draws ``2p`` and ``2p+1`` are the two output words of ``threefry2x32(key_q, (p >> 32, p mod 2^32))``;
- a 32-bit word ``w`` becomes the uniform ``((w >> 9) + 1/2) * 2^-23``, in ``[2^-24, 1 - 2^-24]``.
"""

from __future__ import annotations

import functools
import zlib

import jax
import jax.numpy as jnp
import numpy as np

BLOCK = 4096  # draws per block: the unit in which runs are cut, dispatched and sharded


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


def key_of(rng_key) -> jax.Array:
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
    stream = jax.random.fold_in(key_of(rng_key), stream_id(name))
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
