"""`carbon-mc calibrate`: condition the priors on the published runs whose energy was measured."""

from __future__ import annotations

import argparse

from rich.table import Table

from ..errors import CarbonMCError
from ..io.files import check_writable
from .common import fmt, positive_int, print_json, require_suffix, stdout


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="calibrate the priors on measured training runs (NumPyro, NUTS)",
        description="Fit the hierarchical calibration model to every scenario whose [reported] energy was measured "
                    "(basis = \"measured\") with NUTS, check r_hat and bulk ESS, and write the posterior as "
                    "InferenceData (netCDF) for `carbon-mc run FILE --calibrated`.",
    )
    p.add_argument("--out", default="calibration.nc", help="posterior file to write (.nc; default calibration.nc)")
    p.add_argument("--models", metavar="DIR", help="directory of scenario files (default: the bundled models/)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--chains", type=positive_int, default=4, help="NUTS chains (default 4)")
    p.add_argument("--warmup", type=positive_int, default=500, help="warm-up iterations per chain (default 500)")
    p.add_argument("--samples", type=positive_int, default=1000, help="kept iterations per chain (default 1000)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..calibration import CONVERGENCE, calibrate_and_save, convergence_problem

    require_suffix(args.out, (".nc",), "--out")
    check_writable(args.out)

    def announce(num_runs):
        if not args.json:
            stdout.print(f"calibrating on {num_runs} measured runs: {args.chains} chains x ({args.warmup} warm-up + {args.samples}) NUTS iterations")

    rep = calibrate_and_save(args.out, models=args.models, seed=args.seed, num_chains=args.chains, num_warmup=args.warmup,
                             num_samples=args.samples, on_start=announce)
    if args.json:
        print_json({**rep, "out": args.out})
        return 0
    d = rep["diagnostics"]
    table_out = Table(title=f"Calibrated factors ({rep['runs']} measured runs; new run of the class vs prior, median and 90%)")
    for col in ("quantity", "class", "runs", "prior", "class value", "new run"):
        table_out.add_column(col, justify="right" if col == "runs" else "left")
    def show(s):
        return f"{fmt(s['median'])} ({fmt(s['p5'])} – {fmt(s['p95'])})"

    for c in rep["classes"]:
        table_out.add_row(c["quantity"], c["class"], str(c["measured_runs"]), show(c["prior"]), show(c["class_value"]), show(c["new_run"]))
    for c in rep["shared"]:
        table_out.add_row(c["quantity"], "(one value)", str(c["measured_runs"]), show(c["prior"]), show(c["posterior"]), show(c["posterior"]))
    stdout.print(table_out)
    ok = convergence_problem(d) is None
    below = f"  [below r_hat <= {CONVERGENCE['max_r_hat']} / ESS >= {CONVERGENCE['min_ess_bulk']}: draw more samples]"
    stdout.print(f"diagnostics: max r_hat {d['max_r_hat']:.4f}, min bulk ESS {d['min_ess_bulk']:.0f} of {d['draws']} draws, "
                 f"{d['divergences']} divergent transitions" + ("" if ok else below))
    stdout.print(f"posterior written to {args.out}")
    if not ok:
        raise CarbonMCError(f"the fit did not converge well enough (max r_hat {d['max_r_hat']:.4f}, min bulk ESS {d['min_ess_bulk']:.0f}); "
                            f"{args.out} was written, but try more --samples or --warmup")
    return 0
