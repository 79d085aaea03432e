"""What a command loads and caches: help without the library, a default run without SciPy's stats,
NumPyro or xarray, and a second run that compiles nothing new. Behaviour only; the times are in
benchmarks/bench_latency.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("jax", "numpyro", "xarray", "scipy", "matplotlib")


def _modules_after(code: str, env=None) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=300, check=True, env=env, cwd=REPO)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["check", "--help"], ["sensitivity", "--help"],
                                  ["scaling", "--help"], ["lifecycle", "--help"], ["report", "--help"], ["calibrate", "--help"], ["list", "--help"], ["import", "--help"]])
def test_help_imports_nothing_heavy(argv):
    code = f"import contextlib, io\nfrom carbon_mc.cli import main\ntry:\n    with contextlib.redirect_stdout(io.StringIO()):\n        main({argv!r})\nexcept SystemExit:\n    pass"
    loaded = _modules_after(code)
    assert not [m for m in HEAVY if m in loaded], argv


def test_default_run_loads_neither_numpyro_nor_xarray_nor_scipy_stats(tmp_path):
    env = {**os.environ, "CARBON_MC_CACHE_DIR": str(tmp_path)}
    code = "import contextlib, io\nfrom carbon_mc.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n    assert main(['run', 'gpt3_175b', '--json']) == 0"
    loaded = _modules_after(code, env)
    assert "jax" in loaded
    assert not {"numpyro", "xarray", "scipy.stats"} & loaded


def test_second_run_compiles_nothing_new(tmp_path):
    env = {**os.environ, "CARBON_MC_CACHE_DIR": str(tmp_path / "cache")}
    run = [sys.executable, "-m", "carbon_mc.cli", "run", "llama_65b", "--json", "--draws", "20000"]
    first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=300, check=True).stdout
    entries = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())
    second = subprocess.run(run, env=env, capture_output=True, text=True, timeout=300, check=True).stdout
    assert entries and sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()) == entries
    assert first == second
    off = subprocess.run(run, env={**env, "CARBON_MC_COMPILATION_CACHE": "0", "CARBON_MC_CACHE_DIR": str(tmp_path / "off")},
                         capture_output=True, text=True, timeout=300, check=True).stdout
    assert off == first and not (tmp_path / "off").exists()
    cleared = subprocess.run([sys.executable, "-m", "carbon_mc.cli", "cache", "--clear", "--json"], env=env,
                             capture_output=True, text=True, timeout=60, check=True).stdout
    info = json.loads(cleared)
    assert info["removed_files"] == len(entries) and info["files"] == 0


def test_the_numpy_contestant_agrees_with_the_engine(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_latency
        import numpy_script
    finally:
        sys.path.pop(0)
    import carbon_mc

    spec = tmp_path / "spec.json"
    n = 200_000
    for scenario in ("gpt3_175b", "llama_65b"):
        bench_latency._spec(scenario, spec)
        ref = numpy_script.main(str(spec), n, seed=1)
        ours = carbon_mc.summarize(carbon_mc.estimate(scenario, num_draws=n, seed=1), list(ref))
        for k, r in ref.items():
            # two independent estimates of the median, each with SE ~ 1.2533 sd / sqrt(n): 5 SE of their difference
            tol = 5 * 1.2533 * r["sd"] * (2 / n) ** 0.5
            assert abs(r["median"] - float(ours[k].sel(stat="median"))) < tol, (scenario, k)
