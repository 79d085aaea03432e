"""Benchmark: the CarbonScaling-style sweep (7 sizes x 4 accelerators) at several draw counts.

Times `carbon_mc.scaling_sweep` end to end (priors, layout planning, draws, the jitted per-draw
evaluation, Dataset assembly): the first call in the process (JIT compilation included), then warm
calls (best of --repeats) at each draw count, and `carbon_mc.megatron_check`. Prints one line per
case and one JSON object.

    python benchmarks/bench_scaling_sweep.py [--draws 2048,20000,100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", default="2048,20000,100000", help="comma-separated draw counts")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import carbon_mc

    counts = [int(float(x)) for x in args.draws.split(",")]
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "cases": {}}
    t0 = time.perf_counter()
    carbon_mc.scaling_sweep(num_draws=counts[0], seed=0)
    result["cases"]["first_call_s"] = time.perf_counter() - t0
    print(f"first call ({counts[0]} draws, compile included): {result['cases']['first_call_s']:.2f} s")
    for n in counts:
        carbon_mc.scaling_sweep(num_draws=n, seed=1)  # compile for this shape
        best = float("inf")
        for r in range(args.repeats):
            t = time.perf_counter()
            carbon_mc.scaling_sweep(num_draws=n, seed=2 + r)
            best = min(best, time.perf_counter() - t)
        result["cases"][f"sweep_{n}_draws_s"] = best
        print(f"sweep, {n:>7} draws x 7 sizes x 4 accelerators: {best:.2f} s warm ({n * 28 / best / 1e6:.2f} M draw-cells/s)")
    t = time.perf_counter()
    carbon_mc.megatron_check(num_draws=4096, seed=0)
    result["cases"]["megatron_check_s"] = time.perf_counter() - t
    print(f"megatron check, 4096 draws: {result['cases']['megatron_check_s']:.2f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
