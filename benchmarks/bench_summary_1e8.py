"""Benchmark: 10^8 draws summarized (median, equal-tailed intervals, HDI) on the fly.

Times `carbon_mc.estimate_summary`'s engine path (`stream_summary` + `to_dataset`) for 10^8 draws
of a bundled scenario: once for the four headline outputs (what `carbon-mc run` reports) and once
for every output and drawn input (what `summarize` gives by default). JIT compilation is done in a
warm-up run and reported apart. Prints a table and one JSON object.

    python benchmarks/bench_summary_1e8.py [--scenario llama_65b] [--draws 100000000] [--method mc]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="llama_65b")
    parser.add_argument("--draws", type=float, default=1e8)
    parser.add_argument("--method", choices=("mc", "qmc"), default="mc")
    args = parser.parse_args()
    n = int(args.draws)

    from carbon_mc.sampling.benchmark import machine
    from carbon_mc.sampling import build_simulator, stream_summary
    from carbon_mc.footprint import HEADLINE

    model = build_simulator(args.scenario)
    result = {"scenario": args.scenario, "num_draws": n, "method": args.method, "machine": machine(), "runs": {}}
    for label, variables in (("headline", list(HEADLINE)), ("all_variables", None)):
        t = time.perf_counter()
        stream_summary(model, num_draws=1 << 20, seed=1, method=args.method, variables=variables).to_dataset()
        warm = time.perf_counter() - t
        t = time.perf_counter()
        ds = stream_summary(model, num_draws=n, seed=1, method=args.method, variables=variables).to_dataset()
        seconds = time.perf_counter() - t
        total = ds["total_tco2e"]
        result["runs"][label] = {
            "variables": len(ds.data_vars),
            "seconds": seconds,
            "draws_per_s": n / seconds,
            "warm_up_s_incl_compile": warm,
            "total_tco2e": {k: float(total.sel(stat=k)) for k in ("median", "p5", "p95", "hdi90_lower", "hdi90_upper")},
        }
    print(f"{args.scenario}: {n:,} draws ({args.method}), load {result['machine']['load_average']}, {result['machine']['device']}")
    for label, r in result["runs"].items():
        print(f"  {label:14s} {r['variables']:3d} variables  {r['seconds']:7.2f} s  {r['draws_per_s']:.3e} draws/s  "
              f"(warm-up with compile {r['warm_up_s_incl_compile']:.1f} s)")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
