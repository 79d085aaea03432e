"""A measured run (from CodeCarbon or a GPU power log) and the scenario TOML written from it.

The scenario has the schema of models/*.toml. By default the measured energy is its input (a
[measured] table on the scope the meter covers: `carbon-mc run` takes it as known up to the meter's
error and draws only what it leaves out), and the same energy a ``[reported] basis = "measured"``
figure on that scope; with ``as_claim`` only the figure is written, so `carbon-mc check` tells where
the measurement falls in a distribution drawn from the priors alone.
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
    energy_scope: str  # "codecarbon" | "it" | "accelerator" (see models/README.md, "Measured energy as input")
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
    parts_kwh: dict | None = None  # CodeCarbon scope: energy of cpu, gpu, ram (kWh, before any PUE)
    modelled: tuple[str, ...] = ()  # CodeCarbon parts modelled rather than metered
    run_id: str | None = None  # CodeCarbon's run_id, when the run is one of several in its file
    project: str | None = None  # CodeCarbon's project_name

    @property
    def hours(self) -> float | None:
        """Hours each device was measured (device-hours over devices)."""
        return self.device_hours / self.devices if self.devices else None

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
                      fix_power_fraction: bool = False, as_claim: bool = False, run_devices: int | None = None,
                      run_hours: float | None = None) -> tuple[list[tuple[str, dict]], list[str]]:
    """The sections and header comments of the scenario for `run` (validated by `write_scenario`).

    By default the measurement is the scenario's input (a [measured] table on its scope, and the same
    energy as a [reported] figure to see where it falls on its own scope); with `as_claim` it is only a
    [reported] figure to check, the energy drawn from priors. `run_devices` and `run_hours` place a
    measurement of some devices for part of the time in the whole run it samples (a partial
    measurement: no [reported] figure, since the meter did not see the whole run).

    Raises:
      CarbonMCError: a partial placement with `as_claim`, on a scope other than the accelerator's, or
        smaller than what was measured; `fix_power_fraction` without `as_claim`.
    """
    source = f"{run.tool} measurement file {Path(run.file).name}"
    partial = _check_placement(run, as_claim, run_devices, run_hours)
    if fix_power_fraction and not as_claim:
        raise CarbonMCError("--fix-power-fraction fixes the prior a measured scenario replaces: use it with --as-claim",
                            key="--fix-power-fraction")
    devices = run_devices or run.devices
    run_table: dict = {"name": run.name, "hardware": hardware}
    if partial:
        run_table["device_hours"] = _sig(float(devices or 0) * float(run_hours or run.hours or 0.0))
    else:
        run_table["device_hours"] = round(run.device_hours, 6)
    if devices:
        run_table["devices"] = devices
    run_table["region"] = region
    run_table["datacenter"] = datacenter
    run_table["pue"] = pue
    if run.start is not None:
        run_table["year"] = run.start.year
    run_table["source"] = source
    sections: list[tuple[str, dict]] = [("run", run_table)]
    if not as_claim:
        sections.append(("measured", _measured_table(run, source, partial)))
    if not partial:
        scope = run.energy_scope
        sections.append(("reported", {"energy_mwh": _sig(run.energy_kwh / 1000.0), "energy_scope": scope, "basis": "measured",
                                      "source": source}))
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
    if run.emissions_kg is not None and run.emissions_kg > 0 and not partial:
        sections.append(("[claims]", {
            "label": f"{run.tool}: operational CO2e", "value": _sig(run.emissions_kg), "unit": "kg",
            "quantity": "operational_tco2e", "pue_included": run.emissions_pue_included,
            "source": f"{run.tool}, emissions column of {Path(run.file).name}",
        }))
    comments = _comments(run, hardware, tdp_w, fraction)
    comments.append("The measured energy is an input ([measured]): the run draws only what it leaves uncertain." if not as_claim
                    else "The measured energy is a claim to check ([reported]); the run estimates the energy from priors.")
    if partial:
        comments.append(f"Partial measurement: {run.devices} of {devices} devices for {run.hours:,.4g} of "
                        f"{run_hours or run.hours:,.4g} hours; the whole run is drawn from the posterior of its mean power.")
    return sections, comments


def _check_placement(run: MeasuredRun, as_claim: bool, run_devices: int | None, run_hours: float | None) -> bool:
    """True when the measurement is placed in a larger run (--run-devices, --run-hours), checked."""
    if run_devices is None and run_hours is None:
        return False
    if as_claim:
        raise CarbonMCError("--run-devices and --run-hours place a partial measurement in the whole run as its input; "
                            "a claim is compared with the run it measured: drop --as-claim", key="--as-claim")
    if run.energy_scope not in ("accelerator", "codecarbon"):
        raise CarbonMCError("a partial measurement (--run-devices, --run-hours) is placed in the run by its board power: "
                            "read it on the accelerator or codecarbon scope, not it", file=run.file, key="--run-devices")
    if run_devices is not None and run.devices and run_devices < run.devices:
        raise CarbonMCError(f"--run-devices {run_devices} is fewer than the {run.devices} devices the file measured",
                            file=run.file, key="--run-devices")
    hours = run.hours or 0.0
    if run_hours is not None and run_hours < hours * 0.99:
        raise CarbonMCError(f"--run-hours {run_hours:g} is less than the {hours:,.4g} hours the file measured", file=run.file,
                            key="--run-hours")
    return True


def _measured_table(run: MeasuredRun, source: str, partial: bool) -> dict:
    """The [measured] table: the energy on its scope (CodeCarbon's parts on its own), and its coverage."""
    table: dict = {"scope": run.energy_scope}
    if run.energy_scope == "codecarbon" and run.parts_kwh is not None:
        table.update({f"{part}_kwh": _sig(kwh) for part, kwh in run.parts_kwh.items()})
        table["modelled"] = list(run.modelled)
    else:
        table["energy_kwh"] = _sig(run.energy_kwh)
    if partial:
        table["measured_devices"] = run.devices
        table["measured_hours"] = _sig(run.hours or 0.0)
    table["tool"] = run.tool
    table["source"] = source
    return table


def _sig(x: float, digits: int = 9) -> float:
    """`x` to `digits` significant figures (measurements carry no more)."""
    return float(f"{x:.{digits}g}")


def _comments(run: MeasuredRun, hardware: str, tdp_w: float, fraction: float | None) -> list[str]:
    scope = {"codecarbon": "CodeCarbon's CPU + GPU + RAM energy, without fans, NICs, PSU losses or PUE",
             "it": "IT energy: accelerators, CPUs and memory, without PUE",
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


def scenario_text(path: str | Path, sections, comments, *, priors=None) -> str:
    """The scenario's TOML text, validated as `carbon-mc run` would read it from `path` (nothing written)."""
    text = toml_document(sections, comments)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # a bug here, not the user's input
        raise RuntimeError(f"import wrote invalid TOML: {exc}") from exc
    parse_scenario(doc, file=str(path), table=priors)
    return text


def write_scenario(path: str | Path, sections, comments, *, priors=None) -> str:
    """Validate the scenario as `carbon-mc run` would, then write it atomically; returns the text."""
    text = scenario_text(path, sections, comments, priors=priors)
    save_text(text, path)
    return text


def write_all(texts: list[tuple[Path, str]]) -> None:
    """Write several validated texts, all or none: a file that cannot be written removes those
    already written by this call (each write is atomic, so none is ever half-written).

    Raises:
      OutputError: a file cannot be written (the others are removed first).
    """
    done: list[Path] = []
    try:
        for path, text in texts:
            save_text(text, path)
            done.append(path)
    except BaseException:
        for path in done:
            path.unlink(missing_ok=True)
        raise
