"""Reading measurement files: CSV rows, numbers with units, timestamps; errors name file, row and column.

Row numbers count lines of the file as a spreadsheet shows them (the header is row 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal, overload

from ..errors import CarbonMCError, shown

UNIT_IN_HEADER = re.compile(r"\s*\[([^\]]*)\]\s*$")
UNIT_IN_PARENTHESES = re.compile(r"\s*\(([^)]*)\)\s*$")
# a number, then optionally a unit that starts with a letter or a symbol, never a digit, sign or separator
NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s,.+\-][^,]*?)?\s*$")
TIME_FORMATS = ("%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")
FIRST_YEAR, LAST_YEAR = 1970, 2200  # measurements of accelerators; also keeps every date arithmetic in range
MAX_FILE_BYTES = 2**30  # 1 GiB: about 10 million nvidia-smi rows (a day of 1 s samples of 100 GPUs)
MAX_UTC_OFFSET = timedelta(hours=14)  # the world's offsets run from -12:00 to +14:00

# Units a measurement cell or header may carry: {dimension: {symbol: factor to the dimension's first unit}}.
LB_PER_MWH_TO_G_PER_KWH = 0.45359237  # 453.59237 g per lb / 1000 kWh per MWh
UNITS: dict[str, dict[str, float]] = {
    "energy": {"kWh": 1.0, "Wh": 1e-3, "MWh": 1e3, "GWh": 1e6, "J": 1 / 3.6e6, "kJ": 1 / 3.6e3, "MJ": 1 / 3.6},
    "power": {"W": 1.0, "mW": 1e-3, "kW": 1e3, "MW": 1e6},
    "time": {"s": 1.0, "sec": 1.0, "ms": 1e-3, "min": 60.0, "h": 3600.0},
    "mass": {"kg": 1.0, "g": 1e-3, "t": 1e3},
    "intensity": {"g/kWh": 1.0, "kg/kWh": 1e3, "t/kWh": 1e6, "g/MWh": 1e-3, "kg/MWh": 1.0, "t/MWh": 1e3,
                  "lb/MWh": LB_PER_MWH_TO_G_PER_KWH, "lbs/MWh": LB_PER_MWH_TO_G_PER_KWH},
}
DIMENSION = {symbol: dim for dim, table in UNITS.items() for symbol in table}
GAS = re.compile(r"co(?:2|₂)[\s_-]*(?:eq|e)?", re.IGNORECASE)  # "gCO2eq/kWh" -> "g/kWh"


def unit_symbol(text: str) -> str | None:
    """The symbol of `UNITS` that `text` writes ("kwh" -> "kWh", "gCO₂eq/kWh" -> "g/kWh"), or None.

    Case is ignored where that is unambiguous; "mw" (milliwatt or megawatt?) is not.
    """
    text = GAS.sub("", text.strip()).replace(" ", "").replace("_per_", "/").replace("per", "/")
    if text in DIMENSION:
        return text
    hits = [symbol for symbol in DIMENSION if symbol.lower() == text.lower()]
    return hits[0] if len(hits) == 1 else None


def convert(value: float, written: str, unit: str) -> float:
    """`value` in the symbol `written`, converted to `unit` (both of one dimension of `UNITS`)."""
    dimension = UNITS[DIMENSION[unit]]
    return value * dimension[written] / dimension[unit]


def unit_problem(written: str, unit: str | None) -> str | None:
    """Why a value written in `written` cannot be read as `unit` (None for a plain number), or None if it can."""
    if unit is None:
        return f"expected a plain number, without unit; got a value in {written!r}"
    symbol = unit_symbol(written)
    dimension = DIMENSION[unit]
    valid = ", ".join(UNITS[dimension])
    if symbol is None:
        return f"unknown unit {written!r}; expected {dimension} in one of {valid}"
    if DIMENSION[symbol] != dimension:
        return f"{written!r} is a unit of {DIMENSION[symbol]}, expected {dimension} in one of {valid}"
    return None


class Row(dict):
    """One CSV row ({normalized column: text}) that knows where it came from, for error messages."""

    def __init__(self, values: dict, *, file: str, line: int, headers: dict, units: dict | None = None):
        super().__init__(values)
        self.file, self.line, self.headers = file, line, headers
        self.units = units if units is not None else {}  # the file's one dict, shared by its rows

    def error(self, column: str | None, message: str) -> CarbonMCError:
        where = f"row {self.line}" + (f", column {self.headers.get(column, column)!r}" if column else "")
        return CarbonMCError(message, file=self.file, key=where)

    def where(self, column: str | None = None) -> str:
        """"row 7, column 'power.draw [W]'": where a value of this row came from."""
        return f"row {self.line}" + (f", column {self.headers.get(column, column)!r}" if column else "")

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
        """The cell as a float in `unit` (a symbol of `UNITS`; None: a plain number).

        A unit written in the cell ("2489.7 Wh") or in the column's header ("energy [Wh]") is
        converted to `unit`; a unit of another dimension, or one not known, is an error naming it.
        """
        raw = self.text(column, required=required)
        if raw is None:
            return None
        match = NUMBER_WITH_UNIT.match(raw)
        if not match:
            raise self.error(column, f"expected a number{f' in {unit}' if unit else ''}, got {shown(raw)}")
        value = float(match.group(1))
        written = match.group(2) or self.units.get(column)
        if written:
            problem = unit_problem(written, unit)
            if problem:
                raise self.error(column, f"{problem} (the cell is {shown(raw)})")
            value = convert(value, unit_symbol(written) or "", unit) if unit else value
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise self.error(column, f"expected a finite number {'> 0' if positive else '>= 0'}, got {shown(raw)}")
        return value

    def time(self, column: str, *, utc_offset: timedelta | None = None) -> datetime:
        """The cell as an aware UTC datetime; a time without zone is taken at `utc_offset` (default UTC)."""
        raw = self.text(column)
        return parse_time(raw, utc_offset, lambda msg: self.error(column, msg))


def parse_time(raw: str, utc_offset: timedelta | None = None, error=None) -> datetime:
    """ISO 8601, BigQuery's "2024-05-01 12:00:00 UTC" or nvidia-smi's "2024/05/01 12:00:00.123"; naive
    times are at `utc_offset` (default UTC).

    The date must lie in the years `FIRST_YEAR` to `LAST_YEAR` (in UTC), and a zone written in the
    text within `MAX_UTC_OFFSET` of UTC.
    """
    def fail(message: str) -> CarbonMCError:
        return error(message) if error else CarbonMCError(message)

    text = raw.strip().replace("Z", "+00:00")
    if text.upper().endswith(" UTC"):  # BigQuery's CSV writes TIMESTAMPs as "2024-05-06 00:00:00 UTC"
        text = text[:-4].rstrip() + "+00:00"
    years = f"between the years {FIRST_YEAR} and {LAST_YEAR}"
    if re.match(r"[+-]?\d{5,}", text):
        raise fail(f"expected a date {years}, got {shown(raw)} (a year past 9999)")
    offset = re.search(r"(?:\d|\s)([+-])(\d{2}):?(\d{2})$", text) if "T" in text or " " in text else None
    if offset and timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))) > MAX_UTC_OFFSET:
        raise fail(f"UTC offset {offset.group(1)}{offset.group(2)}:{offset.group(3)} is out of range: zones run from "
                   f"-12:00 to +14:00 (got {shown(raw)})")
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
        raise fail(f"expected a date and time such as 2024-05-01T12:00:00 or 2024/05/01 12:00:00.000, got {shown(raw)}")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone(utc_offset or timedelta(0)))
    zone = stamp.utcoffset()
    if zone is not None and abs(zone) > MAX_UTC_OFFSET:
        raise fail(f"UTC offset of {shown(raw)} is out of range: zones run from -12:00 to +14:00")
    if not FIRST_YEAR <= stamp.year <= LAST_YEAR:
        raise fail(f"expected a date {years}, got {shown(raw)}")
    return stamp.astimezone(UTC)  # in range: the years are far from 1 and 9999


def normalize_header(name: str) -> tuple[str, str | None]:
    """("power.draw", "W") from " power.draw [W]"; the unit is None when the header has none.

    A unit in parentheses counts when it is one of `UNITS` ("energy (Wh)"), not otherwise ("intensity (LCA)").
    """
    name = name.strip().lstrip("\ufeff")
    match = UNIT_IN_HEADER.search(name)
    if match:
        return UNIT_IN_HEADER.sub("", name).strip(), match.group(1).strip()
    match = UNIT_IN_PARENTHESES.search(name)
    if match and unit_symbol(match.group(1)):
        return UNIT_IN_PARENTHESES.sub("", name).strip(), match.group(1).strip()
    return name, None


def read_text(path: str | Path) -> str:
    """The text of a measurement file: UTF-8 (with or without a BOM), or UTF-16/UTF-32 with their BOM.

    Raises:
      CarbonMCError: no such file, a binary file, or bytes that the encoding cannot decode (a Latin-1
        or Windows-1252 file), naming the line of the first bad byte.
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise CarbonMCError("no such file", file=file)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CarbonMCError(f"{size / 2**30:,.1f} GiB is more than the {MAX_FILE_BYTES / 2**30:g} GiB a measurement file may be "
                                "(read whole into memory): log at a longer interval (nvidia-smi -lms, dcgmi -d), or import "
                                "part of the run and place it with --run-devices/--run-hours", file=file)
        data = path.read_bytes()
    except OSError as exc:
        raise CarbonMCError(f"cannot be read: {exc.strerror or exc}", file=file) from None
    boms = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
            (codecs.BOM_UTF16_BE, "utf-16"), (codecs.BOM_UTF8, "utf-8-sig"))
    encoding = next((name for bom, name in boms if data.startswith(bom)), "utf-8")
    if encoding.startswith("utf-8") and b"\x00" in data:
        at = data.index(b"\x00")
        line = data[:at].count(b"\n") + 1
        raise CarbonMCError(f"a binary file, not text: a NUL byte on line {line} (byte {at:,}); expected a UTF-8 CSV or "
                            "text export", file=file)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
        raise CarbonMCError(f"not {name} text: byte {data[exc.start]:#04x} on line {line} cannot be decoded (a Latin-1 or "
                            "Windows-1252 file? save it as UTF-8)", file=file) from None
    if "\x00" in text:
        raise CarbonMCError("a binary file, not text: it holds NUL characters; expected a CSV or text export", file=file)
    return text.lstrip("\ufeff")


def read_rows(path: str | Path, *, required: tuple[str, ...] = (), aliases: dict[str, tuple[str, ...]] | None = None):
    """(rows, units): every data row of a CSV file, columns renamed to their normalized names.

    `aliases` maps a canonical column to other names it may carry (case-insensitive); `required`
    columns must be present. `units` maps a column to the unit written in its header, if any.
    """
    file = str(path)
    text = read_text(path)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True)
        lines = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise CarbonMCError(f"not a readable CSV file: {exc}", file=file) from None
    lines = [(n, row) for n, row in lines if any(cell.strip() for cell in row)]
    if not lines:
        raise CarbonMCError("empty file", file=file)
    header_line, header = lines[0]
    columns, units, shown_names = [], {}, {}
    lookup = {alt.lower(): canon for canon, alts in (aliases or {}).items() for alt in (canon, *alts)}
    for cell in header:
        name, unit = normalize_header(cell)
        canon = lookup.get(name.lower(), name)
        columns.append(canon)
        shown_names[canon] = cell.strip()
        if unit:
            units[canon] = unit
    missing = [c for c in required if c not in columns]
    if missing:
        have = ", ".join(repr(c.strip()) for c in header[:40]) + (", ..." if len(header) > 40 else "")
        raise CarbonMCError(f"missing column(s) {', '.join(repr(m) for m in missing)}; the header has {have}",
                            file=file, key=f"row {header_line}")
    rows = []
    for line, cells in lines[1:]:
        if len(cells) != len(columns):
            raise CarbonMCError(f"{len(cells):,} cells where the header has {len(columns):,} (a truncated or merged row?)",
                                file=file, key=f"row {line}")
        rows.append(Row(dict(zip(columns, cells)), file=file, line=line, headers=shown_names, units=units))
    if not rows:
        raise CarbonMCError("no data rows under the header", file=file)
    return rows, units


def utc_offset(text: str | None) -> timedelta | None:
    """"+02:00" or "-5" -> a timedelta; None stays None (naive times are then UTC)."""
    if text is None:
        return None
    match = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", text.strip())
    if not match or int(match.group(3) or 0) >= 60:
        raise CarbonMCError(f"expected a UTC offset such as +02:00 or -05:00, got {shown(text)}", key="--utc-offset")
    sign = 1 if match.group(1) == "+" else -1
    offset = sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
    if abs(offset) > MAX_UTC_OFFSET:
        raise CarbonMCError(f"UTC offset {text.strip()} is out of range: zones run from -12:00 to +14:00", key="--utc-offset")
    return offset
