"""`carbon-mc import` writes a scenario that uses the measurement ([measured]); --as-claim only checks it."""

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from carbon_mc import estimate, load_scenario
from carbon_mc.cli import main

ROOT = Path(__file__).resolve().parents[1]
CC2 = ROOT / "examples" / "codecarbon" / "emissions.csv"  # CodeCarbon 2.3.4, two 8 x A100 runs of 24 h
CC3 = ROOT / "examples" / "codecarbon" / "emissions_3x.csv"  # CodeCarbon 3.x header, one 8 x H100 run of 10 h, two flushes
SMI = ROOT / "examples" / "power" / "nvidia-smi.csv"
N = 10_000


def imported(tmp_path, *argv) -> dict:
    out = tmp_path / "s.toml"
    assert main(["import", *argv, "-o", str(out), "--force"]) == 0
    return tomllib.loads(out.read_text())


_DRAWS: dict[str, object] = {}


def widths(path, names):
    """Relative 90% widths of `names` and the draws; a scenario of the same text is drawn once per module."""
    text = Path(path).read_text()
    if text not in _DRAWS:
        _DRAWS[text] = estimate(load_scenario(path), num_draws=N, seed=5, method="mc")
    ds = _DRAWS[text]
    return {n: float(np.subtract(*np.quantile(ds[n], [0.95, 0.05])) / np.median(ds[n])) for n in names}, ds


def test_a_codecarbon_3x_file_is_imported_as_the_runs_input(tmp_path):
    doc = imported(tmp_path, "codecarbon", str(CC3))
    assert doc["run"]["hardware"] == "h100_sxm" and doc["run"]["device_hours"] == 80.0 and doc["run"]["devices"] == 8
    measured = doc["measured"]
    assert measured["scope"] == "codecarbon" and measured["modelled"] == ["cpu", "ram"]
    assert (measured["cpu_kwh"], measured["gpu_kwh"], measured["ram_kwh"]) == (1.65, 43.2, 0.96)  # the last flush
    assert doc["reported"]["energy_scope"] == "codecarbon" and doc["reported"]["energy_mwh"] == pytest.approx(0.04581)


@pytest.mark.parametrize("source, extra, kwh", [(CC2, ["--merge", "--datacenter", "hpc"], 146.8944), (CC3, [], 45.81)])
def test_the_interval_on_the_measurements_scope_holds_it_and_facility_widens_only_by_what_it_leaves_out(tmp_path, source,
                                                                                                       extra, kwh):
    names = ("codecarbon_energy_mwh", "energy_mwh", "total_tco2e")
    used, claim = tmp_path / "used.toml", tmp_path / "claim.toml"
    assert main(["import", "codecarbon", str(source), *extra, "-o", str(used)]) == 0
    assert main(["import", "codecarbon", str(source), *extra, "--as-claim", "-o", str(claim)]) == 0
    w_used, ds = widths(used, names)
    w_claim, _ = widths(claim, names)
    q5, q95 = np.quantile(ds["codecarbon_energy_mwh"], [0.05, 0.95])
    assert q5 < kwh / 1000 < q95
    assert w_used["energy_mwh"] < w_claim["energy_mwh"] / 1.5 and w_used["total_tco2e"] <= w_claim["total_tco2e"]


def test_a_power_log_of_part_of_the_run_is_placed_in_the_whole_run(tmp_path):
    doc = imported(tmp_path, "power-log", str(SMI), "--region", "france", "--datacenter", "hyperscale", "--run-devices", "32",
                   "--run-hours", "240")
    measured = doc["measured"]
    assert doc["run"]["devices"] == 32 and doc["run"]["device_hours"] == pytest.approx(32 * 240)
    assert measured["scope"] == "accelerator" and measured["measured_devices"] == 4
    assert measured["measured_hours"] == pytest.approx(3.0, rel=1e-3)
    assert "reported" not in doc and "claims" not in doc  # the log is not the whole run's energy
    run = load_scenario(tmp_path / "s.toml")
    assert run.measured is not None and run.measured.partial


def test_a_codecarbon_file_of_one_node_is_placed_in_the_whole_run(tmp_path):
    """8 of 64 GPUs for 10 of 100 hours: the whole run's CodeCarbon-scope energy is drawn around 80 x the
    measurement (its scale-up), wider than the measurement's own meter error."""
    doc = imported(tmp_path, "codecarbon", str(CC3), "--run-devices", "64", "--run-hours", "100")
    assert doc["measured"]["measured_devices"] == 8 and doc["measured"]["measured_hours"] == 10.0
    assert doc["run"]["device_hours"] == 6400.0 and "reported" not in doc
    ds = estimate(load_scenario(tmp_path / "s.toml"), num_draws=N, seed=5, method="mc")
    q5, q50, q95 = np.quantile(ds["codecarbon_energy_mwh"], [0.05, 0.5, 0.95])
    assert q5 < 45.81 * 80 / 1000 < q95
    _, full = widths(imported_path(tmp_path, "codecarbon", str(CC3)), ["codecarbon_energy_mwh"])
    f5, f50, f95 = np.quantile(full["codecarbon_energy_mwh"], [0.05, 0.5, 0.95])
    assert (q95 - q5) / q50 > 1.5 * (f95 - f5) / f50


def imported_path(tmp_path, *argv) -> Path:
    out = tmp_path / "full.toml"
    assert main(["import", *argv, "-o", str(out), "--force"]) == 0
    return out


@pytest.mark.parametrize("argv, needles", [
    (["power-log", str(SMI), "--region", "france", "--pue", "1.1", "--run-devices", "2"], ["--run-devices 2", "4 devices"]),
    (["power-log", str(SMI), "--region", "france", "--pue", "1.1", "--run-hours", "1"], ["--run-hours 1"]),
    (["power-log", str(SMI), "--region", "france", "--pue", "1.1", "--run-devices", "8", "--as-claim"], ["drop --as-claim"]),
    (["power-log", str(SMI), "--region", "france", "--pue", "1.1", "--fix-power-fraction"], ["with --as-claim"]),
    (["codecarbon", str(CC2), "--datacenter", "hpc", "--run-hours", "100"], ["holds 2 runs", "--run-id", "--merge"]),
])
def test_a_placement_that_cannot_be_is_one_line_and_nothing_written(tmp_path, capsys, argv, needles):
    out = tmp_path / "s.toml"
    assert main(["import", *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    assert not out.exists()


def _hostile(tmp_path, kind):
    lines = (CC3 if kind != "duplicated" and kind != "negative power" else SMI).read_text().splitlines(keepends=True)
    if kind == "utf-16":
        return "codecarbon", (tmp_path / "e.csv", "".join(lines).encode("utf-16"))
    if kind == "truncated":
        return "codecarbon", (tmp_path / "e.csv", "".join(lines)[:700].encode())
    if kind == "negative energy":
        return "codecarbon", (tmp_path / "e.csv", (lines[0] + lines[2].replace(",43.2,", ",-43.2,")).encode())
    if kind == "duplicated":
        return "power-log", (tmp_path / "p.csv", "".join([*lines[:3], lines[2], *lines[3:]]).encode())
    text = "".join(lines).replace(", 600.56 W", ", -600.56 W")
    return "power-log", (tmp_path / "p.csv", text.encode())


@pytest.mark.parametrize("kind, needle", [("utf-16", None), ("truncated", "truncated"), ("negative energy", "gpu_energy"),
                                          ("duplicated", "repeats"), ("negative power", ">= 0")])
def test_hostile_measurement_files_give_a_correct_scenario_or_one_error(tmp_path, capsys, kind, needle):
    tool, (path, data) = _hostile(tmp_path, kind)
    path.write_bytes(data)
    out = tmp_path / "s.toml"
    extra = ["--region", "france", "--pue", "1.1"] if tool == "power-log" else []
    code = main(["import", tool, str(path), *extra, "-o", str(out)])
    err = capsys.readouterr().err
    if needle is None:  # a UTF-16 file is read as its text: the same scenario as the UTF-8 one
        assert code == 0 and tomllib.loads(out.read_text())["measured"]["gpu_kwh"] == 43.2
    else:
        assert code == 2 and needle in err and not out.exists(), err


def test_import_json_says_how_the_measurement_is_used(tmp_path, capsys):
    assert main(["import", "codecarbon", str(CC3), "-o", str(tmp_path / "a.toml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["use"] == "input"
    assert main(["import", "codecarbon", str(CC3), "-o", str(tmp_path / "b.toml"), "--json", "--as-claim"]) == 0
    assert json.loads(capsys.readouterr().out)["use"] == "claim"


def test_a_huge_measurement_file_is_refused_before_it_is_read(tmp_path, capsys, monkeypatch):
    from carbon_mc.ingest import tables

    monkeypatch.setattr(tables, "MAX_FILE_BYTES", 1000)  # the bound, scaled down: the file is 55 kB
    out = tmp_path / "s.toml"
    assert main(["import", "power-log", str(SMI), "--region", "france", "--pue", "1.1", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "GiB a measurement file may be" in err and not out.exists(), err
