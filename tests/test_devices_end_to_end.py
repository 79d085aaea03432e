"""Every device of the catalogue trains and serves, through the library and the command line."""

from __future__ import annotations

import json
import math

import pytest

from carbon_mc import load_priors, run_scenario
from carbon_mc.cli import main
from carbon_mc.scenarios import parse_scenario, parse_serving_scenario

TABLE = load_priors()
DEVICES = sorted(TABLE.hardware)


def training(hardware: str):
    return parse_scenario({"run": {"name": f"train on {hardware}", "hardware": hardware, "devices": 16, "days": 3,
                                   "region": "Spain", "year": 2024, "datacenter": "hyperscale"}}, table=TABLE)


def serving(hardware: str):
    spec = TABLE.hardware[hardware]
    parameters = 8e9
    per_replica = max(1, math.ceil(2 * parameters / 1e9 / (0.8 * spec["memory_gb"])))  # bf16 weights fit with room
    return parse_serving_scenario({"serving": {
        "name": f"serve on {hardware}", "model": "m", "parameters": parameters, "hardware": hardware,
        "devices_per_replica": per_replica, "replicas": 2, "batch": 8, "days": 30, "requests_per_day": 2e5,
        "region": "us-east-1", "datacenter": "hyperscale"}}, table=TABLE)


def assert_physical(result):
    for name, stats in result.stats.items():
        assert math.isfinite(stats["median"]) and stats["p5"] >= 0 and stats["p95"] >= stats["p5"], (name, stats)


def one_per_class() -> list[str]:
    """One device for each combination of power, MFU and server class: the draws of two devices of one
    combination differ only in datasheet constants, which the parse of every device checks."""
    seen: dict[tuple, str] = {}
    for key in DEVICES:
        spec = TABLE.hardware[key]
        seen.setdefault((spec["power_class"], spec["mfu_class"], spec["server_class"]), key)
    return sorted(seen.values())


@pytest.mark.parametrize("hardware", DEVICES)
def test_every_device_parses_as_a_training_run_and_a_deployment(hardware):
    run, deployment = training(hardware), serving(hardware)
    assert run.hardware == deployment.hardware == hardware
    for scenario in (run, deployment):
        priors = scenario.resolve_priors(TABLE)
        assert all(prior.units for prior in priors.values())


@pytest.mark.parametrize("hardware", one_per_class())
def test_every_class_of_device_trains_and_serves(hardware):
    assert_physical(run_scenario(training(hardware), num_draws=512, seed=0))
    assert_physical(run_scenario(serving(hardware), num_draws=512, seed=0))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


TRAIN_TOML = """[run]
name = "fine-tune on {hw}"
hardware = "{hw}"
devices = 8
days = 2
region = "California"
year = 2024
datacenter = "hyperscale"

[[claims]]
label = "the card"
value = 0.5
unit = "t"
quantity = "total_tco2e"
source = "test"
"""
SERVE_TOML = """[serving]
name = "serve on {hw}"
model = "m"
parameters = 8e9
hardware = "{hw}"
devices_per_replica = {n}
replicas = 1
batch = 8
days = 30
requests_per_day = 1e5
region = "eastus"
datacenter = "hyperscale"

[[claims]]
label = "per request"
value = 1.0
unit = "Wh"
quantity = "energy_wh_per_request"
source = "test"
"""


@pytest.mark.parametrize("hardware", ["l4", "gaudi2", "tpu_v6e"])
def test_new_devices_through_every_command(tmp_path, capsys, hardware):
    n = serving(hardware).devices_per_replica
    train = write(tmp_path, "train.toml", TRAIN_TOML.format(hw=hardware))
    serve = write(tmp_path, "serve.toml", SERVE_TOML.format(hw=hardware, n=int(n)))
    other = write(tmp_path, "other.toml", TRAIN_TOML.format(hw="h100_sxm"))
    for argv in (["run", train, "--draws", "2048", "--json"], ["run", serve, "--draws", "2048", "--json"],
                 ["check", train, "--draws", "2048", "--json"], ["check", serve, "--draws", "2048", "--json"],
                 ["compare", other, train, "--draws", "2048", "--json"],
                 ["sensitivity", serve, "--base-draws", "256", "--json"]):
        assert main(argv) == 0, argv
        out = json.loads(capsys.readouterr().out)
        assert out, argv
    html = tmp_path / "report.html"
    assert main(["report", train, "--draws", "2048", "--html", str(html)]) == 0
    assert hardware in html.read_text() or TABLE.hardware[hardware]["name"] in html.read_text()


def test_a_cpu_only_codecarbon_file_imports_and_runs_without_a_gpu(tmp_path, capsys):
    """A CodeCarbon emissions.csv of a CPU-only job (CodeCarbon 2.3.4's columns, gpu_count 0 and no GPU energy;
    written by hand in its format) becomes a run on CPU sockets, sized from its logical CPUs."""
    import tomllib
    from pathlib import Path

    src = Path(__file__).parent / "data" / "ingest" / "codecarbon_cpu_only.csv"
    out = tmp_path / "cpu.toml"
    assert main(["import", "codecarbon", str(src), "--datacenter", "enterprise_on_premises", "-o", str(out)]) == 0
    run = tomllib.loads(out.read_text())["run"]
    assert run["hardware"] == "amd_epyc_7763" and run["devices"] == 1 and run["device_hours"] == 2.0
    assert "gpu" not in out.read_text().split("[run]")[1].lower()
    capsys.readouterr()
    assert main(["run", str(out), "--draws", "4096", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["energy_mwh"]["median"] > 0 and result["reported"]["it_energy_mwh"]["value"] == 0.0003745
    # --devices overrides the socket count (e.g. SMT off: 128 logical CPUs on two 64-core sockets)
    assert main(["import", "codecarbon", str(src), "--datacenter", "enterprise_on_premises", "--devices", "2",
                 "-o", str(out), "--force"]) == 0
    run = tomllib.loads(out.read_text())["run"]
    assert run["devices"] == 2 and run["device_hours"] == 4.0
