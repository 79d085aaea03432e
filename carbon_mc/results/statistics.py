"""Summaries of draws: means, equal-tailed intervals, highest-density intervals (ArviZ's), percentiles.

Statistics are computed on the host in float64 with NumPy (partition-based quantiles; one sort for
the HDI), since ``jnp.quantile`` sorts on every call and takes seconds on 10^7 values on a CPU.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # xarray is imported where a Dataset is built: a run that only prints does without it
    import xarray as xr

from ..errors import InputError, shown

STATS = ("mean", "sd", "median", "p5", "p95", "p2_5", "p97_5", "hdi90_lower", "hdi90_upper")
QUANTILES = {"median": 0.5, "p5": 0.05, "p95": 0.95, "p2_5": 0.025, "p97_5": 0.975}


def _number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _draws(values) -> np.ndarray:
    """`values` as a flat array of numbers; an `InputError` naming ``values`` otherwise (the checks of
    `carbon_mc.sampling.args`, written here so that statistics load without JAX)."""
    if values is None or isinstance(values, (str, bytes, dict)):
        raise InputError(f"values must be an array of numbers, got {shown(values)} ({type(values).__name__})")
    try:
        x = np.asarray(values).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"values must be an array of numbers, got {shown(values)} ({type(values).__name__})") from exc
    if x.dtype.kind not in "iuf":
        raise InputError(f"values must be an array of numbers, got {shown(values)} ({x.dtype} values)")
    return x


def hdi(values: np.ndarray, prob: float = 0.9, *, sorted_values: bool = False) -> tuple[float, float]:
    """Narrowest interval holding `prob` of the draws: ArviZ's HDI on the flattened draws.

    ArviZ 0.x (``arviz.hdi``) and 1.x (``arviz_stats``) both take the narrowest of the windows
    spanning ``floor(prob * n)`` sorted draws (Hyndman 1996); on 10^6 draws it matches the former
    hand-written version exactly and is faster (BENCHMARKS.md). `sorted_values` is kept for
    callers that pass sorted draws; ArviZ sorts either way. With fewer than two draws, or a `prob`
    too small or too large to span a window, the interval is the range of the draws.

    Raises:
      InputError: no draws.
    """
    x = _draws(values)
    if not _number(prob) or not 0 <= prob <= 1:
        raise InputError(f"prob must be a number from 0 to 1, got {shown(prob)}")
    if not isinstance(sorted_values, (bool, np.bool_)):
        raise InputError(f"sorted_values must be True or False, got {shown(sorted_values)}")
    if x.size == 0:
        raise InputError("hdi needs at least one draw")
    if sorted_values:
        return hdi_of_sorted(x, prob)
    n = x.size
    k = int(np.floor(prob * n))
    if k < 1 or k >= n:
        return float(np.min(x)), float(np.max(x))
    lo, hi = arviz_hdi(x, prob)
    return float(lo), float(hi)


def hdi_of_sorted(x: np.ndarray, prob: float = 0.9) -> tuple[float, float]:
    """ArviZ's HDI of draws already sorted: the narrowest window of ``floor(prob * n)`` of them (Hyndman 1996).

    The same windows ArviZ compares, found in one pass over the sorted draws. `describe` uses it: it
    has sorted the draws for the quantiles already, and importing ArviZ would add about a second to
    a default run (BENCHMARKS.md). tests/test_summary.py checks it against ``arviz.hdi``.
    """
    n = x.size
    if n == 0:
        raise InputError("hdi needs at least one draw")
    k = int(np.floor(prob * n))
    if k < 1 or k >= n:
        return float(x[0]), float(x[-1])
    i = int(np.argmin(x[k:] - x[: n - k]))
    return float(x[i]), float(x[i + k])


def arviz_hdi(x: np.ndarray, prob: float) -> np.ndarray:
    """(lower, upper) from the installed ArviZ: ``arviz.hdi`` (0.x) or ``arviz_stats`` (1.x)."""
    import arviz

    if int(arviz.__version__.split(".")[0]) >= 1:
        from arviz_stats.base import array_stats

        return np.asarray(array_stats.hdi(x, prob, axis=-1))
    return np.asarray(arviz.hdi(x, hdi_prob=prob))


def describe(values: np.ndarray) -> dict[str, float]:
    """The `STATS` of one array of draws.

    The draws are sorted in their own dtype and then widened to float64 (the same sorted values as
    sorting a float64 copy, since widening keeps order: a float32 sort of 10^6 draws takes about
    half the time), so every statistic is computed in float64.
    """
    x = np.asarray(values).ravel()
    x = x[np.isfinite(x)]  # non-finite draws (e.g. an unreachable target loss) are counted by `summarize`
    x = np.sort(x).astype(np.float64, copy=False)
    if x.size == 0:
        return {name: float("nan") for name in STATS}
    out = {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0}
    qs = np.quantile(x, list(QUANTILES.values()))
    out.update({name: float(q) for name, q in zip(QUANTILES, qs)})
    out["hdi90_lower"], out["hdi90_upper"] = hdi(x, 0.9, sorted_values=True)
    return out


def describe_all(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """`describe` of several arrays of draws, on all CPU cores (NumPy's sort releases the GIL); same numbers."""
    workers = min(len(arrays), os.cpu_count() or 1)
    if workers <= 1:
        return {name: describe(v) for name, v in arrays.items()}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(arrays, pool.map(describe, arrays.values())))


def summarize(ds: xr.Dataset, variables: list[str] | None = None) -> xr.Dataset:
    """Summary Dataset: each drawn variable of `ds` over a ``stat`` dimension (see `STATS`).

    Keeps each variable's ``units`` and ``long_name`` and the source Dataset's attributes. Draws that
    are not finite are left out of every statistic and counted (``nonfinite_draws``); `estimate`
    refuses them unless asked to drop them.

    Raises:
      InputError: `ds` is not a Dataset, or names a variable it does not hold.
    """
    import xarray as xr

    if not isinstance(ds, xr.Dataset):
        raise InputError(f"summarize needs an xarray Dataset as ds (from carbon_mc.estimate), got {type(ds).__name__}")
    if variables is not None and (not isinstance(variables, (list, tuple)) or not all(isinstance(v, str) for v in variables)):
        raise InputError(f"variables must be a list of names (strings) or None, got {shown(variables)}")
    missing = [v for v in (variables or []) if v not in ds]
    if missing:
        raise InputError(f"no variable {', '.join(map(repr, missing))} in the dataset; valid: {', '.join(map(str, ds.data_vars))}")
    names = variables or [str(n) for n, v in ds.data_vars.items() if "draw" in v.dims]
    data_vars = {}
    described = describe_all({name: ds[name].values for name in names})
    for name in names:
        stats = described[name]
        attrs = {k: v for k, v in ds[name].attrs.items() if k in ("units", "long_name", "role", "source")}
        nonfinite = int(np.count_nonzero(~np.isfinite(ds[name].values)))
        if nonfinite:
            attrs["nonfinite_draws"] = nonfinite  # left out of every statistic
        data_vars[name] = xr.Variable(("stat",), np.array([stats[s] for s in STATS]), attrs)
    attrs = dict(ds.attrs)
    attrs["interval_kinds"] = "p5-p95 and p2_5-p97_5: equal-tailed 90% and 95%; hdi90: highest-density 90%"
    return xr.Dataset(data_vars, coords={"stat": list(STATS)}, attrs=attrs)


def percentile_of(values: np.ndarray, value: float) -> float:
    """Percentile (0-100) of `value` in the draws: the share of draws at or below it (mid-rank for ties).

    Raises:
      InputError: no draws.
    """
    x = _draws(values)
    if not _number(value) or np.isnan(value):
        raise InputError(f"value must be a number, got {shown(value)} ({type(value).__name__})")
    if x.size == 0:
        raise InputError("percentile_of needs at least one draw")
    below = np.count_nonzero(x < value)
    equal = np.count_nonzero(x == value)
    return 100.0 * (below + 0.5 * equal) / x.size


def reported_percentiles(ds: xr.Dataset, reported: dict[str, float]) -> dict[str, dict[str, float]]:
    """For each published figure ``{variable: value}``, its value and percentile in the draws."""
    return {name: {"value": float(v), "percentile": percentile_of(ds[name].values, v)} for name, v in reported.items()}
