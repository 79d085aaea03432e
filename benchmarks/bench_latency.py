"""Benchmark: how long a user waits, each command timed as a whole process (start-up included).

Contestants, each run --repeats times, alternating, median wall time reported:
- ``carbon-mc --help`` and ``carbon-mc run --help``;
- the import floor: ``python -c "import jax, jax.numpy, numpy"`` (what a run truly needs to import);
- ``carbon-mc run SCENARIO --json`` at the default draws: first run with an empty compilation cache,
  then warm (the cache filled by the first);
- the plain-NumPy script (benchmarks/numpy_script.py: default_rng, float64, exact summaries) at the
  same draws;
- with --large, both at 10^8 draws;
- with --sensitivity, ``carbon-mc sensitivity`` at 2^16 base draws and 1,000 bootstrap resamples
  against SALib's pipeline on the same model (benchmarks/salib_pipeline.py).
Prints a table and one JSON object (with the machine's load average).

    python benchmarks/bench_latency.py [--scenario gpt3_175b] [--repeats 5] [--large] [--sensitivity]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _spec(scenario: str, path: Path) -> None:
    """The scenario's drawn priors, fixed inputs and run constants, as the NumPy script reads them."""
    from carbon_mc.sampling import build_simulator

    sim = build_simulator(scenario)
    r = sim.run
    unsupported = [n for n in sim.stochastic if sim.priors[n].family not in ("uniform", "normal", "lognormal", "triangular", "truncated_normal")]
    if unsupported or r.target_loss is not None or r.compute_budget_flop is not None or r.grid_basis != "location":
        raise SystemExit(f"the NumPy script does not cover {scenario}: {unsupported or 'its run description'}")
    spec = {
        "priors": {n: (sim.priors[n].family, dict(sim.priors[n].spec)) for n in sim.stochastic},
        "fixed": sim.fixed,
        "run": {k: getattr(r, k) for k in ("device_hours", "train_flops", "parameters", "tokens", "peak_flop_per_s", "tdp_w",
                                            "devices_per_server", "pue_included")},
    }
    path.write_text(json.dumps(spec))


def _wall(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="gpt3_175b")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--large", action="store_true", help="also 10^8 draws")
    ap.add_argument("--sensitivity", action="store_true",
                    help="also carbon-mc sensitivity at 2^16 base draws against SALib's sample + the NumPy model + analyze")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="carbon-mc-latency-"))
    spec = tmp / "spec.json"
    _spec(args.scenario, spec)
    env = {**os.environ, "CARBON_MC_CACHE_DIR": str(tmp / "cache")}
    py = sys.executable
    cli = [py, "-m", "carbon_mc.cli"]
    contestants = {
        "carbon-mc --help": cli + ["--help"],
        "carbon-mc run --help": cli + ["run", "--help"],
        "import floor (jax, numpy)": [py, "-c", "import jax, jax.numpy, numpy"],
        "carbon-mc run (warm cache)": cli + ["run", args.scenario, "--json"],
        "NumPy script": [py, str(HERE / "numpy_script.py"), str(spec), "100000"],
    }
    first = _wall(cli + ["run", args.scenario, "--json"], env)  # empty cache: compiles and fills it
    times = {k: [] for k in contestants}
    for _ in range(args.repeats):
        for k, cmd in contestants.items():
            times[k].append(_wall(cmd, env))
    result = {"scenario": args.scenario, "draws": 100_000, "repeats": args.repeats, "load_average": os.getloadavg(),
              "first_run_empty_cache_s": first, "median_s": {k: statistics.median(v) for k, v in times.items()}}
    m = result["median_s"]
    result["run_over_numpy"] = m["carbon-mc run (warm cache)"] / m["NumPy script"]
    result["run_minus_import_floor_s"] = m["carbon-mc run (warm cache)"] - m["import floor (jax, numpy)"]
    if args.large:
        big = {"carbon-mc run 1e8": cli + ["run", args.scenario, "--draws", "1e8", "--json"],
               "NumPy script 1e8": [py, str(HERE / "numpy_script.py"), str(spec), "1e8"]}
        result["large_s"] = {k: min(_wall(c, env) for _ in range(2)) for k, c in big.items()}
        result["large_numpy_over_run"] = result["large_s"]["NumPy script 1e8"] / result["large_s"]["carbon-mc run 1e8"]
    if args.sensitivity:
        sens = {"carbon-mc sensitivity 2^16": cli + ["sensitivity", args.scenario, "--base-draws", "65536", "--json"],
                "SALib sample + NumPy model + analyze 2^16": [py, str(HERE / "salib_pipeline.py"), str(spec), "65536", "1000"]}
        result["sensitivity_s"] = {k: _wall(c, env) for k, c in sens.items()}
        s = result["sensitivity_s"]
        result["salib_over_carbon_mc"] = s["SALib sample + NumPy model + analyze 2^16"] / s["carbon-mc sensitivity 2^16"]
    for k, v in m.items():
        print(f"{k:32s} {v:7.3f} s")
    print(f"{'first run, empty cache':32s} {first:7.3f} s")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
