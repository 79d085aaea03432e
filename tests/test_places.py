"""Places: every country, state, sub-national grid and cloud region resolves, and the generated
priors reproduce their source tables (priors/sources/) and load with the bundled priors."""

from __future__ import annotations

import csv
import filecmp
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

import carbon_mc
from carbon_mc.errors import InputError
from carbon_mc.priors import places

ROOT = Path(__file__).resolve().parent.parent
PRIORS = ROOT / "priors"
SOURCES = PRIORS / "sources"

NAMED_IN_ISSUE = {
    "Spain": "spain", "Italy": "italy", "Brazil": "brazil", "Australia": "australia", "South Korea": "south_korea",
    "Switzerland": "switzerland", "Mexico": "mexico", "South Africa": "south_africa", "Saudi Arabia": "saudi_arabia",
    "the UAE": "united_arab_emirates", "California": "california", "Washington": "washington", "Oklahoma": "oklahoma",
    "us-east-1": "aws:us-east-1", "eu-west-1": "aws:eu-west-1", "eastus": "azure:eastus", "westeurope": "azure:westeurope",
    "australia-southeast1": "gcp:australia-southeast1", "southamerica-east1": "gcp:southamerica-east1",
    "europe-southwest1": "gcp:europe-southwest1", "europe-west8": "gcp:europe-west8", "asia-northeast3": "gcp:asia-northeast3",
    "us-west2": "gcp:us-west2", "europe-west1": "gcp:europe-west1", "Sydney": "new_south_wales", "São Paulo": "central_brazil",
    "Madrid": "spain", "Milan": "north_italy", "Seoul": "south_korea", "Los Angeles": "california", "Belgium": "belgium",
    "USA": "united_states", "Deutschland": "germany", "Montréal": "quebec",
}


@pytest.mark.parametrize("name,key", sorted(NAMED_IN_ISSUE.items()))
def test_places_named_in_the_issue_resolve(name, key):
    assert places.resolve(name).key == key


def test_codes_cloud_forms_and_fallbacks():
    assert places.resolve("ES").key == places.resolve("ESP").key == places.resolve("españa").key == "spain"
    assert places.resolve("CA").key == "canada"  # ISO alpha-2 wins over the postal code
    assert places.resolve("US-CA").key == places.resolve("california").key == "california"
    assert places.resolve("AWS/us-east-1").key == places.resolve("aws:us-east-1").key == "aws:us-east-1"
    place = places.resolve("aws:us-east-1")
    assert place.chain[0] == "aws:us-east-1" and "united_states" in place.chain and place.chain[-1] == "world"
    assert not place.fell_back
    fallen = places.resolve("California", available={"united_states", "world"})
    assert fallen.key == "united_states" and fallen.fell_back and fallen.matched == "california"


def test_unknown_names_give_close_matches():
    with pytest.raises(InputError, match="did you mean 'spain'"):
        places.resolve("Spian")
    with pytest.raises(InputError, match="unknown place"):
        places.resolve("Atlantis-9")


def test_year_values_and_extrapolation():
    series = places.series_for("spain")
    last = max(series)
    assert places.year_value("spain", last).median == series[last]
    future = places.year_value("spain", last + 5)
    assert future.extrapolated and "extrapolated" in future.note and future.sigma > places.year_value("spain", last).sigma
    assert places.year_value("germany", 2020).median == places.series_for("germany")[2020]  # hand-written key, [series]


def _rows(name):
    with open(SOURCES / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _source_values():
    """(key, year, value in g/kWh) read straight from the raw tables."""
    table = places.place_table()
    out = []
    for r in _rows("owid_carbon_intensity_electricity.csv"):
        key = table.aliases.get(r["code"].lower())  # countries with a positive latest value have a variant
        if len(r["code"]) == 3 and key:
            out.append((key, int(r["year"]), float(r["gco2e_per_kwh"]), "country"))
    for r in _rows("electricitymaps_yearly.csv"):
        key = table.aliases.get(r["zone"].lower())
        if key:
            out.append((key, int(r["year"]), float(r["gco2e_per_kwh"]), "zone"))
    for r in _rows("codecarbon_usa_emissions.csv"):
        if r["postal_code"] != "usa":
            key = places.resolve("US-" + r["postal_code"]).key
            out.append((key, 2016, float(r["lb_co2_per_mwh"]) * 0.45359237, "state"))
    return out


def test_generated_medians_reproduce_the_sources():
    table = places.place_table()
    values = _source_values()
    latest = {}
    for key, year, value, kind in values:
        if key in table.variants and "by_year" in table.variants[key]:
            if year >= latest.get(key, (0, 0, ""))[0]:
                latest[key] = (year, value, kind)
    sample = random.Random(0).sample(sorted(latest), 30)
    assert {latest[k][2] for k in sample} >= {"country", "zone", "state"}
    for key in sample:
        year, value, _ = latest[key]
        entry = table.variants[key]
        assert entry["year"] == year
        assert entry["params"]["median"] == pytest.approx(value, abs=0.006), key
        assert float(entry["by_year"][str(year)]) == pytest.approx(value, abs=0.006), key
    for key, year, value, _ in random.Random(1).sample(values, 30):  # any year, also [series] of grid.toml keys
        assert places.series_for(key)[year] == pytest.approx(value, abs=0.006), (key, year)


def test_cloud_regions_copy_their_grid_and_carry_google_figures():
    table = places.place_table()
    for key, entry in table.variants.items():
        if ":" in key:
            grid = places.series_for(entry["maps_to"])
            assert grid and max(grid) == entry["year"]
            assert entry["params"]["median"] == pytest.approx(grid[max(grid)], abs=0.006)
    rows = [r for r in _rows("gcp_region_carbon.csv") if r["region"] == "europe-west4"]
    newest = max(rows, key=lambda r: int(r["year"]))
    assert table.variants["gcp:europe-west4"]["provider_gco2_per_kwh"] == pytest.approx(float(newest["grid_gco2e_per_kwh"]), abs=0.006)
    providers = {k.split(":")[0] for k in table.variants if ":" in k}
    assert providers == {"aws", "azure", "gcp", "oracle"}


def test_bundled_priors_load_with_the_place_files():
    table = carbon_mc.load_priors()
    grid = table.quantity("grid_gco2_per_kwh")
    for key in ("spain", "california", "aws:us-east-1", "azure:westeurope", "gcp:europe-west4", "oracle:us-ashburn-1",
                "new_south_wales", "germany", "gcp-europe-west4"):
        assert key in grid.variants, key
    assert table.select("grid_gco2_per_kwh", {"region": "aws:us-east-1"}).params["median"] > 0
    assert table.origins["grid_gco2_per_kwh.spain"] == "grid_places.toml"
    assert table.origins["grid_gco2_per_kwh.germany"] == "grid.toml"
    pue = table.quantity("pue")
    assert {"aws_2024", "enterprise_on_premises", "liquid_cooled_hpc", "hyperscale"} <= set(pue.variants)
    for prior in grid.variants.values():
        assert prior.family == "lognormal" or grid.file == "grid.toml"
        assert math.isfinite(float(prior.params.get("median", 1.0)))


def test_build_script_regenerates_identical_files(tmp_path):
    subprocess.run([sys.executable, str(PRIORS / "build" / "build_places.py"), str(tmp_path)], check=True, capture_output=True)
    for name in ("grid_places.toml", "place_aliases.toml"):
        assert filecmp.cmp(tmp_path / name, PRIORS / name, shallow=False), name
