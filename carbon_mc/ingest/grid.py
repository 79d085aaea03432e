"""Hourly grid carbon intensity (Electricity Maps or WattTime exports) -> a grid prior for one run.

With the run's start and end, the prior's median is the time-weighted mean intensity over the run's
hours, and its spread comes from the hour-to-hour variation over those hours: sigma (of ln) is the
standard deviation of ln(intensity) over the run's hours divided by sqrt(days of the run), the
standard error of a mean whose days vary independently (hours within a day do not). Without dates,
the median is the geometric mean of the annual means and sigma the standard deviation of their ln
(year-to-year variation), over the calendar years the file covers to at least 80%.

Units: gCO2e/kWh. Electricity Maps gives gCO2eq/kWh ("LCA" = lifecycle, default; or "direct");
WattTime's MOER is in lbs/MWh (x 0.45359237 -> g/kWh) and is a *marginal* rate, not the average
intensity the bundled priors hold: the prior's description says so. A unit written in the column's
name, header or cells (kg/kWh, g/MWh, ...) is converted to g/kWh; hours beyond 2,000 g/kWh, or a
lifecycle series below 2 g/kWh throughout (kg/kWh read as g/kWh), are refused.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ..errors import CarbonMCError
from .tables import LB_PER_MWH_TO_G_PER_KWH, read_rows, unit_problem, unit_symbol

EM_TIME = "Datetime (UTC)"
EM_COLUMNS = {"lca": "Carbon Intensity gCO₂eq/kWh (LCA)", "direct": "Carbon Intensity gCO₂eq/kWh (direct)"}
EM_ALIASES = {"lca": ("Carbon Intensity gCO2eq/kWh (LCA)", "carbon_intensity_lca"),
              "direct": ("Carbon Intensity gCO2eq/kWh (direct)", "carbon_intensity_direct")}
EM_INTENSITY = re.compile(r"^carbon[\s_]*intensity[\s_]*(?P<unit>.*?)[\s_]*\(?(?P<basis>lca|direct)\)?$", re.IGNORECASE)
YEAR_COVERAGE = 0.8
MAX_G_PER_KWH = 2000.0  # no grid's hourly intensity reaches this; a larger number is in another unit
MIN_LCA_MAX_G_PER_KWH = 2.0  # lifecycle intensity of the cleanest grids (hydro, nuclear) is above 10 g/kWh


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
    """Read an Electricity Maps hourly export or a WattTime MOER export (detected by its columns), in g/kWh.

    A unit in the intensity column's name ("Carbon Intensity kgCO₂eq/kWh (LCA)"), its header
    ("[kg/kWh]") or a cell ("0.051 kg/kWh") is converted to g/kWh; an unknown one is refused.
    """
    rows, _ = read_rows(path)
    columns = list(rows[0])
    if EM_TIME in columns:
        column = _intensity_column(rows, columns, basis)
        times = [r.time(EM_TIME) for r in rows]
        values = [r.number(column, unit="g/kWh") for r in rows]
        zone = rows[0].get("Zone Id") or rows[0].get("Zone Name") or rows[0].get("Country")
        kind = f"Electricity Maps ({basis})"
        series = GridSeries(tuple(times), np.array(values), rows[0].file, kind, zone)
    elif {"point_time", "value"} <= set(columns):
        times = [r.time("point_time") for r in rows]
        values = [r.number("value", unit="lb/MWh") * LB_PER_MWH_TO_G_PER_KWH for r in rows]
        zone = rows[0].get("region") or rows[0].get("ba")
        series = GridSeries(tuple(times), np.array(values), rows[0].file, "WattTime MOER (marginal, lbs/MWh)", zone, True)
    else:
        raise rows[0].error(None, f"neither an Electricity Maps export (needs {EM_TIME!r} and {EM_COLUMNS['lca']!r}) nor a "
                                  "WattTime export (needs 'point_time' and 'value')")
    _plausible(series, rows, basis)
    return _sorted(series)


def _intensity_column(rows, columns: list[str], basis: str) -> str:
    """The intensity column of `basis`; a unit its name writes ("Carbon Intensity kgCO₂eq/kWh (LCA)") becomes the
    column's unit, as one in its header would."""
    for column in columns:
        match = EM_INTENSITY.match(column)
        if not match or match.group("basis").lower() != basis:
            continue
        written = match.group("unit").strip(" _")
        if not written:
            return column
        symbol = unit_symbol(written)
        problem = unit_problem(written, "g/kWh")
        if problem or symbol is None:
            raise rows[0].error(column, f"the column's name gives the unit {written!r}: {problem}")
        header_unit = rows[0].units.get(column)
        if header_unit and unit_symbol(header_unit) != symbol:
            raise rows[0].error(column, f"the column's name says {written!r} and its header {header_unit!r}: which is it?")
        rows[0].units[column] = symbol  # one dict, shared by every row of the file
        return column
    column = EM_COLUMNS[basis]
    raise rows[0].error(None, f"no column {column!r} (basis {basis!r}); the file has {', '.join(sorted(columns))}")


def _plausible(series: GridSeries, rows, basis: str) -> None:
    """Refuse intensities no grid has: above `MAX_G_PER_KWH`, or a lifecycle series below 2 g/kWh throughout (kg/kWh?)."""
    values = series.g_per_kwh
    if values.size and float(values.max()) > MAX_G_PER_KWH:
        i = int(np.argmax(values))
        raise rows[i].error(None, f"{values[i]:,.6g} gCO2e/kWh is beyond any grid (expected within [0, {MAX_G_PER_KWH:g}] "
                                  "g/kWh; lignite, the dirtiest fuel, is about 1,200): is the file in another unit?")
    if not series.marginal and basis == "lca" and values.size and 0 < float(values.max()) < MIN_LCA_MAX_G_PER_KWH:
        raise rows[0].error(None, f"every lifecycle intensity is below {MIN_LCA_MAX_G_PER_KWH:g} gCO2e/kWh (largest "
                                  f"{float(values.max()):.4g}); the cleanest grids are above 10 g/kWh on a lifecycle basis: "
                                  "is the file in kg/kWh? Write the unit in the column's name or header, e.g. [kg/kWh]")


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
