"""`carbon-mc run FILE`: the distribution of a training run's energy and CO2e."""

from __future__ import annotations

import argparse

from rich.table import Table

from .. import estimate, load_scenario, save_dataset, summarize
from ..footprint import HEADLINE
from ..io import check_writable
from ..summary import reported_percentiles
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
    p.add_argument("--draws", type=positive_int, default=100_000, help="Monte Carlo draws (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", help="write every draw to this netCDF file (.nc)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(handler=handle)


def headline(summary, reported: dict) -> dict:
    """The JSON shape of `carbon-mc run --json`."""
    out = {}
    for name in HEADLINE:
        s = summary[name].sel
        out[name] = {k: float(s(stat=k)) for k in ("median", "mean", "p5", "p95", "p2_5", "p97_5")}
    if reported:
        out["reported"] = reported
    return out


def handle(args: argparse.Namespace) -> int:
    require_suffix(args.out, (".nc",), "--out")
    scenario = load_scenario(args.file)
    if args.out:
        check_writable(args.out)
    with progress_bar(args.draws, "drawing") as callback:
        ds = estimate(scenario, num_draws=args.draws, seed=args.seed, progress=callback)
    summary = summarize(ds, list(HEADLINE))
    reported = reported_percentiles(ds, scenario.reported.figures())
    if args.out:
        save_dataset(ds, args.out)
    if args.json:
        print_json(headline(summary, reported))
        return 0
    table = Table(title=f"{scenario.name}: {args.draws:,} draws, seed {args.seed}")
    table.add_column("quantity")
    table.add_column("median", justify="right")
    table.add_column("90% interval", justify="right")
    table.add_column("reported", justify="right")
    table.add_column("percentile", justify="right")
    for name in HEADLINE:
        s = summary[name]
        rep = reported.get(name)
        table.add_row(
            LABELS[name],
            fmt(float(s.sel(stat="median"))),
            f"{fmt(float(s.sel(stat='p5')))} – {fmt(float(s.sel(stat='p95')))}",
            fmt(rep["value"]) if rep else "",
            f"{rep['percentile']:.1f}" if rep else "",
        )
    stdout.print(table)
    if scenario.reported.source:
        stdout.print(f"reported: {scenario.reported.source} (basis: {scenario.reported.basis or 'unstated'})")
    if args.out:
        stdout.print(f"draws written to {args.out}")
    return 0
