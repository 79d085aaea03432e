"""`carbon-mc run FILE`: the distribution of a training run's energy and CO2e."""

from __future__ import annotations

import argparse

from rich.table import Table

from .. import estimate, load_scenario, save_dataset, summarize
from ..sampling import METHODS, STREAM_THRESHOLD, build_simulator, output_shapes, stream_summary, stream_to_precision
from ..errors import CarbonMCError
from ..footprint import HEADLINE, OUTPUTS
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
    p.add_argument("--draws", type=positive_int, default=None,
                   help="Monte Carlo draws (default 100000; with --rel-error, the most it may take, default 100000000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", help="write every draw to this netCDF file (.nc)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--method", choices=METHODS, default="qmc",
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
    p.set_defaults(handler=handle)


def _rel_error(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {value}")
    return value


def headline(summary, reported: dict) -> dict:
    """The JSON shape of `carbon-mc run --json`."""
    out = {}
    for name in HEADLINE:
        s = summary[name].sel
        out[name] = {k: float(s(stat=k)) for k in ("median", "mean", "p5", "p95", "p2_5", "p97_5")}
    if reported:
        out["reported"] = reported
    return out


def _streamed(args, scenario, posterior=None):
    """Summaries computed on the fly (--stream, very large --draws, or --rel-error): (summary, reported, note)."""
    model = build_simulator(scenario, posterior=posterior)
    extra = [k for k in scenario.reported.figures() if k not in HEADLINE]
    if args.rel_error is not None:
        shapes = output_shapes(model)
        varying = [k for k in HEADLINE if shapes.get(k, ()) != ()]
        cap = args.draws or 100_000_000
        with progress_bar(cap, "drawing") as callback:
            result = stream_to_precision(model, rel_error=args.rel_error, max_draws=cap, seed=args.seed,
                                         method=args.method, variables=varying or list(HEADLINE), progress=callback)
        for k in HEADLINE:  # constant headline outputs are summarized without drawing
            if k not in result.histograms and k not in result.constants:
                result.constants[k] = stream_summary(model, num_draws=1, variables=[k]).constants[k]
        a = result.attrs
        note = (f"{a['num_draws']:,} draws ({args.method}) for a relative standard error of the 5%/95% quantiles of "
                f"{a['rel_error_achieved']:.2g} (target {a['rel_error_target']:g}"
                + ("; stopped at the --draws cap)" if a["rel_error_achieved"] > a["rel_error_target"] else ")"))
    else:
        with progress_bar(args.draws, "drawing") as callback:
            result = stream_summary(model, num_draws=args.draws, seed=args.seed, method=args.method,
                                    variables=list(HEADLINE) + extra, progress=callback)
        note = f"summaries computed on the fly from histograms ({args.method})"
    info = {"num_draws": int(result.attrs["num_draws"]), "method": args.method, "summary": "streaming_histogram"}
    if args.rel_error is not None:
        info.update(rel_error_target=args.rel_error, rel_error_achieved=float(result.attrs["rel_error_achieved"]))
    return result.to_dataset(), result.reported_percentiles(scenario.reported.figures()), note, info


def _calibration(args, scenario):
    """(posterior priors, {"file", "inputs": status per calibrated quantity}) for --calibrated, else (None, None)."""
    if not args.calibrated:
        return None, None
    from pathlib import Path

    from ..calibrate import calibrated_priors, load_calibration

    posterior, status = calibrated_priors(load_calibration(args.calibrated), scenario, source=Path(args.calibrated).name)
    return posterior, {"file": args.calibrated, "inputs": status}


def handle(args: argparse.Namespace) -> int:
    require_suffix(args.out, (".nc",), "--out")
    scenario = load_scenario(args.file)
    if args.out:
        check_writable(args.out)
    streaming = args.rel_error is not None or args.stream or (args.draws or 0) > STREAM_THRESHOLD and not args.out
    if streaming and args.out:
        raise CarbonMCError("--out keeps every draw, which --stream and --rel-error do not; drop one of them")
    note, info = None, None
    posterior, calibrated = _calibration(args, scenario)
    extra = [k for k in scenario.reported.figures() if k not in HEADLINE]  # a figure on another energy scope
    if streaming:
        summary, reported, note, info = _streamed(args, scenario, posterior)
        num_draws = info["num_draws"]
    else:
        num_draws = args.draws or 100_000
        with progress_bar(num_draws, "drawing") as callback:
            ds = estimate(scenario, num_draws=num_draws, seed=args.seed, progress=callback, method=args.method, posterior=posterior)
        summary = summarize(ds, list(HEADLINE) + extra)
        reported = reported_percentiles(ds, scenario.reported.figures())
        if args.out:
            save_dataset(ds, args.out)
    if args.json:
        out = headline(summary, reported)
        if info is not None:
            out["run"] = info
        for name in extra:
            out[name] = {k: float(summary[name].sel(stat=k)) for k in ("median", "mean", "p5", "p95", "p2_5", "p97_5")}
        if calibrated is not None:
            out["calibrated"] = calibrated
        print_json(out)
        return 0
    table = Table(title=f"{scenario.name}: {num_draws:,} draws, seed {args.seed}")
    table.add_column("quantity")
    table.add_column("median", justify="right")
    table.add_column("90% interval", justify="right")
    table.add_column("reported", justify="right")
    table.add_column("percentile", justify="right")
    for name in list(HEADLINE) + extra:
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
    if calibrated is not None:
        stdout.print(f"calibrated from {calibrated['file']}: "
                     + "; ".join(f"{q}: {how}" for q, how in calibrated["inputs"].items()))
    if args.out:
        stdout.print(f"draws written to {args.out}")
    if note:
        stdout.print(note)
    return 0
