"""The inventory kept in SQLite: entries, their tags and every computed report, versioned.

Why SQLite (Python's own ``sqlite3``): an inventory is small structured data that a team appends to
month after month and queries in ways no one foresees ("CO2e of the vision team's fine-tunes on
A100s in Q3"); SQLite gives that in one file with no server, transactions (an ``add`` or a report is
written all or nothing: a crash, a Ctrl-C or a bad row leaves the file as it was), locking between
two writers, SQL for any question (``sqlite3 lab.sqlite``), and a format the Library of Congress
recommends for archiving datasets, readable decades from now. Parquet or netCDF would hold the draws
but neither the appends nor the queries; a server database would be one more thing to run.

Schema (version `SCHEMA_VERSION`; ``schema_version`` holds one row per version applied):

- ``entries(entry_key, id, sha256, kind, record, source, team, project, model, phase, start_date,
  end_date, added_at, retired_at)``: one row per version of an entry (``record``: the JSON that
  defines it, scenario included; ``sha256``: its hash). The active version of an id has
  ``retired_at`` NULL (a partial unique index keeps it to one); replacing an entry retires the old row,
  so reports that used it can still be reproduced.
- ``tags(entry_key, key, value)``: the free-form tags of each entry version.
- ``reports(report_id, created_at, by_keys, seed, num_draws, sharing, ci_prob, inventory_sha256,
  priors_sha256, priors_files, carbon_mc_version, jax_version, draw_scheme)``: what each report was
  computed from; ``report_entries(report_id, entry_key)`` the entry versions it covered;
  ``report_groups(report_id, group_key, metric, units, mean, sd, median, lower, upper,
  share_of_total, share_of_variance, entries)`` its summaries, one row per group and metric
  (``group_key``: a JSON list of label values; ``[]`` is the total).
- ``cells(cell_sha256, num_draws, draws)``: the draws of each computed cell (float64, zlib), keyed by a
  hash of everything they depend on; a later report reuses a cell whose entries did not change.

A file whose schema version is newer than this code knows is refused; an older one is migrated
(`MIGRATIONS`) in one transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError
from .entries import Entry

__all__ = ["SCHEMA_VERSION", "InventoryStore"]

SCHEMA_VERSION = 1
MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
    CREATE TABLE entries (
        entry_key INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('training', 'serving')),
        record TEXT NOT NULL,
        source TEXT NOT NULL,
        team TEXT NOT NULL, project TEXT NOT NULL, model TEXT NOT NULL, phase TEXT NOT NULL,
        start_date TEXT NOT NULL, end_date TEXT NOT NULL,
        added_at TEXT NOT NULL,
        retired_at TEXT,
        UNIQUE (id, sha256)
    );
    CREATE UNIQUE INDEX entries_active ON entries (id) WHERE retired_at IS NULL;
    CREATE TABLE tags (
        entry_key INTEGER NOT NULL REFERENCES entries (entry_key),
        key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (entry_key, key)
    );
    CREATE TABLE reports (
        report_id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        by_keys TEXT NOT NULL, seed INTEGER NOT NULL, num_draws INTEGER NOT NULL, sharing TEXT NOT NULL,
        ci_prob REAL NOT NULL, inventory_sha256 TEXT NOT NULL, priors_sha256 TEXT NOT NULL, priors_files TEXT NOT NULL,
        carbon_mc_version TEXT NOT NULL, jax_version TEXT NOT NULL, draw_scheme TEXT NOT NULL
    );
    CREATE TABLE report_entries (
        report_id INTEGER NOT NULL REFERENCES reports (report_id),
        entry_key INTEGER NOT NULL REFERENCES entries (entry_key),
        PRIMARY KEY (report_id, entry_key)
    );
    CREATE TABLE report_groups (
        report_id INTEGER NOT NULL REFERENCES reports (report_id),
        group_key TEXT NOT NULL, metric TEXT NOT NULL, units TEXT NOT NULL,
        mean REAL, sd REAL, median REAL, lower REAL, upper REAL, share_of_total REAL, share_of_variance REAL,
        entries INTEGER NOT NULL,
        PRIMARY KEY (report_id, group_key, metric)
    );
    CREATE TABLE cells (cell_sha256 TEXT PRIMARY KEY, num_draws INTEGER NOT NULL, draws BLOB NOT NULL);
    """,
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class InventoryStore:
    """An inventory database (SQLite). Use as a context manager; every write is one transaction.

    Raises (on opening):
      InputError: a file that is not an SQLite database or not an inventory, a corrupt one, one
        locked by another writer, or one whose schema is newer than this code.
    """

    def __init__(self, path: str | Path, *, create: bool = False, timeout_s: float = 5.0):
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise InputError("no such inventory database; create it with `carbon-mc inventory add FOLDER_OR_CSV --db ...`",
                             file=str(self.path))
        if self.path.is_dir():
            raise InputError("is a directory, not an inventory database", file=str(self.path))
        if not self.path.parent.exists():
            raise InputError("its folder does not exist", file=str(self.path))
        try:
            self.db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(f"cannot open as an inventory database: {exc}", file=str(self.path)) from None
        try:
            with self._errors():
                self.db.execute("PRAGMA foreign_keys = ON")
                self._check_schema()
        except BaseException:
            self.db.close()
            raise

    def __enter__(self) -> InventoryStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors as one line naming the file: corrupt, not a database, locked."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise InputError("the inventory database is locked by another process (a report or an add in progress); "
                                 "try again when it has finished", file=str(self.path)) from None
            raise InputError(f"inventory database error: {exc}", file=str(self.path)) from None
        except sqlite3.DatabaseError as exc:
            raise InputError(f"not a readable inventory database (corrupt, or not SQLite): {exc}", file=str(self.path)) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (KeyboardInterrupt included)."""
        with self._errors():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _check_schema(self) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            self._migrate(0)
            return
        if "schema_version" not in tables:
            raise InputError("an SQLite database, but not a carbon-mc inventory (no schema_version table)", file=str(self.path))
        version = self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
        if version > SCHEMA_VERSION:
            raise InputError(f"inventory schema version {version} is newer than this carbon-mc knows ({SCHEMA_VERSION}); "
                             "upgrade carbon-mc to read it", file=str(self.path))
        if version < SCHEMA_VERSION:
            self._migrate(version)

    def _migrate(self, version: int) -> None:
        with self.transaction() as db:
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[v].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO schema_version VALUES (?, ?)", (v, _now()))

    @property
    def schema_version(self) -> int:
        with self._errors():
            return int(self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    # -----------------------------------------------------------------------------------------
    # Entries

    def add_entries(self, entries: list[Entry], *, replace: bool = False) -> dict[str, list[str]]:
        """Add `entries` in one transaction: {"added": ids, "unchanged": ids, "replaced": ids}.

        An id already active with the same content is left as it is; with other content it is refused
        (the whole add, nothing written) unless `replace`, which retires the old version.
        """
        out: dict[str, list[str]] = {"added": [], "unchanged": [], "replaced": []}
        with self.transaction() as db:
            for e in entries:
                row = db.execute("SELECT entry_key, sha256 FROM entries WHERE id = ? AND retired_at IS NULL", (e.id,)).fetchone()
                sha = e.sha256
                if row and row[1] == sha:
                    out["unchanged"].append(e.id)
                    continue
                if row:
                    if not replace:
                        raise InputError(f"entry {e.id!r} is already in the inventory with other content; give --replace "
                                         "to replace it (the old version is kept for the reports that used it), or "
                                         "another id", file=e.source)
                    db.execute("UPDATE entries SET retired_at = ? WHERE entry_key = ?", (_now(), row[0]))
                    out["replaced"].append(e.id)
                else:
                    out["added"].append(e.id)
                old = db.execute("SELECT entry_key FROM entries WHERE id = ? AND sha256 = ?", (e.id, sha)).fetchone()
                if old:  # a version retired earlier comes back
                    db.execute("UPDATE entries SET retired_at = NULL WHERE entry_key = ?", (old[0],))
                    continue
                cur = db.execute(
                    "INSERT INTO entries (id, sha256, kind, record, source, team, project, model, phase, start_date, end_date,"
                    " added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (e.id, sha, e.kind, json.dumps(e.record(), sort_keys=True, default=str), e.source,
                     *(e.labels.get(k, "") for k in ("team", "project", "model", "phase")), e.start.isoformat(),
                     e.end.isoformat(), _now()))
                db.executemany("INSERT INTO tags VALUES (?, ?, ?)", [(cur.lastrowid, k, v) for k, v in sorted(e.tags.items())])
        return out

    def remove_entries(self, ids: list[str]) -> int:
        """Retire the active versions of `ids` (kept for old reports); how many were retired."""
        with self.transaction() as db:
            missing = [i for i in ids if not db.execute("SELECT 1 FROM entries WHERE id = ? AND retired_at IS NULL", (i,)).fetchone()]
            if missing:
                raise InputError(f"no active entry {missing[0]!r} in the inventory", file=str(self.path))
            for i in ids:
                db.execute("UPDATE entries SET retired_at = ? WHERE id = ? AND retired_at IS NULL", (_now(), i))
        return len(ids)

    def entries(self, keys: list[int] | None = None) -> list[tuple[int, Entry]]:
        """[(entry_key, Entry)]: the active entries, or the versions with the given keys, sorted by id."""
        with self._errors():
            if keys is None:
                rows = self.db.execute("SELECT entry_key, record, source FROM entries WHERE retired_at IS NULL ORDER BY id").fetchall()
            else:
                marks = ",".join("?" * len(keys))
                rows = self.db.execute(f"SELECT entry_key, record, source FROM entries WHERE entry_key IN ({marks}) ORDER BY id",
                                       keys).fetchall()
            return [(k, Entry.from_record(json.loads(r), s)) for k, r, s in rows]

    # -----------------------------------------------------------------------------------------
    # Cells and reports

    def cells(self, hashes: list[str], num_draws: int) -> dict[str, np.ndarray]:
        """The stored draws of the cells among `hashes` ({hash: (metrics, num_draws) float64})."""
        out = {}
        with self._errors():
            for h in hashes:
                row = self.db.execute("SELECT num_draws, draws FROM cells WHERE cell_sha256 = ?", (h,)).fetchone()
                if row and row[0] == num_draws:
                    out[h] = np.frombuffer(zlib.decompress(row[1]), np.float64).reshape(-1, num_draws).copy()
        return out

    def save_report(self, meta: dict, entry_keys: list[int], groups: list[dict], cells: dict[str, np.ndarray]) -> int:
        """Write a report, its entries, its summaries and its new cells in one transaction; its id."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO reports (created_at, by_keys, seed, num_draws, sharing, ci_prob, inventory_sha256, priors_sha256,"
                " priors_files, carbon_mc_version, jax_version, draw_scheme) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (_now(), json.dumps(meta["by"]), meta["seed"], meta["num_draws"], json.dumps(meta["sharing"]), meta["ci_prob"],
                 meta["inventory_sha256"], meta["priors_sha256"], json.dumps(meta["priors_files"], sort_keys=True),
                 meta["carbon_mc_version"], meta["jax_version"], meta["draw_scheme"]))
            report_id = int(cur.lastrowid or 0)
            db.executemany("INSERT INTO report_entries VALUES (?, ?)", [(report_id, k) for k in entry_keys])
            db.executemany(
                "INSERT INTO report_groups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(report_id, json.dumps(g["group"]), g["metric"], g["units"], g["mean"], g["sd"], g["median"], g["lower"],
                  g["upper"], g["share_of_total"], g["share_of_variance"], g["entries"]) for g in groups])
            db.executemany("INSERT OR IGNORE INTO cells VALUES (?, ?, ?)",
                           [(h, int(v.shape[-1]), zlib.compress(np.ascontiguousarray(v, np.float64).tobytes(), 6))
                            for h, v in cells.items()])
        return report_id

    def find_report(self, meta: dict) -> int | None:
        """The latest stored report computed from exactly these inputs, if any."""
        with self._errors():
            row = self.db.execute(
                "SELECT MAX(report_id) FROM reports WHERE by_keys = ? AND seed = ? AND num_draws = ? AND sharing = ? AND "
                "ci_prob = ? AND inventory_sha256 = ? AND priors_sha256 = ? AND carbon_mc_version = ? AND draw_scheme = ?",
                (json.dumps(meta["by"]), meta["seed"], meta["num_draws"], json.dumps(meta["sharing"]), meta["ci_prob"],
                 meta["inventory_sha256"], meta["priors_sha256"], meta["carbon_mc_version"], meta["draw_scheme"])).fetchone()
        return row[0] if row and row[0] is not None else None

    def report(self, report_id: int) -> tuple[dict, list[int], list[dict]]:
        """(what report `report_id` was computed from, its entry keys, its summaries)."""
        with self._errors():
            cur = self.db.execute("SELECT * FROM reports WHERE report_id = ?", (report_id,))
            row = cur.fetchone()
            if row is None:
                raise InputError(f"no report {report_id} in the inventory", file=str(self.path))
            meta = dict(zip([d[0] for d in cur.description], row, strict=True))
            for k in ("by_keys", "sharing", "priors_files"):
                meta[k] = json.loads(meta[k])
            keys = [r[0] for r in self.db.execute("SELECT entry_key FROM report_entries WHERE report_id = ? ORDER BY entry_key",
                                                  (report_id,))]
            cur = self.db.execute("SELECT * FROM report_groups WHERE report_id = ? ORDER BY rowid", (report_id,))
            names = [d[0] for d in cur.description]
            groups = []
            for r in cur.fetchall():
                g = dict(zip(names, r, strict=True))
                g.pop("report_id")
                g["group"] = json.loads(g.pop("group_key"))
                groups.append(g)
        return meta, keys, groups

    def reports(self) -> list[dict]:
        """Every stored report's id, date, grouping, seed, draws and entry count."""
        with self._errors():
            rows = self.db.execute("SELECT r.report_id, r.created_at, r.by_keys, r.seed, r.num_draws, COUNT(e.entry_key) "
                                   "FROM reports r LEFT JOIN report_entries e USING (report_id) GROUP BY r.report_id "
                                   "ORDER BY r.report_id").fetchall()
        return [{"report_id": r[0], "created_at": r[1], "by": json.loads(r[2]), "seed": r[3], "num_draws": r[4], "entries": r[5]}
                for r in rows]
