"""An organisation's inventory: entries (scenarios with the organisation's own labels), read from
scenario files and from tables.

An `Entry` is one scenario (a training run, a deployment, an imported measurement) plus what the
organisation knows about it: an id, its team, project, model and phase, when it ran (a date, or a
period from ``start`` to ``end``), free-form tags (``key=value``, or a bare word meaning
``word=yes``) and the sharing rules it opts out of (``independent``; `carbon_mc.inventory.sharing`).

Two sources, both checked in full (every scenario parsed against the priors) before anything is
kept:

- a scenario TOML file (``models/`` format) with an optional ``[inventory]`` table holding the
  labels; the table is removed before the scenario is parsed, so the rest is an ordinary scenario;
- a CSV table, one row per run: the label columns (`LABEL_COLUMNS`), any key of ``[run]`` or
  ``[serving]`` (`SCENARIO_COLUMNS`), ``market_gco2_per_kwh`` / ``market_source`` (``[accounting]``)
  and ``priors.<quantity>`` (a number fixing that prior). An empty cell is an absent key. A
  column the reader does not know, a missing ``id``/``hardware``/``date`` column or a duplicated id
  is one error naming the file, row and column.

A folder is read recursively: every ``*.toml`` and ``*.csv`` in it, in sorted order.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, close_matches, shown
from ..priors import PriorTable, load_priors
from ..scenarios import AnyScenario, parse_scenario, parse_serving_scenario
from ..scenarios.deployment import SERVING_KEYS
from ..scenarios.training import RUN_KEYS
from .sharing import RULES

__all__ = ["LABELS", "LABEL_COLUMNS", "SCENARIO_COLUMNS", "Entry", "read_entries", "read_table", "read_toml_entry"]

LABELS = ("team", "project", "model", "phase")  # the organisation's own labels, each one string
LABEL_COLUMNS = ("id", "kind", *LABELS, "date", "start", "end", "tags", "independent")
ACCOUNTING_COLUMNS = ("market_gco2_per_kwh", "market_source")
SCENARIO_COLUMNS = tuple(sorted(RUN_KEYS | SERVING_KEYS))
KINDS = ("training", "serving")
INVENTORY_KEYS = ("id", *LABELS, "date", "start", "end", "tags", "independent")


@dataclass(frozen=True)
class Entry:
    """One scenario of the inventory with its labels.

    Attributes:
      id: unique within the inventory.
      kind: "training" (a ``[run]`` table) or "serving" (a ``[serving]`` table).
      doc: the scenario document (the parsed TOML without ``[inventory]``).
      labels: {team, project, model, phase} (absent labels are "").
      start, end: the first and last day (inclusive) over which the entry's emissions are spread.
      tags: free-form {key: value}.
      independent: sharing rules this entry opts out of (its inputs under them are its own).
      source: where it was read (file, or file:row).
    """

    id: str
    kind: str
    doc: dict = field(repr=False)
    labels: dict[str, str]
    start: dt.date
    end: dt.date
    tags: dict[str, str] = field(default_factory=dict)
    independent: tuple[str, ...] = ()
    source: str = ""

    def record(self) -> dict:
        """JSON-ready record of everything that defines the entry (what its hash covers)."""
        return {"id": self.id, "kind": self.kind, "doc": self.doc, "labels": self.labels, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "tags": self.tags, "independent": list(self.independent)}

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.record(), sort_keys=True, default=str).encode()).hexdigest()

    @classmethod
    def from_record(cls, record: dict, source: str = "") -> Entry:
        return cls(id=record["id"], kind=record["kind"], doc=record["doc"], labels=dict(record["labels"]),
                   start=dt.date.fromisoformat(record["start"]), end=dt.date.fromisoformat(record["end"]),
                   tags=dict(record["tags"]), independent=tuple(record["independent"]), source=source)

    def scenario(self, table: PriorTable | None = None) -> AnyScenario:
        """The entry's scenario, parsed and checked against `table` (the bundled priors by default)."""
        parse = parse_serving_scenario if self.kind == "serving" else parse_scenario
        return parse(self.doc, file=self.source or self.id, table=table)

    def label(self, key: str) -> str:
        """The value of a label or a tag (``"(none)"`` where the entry has neither)."""
        if key == "id":
            return self.id
        if key == "kind":
            return self.kind
        value = self.labels.get(key) or self.tags.get(key)
        return value if value else "(none)"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def month_weights(self) -> dict[str, float]:
        """{"YYYY-MM": share of the entry's days in that month}: how its emissions spread over months."""
        out: dict[str, float] = {}
        day = self.start
        while day <= self.end:
            last = dt.date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
            upto = min(last, self.end)
            out[f"{day.year:04d}-{day.month:02d}"] = ((upto - day).days + 1) / self.days
            day = upto + dt.timedelta(days=1)
        return out


# ---------------------------------------------------------------------------------------------
# Dates, tags, rules


def _date_span(text: Any, where: str, key: str) -> tuple[dt.date, dt.date]:
    """A date ("2024-03-15"), a month ("2024-03"), a quarter ("2024-Q1") or a year ("2024") -> (first, last day)."""
    if isinstance(text, dt.datetime):
        text = text.date()
    if isinstance(text, dt.date):
        return text, text
    s = str(text).strip()
    try:
        if len(s) == 10:
            d = dt.date.fromisoformat(s)
            return d, d
        if len(s) == 7 and s[4] == "-" and s[5] in "Qq":
            year, q = int(s[:4]), int(s[6])
            if not 1 <= q <= 4:
                raise ValueError
            first = dt.date(year, 3 * q - 2, 1)
            return first, dt.date(year, 3 * q, calendar.monthrange(year, 3 * q)[1])
        if len(s) == 7 and s[4] == "-":
            year, month = int(s[:4]), int(s[5:])
            return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])
        if len(s) == 4:
            return dt.date(int(s), 1, 1), dt.date(int(s), 12, 31)
    except ValueError:
        pass
    raise InputError(f"{key} must be a date (2024-03-15), a month (2024-03), a quarter (2024-Q1) or a year (2024), "
                     f"got {shown(text)}", file=where, key=key)


def _period(values: dict, doc: dict, kind: str, where: str) -> tuple[dt.date, dt.date]:
    """(start, end) from ``date`` or ``start``/``end``; a deployment without an end runs its ``days``."""
    date, start, end = (values.get(k) for k in ("date", "start", "end"))
    if date is not None and (start is not None or end is not None):
        raise InputError("give either date or start (with an optional end), not both", file=where, key="date")
    if date is None and start is None:
        raise InputError("every entry needs a date (2024-03-15, 2024-03, 2024-Q1, 2024) or a start: when did it run?",
                         file=where, key="date")
    first, last = _date_span(date if date is not None else start, where, "date" if date is not None else "start")
    if end is not None:
        last = _date_span(end, where, "end")[1]
    elif start is not None and kind == "serving":
        days = doc.get("serving", {}).get("days")
        if isinstance(days, (int, float)) and not isinstance(days, bool) and days >= 1:
            last = first + dt.timedelta(days=round(days) - 1)
    if last < first:
        raise InputError(f"end {last} is before start {first}", file=where, key="end")
    return first, last


def _tags(value: Any, where: str) -> dict[str, str]:
    """Tags as a table {k: v}, a list ["k=v", "word"] or a string "k=v;word" -> {k: v} (a bare word -> "yes")."""
    if value is None:
        return {}
    if isinstance(value, dict):
        items = [f"{k}={v}" for k, v in value.items()]
    elif isinstance(value, list):
        items = [str(v) for v in value]
    else:
        items = list(str(value).split(";"))
    out: dict[str, str] = {}
    for item in (t.strip() for t in items):
        if not item:
            continue
        key, _, val = item.partition("=")
        key, val = key.strip(), (val.strip() if _ else "yes")
        if not key or key in LABEL_COLUMNS:
            raise InputError(f"tag {shown(item)} needs a key that is not a label column ({', '.join(LABEL_COLUMNS)})",
                             file=where, key="tags")
        if key in out and out[key] != val:
            raise InputError(f"tag {key!r} is given twice with different values ({out[key]!r} and {val!r}): an entry has "
                             "one value per tag key", file=where, key="tags")
        out[key] = val
    return out


def _independent(value: Any, where: str) -> tuple[str, ...]:
    """Sharing rules opted out of: a list or a ';'/','-separated string of rule names, or "all"."""
    if value is None:
        return ()
    names = value if isinstance(value, list) else str(value).replace(",", ";").split(";")
    names = [str(n).strip() for n in names if str(n).strip()]
    if "all" in names:
        return tuple(RULES)
    for n in names:
        if n not in RULES:
            raise InputError(f"unknown sharing rule {shown(n)} in independent; {close_matches(n, [*RULES, 'all'])}",
                             file=where, key="independent")
    return tuple(sorted(set(names)))


def _build(values: dict, doc: dict, kind: str, where: str, table: PriorTable) -> Entry:
    """An entry from its label values and scenario document, the scenario checked against `table`."""
    entry_id = str(values.get("id") or "").strip()
    if not entry_id:
        raise InputError("every entry needs an id", file=where, key="id")
    for label in LABELS:
        if values.get(label) is not None and not isinstance(values[label], (str, int)):
            raise InputError(f"{label} must be a string, got {shown(values[label])}", file=where, key=label)
    start, end = _period(values, doc, kind, where)
    entry = Entry(id=entry_id, kind=kind, doc=doc, labels={k: str(values.get(k) or "") for k in LABELS}, start=start,
                  end=end, tags=_tags(values.get("tags"), where), independent=_independent(values.get("independent"), where),
                  source=where)
    entry.scenario(table)  # every scenario is checked before anything is kept
    return entry


# ---------------------------------------------------------------------------------------------
# Scenario files


def read_toml_entry(path: str | Path, *, table: PriorTable | None = None) -> Entry:
    """An entry from a scenario file; its labels from an optional ``[inventory]`` table (id: the file's stem)."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read as a UTF-8 TOML scenario: {exc}", file=str(path)) from None
    labels = doc.pop("inventory", {})
    if not isinstance(labels, dict):
        raise InputError("[inventory] must be a table", file=str(path), key="inventory")
    unknown = sorted(set(labels) - set(INVENTORY_KEYS))
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r} in [inventory]; {close_matches(unknown[0], INVENTORY_KEYS)}",
                         file=str(path), key=f"inventory.{unknown[0]}")
    kind = "serving" if "serving" in doc else "training"
    values = {"id": path.stem, **labels}
    if kind == "training" and not (labels.get("date") or labels.get("start")) and isinstance(doc.get("run", {}).get("year"), int):
        values["date"] = str(doc["run"]["year"])  # a run with only a year: spread over that year
    return _build(values, doc, kind, str(path), table or load_priors())


# ---------------------------------------------------------------------------------------------
# Tables


def _cell(text: str) -> Any:
    """A CSV cell as the TOML value it stands for: an integer, a number, true/false, or a string."""
    s = text.strip()
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    for convert in (int, float):
        try:
            return convert(s)
        except ValueError:
            pass
    return s


def read_table(path: str | Path, *, table: PriorTable | None = None) -> list[Entry]:
    """Entries from a CSV table, one row per run (see the module docstring for the columns).

    Raises:
      InputError: an unreadable file, an unknown or missing column, a row whose scenario is invalid,
        or an id given twice; each names the file, the row and the column.
    """
    path, table = Path(path), table or load_priors()
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read as a UTF-8 CSV table: {exc}", file=str(path)) from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise InputError("empty table: the first row must name the columns", file=str(path))
    header = [h.strip() for h in rows[0]]
    known = set(LABEL_COLUMNS) | set(SCENARIO_COLUMNS) | set(ACCOUNTING_COLUMNS)
    for col in header:
        if col not in known and not (col.startswith("priors.") and col[7:] in table.quantities):
            raise InputError(f"unknown column {shown(col)}; {close_matches(col, sorted(known))} "
                             "(or priors.<quantity>)", file=str(path))
    seen_cols = set()
    for col in header:
        if col in seen_cols:
            raise InputError(f"column {col!r} is given twice", file=str(path))
        seen_cols.add(col)
    missing = [c for c in ("id", "hardware") if c not in header]
    if "date" not in header and "start" not in header:
        missing.append("date")
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}: every row needs an id, a hardware and a date (or start)",
                         file=str(path))
    entries: list[Entry] = []
    ids: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        where = f"{path}:row {number}"
        if len(row) != len(header):
            raise InputError(f"{len(row)} cells where the header has {len(header)} columns", file=where)
        values = {h: _cell(c) for h, c in zip(header, row, strict=True) if c.strip()}
        kind = str(values.pop("kind", "training"))
        if kind not in KINDS:
            raise InputError(f"kind must be one of {', '.join(KINDS)}, got {shown(kind)}", file=where, key="kind")
        section = "serving" if kind == "serving" else "run"
        body = {k: v for k, v in values.items() if k in SCENARIO_COLUMNS and k not in LABEL_COLUMNS}
        body.setdefault("name", str(values["id"]))
        doc: dict[str, Any] = {section: body}
        accounting = {k: values[k] for k in ACCOUNTING_COLUMNS if k in values}
        if accounting:
            doc["accounting"] = accounting
        overrides = {k[7:]: v for k, v in values.items() if k.startswith("priors.")}
        if overrides:
            doc["priors"] = overrides
        labels = {k: values[k] for k in LABEL_COLUMNS if k in values}
        if "id" in labels:
            labels["id"] = str(labels["id"])
        entry = _build(labels, doc, kind, where, table)
        if entry.id in ids:
            raise InputError(f"id {entry.id!r} is given twice (also at {ids[entry.id]})", file=where, key="id")
        ids[entry.id] = where
        entries.append(entry)
    return entries


def read_entries(paths: list[str | Path] | str | Path, *, table: PriorTable | None = None) -> list[Entry]:
    """Entries from scenario files, CSV tables and folders of them (read recursively, sorted).

    Raises:
      InputError: a path that does not exist or holds no entries, any invalid entry, or an id given
        twice anywhere among `paths`.
    """
    table = table or load_priors()
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix in (".toml", ".csv") and f.is_file())
            if not found:
                raise InputError("no scenario files (*.toml) or tables (*.csv) in this folder", file=str(p))
            files.extend(found)
        elif p.is_file():
            if p.suffix not in (".toml", ".csv"):
                raise InputError("an inventory source is a scenario file (.toml), a table (.csv) or a folder of them",
                                 file=str(p))
            files.append(p)
        else:
            raise InputError("no such file or folder", file=str(p))
    entries: list[Entry] = []
    where: dict[str, str] = {}
    for f in files:
        for entry in read_table(f, table=table) if f.suffix == ".csv" else [read_toml_entry(f, table=table)]:
            if entry.id in where:
                raise InputError(f"id {entry.id!r} is given twice (also at {where[entry.id]})", file=entry.source, key="id")
            where[entry.id] = entry.source
            entries.append(entry)
    return entries
