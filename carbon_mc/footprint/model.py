"""The carbon model: composes the equations of compute, energy and emissions.

`carbon_footprint` is a pure function of a dict of input arrays (one entry per quantity) and the
run's constants; it returns every intermediate as an output. Which branches run is fixed by the
run description (Python-level), so the function traces once under `jax.jit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from ..errors import InputError
from . import compute, emissions, energy, measured, scaling
from .outputs import HEADLINE, OUTPUTS, WITHOUT_PUE, Output  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class RunConstants:
    """The known (non-random) facts of a run that the model needs."""

    peak_flop_per_s: float
    tdp_w: float
    devices_per_server: float
    device_hours: float | None = None
    devices: float | None = None
    parameters: float | None = None
    tokens: float | None = None
    train_flops: float | None = None
    target_loss: float | None = None
    compute_budget_flop: float | None = None
    grid_basis: str = "location"  # "market": operational emissions use x["market_gco2_per_kwh"]
    pue_included: bool = True  # False: energy_mwh is IT energy (no PUE), and operational uses it
    moe: bool = False  # mixture-of-experts: `parameters` are the active ones, MFU takes moe_mfu_ratio
    project: bool = False  # the run's figure counts the whole project: device time x project_experiment_factor
    measured: object | None = None  # a measured energy taken as input (carbon_mc.scenarios.measured.Measured)

    @classmethod
    def from_scenario(cls, scenario, hardware_spec: dict) -> RunConstants:
        return cls(
            peak_flop_per_s=float(hardware_spec["peak_flop_per_s"]),
            tdp_w=float(hardware_spec["tdp_w"]),
            devices_per_server=float(hardware_spec["devices_per_server"]),
            device_hours=scenario.device_hours,
            devices=scenario.devices,
            parameters=scenario.compute_parameters,
            tokens=scenario.tokens,
            train_flops=scenario.train_flops,
            target_loss=scenario.target_loss,
            compute_budget_flop=scenario.compute_budget_flop,
            grid_basis=scenario.accounting.grid_basis,
            pue_included=scenario.accounting.pue_included,
            moe=scenario.is_moe,
            project=scenario.reported.counts == "project",
            measured=scenario.measured,
        )


def _tokens_from_scaling(x: dict, run: RunConstants) -> dict:
    """Tokens, compute and loss of a run given by parameters and a target loss or a compute budget.

    Target loss: D from the loss law (+inf in draws where the target is out of reach at that size);
    compute budget: D = C / (6 N (1 + δ)). The loss law's constants are the joint
    `scaling_law_constants` draw (footprint.scaling).
    """
    if run.parameters is None:  # the scenario's loader asks for parameters beside a target loss or a compute budget
        raise InputError("a target loss or a compute budget needs the run's parameters", key="run.parameters")
    k = scaling.split_constants(x["scaling_law_constants"])
    delta = flops_overhead_fraction(x, run.parameters)
    if run.target_loss is not None:
        tokens = scaling.tokens_for_target_loss(run.parameters, run.target_loss, **k)
        flop = compute.train_flop_from_params_tokens(run.parameters, tokens, delta)
    else:
        flop = jnp.broadcast_to(jnp.asarray(run.compute_budget_flop, jnp.float32), jnp.shape(delta))
        tokens = flop / (scaling.FLOP_PER_PARAMETER_TOKEN * run.parameters * (1.0 + delta))
    loss = scaling.loss_nats(run.parameters, tokens, **k)
    return {"train_flop": flop, "tokens": tokens, "loss_nats": loss, "reducible_loss_nats": loss - k["loss_irreducible"],
            "flops_overhead_fraction": delta}


def flops_overhead_fraction(x: dict, parameters):
    """δ of C = 6·N·D·(1 + δ) from the drawn context length and vocabulary (`compute.attention_logit_flops_fraction`)."""
    return compute.attention_logit_flops_fraction(parameters, x["context_length_tokens"], x["vocabulary_size"],
                                                  x["hidden_per_layer_ratio"])


def carbon_footprint(x: dict, run: RunConstants) -> dict:
    """Every output of the model from inputs `x` (arrays of draws, or scalars) and constants `run`."""
    out = {}
    if run.train_flops is not None:
        out["train_flop"] = jnp.asarray(run.train_flops, jnp.float32)
    elif run.parameters is not None and run.tokens is not None:
        out["flops_overhead_fraction"] = flops_overhead_fraction(x, run.parameters)
        out["train_flop"] = compute.train_flop_from_params_tokens(run.parameters, run.tokens, out["flops_overhead_fraction"])
    elif run.target_loss is not None or run.compute_budget_flop is not None:
        out.update(_tokens_from_scaling(x, run))

    if run.device_hours is not None:
        device_hours = jnp.asarray(run.device_hours, jnp.float32)
        if "train_flop" in out:
            out["implied_mfu_fraction"] = compute.implied_mfu_fraction(out["train_flop"], device_hours, run.peak_flop_per_s)
    else:
        device_hours = derived_device_hours(x, out["train_flop"], run)
    if run.project:
        device_hours = compute.experiment_device_hours(device_hours, x["project_experiment_factor"])
    out["device_hours"] = device_hours
    if run.devices is not None:
        out["wall_clock_days"] = compute.wall_clock_days(device_hours, run.devices)

    codecarbon_w = None
    if run.measured is not None and measured.throughput_of(run.measured) is None:  # a throughput fixes no power
        x, codecarbon_w = with_measured_powers(x, run)
    out.update(energy_and_emissions(x, device_hours, tdp_w=run.tdp_w, devices_per_server=run.devices_per_server,
                                    grid_basis=run.grid_basis, pue_included=run.pue_included))
    if codecarbon_w is not None:
        out["codecarbon_energy_mwh"] = energy.accelerator_energy_mwh(device_hours, codecarbon_w)
    elif "host_beyond_codecarbon_fraction" in x:  # a figure on CodeCarbon's scope is checked: IT less what it leaves out
        out["codecarbon_energy_mwh"] = out["it_energy_mwh"] / (1.0 + x["host_beyond_codecarbon_fraction"])
    return out


def with_measured_powers(x: dict, run: RunConstants) -> tuple[dict, object]:
    """Inputs `x` with the power fraction and the host power that the run's measurement fixes
    (`carbon_mc.footprint.measured.measured_powers_w`), and the CodeCarbon-scope power (W per device) or None.

    The measurement's device time is the run's own (`run.device_hours`, before any project factor).
    """
    fraction, server = x.get("accelerator_power_tdp_fraction"), x.get("server_power_w_per_device")  # absent where replaced
    drawn_acc = None if fraction is None else energy.accelerator_power_w(run.tdp_w, fraction)
    acc_w, host_w, codecarbon_w = measured.measured_powers_w(
        x, run.measured, device_hours=float(run.device_hours or 0.0), devices=run.devices, tdp_w=run.tdp_w,
        drawn_accelerator_w=drawn_acc, drawn_server_w=server)
    return {**x, "accelerator_power_tdp_fraction": acc_w / run.tdp_w, "server_power_w_per_device": host_w}, codecarbon_w


def derived_device_hours(x: dict, train_flop, run: RunConstants):
    """Device-hours of a run whose device time comes from its compute: C / (peak · MFU) · overhead.

    MFU is the class's dense draw, times ``moe_mfu_ratio`` for a mixture-of-experts run; the
    whole-run ``device_time_overhead_factor`` (restarts, checkpoints, stragglers) multiplies the
    ideal hours. Published device-hours already hold the overhead and never come here.
    """
    tokens_per_s = measured.throughput_of(run.measured)
    if tokens_per_s is not None:  # a measured throughput replaces the MFU prior
        mfu = measured.mfu_from_throughput(train_flop, run.tokens, tokens_per_s, run.peak_flop_per_s)
    else:
        mfu = compute.moe_mfu_fraction(x["mfu_fraction"], x["moe_mfu_ratio"]) if run.moe else x["mfu_fraction"]
    ideal = compute.device_hours_from_flop(train_flop, run.peak_flop_per_s, mfu)
    return compute.project_device_hours(ideal, x["device_time_overhead_factor"])


def energy_on_scopes(device_hours, accelerator_power_w, server_power_w_per_device, pue=None) -> dict:
    """Energy of `device_hours` on each scope a published figure may count (MWh).

    ``accelerator_energy_mwh`` (the accelerators alone), ``it_energy_mwh`` (plus host servers),
    and with a `pue` ``accelerator_facility_energy_mwh`` and ``facility_energy_mwh`` (times PUE).
    Patterson et al. 2021 (arXiv:2104.10350), eq. 1; the scopes of models/README.md.
    """
    acc = energy.accelerator_energy_mwh(device_hours, accelerator_power_w)
    out = {"accelerator_energy_mwh": acc, "it_energy_mwh": energy.it_energy_mwh(device_hours, accelerator_power_w, server_power_w_per_device)}
    if pue is not None:
        out["accelerator_facility_energy_mwh"] = energy.facility_energy_mwh(acc, pue)
        out["facility_energy_mwh"] = energy.facility_energy_mwh(out["it_energy_mwh"], pue)
    return out


def energy_and_emissions(x: dict, device_hours, *, tdp_w: float, devices_per_server: float, grid_basis: str = "location",
                         pue_included: bool = True) -> dict:
    """Power, energy on every scope, operational, embodied and total emissions of `device_hours` of work.

    The carbon half of the chain, shared by every caller (`carbon_footprint`, the scaling sweep):
    `x` holds the drawn inputs (``accelerator_power_tdp_fraction``, ``server_power_w_per_device``,
    ``pue`` unless the accounting leaves it out, ``grid_gco2_per_kwh`` or ``market_gco2_per_kwh``
    by `grid_basis`, and the embodied inputs). With `pue_included` False, ``energy_mwh`` is the IT
    energy (accounting without data-centre overhead, e.g. BLOOM's 24.7 t "dynamic" figure).
    """
    power_w = energy.accelerator_power_w(tdp_w, x["accelerator_power_tdp_fraction"])
    scopes = energy_on_scopes(device_hours, power_w, x["server_power_w_per_device"], x.get("pue"))
    out = {"accelerator_power_w": power_w, "it_energy_mwh": scopes["it_energy_mwh"],
           "accelerator_energy_mwh": scopes["accelerator_energy_mwh"]}
    if "accelerator_facility_energy_mwh" in scopes:  # absent when the accounting leaves PUE out
        out["accelerator_facility_energy_mwh"] = scopes["accelerator_facility_energy_mwh"]
    out["energy_mwh"] = scopes["facility_energy_mwh"] if pue_included else scopes["it_energy_mwh"]
    grid_gco2_per_kwh = x["market_gco2_per_kwh"] if grid_basis == "market" else x["grid_gco2_per_kwh"]
    out["operational_tco2e"] = emissions.operational_tco2e(out["energy_mwh"], grid_gco2_per_kwh)
    out["accelerator_operational_tco2e"] = emissions.operational_tco2e(out["accelerator_energy_mwh"], grid_gco2_per_kwh)
    slot_kg = emissions.embodied_kgco2e_per_device_total(
        x["embodied_kgco2e_per_device"], x["embodied_kgco2e_per_server"], devices_per_server
    )
    out["embodied_tco2e"] = emissions.embodied_tco2e(
        device_hours, slot_kg, x["service_life_years"], x["lifetime_utilization_fraction"]
    )
    out["total_tco2e"] = emissions.total_tco2e(out["operational_tco2e"], out["embodied_tco2e"])
    return out
