"""A CodeCarbon file of several runs: one scenario per run (kept apart), all written or none."""

import tomllib
from pathlib import Path

import pytest

from carbon_mc.cli import main
from carbon_mc.ingest import read_codecarbon, read_codecarbon_runs

DATA = Path(__file__).parent / "data" / "ingest"
TWO = DATA / "codecarbon_two_nodes.csv"  # two 8 x A100 runs of 24 h (run 4f1c7a2e flushed twice)
IDS = ("4f1c7a2e-1b0d-4c1e-9a57-0d6f3c2b8e11", "b83e90d4-6a2f-4f0b-8d1e-5c7a9e4f2d30")
# each run's last row, energy_consumed in kWh (CodeCarbon pue 1.0): 5.04 + 59.52 + 9.0672 and 5.04 + 59.16 + 9.0672
KWH = {IDS[0]: 73.6272, IDS[1]: 73.2672}


def test_runs_are_read_apart_in_file_order_and_sum_to_the_merged_run():
    runs = read_codecarbon_runs(TWO)
    assert [r.run_id for r in runs] == list(IDS)
    for run in runs:
        assert run.energy_kwh == pytest.approx(KWH[run.run_id], rel=1e-12)
        assert run.device_hours == pytest.approx(8 * 24.0) and run.devices == 8 and run.project == "llm-finetune"
    merged = read_codecarbon(TWO, merge=True)
    assert merged.energy_kwh == pytest.approx(sum(r.energy_kwh for r in runs), rel=1e-12)
    assert merged.device_hours == pytest.approx(sum(r.device_hours for r in runs))


def test_import_writes_one_scenario_per_run_and_names_each(tmp_path, capsys):
    out = tmp_path / "ft.toml"
    assert main(["import", "codecarbon", str(TWO), "--datacenter", "hpc", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["ft_llm-finetune_4f1c7a2e.toml", "ft_llm-finetune_b83e90d4.toml"]  # OUT itself is not written
    for run_id in IDS:
        path = tmp_path / f"ft_llm-finetune_{run_id[:8]}.toml"
        assert f"wrote{path}" in "".join(printed.split())  # the console wraps long lines
        doc = tomllib.loads(path.read_text())
        measured = doc["measured"]
        assert sum(measured[f"{p}_kwh"] for p in ("cpu", "gpu", "ram")) == pytest.approx(KWH[run_id], rel=1e-9)
        assert doc["run"]["device_hours"] == pytest.approx(192.0) and run_id[:8] in doc["run"]["name"]
        assert doc["reported"]["energy_mwh"] == pytest.approx(KWH[run_id] / 1000, rel=1e-9)
    assert "2 runs of codecarbon_two_nodes.csv written apart" in " ".join(printed.split())


def test_run_id_picks_one_into_out_and_merge_sums_into_out(tmp_path):
    one, both = tmp_path / "one.toml", tmp_path / "both.toml"
    assert main(["import", "codecarbon", str(TWO), "--datacenter", "hpc", "--run-id", IDS[1], "-o", str(one)]) == 0
    assert main(["import", "codecarbon", str(TWO), "--datacenter", "hpc", "--merge", "-o", str(both)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["both.toml", "one.toml"]
    m1, m2 = (tomllib.loads(p.read_text())["measured"] for p in (one, both))
    assert sum(m1[f"{p}_kwh"] for p in ("cpu", "gpu", "ram")) == pytest.approx(KWH[IDS[1]], rel=1e-9)
    assert sum(m2[f"{p}_kwh"] for p in ("cpu", "gpu", "ram")) == pytest.approx(sum(KWH.values()), rel=1e-9)


def _three_runs(tmp_path, third_energy: str) -> Path:
    """The two-run file plus a third run whose energy_consumed is `third_energy` (kWh)."""
    lines = TWO.read_text().splitlines(keepends=True)
    third = lines[-1].replace(IDS[1], "c0ffee00-0000-4000-8000-000000000003").replace(",73.267200,", f",{third_energy},")
    path = tmp_path / "three.csv"
    path.write_text("".join(lines) + third)
    return path


def test_one_bad_run_writes_nothing(tmp_path, capsys):
    src = _three_runs(tmp_path, "73267.2")  # Wh written as kWh: 1000 x what its powers over its duration give
    out = tmp_path / "out" / "s.toml"
    out.parent.mkdir()
    assert main(["import", "codecarbon", str(src), "--datacenter", "hpc", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "row 5" in err and "unit slip" in err, err
    assert list(out.parent.iterdir()) == []


def test_an_existing_target_writes_nothing_and_is_kept(tmp_path, capsys):
    src = _three_runs(tmp_path, "73.267200")
    out = tmp_path / "s.toml"
    kept = tmp_path / "s_llm-finetune_c0ffee00.toml"
    kept.write_text("keep me")
    assert main(["import", "codecarbon", str(src), "--datacenter", "hpc", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "s_llm-finetune_c0ffee00.toml" in err and "--force" in err and "nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s_llm-finetune_c0ffee00.toml", "three.csv"]
    assert kept.read_text() == "keep me"
    assert main(["import", "codecarbon", str(src), "--datacenter", "hpc", "-o", str(out), "--force"]) == 0
    assert len(list(tmp_path.glob("s_*.toml"))) == 3 and "[measured]" in kept.read_text()


def test_run_ids_sharing_a_prefix_get_a_longer_one(tmp_path):
    lines = TWO.read_text().splitlines(keepends=True)
    text = "".join(lines).replace("b83e90d4-6a2f", "4f1c7a2e-ffff")  # both runs now start 4f1c7a2e-
    src = tmp_path / "same.csv"
    src.write_text(text)
    out = tmp_path / "s.toml"
    assert main(["import", "codecarbon", str(src), "--datacenter", "hpc", "-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.glob("s_*.toml")) == ["s_llm-finetune_4f1c7a2e-1.toml", "s_llm-finetune_4f1c7a2e-f.toml"]
