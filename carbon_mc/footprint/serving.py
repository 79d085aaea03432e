"""Serving a model: throughput, busy time, power and energy of an inference deployment.

One small pure jnp function per equation, units in the names; `serving_footprint` composes them
into energy and CO2e per request, per 1,000 requests, per million output tokens, per day and for the
whole deployment, on three scopes (accelerators alone; IT = accelerators + host; facility = IT x
PUE), plus embodied carbon and the total.

A replica is `devices_per_replica` accelerators holding one copy of the model (tensor/expert
parallel). It decodes `batch` sequences at a time; each decode step streams the weights it needs
from memory and does 2 FLOPs per active parameter per sequence. The two terms are added (no
overlap), which the measured points of `carbon_mc.serving_calibration` favour over their maximum;
a fixed time per step (kernel launches, scheduler, Python: `serving_step_overhead_s`, whose prior
the scenario's `stack` picks) is added to both, which is what dominates small models served one
request at a time by a plain framework pipeline.

Regimes, each a small function below: the memory-bound and compute-bound limits of a step and its
fixed overhead; whole-node accounting (`boundary = "whole_node"`: the idle accelerators of the node
and the RAM a meter models are counted, as CodeCarbon does); load priors by `load` (benchmark,
fleet, on-demand endpoint); busy board power rising with the achieved matrix-unit utilisation of
decode (`carbon_mc.footprint.serving_power`: a memory-bound step draws about half of TDP, a
compute-bound one near TDP); parameters, active parameters and batch drawn from prior tables, and
the precision, the stack and the load drawn from weighted choices (`picked_by_quantile`); and, when a deployment gives neither traffic nor
capacity, per-request figures at the load priors with no deployment totals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp

from . import emissions, energy
from .serving_outputs import (  # noqa: F401  (re-exported)
    NORMALISATIONS,
    PER_REQUEST_HEADLINE,
    SCOPES,
    SERVING_HEADLINE,
    SERVING_INPUTS,
    SERVING_OUTPUTS,
    TRAFFIC_OUTPUTS,
    Output,
)
from .serving_power import (
    FLOP_PER_ACTIVE_PARAMETER_TOKEN,
    busy_power_tdp_fraction,
    decode_flop_utilization_fraction,
)

SECONDS_PER_DAY = 86_400.0
SECONDS_PER_HOUR = 3_600.0
HOURS_PER_DAY = 24.0
BYTES_PER_GB = 1.0e9
J_PER_WH = 3_600.0


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


def moe_decode_mfu_fraction(decode_mfu_fraction, moe_mfu_ratio, parameters, active_parameters):
    """Decode MFU of the step's matrix work: a dense model's, times `moe_mfu_ratio` for a mixture of experts.

    An MoE step splits its batch among experts: each expert multiplies a small block of B x k / E
    tokens (grouped GEMMs far from peak), and routing, token permutation and the expert-parallel
    all-to-all add work that a dense GEMM does not have (Huang et al. 2023, 'Towards MoE Deployment:
    Mitigating Inefficiencies in Mixture-of-Expert (MoE) Inference', arXiv:2303.06182; Gale et al.
    2023, MegaBlocks, MLSys, arXiv:2211.15841). ML.ENERGY v3.0 implies decode MFU of 0.2-3% for
    large MoE against 1.7-24% for dense models (Chung et al. 2026, arXiv:2601.22076, data).
    Dense models (active = total) keep their MFU.
    """
    return jnp.where(active_parameters < parameters, decode_mfu_fraction * moe_mfu_ratio, decode_mfu_fraction)


def decode_tokens_per_s(batch, decode_memory_s_per_step, decode_compute_s_per_step, step_overhead_s=0.0):
    """Output tokens per second of a replica: batch / (memory time + compute time + fixed overhead per step).

    At small batch this is batch x bandwidth_eff / (bytes per parameter x parameters); at large
    batch it tends to n x peak x MFU / (2 N_active). The fixed overhead (kernel launches, framework
    and Python work between steps; `serving_step_overhead_s`) does not shrink with the model, so it
    sets the speed of small models at batch 1 in a plain pipeline: 10 ms a step caps any model at
    100 tokens/s (Luccioni, Jernite & Strubell 2024, arXiv:2311.16863; Fernandez et al. 2025,
    arXiv:2504.17674, Table 4: plain PyTorch 103-507% above a FLOPs ideal, vLLM 27-64%).
    """
    return batch / (decode_memory_s_per_step + decode_compute_s_per_step + step_overhead_s)


def request_overhead_s(step_overhead_s, batch):
    """A request's share of the fixed cost of its prefill pass: one step's overhead, shared by the batch.

    At batch 1 (a plain pipeline) a request pays a whole step; a continuous-batching server folds a
    request's prefill into a step shared by `batch` sequences.
    """
    return step_overhead_s / batch


def prefill_tokens_per_s(active_parameters, devices_per_replica, peak_flop_per_s, prefill_mfu_fraction):
    """Input tokens per second of a replica, compute-bound: n x peak x MFU / (2 N_active).

    Reference: Pope et al. 2022, arXiv:2211.05102, §2 (prefill is compute-bound); Patel et al.
    2024, Splitwise, arXiv:2311.18677, §3 (prompt phase compute-bound, token phase memory-bound).
    """
    return devices_per_replica * peak_flop_per_s * prefill_mfu_fraction / (FLOP_PER_ACTIVE_PARAMETER_TOKEN * active_parameters)


def busy_replica_s_per_request(input_tokens, output_tokens, prefill_tokens_per_s, decode_tokens_per_s, request_overhead_s=0.0):
    """Replica-seconds one request occupies: its prefill plus its share of the batched decode.

    A request's output tokens take output / decode tokens/s of the replica's time, because the batch
    shares each step; `request_overhead_s` is its share of the fixed cost of its prefill pass.
    """
    return input_tokens / prefill_tokens_per_s + output_tokens / decode_tokens_per_s + request_overhead_s


# ------------------------------------------------------------------------------------------------
# what is served, when it is drawn: precision from weighted choices, active parameters capped
# ------------------------------------------------------------------------------------------------
def precision_index(u, cumulative_weights):
    """Index of the precision a uniform draw `u` picks: the first whose cumulative weight exceeds u.

    The inverse CDF of a categorical distribution (weights normalised to sum to 1), so the choice
    is drawn like any other input and takes part in common random numbers and sensitivity.
    """
    cum = jnp.asarray(cumulative_weights[:-1], jnp.float32)
    return jnp.sum(jnp.asarray(u)[..., None] >= cum, axis=-1)


def picked_by_quantile(u, cumulative_weights, values):
    """The value of the choice a uniform draw `u` picks, draw by draw: values[k] with k = precision_index(u, weights).

    Each choice's input is drawn in every draw (values: one array or scalar per choice, broadcast together);
    the categorical draw keeps one. Inputs of one choice picked with the same `u` are picked together (the
    busy fraction and over-provisioning of a load). Weights [1, 0] always pick the first. Reference:
    Devroye 1986, Non-Uniform Random Variate Generation (Springer): the inversion method for a discrete
    distribution, and the composition method for a mixture (draw the component, then from it).
    """
    k = precision_index(u, cumulative_weights)
    picked = jnp.asarray(values[-1])
    for i in range(len(values) - 2, -1, -1):
        picked = jnp.where(k == i, values[i], picked)
    return picked


def active_parameters_capped(parameters, active_parameters):
    """Active parameters, at most the parameters (both drawn independently, a draw could exceed)."""
    return jnp.minimum(active_parameters, parameters)


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


def node_idle_accelerators(devices_per_replica, devices_per_server):
    """Accelerators of the replica's nodes that serve nothing: whole nodes minus the replica's devices.

    One A100 used in an 8-GPU node leaves 7 idle (Luccioni, Jernite & Strubell 2024, arXiv:2311.16863,
    whose node-level CodeCarbon figures include them).
    """
    nodes = math.ceil(devices_per_replica / devices_per_server)
    return nodes * devices_per_server - devices_per_replica


def whole_node_accelerator_power_w_per_device(tdp_w, idle_power_tdp_fraction, devices_per_replica, devices_per_server):
    """Idle power of the node's unused accelerators, per accelerator of the replica (W).

    Counted on the accelerator scope: NVML-based meters read every GPU of the node.
    """
    idle = node_idle_accelerators(devices_per_replica, devices_per_server)
    return idle * tdp_w * idle_power_tdp_fraction / devices_per_replica


def whole_node_host_power_w_per_device(host_power_w_per_device, node_ram_gb, node_ram_w_per_gb, devices_per_replica,
                                       devices_per_server):
    """Host power of the whole node(s), per accelerator of the replica (W): the host share of the
    unused slots plus the RAM a meter models (CodeCarbon: 3 W per 8 GB of installed memory).

    The replica's own slots are already counted by `serving_host_power_w_per_device`.
    """
    nodes = math.ceil(devices_per_replica / devices_per_server)
    idle_slots = nodes * devices_per_server - devices_per_replica
    return (idle_slots * host_power_w_per_device + nodes * node_ram_gb * node_ram_w_per_gb) / devices_per_replica


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
# constants and composition
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServingConstants:
    """The known (non-random) facts of a deployment that `serving_footprint` needs.

    Which branches run is fixed here (Python-level), so `serving_footprint` traces once under jit:
    traffic given (`requests`) or derived from capacity, or neither (per-request figures only);
    capacity given (`provisioned_device_hours`) or sized from traffic; token counts, parameters,
    active parameters, batch and precision given or drawn.
    """

    peak_flop_per_s: float  # dense peak at the serving precision (x2 for 8-bit weights); base peak when drawn
    tdp_w: float
    devices_per_server: float
    memory_bandwidth_gb_per_s: float
    parameters: float | None  # None: drawn (serving_parameters)
    active_parameters: float | None  # None: drawn (serving_active_parameters), or the parameters when active_is_total
    bytes_per_parameter: float
    devices_per_replica: float
    batch: float | None  # None: drawn (serving_batch)
    days: float
    requests: float | None = None  # total over `days`; None: derived from capacity and load
    provisioned_device_hours: float | None = None  # None: sized from traffic and load
    input_tokens: float | None = None  # None: drawn (input_tokens_per_request)
    output_tokens: float | None = None  # None: drawn (output_tokens_per_request)
    grid_basis: str = "location"
    pue_included: bool = True
    active_is_total: bool = False  # a dense model whose (drawn) parameters are all active
    # precision drawn from weighted choices: (cumulative weight, bytes per parameter, peak factor) each
    precision_choices: tuple[tuple[float, float, float], ...] = ()
    # stack / load drawn per draw from weighted choices: (cumulative weight, input name(s) of the choice) each
    stack_choices: tuple[tuple[float, str], ...] = ()
    load_choices: tuple[tuple[float, str, str], ...] = ()  # (cumulative weight, busy fraction, over-provisioning)
    whole_node: bool = False
    node_ram_gb: float = 0.0
    may_be_moe: bool = False  # active parameters below the parameters (or drawn): serving_moe_mfu_ratio applies

    @property
    def per_request_only(self) -> bool:
        """Neither traffic nor capacity: per-request figures at the load priors, no deployment totals."""
        return self.requests is None and self.provisioned_device_hours is None

    @classmethod
    def from_scenario(cls, scenario, hardware_spec: dict) -> ServingConstants:
        """From a `carbon_mc.serving_scenario.ServingScenario` and its accelerator's table entry."""
        choices = getattr(scenario, "precision_choices", ())
        return cls(
            peak_flop_per_s=float(hardware_spec["peak_flop_per_s"]) * (1.0 if choices else scenario.compute_speedup),
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
            active_is_total=getattr(scenario, "active_is_total", False),
            precision_choices=choices,
            stack_choices=tuple(getattr(scenario, "stack_components", ())),
            load_choices=tuple(getattr(scenario, "load_components", ())),
            whole_node=getattr(scenario, "boundary", "replica") == "whole_node",
            node_ram_gb=float(getattr(scenario, "node_ram_gb", None) or 0.0),
            may_be_moe=bool(getattr(scenario, "may_be_moe", False)),
        )


def _tokens(x: dict, name: str, given):
    return jnp.asarray(given, jnp.float32) if given is not None else x[f"{name}_tokens_per_request"]


def _given_or_drawn(x: dict, name: str, given):
    return given if given is not None else x[name]


def _served(x: dict, c: ServingConstants):
    """Parameters, active parameters, batch, bytes per parameter and peak: given, or drawn."""
    parameters = _given_or_drawn(x, "serving_parameters", c.parameters)
    if c.active_is_total:
        active = parameters
    else:
        active = active_parameters_capped(parameters, _given_or_drawn(x, "serving_active_parameters", c.active_parameters))
    batch = _given_or_drawn(x, "serving_batch", c.batch)
    nbytes: Any
    peak: Any
    if c.precision_choices:
        idx = precision_index(x["serving_precision_quantile"], [w for w, _, _ in c.precision_choices])
        nbytes = jnp.asarray([b for _, b, _ in c.precision_choices], jnp.float32)[idx]
        peak = c.peak_flop_per_s * jnp.asarray([f for _, _, f in c.precision_choices], jnp.float32)[idx]
    else:
        nbytes, peak = c.bytes_per_parameter, c.peak_flop_per_s
    return parameters, active, batch, nbytes, peak


def _regime(x: dict, c: ServingConstants):
    """Step overhead, busy fraction and over-provisioning factor: the inputs of those names, or, under weighted
    choices, the picked choice's draw by draw (None where the load priors are not drawn)."""
    if c.stack_choices:
        cum = [w for w, _ in c.stack_choices]
        overhead = picked_by_quantile(x["serving_stack_quantile"], cum, [x[n] for _, n in c.stack_choices])
    else:
        overhead = x["serving_step_overhead_s"]
    if c.load_choices:
        cum, u = [w for w, _, _ in c.load_choices], x["serving_load_quantile"]
        busy = picked_by_quantile(u, cum, [x[b] for _, b, _ in c.load_choices])
        over = picked_by_quantile(u, cum, [x[o] for _, _, o in c.load_choices])
    else:
        busy, over = x.get("serving_busy_fraction"), x.get("serving_over_provisioning_factor")
    return overhead, busy, over


def serving_footprint(x: dict, c: ServingConstants) -> dict:
    """Every serving output from inputs `x` (arrays of draws, or scalars) and constants `c`.

    Without traffic and capacity (`c.per_request_only`) the outputs are per request, per 1,000
    requests and per million output tokens at the load priors; deployment totals and per-day
    figures are left out (`serving_outputs.TRAFFIC_OUTPUTS`), not computed from a placeholder.
    """
    out = {}
    n = c.devices_per_replica
    parameters, active, batch, nbytes, peak = _served(x, c)
    overhead_s, busy_fraction, over_provisioning = _regime(x, c)
    out["parameters_read_per_step"] = parameters_read_per_step(parameters, active, batch)
    mem_s = decode_memory_s_per_step(out["parameters_read_per_step"], nbytes, n, c.memory_bandwidth_gb_per_s,
                                     x["memory_bandwidth_fraction"])
    mfu = x["decode_mfu_fraction"]
    if c.may_be_moe:
        mfu = moe_decode_mfu_fraction(mfu, x["serving_moe_mfu_ratio"], parameters, active)
    cmp_s = decode_compute_s_per_step(active, batch, n, peak, mfu)
    out["decode_tokens_per_s"] = decode_tokens_per_s(batch, mem_s, cmp_s, overhead_s)
    out["prefill_tokens_per_s"] = prefill_tokens_per_s(active, n, peak, x["prefill_mfu_fraction"])
    tokens_in, tokens_out = _tokens(x, "input", c.input_tokens), _tokens(x, "output", c.output_tokens)
    busy_s = busy_replica_s_per_request(tokens_in, tokens_out, out["prefill_tokens_per_s"], out["decode_tokens_per_s"],
                                        request_overhead_s(overhead_s, batch))
    out["busy_replica_s_per_request"] = busy_s

    if c.per_request_only:  # one request, on the capacity the load priors give it
        requests = jnp.ones_like(busy_s)
        busy_h = busy_device_hours(requests, busy_s, n)
        hours = provisioned_device_hours_from_load(busy_h, busy_fraction, over_provisioning)
    elif c.requests is not None:
        requests = jnp.broadcast_to(jnp.asarray(c.requests, jnp.float32), jnp.shape(busy_s))
        busy_h = busy_device_hours(requests, busy_s, n)
        if c.provisioned_device_hours is not None:
            hours = jnp.broadcast_to(jnp.asarray(c.provisioned_device_hours, jnp.float32), jnp.shape(busy_h))
        else:
            hours = provisioned_device_hours_from_load(busy_h, busy_fraction, over_provisioning)
    else:  # capacity known, traffic derived from the load priors
        hours = jnp.broadcast_to(jnp.asarray(c.provisioned_device_hours, jnp.float32), jnp.shape(busy_s))
        rho = busy_fraction / over_provisioning
        requests = requests_from_capacity(hours, rho, busy_s, n)
        busy_h = busy_device_hours(requests, busy_s, n)
    out["requests"], out["busy_device_hours"], out["device_hours"] = requests, busy_h, hours
    out["output_tokens"] = requests * tokens_out
    out["utilization_fraction"] = utilization_fraction(busy_h, hours)

    out["decode_flop_utilization_fraction"] = decode_flop_utilization_fraction(active, out["decode_tokens_per_s"], n, peak)
    out["busy_power_tdp_fraction"] = busy_power_tdp_fraction(x["serving_memory_bound_power_tdp_fraction"],
                                                             x["serving_power_utilization_slope"],
                                                             out["decode_flop_utilization_fraction"])
    power_w = serving_accelerator_power_w(c.tdp_w, x["serving_idle_power_tdp_fraction"], out["busy_power_tdp_fraction"],
                                          out["utilization_fraction"])
    host_w = x["serving_host_power_w_per_device"]
    if c.whole_node:
        power_w = power_w + whole_node_accelerator_power_w_per_device(c.tdp_w, x["serving_idle_power_tdp_fraction"], n,
                                                                      c.devices_per_server)
        host_w = host_w + whole_node_host_power_w_per_device(host_w, c.node_ram_gb, x["node_ram_w_per_gb"], n,
                                                             c.devices_per_server)
    out["accelerator_power_w"] = power_w
    out["accelerator_energy_mwh"] = deployment_energy_mwh(hours, power_w)
    out["it_energy_mwh"] = energy.it_energy_mwh(hours, power_w, host_w)
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
    if c.per_request_only:
        out = {k: v for k, v in out.items() if k not in TRAFFIC_OUTPUTS}
    return out
