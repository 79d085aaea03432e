"""Benchmark: randomized quasi-Monte Carlo against plain Monte Carlo for the interval endpoints.

Part A, precision at equal draws: for a few bundled scenarios and draw counts 2^12 ... 2^18, the
5% and 95% quantiles of every varying headline output are estimated with `--seeds` independent
seeds (Monte Carlo) or scramblings (quasi-Monte Carlo); the relative standard deviation of those
estimates across seeds is the error a user gets from one run. Reported per method, with the
variance ratio MC/QMC.

Part B, time to a trusted interval: for every bundled scenario, `stream_to_precision` draws until
the relative standard error of both endpoints of every varying headline output is at most
`--rel-error` (0.1% by default), for each method and several seeds; reported are the draws it took
and the wall time (compilation excluded by a warm-up run), medians over the seeds.

    python benchmarks/bench_qmc_precision.py [--seeds 24] [--rel-error 0.001] [--scenarios a,b,...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def varying_headline(model):
    from carbon_mc.sampling import output_shapes
    from carbon_mc.footprint import HEADLINE

    shapes = output_shapes(model)
    return [k for k in HEADLINE if shapes.get(k, ()) != ()]


def spread_at_equal_draws(scenario: str, sizes: list[int], seeds: int) -> dict:
    from carbon_mc.sampling import build_simulator, draw

    model = build_simulator(scenario)
    names = varying_headline(model)
    out = {}
    for n in sizes:
        row = {}
        for method in ("mc", "qmc"):
            est = {(k, q): [] for k in names for q in (0.05, 0.95)}
            for s in range(seeds):
                _, y = draw(model, num_draws=n, seed=1000 + s, method=method, variables=names)
                for k in names:
                    for q, v in zip((0.05, 0.95), np.quantile(y[k].astype(np.float64), [0.05, 0.95])):
                        est[(k, q)].append(v)
            row[method] = {f"{k}/p{int(q * 100)}": float(np.std(v, ddof=1) / abs(np.mean(v))) for (k, q), v in est.items()}
        worst = {m: max(row[m].values()) for m in row}
        out[n] = {"rel_sd": row, "worst_rel_sd": worst, "worst_variance_ratio_mc_over_qmc": (worst["mc"] / worst["qmc"]) ** 2}
    return out


def time_to_precision(scenario: str, rel_error: float, seeds: int, max_draws: int) -> dict:
    from carbon_mc.sampling import build_simulator, stream_to_precision

    model = build_simulator(scenario)
    names = varying_headline(model)
    out = {}
    for method in ("mc", "qmc"):
        stream_to_precision(model, rel_error=rel_error, seed=0, method=method, variables=names, max_draws=max_draws)  # compile
        draws, secs, achieved = [], [], []
        for s in range(seeds):
            t = time.perf_counter()
            r = stream_to_precision(model, rel_error=rel_error, seed=1 + s, method=method, variables=names, max_draws=max_draws)
            secs.append(time.perf_counter() - t)
            draws.append(int(r.attrs["num_draws"]))
            achieved.append(float(r.attrs["rel_error_achieved"]))
        out[method] = {"median_draws": statistics.median(draws), "median_seconds": statistics.median(secs),
                       "draws": draws, "seconds": secs, "rel_error_achieved": achieved}
    out["faster"] = "qmc" if out["qmc"]["median_seconds"] < out["mc"]["median_seconds"] else "mc"
    out["fewer_draws"] = "qmc" if out["qmc"]["median_draws"] < out["mc"]["median_draws"] else "mc"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=24, help="seeds per method in part A")
    parser.add_argument("--precision-seeds", type=int, default=3, help="seeds per method in part B")
    parser.add_argument("--rel-error", type=float, default=1e-3)
    parser.add_argument("--max-draws", type=float, default=2e8)
    parser.add_argument("--spread-scenarios", default="llama_65b,gpt3_175b,bloom_176b")
    parser.add_argument("--scenarios", default="", help="comma-separated scenarios for part B (default: every bundled one)")
    args = parser.parse_args()

    from carbon_mc.sampling.benchmark import machine
    from carbon_mc.data import data_dir
    from carbon_mc.scenarios.training import load_scenario

    result = {"machine": machine(), "rel_error": args.rel_error, "spread": {}, "time_to_precision": {}, "skipped": {}}
    sizes = [1 << 12, 1 << 14, 1 << 16, 1 << 18]
    for sc in args.spread_scenarios.split(","):
        result["spread"][sc] = spread_at_equal_draws(sc, sizes, args.seeds)
        for n, r in result["spread"][sc].items():
            print(f"A {sc:28s} n={n:>7,d}  worst rel sd  MC {r['worst_rel_sd']['mc']:.2e}  QMC {r['worst_rel_sd']['qmc']:.2e}  "
                  f"variance ratio {r['worst_variance_ratio_mc_over_qmc']:.1f}", flush=True)
    names = args.scenarios.split(",") if args.scenarios else sorted(p.stem for p in data_dir("models").glob("*.toml"))
    for sc in names:
        try:
            load_scenario(sc)
            r = time_to_precision(sc, args.rel_error, args.precision_seeds, int(args.max_draws))
        except Exception as exc:  # a scenario the engine cannot run is reported, not hidden
            result["skipped"][sc] = f"{type(exc).__name__}: {exc}"
            print(f"B {sc:28s} skipped: {result['skipped'][sc]}", flush=True)
            continue
        result["time_to_precision"][sc] = r
        print(f"B {sc:28s} MC {r['mc']['median_draws']:>11,.0f} draws {r['mc']['median_seconds']:6.2f} s   "
              f"QMC {r['qmc']['median_draws']:>11,.0f} draws {r['qmc']['median_seconds']:6.2f} s   faster: {r['faster']}", flush=True)
    ran = result["time_to_precision"]
    result["qmc_faster_everywhere"] = bool(ran) and all(r["faster"] == "qmc" for r in ran.values())
    result["qmc_fewer_draws_everywhere"] = bool(ran) and all(r["fewer_draws"] == "qmc" for r in ran.values())
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
