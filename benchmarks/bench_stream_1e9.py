"""Benchmark: 10^9 draws streamed in bounded memory, peak resident memory measured.

Runs `carbon_mc.sampling.stream_summary` on 10^9 draws of a bundled scenario (headline outputs, or
every variable with --all) and reports the wall time, draws per second and the process's peak
resident set size from ``resource.getrusage`` (ru_maxrss, which includes the Python interpreter,
JAX and XLA themselves; the baseline after importing and compiling is reported too). Prints one
JSON object.

    python benchmarks/bench_stream_1e9.py [--scenario llama_65b] [--draws 1e9] [--all]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    return kb / 1024.0 if sys.platform != "darwin" else kb / 2**20


def current_rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="llama_65b")
    parser.add_argument("--draws", type=float, default=1e9)
    parser.add_argument("--method", choices=("mc", "qmc"), default="mc")
    parser.add_argument("--all", action="store_true", help="summarize every output and drawn input, not just the headline")
    args = parser.parse_args()
    n = int(args.draws)

    from carbon_mc.sampling.benchmark import machine
    from carbon_mc.sampling import build_simulator, stream_summary
    from carbon_mc.footprint import HEADLINE

    variables = None if args.all else list(HEADLINE)
    model = build_simulator(args.scenario)
    stream_summary(model, num_draws=1 << 20, seed=2, method=args.method, variables=variables).to_dataset()  # compile
    baseline = {"peak_rss_mb": peak_rss_mb(), "rss_mb": current_rss_mb()}
    done = []
    t = time.perf_counter()
    summary = stream_summary(model, num_draws=n, seed=2, method=args.method, variables=variables,
                             progress=lambda d, total: done.append((d, time.perf_counter() - t)))
    ds = summary.to_dataset()
    seconds = time.perf_counter() - t
    total = ds["total_tco2e"]
    result = {
        "scenario": args.scenario,
        "num_draws": n,
        "method": args.method,
        "variables": len(ds.data_vars),
        "seconds": seconds,
        "draws_per_s": n / seconds,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_after_compile": baseline,
        "histogram_bins": {k: int(ds[k].attrs["histogram_bins"]) for k in ds.data_vars if "histogram_bins" in ds[k].attrs},
        "total_tco2e": {k: float(total.sel(stat=k)) for k in ("mean", "sd", "median", "p5", "p95", "p2_5", "p97_5", "hdi90_lower", "hdi90_upper")},
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
