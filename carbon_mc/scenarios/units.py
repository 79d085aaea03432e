"""Units of published figures: CO2e masses and energies, as a table, with one parser.

Published footprints come in pounds (Strubell et al. 2019), kilograms (CodeCarbon, Hugging Face
cards use grams), tonnes (Patterson et al. 2021) and kWh or MWh. A claim is converted to the unit
of the model quantity it is checked against: tonnes CO2e for ``*_tco2e`` and MWh for ``*_mwh``
(the units of `carbon_mc.footprint.OUTPUTS`).

    >>> to_quantity_units(626_155, "lb", "operational_tco2e")   # Strubell's NAS, in tonnes
    284.01...
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..errors import InputError, close_matches, shown
from ..footprint import OUTPUTS
from ..footprint.serving_outputs import SERVING_OUTPUTS


class Unit(NamedTuple):
    """A unit a claim may be written in."""

    symbol: str  # canonical spelling
    kind: str  # "mass" (of CO2e) or "energy"
    to_base: float  # multiply by this to get the kind's base unit (`BASE_UNITS`)
    long_name: str


# The base unit of each kind is the unit of the model's outputs: t for *_tco2e, MWh for *_mwh.
BASE_UNITS = {"mass": "t", "energy": "MWh"}

UNITS: dict[str, Unit] = {
    u.symbol: u
    for u in (
        Unit("g", "mass", 1e-6, "grams CO2e"),
        Unit("kg", "mass", 1e-3, "kilograms CO2e"),
        Unit("t", "mass", 1.0, "tonnes (metric) CO2e"),
        Unit("kt", "mass", 1e3, "kilotonnes CO2e"),
        # The international avoirdupois pound is exactly 0.45359237 kg (NIST SP 811, App. B.8).
        Unit("lb", "mass", 0.45359237e-3, "pounds (avoirdupois) CO2e"),
        Unit("Wh", "energy", 1e-6, "watt-hours"),
        Unit("kWh", "energy", 1e-3, "kilowatt-hours"),
        Unit("MWh", "energy", 1.0, "megawatt-hours"),
        Unit("GWh", "energy", 1e3, "gigawatt-hours"),
    )
}

# Other spellings people write, lower-cased and without spaces. "ton" and "mt" are left out on
# purpose: a US short ton is 907 kg, and "Mt" reads as megatonne.
ALIASES = {
    "gram": "g", "grams": "g",
    "kilogram": "kg", "kilograms": "kg", "kgs": "kg",
    "tonne": "t", "tonnes": "t", "metricton": "t", "metrictons": "t", "metrictonne": "t", "metrictonnes": "t",
    "kilotonne": "kt", "kilotonnes": "kt",
    "lbs": "lb", "pound": "lb", "pounds": "lb",
}
# Suffixes naming the gas, stripped before lookup: "tCO2e", "kg CO2eq", "lbs CO2-eq" all parse.
GAS_SUFFIXES = ("co2-eq", "co2eq", "co2e", "co2")


def _normalise(text: str) -> str:
    s = "".join(text.split()).lower().replace("₂", "2")
    for suffix in GAS_SUFFIXES:
        if s.endswith(suffix) and len(s) > len(suffix):
            s = s[: -len(suffix)]
            break
    return s


_LOOKUP = {symbol.lower(): unit for symbol, unit in UNITS.items()} | {a: UNITS[s] for a, s in ALIASES.items()}


def parse_unit(text: str) -> Unit:
    """The `Unit` that `text` spells ("lb", "lbs CO2e", "tCO2e", "kWh", "MWh", ...).

    Raises:
      InputError: for an unknown spelling, naming close matches.
    """
    masses = ", ".join(s for s, u in UNITS.items() if u.kind == "mass")
    energies = ", ".join(s for s, u in UNITS.items() if u.kind == "energy")
    valid = f"CO2e masses: {masses}; energies: {energies}"
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"a unit must be a non-empty string, got {shown(text)} ({valid})")
    unit = _LOOKUP.get(_normalise(text))
    if unit is None:
        raise InputError(f"unknown unit {shown(text)}; {close_matches(_normalise(text), _LOOKUP)} ({valid})")
    return unit


# Units and long names of every output of either chain (the names they share have the same units).
ALL_OUTPUTS = {**SERVING_OUTPUTS, **OUTPUTS}


def quantity_units(quantity: str) -> str:
    """The unit of model output `quantity` (training or serving) that a claim on it is converted to."""
    meta = ALL_OUTPUTS.get(quantity) if isinstance(quantity, str) else None
    if meta is None or meta.units not in UNITS:
        raise InputError(f"cannot check a claim against {shown(quantity)}; {close_matches(str(quantity), ALL_CHECKABLE)}")
    return meta.units


def quantity_kind(quantity: str) -> str:
    """"mass" or "energy": what a model output measures, read from its units in `OUTPUTS` or `SERVING_OUTPUTS`."""
    return UNITS[quantity_units(quantity)].kind


# Model outputs a claim can be checked against: every training output measured in t CO2e or MWh;
# every serving output measured in a mass of CO2e or an energy (g per request, kWh per day, ...).
CHECKABLE = tuple(name for name, meta in OUTPUTS.items() if meta.units in BASE_UNITS.values())
SERVING_CHECKABLE = tuple(name for name, meta in SERVING_OUTPUTS.items() if meta.units in UNITS)
ALL_CHECKABLE = CHECKABLE + tuple(name for name in SERVING_CHECKABLE if name not in CHECKABLE)


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """`value` in `from_unit` expressed in `to_unit` (same kind: mass with mass, energy with energy)."""
    a, b = parse_unit(from_unit), parse_unit(to_unit)
    if a.kind != b.kind:
        raise InputError(f"cannot convert {a.symbol} ({a.kind}) to {b.symbol} ({b.kind})")
    return float(value) * a.to_base / b.to_base


def to_quantity_units(value: float, unit: str, quantity: str) -> float:
    """A claim of `value` `unit` in the units of model output `quantity` (t CO2e or MWh; g, kg, Wh, kWh for serving outputs).

    Raises:
      InputError: when the unit measures something else than the quantity (a mass against an
        energy), or the value is not a finite number >= 0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(f"a claim must be a finite number >= 0, got {shown(value)}")
    u = parse_unit(unit)
    kind = quantity_kind(quantity)
    if u.kind != kind:
        describe = {"mass": "a mass of CO2e", "energy": "an energy"}
        raise InputError(
            f"a claim in {u.symbol} is {describe[u.kind]} and cannot be checked against {quantity}, "
            f"which is {describe[kind]}; check it against {default_quantity(u.symbol)}, or give the claim in "
            + ", ".join(s for s, x in UNITS.items() if x.kind == kind)
        )
    return float(value) * u.to_base / UNITS[quantity_units(quantity)].to_base


def default_quantity(unit: str) -> str:
    """The quantity a claim in `unit` is checked against when none is named: total CO2e, or energy."""
    return "total_tco2e" if parse_unit(unit).kind == "mass" else "energy_mwh"
