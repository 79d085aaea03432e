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
    """`seed` if it is a whole number from 0 to 2^32 - 1 (or a JAX key or an array of uint32 key words, passed through).

    A list or tuple is refused: the Monte Carlo streams take no word lists, so a list seed worked for one
    method only.
    """
    if _whole(seed):
        if not 0 <= seed <= MAX_SEED:
            raise InputError(f"seed must be a whole number from 0 to {MAX_SEED} (2^32 - 1), got {seed}")
        return int(seed)
    if hasattr(seed, "dtype") and hasattr(seed, "shape"):
        import jax

        if jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key) and np.shape(seed) == ():
            return seed  # a typed JAX key: its own validation applies
        if jax.dtypes.issubdtype(seed.dtype, np.unsignedinteger) and np.shape(seed) == (2,):
            return seed  # a legacy JAX key (two uint32 words)
        if jax.dtypes.issubdtype(seed.dtype, np.integer) and np.shape(seed) == ():
            return check_seed(int(seed))
    raise InputError(f"seed must be a whole number from 0 to {MAX_SEED} (2^32 - 1), got {shown(seed)} ({type(seed).__name__})")


def check_chunk_size(chunk_size) -> int:
    """`chunk_size` as an int if it is a whole number >= 1."""
    if not _whole(chunk_size) or chunk_size < 1:
        raise InputError(f"chunk_size must be a whole number >= 1, got {shown(chunk_size)}")
    return int(chunk_size)


# --- argument types shared by the public functions -------------------------------------------------------------
# Each check takes the value and the argument's name, returns the value (or its plain Python form) when it is
# valid, and raises an `InputError` that names the argument otherwise: never a TypeError or AttributeError from
# Python, NumPy or JAX further down. Valid values pass through unchanged, so valid calls give the same numbers.


def refuse(name: str, wanted: str, value) -> InputError:
    return InputError(f"{name} must be {wanted}, got {shown(value)} ({type(value).__name__})")


def _real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_real(value, name: str, *, low: float | None = None, high: float | None = None, above: float | None = None,
               optional: bool = False, finite: bool = True):
    """`value` if it is a (finite) real number within [low, high] (and > `above`); None passes when `optional`."""
    if value is None and optional:
        return None
    if not _real(value) or (finite and not np.isfinite(value)) or np.isnan(value):
        raise refuse(name, ("a finite number" if finite else "a number") + (" or None" if optional else ""), value)
    if (low is not None and value < low) or (high is not None and value > high) or (above is not None and value <= above):
        bounds = [f">= {low:g}" if low is not None else "", f"> {above:g}" if above is not None else "",
                  f"<= {high:g}" if high is not None else ""]
        raise InputError(f"{name} must be {' and '.join(b for b in bounds if b)}, got {shown(value)}")
    return value


def check_whole(value, name: str, *, low: int = 1, optional: bool = False):
    """`value` if it is a whole number >= `low`; None passes when `optional`."""
    if value is None and optional:
        return None
    if not _whole(value) or value < low:
        raise refuse(name, f"a whole number >= {low}" + (" or None" if optional else ""), value)
    return value


def check_flag(value, name: str, *, optional: bool = False):
    """`value` if it is True or False (None too when `optional`)."""
    if value is None and optional:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise refuse(name, "True or False" + (" or None" if optional else ""), value)
    return value


def check_text(value, name: str, *, optional: bool = False):
    """`value` if it is a string (None too when `optional`)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise refuse(name, "a string" + (" or None" if optional else ""), value)
    return value


def check_choice(value, name: str, choices, *, optional: bool = False):
    """`value` if it is one of the strings `choices` (None too when `optional`)."""
    if value is None and optional:
        return None
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}, got {shown(value)}")
    return value


def check_callable(value, name: str = "progress"):
    """`value` if it is None or callable."""
    if value is not None and not callable(value):
        raise refuse(name, "a callable or None", value)
    return value


def check_names(value, name: str, *, optional: bool = True):
    """`value` if it is a list or tuple of strings (None too when `optional`); a single string is refused."""
    if value is None and optional:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise refuse(name, "a list of names (strings)" + (" or None" if optional else ""), value)
    return value


def check_path(value, name: str = "path", *, optional: bool = False):
    """`value` if it is a path: a string or an `os.PathLike` (None too when `optional`)."""
    import os

    if value is None and optional:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise refuse(name, "a path (a string or a pathlib.Path)" + (" or None" if optional else ""), value)
    return value


def check_scenario(value, name: str = "scenario", *, optional: bool = False):
    """`value` if it is a Scenario, a ServingScenario, a TOML path, a bundled name or a scenario as a dict
    (None too when `optional`)."""
    import os
    from collections.abc import Mapping

    from ..scenarios import Scenario, ServingScenario

    if value is None and optional:
        return None
    if not isinstance(value, (Scenario, ServingScenario, str, os.PathLike, Mapping)):
        raise refuse(name, "a Scenario, a ServingScenario, a TOML path, a bundled scenario name or a scenario dict"
                      + (" or None" if optional else ""), value)
    return value


def check_training_scenario(value, name: str = "scenario"):
    """`value` if it is a training `Scenario` object."""
    from ..scenarios import Scenario

    if not isinstance(value, Scenario):
        raise refuse(name, "a Scenario (carbon_mc.load_scenario)", value)
    return value


def check_any_scenario_object(value, name: str = "scenario"):
    """`value` if it is a `Scenario` or a `ServingScenario` object."""
    from ..scenarios import Scenario, ServingScenario

    if not isinstance(value, (Scenario, ServingScenario)):
        raise refuse(name, "a Scenario or a ServingScenario (carbon_mc.load_any_scenario)", value)
    return value


def check_priors(value, name: str = "priors"):
    """`value` if it is None or a `PriorTable` (from `carbon_mc.load_priors`)."""
    from ..priors import PriorTable

    if value is not None and not isinstance(value, PriorTable):
        raise refuse(name, "a PriorTable (carbon_mc.load_priors) or None", value)
    return value


def check_posterior(value, name: str = "posterior"):
    """`value` if it is None or a dict {input name: Prior} (from `carbon_mc.calibrated_priors`)."""
    from collections.abc import Mapping

    from ..priors import Prior

    if value is not None and not (isinstance(value, Mapping)
                                  and all(isinstance(k, str) and isinstance(v, Prior) for k, v in value.items())):
        raise refuse(name, "a dict {input name: Prior} (carbon_mc.calibrated_priors) or None", value)
    return value


def check_dataset(value, name: str = "ds"):
    """`value` if it is an xarray Dataset."""
    import xarray as xr

    if not isinstance(value, xr.Dataset):
        raise refuse(name, "an xarray Dataset", value)
    return value


def check_devices(value, name: str = "jax_devices"):
    """`value` if it is None or a non-empty sequence of JAX devices."""
    if value is None:
        return None
    import jax

    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(d, jax.Device) for d in value):
        raise refuse(name, "a list of JAX devices (jax.devices()) or None", value)
    return value


def check_values(value, name: str = "values", *, ndim: int | None = 1) -> np.ndarray:
    """`value` as a float64 NumPy array if it is a non-empty array (or sequence) of real numbers of `ndim` dimensions."""
    if isinstance(value, (str, bytes)) or value is None or isinstance(value, dict):
        raise refuse(name, "an array of numbers", value)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise refuse(name, "an array of numbers", value) from exc
    if array.dtype.kind not in "iuf" or array.size == 0 or (ndim is not None and array.ndim != ndim):
        raise refuse(name, "a non-empty " + (f"{ndim}-dimensional " if ndim else "") + "array of numbers", value)
    return array


def check_accounting(grid_basis, pue_included) -> tuple:
    """`grid_basis` None or a grid basis ("location", "market"); `pue_included` None, True or False."""
    from ..scenarios.common import GRID_BASES

    check_choice(grid_basis, "grid_basis", GRID_BASES, optional=True)
    check_flag(pue_included, "pue_included", optional=True)
    return grid_basis, pue_included


def check_draw_args(*, num_draws=1, seed=0, chunk_size=1, priors=None, nonfinite: str = "refuse") -> int:
    """The arguments most drawing functions share: draw count, seed, chunk size, priors, non-finite policy."""
    from ..results.finite import check_policy

    check_seed(seed), check_chunk_size(chunk_size), check_priors(priors), check_policy(nonfinite)
    return check_num_draws(num_draws)


def check_numbers(value, name: str, *, whole: bool = False, scalar: bool = False, optional: bool = True):
    """`value` if it is a non-empty list, tuple or 1-D array of finite numbers > 0 (whole numbers when `whole`);
    with `scalar`, one such number too; None passes when `optional`."""
    if value is None and optional:
        return None
    ok = _whole if whole else _real
    what = "whole numbers >= 1" if whole else "finite numbers > 0"
    if scalar and ok(value):
        if not np.isfinite(value) or value <= 0:
            raise InputError(f"{name} must be {what[:-1] if whole else 'a finite number > 0'}, got {shown(value)}")
        return value
    if isinstance(value, np.ndarray):
        items = list(value.ravel()) if value.ndim == 1 else None
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = None
    if not items or not all(ok(v) and np.isfinite(v) and v > 0 for v in items):
        one = "a number, or " if scalar else ""
        raise refuse(name, f"{one}a non-empty list of {what}" + (" or None" if optional else ""), value)
    return value
