"""`compare` and `report` take the run flags when no FILE describes the run (as `run` and `check` do)."""

import json

import pytest

from carbon_mc.cli import main

FLAGS = ["--hardware", "h100_sxm", "--devices", "64", "--days", "10", "--region", "Spain", "--datacenter", "hyperscale"]


def test_compare_with_flags_for_a_is_compare_with_its_toml(tmp_path, capsys):
    saved, b = tmp_path / "a.toml", tmp_path / "b.toml"
    b.write_text('[run]\nname = "b"\nhardware = "h100_sxm"\ndevices = 64\ndays = 10\nregion = "Quebec"\ndatacenter = "hyperscale"\n')
    assert main(["compare", str(b), *FLAGS, "--save", str(saved), "--draws", "4000", "--json"]) == 0
    from_flags = json.loads(capsys.readouterr().out)
    assert main(["compare", str(saved), str(b), "--draws", "4000", "--json"]) == 0
    from_files = json.loads(capsys.readouterr().out)
    for key in ("a", "b", "ratio", "difference"):
        assert from_flags["summary"][key] == from_files["summary"][key]


@pytest.mark.parametrize("argv, needle", [
    (["compare", "x.toml", "y.toml", *FLAGS], "not two"),
    (["compare", *FLAGS], "give scenario B"),
    (["compare", "x.toml"], "give two scenarios"),
    (["report", "--html", "r.html"], "give a scenario FILE"),
])
def test_compare_and_report_without_enough_scenarios_are_one_error(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_report_from_flags_writes_the_page(tmp_path, capsys):
    page = tmp_path / "r.html"
    assert main(["report", *FLAGS, "--html", str(page), "--draws", "1000", "--base-draws", "16"]) == 0
    assert "h100_sxm" in page.read_text()
