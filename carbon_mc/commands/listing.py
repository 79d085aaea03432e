"""`carbon-mc list hardware|regions|datacenters|scenarios|priors`: what the priors and models offer.

Heavy modules (jax, numpyro) are imported inside `handle`, so ``carbon-mc --help`` stays fast.
"""

from __future__ import annotations

KINDS = ("hardware", "regions", "datacenters", "scenarios", "priors")
OVERFLOW = "fold"  # wrap long cells, never cut them with "..."


def register(sub) -> None:
    p = sub.add_parser(
        "list", help="list accelerators, grid regions, data centres, bundled scenarios or every prior",
        description="List what the prior table and the bundled scenarios offer, with units, year and source. "
                    "Entries added by --priors or CARBON_MC_PRIORS overlays are included and name their file.",
    )
    p.add_argument("kind", choices=KINDS, help="what to list")
    p.add_argument("--priors", action="append", default=[], metavar="DIR",
                   help="overlay directory of the user's own priors, applied after CARBON_MC_PRIORS (repeatable; later wins)")
    p.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from ..data import data_dir
    from ..priors import load_priors
    from ..priors.catalog import rows_for
    from .common import print_json, stdout

    table = load_priors(overlays=args.priors)
    rows = rows_for(args.kind, table, data_dir("models"))
    if args.json:
        print_json(rows)
    else:
        stdout.print(render(args.kind, rows, stdout.width))
    return 0


def _num(x) -> str:
    from .common import fmt

    return "" if x is None else fmt(float(x))


def _interval(row: dict) -> str:
    if row["median"] is None:
        return "joint: " + ", ".join(row.get("components", []))
    if row["distribution"] == "fixed":
        return f"{_num(row['median'])} (fixed)"
    return f"{_num(row['median'])} ({_num(row['p5'])}-{_num(row['p95'])})"


def _source(row: dict) -> str:
    file = row.get("file")
    overlay = file is not None and ("/" in file or "\\" in file)  # bundled files are bare names
    return row["source"] + (f" (overlay file {file})" if overlay else "")


def render(kind: str, rows: list[dict], width: int = 80):
    """A rich Table of the rows of one listing: one column per field on a wide console (>= WIDE
    characters), else two columns (key, details) so that nothing is cut at 80 characters."""
    from rich.markup import escape
    from rich.table import Table

    columns, cells = COLUMNS[kind]
    body = [[escape(str(c)) if c is not None else "" for c in cells(row)] for row in rows]
    table = Table(title=TITLES[kind], show_lines=width < WIDE)
    if width >= WIDE:
        for name in columns:
            # keys and numbers are not wrapped (rich narrows prose columns first); prose wraps at word boundaries
            table.add_column(name, overflow=OVERFLOW, no_wrap=name not in PROSE)
        for line in body:
            table.add_row(*line)
        return table
    table.add_column(columns[0], overflow=OVERFLOW, no_wrap=True)
    table.add_column("details", overflow=OVERFLOW)
    for line in body:
        table.add_row(line[0], _details(columns[1:], line[1:]))
    return table


def _details(names, values) -> str:
    """Short fields on one line ("name: value · ..."), each prose field on a line of its own."""
    short = " · ".join(f"{n}: {v}" for n, v in zip(names, values) if v and n not in PROSE)
    prose = [f"{n}: {v}" for n, v in zip(names, values) if v and n in PROSE]
    return "\n".join([short, *prose] if short else prose)


PROSE = {"name", "source", "reported", "classes (power, MFU, server)"}
WIDE = 140


TITLES = {
    "hardware": "Accelerators (priors/accelerators.toml)",
    "regions": "Grid carbon intensity by region: grid_gco2_per_kwh, g/kWh (median and 90% interval)",
    "datacenters": "Power usage effectiveness by data centre: pue, ratio (median and 90% interval)",
    "scenarios": "Bundled scenarios (models/)",
    "priors": "Every prior: median and 90% interval in the quantity's units",
}
COLUMNS = {
    "hardware": (
        ("key", "name", "year", "TDP (W)", "peak (TFLOP/s)", "memory (GB)", "classes (power, MFU, server)", "source"),
        lambda r: (r["key"], r["name"], r["year"], _num(r["tdp_w"]), _num(r["peak_flop_per_s"] / 1e12), _num(r["memory_gb"]),
                   f"{r['power_class']}, {r['mfu_class']}, {r['server_class']}", _source(r)),
    ),
    "regions": (
        ("region", "g/kWh", "distribution", "year", "source"),
        lambda r: (r["variant"], _interval(r), r["distribution"], r["year"], _source(r)),
    ),
    "datacenters": (
        ("datacenter", "PUE", "distribution", "year", "source"),
        lambda r: (r["variant"], _interval(r), r["distribution"], r["year"], _source(r)),
    ),
    "scenarios": (
        ("scenario", "kind", "name", "hardware", "region", "datacenter", "year", "reported", "source"),
        lambda r: (r["scenario"], r["kind"], r["name"], r["hardware"], r["region"], r["datacenter"], r["year"], r["reported"],
                   r["source"]),
    ),
    "priors": (
        ("quantity", "variant", "selected by", "median (90% interval)", "units", "year", "source"),
        lambda r: (r["quantity"], r["variant"], r["selected_by"] or "", _interval(r), r["units"], r["year"], _source(r)),
    ),
}
