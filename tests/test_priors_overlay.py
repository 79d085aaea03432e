"""The user's own priors: overlay directories that add or replace entries of the bundled table."""

import os
from pathlib import Path

import pytest

import carbon_mc
from carbon_mc.errors import CarbonMCError
from carbon_mc.priors import PRIORS_ENV, env_overlay_dirs, load_priors

OVERLAYS = Path(__file__).parent / "data" / "priors_overlay"
SCENARIO = """
[run]
name = "fine-tuning on our PCIe A100s"
hardware = "a100_pcie_80gb"
devices = 8
days = 2
region = "france"
datacenter = "our_cluster"
"""


def test_overlay_adds_and_overrides_variants():
    bundled = load_priors()
    table = load_priors(overlays=[OVERLAYS / "site"])
    assert "our_cluster" not in bundled.quantities["pue"].variants
    added = table.quantities["pue"].variants["our_cluster"]
    assert added.family == "triangular" and added.units == "1" and added.source.startswith("Facility energy report")
    france = table.quantities["grid_gco2_per_kwh"].variants["france"]
    assert france.params == {"median": 32.0, "sigma": 0.3} and france.year == 2024
    assert bundled.quantities["grid_gco2_per_kwh"].variants["france"].params["median"] == 56.0  # bundled untouched
    assert len(table.quantities["pue"].variants) == len(bundled.quantities["pue"].variants) + 1
    assert table.origins["pue.our_cluster"].endswith("site.toml") and table.origins["pue.hyperscale"] == "datacenter.toml"
    assert any(f.endswith("site.toml") for f in table.files)


def test_overlay_adds_hardware_that_a_scenario_can_use(write_toml):
    table = load_priors(overlays=[OVERLAYS / "a100_pcie", OVERLAYS / "site"])
    assert table.hardware["a100_pcie_80gb"]["tdp_w"] == 300
    scenario = carbon_mc.load_scenario(write_toml(SCENARIO), priors=table)
    priors = scenario.resolve_priors(table)
    assert priors["pue"].variant == "our_cluster" and priors["embodied_kgco2e_per_device"].variant == "a100_pcie_80gb"


def test_env_variable_applies_to_every_default_load(monkeypatch, write_toml):
    monkeypatch.setenv(PRIORS_ENV, os.pathsep.join([str(OVERLAYS / "a100_pcie"), str(OVERLAYS / "site")]))
    assert env_overlay_dirs() == [OVERLAYS / "a100_pcie", OVERLAYS / "site"]
    scenario = carbon_mc.load_scenario(write_toml(SCENARIO))  # no table given: load_priors() reads the variable
    ds = carbon_mc.estimate(scenario, num_draws=4000, seed=1)
    assert float(ds["pue"].min()) >= 1.15 and float(ds["pue"].max()) <= 1.3
    assert ds["grid_gco2_per_kwh"].attrs["source"].startswith("RTE eco2mix")
    monkeypatch.delenv(PRIORS_ENV)
    # Without the variable the overlay's entries are gone: its data centre is unknown (the overlay's
    # key a100_pcie_80gb now names the bundled A100 80GB PCIe, a100_80gb_pcie, by its parts)
    with pytest.raises(CarbonMCError, match="unknown datacenter 'our_cluster'"):
        carbon_mc.load_scenario(write_toml(SCENARIO))
    assert carbon_mc.load_scenario(write_toml(SCENARIO.replace('datacenter = "our_cluster"', 'pue = 1.2'))).hardware == "a100_80gb_pcie"


def test_later_overlay_wins(tmp_path):
    (tmp_path / "pue.toml").write_text(
        '[pue.variants.our_cluster]\ndistribution = "fixed"\nparams = { value = 1.4 }\n'
        'description = "re-metered"\nsource = "Facility energy report 2026"\n'
    )
    table = load_priors(overlays=[OVERLAYS / "site", tmp_path])
    assert table.quantities["pue"].variants["our_cluster"].fixed_value == 1.4


@pytest.mark.parametrize(
    "overlay,needles",
    [
        ("bad_units", ["grid.toml", "grid_gco2_per_kwh.units", "'kg/kWh' differs from the bundled 'g/kWh'"]),
        ("no_source", ["pue.toml", "pue.variants.our_cluster", "missing 'source'"]),
        ("no_embodied", ["accelerators.toml", "hardware.a100_pcie_80gb", "embodied_kgco2e_per_device.variants.a100_pcie_80gb"]),
    ],
)
def test_overlay_errors_name_file_and_key(overlay, needles):
    with pytest.raises(CarbonMCError) as info:
        load_priors(overlays=[OVERLAYS / overlay])
    for needle in needles:
        assert needle in str(info.value)


def test_missing_or_empty_overlay_directory_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(CarbonMCError, match="not a directory"):
        load_priors(overlays=[tmp_path / "nope"])
    monkeypatch.setenv(PRIORS_ENV, str(tmp_path))
    with pytest.raises(CarbonMCError, match=r"no \*\.toml"):
        load_priors()


def test_overlay_hardware_needs_every_field(tmp_path):
    (tmp_path / "hw.toml").write_text('[hardware.x]\nname = "X"\nvendor = "Y"\n')
    with pytest.raises(CarbonMCError, match=r"hw\.toml: hardware\.x\.year: missing"):
        load_priors(overlays=[tmp_path])
