"""Carbon against model quality: a sweep over model sizes (or compute budgets) and accelerator generations.

`scaling_sweep` joins the four modules of a CarbonScaling-style analysis (Jiang & Chen 2025,
arXiv:2508.06524), each built from published pieces with every constant a prior:

1. neural scaling (`footprint.scaling`): loss L(N, D) from jointly drawn constants, D from the
   compute-optimal rule (or a tokens-per-parameter ratio), accuracy from the reducible loss;
2. hardware generations (`footprint.hardware`, priors/accelerators.toml): peak FLOP/s, TDP, memory,
   interconnect, embodied carbon;
3. parallelism (`footprint.parallelism`, `footprint.layout`): the memory-feasible tensor/pipeline/
   data layout (and expert layout, for a mixture-of-experts) and batch a practitioner would pick, its
   bubble, communication, MFU and idle share; the critical batch size sets how many extra tokens a
   large batch costs;
4. carbon (`footprint.compute`, `energy`, `emissions`): the core equations, unchanged.

"Ideal" utilization runs every model at the hardware's best kernel efficiency with no
parallelism, batch or communication losses; "realistic" uses the parallelism module.
The result is an xarray Dataset over (draw, size, hardware); `carbon_exponents` fits, per draw,
the slope of log total CO2e against log reducible loss and against log accuracy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.typing import ArrayLike

from ..errors import CarbonMCError, NumericError
from ..footprint import parallelism as par
from ..footprint import scaling as sc
from ..footprint.layout import plan_layout
from ..options import DEFAULT_HARDWARE
from ..priors import PriorTable, load_priors
from ..results.finite import WHY
from ..sampling import BLOCK, uniforms
from ..sampling.args import (
    check_flag,
    check_names,
    check_num_draws,
    check_numbers,
    check_priors,
    check_real,
    check_seed,
    check_text,
    check_whole,
)
from .evaluate import EVALUATE, HardwareConsts
from .plan import batch_candidates, checked_experts, checked_settings, device_counts, nominal_plan
from .quantities import (
    CORE_QUANTITIES,
    CRITICAL_BATCH_QUANTITIES,
    EXPERT_QUANTITIES,
    LAYOUT_OUTPUTS,
    PARALLELISM_QUANTITIES,
    SCALING_QUANTITIES,
    SWEEP_OUTPUTS,
    context,
    draws_of,
    median,
    priors_for,
)


def scaling_sweep(
    parameters: Sequence[float] | None = None,
    *,
    compute_budgets_flop: Sequence[float] | None = None,
    hardware: Sequence[str] = DEFAULT_HARDWARE,
    num_draws: int = 4096,
    seed: int = 0,
    utilization: str = "realistic",
    batch_policy: str = "critical",
    scaling_fit: str = "besiroglu_2024",
    critical_batch_law: str = "data_power_law",
    tokens_per_parameter: float | None = None,
    devices: int | Sequence[int] | None = None,
    target_days: float = 30.0,
    min_devices: int = 8,
    max_devices: int = 32768,
    sizing_hardware: str = "a100_80gb",
    sequence_length: int = 4096,
    fixed_batch_tokens: float = 2.0**22,
    region: str = "world",
    datacenter: str = "hyperscale",
    pue_included: bool = True,
    market_gco2_per_kwh: float | None = None,
    active_parameters: float | Sequence[float] | None = None,
    experts: int | None = None,
    experts_per_token: int | None = None,
    moe_layer_fraction: float = 1.0,
    priors: PriorTable | None = None,
) -> xr.Dataset:
    """Loss, accuracy, compute, devices, time, MFU, energy and CO2e over model sizes and hardware.

    Args:
      parameters: model sizes N (default `DEFAULT_PARAMETERS`, 1B to 1T); or give
        `compute_budgets_flop` instead (N and D then follow the compute-optimal rule per draw).
      hardware: keys of priors/accelerators.toml, one curve each.
      num_draws, seed: Monte Carlo draws and seed; draws share their random numbers across sizes
        and hardware (common random numbers), so per-draw slopes and ratios are meaningful.
      utilization: "realistic" (the parallelism module) or "ideal" (best kernel efficiency, no
        parallelism, batch or communication losses).
      batch_policy: "fixed" (every size trains at `fixed_batch_tokens`) or "critical" (the batch that
        trains fastest among power-of-two multiples of `fixed_batch_tokens` up to the nominal
        critical batch size, which grows with the data).
      scaling_fit: variant of `scaling_law_constants` ("besiroglu_2024" or "hoffmann_2022").
      critical_batch_law: "data_power_law" (B_crit grows with D; Zhang et al. 2024, Bergsma et al.
        2025) or "kaplan_2020" (B_crit = B*/L^{1/α_B}).
      tokens_per_parameter: train D = ratio·N instead of the compute-optimal D.
      devices: a device count for every size (or one per size); default: sized so that the run
        would take `target_days` on `sizing_hardware` at its median MFU, rounded up to a power of
        two, within [`min_devices`, `max_devices`], and never fewer than memory needs. The same
        count is used on every accelerator of `hardware` (a fixed cluster).
      sequence_length: tokens per sequence (one sequence per micro-batch).
      fixed_batch_tokens: the fixed global batch (and the unit of the critical policy's steps).
      region, datacenter: grid and PUE variants (keys of the priors).
      pue_included: False leaves the data centre's overhead out of ``energy_mwh`` and the
        operational emissions, as a scenario's ``[accounting] pue_included = false`` does.
      market_gco2_per_kwh: a market-based grid factor (gCO2e/kWh) for the operational emissions
        instead of the location-based `region` (``[accounting] grid_basis = "market"``).
      active_parameters, experts, experts_per_token: a mixture-of-experts sweep (all three, with
        `parameters` as the totals, experts included): active parameters per size (or one for all),
        E experts per MoE layer, k of them per token. Compute (6·N_act·D), tokens, loss and accuracy
        follow the active count, as for the dense model of that size (the bundled loss fits are
        dense: an MoE reaches a lower loss at the same active size, Clark et al. 2022,
        arXiv:2202.01430, so its loss here is an upper bound); memory follows the total, with the
        experts sharded over an expert-parallel degree e that the planner picks.
      moe_layer_fraction: share of layers that are MoE layers (1: all; 0.5: every other one, as in
        GShard and GLaM); it sets the number of token all-to-alls.

    Returns:
      Dataset over (draw, size, hardware) of `SWEEP_OUTPUTS`, the layout over (size, hardware),
      the drawn inputs, and provenance attributes.

    Raises:
      InputError: an unknown choice, accelerator, region or datacenter, sizes that are not positive
        or beyond what the sweep handles, a model that fits no layout.
      NumericError: values that are not finite (`carbon_mc.finite`).
    """
    if not (isinstance(parameters, (list, tuple, np.ndarray)) and len(parameters) == 0):  # [] means the default sizes
        check_numbers(parameters, "parameters")
    check_numbers(compute_budgets_flop, "compute_budgets_flop"), check_names(hardware, "hardware", optional=False)
    check_num_draws(num_draws), check_seed(seed), check_real(tokens_per_parameter, "tokens_per_parameter", above=0.0, optional=True)
    check_numbers(devices, "devices", whole=True, scalar=True), check_real(target_days, "target_days", above=0.0)
    check_whole(min_devices, "min_devices"), check_whole(max_devices, "max_devices"), check_text(sizing_hardware, "sizing_hardware")
    check_whole(sequence_length, "sequence_length"), check_real(fixed_batch_tokens, "fixed_batch_tokens", above=0.0)
    check_text(region, "region"), check_text(datacenter, "datacenter"), check_flag(pue_included, "pue_included")
    check_real(market_gco2_per_kwh, "market_gco2_per_kwh", low=0.0, optional=True)
    check_numbers(active_parameters, "active_parameters", scalar=True), check_whole(experts, "experts", optional=True)
    check_whole(experts_per_token, "experts_per_token", optional=True), check_real(moe_layer_fraction, "moe_layer_fraction")
    check_priors(priors)
    table = priors or load_priors()
    mode, sizes, hardware = checked_settings(table, parameters, compute_budgets_flop, hardware, num_draws, utilization, batch_policy,
                                              scaling_fit, critical_batch_law, tokens_per_parameter, sizing_hardware, region,
                                              datacenter)
    if market_gco2_per_kwh is not None and not (math.isfinite(market_gco2_per_kwh) and market_gco2_per_kwh >= 0):
        raise CarbonMCError(f"market_gco2_per_kwh must be a finite number >= 0, got {market_gco2_per_kwh}")
    grid_basis = "location" if market_gco2_per_kwh is None else "market"
    core = tuple(q for q in CORE_QUANTITIES if pue_included or q != "pue")
    active = checked_experts(mode, sizes, active_parameters, experts, experts_per_token, moe_layer_fraction)
    names = (*core, *SCALING_QUANTITIES, *PARALLELISM_QUANTITIES, *(EXPERT_QUANTITIES if active is not None else ()),
             *CRITICAL_BATCH_QUANTITIES[critical_batch_law])
    per_hw = {hw: priors_for(table, names, context(table, hw, region, datacenter, scaling_fit)) for hw in hardware}

    # Draws: one stream per input name, shared by every size and accelerator.
    nblocks = math.ceil(num_draws / BLOCK)
    u = {}
    for name in names:
        prior = per_hw[hardware[0]][name]
        u[name] = np.asarray(uniforms(seed, name, 0, nblocks, prior.num_columns))[:num_draws]

    routing: dict[str, Any] | None = None
    if active is not None:
        assert experts is not None and experts_per_token is not None  # checked_experts returns active counts only with both
        routing = {"total": sizes, "experts": int(experts), "experts_per_token": int(experts_per_token),
                   "moe_layer_fraction": float(moe_layer_fraction)}
    law_sizes = sizes if active is None else active  # an MoE's compute, tokens and loss follow its active parameters
    n_nom, d_nom, bcrit_nom, rho_nom = nominal_plan(per_hw[hardware[0]], law_sizes, mode, tokens_per_parameter, critical_batch_law)
    dev = device_counts(devices, sizes.size, n_nom, d_nom, table, hardware, sizing_hardware, target_days,
                         min_devices, max_devices, region, datacenter, scaling_fit, per_hw,
                         total_parameters=None if active is None else sizes)
    batches = batch_candidates(batch_policy, fixed_batch_tokens, bcrit_nom, sequence_length)

    outputs: dict[str, list] = {}
    layouts: dict[str, list] = {}
    inputs: dict[str, list] = {}
    for hw in hardware:
        res, lay, drawn = sweep_hardware(table, hw, per_hw[hw], names, u, law_sizes, n_nom, dev, batches, bcrit_nom, rho_nom,
                                          mode=mode, utilization=utilization, law=critical_batch_law, routing=routing,
                                          tokens_per_parameter=tokens_per_parameter, sequence_length=sequence_length,
                                          grid_basis=grid_basis, pue_included=pue_included, market_gco2_per_kwh=market_gco2_per_kwh)
        for name, v in drawn.items():
            inputs.setdefault(name, []).append(v)
        for name, v in res.items():
            outputs.setdefault(name, []).append(np.asarray(v))
        for name, v in lay.items():
            layouts.setdefault(name, []).append(np.asarray(v, np.float64))

    for name, parts in outputs.items():  # one non-finite policy (carbon_mc.finite): refuse, and say why
        bad = sum(int(np.count_nonzero(~np.isfinite(part))) for part in parts)
        if bad:
            raise NumericError(f"scaling sweep: {bad:,} of {sum(np.size(p) for p in parts):,} values of {name} are not "
                               f"finite (NaN or inf): {WHY}; narrow the sizes or the options")
    moe_attrs = {} if routing is None else {"mixture_of_experts": json.dumps({
        k: routing[k] for k in ("experts", "experts_per_token", "moe_layer_fraction")} | {
        "loss_law": "the dense law at the active parameter count (an upper bound on an MoE's loss)"})}
    return to_dataset(outputs, layouts, inputs, per_hw, hardware, sizes, mode, n_nom, active=active, attrs={
        **moe_attrs,
        "title": "carbon-mc scaling sweep",
        "Conventions": "CF-1.10",
        "seed": int(seed),
        "num_draws": int(num_draws),
        "utilization": utilization,
        "batch_policy": batch_policy,
        "scaling_fit": scaling_fit,
        "critical_batch_law": critical_batch_law,
        "tokens_rule": "compute_optimal" if tokens_per_parameter is None else f"{tokens_per_parameter:g} tokens per parameter",
        "sequence_length": int(sequence_length),
        "fixed_batch_tokens": float(fixed_batch_tokens),
        "region": region,
        "datacenter": datacenter,
        "accounting": json.dumps({"grid_basis": grid_basis, "pue_included": bool(pue_included),
                                  **({"market_gco2_per_kwh": market_gco2_per_kwh} if market_gco2_per_kwh is not None else {})}),
        "random_streams": "per input name, shared by every size and accelerator (common random numbers)",
        "priors": json.dumps({hw: {n: p.describe() for n, p in per_hw[hw].items()} for hw in hardware}, sort_keys=True),
    })


def sweep_hardware(table, hw: str, pri: dict, names, u: dict, sizes, n_nom, dev, batch_candidates, bcrit_nom, rho_nom, *, mode,
                    utilization, law, tokens_per_parameter, sequence_length, grid_basis, pue_included, market_gco2_per_kwh,
                    routing=None):
    """One accelerator's curves: its layouts planned on the nominal run, then every draw through `EVALUATE`.

    `routing` (a mixture-of-experts sweep): {"total", "experts", "experts_per_token",
    "moe_layer_fraction"}, with `sizes` and `n_nom` the active parameters. Returns (outputs over
    (draw, size), layout over size, the drawn inputs).
    """
    spec = table.hardware_spec(hw)
    hw_par = par.Hardware.from_spec(spec)
    nominal = {q: median(pri[q]) for q in (*PARALLELISM_QUANTITIES, *(EXPERT_QUANTITIES if routing is not None else ()))}
    moe_args = {} if routing is None else {
        "active_parameters": n_nom, "experts": routing["experts"], "experts_per_token": routing["experts_per_token"],
        "moe_layer_fraction": routing["moe_layer_fraction"]}
    layout = plan_layout(
        parameters=n_nom if routing is None else routing["total"], devices=dev, hardware=hw_par,
        sequence_length=float(sequence_length), **moe_args,
        batch_candidates=batch_candidates,
        token_factor=lambda b: sc.batch_token_factor(b, bcrit_nom.reshape(-1, 1, 1, 1, 1), rho_nom),
        nominal=nominal, hidden_per_layer_ratio=nominal["hidden_per_layer_ratio"],
        usable_memory_fraction=nominal["usable_memory_fraction"],
    )
    lay = {
        "devices": layout.devices, "tensor_parallel": layout.tensor_parallel, "pipeline_parallel": layout.pipeline_parallel,
        "data_parallel": layout.data_parallel, "expert_parallel": layout.expert_parallel, "batch_tokens": layout.batch_tokens,
        "full_recompute": layout.full_recompute.astype(np.float64), "layers": layout.layers, "hidden": layout.hidden,
        "memory_per_device_gb": layout.memory_gb, "expert_parameters": layout.expert_parameters,
    }
    x, drawn = {}, {}
    for name in names:
        prior = pri[name]
        v = np.asarray(draws_of(prior, u[name]), np.float32)
        x[name] = v if prior.components else v.reshape(-1, 1)
        drawn[name] = v
    if market_gco2_per_kwh is not None:
        x["market_gco2_per_kwh"] = jnp.float32(market_gco2_per_kwh)
    jlay: dict[str, ArrayLike] = {k: jnp.asarray(v, jnp.float32) for k, v in lay.items()
                                  if k not in ("memory_per_device_gb", "expert_parameters")}
    jlay["planned_parameters"] = jnp.asarray(n_nom, jnp.float32)
    if routing is not None:  # the keys mark a mixture-of-experts layout for EVALUATE
        assert layout.expert_parameters is not None  # plan_layout always gives them (zeros for a dense model)
        jlay |= {"total_parameters": routing["total"], "expert_parameters": layout.expert_parameters,
                 "experts_per_token": np.full(n_nom.shape, routing["experts_per_token"]),
                 "moe_layers": layout.layers * routing["moe_layer_fraction"]}
        jlay = {k: jnp.asarray(v, jnp.float32) for k, v in jlay.items()}
    consts = HardwareConsts(
        peak_flop_per_s=jnp.float32(hw_par.peak_flop_per_s), memory_gb=jnp.float32(hw_par.memory_gb),
        devices_per_server=jnp.float32(hw_par.devices_per_server), intra_node_gb_per_s=jnp.float32(hw_par.intra_node_gb_per_s),
        inter_node_gb_per_s=jnp.float32(hw_par.inter_node_gb_per_s), tdp_w=jnp.float32(spec["tdp_w"]),
    )
    res = EVALUATE(x, jnp.asarray(sizes, jnp.float32), jlay, consts, mode=mode,
                    utilization=utilization, law=law, tokens_per_parameter=tokens_per_parameter,
                    sequence_length=float(sequence_length), grid_basis=grid_basis, pue_included=bool(pue_included))
    return res, lay, drawn


def to_dataset(outputs, layouts, inputs, per_hw, hardware, sizes, mode, n_nom, attrs, active=None) -> xr.Dataset:
    data_vars = {}
    for name, arrays in outputs.items():
        values = np.stack(arrays, axis=-1)  # (draw, size, hardware)
        units, long_name = SWEEP_OUTPUTS[name]
        data_vars[name] = xr.Variable(("draw", "size", "hardware"), values, {"units": units, "long_name": long_name, "role": "output"})
    for name, arrays in layouts.items():
        units, long_name = LAYOUT_OUTPUTS[name]
        data_vars[name] = xr.Variable(("size", "hardware"), np.stack(arrays, axis=-1),
                                      {"units": units, "long_name": long_name, "role": "layout"})
    coords: dict[str, Any] = {"draw": np.arange(next(iter(outputs.values()))[0].shape[0]), "size": np.arange(sizes.size),
                              "hardware": list(hardware)}
    for name, arrays in inputs.items():
        prior = per_hw[hardware[0]][name]
        attrs_in = {"units": prior.units, "long_name": prior.long_name, "distribution": prior.family, "role": "input",
                    "variant": ", ".join(f"{hw}: {per_hw[hw][name].variant}" for hw in hardware),
                    "source": per_hw[hardware[0]][name].source}
        if prior.components:
            data_vars[name] = xr.Variable(("draw", f"{name}_component", "hardware"), np.stack(arrays, axis=-1), attrs_in)
            coords[f"{name}_component"] = list(prior.components)
        else:
            data_vars[name] = xr.Variable(("draw", "hardware"), np.stack(arrays, axis=-1), attrs_in)
    if mode == "parameters":
        coords["parameters"] = ("size", sizes, {"units": "1", "long_name": "model parameters N"})
        if active is not None:
            coords["parameters"][2]["long_name"] = "model parameters N (total, experts included)"
            coords["active_parameters"] = ("size", active, {"units": "1", "long_name": "parameters active per token"})
    else:
        coords["compute_budget_flop"] = ("size", sizes, {"units": "FLOP", "long_name": "compute budget C = 6·N·D"})
        coords["parameters"] = ("size", n_nom, {"units": "1", "long_name": "compute-optimal N at the prior mean constants"})
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
