"""`carbon-mc run`: CSV out, the JSON's units, sd, HDI and how the run was drawn, and --priors on every command."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import carbon_mc
from carbon_mc.cli import main
from carbon_mc.priors import PRIORS_ENV

OVERLAYS = Path(__file__).parent / "data" / "priors_overlay"


@pytest.fixture(autouse=True)
def no_env_overlays(monkeypatch):
    monkeypatch.delenv(PRIORS_ENV, raising=False)


def test_run_json_carries_units_sd_hdi_and_how_it_was_drawn(capsys):
    assert main(["run", "gpt3_175b", "--draws", "20000", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ds = carbon_mc.estimate("gpt3_175b", num_draws=20000, seed=3)
    total = out["total_tco2e"]
    assert total["units"] == "t" and out["energy_mwh"]["units"] == "MWh"
    assert {"median", "mean", "p5", "p95", "p2_5", "p97_5"} <= set(total)  # the keys it always had
    x = ds["total_tco2e"].values.astype(np.float64)
    assert total["sd"] == pytest.approx(x.std(ddof=1), rel=1e-9)
    assert [total["hdi90_lower"], total["hdi90_upper"]] == pytest.approx(carbon_mc.hdi(x, 0.9), rel=1e-9)
    assert out["draws"] == {"seed": 3, "num_draws": 20000, "method": "qmc", "summary": "exact",
                            "carbon_mc_version": carbon_mc.__version__, "scenario": "GPT-3 175B"}


def test_run_csv_summaries_and_draws(tmp_path, capsys):
    summary, draws = tmp_path / "s.csv", tmp_path / "d.csv"
    assert main(["run", "bloom_176b", "--draws", "5000", "--csv", str(summary), "--csv-draws", str(draws)]) == 0
    rows = list(csv.reader(summary.read_text().splitlines()))
    assert rows[0][:3] == ["stat", "energy_mwh [MWh]", "operational_tco2e [t]"]
    stats = {r[0]: r for r in rows[1:]}
    ds = carbon_mc.estimate("bloom_176b", num_draws=5000, seed=0)
    assert float(stats["median"][4]) == pytest.approx(float(np.median(ds["total_tco2e"].values.astype(np.float64))))
    table = list(csv.reader(draws.read_text().splitlines()))
    assert len(table) == 5001 and table[0] == ["draw", *rows[0][1:]]  # one row per draw, same columns
    column = table[0].index("total_tco2e [t]")
    assert np.array_equal(np.array([float(r[column]) for r in table[1:]], np.float32), ds["total_tco2e"].values)


def test_run_csv_draws_refuses_a_streamed_run(tmp_path, capsys):
    assert main(["run", "gpt3_175b", "--stream", "--csv-draws", str(tmp_path / "d.csv")]) == 2
    assert "--csv-draws" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [
    ["run", "gpt3_175b", "--draws", "2000"],
    ["check", "gpt3_175b", "--draws", "2000"],
    ["compare", "gpt3_175b", "bloom_176b", "--draws", "2000"],
    ["sensitivity", "gpt3_175b", "--base-draws", "256", "--resamples", "10"],
    ["scaling", "--draws", "64", "--parameters", "1e9,2e9", "--hardware", "a100_80gb"],
])
def test_priors_flag_reaches_every_command(command, capsys):
    # an overlay that is not a directory is refused by each command, which shows the flag reaches the loader
    assert main([*command, "--priors", str(OVERLAYS / "no_such_dir"), "--json"]) == 2
    assert "priors overlay is not a directory" in capsys.readouterr().err


FRANCE = """
[run]
name = "a run in France"
hardware = "a100_80gb"
device_hours = 10000
region = "france"
datacenter = "hyperscale"
"""


def test_priors_flag_changes_the_numbers(write_toml, capsys):
    # the `site` overlay sets France's grid to a median of 32 g/kWh (bundled: 56)
    path = str(write_toml(FRANCE))
    assert main(["run", path, "--draws", "4000", "--json"]) == 0
    bundled = json.loads(capsys.readouterr().out)
    assert main(["run", path, "--draws", "4000", "--json", "--priors", str(OVERLAYS / "site")]) == 0
    overlaid = json.loads(capsys.readouterr().out)
    assert overlaid["energy_mwh"] == bundled["energy_mwh"]
    assert overlaid["operational_tco2e"]["median"] < 0.8 * bundled["operational_tco2e"]["median"]
