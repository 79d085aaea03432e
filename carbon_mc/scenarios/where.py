"""Where and on what a scenario ran: place names -> grid variants (with the run's year and any
fallback to a wider grid), device names -> accelerator keys.

Both take what users type ("Spain", "us-east-1", "Quebec, Canada", "NVIDIA L4", "p4d.24xlarge")
through the bundled name tables (`carbon_mc.priors.places`, `carbon_mc.priors.hardware_names`);
an unknown name is an error with close matches, never a quiet default.
"""

from __future__ import annotations

import logging
import math

from ..errors import InputError
from ..priors import Prior, PriorTable, build_prior, places
from ..priors.cpu_names import looks_like_cpu, resolve_cpu
from ..priors.hardware_names import AmbiguousNameError
from ..priors.hardware_names import resolve as resolve_device_name

LOG = logging.getLogger("carbon_mc")

GRID_QUANTITY = "grid_gco2_per_kwh"
FALLBACK_SIGMA_LN = 0.3  # widening of a fallback grid when fewer than two narrower grids tell its spread


def resolve_hardware(text: str, table: PriorTable, file: str, key: str) -> str:
    """The accelerator key `text` names: a key of the prior table, or a name as tools print it
    ("NVIDIA H100 80GB HBM3", "Tesla T4") or an instance type (priors/hardware_aliases.toml), or a CPU
    model name ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz" -> its CPU class, `carbon_mc.priors.cpu_names`,
    said as a warning)."""
    if text in table.hardware:
        return text
    try:
        return resolve_device_name(text, table.hardware, file=file, key=key).key
    except AmbiguousNameError:
        raise
    except InputError:
        if not looks_like_cpu(text):
            raise
    match = resolve_cpu(text, table.hardware, file=file, key=key)  # a CPU model name -> its CPU class
    LOG.warning("%s", match.note)
    return match.key


def resolve_region(text: str, table: PriorTable, file: str, key: str) -> tuple[str, str | None]:
    """(grid variant key, the place the name matched when it had to fall back to a wider grid, else None).

    A variant key of the prior table (bundled or overlay) is taken as it is; any other name goes
    through `carbon_mc.priors.places.resolve` (countries by name or ISO code, US states, cloud
    regions as their CLIs print them, common spellings). Unknown names are an error with close matches.
    """
    grid = table.quantity(GRID_QUANTITY)
    if text in grid.variants:
        return text, None
    try:
        place = places.resolve(text, available=grid.variants)
    except InputError as exc:
        if "," not in text:
            raise InputError(exc.message, file=file, key=key) from None
        return _resolve_qualified(text, grid.variants, exc, file, key)
    return place.key, place.matched if place.fell_back else None


def _resolve_qualified(text: str, available, error: InputError, file: str, key: str) -> tuple[str, str | None]:
    """"Quebec, Canada", "Austin, Texas, USA": the first part inside the last one, else the last one
    (a fallback to the wider place, widened and said so); the last part unknown -> the original error."""
    head, tail = text.split(",", 1)[0].strip(), text.rsplit(",", 1)[-1].strip()
    try:
        wider = places.resolve(tail, available=available)
    except InputError:
        raise InputError(error.message, file=file, key=key) from None
    try:
        narrow = places.resolve(head, available=available)
    except InputError:
        return wider.key, head
    if wider.key in narrow.chain:
        return narrow.key, narrow.matched if narrow.fell_back else None
    return wider.key, head


def fallback_spread_ln(key: str) -> float:
    """The spread (sd of ln of the medians) of the grids narrower than `key` (the places a fallback could be)."""
    table = places.place_table()
    medians = [float(entry["params"]["median"]) for name, entry in table.variants.items()
               if name != key and key in places.fallback_chain(name, table)[1:]
               and entry.get("distribution") == "lognormal" and float(entry["params"].get("median", 0)) > 0]
    if len(medians) < 2:
        return FALLBACK_SIGMA_LN
    logs = [math.log(m) for m in medians]
    mean = sum(logs) / len(logs)
    return math.sqrt(sum((v - mean) ** 2 for v in logs) / (len(logs) - 1))


def grid_prior(base: Prior, key: str, year: int | None, fell_back_from: str | None, file: str) -> tuple[Prior, list[str]]:
    """The location-based grid prior of place `key` for the run's `year`, and what was done to it.

    A generated place (with values by year, priors/grid_places.toml) takes that year's value; a year
    past its data follows the recent trend with a wider sigma (`carbon_mc.priors.places.year_value`).
    A place that fell back to a wider grid widens by the spread of the grids it could be. A
    hand-written variant (priors/grid.toml) is used as written: its width already covers its years.
    """
    notes: list[str] = []
    if base.family != "lognormal" or base.spec is None:
        return base, notes
    spec = base.spec
    median, sigma = float(spec["median"]), float(spec["sigma"])
    table = places.place_table()
    if year is not None and "by_year" in table.variants.get(key, {}):
        value = places.year_value(key, year, table)
        median, sigma = value.median, max(sigma, value.sigma)
        if value.extrapolated or value.data_year != year:
            notes.append(value.note)
    if fell_back_from is not None:
        spread = fallback_spread_ln(key)
        widened = math.sqrt(sigma**2 + spread**2)
        notes.append(f"{fell_back_from} has no grid intensity of its own: using {key}, sigma widened {sigma:.3f} -> "
                     f"{widened:.3f} by the spread of the grids it could be")
        sigma = widened
    if median == float(spec["median"]) and sigma == float(spec["sigma"]):
        return base, notes
    entry = {"distribution": "lognormal", "params": {"median": median, "sigma": sigma},
             "source": f"{base.source}; for {year if year is not None else 'the latest year'}: {'; '.join(notes) or key}",
             "description": base.description}
    return build_prior(base.quantity, base.variant, entry, units=base.units, long_name=base.long_name, file=file), notes


__all__ = ["FALLBACK_SIGMA_LN", "GRID_QUANTITY", "fallback_spread_ln", "grid_prior", "resolve_hardware", "resolve_region"]
