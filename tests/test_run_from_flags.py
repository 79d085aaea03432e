"""A run from a few flags, validated exactly as its TOML, with --save writing the equivalent file."""

import json

import pytest

from carbon_mc.cli import main

FLAGS = ["--hardware", "h100_sxm", "--devices", "64", "--days", "10", "--region", "Spain", "--datacenter", "hyperscale"]
TOML = """[run]
name = "h100_sxm run from flags"
hardware = "h100_sxm"
devices = 64
days = 10.0
region = "Spain"
datacenter = "hyperscale"
"""


def json_of(capsys, argv):
    assert main(argv) == 0, argv
    return json.loads(capsys.readouterr().out)


def test_flags_give_the_numbers_of_the_equivalent_toml(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text(TOML)
    from_flags = json_of(capsys, ["run", *FLAGS, "--draws", "20000", "--json"])
    from_file = json_of(capsys, ["run", str(path), "--draws", "20000", "--json"])
    assert from_flags == from_file


def test_save_writes_the_scenario_the_flags_describe(tmp_path, capsys):
    saved = tmp_path / "saved.toml"
    first = json_of(capsys, ["run", *FLAGS, "--draws", "20000", "--json", "--save", str(saved)])
    assert json_of(capsys, ["run", str(saved), "--draws", "20000", "--json"]) == first


def test_hours_and_check_and_sensitivity_take_flags(capsys):
    a = json_of(capsys, ["run", "--hardware", "NVIDIA L4", "--devices", "2", "--hours", "48", "--region", "US-CA",
                         "--pue", "1.4", "--draws", "8192", "--json"])
    b = json_of(capsys, ["run", "--hardware", "l4", "--devices", "2", "--days", "2", "--region", "california",
                         "--pue", "1.4", "--draws", "8192", "--json"])
    a.pop("draws"), b.pop("draws")  # how it was drawn names the run, whose name follows the flags
    assert a == b
    out = json_of(capsys, ["check", *FLAGS, "--claim", "10", "--unit", "t", "--draws", "8192", "--json"])
    assert 0 <= out["checks"][0]["percentile"] <= 100
    out = json_of(capsys, ["sensitivity", *FLAGS, "--base-draws", "256", "--json"])
    assert out["indices"]


@pytest.mark.parametrize("argv,needle", [
    (["run"], "give a scenario FILE"),
    (["run", "gpt3_175b", "--devices", "4"], "not both"),
    (["run", "--hardware", "h100_sxm", "--devices", "8", "--days", "1", "--hours", "3", "--region", "Spain", "--pue", "1.2"],
     "--days or --hours"),
    (["run", "--hardware", "h100_sxm", "--devices", "-8", "--days", "1", "--region", "Spain", "--pue", "1.2"], "run.devices"),
    (["run", "--hardware", "h100_sxm", "--devices", "8", "--days", "1", "--region", "Atlantis", "--pue", "1.2"],
     "unknown place 'Atlantis'"),
    (["run", "--hardware", "h100_sxm", "--devices", "8", "--days", "1e9", "--region", "Spain", "--pue", "1.2"],
     "physical range of days"),
])
def test_bad_flags_are_one_clear_error(tmp_path, capsys, argv, needle):
    assert main([*argv, "--save", str(tmp_path / "x.toml")] if len(argv) > 3 else argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.toml").exists()
