"""`carbon-mc sensitivity FILE`: which uncertain input drives the spread of a training run's footprint."""

from __future__ import annotations

import argparse
import json
import math

from rich import box
from rich.table import Table

from ..errors import CarbonMCError
from ..io.files import check_writable
from ..options import CI_METHODS, DEFAULT_NUM_BASE, MIN_NUM_BASE
from ..options import SOBOL_SAMPLERS as SAMPLERS
from .common import (
    add_priors_flag,
    add_scenario_flags,
    positive_int,
    print_json,
    priors_table,
    progress_bar,
    require_suffix,
    save_plot,
    scenario_argument,
    stderr,
    stdout,
)

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def register(sub) -> None:
    p = sub.add_parser(
        "sensitivity", help="rank the uncertain inputs by how much of the output's spread each drives (Sobol' indices)",
        description="Global sensitivity analysis of a training run: Sobol' first-order (S1: the share of the output's "
                    "variance an input explains alone) and total-order (ST: including its interactions) indices, from "
                    "a Saltelli design drawn from the scenario's own priors, with bootstrap confidence intervals. "
                    "Fixed inputs are left out; a joint prior is one factor.",
    )
    add_scenario_flags(p, "scenario TOML (e.g. models/gpt3_175b.toml) or the name of a bundled one")
    p.add_argument("--output", default="total_tco2e",
                   help="output to apportion: energy_mwh, operational_tco2e, embodied_tco2e, total_tco2e (default) "
                        "or any other model output (of a serving scenario: energy_wh_per_request, total_kgco2e_per_day, ...)")
    p.add_argument("--base-draws", dest="base_draws", type=positive_int, default=DEFAULT_NUM_BASE,
                   help=f"base rows N of the design, a power of two (others are rounded up); the design costs N x (factors + 2) "
                        f"model evaluations (default {DEFAULT_NUM_BASE}, at least {MIN_NUM_BASE})")
    p.add_argument("--seed", type=int, default=0, help="seed of the Sobol' scrambling and the bootstrap (default 0)")
    p.add_argument("--group", action="append", default=[], metavar="NAME=INPUT,INPUT",
                   help="treat several inputs as one factor, e.g. --group site=grid_gco2_per_kwh,pue (repeatable)")
    p.add_argument("--second-order", dest="second_order", action="store_true",
                   help="also estimate second-order (pairwise interaction) indices; doubles the cross evaluations")
    p.add_argument("--resamples", type=_non_negative_int, default=1000,
                   help="bootstrap resamples for the intervals (default 1000; 0 for none)")
    p.add_argument("--conf-level", dest="conf_level", type=float, default=0.95, help="interval probability (default 0.95)")
    p.add_argument("--ci", choices=CI_METHODS, default="percentile",
                   help="bootstrap interval: percentile (default) or normal (estimate +/- z sd, as SALib)")
    p.add_argument("--sampler", choices=SAMPLERS, default="sobol",
                   help="design points: scrambled Sobol' (default) or independent uniforms")
    p.add_argument("--plot", metavar="PNG", help="write a bar chart of S1 and ST with their intervals (.png, .pdf or .svg)")
    p.add_argument("--out", metavar="NC", help="write the indices to this netCDF file (.nc)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_priors_flag(p)
    p.set_defaults(handler=handle)


def parse_groups(specs: list[str]) -> dict[str, list[str]] | None:
    """``["site=grid_gco2_per_kwh,pue", ...]`` -> ``{"site": ["grid_gco2_per_kwh", "pue"]}``."""
    groups: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, members = spec.partition("=")
        name = name.strip()
        names = [m.strip() for m in members.split(",") if m.strip()]
        if not sep or not name or not names:
            raise CarbonMCError(f"--group {spec!r}: expected NAME=INPUT[,INPUT...], e.g. site=grid_gco2_per_kwh,pue")
        if name in groups:
            raise CarbonMCError(f"--group {name!r} is given twice")
        groups[name] = names
    return groups or None


def report(ds) -> dict:
    from ..sobol import ranking

    """The JSON shape of `carbon-mc sensitivity --json`."""
    a = ds.attrs
    s1 = ds["sobol_index"].sel(index="S1").values
    out = {
        "scenario": a.get("scenario_name"),
        "output": a["output"],
        "units": a.get("output_units"),
        "num_base": a["num_base"],
        "num_evaluations": a["num_evaluations"],
        "seed": a["seed"],
        "sampler": a["sampler"],
        "num_resamples": a["num_resamples"],
        "conf_level": a["conf_level"],
        "ci_method": a["ci_method"],
        "sum_S1": float(s1.sum()),
        "fixed_inputs": json.loads(a.get("fixed_inputs", "[]")),
        "indices": [_intervals_or_null(row) for row in ranking(ds)],
    }
    if "second_order_index" in ds:
        labels = [str(v) for v in ds["input"].values]
        pairs = []
        for i, j in ((a, b) for a in range(len(labels)) for b in range(a + 1, len(labels))):
            sel = {"input": labels[i], "other_input": labels[j]}
            ci = ds["second_order_index_ci"].sel(sel)
            pairs.append({"inputs": [labels[i], labels[j]], "S2": float(ds["second_order_index"].sel(sel)),
                          **_intervals_or_null({"S2_lower": float(ci.sel(ci_bound="lower")),
                                                "S2_upper": float(ci.sel(ci_bound="upper"))})})
        out["second_order"] = sorted(pairs, key=lambda p: -abs(p["S2"]))
    return out


def _intervals_or_null(row: dict) -> dict:
    """Interval bounds that do not exist (``--resamples 0``: no bootstrap) as JSON null, not NaN."""
    return {k: (None if (k.endswith(("_lower", "_upper")) and isinstance(v, float) and not math.isfinite(v)) else v)
            for k, v in row.items()}


def _num(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:.3f}"


def _interval(lo: float, hi: float) -> str:
    return "" if not (math.isfinite(lo) and math.isfinite(hi)) else f"{lo:.3f}–{hi:.3f}"


def print_table(ds) -> None:
    from ..sobol import ranking
    from ..sobol.analyze import INDICES
    from ..sobol.design import evaluations_per_base_row

    a = ds.attrs
    level = f"{100 * a['conf_level']:g}%"
    units = f" ({a['output_units']})" if a.get("output_units") else ""
    table = Table(title=f"{a.get('scenario_name', '')}: what drives {a['output']}{units}", box=box.SIMPLE_HEAD)
    table.add_column("input (ranked by ST)", no_wrap=True)
    for k in INDICES:
        table.add_column(k, justify="right")
        table.add_column(f"{level} CI", justify="right", no_wrap=True)
    grouped = []
    for row in ranking(ds):
        if row["members"] != [row["input"]]:
            grouped.append(f"{row['input']} = {', '.join(row['members'])}")
        cells = []
        for k in INDICES:
            cells += [_num(row[k]), _interval(row[f"{k}_lower"], row[f"{k}_upper"])]
        table.add_row(row["input"], *cells)
    stdout.print(table)
    g = ds.sizes["input"]
    per_row = evaluations_per_base_row(g, bool(a["second_order"]))
    s1 = float(ds["sobol_index"].sel(index="S1").sum())
    stdout.print(f"{a['num_base']:,} base draws x {per_row} = {a['num_evaluations']:,} model evaluations, seed {a['seed']}; "
                 + (f"{level} bootstrap {a['ci_method']} intervals from {a['num_resamples']:,} resamples."
                    if a["num_resamples"] else "no intervals."))
    for line in grouped:
        stdout.print(f"group {line}")
    stdout.print(f"S1 sums to {s1:.3f}, so interactions between inputs account for about {max(0.0, 1.0 - s1):.0%} of the variance.")
    fixed = json.loads(a.get("fixed_inputs", "[]"))
    if fixed:
        stdout.print(f"fixed, so left out: {', '.join(fixed)}")
    if "second_order_index" in ds:
        top = report(ds)["second_order"][:5]
        stdout.print("largest second-order indices: " + "; ".join(f"{p['inputs'][0]} x {p['inputs'][1]} {p['S2']:.3f}" for p in top))


def handle(args: argparse.Namespace) -> int:
    from ..io.files import save_dataset
    from ..scenarios import load_any_scenario
    from ..sobol import check_num_base, sensitivity

    require_suffix(args.out, (".nc",), "--out")
    require_suffix(args.plot, PLOT_SUFFIXES, "--plot")
    groups = parse_groups(args.group)
    num_base = check_num_base(args.base_draws, args.sampler, warn=False)
    if num_base != args.base_draws:
        stderr.print(f"note: --base-draws {args.base_draws:,} rounded up to {num_base:,} (Sobol' points need a power of two)")
    table = priors_table(args)
    scenario = scenario_argument(args, table)
    if not hasattr(scenario, "resolve_priors"):
        scenario = load_any_scenario(scenario, priors=table)
    for path in (args.out, args.plot):
        if path:
            check_writable(path)
    with progress_bar(None, "evaluating") as callback:
        ds = sensitivity(scenario, output=args.output, num_base=num_base, seed=args.seed, groups=groups,
                         second_order=args.second_order, num_resamples=args.resamples, conf_level=args.conf_level,
                         ci_method=args.ci, sampler=args.sampler, progress=callback, priors=table)
    if args.out:
        save_dataset(ds, args.out)
    if args.plot:
        save_plot("sensitivity", "plot_indices", ds, path=args.plot)
    if args.json:
        print_json(report(ds))
        return 0
    print_table(ds)
    for flag, path in (("indices", args.out), ("figure", args.plot)):
        if path:
            stdout.print(f"{flag} written to {path}")
    return 0
