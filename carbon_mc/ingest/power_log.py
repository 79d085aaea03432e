"""GPU power logs -> a measured run on the accelerator scope (board power, no host, no PUE).

Three formats, told apart by their first line:
- ``nvidia-smi --query-gpu=timestamp,index,name,power.draw,power.limit,utilization.gpu --format=csv``
  (units in the header, "[W]", and in the cells, "612.45 W"; or ``csv,nounits``);
- a dcgm-exporter CSV export: columns ``timestamp``, ``gpu`` (or ``Hostname`` + ``gpu``),
  ``modelName``, ``DCGM_FI_DEV_POWER_USAGE`` (W);
- ``dcgmi dmon -e 155`` text output ("#Entity  POWER" header, "GPU 0  65.4" rows), which has no
  timestamps: give the sampling interval (dmon's -d, in ms) with ``interval_s``.
Energy per device is the trapezoidal integral of power over its samples; device time is from its
first to its last sample. A gap between two samples longer than `max_gap_s` is an error (the power in
between is unknown), as is a missing reading ("[N/A]"): neither is counted as zero. A device's time
that repeats or goes back (a daylight-saving fall-back in local times) is an error too: timestamps
with UTC offsets are read right across it. Power in another unit ("0.35 kW", "[mW]") is converted;
`carbon_mc.ingest.check_power` bounds it by the accelerator's TDP once the card is known.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from ..errors import CarbonMCError
from .measured import MeasuredRun
from .tables import Row, read_rows, read_text

NVSMI_ALIASES = {"power.draw": ("power.draw.average", "power.draw.instant"), "index": ("gpu_index",)}
DCGM_ALIASES = {"timestamp": ("time", "Time", "Timestamp"), "gpu": ("GPU", "gpu_index", "device"),
                "modelName": ("modelname", "model_name")}
DCGM_POWER = "DCGM_FI_DEV_POWER_USAGE"
DMON = "DCGM (dcgmi dmon)"


def read_power_log(path, *, interval_s: float | None = None, max_gap_s: float = 300.0,
                   utc_offset: timedelta | None = None) -> MeasuredRun:
    """Read a GPU power log (format detected from its first line) into a measured run."""
    path = Path(path)
    text = read_text(path)  # a binary, Latin-1 or undecodable file is refused here, in one line
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("#Entity"):
        (samples, names), tool, power_col = _dmon_samples(path, text, interval_s), DMON, "POWER"
    elif DCGM_POWER in first:
        power_col = DCGM_POWER
        (samples, names), tool = _csv_samples(path, DCGM_ALIASES, "timestamp", "gpu", power_col, "modelName", utc_offset), "DCGM"
    elif "power.draw" in first:
        power_col = "power.draw"
        (samples, names), tool = _csv_samples(path, NVSMI_ALIASES, "timestamp", "index", power_col, "name", utc_offset), "nvidia-smi"
    else:
        raise CarbonMCError("not a GPU power log: expected an nvidia-smi CSV (a 'power.draw' column), a DCGM CSV "
                            f"({DCGM_POWER!r}) or dcgmi dmon output ('#Entity' header)", file=str(path), key="row 1")
    return _integrate(str(path), tool, samples, names, max_gap_s, power_col)


def _csv_samples(path: Path, aliases: dict[str, tuple[str, ...]], time_col: str, device_col: str, power_col: str, name_col: str,
                 utc_offset: timedelta | None) -> tuple[dict[str, list[tuple[datetime, float, Row]]], set[str]]:
    rows, _ = read_rows(path, required=(time_col, device_col, power_col), aliases=aliases)
    samples: dict[str, list[tuple[datetime, float, Row]]] = {}
    names: set[str] = set()
    for row in rows:
        device = row.text(device_col)
        if "Hostname" in row and row.get("Hostname"):
            device = f"{row['Hostname'].strip()}:{device}"
        # power in W: a unit in the cell ("350.5W", "1.2 kW") or the header ("[mW]") is converted, another refused
        when = row.time(time_col, utc_offset=utc_offset)
        previous = samples.get(device)
        if previous and when <= previous[-1][0]:
            raise _backwards(row, time_col, device, previous[-1], when)
        samples.setdefault(device, []).append((when, row.number(power_col, unit="W"), row))
        if name_col in row and row.get(name_col, "").strip():
            names.add(row[name_col].strip())
    return samples, names


def _backwards(row: Row, time_col: str, device: str, previous: tuple, when: datetime) -> CarbonMCError:
    """A device's timestamp that repeats or goes back: a daylight-saving fall-back in local time, or merged logs.

    Sorting such samples would lay the repeated hour over the first one and count it once (1.8 kWh
    over 3 h read as 1.2 kWh over 2 h), so it is refused, as `import grid` refuses a time given twice.
    """
    before = previous[2]
    before_line = before.line if isinstance(before, Row) else before
    what = "repeats" if when == previous[0] else "goes back from"
    return row.error(time_col, (
        f"device {device}'s time {what} {previous[0]:%Y-%m-%d %H:%M:%S} UTC (row {before_line})"
        + ("" if when == previous[0] else f" to {when:%Y-%m-%d %H:%M:%S} UTC")
        + ": a daylight-saving fall-back in local times, or two logs merged? Log with UTC offsets "
          "(e.g. 2024-11-03T01:30:00-05:00), or split the file where the clock goes back"))


def _dmon_samples(path: Path, text: str, interval_s: float | None):
    """dcgmi dmon rows: one block of "GPU i  <fields>" lines per sampling interval."""
    if not interval_s or interval_s <= 0 or not np.isfinite(interval_s):
        raise CarbonMCError("dcgmi dmon output has no timestamps: give the sampling interval with --interval SECONDS "
                            "(dmon's -d in ms / 1000)", file=str(path))
    lines = text.splitlines()
    header = lines[next(i for i, line in enumerate(lines) if line.lstrip().startswith("#Entity"))].split()
    fields = header[1:]
    if "POWER" not in fields:
        raise CarbonMCError(f"no POWER field in the dmon header ({' '.join(fields)}): run dcgmi dmon -e 155", file=str(path), key="row 1")
    column = fields.index("POWER")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    samples: dict[str, list] = {}
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) < 2 or parts[0] not in ("GPU", "gpu"):
            continue  # headers repeat, unit lines ("ID  W"), blank lines
        device, values = parts[1], parts[2:]
        where = f"row {number}, field 'POWER'"
        if len(values) != len(fields):
            raise CarbonMCError(f"{len(values)} fields where the header has {len(fields)}", file=str(path), key=f"row {number}")
        try:
            power = float(values[column])
            stamp = epoch + timedelta(seconds=len(samples.get(device, ())) * interval_s)
        except (ValueError, OverflowError):
            raise CarbonMCError(f"expected a number in W, got {values[column]!r}", file=str(path), key=where) from None
        if not np.isfinite(power) or power < 0:
            raise CarbonMCError(f"expected a finite number >= 0, got {values[column]!r}", file=str(path), key=where)
        samples.setdefault(device, []).append((stamp, power, number))
    if not samples:
        raise CarbonMCError("no 'GPU <id>' rows under the dmon header", file=str(path))
    return samples, set()


def _integrate(file: str, tool: str, samples: dict, names: set, max_gap_s: float, power_col: str) -> MeasuredRun:
    energy_j = seconds = 0.0
    peak: tuple[float, str] | None = None  # the largest sample (W) and where it is, for the plausibility check
    for device, points in samples.items():
        points.sort(key=lambda p: p[0])
        if len(points) < 2:
            raise CarbonMCError(f"device {device} has one sample: no time span to integrate", file=file)
        t = np.array([(p[0] - points[0][0]).total_seconds() for p in points])
        w = np.array([p[1] for p in points])
        gaps = np.diff(t)
        worst = int(np.argmax(gaps))
        if gaps[worst] > max_gap_s:
            where = points[worst + 1][2]
            line = where.line if isinstance(where, Row) else where
            raise CarbonMCError(f"{gaps[worst]:,.0f} s since device {device}'s previous sample (more than --max-gap "
                                f"{max_gap_s:g} s): the power in between is unknown", file=file, key=f"row {line}")
        energy_j += float(np.sum(0.5 * (w[1:] + w[:-1]) * gaps))
        seconds += float(t[-1])
        top = int(np.argmax(w))
        if peak is None or w[top] > peak[0]:
            at = points[top][2]
            peak = (float(w[top]), at.where(power_col) if isinstance(at, Row) else f"row {at}, field 'POWER'")
    if len(names) > 1:
        raise CarbonMCError(f"the log mixes GPU models ({', '.join(sorted(names))}); split it by model", file=file)
    if energy_j <= 0:
        raise CarbonMCError("the log's power readings are all zero: not a measurement of a training run", file=file)
    starts = [min(p[0] for p in pts) for pts in samples.values()]
    ends = [max(p[0] for p in pts) for pts in samples.values()]
    timed = tool != DMON
    return MeasuredRun(
        file=file, tool=tool, name=f"{Path(file).stem} ({tool} power log)", energy_kwh=energy_j / 3.6e6,
        energy_scope="accelerator", device_hours=seconds / 3600.0, devices=len(samples),
        gpu_name=names.pop() if names else None, start=min(starts) if timed else None, end=max(ends) if timed else None,
        mean_device_power_w=energy_j / seconds, peak_device_power=peak,
        notes=[f"Energy: trapezoidal integral of each device's board power over its samples ({sum(map(len, samples.values())):,} "
               "samples); accelerator scope, so no host power and no PUE."],
    )
