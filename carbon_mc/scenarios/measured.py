"""The [measured] table of a training scenario: a measured energy taken as input, on a named scope.

A run that was metered states what the meter saw (``energy_kwh``, or ``mean_power_w`` over
``hours``), on which scope, and, when the meter saw only part of the run, how many of its devices
(``measured_devices``) for how many of its hours (``measured_hours``). The run then takes the
measured energy as known up to the meter's error (a prior of priors/measurement.toml) and draws
only what the measurement leaves uncertain (carbon_mc.footprint.measured). models/README.md,
"Measured energy as input", documents the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from . import fields

# Named scopes: what the meter's energy covers.
MEASURED_SCOPES = {
    "accelerator": "the accelerator boards alone (nvidia-smi, DCGM, NVML): no host, no PUE",
    "codecarbon": "CodeCarbon's boundary: CPU + GPU + RAM (CPU and RAM often modelled, not metered); no fans, NICs, "
                  "PSU losses, no PUE",
    "it": "the whole servers (accelerators and host: a node or PDU meter), no PUE",
    "node": "the whole servers (accelerators and host: a node or PDU meter), no PUE; the same as \"it\"",
    "facility": "the servers times the data centre's overhead (PUE)",
    "throughput": "no energy: a measured training throughput (tokens/s per device) that replaces the MFU prior of a run "
                  "whose device-hours derive from its tokens",
}
PARTS = ("cpu", "gpu", "ram")  # CodeCarbon's parts, each with its energy in kWh
MEASURED_KEYS = {"scope", "energy_kwh", "mean_power_w", "hours", "measured_devices", "measured_hours", "source", "tool",
                 "modelled", "cpu_kwh", "gpu_kwh", "ram_kwh", "tokens_per_s_per_device"}
# The meter-error prior of each part a scope's energy is made of (priors/measurement.toml).
BOARD, RAPL, MODELLED, NODE = ("meter_error_board_factor", "meter_error_rapl_factor", "meter_error_modelled_factor",
                               "meter_error_node_factor")
PARTIAL_QUANTITIES = ("device_power_spread_log_sd", "power_over_time_spread_log_sd", "measured_power_posterior_z")
HOST_REMAINDER = "host_beyond_codecarbon_fraction"
PARTIAL_SCOPES = ("accelerator", "codecarbon")  # scopes whose board power a partial measurement updates
COVERAGE_TOLERANCE = 0.01  # measured hours within 1% of the run's hours count as the whole run


@dataclass(frozen=True)
class Measured:
    """A measured energy on a named scope (kWh), what it covers, and the prior moments a partial update needs."""

    scope: str  # one of MEASURED_SCOPES ("node" is read as "it")
    energy_kwh: float
    source: str
    tool: str | None = None
    parts_kwh: tuple[tuple[str, float], ...] = ()  # codecarbon scope: (part, kWh) of cpu, gpu, ram
    modelled: tuple[str, ...] = ()  # codecarbon scope: parts CodeCarbon modelled instead of metering
    measured_devices: float | None = None  # a partial measurement: devices metered (of the run's devices)
    measured_hours: float | None = None  # ... for these hours (of the run's hours)
    partial: bool = False
    # The run-level prior of ln(mean board power, W) (moments of tdp x accelerator_power_tdp_fraction), set at load
    prior_log_power_mean: float = 0.0
    prior_log_power_sd: float = 0.0
    tokens_per_s_per_device: float | None = None  # scope "throughput": measured steady-state training throughput

    @property
    def energy_mwh(self) -> float:
        return self.energy_kwh / 1000.0

    def part_kwh(self, part: str) -> float:
        return dict(self.parts_kwh).get(part, 0.0)

    def meter_quantities(self) -> list[str]:
        """The meter-error priors the measured energy is drawn with."""
        if self.scope == "throughput":
            return []  # tokens are counted and time is wall-clock: the run's departures from it are the overhead factor
        if self.scope == "accelerator":
            return [BOARD]
        if self.scope == "codecarbon":
            names = [BOARD] if self.part_kwh("gpu") > 0 else []
            metered = [p for p in ("cpu", "ram") if self.part_kwh(p) > 0]
            if any(p not in self.modelled for p in metered):
                names.append(RAPL)
            if any(p in self.modelled for p in metered):
                names.append(MODELLED)
            return names
        return [NODE]

    def replaced_quantities(self) -> list[str]:
        """The class priors the measurement makes unused (a whole-server figure still needs both, to split it)."""
        return {"accelerator": ["accelerator_power_tdp_fraction"],
                "codecarbon": ["accelerator_power_tdp_fraction", "server_power_w_per_device"],
                "throughput": ["mfu_fraction", "moe_mfu_ratio"]}.get(self.scope, [])

    def needed_quantities(self) -> list[str]:
        """The priors the measurement adds to the run's draws."""
        names = self.meter_quantities()
        if self.scope == "codecarbon":
            names.append(HOST_REMAINDER)
        if self.partial:
            names += list(PARTIAL_QUANTITIES)
        return names

    @property
    def replaced(self) -> list[str]:
        """The inputs the measurement replaces, in words (the run's text and JSON output say them)."""
        meter = "meter error: " + ", ".join(self.meter_quantities())
        if self.scope == "throughput":
            return [f"mfu_fraction (MFU: the measured {self.tokens_per_s_per_device:,.6g} tokens/s per device x the run's FLOP "
                    "per token / peak; device-hours = tokens / throughput x device_time_overhead_factor, which is still drawn "
                    "for restarts, checkpoints and stragglers the measured window did not see)"]
        if self.scope == "accelerator":
            how = ("posterior given the measured devices and hours" if self.partial else "measured accelerator energy")
            return [f"accelerator_power_tdp_fraction (accelerator power: {how}; {meter})"]
        if self.scope == "codecarbon":
            how = "posterior given CodeCarbon's gpu_kwh of the measured devices and hours" if self.partial else "CodeCarbon's gpu_kwh"
            return [f"accelerator_power_tdp_fraction (accelerator power: {how}; {meter})",
                    f"server_power_w_per_device (host power: CodeCarbon's cpu_kwh + ram_kwh per measured device-hour, plus {HOST_REMAINDER} "
                    "for fans, NICs, storage, PSU losses)"]
        what = "IT energy" if self.scope == "it" else "facility energy / PUE"
        return [f"accelerator_power_tdp_fraction and server_power_w_per_device (their sum: measured {what}; {meter}; "
                "split between them by the two priors' shares)"]


def parse_measured(block: Any, file: str, *, device_hours: float | None, devices: float | None,
                   pue_included: bool, tokens: float | None = None) -> Measured | None:
    """The [measured] table, validated against the run it measures (None when absent).

    Raises:
      InputError: an unknown key or scope, a missing or non-positive energy, parts that do not add
        up to the energy, a partial measurement the run cannot place (no device count or device time),
        or more devices or hours measured than the run had; a throughput with an energy, or on a run
        that gives its device time or not its tokens.
    """
    if block is None:
        return None
    where = "measured"
    if not isinstance(block, dict):
        raise InputError(f"must be a table, got {type(block).__name__}", file=file, key=where)
    fields.check_keys(block, MEASURED_KEYS, file, where)
    scope = fields.read_choice(block, "scope", tuple(MEASURED_SCOPES), file, where)
    if scope is None:
        raise InputError("missing 'scope': what the meter's energy covers; valid: " + ", ".join(MEASURED_SCOPES),
                         file=file, key=f"{where}.scope")
    scope = "it" if scope == "node" else scope
    source = fields.read_str(block, "source", file, where, required=True)
    tool = fields.read_str(block, "tool", file, where)
    if scope == "throughput" or "tokens_per_s_per_device" in block:
        return _throughput(block, scope, file, where, source, tool, device_hours=device_hours, tokens=tokens)
    if device_hours is None:
        raise InputError("a measured energy needs the run's device time: give device_hours, or devices + days, in [run]",
                         file=file, key=where)
    if scope == "facility" and not pue_included:
        raise InputError("a facility-scope measurement needs PUE, which [accounting] pue_included = false leaves out",
                         file=file, key=f"{where}.scope")
    energy = _energy_kwh(block, file, where)
    parts, modelled = _parts(block, scope, energy, file, where)
    if energy is None:
        energy = sum(kwh for _, kwh in parts)
    m_devices = fields.read_positive(block, "measured_devices", file, where, integer=True)
    m_hours = fields.read_positive(block, "measured_hours", file, where)
    partial = _is_partial(m_devices, m_hours, device_hours, devices, file, where)
    if partial and scope not in PARTIAL_SCOPES:
        raise InputError("a measurement of part of the run (measured_devices, measured_hours) is read on the accelerator "
                         "or codecarbon scope only (board power); give the whole run's energy on this scope", file=file,
                         key=f"{where}.scope")
    if partial and scope == "codecarbon" and not dict(parts).get("gpu"):
        raise InputError("a partial CodeCarbon measurement is placed in the run by its GPU energy: gpu_kwh is 0", file=file,
                         key=f"{where}.gpu_kwh")
    return Measured(scope=scope, energy_kwh=energy, source=source, tool=tool, parts_kwh=parts, modelled=modelled,
                    measured_devices=m_devices, measured_hours=m_hours, partial=partial)


def _throughput(block: dict, scope: str, file: str, where: str, source: str, tool: str | None, *,
                device_hours: float | None, tokens: float | None) -> Measured:
    """A measured training throughput (scope "throughput"): replaces the MFU prior of a run whose
    device-hours derive from its tokens."""
    if scope != "throughput":
        raise InputError(f"'tokens_per_s_per_device' is a throughput, not an energy: give it with scope = \"throughput\" "
                         f"(not {scope!r}), in a scenario without an energy measurement", file=file, key=f"{where}.scope")
    extra = sorted(set(block) - {"scope", "tokens_per_s_per_device", "source", "tool"})
    if extra:
        raise InputError(f"'{extra[0]}' does not go with a throughput measurement; its keys: tokens_per_s_per_device, "
                         "source, tool", file=file, key=f"{where}.{extra[0]}")
    tps = fields.read_positive(block, "tokens_per_s_per_device", file, where)
    if tps is None:
        raise InputError("missing 'tokens_per_s_per_device': the measured training throughput per device (tokens/s)",
                         file=file, key=f"{where}.tokens_per_s_per_device")
    if device_hours is not None:
        raise InputError("a measured throughput replaces the MFU of a run whose device-hours derive from its tokens; this run "
                         "gives its device time (device_hours, or devices + days): drop one of the two", file=file,
                         key=f"{where}.tokens_per_s_per_device")
    if tokens is None:
        raise InputError("a measured throughput needs the run's tokens (and parameters) in [run]: device-hours = tokens / "
                         "throughput", file=file, key=f"{where}.tokens_per_s_per_device")
    return Measured(scope="throughput", energy_kwh=0.0, source=source, tool=tool, tokens_per_s_per_device=tps)


def check_throughput_mfu(measured: Measured, parameters: float | None, hardware_spec: dict, file: str) -> None:
    """Refuse a measured throughput whose dense MFU, 6 N x tokens/s / peak, is above 1: faster than the
    device's peak (a global figure given per device, or tokens/s of another model).

    Raises:
      InputError: naming the MFU, the throughput and the peak.
    """
    if parameters is None or measured.tokens_per_s_per_device is None:
        return
    peak = float(hardware_spec["peak_flop_per_s"])
    mfu = 6.0 * parameters * measured.tokens_per_s_per_device / peak
    if mfu > 1.0:
        raise InputError(f"{measured.tokens_per_s_per_device:,.6g} tokens/s per device x 6 x {parameters:,.4g} parameters is "
                         f"{mfu:,.3g} x the device's peak {peak:,.4g} FLOP/s (MFU above 1): is it the whole run's throughput "
                         "rather than one device's?", file=file, key="measured.tokens_per_s_per_device")


def _energy_kwh(block: dict, file: str, where: str) -> float | None:
    energy = fields.read_positive(block, "energy_kwh", file, where)
    power, hours = (fields.read_positive(block, k, file, where) for k in ("mean_power_w", "hours"))
    if energy is not None and (power is not None or hours is not None):
        raise InputError("give 'energy_kwh', or 'mean_power_w' and 'hours', not both", file=file, key=f"{where}.energy_kwh")
    if (power is None) != (hours is None):
        missing = "hours" if hours is None else "mean_power_w"
        raise InputError(f"'mean_power_w' and 'hours' go together: {missing} is missing", file=file, key=f"{where}.{missing}")
    if power is not None and hours is not None:
        energy = fields.check_range(power * hours / 1000.0, "energy_kwh", file, f"{where}.mean_power_w")
    return energy


def _parts(block: dict, scope: str, energy: float | None, file: str, where: str) -> tuple[tuple, tuple]:
    """CodeCarbon's cpu/gpu/ram parts (kWh) and the modelled ones; only on the codecarbon scope."""
    given = [p for p in PARTS if f"{p}_kwh" in block]
    if scope != "codecarbon":
        extra = (given and f"{given[0]}_kwh") or ("modelled" if "modelled" in block else None)
        if extra:
            raise InputError(f"'{extra}' belongs to the codecarbon scope (CPU + GPU + RAM), not {scope!r}", file=file,
                             key=f"{where}.{extra}")
        if energy is None:
            raise InputError("missing 'energy_kwh' (or 'mean_power_w' and 'hours')", file=file, key=f"{where}.energy_kwh")
        return (), ()
    missing = [f"{p}_kwh" for p in PARTS if p not in given]
    if missing:
        raise InputError(f"the codecarbon scope needs each part's energy (CodeCarbon's cpu_energy, gpu_energy, ram_energy): "
                         f"missing {', '.join(missing)}", file=file, key=f"{where}.{missing[0]}")
    parts = tuple((p, fields.check_number(block[f"{p}_kwh"], file, f"{where}.{p}_kwh", minimum=0.0)) for p in PARTS)
    total = sum(kwh for _, kwh in parts)
    if total <= 0:
        raise InputError("cpu_kwh + gpu_kwh + ram_kwh is 0: nothing was measured", file=file, key=f"{where}.gpu_kwh")
    if energy is not None and not math.isclose(energy, total, rel_tol=COVERAGE_TOLERANCE):
        raise InputError(f"energy_kwh = {energy:g} is not cpu_kwh + gpu_kwh + ram_kwh = {total:g} (more than 1% apart)",
                         file=file, key=f"{where}.energy_kwh")
    modelled = block.get("modelled", [])
    if not isinstance(modelled, list) or any(m not in ("cpu", "ram") for m in modelled) or len(set(modelled)) != len(modelled):
        raise InputError(f"must be a list of the parts CodeCarbon modelled, each \"cpu\" or \"ram\" once; got {modelled!r}",
                         file=file, key=f"{where}.modelled")
    return parts, tuple(modelled)


def _is_partial(m_devices, m_hours, device_hours: float, devices: float | None, file: str, where: str) -> bool:
    """True when the meter saw fewer devices or fewer hours than the run had."""
    partial = False
    if m_devices is not None:
        if devices is None:
            raise InputError("'measured_devices' needs the run's device count: give devices in [run]", file=file,
                             key=f"{where}.measured_devices")
        if m_devices > devices:
            raise InputError(f"measured_devices = {m_devices:g} exceeds the run's devices = {devices:g}", file=file,
                             key=f"{where}.measured_devices")
        partial = m_devices < devices
    if m_hours is not None:
        if devices is None:
            raise InputError("'measured_hours' needs the run's device count (its hours are device_hours / devices): give "
                             "devices in [run]", file=file, key=f"{where}.measured_hours")
        hours = device_hours / devices
        if m_hours > hours * (1 + COVERAGE_TOLERANCE):
            raise InputError(f"measured_hours = {m_hours:g} exceeds the run's {hours:g} hours (device_hours / devices)",
                             file=file, key=f"{where}.measured_hours")
        partial = partial or m_hours < hours * (1 - COVERAGE_TOLERANCE)
    return partial


def with_prior_moments(measured: Measured, power_prior, tdp_w: float) -> Measured:
    """`measured` with the mean and sd of ln(tdp_w x f), f drawn from `power_prior` (the run's
    accelerator_power_tdp_fraction), from its inverse CDF on a fixed grid of 4,000 quantiles."""
    from dataclasses import replace

    import numpy as np

    u = (np.arange(4000) + 0.5) / 4000
    logs = np.log(tdp_w * np.asarray(power_prior.icdf32(u), dtype=np.float64))
    return replace(measured, prior_log_power_mean=float(logs.mean()), prior_log_power_sd=float(logs.std()))
