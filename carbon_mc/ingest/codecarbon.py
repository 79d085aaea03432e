"""CodeCarbon's emissions.csv -> a measured run.

CodeCarbon writes one row per run (``run_id``) when it stops, or several rows for one run when it
is flushed (each row cumulative). Energies are in kWh, emissions in kg CO2e, duration in seconds.
CodeCarbon multiplies every energy by its ``pue`` setting (1.0 by default) before writing it, so
``energy_consumed / pue`` is the IT energy (CPU + GPU + RAM) and ``gpu_energy / pue`` the GPUs' own.
The runs kept (all by default) are taken as parts of one training run, e.g. one row per node.
"""

from __future__ import annotations

import re
from datetime import timedelta

from ..errors import CarbonMCError
from .measured import MeasuredRun
from .tables import Row, read_rows

REQUIRED = ("timestamp", "run_id", "duration", "energy_consumed")
GPU_MODEL = re.compile(r"(\d+)\s*x\s*(.+?)(?=\s*\d+\s*x\s|$)")
SCOPES = ("it", "accelerator")


def read_codecarbon(path, *, run_ids: list[str] | None = None, scope: str = "it",
                    devices: int | None = None, utc_offset: timedelta | None = None) -> MeasuredRun:
    """Read emissions.csv into one measured run (summing the kept runs' last rows)."""
    if scope not in SCOPES:
        raise CarbonMCError(f"unknown scope {scope!r}; valid: {', '.join(SCOPES)}", key="--scope")
    rows, _ = read_rows(path, required=REQUIRED)
    last = _last_row_per_run(rows)
    if run_ids:
        unknown = sorted(set(run_ids) - set(last))
        if unknown:
            raise CarbonMCError(f"no run_id {unknown[0]!r}; the file has {', '.join(sorted(last))}", file=rows[0].file, key="--run-id")
        last = {k: v for k, v in last.items() if k in run_ids}
    kept = list(last.values())
    energy_kwh = device_hours = emissions = 0.0
    pues, names, count = set(), set(), 0
    for row in kept:
        pue = row.number("pue", positive=True, required=False) if "pue" in row else None
        pues.add(pue or 1.0)
        column = "energy_consumed" if scope == "it" else "gpu_energy"
        if column not in row:
            raise CarbonMCError("--scope accelerator needs the 'gpu_energy' column", file=row.file)
        energy_kwh += row.number(column) / (pue or 1.0)
        n = devices or _gpu_count(row)
        count += n
        device_hours += row.number("duration", positive=True) / 3600.0 * n
        if "emissions" in row:
            emissions += row.number("emissions", required=False) or 0.0
        names.update(_gpu_models(row))
    if len(pues) > 1:
        raise CarbonMCError(f"the kept runs used different PUEs ({', '.join(map(str, sorted(pues)))}); import them one by one "
                            "with --run-id", file=rows[0].file)
    if len(names) > 1:
        raise CarbonMCError(f"the kept runs used different GPUs ({', '.join(sorted(names))}); import them one by one with --run-id",
                            file=rows[0].file)
    if energy_kwh <= 0:
        raise CarbonMCError(f"the kept runs report no {'GPU ' if scope == 'accelerator' else ''}energy (0 kWh): a missing "
                            "reading is not a measurement of zero", file=rows[0].file)
    pue = pues.pop()
    starts = [row.time("timestamp", utc_offset=utc_offset) - timedelta(seconds=row.number("duration")) for row in kept]
    ends = [row.time("timestamp", utc_offset=utc_offset) for row in kept]
    first = kept[0]
    version = first.get("codecarbon_version") or ""
    return MeasuredRun(
        file=first.file, tool=f"CodeCarbon {version}".strip(), name=_name(first, kept),
        energy_kwh=energy_kwh, energy_scope=scope, device_hours=device_hours, devices=count,
        gpu_name=names.pop() if names else None, start=min(starts), end=max(ends), pue=pue if pue != 1.0 else None,
        emissions_kg=emissions or None, emissions_pue_included=pue != 1.0,
        location={k: (first.get(k) or "").strip() for k in ("country_name", "country_iso_code", "region", "cloud_provider", "cloud_region")},
        notes=[f"CodeCarbon runs: {', '.join(sorted(last))}; energy = {'energy_consumed' if scope == 'it' else 'gpu_energy'}"
               + (f" / pue {pue:g} (CodeCarbon multiplies by its pue setting)" if pue != 1.0 else " (CodeCarbon pue 1.0: no PUE applied)")
               + ". CodeCarbon counts CPU, GPU and RAM, not network, storage or fans."],
    )


def _last_row_per_run(rows: list[Row]) -> dict[str, Row]:
    """The last (cumulative, longest) row of each run_id."""
    last: dict[str, Row] = {}
    for row in rows:
        run_id = row.text("run_id")
        if run_id not in last or row.number("duration") >= last[run_id].number("duration"):
            last[run_id] = row
    return last


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


def _name(first: Row, kept: list[Row]) -> str:
    project = (first.get("project_name") or "codecarbon").strip()
    return f"{project} (CodeCarbon, {len(kept)} run{'s' if len(kept) > 1 else ''})"
