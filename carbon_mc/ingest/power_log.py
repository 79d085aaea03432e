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
between is unknown), as is a missing reading ("[N/A]"): neither is counted as zero.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from ..errors import CarbonMCError
from .measured import MeasuredRun
from .tables import Row, read_rows

NVSMI_ALIASES = {"power.draw": ("power.draw.average", "power.draw.instant"), "index": ("gpu_index",)}
DCGM_ALIASES = {"timestamp": ("time", "Time", "Timestamp"), "gpu": ("GPU", "gpu_index", "device"),
                "modelName": ("modelname", "model_name")}
DCGM_POWER = "DCGM_FI_DEV_POWER_USAGE"
DMON = "DCGM (dcgmi dmon)"


def read_power_log(path, *, interval_s: float | None = None, max_gap_s: float = 300.0,
                   utc_offset: timedelta | None = None) -> MeasuredRun:
    """Read a GPU power log (format detected from its first line) into a measured run."""
    path = Path(path)
    if not path.is_file():
        raise CarbonMCError("no such file", file=str(path))
    first = next((line for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines() if line.strip()), "")
    if first.lstrip().startswith("#Entity"):
        (samples, names), tool = _dmon_samples(path, interval_s), DMON
    elif DCGM_POWER in first:
        (samples, names), tool = _csv_samples(path, DCGM_ALIASES, "timestamp", "gpu", DCGM_POWER, "modelName", utc_offset), "DCGM"
    elif "power.draw" in first:
        (samples, names), tool = _csv_samples(path, NVSMI_ALIASES, "timestamp", "index", "power.draw", "name", utc_offset), "nvidia-smi"
    else:
        raise CarbonMCError("not a GPU power log: expected an nvidia-smi CSV (a 'power.draw' column), a DCGM CSV "
                            f"({DCGM_POWER!r}) or dcgmi dmon output ('#Entity' header)", file=str(path), key="row 1")
    return _integrate(str(path), tool, samples, names, max_gap_s)


def _csv_samples(path: Path, aliases: dict[str, tuple[str, ...]], time_col: str, device_col: str, power_col: str, name_col: str,
                 utc_offset: timedelta | None) -> tuple[dict[str, list[tuple[datetime, float, Row]]], set[str]]:
    rows, units = read_rows(path, required=(time_col, device_col, power_col), aliases=aliases)
    unit = units.get(power_col, "W")
    if unit != "W":
        raise rows[0].error(power_col, f"power must be in W, the header says {unit!r}")
    samples: dict[str, list[tuple[datetime, float, Row]]] = {}
    names: set[str] = set()
    for row in rows:
        device = row.text(device_col)
        if "Hostname" in row and row.get("Hostname"):
            device = f"{row['Hostname'].strip()}:{device}"
        samples.setdefault(device, []).append((row.time(time_col, utc_offset=utc_offset), row.number(power_col, unit="W"), row))
        if name_col in row and row.get(name_col, "").strip():
            names.add(row[name_col].strip())
    return samples, names


def _dmon_samples(path: Path, interval_s: float | None):
    """dcgmi dmon rows: one block of "GPU i  <fields>" lines per sampling interval."""
    if not interval_s or interval_s <= 0:
        raise CarbonMCError("dcgmi dmon output has no timestamps: give the sampling interval with --interval SECONDS "
                            "(dmon's -d in ms / 1000)", file=str(path))
    lines = path.read_text(encoding="utf-8-sig").splitlines()
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
        except ValueError:
            raise CarbonMCError(f"expected a number in W, got {values[column]!r}", file=str(path), key=where) from None
        if not np.isfinite(power) or power < 0:
            raise CarbonMCError(f"expected a finite number >= 0, got {values[column]!r}", file=str(path), key=where)
        k = len(samples.setdefault(device, []))
        samples[device].append((epoch + timedelta(seconds=k * interval_s), power, number))
    if not samples:
        raise CarbonMCError("no 'GPU <id>' rows under the dmon header", file=str(path))
    return samples, set()


def _integrate(file: str, tool: str, samples: dict, names: set, max_gap_s: float) -> MeasuredRun:
    energy_j = seconds = 0.0
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
        mean_device_power_w=energy_j / seconds,
        notes=[f"Energy: trapezoidal integral of each device's board power over its samples ({sum(map(len, samples.values())):,} "
               "samples); accelerator scope, so no host power and no PUE."],
    )
