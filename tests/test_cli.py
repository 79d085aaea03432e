"""The command line as a user runs it: tables, JSON, files, and one-line errors with exit code 2."""

import subprocess
import sys

import pytest

from carbon_mc.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "carbon_mc.cli", *args], capture_output=True, text=True, timeout=300)


def test_run_json_shape(cli_json):
    out = cli_json("run", "models/gpt3_175b.toml", "--draws", "20000")
    for key in ("energy_mwh", "operational_tco2e", "embodied_tco2e", "total_tco2e"):
        # the keys it always had, plus sd, the 90% HDI and the units (issue: run --json carries them)
        assert set(out[key]) == {"median", "mean", "p5", "p95", "p2_5", "p97_5", "sd", "hdi90_lower", "hdi90_upper", "units"}
        assert out[key]["p2_5"] <= out[key]["p5"] <= out[key]["median"] <= out[key]["p95"] <= out[key]["p97_5"]
    assert out["reported"]["energy_mwh"]["value"] == 1287
    assert 0 <= out["reported"]["energy_mwh"]["percentile"] <= 100
    assert "operational_tco2e" in out["reported"]


def test_run_table_and_out_file(tmp_path, capsys):
    out_file = tmp_path / "r.nc"
    assert main(["run", "models/bloom_176b.toml", "--draws", "5000", "--seed", "3", "--out", str(out_file)]) == 0
    text = capsys.readouterr().out
    assert "Total CO2e (t)" in text and "percentile" in text
    import carbon_mc

    ds = carbon_mc.load_dataset(out_file)
    assert ds.sizes["draw"] == 5000 and ds.attrs["seed"] == 3


@pytest.mark.parametrize(
    "content,needle",
    [
        ("[run\n", "malformed TOML"),
        # "h100" names three parts now (SXM, PCIe, NVL): refused, naming them
        ('[run]\nname="x"\nhardware="h100"\ndevices=8\ndays=1\nregion="france"\ndatacenter="hpc"\n', "several accelerators"),
        ('[run]\nname="x"\nhardware="h10O"\ndevices=8\ndays=1\nregion="france"\ndatacenter="hpc"\n', "did you mean"),
        ('[run]\nname="x"\nhardware="h100_sxm"\ndevices=-8\ndays=1\nregion="france"\ndatacenter="hpc"\n', "run.devices"),
    ],
)
def test_errors_are_one_line_exit_2_no_traceback_no_file(tmp_path, content, needle):
    bad = tmp_path / "bad.toml"
    bad.write_text(content)
    out_file = tmp_path / "out.nc"
    r = run_cli("run", str(bad), "--out", str(out_file), "--draws", "1000")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr and "bad.toml" in r.stderr
    assert not out_file.exists()
    assert list(tmp_path.iterdir()) == [bad]


def test_missing_file_and_bad_out_dir(tmp_path):
    r = run_cli("run", str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("run", "models/gpt3_175b.toml", "--out", str(tmp_path / "missing" / "r.nc"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_bad_draws_argument():
    r = run_cli("run", "models/gpt3_175b.toml", "--draws", "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_cli_and_python_api_share_one_default_sampler(cli_json):
    import carbon_mc
    from carbon_mc.sampling import DEFAULT_METHOD

    out = cli_json("run", "gpt3_175b", "--seed", "5", "--draws", "50000")
    ds = carbon_mc.estimate("gpt3_175b", seed=5, num_draws=50_000)
    assert ds.attrs["method"] == carbon_mc.sampling.METHOD_NAMES[DEFAULT_METHOD]
    summary = carbon_mc.summarize(ds, ["energy_mwh", "total_tco2e"])
    for name in ("energy_mwh", "total_tco2e"):
        for stat in ("median", "mean", "p5", "p95"):
            assert out[name][stat] == float(summary[name].sel(stat=stat)), (name, stat)
    streamed = carbon_mc.estimate_summary("gpt3_175b", seed=5, num_draws=50_000, variables=["energy_mwh"])
    assert streamed.attrs["method"] == ds.attrs["method"]
