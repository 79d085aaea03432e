"""CodeCarbon's emissions.csv -> a measured run.

CodeCarbon writes one row per run (``run_id``) when it stops, or several rows for one run when it
is flushed (each row cumulative). Energies are in kWh, emissions in kg CO2e, duration in seconds.
CodeCarbon multiplies every energy by its ``pue`` setting (1.0 by default) before writing it, so
``energy_consumed / pue`` is the IT energy (CPU + GPU + RAM) and ``gpu_energy / pue`` the GPUs' own.
A file of several runs is read as one run per run_id (`read_codecarbon_runs`), or with `merge` as
parts of one training run, e.g. one run per node (`read_codecarbon`).
"""

from __future__ import annotations

import re
from datetime import timedelta

from ..errors import CarbonMCError
from .measured import MeasuredRun
from .tables import Row, read_rows

REQUIRED = ("timestamp", "run_id", "duration", "energy_consumed")
GPU_MODEL = re.compile(r"(\d+)\s*x\s*(.+?)(?=\s*\d+\s*x\s|$)")
SCOPES = ("codecarbon", "it", "accelerator")
PARTS = ("cpu", "gpu", "ram")


def read_codecarbon(path, *, run_ids: list[str] | None = None, scope: str = "codecarbon", merge: bool = False,
                    devices: int | None = None, utc_offset: timedelta | None = None, rapl: bool = False) -> MeasuredRun:
    """Read emissions.csv into one measured run: the last row of its one run, or with `merge` the
    sum of the kept runs' last rows (parts of one training run, e.g. one row per node).

    `scope` "codecarbon" keeps CodeCarbon's CPU + GPU + RAM with each part (a CPU-only run's energy is
    read on the IT scope); "it" takes energy_consumed as the whole servers'; "accelerator" gpu_energy.
    CodeCarbon's CPU and RAM are taken as modelled unless `rapl` (it read them from RAPL counters).

    Raises:
      CarbonMCError: several runs in the file without `merge` or `run_ids` naming one, besides the
        errors of the file's cells (`carbon_mc.ingest.tables`).
    """
    rows, last = _runs(path, run_ids, scope)
    if len(last) > 1 and not merge:
        ids = list(last)
        raise CarbonMCError(f"holds {len(ids)} runs ({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''}): read them apart "
                            "with read_codecarbon_runs (the import command writes one scenario per run), pick one with "
                            "--run-id ID, or pass --merge to take them as parts of one training run (e.g. one row per node)",
                            file=rows[0].file, key="run_id")
    return _measured_run(list(last.values()), list(last), scope=scope, devices=devices, utc_offset=utc_offset, rapl=rapl)


def read_codecarbon_runs(path, *, run_ids: list[str] | None = None, scope: str = "codecarbon", devices: int | None = None,
                         utc_offset: timedelta | None = None, rapl: bool = False) -> list[MeasuredRun]:
    """Read emissions.csv into one measured run per run_id (its last, cumulative row), in the order
    the runs first appear in the file; `run_ids` keeps only those. Each run is read exactly as
    `read_codecarbon` reads a file of that one run (same checks, same scope rules).

    Raises:
      CarbonMCError: as `read_codecarbon`; a bad cell in any run fails the whole file (nothing is
        returned for the other runs).
    """
    _, last = _runs(path, run_ids, scope)
    return [_measured_run([row], [run_id], scope=scope, devices=devices, utc_offset=utc_offset, rapl=rapl, run_id=run_id)
            for run_id, row in last.items()]


def _runs(path, run_ids: list[str] | None, scope: str) -> tuple[list[Row], dict[str, Row]]:
    """(rows, {run_id: its last row}) of the file, in first-appearance order, `run_ids` kept if given."""
    if scope not in SCOPES:
        raise CarbonMCError(f"unknown scope {scope!r}; valid: {', '.join(SCOPES)}", key="--scope")
    rows, _ = read_rows(path, required=REQUIRED)
    last = _last_row_per_run(rows)
    if run_ids:
        unknown = sorted(set(run_ids) - set(last))
        if unknown:
            raise CarbonMCError(f"no run_id {unknown[0]!r}; the file has {', '.join(sorted(last))}", file=rows[0].file, key="--run-id")
        last = {k: v for k, v in last.items() if k in run_ids}
    return rows, last


def _measured_run(kept: list[Row], ids: list[str], *, scope: str, devices: int | None, utc_offset: timedelta | None,
                  rapl: bool, run_id: str | None = None) -> MeasuredRun:
    """The measured run of the last rows `kept` (one per run_id in `ids`), summed."""
    cpu_only = all(_cpu_only(row) for row in kept)
    if cpu_only and scope == "codecarbon":
        scope = "it"  # a CPU-only run: CPU + RAM is the device and its host, read on the IT scope
    parts = dict.fromkeys(PARTS, 0.0)
    energy_kwh = device_hours = wall_hours = emissions = 0.0
    pues, names, count = set(), set(), 0
    peak: tuple[float, str] | None = None
    for row in kept:
        pue = row.number("pue", positive=True, required=False) if "pue" in row else None
        pues.add(pue or 1.0)
        column = {"it": "energy_consumed", "codecarbon": "energy_consumed"}.get(scope, "cpu_energy" if cpu_only else "gpu_energy")
        if column not in row:
            raise CarbonMCError(f"--scope accelerator needs the {column!r} column", file=row.file)
        energy_kwh += row.number(column, unit="kWh") / (pue or 1.0)
        if scope == "codecarbon":
            for part in PARTS:
                if f"{part}_energy" not in row:
                    raise CarbonMCError(f"the codecarbon scope needs the {part}_energy column (or --scope it)", file=row.file)
                parts[part] += row.number(f"{part}_energy", unit="kWh") / (pue or 1.0)
        n = devices or (1 if cpu_only else _gpu_count(row))  # a CPU-only run: sockets are counted by the caller
        count += n
        duration = _duration(row)
        device_hours += duration / 3600.0 * n
        wall_hours += duration / 3600.0
        if "emissions" in row:
            emissions += row.number("emissions", unit="kg", required=False) or 0.0
        if not cpu_only:
            names.update(_gpu_models(row))
        _check_power_against_energy(row, duration, pue or 1.0)
        gpu_w = row.number("gpu_power", unit="W", required=False) if "gpu_power" in row else None
        if gpu_w is not None and (peak is None or gpu_w / n > peak[0]):
            peak = (gpu_w / n, row.where("gpu_power") + f" / {n} GPUs")
    pue = pues.pop()
    starts = [row.time("timestamp", utc_offset=utc_offset) - timedelta(seconds=_duration(row)) for row in kept]
    ends = [row.time("timestamp", utc_offset=utc_offset) for row in kept]
    first = kept[0]
    version = first.get("codecarbon_version") or ""
    return MeasuredRun(
        file=first.file, tool=f"CodeCarbon {version}".strip(), name=_name(first, kept, run_id),
        energy_kwh=energy_kwh, energy_scope=scope, device_hours=device_hours, devices=count,
        gpu_name=names.pop() if names else None, peak_device_power=peak, start=min(starts), end=max(ends), pue=pue if pue != 1.0 else None,
        emissions_kg=emissions or None, emissions_pue_included=pue != 1.0,
        location={k: (first.get(k) or "").strip() for k in ("country_name", "country_iso_code", "region", "cloud_provider", "cloud_region")},
        cpu_name=(first.get("cpu_model") or "").strip() or None if cpu_only else None,
        logical_cpus=_logical_cpus(first) if cpu_only else None, wall_hours=wall_hours,
        parts_kwh=parts if scope == "codecarbon" else None, modelled=() if rapl else ("cpu", "ram"),
        run_id=run_id, project=(first.get("project_name") or "").strip() or None,
        notes=[f"CodeCarbon runs: {', '.join(sorted(ids))}; energy = {'gpu_energy' if scope == 'accelerator' else 'energy_consumed'}"
               + (f" / pue {pue:g} (CodeCarbon multiplies by its pue setting)" if pue != 1.0 else " (CodeCarbon pue 1.0: no PUE applied)")
               + ". CodeCarbon counts CPU, GPU and RAM, not network, storage or fans."],
    )


def _last_row_per_run(rows: list[Row]) -> dict[str, Row]:
    """The last (cumulative, longest) row of each run_id."""
    last: dict[str, Row] = {}
    for row in rows:
        run_id = row.text("run_id")
        if run_id not in last or _duration(row) >= _duration(last[run_id]):
            last[run_id] = row
    return last


MAX_DURATION_S = 10 * 365.25 * 86400  # ten years: longer is a unit slip (ms for s), not a tracked run
# Energy against mean power x duration: CodeCarbon's power columns are, by version, the mean over the
# run or the power at the last measurement, which for a board running between idle (about 10% of its
# TDP) and full load can be up to ~10x from the run's mean; a factor of 10 either way admits that,
# and still catches every unit slip, which is 60x (minutes for seconds) or 1000x (Wh for kWh) or more.
ENERGY_POWER_TOLERANCE = 10.0
POWER_ENERGY_PAIRS = (("gpu_energy", ("gpu_power",)), ("cpu_energy", ("cpu_power",)), ("ram_energy", ("ram_power",)),
                      ("energy_consumed", ("cpu_power", "gpu_power", "ram_power")))


def _duration(row: Row) -> float:
    """The row's duration in seconds (> 0, at most `MAX_DURATION_S`; a unit in the cell is converted)."""
    seconds = row.number("duration", unit="s", positive=True)
    if seconds > MAX_DURATION_S:
        raise row.error("duration", f"{seconds:,.4g} s is {seconds / (365.25 * 86400):,.4g} years: expected at most "
                                    f"{MAX_DURATION_S:,.0f} s (10 years); is it in ms?")
    return seconds


def _check_power_against_energy(row: Row, duration_s: float, pue: float) -> None:
    """Each energy within `ENERGY_POWER_TOLERANCE` of its mean power x duration, where the row gives both."""
    for energy_col, power_cols in POWER_ENERGY_PAIRS:
        if energy_col not in row or not all(c in row for c in power_cols):
            continue
        energy = row.number(energy_col, unit="kWh", required=False)
        powers = [row.number(c, unit="W", required=False) for c in power_cols]
        if energy is None or any(w is None for w in powers):
            continue
        watts = sum(w for w in powers if w is not None)
        if energy <= 0 or watts <= 0:
            continue  # a tracker that did not see a device writes 0: nothing to compare
        expected = watts * duration_s / 3.6e6  # kWh
        ratio = energy / pue / expected
        if not 1 / ENERGY_POWER_TOLERANCE <= ratio <= ENERGY_POWER_TOLERANCE:
            written = " + ".join(repr(c) for c in power_cols)
            raise row.error(energy_col, (
                f"{energy / pue:,.6g} kWh{' (after / pue)' if pue != 1 else ''} is {ratio:,.4g} x what {written} "
                f"({watts:,.6g} W) over 'duration' ({duration_s:,.6g} s) gives ({expected:,.6g} kWh): expected within a "
                f"factor of {ENERGY_POWER_TOLERANCE:g}. A unit slip (Wh for kWh, minutes for seconds)?"))


def _cpu_only(row: Row) -> bool:
    """A row of a job that ran on CPUs alone: no GPU counted and no GPU energy."""
    count = row.number("gpu_count", required=False) if "gpu_count" in row else None
    energy = row.number("gpu_energy", unit="kWh", required=False) if "gpu_energy" in row else None
    return not count and not energy and bool((row.get("cpu_model") or "").strip())


def _logical_cpus(row: Row) -> int | None:
    count = row.number("cpu_count", required=False) if "cpu_count" in row else None
    if count is None:
        return None
    if count != int(count) or count < 1:
        raise row.error("cpu_count", f"expected a whole number of CPUs >= 1, got {count:g}")
    return int(count)


def _gpu_count(row: Row) -> int:
    count = row.number("gpu_count", required=False) if "gpu_count" in row else None
    if not count:
        raise row.error("gpu_count", "no GPUs recorded; carbon-mc estimates accelerator runs (give --devices N if the "
                                     "tracker missed them)")
    if count != int(count):
        raise row.error("gpu_count", f"expected a whole number, got {count:g}")
    return int(count)


def _gpu_models(row: Row) -> set[str]:
    """GPU names from CodeCarbon's gpu_model ("8 x NVIDIA A100-SXM4-80GB", several models concatenated)."""
    text = (row.get("gpu_model") or "").strip()
    if not text:
        return set()
    found = {m.group(2).strip() for m in GPU_MODEL.finditer(text)}
    return found or {text}


def _name(first: Row, kept: list[Row], run_id: str | None = None) -> str:
    project = (first.get("project_name") or "codecarbon").strip()
    if run_id is not None:
        return f"{project} (CodeCarbon, run {run_id[:8]})"
    return f"{project} (CodeCarbon, {len(kept)} run{'s' if len(kept) > 1 else ''})"
