"""`carbon-mc validate`: leave-one-out and forward-in-time validation over the measured runs, priors alone against the calibration."""

from __future__ import annotations

import argparse
import json

from rich import box
from rich.table import Table

from ..io.files import check_writable, save_text
from .common import fmt, positive_int, print_json, require_suffix, stderr, stdout

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def register(sub) -> None:
    p = sub.add_parser(
        "validate", help="leave-one-out: how well priors and calibration predict measured runs they have not seen",
        description="For each measured run, refit the calibration without it and predict its reported energy twice: "
                    "from the priors alone and with the calibrated inputs. Reports each run's predicted median, 90% "
                    "interval and the figure's percentile; the coverage of the 90% intervals, the median absolute "
                    "log10 error and the median p95/p5 ratio; the same forward in time (calibrated on runs published before each "
                    "--cutoffs year, predicting the later ones), split by era and dense/MoE with the side of each miss; and "
                    "where published estimates (basis = \"estimated\") fall.",
    )
    p.add_argument("--runs", nargs="+", metavar="NAME", help="hold out only these runs (names as in the scenarios)")
    p.add_argument("--draws", type=positive_int, default=20_000, help="engine draws per prediction (default 20000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--chains", type=positive_int, default=2, help="NUTS chains per refit (default 2)")
    p.add_argument("--warmup", type=positive_int, default=500, help="warm-up iterations per chain (default 500)")
    p.add_argument("--samples", type=positive_int, default=1000, help="kept iterations per chain (default 1000)")
    p.add_argument("--cutoffs", nargs="*", type=int, default=[2022, 2024], metavar="YEAR",
                   help="forward in time: calibrate on runs published before each YEAR, predict the others "
                        "(default 2022 2024; give none to skip)")
    p.add_argument("--no-claims", dest="claims", action="store_false",
                   help="skip the published estimates (saves one full fit)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--out", metavar="JSON", help="also write the JSON to this file (.json)")
    p.add_argument("--plot", metavar="PNG", help="write the calibration plot (.png, .pdf or .svg)")
    p.set_defaults(handler=handle)


def _row(pred: dict) -> tuple[str, str, str]:
    return fmt(pred["median"]), f"{fmt(pred['p5'])} – {fmt(pred['p95'])}", f"{pred['percentile']:.1f}"


def _print_groups(title: str, summary: dict) -> None:
    """One table: per method and group, runs, coverage, median |log10 error|, p95/p5, misses by side and
    the sign test's p of that split (`calibration.loo.sign_test_p`)."""
    t = Table(title=f"{title} (coverage of the 90% intervals, medians of |log10 error| and p95/p5, misses under / over and "
                    f"the sign test's p; targets: coverage 80%–98%, median |log10 error| <= 0.10, no side > 2/3 of misses)",
              box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    # short headers: eight columns fit an 80-column terminal (the title says which medians they are)
    for col in ("method", "group", "runs", "cover", "|log10|", "p95/p5", "misses", "sign p"):
        t.add_column(col, justify="left" if col in ("method", "group") else "right", no_wrap=True, min_width=len(col))
    for method, split in summary.items():
        groups = [("all", split["all"])] + [(g, m) for key in ("era", "architecture") for g, m in split[key].items()]
        for name, m in groups:
            t.add_row(method, name, str(m["num_runs"]), f"{m['coverage90']:.0%}", f"{m['median_abs_log10_error']:.3f}",
                      f"{m['median_p95_over_p5']:.2f}", f"{m['misses']['under']} / {m['misses']['over']}",
                      f"{m['misses_sign_test_p']:.2f}")
    stdout.print(t)


def handle(args: argparse.Namespace) -> int:
    from ..calibration import validation_report

    require_suffix(args.out, (".json",), "--out")
    require_suffix(args.plot, PLOT_SUFFIXES, "--plot")
    for path in (args.out, args.plot):
        if path:
            check_writable(path)

    def progress(message):
        if not args.json:
            stderr.print(message)

    result = validation_report(hold_out=args.runs, seed=args.seed, num_draws=args.draws, num_chains=args.chains,
                               num_warmup=args.warmup, num_samples=args.samples, with_claims=args.claims, cutoffs=args.cutoffs,
                               progress=progress)
    if args.out:
        save_text(json.dumps(result, indent=2) + "\n", args.out)
    if args.plot:
        from ..plots.calibration import plot_calibration

        plot_calibration(result, path=args.plot)
    if args.json:
        print_json(result)
        return 0
    t = Table(title=f"Leave-one-out over {len(result['runs'])} measured runs (energy in MWh, on each figure's scope)")
    for col in ("run", "scope", "reported", "priors: median", "90%", "pct", "calibrated: median", "90% ", "pct "):
        t.add_column(col, justify="left" if col in ("run", "scope") else "right")
    for r in result["runs"]:
        t.add_row(r["name"], r["energy_scope"], fmt(r["reported"]), *_row(r["priors"]), *_row(r["calibrated"]))
    stdout.print(t)
    s = Table(title="Summary (targets: coverage 80%–98%, median |log10 error| <= 0.15)")
    for col in ("method", "90% coverage", "median |log10 error|", "median p95/p5", "targets met"):
        s.add_column(col, justify="left" if col == "method" else "right")
    for method, m in result["summary"].items():
        met = "yes" if all(m["targets_met"].values()) else "no: " + ", ".join(k for k, v in m["targets_met"].items() if not v)
        s.add_row(method, f"{m['coverage90']:.0%}", f"{m['median_abs_log10_error']:.3f}", f"{m['median_p95_over_p5']:.2f}", met)
    stdout.print(s)
    _print_groups("Leave-one-out by group", result["groups"])
    for cut in result.get("forward_in_time", {}).get("cutoffs", []):
        _print_groups(f"Forward in time: calibrated on {len(cut['calibrated_on'])} runs published before {cut['year']}, "
                      f"predicting {len(cut['predicted'])}", cut["summary"])
    if "claims" in result:
        c = Table(title="Published estimates (claims, not data): percentile of each figure")
        for col in ("run", "figure", "reported", "priors: median", "pct", "calibrated: median", "pct "):
            c.add_column(col, justify="left" if col in ("run", "figure") else "right")
        for r in result["claims"]:
            c.add_row(r["name"], r["variable"], fmt(r["reported"]), fmt(r["priors"]["median"]), f"{r['priors']['percentile']:.1f}",
                      fmt(r["calibrated"]["median"]), f"{r['calibrated']['percentile']:.1f}")
        stdout.print(c)
    for path, what in ((args.out, "JSON"), (args.plot, "calibration plot")):
        if path:
            stdout.print(f"{what} written to {path}")
    return 0
