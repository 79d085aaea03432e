"""Serving a model: throughput, busy time, power and energy of an inference deployment.

One small pure jnp function per equation, units in the names; `serving_footprint` composes them
into energy and CO2e per request, per 1,000 requests, per million output tokens, per day and for the
whole deployment, on three scopes (accelerators alone; IT = accelerators + host; facility = IT x
PUE), plus embodied carbon and the total.

A replica is `devices_per_replica` accelerators holding one copy of the model (tensor/expert
parallel). It decodes `batch` sequences at a time; each decode step streams the weights it needs
from memory and does 2 FLOPs per active parameter per sequence. The two terms are added (no
overlap), which the measured points of `carbon_mc.serving_calibration` favour over their maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from . import emissions, energy
from .serving_outputs import NORMALISATIONS, SCOPES, SERVING_HEADLINE, SERVING_INPUTS, SERVING_OUTPUTS, Output  # noqa: F401  (re-exported)

SECONDS_PER_DAY = 86_400.0
SECONDS_PER_HOUR = 3_600.0
HOURS_PER_DAY = 24.0
BYTES_PER_GB = 1.0e9
J_PER_WH = 3_600.0
FLOP_PER_ACTIVE_PARAMETER_TOKEN = 2.0  # forward pass only (Kaplan et al. 2020, arXiv:2001.08361, §2.1)


# ------------------------------------------------------------------------------------------------
# throughput
# ------------------------------------------------------------------------------------------------
def parameters_read_per_step(parameters, active_parameters, batch):
    """Parameters streamed from memory by one decode step of `batch` sequences.

    Dense (active = total): every parameter, once per step. Mixture of experts: each token uses a
    share a = active/total of the weights; with independent routing, a weight is needed by at least
    one of the B tokens with probability 1 - (1 - a)^B, so the step reads total x (1 - (1 - a)^B):
    the active parameters at batch 1, all of them at large batch. This is why a large MoE costs
    about as much as a dense model of its total size at moderate batch (ML.ENERGY v3.0, Chung et al.
    2026, arXiv:2601.22076). Shared (attention) weights are treated like expert weights: a lower
    bound on what is read.
    """
    share = active_parameters / parameters
    return parameters * (1.0 - (1.0 - share) ** batch)


def decode_memory_s_per_step(parameters_read, bytes_per_parameter, devices_per_replica, memory_bandwidth_gb_per_s,
                             memory_bandwidth_fraction):
    """Seconds to stream the weights of one decode step: bytes / (n x bandwidth x efficiency).

    Memory-bound decoding (roofline: Williams, Waterman & Patterson 2009, CACM 52(4)); LLM decode
    at small batch is bandwidth-bound (Pope et al. 2022, arXiv:2211.05102, §2).
    """
    bytes_per_s = devices_per_replica * memory_bandwidth_gb_per_s * BYTES_PER_GB * memory_bandwidth_fraction
    return bytes_per_parameter * parameters_read / bytes_per_s


def decode_compute_s_per_step(active_parameters, batch, devices_per_replica, peak_flop_per_s, decode_mfu_fraction):
    """Seconds of matrix work in one decode step: 2 N_active B / (n x peak x MFU).

    Reference: Kaplan et al. 2020, arXiv:2001.08361, §2.1 (2N forward FLOPs per token); Chowdhery
    et al. 2022, arXiv:2204.02311, App. B (MFU).
    """
    flop = FLOP_PER_ACTIVE_PARAMETER_TOKEN * active_parameters * batch
    return flop / (devices_per_replica * peak_flop_per_s * decode_mfu_fraction)


def decode_tokens_per_s(batch, decode_memory_s_per_step, decode_compute_s_per_step):
    """Output tokens per second of a replica: batch / (memory time + compute time per step).

    At small batch this is batch x bandwidth_eff / (bytes per parameter x parameters); at large
    batch it tends to n x peak x MFU / (2 N_active).
    """
    return batch / (decode_memory_s_per_step + decode_compute_s_per_step)


def prefill_tokens_per_s(active_parameters, devices_per_replica, peak_flop_per_s, prefill_mfu_fraction):
    """Input tokens per second of a replica, compute-bound: n x peak x MFU / (2 N_active).

    Reference: Pope et al. 2022, arXiv:2211.05102, §2 (prefill is compute-bound); Patel et al.
    2024, Splitwise, arXiv:2311.18677, §3 (prompt phase compute-bound, token phase memory-bound).
    """
    return devices_per_replica * peak_flop_per_s * prefill_mfu_fraction / (FLOP_PER_ACTIVE_PARAMETER_TOKEN * active_parameters)


def busy_replica_s_per_request(input_tokens, output_tokens, prefill_tokens_per_s, decode_tokens_per_s):
    """Replica-seconds one request occupies: its prefill plus its share of the batched decode.

    A request's output tokens take output / decode tokens/s of the replica's time, because the batch
    shares each step.
    """
    return input_tokens / prefill_tokens_per_s + output_tokens / decode_tokens_per_s


# ------------------------------------------------------------------------------------------------
# load: busy time against provisioned time
# ------------------------------------------------------------------------------------------------
def busy_device_hours(requests, busy_replica_s_per_request, devices_per_replica):
    """Accelerator-hours spent serving `requests` (all devices of a replica are busy together)."""
    return requests * busy_replica_s_per_request * devices_per_replica / SECONDS_PER_HOUR


def provisioned_device_hours_from_replicas(replicas, devices_per_replica, days):
    """Accelerator-hours a fixed deployment keeps powered: replicas x devices x 24 x days."""
    return replicas * devices_per_replica * days * HOURS_PER_DAY


def provisioned_device_hours_from_load(busy_device_hours, serving_busy_fraction, serving_over_provisioning_factor):
    """Accelerator-hours of a deployment sized to its traffic: busy / load factor x over-provisioning.

    Capacity needed = busy time / time-average busy fraction; provisioned = needed x headroom factor.
    Reference: Wu et al. 2021, arXiv:2111.00364 (30-60% server utilisation); SageServe,
    arXiv:2502.14617 (GPU-hours lost to over-provisioning).
    """
    return busy_device_hours / serving_busy_fraction * serving_over_provisioning_factor


def requests_from_capacity(provisioned_device_hours, utilization_fraction, busy_replica_s_per_request, devices_per_replica):
    """Requests a deployment serves when its capacity and busy fraction are known, not its traffic."""
    return provisioned_device_hours * utilization_fraction * SECONDS_PER_HOUR / (busy_replica_s_per_request * devices_per_replica)


def utilization_fraction(busy_device_hours, provisioned_device_hours):
    """Busy share of the provisioned accelerator time (above 1: the traffic exceeds the capacity)."""
    return busy_device_hours / provisioned_device_hours


# ------------------------------------------------------------------------------------------------
# power and energy
# ------------------------------------------------------------------------------------------------
def serving_accelerator_power_w(tdp_w, idle_power_tdp_fraction, active_power_tdp_fraction, utilization_fraction):
    """Average accelerator power: TDP x [idle + (active - idle) x busy fraction].

    A linear power model between idle and loaded power (Barroso & Hölzle 2007, 'The Case for
    Energy-Proportional Computing', IEEE Computer 40(12)); the busy fraction is capped at 1.
    Reference for the two levels: Patel et al. 2024, arXiv:2311.18677 (SplitwiseSim idle and phase
    powers); Chung et al. 2025, arXiv:2505.06371 (measured power under load).
    """
    rho = jnp.clip(utilization_fraction, 0.0, 1.0)
    return tdp_w * (idle_power_tdp_fraction + (active_power_tdp_fraction - idle_power_tdp_fraction) * rho)


def deployment_energy_mwh(provisioned_device_hours, power_w_per_device):
    """Energy of the deployment: device-hours x average power per device (W h -> MWh)."""
    return provisioned_device_hours * power_w_per_device / energy.WH_PER_MWH


# ------------------------------------------------------------------------------------------------
# normalisation: per request, per 1,000 requests, per million output tokens, per day
# ------------------------------------------------------------------------------------------------
def per_unit(deployment_total, count, multiplier):
    """A deployment total (MWh or t) spread over `count` units, in the unit's scale (x multiplier)."""
    return deployment_total * multiplier / count


# ------------------------------------------------------------------------------------------------
# outputs
# ------------------------------------------------------------------------------------------------
# ------------------------------------------------------------------------------------------------
# constants and composition
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServingConstants:
    """The known (non-random) facts of a deployment that `serving_footprint` needs.

    Which branches run is fixed here (Python-level), so `serving_footprint` traces once under jit:
    traffic given (`requests`) or derived from capacity; capacity given (`provisioned_device_hours`)
    or sized from traffic; token counts given or drawn.
    """

    peak_flop_per_s: float  # dense peak at the serving precision (x2 for 8-bit weights)
    tdp_w: float
    devices_per_server: float
    memory_bandwidth_gb_per_s: float
    parameters: float
    active_parameters: float
    bytes_per_parameter: float
    devices_per_replica: float
    batch: float
    days: float
    requests: float | None = None  # total over `days`; None: derived from capacity and load
    provisioned_device_hours: float | None = None  # None: sized from traffic and load
    input_tokens: float | None = None  # None: drawn (input_tokens_per_request)
    output_tokens: float | None = None  # None: drawn (output_tokens_per_request)
    grid_basis: str = "location"
    pue_included: bool = True

    @classmethod
    def from_scenario(cls, scenario, hardware_spec: dict) -> ServingConstants:
        """From a `carbon_mc.serving_scenario.ServingScenario` and its accelerator's table entry."""
        return cls(
            peak_flop_per_s=float(hardware_spec["peak_flop_per_s"]) * scenario.compute_speedup,
            tdp_w=float(hardware_spec["tdp_w"]),
            devices_per_server=float(hardware_spec["devices_per_server"]),
            memory_bandwidth_gb_per_s=scenario.memory_bandwidth_gb_per_s,
            parameters=scenario.parameters,
            active_parameters=scenario.active_parameters,
            bytes_per_parameter=scenario.bytes_per_parameter,
            devices_per_replica=scenario.devices_per_replica,
            batch=scenario.batch,
            days=scenario.days,
            requests=scenario.requests,
            provisioned_device_hours=scenario.provisioned_device_hours,
            input_tokens=scenario.input_tokens,
            output_tokens=scenario.output_tokens,
            grid_basis=scenario.accounting.grid_basis,
            pue_included=scenario.accounting.pue_included,
        )


def _tokens(x: dict, name: str, given):
    return jnp.asarray(given, jnp.float32) if given is not None else x[f"{name}_tokens_per_request"]


def serving_footprint(x: dict, c: ServingConstants) -> dict:
    """Every serving output from inputs `x` (arrays of draws, or scalars) and constants `c`."""
    out = {}
    n = c.devices_per_replica
    out["parameters_read_per_step"] = parameters_read_per_step(c.parameters, c.active_parameters, c.batch)
    mem_s = decode_memory_s_per_step(out["parameters_read_per_step"], c.bytes_per_parameter, n, c.memory_bandwidth_gb_per_s,
                                     x["memory_bandwidth_fraction"])
    cmp_s = decode_compute_s_per_step(c.active_parameters, c.batch, n, c.peak_flop_per_s, x["decode_mfu_fraction"])
    out["decode_tokens_per_s"] = decode_tokens_per_s(c.batch, mem_s, cmp_s)
    out["prefill_tokens_per_s"] = prefill_tokens_per_s(c.active_parameters, n, c.peak_flop_per_s, x["prefill_mfu_fraction"])
    tokens_in, tokens_out = _tokens(x, "input", c.input_tokens), _tokens(x, "output", c.output_tokens)
    busy_s = busy_replica_s_per_request(tokens_in, tokens_out, out["prefill_tokens_per_s"], out["decode_tokens_per_s"])
    out["busy_replica_s_per_request"] = busy_s

    if c.requests is not None:
        requests = jnp.broadcast_to(jnp.asarray(c.requests, jnp.float32), jnp.shape(busy_s))
        busy_h = busy_device_hours(requests, busy_s, n)
        if c.provisioned_device_hours is not None:
            hours = jnp.broadcast_to(jnp.asarray(c.provisioned_device_hours, jnp.float32), jnp.shape(busy_h))
        else:
            hours = provisioned_device_hours_from_load(busy_h, x["serving_busy_fraction"], x["serving_over_provisioning_factor"])
    else:  # capacity known, traffic derived from the load priors
        hours = jnp.broadcast_to(jnp.asarray(c.provisioned_device_hours, jnp.float32), jnp.shape(busy_s))
        rho = x["serving_busy_fraction"] / x["serving_over_provisioning_factor"]
        requests = requests_from_capacity(hours, rho, busy_s, n)
        busy_h = busy_device_hours(requests, busy_s, n)
    out["requests"], out["busy_device_hours"], out["device_hours"] = requests, busy_h, hours
    out["output_tokens"] = requests * tokens_out
    out["utilization_fraction"] = utilization_fraction(busy_h, hours)

    power_w = serving_accelerator_power_w(c.tdp_w, x["serving_idle_power_tdp_fraction"],
                                          x["serving_active_power_tdp_fraction"], out["utilization_fraction"])
    out["accelerator_power_w"] = power_w
    out["accelerator_energy_mwh"] = deployment_energy_mwh(hours, power_w)
    out["it_energy_mwh"] = energy.it_energy_mwh(hours, power_w, x["serving_host_power_w_per_device"])
    out["energy_mwh"] = energy.facility_energy_mwh(out["it_energy_mwh"], x["pue"]) if c.pue_included else out["it_energy_mwh"]
    grid = x["market_gco2_per_kwh"] if c.grid_basis == "market" else x["grid_gco2_per_kwh"]
    for prefix in SCOPES:
        out[f"{prefix}operational_tco2e"] = emissions.operational_tco2e(out[f"{prefix}energy_mwh"], grid)
    slot_kg = emissions.embodied_kgco2e_per_device_total(x["embodied_kgco2e_per_device"], x["embodied_kgco2e_per_server"],
                                                         c.devices_per_server)
    out["embodied_tco2e"] = emissions.embodied_tco2e(hours, slot_kg, x["service_life_years"], x["lifetime_utilization_fraction"])
    out["total_tco2e"] = emissions.total_tco2e(out["operational_tco2e"], out["embodied_tco2e"])

    counts = {"per_request": requests, "per_1k_requests": requests, "per_million_output_tokens": out["output_tokens"],
              "per_day": c.days}
    for norm, (e_unit, m_unit, mult, _) in NORMALISATIONS.items():
        e, m = e_unit.lower(), m_unit.lower()
        for prefix in SCOPES:
            out[f"{prefix}energy_{e}_{norm}"] = per_unit(out[f"{prefix}energy_mwh"], counts[norm], mult)
            out[f"{prefix}operational_{m}co2e_{norm}"] = per_unit(out[f"{prefix}operational_tco2e"], counts[norm], mult)
        out[f"embodied_{m}co2e_{norm}"] = per_unit(out["embodied_tco2e"], counts[norm], mult)
        out[f"total_{m}co2e_{norm}"] = per_unit(out["total_tco2e"], counts[norm], mult)
    return out
