"""`carbon-mc list`: every accelerator, region, data centre, scenario and prior, with units and sources."""

import json
from pathlib import Path

import numpy as np
import pytest

from carbon_mc.priors.catalog import jax_quantiles, prior_quantiles, scipy_distribution
from carbon_mc.cli import main

OVERLAYS = Path(__file__).parent / "data" / "priors_overlay"
MODELS = Path(__file__).resolve().parents[1] / "models"


def test_listed_quantiles_match_the_engines_inverse_cdf(table):
    checked = 0
    for quantity in table.quantities.values():
        for prior in quantity.variants.values():
            if prior.components or prior.is_fixed:
                continue
            assert scipy_distribution(prior.distribution) is not None, (prior.quantity, prior.family)
            np.testing.assert_allclose(prior_quantiles(prior), jax_quantiles(prior), rtol=2e-4)
            checked += 1
    assert checked > 100


def test_list_regions_json(capsys, table):
    assert main(["list", "regions", "--json"]) == 0
    rows = {r["variant"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(table.quantities["grid_gco2_per_kwh"].variants)
    france = rows["france"]
    assert france["units"] == "g/kWh" and france["year"] == 2023 and "Ember" in france["source"]
    assert france["median"] == pytest.approx(56.0, rel=1e-6) and france["p5"] < 56 < france["p95"]


@pytest.mark.parametrize("kind,key", [("hardware", "key"), ("datacenters", "variant"), ("scenarios", "scenario")])
def test_list_table_shows_every_entry_uncut(capsys, table, kind, key):
    assert main(["list", kind]) == 0
    text = capsys.readouterr().out
    assert main(["list", kind, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = {"hardware": set(table.hardware), "datacenters": set(table.quantities["pue"].variants),
                "scenarios": {p.stem for p in [*MODELS.glob("*.toml"), *(MODELS / "serving").glob("*.toml")]}}[kind]
    assert {r[key] for r in rows} == expected
    for name in expected:
        assert name in text
    assert "…" not in text  # rich cuts with an ellipsis; sources may quote "..." themselves


def test_list_hardware_units_and_sources(capsys):
    assert main(["list", "hardware", "--json"]) == 0
    h100 = next(r for r in json.loads(capsys.readouterr().out) if r["key"] == "h100_sxm")
    assert h100["tdp_w"] == 700 and h100["units"]["tdp_w"] == "W" and h100["units"]["peak_flop_per_s"] == "FLOP/s"
    assert h100["year"] == 2022 and h100["source"]


def test_list_priors_covers_every_variant(capsys, table):
    assert main(["list", "priors", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == sum(len(q.variants) for q in table.quantities.values())
    assert all(r["units"] is not None and r["source"] for r in rows)


def test_list_with_overlay_names_the_file(capsys):
    assert main(["list", "datacenters", "--priors", str(OVERLAYS / "site")]) == 0
    text = capsys.readouterr().out
    assert "our_cluster" in text and "overlay file" in text
    assert main(["list", "hardware", "--json", "--priors", str(OVERLAYS / "a100_pcie")]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["a100_pcie_80gb"]["tdp_w"] == 300 and rows["a100_pcie_80gb"]["file"].endswith("accelerators.toml")


def test_list_bad_overlay_is_one_line_exit_2(capsys):
    assert main(["list", "hardware", "--priors", str(OVERLAYS / "no_embodied")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "accelerators.toml" in err[0] and "embodied_kgco2e_per_device" in err[0]


def test_list_scenarios_names_training_runs_and_deployments(capsys):
    from carbon_mc.cli import main

    assert main(["list", "scenarios", "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    kinds = {r["scenario"]: r["kind"] for r in rows}
    assert kinds["gpt3_175b"] == "training" and kinds["bloom_176b_api"] == "serving"
