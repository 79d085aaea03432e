"""`carbon-mc check FILE`: test published figures against the distribution of a training run or a deployment."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rich import box
from rich.table import Table

from ..errors import CarbonMCError
from ..io.files import check_writable, save_text
from ..scenarios.units import ALL_CHECKABLE
from .common import (
    add_priors_flag,
    add_scenario_flags,
    fmt,
    nonnegative_float,
    positive_float,
    positive_int,
    print_json,
    priors_table,
    require_suffix,
    save_plot,
    scenario_argument,
    stdout,
)

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def add_accounting_flags(p: argparse.ArgumentParser) -> None:
    """--basis and --pue, shared by `check` and `compare`."""
    p.add_argument("--basis", choices=("location", "market"), default=None,
                   help="grid carbon accounting: 'location' (the grid's average factor) or 'market' (after the "
                        "operator's energy purchases; needs market_gco2_per_kwh in the scenario's [accounting]). "
                        "Default: each claim's own basis, else the scenario's, else location")
    p.add_argument("--pue", choices=("included", "excluded"), default=None,
                   help="whether energy includes the data centre's overhead: 'included' (IT energy x PUE) or "
                        "'excluded' (IT energy only, as in 'dynamic' figures). Default: each claim's own, else included")


def pue_flag(args: argparse.Namespace) -> bool | None:
    return None if args.pue is None else args.pue == "included"


def register(sub) -> None:
    p = sub.add_parser(
        "check", help="check published energy or CO2e figures against a run's distribution",
        description="Check a published figure (a paper's, a model card's) against the distribution of a training "
                    "run or of a deployment (a serving scenario; the figure is checked on the serving output it names, "
                    "e.g. energy_wh_per_request): its percentile, P(true value >= claim), claim/median with its 90% interval, and which "
                    "inputs would have to shift, and how far, to reach it. Without --claim, checks every claim "
                    "the scenario carries ([[claims]] and [reported]).",
    )
    p.add_argument("--claim", type=nonnegative_float, metavar="VALUE", help="the published figure, e.g. 626155")
    p.add_argument("--unit", metavar="UNIT", help="its unit: g, kg, t, lb (CO2e) or kWh, MWh, GWh (energy)")
    p.add_argument("--quantity", choices=ALL_CHECKABLE, default=None, metavar="QUANTITY",
                   help="what the figure measures (default: total_tco2e for a mass, energy_mwh for an energy; on a "
                        "serving scenario e.g. energy_wh_per_request, it_operational_kgco2e_per_day); "
                        "without --claim, checks only the scenario's claims on this quantity")
    add_accounting_flags(p)
    add_scenario_flags(p, "scenario TOML (e.g. models/evolved_transformer_nas_actual.toml) or a bundled name")
    p.add_argument("--draws", type=positive_int, default=100_000, help="Monte Carlo draws (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--plot", metavar="PNG", help="write a figure (.png, .pdf or .svg); numbered when several claims")
    p.add_argument("--model-card", metavar="FILE", dest="model_card",
                   help="a Hugging Face co2_eq_emissions block (operational CO2e in grams: median and 90%% interval; "
                        "total with embodied as extra keys): a .yaml/.yml file gets the block alone; a model card "
                        "README (.md) gets it written into its YAML front matter, the rest of the card kept")
    p.add_argument("--training-type", default="pre-training",
                   help="model card training_type, as the Hub documents it: pre-training (default) or fine-tuning")
    p.add_argument("--location", help="model card geographical_location (default: the scenario's grid region)")
    p.add_argument("--hardware-used", dest="hardware_used",
                   help="model card hardware_used (default: from the scenario: the device count and the accelerator)")
    p.add_argument("--training-days", dest="training_days", type=positive_float, metavar="DAYS",
                   help="model card: the run's wall-clock days, to derive hardware_used's device count from the "
                        "scenario's device-hours when it gives no device count (said so in the card)")
    p.add_argument("--force", action="store_true",
                   help="model card: replace a co2_eq_emissions entry that carbon-mc did not write (by default it is "
                        "kept and the command stops: a card's own figure, above all a measured one, is a claim to check)")
    p.add_argument("--fill-card-body", dest="fill_card_body", action="store_true",
                   help="model card README: also fill the '[More Information Needed]' fields of the Hub template's "
                        "Environmental Impact section (Hardware Type, Hours used, Cloud Provider, Compute Region, "
                        "Carbon Emitted) from the same numbers; filled fields are left as they are")
    add_priors_flag(p)
    p.add_argument("--drop-nonfinite", dest="drop_nonfinite", action="store_true",
                   help="leave out draws that are not finite (NaN or inf) and say how many, instead of refusing")
    p.set_defaults(handler=handle)


def _plot_paths(path: str, count: int) -> list[str]:
    """`path`, numbered (name_1.png, name_2.png, ...) when there are several plots."""
    if count == 1:
        return [path]
    p = Path(path)
    return [str(p.with_name(f"{p.stem}_{i + 1}{p.suffix}")) for i in range(count)]


def handle(args: argparse.Namespace) -> int:
    require_suffix(args.plot, PLOT_SUFFIXES, "--plot")
    require_suffix(args.model_card, (".yaml", ".yml", ".md"), "--model-card")
    if (args.claim is None) != (args.unit is None):
        raise CarbonMCError("--claim and --unit go together (e.g. --claim 626155 --unit lb)")
    for path in (args.plot, args.model_card):
        if path:
            check_writable(path)
    from ..claims import ModelCardFields, check_scenario
    from ..claims.front_matter import card_with_block, check_card
    from ..claims.model_card import check_training_type

    card_options = [f for f in ("--training-days", "--force", "--fill-card-body")
                    if getattr(args, f[2:].replace("-", "_")) not in (None, False)]
    if card_options and not args.model_card:
        raise CarbonMCError(f"{', '.join(card_options)} only apply with --model-card FILE")
    if args.fill_card_body and args.model_card and not args.model_card.lower().endswith(".md"):
        raise CarbonMCError("--fill-card-body fills a model card README's body: give --model-card a .md file")
    if args.model_card:
        check_training_type(args.training_type, key="--training-type")  # the Hub's values, before any drawing
        # readable UTF-8 front matter (a README), not read-only, no co2_eq_emissions of its own unless --force: before any drawing
        check_card(args.model_card, force=args.force)
    card = ModelCardFields(args.training_type, args.location, args.hardware_used, args.training_days) if args.model_card else None
    result = check_scenario(scenario_argument(args, priors_table(args)), args.claim, args.unit, quantity=args.quantity, grid_basis=args.basis,
                            pue_included=pue_flag(args), num_draws=args.draws, seed=args.seed, model_card=card,
                            source="command line", priors=priors_table(args),
                            nonfinite="drop" if args.drop_nonfinite else "refuse")
    written: list[str] = []
    filled: list[str] = []
    if args.plot:
        for check, path in zip(result.checks, _plot_paths(args.plot, len(result.checks))):
            save_plot("claims", "plot_claim", check, path=path)
            written.append(path)
    if result.model_card is not None:
        if args.model_card.lower().endswith(".md"):
            card_text, filled = card_with_block(args.model_card, result.model_card,
                                                body_values=result.card_body if args.fill_card_body else None)
        else:
            card_text = result.model_card
        save_text(card_text, args.model_card)
        written.append(args.model_card)

    if args.json:
        extra = {"card_body_filled": filled} if args.fill_card_body else {}
        print_json({**result.to_dict(), "written": written, **extra})
        return 0
    for check in result.checks:
        _print_check(check)
    dropped = max((args.draws - c.num_draws for c in result.checks), default=0)
    if dropped:
        stdout.print(f"{dropped:,} of {args.draws:,} draws were not finite and were left out (--drop-nonfinite)")
    for path in written:
        stdout.print(f"written: {path}")
    if args.fill_card_body:
        stdout.print("card body: " + (f"filled {', '.join(filled)}" if filled else
                                      "no '[More Information Needed]' field of the Environmental Impact section to fill"))
    return 0


def _interval(lo: float, hi: float) -> str:
    return f"{fmt(lo)} – {fmt(hi)}"


def _summary_table(r) -> Table:
    pue = f"PUE {'included' if r.accounting['pue_included'] else 'excluded'}" if r.pue_in_quantity else "no PUE in this quantity"
    basis = f"{r.accounting['grid_basis']}-based grid, {pue}"
    claim = r.claim
    shown = f"{fmt(claim.value)} {claim.unit}"
    if claim.unit != r.units:
        shown += f" = {fmt(r.claim_value)} {r.units}"
    table = Table(title=f"{r.scenario_name}: {claim.label}", show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("claim", shown + (f"  ({claim.source})" if claim.source and claim.source != "command line" else ""))
    table.add_row("checked against", f"{r.quantity} ({basis}); {r.num_draws:,} draws, seed {r.seed}")
    table.add_row("distribution", f"median {fmt(r.median)} {r.units}, 90% interval {_interval(*r.interval)}")
    table.add_row("percentile of the claim", f"{r.percentile:.2f}")
    if r.prob_at_least == 0:
        p_text = f"0 of {r.num_draws:,} draws (< {r.rule_of_three_bound:.1e} at 95%)"
    else:
        p_text = f"{r.prob_at_least:.4f} ± {r.prob_at_least_se:.4f}"
    table.add_row("P(true value >= claim)", p_text)
    if math.isfinite(r.ratio_median):
        table.add_row("claim / median", f"{fmt(r.ratio_median)} (90% interval {_interval(*r.ratio_interval)})")
    else:
        table.add_row("claim / median", "undefined (the median is 0)")
    table.add_row("verdict", r.verdict)
    return table


def _print_unreached(r) -> None:
    word = "largest" if r.direction == "above" else "smallest"
    stdout.print(f"No draw of {r.num_draws:,} reaches the claim; the {word} is {fmt(r.extreme)} {r.units}.")
    if r.reach is None:
        return
    if math.isfinite(r.reach.common):
        stdout.print(
            f"To reach it, every input that matters ({r.reach.num_inputs}) would have to move by a common "
            f"factor of {fmt(r.reach.common)} (each multiplied or divided, whichever moves {r.quantity} toward the claim)."
        )
    else:
        stdout.print("No common factor up to 1e6 on the inputs reaches it.")
    alone = r.reach.alone
    if alone:
        stdout.print("One input alone: " + ", ".join(f"{n} x{fmt(f)}" for n, f in alone)
                     + ("; the others cannot reach it alone" if len(alone) < len(r.reach.per_input) else ""))


def _shifts_table(r) -> Table:
    shifts = Table(title=f"What it would take: inputs among {r.conditioned_on}, against their priors",
                   title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    shifts.caption = ("prior, shifted: medians; ratio: shifted / prior; pct: the shifted median's percentile in "
                      "the prior; KS: Kolmogorov-Smirnov distance (0 none, 1 disjoint). --json has the 90% intervals.")
    shifts.caption_justify = "left"
    shifts.add_column("input", no_wrap=True)
    for col in ("prior", "shifted", "ratio", "pct", "KS"):
        shifts.add_column(col, justify="right", no_wrap=True)
    for s in r.shifts:
        unit = "" if s.units == "1" else f" {s.units}"
        shifts.add_row(s.name, fmt(s.prior[1]) + unit, fmt(s.conditional[1]) + unit, f"{s.median_ratio:.3g}",
                       f"{s.prior_percentile:.1f}", f"{s.ks_distance:.2f}")
    return shifts


def _method_table(r) -> Table:
    """The claim's stated method: its arithmetic verdict, then the gap to the estimate, factor by factor."""
    m = r.method
    table = Table(title=f"How the figure was computed: {m.method.name or 'the card'}'s method: {m.method.description}",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.caption = (f"verdict: {m.summary}")
    table.caption_justify = "left"
    table.add_column("factor of estimate / claim")
    for col in ("card", "estimate", "x (geo. mean)", "90% interval"):
        table.add_column(col, justify="right", no_wrap=True)
    d = m.decomposition
    if d is not None:
        for f in d.factors:
            table.add_row(f.label, "" if f.card is None else fmt(f.card), "" if f.estimate is None else fmt(f.estimate),
                          f"{f.geometric_mean:.3g}", f"{f.interval[0]:.3g} – {f.interval[1]:.3g}")
        table.add_row(f"estimate / claim ({d.estimate_quantity})", "", "", f"{d.ratio_geometric_mean:.3g}",
                      f"{d.ratio_interval[0]:.3g} – {d.ratio_interval[1]:.3g}", style="bold")
    return table


def _print_check(r) -> None:
    stdout.print(_summary_table(r))
    if r.method is not None:
        stdout.print(f"arithmetic: {r.method.arithmetic.sentence}")
        stdout.print(_method_table(r))
    if r.num_beyond == 0:
        _print_unreached(r)
    if r.num_beyond == r.num_draws:
        stdout.print(f"Every draw is at or {r.direction} the claim: no input needs to shift.")
    else:
        stdout.print(_shifts_table(r))
    stdout.print("")
