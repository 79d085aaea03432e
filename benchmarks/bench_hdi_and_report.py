"""Benchmark: ArviZ's HDI against the former hand-written one, and the time of `carbon-mc report`.

1. The 90% HDI of 10^6 float32 draws (lognormal, normal, gamma): the sorted-window search that
   `carbon_mc.results.statistics.hdi` used before, and ArviZ's (`arviz.hdi`), which it now calls; both
   intervals are printed, so their agreement is seen, with the best of 7 timings.
2. `carbon-mc report SCENARIO --html ...` end to end (a fresh process: imports, draws, checks,
   Sobol' indices, figures, page), best of `--repeats`.

    python benchmarks/bench_hdi_and_report.py [--scenario bloom_176b] [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def best(fn, repeats=7):
    fn()
    out, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        out = min(out, time.perf_counter() - t)
    return result, out


def sorted_window_hdi(values, prob=0.9):
    """The former `carbon_mc.results.statistics.hdi`: sort in float64, narrowest window of floor(prob n) draws."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    k = int(np.floor(prob * x.size))
    i = int(np.argmin(x[k:] - x[: x.size - k]))
    return float(x[i]), float(x[i + k])


def bench_hdi(n: int) -> None:
    from carbon_mc.results.statistics import hdi

    rng = np.random.default_rng(0)
    samples = {"lognormal": rng.lognormal(6, 0.3, n), "normal": rng.normal(600, 90, n), "gamma": rng.gamma(2.0, 30.0, n)}
    print(f"90% HDI of {n:,} float32 draws (best of 7)")
    for name, x in samples.items():
        x = x.astype(np.float32)
        old, t_old = best(lambda x=x: sorted_window_hdi(x))
        new, t_new = best(lambda x=x: hdi(x, 0.9))
        print(f"  {name:9s} hand-written {old[0]:.6g}-{old[1]:.6g} in {t_old * 1e3:6.1f} ms; "
              f"ArviZ {new[0]:.6g}-{new[1]:.6g} in {t_new * 1e3:6.1f} ms; identical: {old == new}")


def bench_report(scenario: str, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "carbon_mc.cli", "report", scenario, "--html", str(page)], check=True,
                           capture_output=True)
            times.append(time.perf_counter() - t)
        print(f"carbon-mc report {scenario} --html: best {min(times):.1f} s, median {float(np.median(times)):.1f} s "
              f"of {repeats} runs; page {page.stat().st_size / 1024:.0f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=float, default=1e6)
    parser.add_argument("--scenario", default="bloom_176b")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bench_hdi(int(args.draws))
    bench_report(args.scenario, args.repeats)


if __name__ == "__main__":
    main()
