"""The new devices (accelerators_more.toml and the CPU classes of accelerators_cpu.toml) through every command,
as a training run and as a deployment: run, check, compare, sensitivity, report.

Each device's scenarios compile their own kernel (the datasheet constants are part of it), about 10 s per device
on a 2-core machine for the whole command set (15 s of CPU time), so the default run takes one device whose host
class no other end-to-end test covers (a CPU class; tests/test_devices_end_to_end.py takes l4, gaudi2 and tpu_v6e,
and its one-per-class test runs every class combination); CARBON_MC_EVERY_DEVICE=1 runs all 39, as CI
does (.ci/run, after the README's test command).
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path

import pytest

from carbon_mc import load_priors
from carbon_mc.cli import main

ROOT = Path(__file__).resolve().parents[1]
TABLE = load_priors(use_env=False)
NEW = sorted(k for f in ("accelerators_more.toml", "accelerators_cpu.toml")
             for k in tomllib.loads((ROOT / "priors" / f).read_text())["hardware"])
DEVICES = NEW if os.environ.get("CARBON_MC_EVERY_DEVICE") == "1" else ["cpu_xeon_amx_large"]
DRAWS = ["--draws", "256"]

TRAIN = """[run]
name = "fine-tune on {hw}"
hardware = "{hw}"
devices = {n}
days = 2
region = "Germany"
year = 2024
datacenter = "{dc}"

[[claims]]
label = "a figure"
value = 0.5
unit = "t"
quantity = "total_tco2e"
source = "test"
"""
SERVE = """[serving]
name = "serve on {hw}"
parameters = 8e9
hardware = "{hw}"
devices_per_replica = {n}
replicas = 1
batch = 8
days = 30
requests_per_day = 1e5
region = "Germany"
datacenter = "{dc}"

[[claims]]
label = "per request"
value = 1.0
unit = "Wh"
quantity = "energy_wh_per_request"
source = "test"
"""


def files(tmp_path: Path, hw: str) -> tuple[str, str]:
    spec = TABLE.hardware[hw]
    per_replica = max(1, math.ceil(2 * 8e9 / 1e9 / (0.8 * spec["memory_gb"])))  # bf16 weights fit with room
    dc = "enterprise_on_premises" if spec["server_class"] == "workstation" else "hyperscale"
    train, serve = tmp_path / f"train_{hw}.toml", tmp_path / f"serve_{hw}.toml"
    train.write_text(TRAIN.format(hw=hw, n=min(8, spec["devices_per_server"]), dc=dc))
    serve.write_text(SERVE.format(hw=hw, n=per_replica, dc=dc))
    return str(train), str(serve)


@pytest.mark.parametrize("hardware", DEVICES)
def test_every_command_trains_and_serves_on_the_device(tmp_path, capsys, hardware):
    train, serve = files(tmp_path, hardware)
    base_train, base_serve = files(tmp_path, "h100_sxm")
    for argv in (["run", train, *DRAWS, "--json"], ["run", serve, *DRAWS, "--json"],
                 ["check", train, *DRAWS, "--json"], ["check", serve, *DRAWS, "--json"],
                 ["compare", base_train, train, *DRAWS, "--json"], ["compare", base_serve, serve, *DRAWS, "--json"],
                 ["sensitivity", train, "--base-draws", "64", "--json"], ["sensitivity", serve, "--base-draws", "64", "--json"]):
        assert main(argv) == 0, argv
        out = json.loads(capsys.readouterr().out)
        assert out, argv
        if argv[0] == "run":
            medians = [v["median"] for v in out.values() if isinstance(v, dict) and "median" in v]
            assert medians and all(math.isfinite(m) and m >= 0 for m in medians), argv
    html = tmp_path / "report.html"
    assert main(["report", train, serve, *DRAWS, "--base-draws", "64", "--html", str(html)]) == 0
    text = html.read_text()
    assert f"fine-tune on {hardware}" in text and f"serve on {hardware}" in text
