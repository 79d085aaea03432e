"""`carbon-mc bench`: draws per second of the engine against a NumPy reference, the random-variate floor and NumPyro."""

from __future__ import annotations

import argparse
import sys

from .common import positive_int, print_json


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure the engine's throughput against a NumPy reference, the random-variate floor and NumPyro",
                       description="Measure, in one process, the engine end to end (draws, model, summaries), a plain-NumPy "
                                   "reference of the same model, the floor (drawing only the model's random variates; and, stricter, "
                                   "the uniforms alone) and NumPyro's Predictive; print the draws per second, their ratios, "
                                   "the device and the versions.")
    p.add_argument("--scenario", default="llama_65b", help="bundled scenario or TOML path (default llama_65b)")
    p.add_argument("--draws", type=positive_int, default=10_000_000, help="draws for the engine, the reference and the floor (default 1e7)")
    p.add_argument("--numpyro-draws", type=positive_int, default=10_000, help="draws for NumPyro's Predictive (default 1e4)")
    p.add_argument("--repeats", type=positive_int, default=5, help="best of this many timings (default 5)")
    p.add_argument("--method", choices=("mc", "qmc"), default="mc", help="the engine's sampler (default mc)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..sampling.benchmark import format_table, run_benchmark
    from ..scenarios.training import load_scenario

    load_scenario(args.scenario)  # a bad scenario fails here, before any timing
    result = run_benchmark(args.scenario, num_draws=args.draws, numpyro_draws=args.numpyro_draws,
                           repeats=args.repeats, method=args.method)
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(format_table(result) + "\n")
    return 0
