"""`carbon-mc run FILE`: the distribution of a training run's (or a deployment's) energy and CO2e."""

from __future__ import annotations

import argparse

from ..errors import CarbonMCError
from ..io.files import check_writable
from ..options import (
    DEFAULT_DRAWS,
    DEFAULT_MAX_DRAWS,
    DEFAULT_METHOD,
    METHODS,
    STREAM_THRESHOLD,
)
from .common import (
    add_priors_flag,
    add_scenario_flags,
    fmt,
    positive_int,
    print_json,
    priors_table,
    progress_bar,
    require_suffix,
    scenario_argument,
    stdout,
)

LABELS = {
    "energy_mwh": "Energy (MWh)",
    "operational_tco2e": "Operational CO2e (t)",
    "embodied_tco2e": "Embodied CO2e (t)",
    "total_tco2e": "Total CO2e (t)",
    "energy_wh_per_request": "Energy per request (Wh)",
    "total_gco2e_per_request": "Total CO2e per request (g)",
    "energy_kwh_per_day": "Energy per day (kWh)",
    "total_kgco2e_per_day": "Total CO2e per day (kg)",
}


def register(sub) -> None:
    p = sub.add_parser("run", help="estimate a training run's or a deployment's energy and CO2e as a distribution",
                       description="Estimate a training run's energy and CO2e as a distribution, or a deployment's "
                                   "(a serving scenario, with a [serving] table) per request, per day and in all.")
    add_scenario_flags(p, "scenario TOML (e.g. models/gpt3_175b.toml, models/serving/bloom_176b_api.toml) or the name "
                          "of a bundled one")
    p.add_argument("--draws", type=positive_int, default=None,
                   help="Monte Carlo draws (default 100000; with --rel-error, the most it may take, default 100000000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", help="write every draw to this netCDF file (.nc)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--csv", metavar="CSV", help="write the summaries (one row per statistic, one column per quantity "
                                                 "with its units) to this .csv file")
    p.add_argument("--csv-draws", metavar="CSV", dest="csv_draws",
                   help="write every draw of the reported quantities (one row per draw) to this .csv file")
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
    add_priors_flag(p)
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
    from ..results.run import run_scenario

    require_suffix(args.out, (".nc",), "--out")
    require_suffix(args.csv, (".csv",), "--csv")
    require_suffix(args.csv_draws, (".csv",), "--csv-draws")
    if args.csv_draws and (args.stream or args.rel_error is not None):
        raise CarbonMCError("--csv-draws keeps every draw, which --stream and --rel-error do not; drop one of them")
    for path in (args.out, args.csv, args.csv_draws):
        if path:
            check_writable(path)
    scenario = scenario_argument(args, priors_table(args))  # FILE, or the run the flags describe
    with progress_bar(args.draws or (DEFAULT_MAX_DRAWS if args.rel_error else DEFAULT_DRAWS), "drawing") as callback:
        result = run_scenario(scenario, num_draws=args.draws, seed=args.seed, method=args.method, rel_error=args.rel_error,
                              stream=args.stream, calibration=args.calibrated, out=args.out, progress=callback,
                              priors=priors_table(args), keep_draws=bool(args.csv_draws),
                              nonfinite="drop" if args.drop_nonfinite else "refuse", force=args.force)
    written = write_csv_files(result, args.csv, args.csv_draws)
    if args.json:
        payload = result.to_json()
        if measured_summary(result.scenario) is not None:
            payload["measured"] = measured_summary(result.scenario)
        print_json(payload)
        return 0
    print_table(result, args.seed)
    if args.out:
        stdout.print(f"draws written to {args.out}")
    for path in written:
        stdout.print(f"written: {path}")
    return 0


def write_csv_files(result, summary_path: str | None, draws_path: str | None) -> list[str]:
    """Write the run's summaries and/or its draws of the reported quantities as CSV; the paths written."""
    if not (summary_path or draws_path):
        return []
    from ..io.tables import write_csv

    written = []
    if summary_path:
        write_csv(result.summary, summary_path)
        written.append(summary_path)
    if draws_path:
        write_csv(result.draws[result.variables], draws_path)
        written.append(draws_path)
    return written


def label(result, name: str) -> str:
    """The row label of output `name`: a short one for the headline, else its long name and units."""
    if name in LABELS:
        return LABELS[name]
    meta = result.output_table[name]
    return f"{meta.long_name} ({meta.units})"


def print_table(result, seed: int) -> None:
    """The terminal table of a run (a `carbon_mc.RunResult`): median, 90% interval and the published figures' percentiles."""
    from rich.table import Table

    scenario, stats, reported = result.scenario, result.stats, result.reported
    table = Table(title=f"{scenario.name}: {result.info['num_draws']:,} draws, seed {seed}")
    for column in ("quantity", "median", "90% interval", "reported", "percentile"):
        table.add_column(column, justify="left" if column == "quantity" else "right")
    for name in result.variables:
        s = stats[name]
        rep = reported.get(name)
        table.add_row(
            label(result, name),
            fmt(s["median"]),
            f"{fmt(s['p5'])} – {fmt(s['p95'])}",
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
    summary = measured_summary(scenario)
    if summary is not None:
        tps = scenario.measured.tokens_per_s_per_device  # a throughput measurement holds no energy
        amount = f"{fmt(tps)} tokens/s per device" if tps else f"{fmt(summary['energy_kwh'])} kWh"
        stdout.print(f"measured ({summary['scope']} scope, {amount}, {summary['coverage']}; "
                     f"source: {summary['source']}) replaces:", markup=False)
        for line in summary["replaced"]:
            stdout.print(f"  - {line}", markup=False)


def measured_summary(scenario) -> dict | None:
    """What a measured run took as known and which inputs that replaced (None for a run without [measured])."""
    measured = getattr(scenario, "measured", None)
    if measured is None:
        return None
    if measured.partial:
        coverage = (f"{measured.measured_devices or scenario.devices:g} of {scenario.devices:g} devices for "
                    f"{fmt(measured.measured_hours or scenario.device_hours / scenario.devices)} of "
                    f"{fmt(scenario.device_hours / scenario.devices)} hours")
    else:
        coverage = "the whole run"
    return {"scope": measured.scope, "energy_kwh": measured.energy_kwh, "source": measured.source, "partial": measured.partial,
            "coverage": coverage, "replaced": measured.replaced, "drawn": measured.needed_quantities()}
