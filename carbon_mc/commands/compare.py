"""`carbon-mc compare A B`: the distribution of B / A and B - A, with common random numbers."""

from __future__ import annotations

import argparse

from rich.table import Table

from ..io.files import check_writable
from ..scenarios.units import ALL_CHECKABLE
from .check import PLOT_SUFFIXES, add_accounting_flags, pue_flag
from .common import (
    add_priors_flag,
    add_scenario_flags,
    fmt,
    positive_int,
    print_json,
    priors_table,
    require_suffix,
    save_plot,
    stdout,
)


def register(sub) -> None:
    p = sub.add_parser(
        "compare", help="compare two scenarios (B / A, B - A, P(B < A)) with common random numbers",
        description="Compare two training-run scenarios, or two deployments (serving scenarios): the distribution of "
                    "B / A and B - A and P(B < A). Inputs "
                    "both scenarios draw from the same prior are drawn once and used by both (common random "
                    "numbers), so the comparison is sharper than two independent runs; inputs whose priors "
                    "differ (two regions' grids) are drawn independently.",
    )
    p.add_argument("--quantity", choices=ALL_CHECKABLE, default="total_tco2e", metavar="QUANTITY",
                   help="output compared (default total_tco2e); a serving output for two deployments, e.g. "
                        "energy_wh_per_request")
    add_accounting_flags(p)
    p.add_argument("--independent", action="store_true",
                   help="draw every input of B independently of A (no common random numbers), for contrast")
    p.add_argument("--draws", type=positive_int, default=100_000, help="Monte Carlo draws (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--plot", metavar="PNG", help="write a figure of B / A and B - A (.png, .pdf or .svg)")
    add_priors_flag(p)
    p.add_argument("--drop-nonfinite", dest="drop_nonfinite", action="store_true",
                   help="leave out paired draws that are not finite (NaN or inf) on either side and say how many, "
                        "instead of refusing")
    add_scenario_flags(p, "scenario A (TOML path or bundled name); with the run flags below, the one FILE given is B "
                          "and the flags describe A")
    p.add_argument("b", nargs="?", help="scenario B (TOML path or bundled name)")
    p.set_defaults(handler=handle)


def scenarios_a_b(args: argparse.Namespace, table=None):
    """(A, B): two FILEs, or one FILE (B) and the run the flags describe (A, validated as its TOML)."""
    from ..errors import InputError
    from .common import run_from_flags, scenario_argument

    if run_from_flags(args) is not None or getattr(args, "save", None):
        if args.b is not None:
            raise InputError("with the run flags describing A, give one scenario FILE (B), not two")
        if args.file is None:
            raise InputError("the run flags describe A: give scenario B as a FILE (or a bundled name)")
        b, args.file = args.file, None
        return scenario_argument(args, table), b
    if args.file is None or args.b is None:
        raise InputError("give two scenarios A B, or one (B) and the run flags describing A (--hardware, --devices, "
                         "--days, --region, --datacenter; see --help)")
    return args.file, args.b


def handle(args: argparse.Namespace) -> int:
    require_suffix(args.plot, PLOT_SUFFIXES, "--plot")
    if args.plot:
        check_writable(args.plot)
    from ..joint.paired import compare

    a, b = scenarios_a_b(args, priors_table(args))
    c = compare(a, b, quantity=args.quantity, num_draws=args.draws, seed=args.seed,
                common_random_numbers=not args.independent, grid_basis=args.basis, pue_included=pue_flag(args),
                priors=priors_table(args), nonfinite="drop" if args.drop_nonfinite else "refuse")
    if args.plot:
        save_plot("claims", "plot_comparison", c, path=args.plot)
    if args.json:
        print_json({**c.to_dict(), "written": [args.plot] if args.plot else []})
        return 0
    s = c.summary()
    how = "common random numbers" if c.common_random_numbers else "independent draws"
    table = Table(title=f"{c.quantity}: B vs A, {c.num_draws:,} draws, seed {c.seed}, {how}", title_justify="left")
    table.add_column("")
    table.add_column("median", justify="right")
    table.add_column("90% interval", justify="right")
    rows = [("A: " + c.a_name, s["a"], c.units), ("B: " + c.b_name, s["b"], c.units),
            ("B / A", s["ratio"], ""), ("B - A", s["difference"], c.units)]
    for label, q, units in rows:
        if q is None:
            table.add_row(label, "undefined", "(A is 0 in some draws)")
            continue
        unit = f" {units}" if units else ""
        table.add_row(label, fmt(q["median"]) + unit, f"{fmt(q['lower'])} – {fmt(q['upper'])}{unit}")
    table.add_row("P(B < A)", f"{s['prob_b_less']:.4f} ± {s['prob_b_less_se']:.4f}", "")
    stdout.print(table)
    stdout.print("shared (drawn once for both): " + (", ".join(c.shared) or "none"))
    stdout.print("drawn separately for B: " + (", ".join(c.separate) or "none"))
    stdout.print("sampler: " + c.sampler)
    if c.nonfinite_draws_dropped:
        stdout.print(f"{c.nonfinite_draws_dropped:,} of {c.num_draws:,} paired draws were not finite and were left out "
                     "(--drop-nonfinite)")
    if args.plot:
        stdout.print(f"written: {args.plot}")
    return 0
