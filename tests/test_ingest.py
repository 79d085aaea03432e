"""Measurements in: CodeCarbon CSVs, GPU power logs and hourly grid data, turned into scenarios."""

import csv
import json
import math
import subprocess
import sys
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from carbon_mc.cli import main
from carbon_mc.errors import CarbonMCError
from carbon_mc.ingest import annual_prior, match_hardware, read_codecarbon, read_grid_csv, read_power_log, run_prior

DATA = Path(__file__).parent / "data" / "ingest"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
UTC = timezone.utc


def cli(*args):
    return subprocess.run([sys.executable, "-m", "carbon_mc.cli", *args], capture_output=True, text=True, timeout=300)


# --- GPU names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,key", [
    ("NVIDIA A100-SXM4-80GB", "a100_80gb"), ("NVIDIA A100-SXM4-40GB", "a100_40gb"), ("NVIDIA H100 80GB HBM3", "h100_sxm"),
    ("Tesla V100-SXM2-32GB", "v100"), ("NVIDIA H200", "h200"), ("AMD Instinct MI250X", "mi250x"), ("h800", "h800"),
    # PCIe cards are parts of their own (300 W, not the 400 W SXM part), named as nvidia-smi prints them
    ("NVIDIA A100 80GB PCIe", "a100_80gb_pcie"), ("NVIDIA H100 PCIe", "h100_pcie"), ("NVIDIA GeForce RTX 3090", "rtx_3090"),
    ("Tesla T4", "t4"), ("NVIDIA L4", "l4"), ("NVIDIA GH200 480GB", "gh200"), ("NVIDIA A100-PCIE-40GB", "a100_40gb_pcie"),
])
def test_gpu_names_match_accelerators(table, name, key):
    assert match_hardware(name, table.hardware) == key


@pytest.mark.parametrize("name,needle", [
    ("NVIDIA H100 96GB SXM9", "close: h100_nvl, h100_pcie, h100_sxm (but memory or form factor differ)"),
    ("NVIDIA A100", "names several accelerators (a100_40gb, a100_40gb_pcie, a100_80gb, a100_80gb_pcie)"),
    ("NVIDIA Quadro P400", "carbon-mc list hardware"),
])
def test_unknown_or_ambiguous_gpu_is_an_error(table, name, needle):
    with pytest.raises(CarbonMCError) as info:
        match_hardware(name, table.hardware)
    assert needle in str(info.value)


# --- CodeCarbon ----------------------------------------------------------------------------------

def test_codecarbon_sums_the_last_row_of_each_run_when_merged():
    run = read_codecarbon(DATA / "codecarbon_two_nodes.csv", merge=True)
    assert run.energy_kwh == pytest.approx(73.6272 + 73.2672)  # the 12 h flush of node 1 is superseded
    assert run.device_hours == pytest.approx(2 * 8 * 24) and run.devices == 16
    assert run.energy_scope == "codecarbon" and run.pue is None and run.gpu_name == "NVIDIA A100-SXM4-80GB"
    assert run.parts_kwh == pytest.approx({"cpu": 2 * 5.04, "gpu": 59.52 + 59.16, "ram": 2 * 9.0672})
    assert run.modelled == ("cpu", "ram")
    assert run.emissions_kg == pytest.approx(0.175012 + 0.174156) and run.emissions_pue_included is False
    assert run.start == datetime(2024, 3, 4, 9, tzinfo=UTC) and run.end == datetime(2024, 3, 5, 9, tzinfo=UTC)
    one = read_codecarbon(DATA / "codecarbon_two_nodes.csv", run_ids=["b83e90d4-6a2f-4f0b-8d1e-5c7a9e4f2d30"], scope="accelerator")
    assert one.energy_kwh == pytest.approx(59.16) and one.device_hours == pytest.approx(192)


def test_codecarbon_pue_is_taken_out_of_the_energy(tmp_path):
    text = (DATA / "codecarbon_two_nodes.csv").read_text().replace(",machine,N,1.0", ",machine,N,1.2")
    (tmp_path / "e.csv").write_text(text)
    run = read_codecarbon(tmp_path / "e.csv", merge=True)
    assert run.energy_kwh == pytest.approx((73.6272 + 73.2672) / 1.2) and run.pue == 1.2 and run.emissions_pue_included
    assert main(["import", "codecarbon", str(tmp_path / "e.csv"), "--merge", "-o", str(tmp_path / "s.toml")]) == 0
    doc = tomllib.loads((tmp_path / "s.toml").read_text())
    assert doc["run"]["pue"] == 1.2 and "datacenter" not in doc["run"] and doc["claims"][0]["pue_included"] is True


def test_codecarbon_round_trip_through_check(tmp_path, capsys):
    out = tmp_path / "cc.toml"
    assert main(["import", "codecarbon", str(EXAMPLES / "codecarbon" / "emissions.csv"), "--datacenter", "hpc", "--merge",
                 "--as-claim", "-o", str(out)]) == 0
    doc = tomllib.loads(out.read_text())
    assert doc["run"]["hardware"] == "a100_80gb" and doc["run"]["region"] == "quebec" and doc["run"]["device_hours"] == 384
    assert doc["reported"] == {"energy_mwh": pytest.approx(0.1468944), "energy_scope": "codecarbon", "basis": "measured",
                               "source": "CodeCarbon 2.3.4 measurement file emissions.csv"}
    assert "measured" not in doc  # a claim only: the energy is drawn from priors
    capsys.readouterr()
    assert main(["check", str(out), "--draws", "20000", "--seed", "1", "--json"]) == 0
    checks = {c["quantity"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert set(checks) == {"operational_tco2e", "codecarbon_energy_mwh"}
    assert checks["codecarbon_energy_mwh"]["claim"]["value_in_quantity_units"] == pytest.approx(0.1468944)
    for c in checks.values():
        assert 0 <= c["percentile"] <= 100 and c["num_draws"] == 20000
    assert checks["operational_tco2e"]["accounting"]["pue_included"] is False


# --- power logs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("file,kwargs,energy_j,seconds,devices,gpu", [
    ("nvidia_smi_nounits.csv", {}, (300 + 320) * 50, 100, 2, "NVIDIA A100-SXM4-40GB"),
    ("nvidia_smi_plain_header.csv", {}, 200 * 50, 50, 1, "NVIDIA A100-SXM4-40GB"),
    ("dcgm_exporter.csv", {}, (650 + 610) * 60, 120, 2, "NVIDIA H100 80GB HBM3"),
    ("dcgmi_dmon.txt", {"interval_s": 1.0}, (400 + 500) * 3, 6, 2, None),
])
def test_power_logs_integrate_board_power(file, kwargs, energy_j, seconds, devices, gpu):
    run = read_power_log(DATA / file, **kwargs)
    assert run.energy_kwh == pytest.approx(energy_j / 3.6e6) and run.device_hours == pytest.approx(seconds / 3600)
    assert run.devices == devices and run.gpu_name == gpu and run.energy_scope == "accelerator"
    assert run.mean_device_power_w == pytest.approx(energy_j / seconds)


def test_example_power_log_round_trip_through_run(tmp_path, capsys):
    out = tmp_path / "pl.toml"
    assert main(["import", "power-log", str(EXAMPLES / "power" / "nvidia-smi.csv"), "--region", "france",
                 "--datacenter", "hyperscale", "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["hardware"] == "h100_sxm" and summary["devices"] == 4
    assert summary["device_hours"] == pytest.approx(12.0, rel=1e-4) and 0.6 < summary["power_tdp_fraction"] < 0.9
    assert main(["run", str(out), "--draws", "20000", "--seed", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    reported = result["reported"]["accelerator_energy_mwh"]
    assert reported["value"] == pytest.approx(summary["energy_kwh"] / 1000, rel=1e-6) and 0 < reported["percentile"] < 100


def test_fix_power_fraction_writes_the_measured_fraction(tmp_path):
    out = tmp_path / "pl.toml"
    assert main(["import", "power-log", str(DATA / "nvidia_smi_nounits.csv"), "--region", "france", "--pue", "1.1",
                 "--fix-power-fraction", "--as-claim", "-o", str(out)]) == 0
    fixed = tomllib.loads(out.read_text())["priors"]["accelerator_power_tdp_fraction"]
    assert fixed["distribution"] == "fixed" and fixed["params"]["value"] == pytest.approx(310 / 400)


@pytest.mark.parametrize("args,needles", [
    (["power-log", str(DATA / "nvidia_smi_missing.csv"), "--region", "france", "--pue", "1.1"],
     ["nvidia_smi_missing.csv", "row 5, column 'power.draw [W]'", "'[N/A]'"]),
    (["power-log", str(DATA / "dcgmi_dmon.txt"), "--region", "france", "--pue", "1.1", "--hardware", "h100_sxm"],
     ["dcgmi_dmon.txt", "--interval"]),
    (["power-log", str(DATA / "nvidia_smi_nounits.csv"), "--region", "france", "--pue", "1.1", "--max-gap", "5"],
     ["nvidia_smi_nounits.csv", "row 4", "more than --max-gap 5 s"]),
    (["codecarbon", str(DATA / "codecarbon_two_nodes.csv"), "--merge"], ["codecarbon_two_nodes.csv", "--datacenter"]),
    # two runs are written apart by default (tests/test_ingest_multi_run.py); one placement cannot hold both
    (["codecarbon", str(DATA / "codecarbon_two_nodes.csv"), "--datacenter", "hpc", "--run-devices", "64"],
     ["holds 2 runs", "--run-id", "--merge"]),
    (["codecarbon", str(DATA / "watttime_moer.csv"), "--datacenter", "hpc"], ["watttime_moer.csv", "missing column(s) 'timestamp'"]),
    # "fr" now resolves (an ISO country code, since places resolve as users write them): a misspelling is the unknown name
    (["power-log", str(DATA / "nvidia_smi_nounits.csv"), "--region", "frnace", "--pue", "1.1"], ["did you mean 'france'"]),
])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, args, needles):
    out = tmp_path / "s.toml"
    r = cli("import", *args, "-o", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for needle in needles:
        assert needle in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "s.toml"
    out.write_text("keep me")
    args = ["import", "power-log", str(DATA / "nvidia_smi_nounits.csv"), "--region", "france", "--pue", "1.1", "-o", str(out)]
    assert main(args) == 2 and out.read_text() == "keep me"
    assert main([*args, "--force"]) == 0 and "[reported]" in out.read_text()


# --- grid ----------------------------------------------------------------------------------------

def test_electricity_maps_window_mean_and_hourly_spread():
    path = EXAMPLES / "grid" / "electricitymaps_FR_2024-03_hourly.csv"
    with open(path, encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["Datetime (UTC)"].startswith("2024-03-02")]
    lca = np.array([float(r["Carbon Intensity gCO₂eq/kWh (LCA)"]) for r in rows])
    prior = run_prior(read_grid_csv(path), datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC))
    assert len(lca) == 24 and prior["distribution"] == "lognormal" and prior["units"] == "g/kWh"
    assert prior["params"]["median"] == pytest.approx(lca.mean(), rel=1e-5)
    assert prior["params"]["sigma"] == pytest.approx(np.log(lca).std(), rel=1e-4)  # one day: sqrt(1)
    assert "hour-to-hour" in prior["description"] and path.name in prior["source"]
    direct = run_prior(read_grid_csv(path, basis="direct"), datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC))
    assert direct["params"]["median"] < prior["params"]["median"]


def test_watttime_moer_in_lbs_per_mwh():
    series = read_grid_csv(DATA / "watttime_moer.csv")
    prior = run_prior(series, datetime(2024, 3, 4, 9, tzinfo=UTC), datetime(2024, 3, 4, 11, tzinfo=UTC))
    assert prior["params"]["median"] == pytest.approx(925 * 0.45359237, rel=1e-6)
    assert "marginal" in prior["description"]
    with pytest.raises(CarbonMCError, match="not the run's"):
        run_prior(series, datetime(2024, 3, 4, 9, tzinfo=UTC), datetime(2024, 3, 4, 13, tzinfo=UTC))


def test_year_to_year_spread_without_dates(tmp_path):
    path = tmp_path / "two_years.csv"
    t0 = datetime(2022, 1, 1)
    lines = ["Datetime (UTC),Zone Id,Carbon Intensity gCO₂eq/kWh (LCA)"]
    for h in range(int((datetime(2024, 1, 1) - t0).total_seconds() // 3600)):
        t = t0 + timedelta(hours=h)
        lines.append(f"{t:%Y-%m-%d %H:%M:%S},DE,{100.0 if t.year == 2022 else 121.0}")
    path.write_text("\n".join(lines) + "\n")
    prior = annual_prior(read_grid_csv(path))
    assert prior["params"]["median"] == pytest.approx(110.0, rel=1e-6)
    assert prior["params"]["sigma"] == pytest.approx(math.log(1.21) / math.sqrt(2), rel=1e-5)
    assert "year-to-year" in prior["description"] and prior["year"] == 2023


def test_import_grid_cli_prints_a_priors_table(capsys):
    path = EXAMPLES / "grid" / "electricitymaps_FR_2024-03_hourly.csv"
    assert main(["import", "grid", str(path), "--start", "2024-03-02T00:00", "--end", "2024-03-05T12:00"]) == 0
    doc = tomllib.loads(capsys.readouterr().out)
    prior = doc["priors"]["grid_gco2_per_kwh"]
    assert prior["distribution"] == "lognormal" and prior["units"] == "g/kWh" and prior["source"].endswith(path.name)
