"""Randomized quasi-Monte Carlo: one scrambled Sobol' sequence over all drawn input columns.

Point ``k`` of a Sobol' sequence has the closed form (Antonov & Saleev 1979)

    x_k = shift XOR  XOR_{j : bit j of gray(k) set} v_j,      gray(k) = k XOR (k >> 1),

with ``v_j`` the direction numbers of each dimension (Joe & Kuo 2008, as shipped by SciPy) and, once
scrambled, ``v_j`` replaced by their linear matrix scramble and ``shift`` a random digital shift
(Matoušek 1998; Owen 2003; SciPy's ``scipy.stats.qmc.Sobol(scramble=True)``). The scrambled
direction numbers are made on the host by SciPy from the seed; the points are then computed on the
device from their index alone. So, as for plain Monte Carlo, point ``k`` depends only on the seed,
the list of drawn columns and ``k``: never on how the run is cut into chunks or sharded over
devices, and a run of ``n`` points is the prefix of a longer one. `sobol_uniforms` equals SciPy's
``Sobol(d, scramble=True, bits=32, seed=...).random(n)`` bit for bit (tested), up to the final map
of each 32-bit word to the engine's 23-bit midpoint uniforms (`carbon_mc.sampling.streams.bits_to_uniform`).

How the engine lays the points out: a run is cut into blocks of `carbon_mc.sampling.BLOCK` points;
block ``b`` holds points ``b*BLOCK ... (b+1)*BLOCK - 1``, computed wherever the block lands (any
chunk, any device). With ``R`` replicates (`replicate_tables`, used to estimate the error of
randomized QMC from independent scramblings, Owen 1997) block ``b`` belongs to replicate
``b mod R`` and holds that replicate's block ``b div R``; each replicate is then a prefix of its own
scrambled sequence, and ``R * 2^m`` draws give every replicate a full ``2^m``-point net.

What differs from Monte Carlo: dimension ``d`` belongs to the ``d``-th drawn column (the model's
drawn inputs in order, joint priors taking one column per component), so adding or removing an
input re-assigns the dimensions after it, and scenarios share no common random numbers. Equal
weights need ``n`` a power of two for the net property; other counts are valid but lose some of
the gain. The uniforms keep the top 23 bits of each 32-bit coordinate, so the net property holds
up to 2^23 points per replicate; larger runs remain valid randomized points with less structure.
At most 2^32 points per replicate.

References: Sobol' 1967; Joe & Kuo 2008, "Constructing Sobol sequences with better two-dimensional
projections", SIAM J. Sci. Comput. 30; Owen 1997, "Scrambled net variance for integrals of smooth
functions", Ann. Statist. 25; Matoušek 1998, "On the L2-discrepancy for anchored boxes", J.
Complexity 14 (linear matrix scrambling).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from .streams import bits_to_uniform

MAX_POINTS = 1 << 32


def _direction_numbers_file() -> Path:
    """SciPy's table of Joe & Kuo (2008) primitive polynomials and initial direction numbers.

    Found from SciPy's install location without importing ``scipy.stats`` (over a second on a 2-core
    CPU, longer than a default run's draws).
    """
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("scipy is required for quasi-Monte Carlo (Joe & Kuo direction numbers)")
    return Path(next(iter(spec.submodule_search_locations))) / "stats" / "_sobol_direction_numbers.npz"


@functools.lru_cache(maxsize=8)
def direction_numbers(num_dims: int, bits: int = 32) -> np.ndarray:
    """Unscrambled Sobol' direction numbers v (d, bits) uint32, as SciPy's ``_initialize_v``.

    Bratley & Fox 1988 (ACM TOMS 14:88, Algorithm 659), recurrence of Section 2 on Joe & Kuo's
    primitive polynomials; column j is scaled by 2^(bits-1-j).
    """
    with np.load(_direction_numbers_file()) as table:
        poly, vinit = table["poly"], table["vinit"]
    v = np.zeros((num_dims, bits), dtype=np.uint64)
    if num_dims == 0:
        return v.astype(np.uint32)
    v[0, :] = 1
    for d in range(1, num_dims):
        p = int(poly[d])
        m = p.bit_length() - 1
        row = [int(x) for x in vinit[d, :m]]
        for j in range(m, bits):
            new = row[j - m]
            for k in range(m):
                if (p >> (m - 1 - k)) & 1:
                    new ^= row[j - k - 1] << (k + 1)
            row.append(new)
        v[d, :] = row[:bits]
    v *= np.uint64(1) << (np.uint64(bits - 1) - np.arange(bits, dtype=np.uint64))
    return v.astype(np.uint32)


def _parity(x: np.ndarray) -> np.ndarray:
    """Parity of the set bits of each uint64."""
    x = x.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        x ^= x >> np.uint64(shift)
    return x & np.uint64(1)


def scrambled_direction_numbers(num_dims: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """Scrambled Sobol' tables for `num_dims` dimensions and `seed`: (v (d, 32), shift (d,)), uint32.

    Equal, bit for bit, to SciPy's ``qmc.Sobol(num_dims, scramble=True, bits=32, seed=rng)`` with
    ``rng = numpy.random.default_rng(numpy.random.SeedSequence(seed))`` (tested): a random digital
    shift, then a linear matrix scramble (Matoušek 1998): each direction number's bits are
    multiplied, mod 2, by a random lower-triangular matrix with unit diagonal. `seed` is an int or a
    sequence of ints; the same seed gives the same scrambling.
    """
    bits = 32
    # SciPy's engine draws from a child of the generator it is given (``SeedSequence.spawn``).
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed).spawn(1)[0]))
    shift = rng.integers(2, size=(num_dims, bits), dtype=np.uint32) @ (np.uint32(2) ** np.arange(bits, dtype=np.uint32))
    ltm = np.tril(rng.integers(2, size=(num_dims, bits, bits), dtype=np.uint32)).astype(np.uint64)
    ltm[:, np.arange(bits), np.arange(bits)] = 1
    weights = np.uint64(1) << np.arange(bits, dtype=np.uint64)
    masks = (ltm[:, :, ::-1] * weights).sum(axis=-1, dtype=np.uint64)  # (d, p): row p of the matrix as a word
    v = direction_numbers(num_dims, bits).astype(np.uint64)
    parity = _parity(masks[:, None, :] & v[:, :, None])  # (d, j, p)
    out = (parity << (np.uint64(bits - 1) - np.arange(bits, dtype=np.uint64))).sum(axis=-1, dtype=np.uint64)
    return out.astype(np.uint32), shift.astype(np.uint32)


def sobol_words(direction, shift, index, num_bits: int = 32):
    """32-bit scrambled Sobol' words of the points `index`.

    Args:
      direction: (..., d, 32) uint32 scrambled direction numbers (`scrambled_direction_numbers`).
      shift: (..., d) uint32 digital shift.
      index: (..., n) point indices (uint32); leading axes broadcast against those of the tables,
        so that blocks of points can each use their own scrambling (replicates).
      num_bits: bits of the largest index (a static bound that keeps the loop short).

    Returns:
      (..., d, n) uint32.
    """
    direction = jnp.asarray(direction, jnp.uint32)
    shift = jnp.asarray(shift, jnp.uint32)
    k = jnp.asarray(index, jnp.uint32)[..., None, :]
    gray = k ^ (k >> np.uint32(1))
    x = jnp.broadcast_to(shift[..., None], jnp.broadcast_shapes(shift[..., None].shape, gray.shape))
    for j in range(num_bits):
        bit = ((gray >> np.uint32(j)) & np.uint32(1)).astype(bool)
        x = x ^ jnp.where(bit, direction[..., j : j + 1], np.uint32(0))
    return x


def sobol_uniforms(direction, shift, index, num_bits: int = 32):
    """Scrambled Sobol' points `index` as the samplers' float32 uniforms in [2^-24, 1 - 2^-24]: (..., d, n)."""
    return bits_to_uniform(sobol_words(direction, shift, index, num_bits))


def replicate_tables(num_dims: int, seed, replicates: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent scramblings for `replicates` replicates: (r, d, 32) and (r, d) uint32.

    One replicate uses `seed` itself; replicate ``r`` of several uses ``[*seed, r]``.
    """
    seed = list(seed) if isinstance(seed, (list, tuple)) else [int(seed)]
    if num_dims == 0:  # nothing is drawn
        return np.zeros((replicates, 0, 32), np.uint32), np.zeros((replicates, 0), np.uint32)
    if replicates == 1:
        v, s = scrambled_direction_numbers(num_dims, seed)
        return v[None], s[None]
    tables = [scrambled_direction_numbers(num_dims, [*seed, r]) for r in range(replicates)]
    return np.stack([t[0] for t in tables]), np.stack([t[1] for t in tables])
