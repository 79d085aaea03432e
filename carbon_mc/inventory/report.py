"""Inventory reports: totals and intervals by any labels, with each group's share of the total and
of its variance; stored, reused and reproduced through the database.

A group's *share of the variance* is Cov(group, total) / Var(total) (the covariance, or Euler,
allocation): the shares add up to 1 over the groups of a report, and a group whose inputs move with
the rest (same grid, same data centre) carries more of the spread than its share of the mean.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..priors import PriorTable, load_priors
from .entries import LABELS, Entry, read_entries
from .sharing import RULES
from .store import InventoryStore
from .totals import METRIC_UNITS, METRICS, PERIODS, cell_pieces, compute_cells, prepare_all

__all__ = ["REPORT_METRICS", "InventoryReport", "add_entries", "inventory_report", "reproduce_report", "summarize_cells", "totals"]

DRAW_SCHEME = "inventory-mc/1"  # how draws are made (streams, chunks): part of every cached cell's key
REPORT_METRICS = (*METRICS, "total_location_tco2e", "total_market_tco2e")
UNITS = {**METRIC_UNITS, "total_location_tco2e": "t", "total_market_tco2e": "t"}
BY_KEYS = ("id", "kind", *LABELS, *PERIODS)


@dataclass(frozen=True)
class InventoryReport:
    """Summaries of an inventory's totals: one row per group and metric (``group`` [] is the total).

    Attributes:
      by: the labels grouped by; rows: dicts with group, metric, units, mean, sd, median, lower,
        upper, share_of_total, share_of_variance, entries; meta: seed, draws, sharing rules, priors'
        hashes, versions; report_id: its id in the database (None when not stored); reused: True
        when it was read back rather than computed; cells_reused: cells taken from the database.
    """

    by: tuple[str, ...]
    rows: list[dict]
    meta: dict = field(default_factory=dict)
    report_id: int | None = None
    reused: bool = False
    cells_reused: int = 0
    cells_computed: int = 0
    draws: dict[tuple, np.ndarray] | None = field(default=None, repr=False, compare=False)  # {cell: (METRICS, draws)}

    def total(self, metric: str = "total_location_tco2e") -> dict:
        return next(r for r in self.rows if r["group"] == [] and r["metric"] == metric)

    def to_dict(self) -> dict:
        return {"report_id": self.report_id, "by": list(self.by), **{k: v for k, v in self.meta.items() if k != "by"},
                "reused": self.reused, "cells_reused": self.cells_reused, "cells_computed": self.cells_computed,
                "groups": self.rows}

    def to_csv(self) -> str:
        """One row per group and metric; the group's labels in one column each (the total: "(total)")."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        stats = ["metric", "units", "mean", "sd", "median", "lower", "upper", "share_of_total", "share_of_variance", "entries"]
        writer.writerow([*self.by, *stats])
        for r in self.rows:
            labels = r["group"] if r["group"] else ["(total)"] * len(self.by)
            writer.writerow([*labels, *("" if r[k] is None else r[k] for k in stats)])
        return out.getvalue()


def _check_by(by) -> tuple[str, ...]:
    if isinstance(by, str):
        by = tuple(k.strip() for k in by.split(",") if k.strip())
    by = tuple(by)
    for k in by:
        if not isinstance(k, str) or not k or k in ("date", "start", "end", "tags", "independent"):
            raise InputError(f"cannot group by {k!r}: give labels ({', '.join(BY_KEYS)}) or tag keys")
    if len(set(by)) != len(by):
        raise InputError(f"a label is given twice in by: {', '.join(by)}")
    return by


def _stats(x: np.ndarray, total: np.ndarray, lo: float, hi: float) -> dict:
    q = np.quantile(x, [lo, 0.5, hi])
    mean_t, var_t = float(np.mean(total)), float(np.var(total))
    cov = float(np.mean((x - x.mean()) * (total - total.mean())))
    return {"mean": float(np.mean(x)), "sd": float(np.std(x)), "median": float(q[1]), "lower": float(q[0]), "upper": float(q[2]),
            "share_of_total": float(np.mean(x)) / mean_t if mean_t else None,
            "share_of_variance": cov / var_t if var_t > 0 else None}


def _metric_draws(values: np.ndarray) -> dict[str, np.ndarray]:
    out = {m: values[i] for i, m in enumerate(METRICS)}
    out["total_location_tco2e"] = out["scope2_location_tco2e"] + out["scope3_embodied_tco2e"]
    out["total_market_tco2e"] = out["scope2_market_tco2e"] + out["scope3_embodied_tco2e"]
    return out


def summarize_cells(cells: dict[tuple, np.ndarray], members: dict[tuple, list[str]], ci_prob: float = 0.9) -> list[dict]:
    """Rows (the total first, then each cell) of mean, sd, median, central `ci_prob` interval and shares."""
    lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    keys = sorted(cells)
    total = np.zeros_like(cells[keys[0]])
    for k in keys:  # in a fixed order: the same sums whatever was reused
        total = total + cells[k]
    t = _metric_draws(total)
    rows = []
    entries_total = len({i for k in keys for i in members.get(k, [])})
    # without grouping the one cell is the total itself: one row per metric, not two of the same group
    for group, values in [((), total), *((k, cells[k]) for k in keys if k != ())]:
        m = _metric_draws(values)
        n = entries_total if group == () else len(members.get(group, []))
        for metric in REPORT_METRICS:
            rows.append({"group": list(group), "metric": metric, "units": UNITS[metric], **_stats(m[metric], t[metric], lo, hi),
                         "entries": n})
    return rows


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _meta(entries: list[Entry], by, seed, num_draws, sharing, ci_prob, table: PriorTable) -> dict:
    from ..sampling import package_version
    from ..version import __version__

    return {"by": list(by), "seed": int(seed), "num_draws": int(num_draws), "sharing": list(sharing), "ci_prob": float(ci_prob),
            "inventory_sha256": _sha(sorted((e.id, e.sha256) for e in entries)), "priors_sha256": _sha(table.files),
            "priors_files": dict(table.files), "carbon_mc_version": __version__, "jax_version": package_version("jax"),
            "draw_scheme": DRAW_SCHEME, "entries": len(entries)}


def _check_args(num_draws, seed, ci_prob, sharing) -> tuple[str, ...]:
    if isinstance(num_draws, bool) or not isinstance(num_draws, int) or num_draws < 2:
        raise InputError(f"num_draws must be a whole number >= 2, got {num_draws!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError(f"seed must be a whole number in [0, 2^63), got {seed!r}")
    if isinstance(ci_prob, bool) or not isinstance(ci_prob, (int, float)) or not 0 < ci_prob < 1:
        raise InputError(f"ci_prob must be a probability in (0, 1), got {ci_prob!r}")
    sharing = tuple(sharing.split(",")) if isinstance(sharing, str) else tuple(sharing)
    sharing = tuple(s.strip() for s in sharing if s.strip() and s.strip() != "none")
    for s in sharing:
        if s not in RULES:
            raise InputError(f"unknown sharing rule {s!r}; valid: {', '.join(RULES)} (or none)")
    return tuple(r for r in RULES if r in sharing)


def _compute(entries: list[Entry], by, meta: dict, table: PriorTable, store: InventoryStore | None, reuse: bool):
    """(rows, new cells {hash: draws}, reused count, computed count, every cell {cell: draws})."""
    if not entries:
        raise InputError("the inventory has no entries; add some with `carbon-mc inventory add`")
    pieces = cell_pieces(entries, by)
    cell_hash = {c: _sha([meta["draw_scheme"], meta["seed"], meta["num_draws"], meta["sharing"], meta["priors_sha256"],
                          meta["carbon_mc_version"], [(e.sha256, repr(w)) for e, w in p]]) for c, p in pieces.items()}
    stored = store.cells(list(cell_hash.values()), meta["num_draws"]) if store is not None and reuse else {}
    todo = {c: p for c, p in pieces.items() if cell_hash[c] not in stored}
    need = {e.id: e for p in todo.values() for e, _ in p}
    prepared = prepare_all(list(need.values()), table, tuple(meta["sharing"]))
    computed = compute_cells({c: [(prepared[e.id], w) for e, w in p] for c, p in todo.items()},
                             num_draws=meta["num_draws"], seed=meta["seed"])
    cells = {c: stored[cell_hash[c]] if c not in computed else computed[c] for c in pieces}
    rows = summarize_cells(cells, {c: [e.id for e, _ in p] for c, p in pieces.items()}, meta["ci_prob"])
    return rows, {cell_hash[c]: v for c, v in computed.items()}, len(pieces) - len(todo), len(todo), cells


def totals(entries: list[Entry], *, by=(), num_draws: int = 20_000, seed: int = 0, sharing=tuple(RULES),
           ci_prob: float = 0.9, priors: PriorTable | None = None) -> InventoryReport:
    """An inventory's totals without a database: `entries` (from `read_entries`) grouped `by` labels.

    Raises:
      InputError: no entries, an invalid grouping, draw count, seed, probability or sharing rule.
      NumericError: draws that are not finite.
    """
    by, sharing = _check_by(by), _check_args(num_draws, seed, ci_prob, sharing)
    table = priors or load_priors()
    meta = _meta(entries, by, seed, num_draws, sharing, ci_prob, table)
    rows, _, _, computed, cells = _compute(entries, by, meta, table, None, False)
    return InventoryReport(by, rows, meta, cells_computed=computed, draws=cells)


def add_entries(paths, db: str | Path, *, replace: bool = False, priors: PriorTable | None = None, codecarbon=(),
                labels: dict | None = None, tags=None, **import_options) -> dict[str, list[str]]:
    """Read entries from folders, scenario files and CSV tables, and from CodeCarbon files (`codecarbon`:
    files or folders, one entry per file, with `labels`, `tags` and `import_options` as in
    `carbon_mc.inventory.measured.read_codecarbon_entries`), and add them to the database `db`
    (created if absent) in one transaction: {"added", "unchanged", "replaced": ids}.

    Every entry is read and checked before the database is opened: a bad row, an unknown column, a
    file the import refuses or a duplicated id leaves it as it was.
    """
    table = priors or load_priors()
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths or [])
    codecarbon = [codecarbon] if isinstance(codecarbon, (str, Path)) else list(codecarbon or [])
    if not paths and not codecarbon:
        raise InputError("nothing to add: give scenario files, folders or CSV tables, or CodeCarbon files (--codecarbon)")
    given = [k for k, v in {"labels": labels, "tags": tags, **import_options}.items() if v and not (k == "scope" and v == "codecarbon")]
    if given and not codecarbon:
        raise InputError(f"{', '.join(given)} apply to imported CodeCarbon files only (a table or scenario file carries its "
                         "own labels): give the files with --codecarbon")
    entries = read_entries(paths, table=table) if paths else []
    if codecarbon:
        from .measured import read_codecarbon_entries

        where = {e.id: e.source for e in entries}
        for e in read_codecarbon_entries(codecarbon, table=table, labels=labels, tags=tags, **import_options):
            if e.id in where:
                raise InputError(f"id {e.id!r} is given twice (also at {where[e.id]})", file=e.source, key="id")
            entries.append(e)
    with InventoryStore(db, create=True) as store:
        return store.add_entries(entries, replace=replace)


def inventory_report(db: str | Path, *, by=(), num_draws: int = 20_000, seed: int = 0, sharing=tuple(RULES),
                     ci_prob: float = 0.9, save: bool = True, reuse: bool = True, keep_draws: bool = False,
                     priors: PriorTable | None = None) -> InventoryReport:
    """The report of the inventory in `db`, grouped `by` labels (and periods: month, quarter, year).

    A report already computed from the same entries and settings is read back (``reused``); cells
    (groups of entries) that did not change since an earlier report are taken from the database.
    With `save`, the report, its entry versions and new cells are written in one transaction. In a
    multi-process run every process computes its share of the draws and only process 0 writes.
    With `keep_draws` the report carries each group's draws (``draws``; a stored report's groups are
    read back from the database's cells).

    Raises:
      InputError: no such database, or one corrupt, locked or too new; no entries; invalid arguments.
      NumericError: draws that are not finite.
    """
    import jax

    by, sharing = _check_by(by), _check_args(num_draws, seed, ci_prob, sharing)
    table = priors or load_priors()
    with InventoryStore(db) as store:
        active = store.entries()
        entries = [e for _, e in active]
        meta = _meta(entries, by, seed, num_draws, sharing, ci_prob, table)
        found = store.find_report(meta) if reuse else None
        if found is not None:
            _, _, groups = store.report(found)
            rows = [{k: g[k] for k in ("group", "metric", "units", "mean", "sd", "median", "lower", "upper", "share_of_total",
                                       "share_of_variance", "entries")} for g in groups]
            cells = _compute(entries, by, meta, table, store, True)[4] if keep_draws else None  # its cells, from the database
            return InventoryReport(by, rows, meta, report_id=found, reused=True, draws=cells)
        rows, new_cells, reused, computed, cells = _compute(entries, by, meta, table, store, reuse)
        report_id = None
        if save and jax.process_index() == 0:
            report_id = store.save_report(meta, [k for k, _ in active], rows, new_cells)
    return InventoryReport(by, rows, meta, report_id=report_id, cells_reused=reused, cells_computed=computed,
                           draws=cells if keep_draws else None)


def reproduce_report(db: str | Path, report_id: int, *, priors: PriorTable | None = None) -> tuple[InventoryReport, bool]:
    """Recompute stored report `report_id` from the entry versions it used (no cell reused): (report, identical).

    Raises:
      InputError: no such report, or priors whose files differ from the report's (give the same
        priors overlays as then).
    """
    table = priors or load_priors()
    with InventoryStore(db) as store:
        meta_then, keys, groups = store.report(report_id)
        entries = [e for _, e in store.entries(keys)]
    if _sha(table.files) != meta_then["priors_sha256"]:
        raise InputError(f"report {report_id} was computed with other priors ({meta_then['priors_sha256'][:12]}, now "
                         f"{_sha(table.files)[:12]}); give the priors overlays it used (--priors)", file=str(db))
    by = tuple(meta_then["by_keys"])
    meta = _meta(entries, by, meta_then["seed"], meta_then["num_draws"], meta_then["sharing"], meta_then["ci_prob"], table)
    rows, _, _, computed, _ = _compute(entries, by, meta, table, None, False)
    stats = ("mean", "sd", "median", "lower", "upper", "share_of_total", "share_of_variance")
    then = {(json.dumps(g["group"]), g["metric"]): g for g in groups}
    identical = len(then) == len(rows) and all(
        (json.dumps(r["group"]), r["metric"]) in then
        and all(_same(r[k], then[(json.dumps(r["group"]), r["metric"])][k]) for k in stats) for r in rows)
    return InventoryReport(by, rows, meta, report_id=report_id, cells_computed=computed), identical


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b or (math.isnan(a) and math.isnan(b))
