"""`carbon-mc run FILE`: the distribution of a training run's energy and CO2e."""

from __future__ import annotations

import argparse

from rich.table import Table

from ..footprint import OUTPUTS
from ..io import check_writable
from ..results import DEFAULT_DRAWS, DEFAULT_MAX_DRAWS, RunResult, run_scenario
from ..sampling import DEFAULT_METHOD, METHODS, STREAM_THRESHOLD
from ._common import fmt, positive_int, print_json, progress_bar, require_suffix, stdout

LABELS = {
    "energy_mwh": "Energy (MWh)",
    "operational_tco2e": "Operational CO2e (t)",
    "embodied_tco2e": "Embodied CO2e (t)",
    "total_tco2e": "Total CO2e (t)",
}


def register(sub) -> None:
    p = sub.add_parser("run", help="estimate a training run's energy and CO2e as a distribution",
                       description="Estimate a training run's energy and CO2e as a distribution.")
    p.add_argument("file", help="scenario TOML (e.g. models/gpt3_175b.toml) or the name of a bundled one")
    p.add_argument("--draws", type=positive_int, default=None,
                   help="Monte Carlo draws (default 100000; with --rel-error, the most it may take, default 100000000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", help="write every draw to this netCDF file (.nc)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help="qmc: randomized quasi-Monte Carlo, scrambled Sobol' points (default: the same precision from "
                        "fewer draws, see BENCHMARKS.md); mc: plain Monte Carlo")
    p.add_argument("--rel-error", type=_rel_error, default=None, metavar="R",
                   help="draw until the 5%% and 95%% quantiles have a relative standard error at most R (e.g. 0.001), "
                        "and report the draws it took")
    p.add_argument("--calibrated", metavar="NC",
                   help="draw the calibrated inputs from this posterior (`carbon-mc calibrate --out NC`) instead of "
                        "their priors; inputs whose class had no measured run keep their priors")
    p.add_argument("--stream", action="store_true",
                   help=f"summarize on the fly without keeping draws (automatic above {STREAM_THRESHOLD:,} draws without --out)")
    p.add_argument("--drop-nonfinite", dest="drop_nonfinite", action="store_true",
                   help="leave out draws that are not finite (NaN or inf) and say how many, instead of refusing the run")
    p.add_argument("--force", action="store_true", help="write --out even when it would exceed 4 GB")
    p.set_defaults(handler=handle)


def _rel_error(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {value}")
    return value


def handle(args: argparse.Namespace) -> int:
    require_suffix(args.out, (".nc",), "--out")
    if args.out:
        check_writable(args.out)
    nonfinite = "drop" if args.drop_nonfinite else "refuse"
    with progress_bar(args.draws or (DEFAULT_MAX_DRAWS if args.rel_error else DEFAULT_DRAWS), "drawing") as callback:
        result = run_scenario(args.file, num_draws=args.draws, seed=args.seed, method=args.method, rel_error=args.rel_error,
                              stream=args.stream, calibration=args.calibrated, out=args.out, progress=callback,
                              nonfinite=nonfinite, force=args.force)
    if args.json:
        print_json(result.to_json())
        return 0
    print_table(result, args.seed)
    if args.out:
        stdout.print(f"draws written to {args.out}")
    return 0


def print_table(result: RunResult, seed: int) -> None:
    """The terminal table of a run: median, 90% interval and the published figures' percentiles."""
    scenario, summary, reported = result.scenario, result.summary, result.reported
    table = Table(title=f"{scenario.name}: {result.info['num_draws']:,} draws, seed {seed}")
    for column in ("quantity", "median", "90% interval", "reported", "percentile"):
        table.add_column(column, justify="left" if column == "quantity" else "right")
    for name in result.variables:
        s = summary[name]
        rep = reported.get(name)
        table.add_row(
            LABELS.get(name, f"{OUTPUTS[name].long_name} ({OUTPUTS[name].units})"),
            fmt(float(s.sel(stat="median"))),
            f"{fmt(float(s.sel(stat='p5')))} – {fmt(float(s.sel(stat='p95')))}",
            fmt(rep["value"]) if rep else "",
            f"{rep['percentile']:.1f}" if rep else "",
        )
    stdout.print(table)
    if scenario.reported.source:
        stdout.print(f"reported: {scenario.reported.source} (basis: {scenario.reported.basis or 'unstated'})")
    if result.calibrated is not None:
        stdout.print(f"calibrated from {result.calibrated['file']}: "
                     + "; ".join(f"{q}: {how}" for q, how in result.calibrated["inputs"].items()))
    if result.note:
        stdout.print(result.note)
