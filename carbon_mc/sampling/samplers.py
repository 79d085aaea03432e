"""Where a run's uniforms come from: Monte Carlo streams or scrambled Sobol' points, block by block.

Monte Carlo (``"mc"``) draws each input from its own Threefry stream (`carbon_mc.sampling.streams`).
Quasi-Monte Carlo (``"qmc"``) replaces the uniforms by one scrambled Sobol' sequence over all drawn
columns (`carbon_mc.sampling.qmc`). Either way block ``b`` of a run (draws ``b*BLOCK ...``) is
computed from its index alone, wherever it lands.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import CarbonMCError, shown
from ..options import COMMON_RANDOM_NUMBERS_METHOD, DEFAULT_METHOD, METHOD_NAMES, METHODS  # noqa: F401  (re-exported)
from .qmc import replicate_tables, sobol_words
from .simulator import Simulator
from .streams import BLOCK, bits_to_uniform, key_of, stream_key, threefry_uniforms

# METHODS, DEFAULT_METHOD (randomized QMC, for the command line and the API alike) and
# COMMON_RANDOM_NUMBERS_METHOD (plain MC, one stream per input) are defined in carbon_mc.options.


@dataclass(frozen=True)
class Sampler:
    """Where a run's uniforms come from: `method`, the device constants, and a description.

    ``uniforms(consts, first_block, num_blocks)`` returns (columns, num_blocks*BLOCK) float32.
    """

    method: str
    consts: tuple
    uniforms: Callable
    description: str


def seed_words(seed) -> list[int]:
    if isinstance(seed, (int, np.integer)):
        return [int(seed)]
    if isinstance(seed, (list, tuple)):
        return [int(w) for w in seed]
    return [int(w) for w in np.asarray(jax.random.key_data(key_of(seed))).ravel()]


def _mc_uniforms(consts, first_block, num_blocks):
    return threefry_uniforms(consts[0], first_block, num_blocks)


def _qmc_uniforms(consts, first_block, num_blocks):
    """Blocks of scrambled Sobol' points; block ``b`` belongs to replicate ``b mod R`` (its ``b div R``-th block)."""
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


def sampler(model: Simulator, seed=0, method: str = "mc", *, last_index: int | None = None, replicates: int = 1) -> Sampler:
    """The uniforms of `model` under `seed` by `method` ("mc": Threefry streams; "qmc": scrambled Sobol').

    With `replicates` > 1, block ``b`` of the run belongs to replicate ``b mod replicates``: for
    Monte Carlo the draws are those of the plain run, only grouped; for quasi-Monte Carlo each
    replicate is its own independently scrambled sequence, laid out block by block.
    """
    if method == "mc":
        keys = np.concatenate([np.zeros((0, 2), np.uint32)] + [stream_key(seed, model.stream(n), k) for n, k in model.columns])
        return Sampler("mc", (keys,), _mc_uniforms,
                       f"threefry2x32-20 counter streams; per input fold_in(key, crc32(name)); two draws per counter; blocks of {BLOCK}"
                       + (f"; streams renamed {json.dumps(model.streams, sort_keys=True)}" if model.streams else ""))
    if method == "qmc":
        width = sum(k for _, k in model.columns)
        if last_index is not None and last_index // replicates >= (1 << 32):
            raise CarbonMCError(f"quasi-Monte Carlo supports at most 2^32 draws per replicate, asked for {last_index + 1:,}")
        direction, shift = replicate_tables(width, seed_words(seed), replicates)
        return Sampler("qmc", (direction, shift), _qmc_uniforms,
                       f"scrambled Sobol' (Joe-Kuo directions, linear matrix scramble + digital shift, scipy) over {width} columns "
                       "in model order"
                       + (f"; {replicates} independent scramblings, block b in replicate b mod {replicates}" if replicates > 1 else ""))
    raise CarbonMCError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")


def check_method(method: str) -> str:
    """`method` if it names a sampler, else a `CarbonMCError` listing the valid ones."""
    if not isinstance(method, str) or method not in METHODS:
        raise CarbonMCError(f"unknown method {shown(method)}; valid: {', '.join(METHODS)}")
    return method


def uniform_columns(model: Simulator, *, num_draws: int, seed=0, method: str = DEFAULT_METHOD) -> np.ndarray:
    """The first `num_draws` uniforms of a run, (columns, num_draws) float32 laid out as ``model.columns``.

    The same numbers the dispatched samplers give for that seed and method, computed in one
    unsharded call: for callers that evaluate a handful of draws op by op (`evaluate`).
    """
    smp = sampler(model, seed, check_method(method), last_index=max(num_draws - 1, 0))
    num_blocks = -(-num_draws // BLOCK)
    return np.asarray(smp.uniforms(tuple(jnp.asarray(c) for c in smp.consts), np.uint32(0), num_blocks))[:, :num_draws]
