"""`carbon-mc lifecycle [TRAINING] SERVING`: training plus serving over a period, as distributions."""

from __future__ import annotations

import argparse

from rich.table import Table

from ..errors import CarbonMCError
from ..io.files import check_writable
from .common import fmt, positive_int, print_json, require_suffix, stdout

STATS = ("median", "p5", "p95", "mean")


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def register(sub) -> None:
    p = sub.add_parser(
        "lifecycle", help="training plus serving over a period: total CO2e, each phase's share, break-even",
        description="A model's life as distributions: its training run plus its deployment served for DAYS days. "
                    "Prints total CO2e with its 90%% interval, the share of each phase, and the break-even point "
                    "(days and requests of serving that emit as much as the training). Inputs both phases take "
                    "from the same prior are drawn once for both (common random numbers).",
    )
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="TRAINING SERVING (scenario TOMLs or bundled names), or SERVING alone when its [serving] "
                        "table names the training run (model = \"...\")")
    p.add_argument("--days", type=_days, default=None, help="days of serving (default: the serving scenario's days)")
    p.add_argument("--draws", type=positive_int, default=100_000, help="Monte Carlo draws (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--out", help="write every draw to this netCDF file (.nc)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..io.files import save_dataset
    from ..joint.training_and_serving import lifecycle
    from ..results.statistics import summarize

    if len(args.files) > 2:
        raise CarbonMCError(f"give TRAINING SERVING or SERVING alone, not {len(args.files)} files")
    require_suffix(args.out, (".nc",), "--out")
    if args.out:
        check_writable(args.out)
    training, serving = (None, args.files[0]) if len(args.files) == 1 else args.files
    ds = lifecycle(training, serving, days=args.days, num_draws=args.draws, seed=args.seed)
    if args.out:
        save_dataset(ds, args.out)
    summary = summarize(ds)
    stats = {name: {s: float(summary[name].sel(stat=s)) for s in STATS} for name in summary.data_vars}
    if args.json:
        print_json({"training": ds.attrs["training_scenario"], "serving": ds.attrs["serving_scenario"],
                    "days": ds.attrs["serving_days"], "num_draws": args.draws, "seed": args.seed,
                    "shared_inputs": [s for s in ds.attrs["shared_inputs"].split(", ") if s], "method": "qmc",
                    "sampler": ds.attrs["sampler"], **stats})
        return 0
    title = f"{ds.attrs['training_scenario']} + {ds.attrs['serving_scenario']}, {fmt(ds.attrs['serving_days'])} days: " \
            f"{args.draws:,} draws, seed {args.seed}"
    table = Table(title=title)
    for column in ("quantity", "units", "median", "90% interval"):
        table.add_column(column, justify="left" if column in ("quantity", "units") else "right")
    for name, s in stats.items():
        table.add_row(ds[name].attrs["long_name"], ds[name].attrs["units"], fmt(s["median"]), f"{fmt(s['p5'])} – {fmt(s['p95'])}")
    stdout.print(table)
    stdout.print("drawn once for both phases: " + (ds.attrs["shared_inputs"] or "none"))
    stdout.print("sampler: " + ds.attrs["sampler"])
    if args.out:
        stdout.print(f"draws written to {args.out}")
    return 0
