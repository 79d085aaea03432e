"""`carbon-mc inventory add|report|reproduce|list`: an organisation's year, kept in an SQLite database."""

from __future__ import annotations

import argparse

from .common import add_priors_flag, fmt, positive_float, positive_int, print_json, priors_table, probability, require_suffix, stdout

SHOWN_METRICS = ("scope2_location_tco2e", "scope2_market_tco2e", "scope3_embodied_tco2e", "total_location_tco2e")


def register(sub) -> None:
    p = sub.add_parser(
        "inventory", help="an organisation's year: many runs and deployments summed with correlated intervals, in SQLite",
        description="Keep an inventory of training runs and deployments (scenario files, CSV tables) in an SQLite "
                    "database and report its totals by team, project, model, phase, tag, month, quarter or year, "
                    "location- and market-based (Scope 2) with embodied carbon apart (Scope 3); inputs the entries "
                    "share (grid and year, data centre, hardware class) are drawn once per draw.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add scenario files, folders of them or CSV tables to the database",
                             description="Read every entry first (a bad row or a duplicated id changes nothing), "
                                         "then add them in one transaction; entries already there unchanged are skipped.")
    add.add_argument("files", nargs="*", metavar="FOLDER_OR_CSV", help="a folder (read recursively), a .toml or a .csv")
    cc = add.add_argument_group("measurements", "CodeCarbon files, one entry per file (the scenario `carbon-mc import "
                                                "codecarbon --merge` writes), with the labels and tags below")
    cc.add_argument("--codecarbon", nargs="+", default=[], metavar="CSV_OR_FOLDER", help="CodeCarbon emissions.csv files or folders")
    for label in ("team", "project", "model", "phase"):
        cc.add_argument(f"--{label}", help=f"the {label} of every imported file")
    cc.add_argument("--tags", help="tags of every imported file, e.g. 'cluster=onprem;sweep'")
    cc.add_argument("--hardware", help="accelerator key (default: from the GPU name in each file)")
    cc.add_argument("--region", help="grid variant (default: from each file's location)")
    cc.add_argument("--datacenter", help="pue variant (default: from each file's cloud provider or pue column)")
    cc.add_argument("--pue", type=positive_float, help="a fixed PUE instead of --datacenter")
    cc.add_argument("--scope", choices=("codecarbon", "it", "accelerator"), default="codecarbon",
                    help="what the meter covered, as `carbon-mc import codecarbon --scope` (default codecarbon)")
    add.add_argument("--db", required=True, help="the inventory database (.sqlite; created if absent)")
    add.add_argument("--replace", action="store_true", help="replace entries whose id is there with other content")
    add.add_argument("--json", action="store_true", help="print one JSON object")
    add_priors_flag(add)

    rep = actions.add_parser("report", help="totals and intervals by labels and periods, stored in the database",
                             description="Totals by any labels (team, project, model, phase, kind, id, a tag's key) and "
                                         "periods (month, quarter, year), each with its share of the total and of the "
                                         "variance. A report already computed is read back; groups whose entries did not "
                                         "change are reused.")
    rep.add_argument("--db", required=True, help="the inventory database")
    rep.add_argument("--by", default="", help="comma-separated labels, e.g. team,quarter (default: the total only)")
    rep.add_argument("--draws", type=positive_int, default=20_000, help="Monte Carlo draws (default 20000)")
    rep.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    rep.add_argument("--share", default="grid,datacenter,hardware,constants",
                     help="sharing rules applied (default all: grid,datacenter,hardware,constants; 'none' for independent entries)")
    rep.add_argument("--ci-prob", dest="ci_prob", type=probability, default=0.9, help="interval probability (default 0.9)")
    rep.add_argument("--json", action="store_true", help="print one JSON object")
    rep.add_argument("--csv", metavar="CSV", help="write one row per group and metric to this .csv file")
    rep.add_argument("--html", metavar="HTML", help="write a self-contained HTML report (totals over time with bands, largest "
                                                    "contributors, shared inputs that drive the spread); --by defaults to team")
    rep.add_argument("--no-save", dest="save", action="store_false", help="do not store the report in the database")
    rep.add_argument("--recompute", action="store_true", help="compute every group afresh (reuse nothing stored)")
    add_priors_flag(rep)

    rpr = actions.add_parser("reproduce", help="recompute a stored report from the entry versions it used and compare")
    rpr.add_argument("--db", required=True, help="the inventory database")
    rpr.add_argument("--report", type=positive_int, required=True, help="the report's id (`carbon-mc inventory list`)")
    rpr.add_argument("--json", action="store_true", help="print one JSON object")
    add_priors_flag(rpr)

    lst = actions.add_parser("list", help="the active entries and the stored reports")
    lst.add_argument("--db", required=True, help="the inventory database")
    lst.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    return {"add": _add, "report": _report, "reproduce": _reproduce, "list": _list}[args.action](args)


def _add(args: argparse.Namespace) -> int:
    from ..inventory import add_entries

    labels = {k: getattr(args, k) for k in ("team", "project", "model", "phase") if getattr(args, k)}
    out = add_entries(args.files, args.db, replace=args.replace, priors=priors_table(args), codecarbon=args.codecarbon,
                      labels=labels, tags=args.tags, hardware=args.hardware, region=args.region, datacenter=args.datacenter,
                      pue=args.pue, scope=args.scope)
    if args.json:
        print_json(out)
    else:
        stdout.get().print(f"{args.db}: {len(out['added'])} added, {len(out['replaced'])} replaced, "
                           f"{len(out['unchanged'])} unchanged", highlight=False)
    return 0


def _print_report(report) -> None:
    from rich.table import Table

    by = list(report.by)
    table = Table(title=f"inventory: {report.meta['entries']} entries, {report.meta['num_draws']:,} draws, seed "
                        f"{report.meta['seed']}, sharing {', '.join(report.meta['sharing']) or 'none'}")
    for k in by or ["group"]:
        table.add_column(k)
    ci = round(100 * report.meta["ci_prob"])
    for m in ("location", "market", "embodied", "total"):
        table.add_column(f"{m} t [{ci}%]", justify="right")
    table.add_column("share: total/var", justify="right")
    groups: dict[str, dict] = {}
    for r in report.rows:
        groups.setdefault(repr(r["group"]), {})[r["metric"]] = r
    for rows in groups.values():
        first = next(iter(rows.values()))
        labels = first["group"] or ["(total)"] * max(1, len(by))
        cells = [f"{fmt(rows[m]['median'])} [{fmt(rows[m]['lower'])}, {fmt(rows[m]['upper'])}]" for m in SHOWN_METRICS]
        t = rows["total_location_tco2e"]
        share = "" if not first["group"] else f"{t['share_of_total']:.1%} / {t['share_of_variance']:.1%}"
        table.add_row(*labels, *cells, share)
    console = stdout.get()
    console.print(table)
    n_computed = f"{report.cells_computed} group{'' if report.cells_computed == 1 else 's'}"
    how = "read back (computed before)" if report.reused else f"{n_computed} computed, {report.cells_reused} reused"
    console.print(f"t CO2e; location and market: Scope 2 (operational); embodied: Scope 3. Report {report.report_id}: {how}.",
                  highlight=False)


def _report(args: argparse.Namespace) -> int:
    require_suffix(args.csv, (".csv",), "--csv")
    require_suffix(args.html, (".html", ".htm"), "--html")
    from ..inventory import inventory_report
    from ..io.files import save_text

    settings = {"num_draws": args.draws, "seed": args.seed, "sharing": args.share, "ci_prob": args.ci_prob, "save": args.save,
                "reuse": not args.recompute, "priors": priors_table(args)}
    page = None
    if args.html:
        from ..inventory.html import inventory_html

        page, report = inventory_html(args.db, by=args.by or "team", **settings)
    else:
        report = inventory_report(args.db, by=args.by, **settings)
    if args.csv:
        save_text(report.to_csv(), args.csv)
    if page is not None:
        save_text(page, args.html)
    if args.json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from ..inventory import reproduce_report

    report, identical = reproduce_report(args.db, args.report, priors=priors_table(args))
    if args.json:
        print_json({**report.to_dict(), "identical": identical})
    else:
        _print_report(report)
        stdout.get().print(f"report {args.report}: {'identical to the stored one' if identical else 'DIFFERS from the stored one'}",
                           highlight=False)
    return 0 if identical else 1


def _list(args: argparse.Namespace) -> int:
    from ..inventory import InventoryStore

    with InventoryStore(args.db) as store:
        entries = [{"id": e.id, "kind": e.kind, **e.labels, "start": e.start.isoformat(), "end": e.end.isoformat(),
                    "tags": e.tags} for _, e in store.entries()]
        reports = store.reports()
        version = store.schema_version
    if args.json:
        print_json({"schema_version": version, "entries": entries, "reports": reports})
        return 0
    console = stdout.get()
    for e in entries:
        console.print(f"{e['id']:<32} {e['kind']:<8} {e['team']:<12} {e['phase']:<12} {e['start']} .. {e['end']}", highlight=False)
    for r in reports:
        console.print(f"report {r['report_id']}: {r['created_at']} by {','.join(r['by']) or 'total'}, {r['entries']} entries, "
                      f"{r['num_draws']:,} draws, seed {r['seed']}", highlight=False)
    return 0
