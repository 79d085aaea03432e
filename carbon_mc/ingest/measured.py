"""A measured run (from CodeCarbon or a GPU power log) and the scenario TOML written from it.

The scenario has the schema of models/*.toml, with ``[reported] basis = "measured"`` and the
energy on the scope the measurement covers, so `carbon-mc run` estimates it and `carbon-mc check`
tells where the measurement falls in the distribution.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import CarbonMCError
from ..io.files import save_text
from ..scenarios.training import parse_scenario


@dataclass
class MeasuredRun:
    """What a measurement file says about one training run."""

    file: str
    tool: str  # "CodeCarbon 2.3.4", "nvidia-smi", "DCGM"
    name: str
    energy_kwh: float
    energy_scope: str  # "it" | "accelerator" (see models/README.md, "Measured runs")
    device_hours: float
    devices: int | None = None
    gpu_name: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    mean_device_power_w: float | None = None  # accelerator board power, when measured
    peak_device_power: tuple[float, str] | None = None  # the largest power reading per device (W) and where it is
    pue: float | None = None  # a PUE the tool applied to its energy (CodeCarbon's pue column)
    emissions_kg: float | None = None
    emissions_pue_included: bool = False
    location: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cpu_name: str | None = None  # a CPU-only run: the CPU model, and the logical CPUs the tracker saw
    logical_cpus: int | None = None
    wall_hours: float | None = None  # hours the run lasted (summed over kept runs)

    def tdp_fraction(self, tdp_w: float) -> float | None:
        """Mean measured board power as a fraction of the accelerator's TDP."""
        return None if self.mean_device_power_w is None else self.mean_device_power_w / tdp_w


POWER_BOUND_TDP = 2.0  # a board's power can pass its TDP in short transients, never twice it for a whole sample


def check_power(run: MeasuredRun, hardware: str, tdp_w: float) -> None:
    """Refuse board power outside [0, 2 x TDP] of the accelerator `hardware`: it is not a reading of that card.

    A sample above twice the TDP is a unit slip (mW or kW written as W) or another device's number,
    and would pass straight into the scenario's energy and its power fraction.

    Raises:
      CarbonMCError: naming the file, where the reading is, its value and the bound.
    """
    bound = POWER_BOUND_TDP * tdp_w
    readings = [r for r in (run.peak_device_power,) if r is not None]
    if run.mean_device_power_w is not None:
        readings.append((run.mean_device_power_w, "mean board power"))
    for watts, where in readings:
        if not (math.isfinite(watts) and 0 <= watts <= bound):
            raise CarbonMCError(
                f"board power {watts:,.1f} W per device is not physical for {hardware}: expected within [0, {bound:,.0f}] W "
                f"(2 x its {tdp_w:g} W TDP). A unit slip (mW or kW read as W), or --hardware naming another card?",
                file=run.file, key=where)


def toml_value(value) -> str:
    """A TOML literal for a str, bool, int, finite float, list or dict (inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML literal for {type(value).__name__}")


def toml_document(sections: list[tuple[str, dict]], comments: list[str]) -> str:
    """TOML text: comment lines, then each ``[section]`` (``[[section]]`` when its name starts with "[")."""
    lines = [f"# {c}" if c else "#" for c in comments]
    for name, body in sections:
        lines += ["", f"[{name}]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in body.items() if v is not None]
    return "\n".join(lines) + "\n"


def scenario_sections(run: MeasuredRun, *, hardware: str, tdp_w: float, region: str | None = None,
                      grid_prior: dict | None = None, datacenter: str | None = None, pue: float | None = None,
                      fix_power_fraction: bool = False) -> tuple[list[tuple[str, dict]], list[str]]:
    """The sections and header comments of the scenario for `run` (validated by `write_scenario`)."""
    source = f"{run.tool} measurement file {Path(run.file).name}"
    run_table = {"name": run.name, "hardware": hardware, "device_hours": round(run.device_hours, 6)}
    if run.devices:
        run_table["devices"] = run.devices
    run_table["region"] = region
    run_table["datacenter"] = datacenter
    run_table["pue"] = pue
    if run.start is not None:
        run_table["year"] = run.start.year
    run_table["source"] = source
    reported = {"energy_mwh": _sig(run.energy_kwh / 1000.0), "energy_scope": run.energy_scope, "basis": "measured", "source": source}
    sections: list[tuple[str, dict]] = [("run", run_table), ("reported", reported)]
    priors = {}
    if grid_prior is not None:
        priors["grid_gco2_per_kwh"] = grid_prior
    fraction = run.tdp_fraction(tdp_w)
    if fix_power_fraction and fraction is not None:
        priors["accelerator_power_tdp_fraction"] = {
            "distribution": "fixed", "params": {"value": round(fraction, 6)},
            "source": f"mean measured board power / TDP ({tdp_w:g} W) from {Path(run.file).name}",
        }
    if priors:
        sections.append(("priors", priors))
    if run.emissions_kg is not None and run.emissions_kg > 0:
        sections.append(("[claims]", {
            "label": f"{run.tool}: operational CO2e", "value": _sig(run.emissions_kg), "unit": "kg",
            "quantity": "operational_tco2e", "pue_included": run.emissions_pue_included,
            "source": f"{run.tool}, emissions column of {Path(run.file).name}",
        }))
    comments = _comments(run, hardware, tdp_w, fraction)
    return sections, comments


def _sig(x: float, digits: int = 9) -> float:
    """`x` to `digits` significant figures (measurements carry no more)."""
    return float(f"{x:.{digits}g}")


def _comments(run: MeasuredRun, hardware: str, tdp_w: float, fraction: float | None) -> list[str]:
    scope = {"it": "IT energy: accelerators, CPUs and memory, without PUE",
             "accelerator": "accelerator energy alone (board power), without host or PUE"}[run.energy_scope]
    out = [f"Imported by `carbon-mc import` from {Path(run.file).name} ({run.tool}).",
           f"What was measured: {scope}: {run.energy_kwh:,.3f} kWh over {run.device_hours:,.2f} device-hours"
           + (f" on {run.devices} devices" if run.devices else "") + "."]
    if run.start and run.end:
        out.append(f"Run: {run.start:%Y-%m-%d %H:%M} to {run.end:%Y-%m-%d %H:%M} UTC.")
    if fraction is not None:
        out.append(f"Mean board power {run.mean_device_power_w:,.1f} W per device = {fraction:.3f} of the {tdp_w:g} W TDP of {hardware}.")
    out += run.notes
    return out


def write_scenario(path: str | Path, sections, comments, *, priors=None) -> str:
    """Validate the scenario as `carbon-mc run` would, then write it atomically; returns the text."""
    text = toml_document(sections, comments)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # a bug here, not the user's input
        raise RuntimeError(f"import wrote invalid TOML: {exc}") from exc
    parse_scenario(doc, file=str(path), table=priors)
    save_text(text, path)
    return text
