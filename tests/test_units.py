"""Units of claims: every spelling people publish parses; masses and energies never mix."""

import math

import pytest

from carbon_mc import CarbonMCError
from carbon_mc.scenarios.units import CHECKABLE, UNITS, convert, default_quantity, parse_unit, to_quantity_units

LB_KG = 0.45359237  # international avoirdupois pound, exact by definition (1959 agreement)


def test_strubell_nas_pounds_are_the_published_tonnes():
    # Strubell et al. 2019 give 626,155 lbs; published_runs.csv converts it to 284.019 t.
    assert to_quantity_units(626_155, "lb", "operational_tco2e") == pytest.approx(626_155 * LB_KG / 1000, rel=1e-12)
    assert to_quantity_units(626_155, "lbs CO2e", "total_tco2e") == pytest.approx(284.019, abs=5e-4)


def test_energy_units_scale_by_powers_of_a_thousand():
    assert to_quantity_units(656_347, "kWh", "energy_mwh") == pytest.approx(656.347, rel=1e-12)
    assert to_quantity_units(1.287, "GWh", "energy_mwh") == pytest.approx(1287.0, rel=1e-12)
    assert to_quantity_units(7_500_000, "Wh", "energy_mwh") == pytest.approx(7.5, rel=1e-12)


@pytest.mark.parametrize(
    "text,symbol",
    [("t", "t"), ("tCO2e", "t"), ("t CO2e", "t"), ("tonnes", "t"), ("tCO2eq", "t"), ("metric tons", "t"),
     ("kg", "kg"), ("kg CO2eq", "kg"), ("kgCO₂e", "kg"), ("g", "g"), ("gCO2e", "g"), ("grams", "g"),
     ("lb", "lb"), ("lbs", "lb"), ("LB", "lb"), ("pounds CO2e", "lb"), ("kt", "kt"),
     ("kWh", "kWh"), ("kwh", "kWh"), ("MWh", "MWh"), ("GWh", "GWh"), ("Wh", "Wh")],
)
def test_spellings(text, symbol):
    assert parse_unit(text).symbol == symbol


@pytest.mark.parametrize("text", ["ton", "tons", "Mt", "kW", "joule", "", "   "])
def test_ambiguous_or_unknown_units_are_errors(text):
    with pytest.raises(CarbonMCError) as info:
        parse_unit(text)
    msg = str(info.value)
    assert "unit" in msg and "lb" in msg and "kWh" in msg  # the error lists what is valid


def test_unknown_unit_names_close_matches():
    with pytest.raises(CarbonMCError, match="did you mean 'tonnes'"):
        parse_unit("tonnnes")


def test_round_trips_within_a_kind():
    for a in UNITS:
        for b in UNITS:
            if UNITS[a].kind == UNITS[b].kind:
                assert convert(convert(123.456, a, b), b, a) == pytest.approx(123.456, rel=1e-12)


def test_mass_against_energy_is_an_error_naming_both():
    with pytest.raises(CarbonMCError) as info:
        to_quantity_units(626_155, "lb", "energy_mwh")
    msg = str(info.value)
    assert "lb" in msg and "energy_mwh" in msg and "total_tco2e" in msg
    with pytest.raises(CarbonMCError, match="kWh"):
        to_quantity_units(656_347, "kWh", "operational_tco2e")
    with pytest.raises(CarbonMCError, match="cannot convert"):
        convert(1.0, "t", "MWh")


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, True, "5"])
def test_claim_values_must_be_finite_and_non_negative(value):
    with pytest.raises(CarbonMCError):
        to_quantity_units(value, "t", "total_tco2e")


def test_unknown_quantity_names_close_matches():
    with pytest.raises(CarbonMCError, match="total_tco2e"):
        to_quantity_units(1.0, "t", "total_co2e")


def test_defaults_and_checkable_quantities():
    assert default_quantity("lb") == "total_tco2e"
    assert default_quantity("kWh") == "energy_mwh"
    assert {"total_tco2e", "operational_tco2e", "energy_mwh"} <= set(CHECKABLE)
    assert "device_hours" not in CHECKABLE
