"""`carbon-mc report FILE [FILE ...] --html report.html`: one self-contained page to publish."""

from __future__ import annotations

import argparse

from ..io.files import check_writable
from ..options import REPORT_BASE_DRAWS as DEFAULT_BASE_DRAWS
from ..options import REPORT_DRAWS as DEFAULT_DRAWS
from .common import (
    add_priors_flag,
    add_scenario_flags,
    positive_int,
    priors_table,
    require_suffix,
    scenario_argument,
    stdout,
)


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="write a self-contained HTML report of one or more scenarios",
        description="Write one self-contained HTML page (inline CSS and SVG figures, no network) with a section per "
                    "scenario: the ranges, the distribution with each published figure on its own scope, the claim "
                    "checks, the sensitivity ranking, the assumptions with their sources, and the model-card block. A training "
                    "run and a deployment whose `model` names it get a life-cycle section (training against serving, "
                    "break-even). Inventories have their own page: `carbon-mc inventory report DB --html`.",
    )
    p.add_argument("--html", required=True, metavar="HTML", help="the page to write (.html)")
    p.add_argument("--draws", type=positive_int, default=DEFAULT_DRAWS, help=f"Monte Carlo draws (default {DEFAULT_DRAWS})")
    p.add_argument("--base-draws", type=positive_int, default=DEFAULT_BASE_DRAWS, dest="base_draws",
                   help=f"Saltelli base rows of the sensitivity ranking, a power of two (default {DEFAULT_BASE_DRAWS})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--title", help="the page's title (default: the scenarios' names)")
    add_priors_flag(p)
    add_scenario_flags(p, "scenario TOML file or bundled name")
    p.add_argument("more", nargs="*", metavar="FILE", help="more scenarios, each a section of the page")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..report import write_report
    from ..sobol import check_num_base

    require_suffix(args.html, (".html", ".htm"), "--html")
    check_writable(args.html)
    base_draws = check_num_base(args.base_draws, "sobol", warn=False)  # Sobol' points: rounded up to a power of two
    files = [scenario_argument(args, priors_table(args)), *args.more]  # FILE ..., or the run the flags describe
    write_report(files, args.html, num_draws=args.draws, seed=args.seed, base_draws=base_draws,
                 priors=priors_table(args), title=args.title)
    stdout.print(f"written: {args.html}")
    return 0
