"""Places and devices as users name them, wired through scenarios, import, model cards and `list`."""

from __future__ import annotations

import json
import logging
import math

import pytest

from carbon_mc import CarbonMCError, load_priors
from carbon_mc.cli import main
from carbon_mc.priors import places
from carbon_mc.scenarios import parse_scenario, parse_serving_scenario


@pytest.fixture(scope="module")
def table():
    return load_priors()


def run_doc(**run):
    base = {"name": "t", "hardware": "h100_sxm", "devices": 8, "days": 2, "pue": 1.2}
    base.update(run)
    return {"run": base}


# Places the issue names, as a user types them, and the grid they must land on.
NAMED = [("Spain", "spain"), ("Italy", "italy"), ("Brazil", "brazil"), ("Australia", "australia"),
         ("South Korea", "south_korea"), ("Switzerland", "switzerland"), ("Mexico", "mexico"),
         ("South Africa", "south_africa"), ("Saudi Arabia", "saudi_arabia"), ("the UAE", "united_arab_emirates"),
         ("California", "california"), ("Oklahoma", "oklahoma"), ("USA", "united_states"), ("Deutschland", "germany"),
         ("ES", "spain"), ("ESP", "spain"), ("Montréal", "quebec")]


@pytest.mark.parametrize("name,key", NAMED)
def test_a_scenario_takes_a_place_by_its_name(table, name, key):
    s = parse_scenario(run_doc(region=name), table=table)
    assert s.region == key and s.region_fell_back_from is None


@pytest.mark.parametrize("name", ["us-east-1", "eu-west-1", "eastus", "westeurope", "aws:us-east-1", "azure:westeurope",
                                  "gcp:europe-west4", "australia-southeast1", "southamerica-east1", "europe-southwest1",
                                  "europe-west8", "asia-northeast3", "us-west2", "europe-west1"])
def test_cloud_regions_resolve_to_a_provider_key(table, name):
    s = parse_scenario(run_doc(region=name), table=table)
    assert s.region.split(":")[0] in ("aws", "azure", "gcp") and s.region in table.quantity("grid_gco2_per_kwh").variants


def test_an_unknown_place_names_close_matches(table):
    with pytest.raises(CarbonMCError, match=r"run\.region.*unknown place 'Atlantis'.*did you mean"):
        parse_scenario(run_doc(region="Atlantis"), table=table)


def test_the_run_year_picks_the_year_of_data(table):
    spain = places.series_for("spain")
    year = max(y for y in spain if y < max(spain))  # a year inside the data, not the last one
    prior = parse_scenario(run_doc(region="Spain", year=year), table=table).resolve_priors(table)["grid_gco2_per_kwh"]
    assert prior.spec["median"] == pytest.approx(spain[year], rel=1e-9)
    latest = parse_scenario(run_doc(region="Spain"), table=table).resolve_priors(table)["grid_gco2_per_kwh"]
    assert latest.spec["median"] == pytest.approx(spain[max(spain)], rel=1e-9)


def test_a_year_past_the_data_extrapolates_wider_and_says_so(table, caplog):
    spain = places.series_for("spain")
    last = max(spain)
    with caplog.at_level(logging.WARNING, logger="carbon_mc"):
        s = parse_scenario(run_doc(region="Spain", year=last + 6), table=table)
    prior = s.resolve_priors(table)["grid_gco2_per_kwh"]
    base = table.quantity("grid_gco2_per_kwh").variants["spain"]
    assert prior.spec["sigma"] > base.spec["sigma"]
    assert any("extrapolated" in r.getMessage() for r in caplog.records)
    assert any("extrapolated" in n for n in s.notes)


def test_a_place_without_a_grid_falls_back_widened_with_a_warning(table, caplog):
    with caplog.at_level(logging.WARNING, logger="carbon_mc"):
        s = parse_scenario(run_doc(region="Springfield, France"), table=table)
    assert s.region == "france" and s.region_fell_back_from == "Springfield"
    widened = s.resolve_priors(table)["grid_gco2_per_kwh"].spec["sigma"]
    assert widened > table.quantity("grid_gco2_per_kwh").variants["france"].spec["sigma"]
    assert any("Springfield has no grid intensity of its own" in r.getMessage() for r in caplog.records)


def test_qualified_names_pick_the_inner_place(table):
    assert parse_scenario(run_doc(region="Quebec, Canada"), table=table).region == "quebec"


def test_bundled_scenarios_are_unchanged_by_the_place_table(table):
    """Hand-written variants (published runs' grids) are used as written, whatever the run's year."""
    from carbon_mc.data import data_dir
    from carbon_mc.scenarios import load_any_scenario

    for path in sorted(data_dir("models").glob("*.toml")):
        s = load_any_scenario(path, priors=table)
        if s.region is not None and "grid_gco2_per_kwh" not in s.overrides:
            assert s.resolve_priors(table)["grid_gco2_per_kwh"] is table.select("grid_gco2_per_kwh", s.context(table))


@pytest.mark.parametrize("name,key", [("NVIDIA L4", "l4"), ("Tesla T4", "t4"), ("NVIDIA H100 80GB HBM3", "h100_sxm"),
                                      ("p4d.24xlarge", "a100_40gb"), ("NVIDIA A100-PCIE-40GB", "a100_40gb_pcie")])
def test_a_scenario_takes_a_device_as_tools_print_it(table, name, key):
    assert parse_scenario(run_doc(hardware=name, region="france"), table=table).hardware == key


def test_an_ambiguous_device_name_is_refused(table):
    with pytest.raises(CarbonMCError, match="several accelerators"):
        parse_scenario(run_doc(hardware="NVIDIA A100", region="france"), table=table)


@pytest.mark.parametrize("hardware", ["tpu_v5e", "tpu_v4", "l4", "gaudi2", "inferentia2", "mi300x"])
def test_every_kind_of_device_can_serve(table, hardware):
    doc = {"serving": {"name": "s", "model": "m", "parameters": 8e9, "hardware": hardware, "devices_per_replica": 8,
                       "batch": 8, "days": 30, "requests_per_day": 1e5, "region": "Spain", "pue": 1.2}}
    s = parse_serving_scenario(doc, table=table)
    assert s.memory_bandwidth_gb_per_s > 0 and s.region == "spain"


def test_codecarbon_in_california_resolves_to_california(tmp_path):
    from carbon_mc.data import data_dir

    text = (data_dir("models").parent / "examples" / "codecarbon" / "emissions.csv").read_text()
    src = tmp_path / "emissions.csv"
    src.write_text(text.replace("Canada,CAN,quebec", "United States,USA,california"))
    out = tmp_path / "run.toml"
    assert main(["import", "codecarbon", str(src), "--merge", "--datacenter", "hpc", "-o", str(out)]) == 0
    assert 'region = "california"' in out.read_text()


def card_emissions(tmp_path, name, *extra):
    card = tmp_path / f"{name}.yaml"
    assert main(["check", "gpt3_175b", "--draws", "4096", "--model-card", str(card), *extra]) == 0
    import yaml

    return yaml.safe_load(card.read_text())["co2_eq_emissions"]


def test_model_card_location_computes_on_the_named_place(tmp_path):
    own = card_emissions(tmp_path, "own")
    quebec = card_emissions(tmp_path, "quebec", "--location", "Quebec, Canada")
    assert quebec["geographical_location"] == "Quebec, Canada"
    # Quebec's hydro grid is a few tens of g/kWh, the run's US average ~400: the card's number moves with it
    assert quebec["emissions"] < own["emissions"] / 5


def test_model_card_location_refuses_what_it_cannot_compute(tmp_path, capsys):
    card = tmp_path / "card.yaml"
    assert main(["check", "gpt3_175b", "--draws", "4096", "--model-card", str(card), "--location", "Narnia"]) == 2
    assert "unknown place 'Narnia'" in capsys.readouterr().err and not card.exists()


def test_list_regions_search_and_country(capsys):
    assert main(["list", "regions", "--search", "cali", "--json"]) == 0
    assert "california" in {r["variant"] for r in json.loads(capsys.readouterr().out)}
    assert main(["list", "regions", "--country", "US", "--json"]) == 0
    us = {r["variant"] for r in json.loads(capsys.readouterr().out)}
    assert {"california", "texas", "united_states", "aws:us-east-1"} <= us and "france" not in us


def test_list_hardware_at_80_columns_is_one_line_per_device(capsys, monkeypatch, table):
    monkeypatch.setenv("COLUMNS", "80")
    from carbon_mc.commands import common

    monkeypatch.setattr(common.stdout, "_width", 80, raising=False)
    assert main(["list", "hardware"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    keys = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    assert set(keys) == set(table.hardware)  # one row each, none folded over two lines
    assert main(["list", "hardware", "--search", "l4", "--json"]) == 0
    assert {r["key"] for r in json.loads(capsys.readouterr().out)} == {"l4", "l40", "l40s"}
    assert main(["list", "hardware", "--details", "Tesla T4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tdp_w"] == 70


def test_every_place_median_is_a_finite_positive_intensity(table):
    grid = table.quantity("grid_gco2_per_kwh")
    for key, prior in grid.variants.items():
        lo, hi = prior.icdf(0.05), prior.icdf(0.95)
        assert math.isfinite(float(lo)) and float(lo) >= 0 and float(hi) < 2000, key


def test_a_deployment_may_set_its_memory_bandwidth_in_priors(table):
    doc = {"serving": {"name": "s", "model": "m", "parameters": 8e9, "hardware": "l4", "devices_per_replica": 1, "batch": 8,
                       "days": 30, "requests_per_day": 1e5, "region": "Spain", "pue": 1.2},
           "priors": {"memory_bandwidth_gb_per_s": 250.0}}
    assert parse_serving_scenario(doc, table=table).memory_bandwidth_gb_per_s == 250.0
    doc["priors"] = {"memory_bandwidth_gb_per_s": {"value": 200.0, "source": "measured with a STREAM benchmark"}}
    assert parse_serving_scenario(doc, table=table).memory_bandwidth_gb_per_s == 200.0
    doc["priors"] = {"memory_bandwidth_gb_per_s": -5.0}
    with pytest.raises(CarbonMCError, match="priors.memory_bandwidth_gb_per_s"):
        parse_serving_scenario(doc, table=table)
