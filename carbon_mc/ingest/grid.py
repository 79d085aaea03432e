"""Hourly grid carbon intensity (Electricity Maps or WattTime exports) -> a grid prior for one run.

With the run's start and end, the prior's median is the time-weighted mean intensity over the run's
hours, and its spread comes from the hour-to-hour variation over those hours: sigma (of ln) is the
standard deviation of ln(intensity) over the run's hours divided by sqrt(days of the run), the
standard error of a mean whose days vary independently (hours within a day do not). Without dates,
the median is the geometric mean of the annual means and sigma the standard deviation of their ln
(year-to-year variation), over the calendar years the file covers to at least 80%.

Units: gCO2e/kWh. Electricity Maps gives gCO2eq/kWh ("LCA" = lifecycle, default; or "direct");
WattTime's MOER is in lbs/MWh (x 0.45359237 -> g/kWh) and is a *marginal* rate, not the average
intensity the bundled priors hold: the prior's description says so.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ..errors import CarbonMCError
from .tables import read_rows

LB_PER_MWH_TO_G_PER_KWH = 0.45359237  # 453.59237 g per lb / 1000 kWh per MWh
EM_TIME = "Datetime (UTC)"
EM_COLUMNS = {"lca": "Carbon Intensity gCO₂eq/kWh (LCA)", "direct": "Carbon Intensity gCO₂eq/kWh (direct)"}
EM_ALIASES = {"lca": ("Carbon Intensity gCO2eq/kWh (LCA)", "carbon_intensity_lca"),
              "direct": ("Carbon Intensity gCO2eq/kWh (direct)", "carbon_intensity_direct")}
YEAR_COVERAGE = 0.8


@dataclass(frozen=True)
class GridSeries:
    """Intensity samples: each value holds from its time until the next sample's."""

    times: tuple[datetime, ...]
    g_per_kwh: np.ndarray
    file: str
    kind: str  # "Electricity Maps (LCA)", "WattTime MOER (marginal)", ...
    zone: str | None
    marginal: bool = False


def read_grid_csv(path: str | Path, *, basis: str = "lca") -> GridSeries:
    """Read an Electricity Maps hourly export or a WattTime MOER export (detected by its columns)."""
    rows, _ = read_rows(path, aliases={EM_COLUMNS["lca"]: EM_ALIASES["lca"], EM_COLUMNS["direct"]: EM_ALIASES["direct"]})
    columns = set(rows[0])
    if EM_TIME in columns:
        column = EM_COLUMNS[basis]
        if column not in columns:
            raise rows[0].error(None, f"no column {column!r} (basis {basis!r}); the file has {', '.join(sorted(columns))}")
        times = [r.time(EM_TIME) for r in rows]
        values = [r.number(column) for r in rows]
        zone = rows[0].get("Zone Id") or rows[0].get("Zone Name") or rows[0].get("Country")
        series = GridSeries(tuple(times), np.array(values), rows[0].file, f"Electricity Maps ({basis})", zone)
    elif {"point_time", "value"} <= columns:
        times = [r.time("point_time") for r in rows]
        values = [r.number("value") * LB_PER_MWH_TO_G_PER_KWH for r in rows]
        zone = rows[0].get("region") or rows[0].get("ba")
        series = GridSeries(tuple(times), np.array(values), rows[0].file, "WattTime MOER (marginal, lbs/MWh)", zone, True)
    else:
        raise rows[0].error(None, f"neither an Electricity Maps export (needs {EM_TIME!r} and {EM_COLUMNS['lca']!r}) nor a "
                                  "WattTime export (needs 'point_time' and 'value')")
    return _sorted(series)


def _sorted(series: GridSeries) -> GridSeries:
    order = sorted(range(len(series.times)), key=lambda i: series.times[i])
    times = tuple(series.times[i] for i in order)
    if any(b == a for a, b in itertools.pairwise(times)):
        raise CarbonMCError("the same time appears twice; one zone per file", file=series.file)
    values = series.g_per_kwh[order]
    if np.any(values <= 0):
        raise CarbonMCError("intensity must be > 0 for a log-normal prior (a zero hour is a gap, not a measurement)", file=series.file)
    return GridSeries(times, values, series.file, series.kind, series.zone, series.marginal)


def _durations_h(times: tuple[datetime, ...]) -> np.ndarray:
    """How long each sample holds, in hours; the last one holds the median spacing."""
    gaps = np.array([(b - a).total_seconds() / 3600 for a, b in itertools.pairwise(times)])
    last = float(np.median(gaps)) if gaps.size else 1.0
    return np.append(gaps, last)


def window_weights(series: GridSeries, start: datetime, end: datetime) -> np.ndarray:
    """Hours of each sample inside [start, end); an error if the file does not cover the run."""
    if end <= start:
        raise CarbonMCError(f"the run ends ({end:%Y-%m-%d %H:%M}) before it starts ({start:%Y-%m-%d %H:%M})", key="--end")
    durations = _durations_h(series.times)
    first, last = series.times[0], series.times[-1] + timedelta(hours=float(durations[-1]))
    if start < first or end > last:
        raise CarbonMCError(f"covers {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC, not the run's "
                            f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC", file=series.file)
    starts = np.array([(t - start).total_seconds() / 3600 for t in series.times])
    span = (end - start).total_seconds() / 3600
    return np.clip(np.minimum(starts + durations, span) - np.maximum(starts, 0.0), 0.0, None)


def run_prior(series: GridSeries, start: datetime, end: datetime) -> dict:
    """A lognormal prior table for grid_gco2_per_kwh over one run (hour-to-hour spread)."""
    w = window_weights(series, start, end)
    inside = w > 0
    hours = float(w.sum())
    mean = float(np.sum(w * series.g_per_kwh) / hours)
    logs = np.log(series.g_per_kwh[inside])
    sd_ln = float(np.sqrt(np.average((logs - np.average(logs, weights=w[inside])) ** 2, weights=w[inside])))
    days = max(1.0, hours / 24)
    sigma = sd_ln / math.sqrt(days)
    how = (f"time-weighted mean over the run's {hours:,.0f} h ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC) "
           f"= {mean:.1f} gCO2e/kWh; spread from the hour-to-hour variation: sd of ln(hourly intensity) {sd_ln:.3f} "
           f"/ sqrt({days:.1f} days) = sigma {sigma:.4f}")
    return _prior(series, mean, sigma, how, year=start.year)


def annual_prior(series: GridSeries) -> dict:
    """A lognormal prior from the year-to-year variation, for a run whose dates are unknown."""
    durations = _durations_h(series.times)
    years: dict[int, list[tuple[float, float]]] = {}
    for t, h, v in zip(series.times, durations, series.g_per_kwh):
        years.setdefault(t.year, []).append((h, float(v)))
    means = {}
    for year, samples in sorted(years.items()):
        covered = sum(h for h, _ in samples)
        hours_in_year = (datetime(year + 1, 1, 1) - datetime(year, 1, 1)).total_seconds() / 3600
        if covered >= YEAR_COVERAGE * hours_in_year:
            means[year] = sum(h * v for h, v in samples) / covered
    if len(means) < 2:
        raise CarbonMCError(
            f"without the run's dates the spread comes from the year-to-year variation, which needs at least two calendar "
            f"years covered to {YEAR_COVERAGE:.0%}; this file has {len(means)} ({', '.join(map(str, means)) or 'none'}): "
            "give --start and --end", file=series.file,
        )
    logs = np.log(list(means.values()))
    median, sigma = float(np.exp(logs.mean())), float(logs.std(ddof=1))
    listed = ", ".join(f"{y}: {m:.1f}" for y, m in means.items())
    how = (f"run dates unknown: geometric mean of the annual means ({listed} gCO2e/kWh) = {median:.1f}; spread from the "
           f"year-to-year variation: sd of ln(annual mean) = sigma {sigma:.4f}")
    return _prior(series, median, sigma, how, year=max(means))


def _prior(series: GridSeries, median: float, sigma: float, how: str, *, year: int) -> dict:
    name = Path(series.file).name
    zone = f" for zone {series.zone}" if series.zone else ""
    caveat = (" WattTime MOER is a marginal emission rate (the plant that answers extra load), not the average "
              "intensity of the location-based priors." if series.marginal else "")
    entry = {
        "distribution": "lognormal" if sigma > 0 else "fixed",
        "params": {"median": round(median, 4), "sigma": round(sigma, 6)} if sigma > 0 else {"value": round(median, 4)},
        "units": "g/kWh",
        "description": f"Grid carbon intensity from {series.kind}{zone}: {how}.{caveat}",
        "source": f"{series.kind} export {name}",
        "year": year,
    }
    return entry
