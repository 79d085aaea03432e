"""Checks of the arguments every sampling function takes: how many draws, which seed, what chunk size.

The command line and the Python API share them, so a mistake gets the same `InputError` either way.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, shown

MAX_DRAWS = 10**12  # far beyond a day's work on one accelerator; larger counts are typos
MAX_SEED = 2**32 - 1  # Threefry and Sobol' scrambling seeds are 32-bit words: larger ones would collide


def _whole(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_num_draws(num_draws, name: str = "num_draws") -> int:
    """`num_draws` as an int if it is a whole number from 1 to `MAX_DRAWS`."""
    if not _whole(num_draws):
        raise InputError(f"{name} must be a whole number >= 1, got {shown(num_draws)} ({type(num_draws).__name__})")
    if not 1 <= num_draws <= MAX_DRAWS:
        raise InputError(f"{name} must lie between 1 and {MAX_DRAWS:.0e}, got {num_draws:,}")
    return int(num_draws)


def check_seed(seed):
    """`seed` if it is a whole number from 0 to 2^32 - 1 (or a JAX key or uint32 key words, passed through)."""
    if _whole(seed):
        if not 0 <= seed <= MAX_SEED:
            raise InputError(f"seed must be a whole number from 0 to {MAX_SEED} (2^32 - 1), got {seed}")
        return int(seed)
    if isinstance(seed, (list, tuple)) and seed and all(_whole(w) and 0 <= w <= MAX_SEED for w in seed):
        return seed
    if hasattr(seed, "dtype") and hasattr(seed, "shape"):
        import jax

        if jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key) or jax.dtypes.issubdtype(seed.dtype, np.unsignedinteger):
            return seed  # a JAX key (typed, or legacy uint32 words): its own validation applies
        if jax.dtypes.issubdtype(seed.dtype, np.integer) and np.shape(seed) == ():
            return check_seed(int(seed))
    raise InputError(f"seed must be a whole number from 0 to {MAX_SEED} (2^32 - 1), got {shown(seed)} ({type(seed).__name__})")


def check_chunk_size(chunk_size) -> int:
    """`chunk_size` as an int if it is a whole number >= 1."""
    if not _whole(chunk_size) or chunk_size < 1:
        raise InputError(f"chunk_size must be a whole number >= 1, got {shown(chunk_size)}")
    return int(chunk_size)
