"""`carbon-mc list hardware|regions|datacenters|scenarios|priors`: what the priors and models offer.

Heavy modules (jax, numpyro) are imported inside `handle`, so ``carbon-mc --help`` stays fast.
"""

from __future__ import annotations

from typing import Final

KINDS = ("hardware", "regions", "datacenters", "scenarios", "priors")
OVERFLOW: Final = "fold"  # wrap long cells, never cut them with "..." (Final: the literal type rich's `overflow` takes)


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
    p.add_argument("--search", metavar="TEXT",
                   help="only entries whose key, name or aliases contain TEXT (case and accents ignored), e.g. l4, cali")
    p.add_argument("--country", metavar="NAME",
                   help="regions only: the places inside a country (a name or ISO code: US, Germany, CA)")
    p.add_argument("--details", metavar="KEY", help="every field of one entry, one per line")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from ..data import data_dir
    from ..errors import InputError
    from ..priors import load_priors
    from ..priors.catalog import rows_for
    from .common import print_json, stdout

    table = load_priors(overlays=args.priors)
    rows = rows_for(args.kind, table, data_dir("models"))
    if args.country is not None:
        if args.kind != "regions":
            raise InputError(f"--country filters regions, not {args.kind}")
        rows = in_country(rows, args.country)
    if args.search is not None:
        rows = search(args.kind, rows, args.search)
    if args.details is not None:
        row = one_row(args.kind, rows, args.details)
        if args.json:
            print_json(row)
        else:
            for name, value in row.items():
                stdout.print(f"[bold]{name}[/bold]: {value}", overflow=OVERFLOW, highlight=False, markup=True)
        return 0
    if args.json:
        print_json(rows)
    else:
        stdout.print(render(args.kind, rows, stdout.width))
    return 0


KEY_FIELDS = {"hardware": "key", "regions": "variant", "datacenters": "variant", "scenarios": "scenario", "priors": "variant"}


def _aliases_by_key(kind: str) -> dict[str, list[str]]:
    """Other names of each hardware key or grid variant (the bundled alias tables)."""
    out: dict[str, list[str]] = {}
    if kind == "hardware":
        from ..priors.hardware_names import load_aliases

        aliases = load_aliases()
        for name, key in aliases.names.items():
            out.setdefault(key, []).append(name)
        for name, inst in aliases.instances.items():
            out.setdefault(inst.hardware, []).append(name)
    elif kind == "regions":
        from ..priors.places import place_table

        for name, key in place_table().aliases.items():
            out.setdefault(key, []).append(name)
    return out


def search(kind: str, rows: list[dict], text: str) -> list[dict]:
    """The rows whose key, name, location or aliases contain `text` (accents, case, spaces and dashes ignored)."""
    from ..priors.places import normalise

    def norm(value) -> str:
        return normalise(str(value)).replace("-", "_").replace(":", "_")

    needle = norm(text)
    aliases = _aliases_by_key(kind)
    key_field = KEY_FIELDS[kind]
    out = []
    for row in rows:
        key = row.get(key_field)
        words = [key, row.get("name"), row.get("vendor"), row.get("location"), *(aliases.get(key, []) if key is not None else [])]
        if any(needle in norm(w) for w in words if w):
            out.append(row)
    return out


def in_country(rows: list[dict], country: str) -> list[dict]:
    """The grid variants whose fallback chain passes through `country` (the country itself included)."""
    from ..priors.places import fallback_chain, place_table, resolve

    key = resolve(country).key
    table = place_table()
    return [row for row in rows if key in fallback_chain(row["variant"], table)]


def one_row(kind: str, rows: list[dict], key: str) -> dict:
    """The row of `key` (or of the entry an alias names), else an error naming close keys."""
    from ..errors import InputError, close_matches

    key_field = KEY_FIELDS[kind]
    by_key = {str(r[key_field]): r for r in rows}
    if key in by_key:
        return by_key[key]
    try:
        if kind == "hardware":
            from ..priors.hardware_names import resolve_hardware

            return by_key[resolve_hardware(key, list(by_key))]
        if kind == "regions":
            from ..priors.places import resolve

            return by_key[resolve(key, available=by_key).key]
    except (InputError, KeyError):
        pass
    raise InputError(f"no {kind} entry {key!r}; {close_matches(key, by_key)}")


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
    if kind in COMPACT:  # one line per entry; --details KEY or --json for the rest
        names, compact_cells = COMPACT[kind]
        table = Table(title=TITLES[kind], caption="--details KEY for every field, --json for all", show_lines=False)
        for i, name in enumerate(names):  # a long key folds; the numbers never wrap
            table.add_column(name, overflow=OVERFLOW, no_wrap=i > 0)
        for row in rows:
            table.add_row(*[escape(str(c)) if c is not None else "" for c in compact_cells(row)])
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
# Below WIDE columns, hardware and regions show one line per entry (a key and its headline numbers).
COMPACT = {
    "hardware": (
        ("key", "TDP (W)", "TFLOP/s", "GB", "year"),
        lambda r: (r["key"], _num(r["tdp_w"]), _num(r["peak_flop_per_s"] / 1e12), _num(r["memory_gb"]), r["year"]),
    ),
    "regions": (
        ("region", "g/kWh (90%)", "year"),
        lambda r: (r["variant"], _interval(r), r["year"]),
    ),
}
