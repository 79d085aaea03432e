"""Reading measurement files: CSV rows, numbers with units, timestamps; errors name file, row and column.

Row numbers count lines of the file as a spreadsheet shows them (the header is row 1).
"""

from __future__ import annotations

import csv
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal, overload

from ..errors import CarbonMCError

UNIT_IN_HEADER = re.compile(r"\s*\[([^\]]*)\]\s*$")
NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z%/]*)\s*$")
TIME_FORMATS = ("%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")


class Row(dict):
    """One CSV row ({normalized column: text}) that knows where it came from, for error messages."""

    def __init__(self, values: dict, *, file: str, line: int, headers: dict):
        super().__init__(values)
        self.file, self.line, self.headers = file, line, headers

    def error(self, column: str | None, message: str) -> CarbonMCError:
        where = f"row {self.line}" + (f", column {self.headers.get(column, column)!r}" if column else "")
        return CarbonMCError(message, file=self.file, key=where)

    @overload
    def text(self, column: str, *, required: Literal[True] = True) -> str: ...
    @overload
    def text(self, column: str, *, required: bool) -> str | None: ...
    def text(self, column: str, *, required: bool = True) -> str | None:
        value = (self.get(column) or "").strip()
        if not value and required:
            raise self.error(column, "empty cell")
        return value or None

    @overload
    def number(self, column: str, *, unit: str | None = None, required: Literal[True] = True,
               positive: bool = False) -> float: ...
    @overload
    def number(self, column: str, *, unit: str | None = None, required: bool, positive: bool = False) -> float | None: ...
    def number(self, column: str, *, unit: str | None = None, required: bool = True, positive: bool = False) -> float | None:
        """The cell as a float; a unit written in the cell ("612.4 W") must be `unit`."""
        raw = self.text(column, required=required)
        if raw is None:
            return None
        match = NUMBER_WITH_UNIT.match(raw)
        if not match:
            raise self.error(column, f"expected a number{f' in {unit}' if unit else ''}, got {raw!r}")
        value, written = float(match.group(1)), match.group(2)
        if written and unit and written.lower() != unit.lower():
            raise self.error(column, f"expected {unit}, got {raw!r}")
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise self.error(column, f"expected a finite number {'> 0' if positive else '>= 0'}, got {raw!r}")
        return value

    def time(self, column: str, *, utc_offset: timedelta | None = None) -> datetime:
        """The cell as an aware UTC datetime; a time without zone is taken at `utc_offset` (default UTC)."""
        raw = self.text(column)
        return parse_time(raw, utc_offset, lambda msg: self.error(column, msg))


def parse_time(raw: str, utc_offset: timedelta | None = None, error=None) -> datetime:
    """ISO 8601 or nvidia-smi's "2024/05/01 12:00:00.123"; naive times are at `utc_offset` (default UTC)."""
    text = raw.strip().replace("Z", "+00:00")
    stamp = None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        for fmt in TIME_FORMATS:
            try:
                stamp = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if stamp is None:
        message = f"expected a date and time such as 2024-05-01T12:00:00 or 2024/05/01 12:00:00.000, got {raw!r}"
        raise (error(message) if error else CarbonMCError(message))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone(utc_offset or timedelta(0)))
    return stamp.astimezone(UTC)


def normalize_header(name: str) -> tuple[str, str | None]:
    """("power.draw", "W") from " power.draw [W]"; the unit is None when the header has none."""
    name = name.strip().lstrip("\ufeff")
    match = UNIT_IN_HEADER.search(name)
    unit = match.group(1).strip() if match else None
    return UNIT_IN_HEADER.sub("", name).strip(), unit


def read_rows(path: str | Path, *, required: tuple[str, ...] = (), aliases: dict[str, tuple[str, ...]] | None = None):
    """(rows, units): every data row of a CSV file, columns renamed to their normalized names.

    `aliases` maps a canonical column to other names it may carry (case-insensitive); `required`
    columns must be present. `units` maps a column to the unit written in its header, if any.
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise CarbonMCError("no such file", file=file)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, skipinitialspace=True)
            lines = [(reader.line_num, row) for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CarbonMCError(f"not a readable CSV file: {exc}", file=file) from None
    lines = [(n, row) for n, row in lines if any(cell.strip() for cell in row)]
    if not lines:
        raise CarbonMCError("empty file", file=file)
    header_line, header = lines[0]
    columns, units, shown = [], {}, {}
    lookup = {alt.lower(): canon for canon, alts in (aliases or {}).items() for alt in (canon, *alts)}
    for cell in header:
        name, unit = normalize_header(cell)
        canon = lookup.get(name.lower(), name)
        columns.append(canon)
        shown[canon] = cell.strip()
        if unit:
            units[canon] = unit
    missing = [c for c in required if c not in columns]
    if missing:
        raise CarbonMCError(f"missing column(s) {', '.join(repr(m) for m in missing)}; the header has "
                            f"{', '.join(repr(c.strip()) for c in header)}", file=file, key=f"row {header_line}")
    rows = []
    for line, cells in lines[1:]:
        if len(cells) != len(columns):
            raise CarbonMCError(f"{len(cells)} cells where the header has {len(columns)}", file=file, key=f"row {line}")
        rows.append(Row(dict(zip(columns, cells)), file=file, line=line, headers=shown))
    if not rows:
        raise CarbonMCError("no data rows under the header", file=file)
    return rows, units


def utc_offset(text: str | None) -> timedelta | None:
    """"+02:00" or "-5" -> a timedelta; None stays None (naive times are then UTC)."""
    if text is None:
        return None
    match = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", text.strip())
    if not match:
        raise CarbonMCError(f"expected a UTC offset such as +02:00 or -05:00, got {text!r}", key="--utc-offset")
    sign = 1 if match.group(1) == "+" else -1
    return sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
