"""Benchmark: Sobol' sensitivity analysis at the issue's size (10 inputs, 2^16 base draws).

Times `carbon_mc.sensitivity` end to end (design, 786,432 model evaluations, estimators and a
1,000-resample bootstrap) on a bundled scenario with 10 drawn inputs, and the same for the
analytic Sobol' G function with D = 10, first in a fresh process (JIT compilation included) and
then warm (best of --repeats). Also reports the stages apart: model evaluations per second,
point estimates, bootstrap. Prints a table and one JSON object.

    python benchmarks/bench_sensitivity.py [--base-draws 65536] [--resamples 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from functools import partial


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("carbon-mc", "jax", "jaxlib", "numpy", "scipy", "xarray"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _timed_cpu(fn):
    """Wall-clock and CPU seconds (all threads) of one call: CPU time is less sensitive to other load."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="olmo_7b", help="bundled scenario with >= 10 drawn inputs (default olmo_7b: "
                        "parameters + tokens, so mfu_fraction and flops_overhead_fraction are drawn too)")
    parser.add_argument("--base-draws", dest="base_draws", type=int, default=2**16)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import jax

    import carbon_mc
    from carbon_mc.sobol import analyze_evaluations, resolve_groups, sobol_indices
    from carbon_mc.sobol.analyze import evaluate_design
    from carbon_mc.sobol.functions import sobol_g

    model = carbon_mc.build_simulator(args.scenario)
    inputs = model.stochastic
    if len(inputs) < 10:
        raise SystemExit(f"{args.scenario} draws {len(inputs)} inputs; pick a scenario with at least 10")
    g_a = [0.0, 0.5, 1.0, 2.0, 4.5, 9.0, 20.0, 50.0, 99.0, 99.0]
    g_names = [f"x{i + 1}" for i in range(len(g_a))]
    n, r = args.base_draws, args.resamples

    def run_scenario():
        return carbon_mc.sensitivity(model.scenario, num_base=n, seed=0, num_resamples=r)

    g_function = partial(sobol_g, a=g_a)

    def run_g():
        return sobol_indices(g_function, g_names, num_base=n, seed=0, num_resamples=r)

    results = {}
    for label, run in ((f"{args.scenario} ({len(inputs)} inputs, total_tco2e)", run_scenario), (f"Sobol' G (D = {len(g_a)})", run_g)):
        ds, cold, cold_cpu = _timed_cpu(run)
        warm, warm_cpu = min(_timed_cpu(run)[1:] for _ in range(args.repeats))
        results[label] = {"factors": int(ds.sizes["input"]), "num_evaluations": int(ds.attrs["num_evaluations"]),
                          "cold_s": cold, "cold_cpu_s": cold_cpu, "warm_s": warm, "warm_cpu_s": warm_cpu}

    # Stages, warm, on the scenario.
    grouping = resolve_groups({k: model.priors[k].num_columns for k in inputs})

    def fn(u):
        return model.outputs(model.inputs_from_uniforms(u))["total_tco2e"]

    evaluate = partial(evaluate_design, fn, grouping, num_base=n, seed=0)
    evaluate()
    evals, t_eval = min((_timed(evaluate) for _ in range(args.repeats)), key=lambda p: p[1])
    analyze_evaluations(*evals, num_resamples=0)
    t_point = min(_timed(lambda: analyze_evaluations(*evals, num_resamples=0))[1] for _ in range(args.repeats))
    analyze_evaluations(*evals, num_resamples=r)
    t_boot = min(_timed(lambda: analyze_evaluations(*evals, num_resamples=r))[1] for _ in range(args.repeats)) - t_point
    num_evaluations = n * (grouping.num_groups + 2)

    report = {
        "benchmark": "sensitivity",
        "base_draws": n,
        "resamples": r,
        "results": results,
        "stages_warm_s": {"design_and_evaluation": t_eval, "point_estimates": t_point, "bootstrap": t_boot},
        "model_evaluations_per_s": num_evaluations / t_eval,
        "target": "10 inputs at 2^16 base draws in under 10 s, estimators and bootstrap included",
        "device": str(jax.devices()[0]),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "versions": _versions(),
    }

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Sobol' sensitivity: {n:,} base draws, {r:,} bootstrap resamples")
    for col in ("case", "factors", "evaluations", "cold s (CPU s)", "warm s (CPU s)"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for label, v in results.items():
        table.add_row(label, str(v["factors"]), f"{v['num_evaluations']:,}", f"{v['cold_s']:.2f} ({v['cold_cpu_s']:.2f})",
                      f"{v['warm_s']:.2f} ({v['warm_cpu_s']:.2f})")
    console = Console(highlight=False)
    console.print(table)
    console.print(f"cold: first call in the process (JIT compilation included); warm: best of {args.repeats}")
    st = report["stages_warm_s"]
    console.print(f"stages (warm): design + evaluation {st['design_and_evaluation']:.2f} s "
                  f"({report['model_evaluations_per_s'] / 1e6:.1f} M model evaluations/s), point estimates {st['point_estimates']:.2f} s, "
                  f"bootstrap {st['bootstrap']:.2f} s")
    console.print(f"{report['device']}, {report['cpu_count']} CPUs, load average {report['load_average_1m']:.1f}; "
                  + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    print(json.dumps(report, default=float))


if __name__ == "__main__":
    main()
