"""Carbon against model quality: a sweep over model sizes (or compute budgets) and accelerator generations.

`scaling_sweep` joins the four modules of a CarbonScaling-style analysis (Jiang & Chen 2025,
arXiv:2508.06524), each built from published pieces with every constant a prior:

1. neural scaling (`footprint.scaling`): loss L(N, D) from jointly drawn constants, D from the
   compute-optimal rule (or a tokens-per-parameter ratio), accuracy from the reducible loss;
2. hardware generations (`footprint.hardware`, priors/accelerators.toml): peak FLOP/s, TDP, memory,
   interconnect, embodied carbon;
3. parallelism (`footprint.parallelism`): the memory-feasible tensor/pipeline/data layout and batch
   a practitioner would pick, its bubble, communication, MFU and idle share; the critical batch size
   sets how many extra tokens a large batch costs;
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

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .errors import CarbonMCError, InputError, NumericError, close_matches
from .finite import WHY
from .priors.support import INPUT_MAX
from .footprint import compute, energy_and_emissions
from .footprint import parallelism as par
from .footprint import scaling as sc
from .priors import Prior, PriorTable, load_priors
from .sampling import BLOCK, uniforms
from .scenario import ALWAYS

DEFAULT_HARDWARE = ("v100", "a100_80gb", "h100_sxm", "b200")
DEFAULT_PARAMETERS = (1e9, 3e9, 1e10, 3e10, 1e11, 3e11, 1e12)
UTILIZATIONS = ("realistic", "ideal")
BATCH_POLICIES = ("fixed", "critical")
CRITICAL_BATCH_LAWS = ("data_power_law", "kaplan_2020")
SCALING_FITS = ("besiroglu_2024", "hoffmann_2022")
SECONDS_PER_DAY = 86400.0

# Quantities of the core carbon chain the sweep draws: those every run draws, plus δ.
CORE_QUANTITIES = ("flops_overhead_fraction", *ALWAYS)
SCALING_QUANTITIES = (
    "scaling_law_constants",
    "accuracy_chance_error_fraction",
    "accuracy_floor_error_fraction",
    "accuracy_decay_per_nat",
    "law_batch_critical_ratio",
)
PARALLELISM_QUANTITIES = (
    "kernel_peak_fraction",
    "memory_bound_hidden_size",
    "link_bandwidth_fraction",
    "comm_overlap_fraction",
    "selective_recompute_overhead_fraction",
    "hidden_per_layer_ratio",
    "usable_memory_fraction",
)
CRITICAL_BATCH_QUANTITIES = {
    "data_power_law": ("critical_batch_tokens_at_1e12", "critical_batch_data_exponent"),
    "kaplan_2020": ("critical_batch_kaplan_tokens_at_unit_loss", "critical_batch_kaplan_exponent"),
}

# Output variables: name -> (units, long_name). Dims: (draw, size, hardware) unless listed in _LAYOUT.
SWEEP_OUTPUTS: dict[str, tuple[str, str]] = {
    "tokens": ("1", "training tokens (including any extra tokens a large batch costs)"),
    "law_tokens": ("1", "training tokens the loss law needs (compute-optimal or fixed ratio)"),
    "train_flop": ("FLOP", "training compute, 6·N·D·(1 + δ)"),
    "loss_nats": ("1", "pre-training loss L(N, D), nats per token"),
    "reducible_loss_nats": ("1", "reducible loss L − E, nats per token"),
    "accuracy_fraction": ("1", "average downstream accuracy from the loss (Gadre et al. 2024 form)"),
    "critical_batch_tokens": ("1", "critical batch size in tokens"),
    "batch_token_factor": ("1", "tokens needed at the chosen batch relative to the loss law's D"),
    "effective_mfu_fraction": ("1", "model FLOP utilization of the run (6N(1+δ) FLOPs per token)"),
    "pipeline_bubble_fraction": ("1", "pipeline bubble (p − 1)/m"),
    "idle_fraction": ("1", "share of device time not spent computing"),
    "device_hours": ("h", "accelerator-hours of the run"),
    "wall_clock_days": ("d", "wall-clock duration of the run"),
    "energy_mwh": ("MWh", "facility energy (IT energy times PUE)"),
    "operational_tco2e": ("t", "operational emissions (t CO2e)"),
    "embodied_tco2e": ("t", "embodied emissions charged to the run (t CO2e)"),
    "total_tco2e": ("t", "total emissions, operational plus embodied (t CO2e)"),
}
LAYOUT_OUTPUTS: dict[str, tuple[str, str]] = {
    "devices": ("1", "accelerators in the run"),
    "tensor_parallel": ("1", "tensor-parallel degree t"),
    "pipeline_parallel": ("1", "pipeline-parallel degree p"),
    "data_parallel": ("1", "data-parallel degree d"),
    "batch_tokens": ("1", "global batch in tokens"),
    "full_recompute": ("1", "1 if full activation recomputation, 0 if selective"),
    "layers": ("1", "transformer layers"),
    "hidden": ("1", "hidden size"),
    "memory_per_device_gb": ("GB", "memory per device at the chosen layout (nominal)"),
}


# ------------------------------------------------------------------------------------------------
# priors
# ------------------------------------------------------------------------------------------------
def _context(table: PriorTable, hardware: str, region: str, datacenter: str, scaling_fit: str) -> dict:
    spec = table.hardware_spec(hardware)
    ctx = {"hardware": hardware, "region": region, "datacenter": datacenter, "scaling_fit": scaling_fit}
    for key in ("power_class", "mfu_class", "server_class"):
        ctx[key] = spec[key]
    return ctx


MAX_SWEEP_PARAMETERS = 1e18  # larger models overflow the layout search's integer device counts


def _priors_for(table: PriorTable, names: Sequence[str], ctx: dict) -> dict[str, Prior]:
    return {name: table.select(name, ctx) for name in names}


def _icdf(prior: Prior, u):
    """Draws of `prior` from uniforms `u` (its float32 inverse CDF, as every sampler draws it)."""
    return prior.icdf32(jnp.asarray(u))


def _median(prior: Prior):
    if prior.is_fixed:
        return prior.fixed_value
    if prior.components:
        return np.asarray(prior.distribution.loc, dtype=np.float64)
    return float(prior.icdf(jnp.float32(0.5)))


# ------------------------------------------------------------------------------------------------
# the per-draw evaluation (pure jnp, jitted once per set of static options)
# ------------------------------------------------------------------------------------------------
def _evaluate(x, sizes, layout, hw, *, mode, utilization, law, tokens_per_parameter,
              sequence_length, grid_basis, pue_included):
    """Every output for draws `x` (arrays (n, 1)) and sizes/layout (arrays (S,)); returns (n, S) arrays."""
    k = sc.split_constants(x["scaling_law_constants"])
    c = {name: v[:, None] for name, v in k.items()}
    if mode == "parameters":
        n_param = sizes[None, :]
        if tokens_per_parameter is None:
            d_law = sc.compute_optimal_tokens_for_parameters(n_param, c["ln_a"], c["ln_b"], c["alpha"], c["beta"])
        else:
            d_law = tokens_per_parameter * n_param * jnp.ones_like(c["alpha"])
    else:
        n_param = sc.compute_optimal_parameters(sizes[None, :], c["ln_a"], c["ln_b"], c["alpha"], c["beta"])
        d_law = sc.compute_optimal_tokens(sizes[None, :], c["ln_a"], c["ln_b"], c["alpha"], c["beta"])
    loss = sc.loss_nats(n_param, d_law, c["loss_irreducible"], c["ln_a"], c["ln_b"], c["alpha"], c["beta"])
    reducible = loss - c["loss_irreducible"]
    out = {
        "law_tokens": d_law,
        "loss_nats": loss,
        "reducible_loss_nats": reducible,
        "accuracy_fraction": sc.accuracy_fraction(reducible, x["accuracy_chance_error_fraction"], x["accuracy_floor_error_fraction"],
                                                  x["accuracy_decay_per_nat"]),
    }
    if law == "data_power_law":
        b_crit = sc.critical_batch_data_tokens(d_law, x["critical_batch_tokens_at_1e12"], x["critical_batch_data_exponent"])
    else:
        b_crit = sc.critical_batch_kaplan_tokens(loss, x["critical_batch_kaplan_tokens_at_unit_loss"],
                                                 x["critical_batch_kaplan_exponent"])
    out["critical_batch_tokens"] = b_crit
    delta = x["flops_overhead_fraction"]
    plan_param = layout["planned_parameters"][None, :]
    if utilization == "ideal":
        # No losses: the small-batch minimum of tokens (E_min = D / (1 + ρ)) at the best kernel efficiency.
        out["batch_token_factor"] = jnp.broadcast_to(1.0 / (1.0 + x["law_batch_critical_ratio"]), d_law.shape)
        tokens = d_law * out["batch_token_factor"]
        mfu = x["kernel_peak_fraction"] * jnp.ones_like(d_law)
        out["pipeline_bubble_fraction"] = jnp.zeros_like(d_law)
        out["idle_fraction"] = jnp.zeros_like(d_law)
    else:
        batch = layout["batch_tokens"][None, :]
        factor = sc.batch_token_factor(batch, b_crit, x["law_batch_critical_ratio"])
        tokens = d_law * factor
        full = layout["full_recompute"][None, :] > 0.5
        overhead = jnp.where(full, par.FULL_RECOMPUTE_OVERHEAD_FRACTION, x["selective_recompute_overhead_fraction"])
        model_fpt = sc.FLOP_PER_PARAMETER_TOKEN * plan_param * (1.0 + delta)
        step = par.training_step(
            parameters=plan_param, layers=layout["layers"][None, :], hidden=layout["hidden"][None, :],
            sequence_length=sequence_length, batch_tokens=batch, tensor_parallel=layout["tensor_parallel"][None, :],
            pipeline_parallel=layout["pipeline_parallel"][None, :], data_parallel=layout["data_parallel"][None, :],
            model_flop_per_token=model_fpt, hardware_flop_per_token=model_fpt * (1.0 + overhead),
            allreduces_per_layer=jnp.where(full, par.TP_ALLREDUCES_PER_LAYER_FULL_RECOMPUTE, par.TP_ALLREDUCES_PER_LAYER),
            hardware=hw, kernel_peak_fraction=x["kernel_peak_fraction"], memory_bound_hidden_size=x["memory_bound_hidden_size"],
            link_bandwidth_fraction=x["link_bandwidth_fraction"], comm_overlap_fraction=x["comm_overlap_fraction"],
        )
        mfu = step.mfu_fraction
        out["batch_token_factor"] = factor
        out["pipeline_bubble_fraction"] = step.bubble_fraction
        out["idle_fraction"] = step.idle_fraction
    out["tokens"] = tokens
    train_flop = compute.train_flop_from_params_tokens(n_param, tokens, delta)
    out["train_flop"] = train_flop
    out["effective_mfu_fraction"] = mfu
    hours = compute.device_hours_from_flop(train_flop, hw.peak_flop_per_s, mfu)
    out["device_hours"] = hours
    out["wall_clock_days"] = compute.wall_clock_days(hours, layout["devices"][None, :])
    out.update(energy_and_emissions(x, hours, tdp_w=hw.tdp_w, devices_per_server=hw.devices_per_server,
                                    grid_basis=grid_basis, pue_included=pue_included))
    shape = d_law.shape
    return {name: jnp.broadcast_to(v, shape) for name, v in out.items() if name in SWEEP_OUTPUTS}


class _HardwareConsts(dict):
    """Hardware facts as a pytree-friendly mapping with attribute access (jit arguments)."""

    __getattr__ = dict.__getitem__


_EVALUATE = jax.jit(_evaluate, static_argnames=("mode", "utilization", "law", "tokens_per_parameter", "sequence_length",
                                                "grid_basis", "pue_included"))
jax.tree_util.register_pytree_node(
    _HardwareConsts,
    lambda d: (tuple(d.values()), tuple(d.keys())),
    lambda keys, values: _HardwareConsts(zip(keys, values)),
)


# ------------------------------------------------------------------------------------------------
# the public sweep
# ------------------------------------------------------------------------------------------------
def _pow2_at_least(x: np.ndarray) -> np.ndarray:
    return 2.0 ** np.ceil(np.log2(np.maximum(x, 1.0)))


def _check_choice(value, choices, what):
    if value not in choices:
        raise CarbonMCError(f"unknown {what} {value!r}; {close_matches(str(value), choices)}")


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

    Returns:
      Dataset over (draw, size, hardware) of `SWEEP_OUTPUTS`, the layout over (size, hardware),
      the drawn inputs, and provenance attributes.

    Raises:
      InputError: an unknown choice, accelerator, region or datacenter, sizes that are not positive
        or beyond what the sweep handles, a model that fits no layout.
      NumericError: values that are not finite (`carbon_mc.finite`).
    """
    table = priors or load_priors()
    _check_choice(utilization, UTILIZATIONS, "utilization")
    _check_choice(batch_policy, BATCH_POLICIES, "batch policy")
    _check_choice(critical_batch_law, CRITICAL_BATCH_LAWS, "critical batch law")
    _check_choice(scaling_fit, SCALING_FITS, "scaling fit")
    if (parameters is None) == (compute_budgets_flop is None) and parameters is not None:
        raise CarbonMCError("give parameters or compute_budgets_flop, not both")
    mode = "compute" if compute_budgets_flop is not None else "parameters"
    sizes = np.asarray(compute_budgets_flop if mode == "compute" else (parameters or DEFAULT_PARAMETERS), dtype=np.float64)
    if sizes.ndim != 1 or sizes.size < 1 or not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        raise CarbonMCError("sizes must be a list of positive numbers")
    limit = MAX_SWEEP_PARAMETERS if mode == "parameters" else INPUT_MAX
    if sizes.max() > limit:
        raise InputError(f"{sizes.max():g} is beyond the largest {'model size' if mode == 'parameters' else 'compute budget'} "
                         f"the sweep handles ({limit:g}: the layout search counts devices in 64-bit integers, the chain "
                         "computes in float32)")
    if tokens_per_parameter is not None and (mode == "compute" or not tokens_per_parameter > 0):
        raise CarbonMCError("tokens_per_parameter must be > 0 and goes with parameters, not compute budgets")
    if num_draws < 2:
        raise CarbonMCError("num_draws must be at least 2")
    hardware = list(hardware)
    if not hardware or len(set(hardware)) != len(hardware):
        raise CarbonMCError("hardware must be a non-empty list of distinct accelerator keys")
    for key in [*hardware, sizing_hardware]:
        table.hardware_spec(key)
    for choice, qname in (("region", "grid_gco2_per_kwh"), ("datacenter", "pue")):
        value = region if choice == "region" else datacenter
        if value not in table.quantity(qname).variants:
            raise CarbonMCError(f"unknown {choice} {value!r}; {close_matches(value, table.quantity(qname).variants)}")

    if market_gco2_per_kwh is not None and not (math.isfinite(market_gco2_per_kwh) and market_gco2_per_kwh >= 0):
        raise CarbonMCError(f"market_gco2_per_kwh must be a finite number >= 0, got {market_gco2_per_kwh}")
    grid_basis = "location" if market_gco2_per_kwh is None else "market"
    core = tuple(q for q in CORE_QUANTITIES if pue_included or q != "pue")
    names = (*core, *SCALING_QUANTITIES, *PARALLELISM_QUANTITIES, *CRITICAL_BATCH_QUANTITIES[critical_batch_law])
    per_hw = {hw: _priors_for(table, names, _context(table, hw, region, datacenter, scaling_fit)) for hw in hardware}

    # Draws: one stream per input name, shared by every size and accelerator.
    nblocks = math.ceil(num_draws / BLOCK)
    u = {}
    for name in names:
        prior = per_hw[hardware[0]][name]
        u[name] = np.asarray(uniforms(seed, name, 0, nblocks, prior.num_columns))[:num_draws]

    # Nominal (median) constants for planning: sizes, devices, batches, layouts.
    first = per_hw[hardware[0]]
    k_nom = {c: float(v) for c, v in zip(sc.COMPONENTS, _median(first["scaling_law_constants"]))}
    if mode == "parameters":
        n_nom = sizes
        if tokens_per_parameter is None:
            d_nom = np.asarray(sc.compute_optimal_tokens_for_parameters(n_nom, k_nom["ln_a"], k_nom["ln_b"], k_nom["alpha"], k_nom["beta"]))
        else:
            d_nom = tokens_per_parameter * n_nom
    else:
        n_nom = np.asarray(sc.compute_optimal_parameters(sizes, k_nom["ln_a"], k_nom["ln_b"], k_nom["alpha"], k_nom["beta"]), np.float64)
        d_nom = np.asarray(sc.compute_optimal_tokens(sizes, k_nom["ln_a"], k_nom["ln_b"], k_nom["alpha"], k_nom["beta"]), np.float64)
    loss_nom = np.asarray(sc.loss_nats(n_nom, d_nom, *(k_nom[c] for c in sc.COMPONENTS)), np.float64)
    cb = [_median(first[q]) for q in CRITICAL_BATCH_QUANTITIES[critical_batch_law]]
    rho_nom = _median(first["law_batch_critical_ratio"])
    if critical_batch_law == "data_power_law":
        bcrit_nom = np.asarray(sc.critical_batch_data_tokens(d_nom, *cb), np.float64)
    else:
        bcrit_nom = np.asarray(sc.critical_batch_kaplan_tokens(loss_nom, *cb), np.float64)

    dev = _device_counts(devices, sizes.size, n_nom, d_nom, table, hardware, sizing_hardware, target_days,
                         min_devices, max_devices, region, datacenter, scaling_fit, per_hw)
    batch_candidates = _batch_candidates(batch_policy, fixed_batch_tokens, bcrit_nom, sequence_length)

    outputs: dict[str, list] = {}
    layouts: dict[str, list] = {}
    inputs: dict[str, list] = {}
    for hw in hardware:
        pri = per_hw[hw]
        spec = table.hardware_spec(hw)
        hw_par = par.Hardware.from_spec(spec)
        nominal = {q: _median(pri[q]) for q in PARALLELISM_QUANTITIES}
        layout = par.plan_layout(
            parameters=n_nom, devices=dev, hardware=hw_par, sequence_length=float(sequence_length),
            batch_candidates=batch_candidates,
            token_factor=lambda b: sc.batch_token_factor(b, bcrit_nom.reshape(-1, 1, 1, 1, 1), rho_nom),
            nominal=nominal, hidden_per_layer_ratio=nominal["hidden_per_layer_ratio"],
            usable_memory_fraction=nominal["usable_memory_fraction"],
        )
        lay = {
            "devices": layout.devices, "tensor_parallel": layout.tensor_parallel, "pipeline_parallel": layout.pipeline_parallel,
            "data_parallel": layout.data_parallel, "batch_tokens": layout.batch_tokens,
            "full_recompute": layout.full_recompute.astype(np.float64), "layers": layout.layers, "hidden": layout.hidden,
            "memory_per_device_gb": layout.memory_gb,
        }
        x = {}
        for name in names:
            prior = pri[name]
            v = np.asarray(_icdf(prior, u[name]), np.float32)
            x[name] = v if prior.components else v.reshape(-1, 1)
            inputs.setdefault(name, []).append(v)
        if market_gco2_per_kwh is not None:
            x["market_gco2_per_kwh"] = jnp.float32(market_gco2_per_kwh)
        jlay = {k: jnp.asarray(v, jnp.float32) for k, v in lay.items() if k != "memory_per_device_gb"}
        jlay["planned_parameters"] = jnp.asarray(n_nom, jnp.float32)
        consts = _HardwareConsts(
            peak_flop_per_s=jnp.float32(hw_par.peak_flop_per_s), memory_gb=jnp.float32(hw_par.memory_gb),
            devices_per_server=jnp.float32(hw_par.devices_per_server), intra_node_gb_per_s=jnp.float32(hw_par.intra_node_gb_per_s),
            inter_node_gb_per_s=jnp.float32(hw_par.inter_node_gb_per_s), tdp_w=jnp.float32(spec["tdp_w"]),
        )
        res = _EVALUATE(x, jnp.asarray(sizes, jnp.float32), jlay, consts, mode=mode,
                        utilization=utilization, law=critical_batch_law, tokens_per_parameter=tokens_per_parameter,
                        sequence_length=float(sequence_length), grid_basis=grid_basis, pue_included=bool(pue_included))
        for name, v in res.items():
            outputs.setdefault(name, []).append(np.asarray(v))
        for name, v in lay.items():
            layouts.setdefault(name, []).append(np.asarray(v, np.float64))

    for name, parts in outputs.items():  # one non-finite policy (carbon_mc.finite): refuse, and say why
        bad = sum(int(np.count_nonzero(~np.isfinite(part))) for part in parts)
        if bad:
            raise NumericError(f"scaling sweep: {bad:,} of {sum(np.size(p) for p in parts):,} values of {name} are not "
                               f"finite (NaN or inf): {WHY}; narrow the sizes or the options")
    return _to_dataset(outputs, layouts, inputs, per_hw, hardware, sizes, mode, n_nom, attrs={
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


def _device_counts(devices, num_sizes, n_nom, d_nom, table, hardware, sizing_hardware, target_days, min_devices, max_devices,
                   region, datacenter, scaling_fit, per_hw) -> np.ndarray:
    if devices is not None:
        dev = np.broadcast_to(np.asarray(devices, dtype=np.float64), (num_sizes,)).copy()
        if np.any(dev < 1) or np.any(2.0 ** np.round(np.log2(dev)) != dev):
            raise CarbonMCError("devices must be powers of two (tensor and pipeline degrees are)")
        return dev
    spec = table.hardware_spec(sizing_hardware)
    mfu = _median(table.select("mfu_fraction", _context(table, sizing_hardware, region, datacenter, scaling_fit)))
    flop = sc.FLOP_PER_PARAMETER_TOKEN * n_nom * d_nom
    for_time = flop / (float(spec["peak_flop_per_s"]) * mfu * target_days * SECONDS_PER_DAY)
    # Enough devices for the model states (16 bytes per parameter) on the smallest memory, with 2x headroom.
    smallest = min(float(table.hardware_spec(h)["memory_gb"]) * _median(per_hw[h]["usable_memory_fraction"]) for h in hardware)
    for_memory = 2.0 * (par.WEIGHT_GRAD_BYTES_PER_PARAMETER + par.OPTIMIZER_BYTES_PER_PARAMETER) * n_nom / (smallest * par.BYTES_PER_GB)
    dev = _pow2_at_least(np.maximum(for_time, for_memory))
    return np.clip(dev, _pow2_at_least(np.array(min_devices)), np.maximum(2.0 ** np.floor(np.log2(max_devices)), _pow2_at_least(for_memory)))


def _batch_candidates(policy, fixed_batch_tokens, bcrit_nom, sequence_length) -> np.ndarray:
    """Candidate global batches per size (NaN-padded): the fixed batch; or, for the critical policy,
    every power-of-two multiple of it from 1/64 up to the larger of it and the nominal critical
    batch, plus the critical batch itself (the planner keeps the one that trains fastest)."""
    if policy == "fixed":
        return np.full((bcrit_nom.size, 1), float(fixed_batch_tokens))
    steps = 2.0 ** np.arange(-6, 13)
    out = np.full((bcrit_nom.size, steps.size + 1), np.nan)
    for i, bc in enumerate(bcrit_nom):
        hi = max(float(fixed_batch_tokens), float(bc))
        cand = [b for b in fixed_batch_tokens * steps if b <= hi and b >= sequence_length]
        cand.append(max(float(bc), float(sequence_length)))
        out[i, : len(cand)] = cand
    return out


def _to_dataset(outputs, layouts, inputs, per_hw, hardware, sizes, mode, n_nom, attrs) -> xr.Dataset:
    data_vars = {}
    for name, arrays in outputs.items():
        values = np.stack(arrays, axis=-1)  # (draw, size, hardware)
        units, long_name = SWEEP_OUTPUTS[name]
        data_vars[name] = xr.Variable(("draw", "size", "hardware"), values, {"units": units, "long_name": long_name, "role": "output"})
    for name, arrays in layouts.items():
        units, long_name = LAYOUT_OUTPUTS[name]
        data_vars[name] = xr.Variable(("size", "hardware"), np.stack(arrays, axis=-1),
                                      {"units": units, "long_name": long_name, "role": "layout"})
    coords = {"draw": np.arange(next(iter(outputs.values()))[0].shape[0]), "size": np.arange(sizes.size), "hardware": list(hardware)}
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
    else:
        coords["compute_budget_flop"] = ("size", sizes, {"units": "FLOP", "long_name": "compute budget C = 6·N·D"})
        coords["parameters"] = ("size", n_nom, {"units": "1", "long_name": "compute-optimal N at the prior mean constants"})
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


# ------------------------------------------------------------------------------------------------
# exponents
# ------------------------------------------------------------------------------------------------
def loglog_fit(x: xr.DataArray, y: xr.DataArray, dim: str = "size") -> xr.Dataset:
    """Per-draw least-squares slope and R² of ln y against ln x along `dim`."""
    lx, ly = np.log(x), np.log(y)
    mx, my = lx.mean(dim), ly.mean(dim)
    sxx = ((lx - mx) ** 2).sum(dim)
    sxy = ((lx - mx) * (ly - my)).sum(dim)
    syy = ((ly - my) ** 2).sum(dim)
    slope = sxy / sxx
    r2 = sxy**2 / (sxx * syy)
    return xr.Dataset({"slope": slope, "r2": r2})


def carbon_exponents(ds: xr.Dataset, dim: str = "size") -> xr.Dataset:
    """Per draw (and accelerator): d ln CO2e / d ln (L − E) and d ln CO2e / d ln accuracy, with their R².

    The carbon–loss exponent is negative (carbon rises as the reducible loss falls); "worse" means
    more negative. The carbon–accuracy exponent is positive.

    Raises:
      InputError: `ds` lacks the sweep's variables or the dimension `dim`.
    """
    needed = ("reducible_loss_nats", "accuracy_fraction", "total_tco2e")
    if not isinstance(ds, xr.Dataset) or any(v not in ds for v in needed) or dim not in ds.dims:
        raise InputError(f"carbon_exponents needs a scaling_sweep Dataset with {', '.join(needed)} over {dim!r}")
    loss = loglog_fit(ds["reducible_loss_nats"], ds["total_tco2e"], dim)
    acc = loglog_fit(ds["accuracy_fraction"], ds["total_tco2e"], dim)
    out = xr.Dataset({
        "carbon_loss_exponent": loss["slope"], "carbon_loss_r2": loss["r2"],
        "carbon_accuracy_exponent": acc["slope"], "carbon_accuracy_r2": acc["r2"],
    })
    out["carbon_loss_exponent"].attrs = {"units": "1", "long_name": "slope of ln total CO2e against ln reducible loss"}
    out["carbon_accuracy_exponent"].attrs = {"units": "1", "long_name": "slope of ln total CO2e against ln accuracy"}
    return out


# ------------------------------------------------------------------------------------------------
# check of the parallelism module against Megatron-LM
# ------------------------------------------------------------------------------------------------
def megatron_check(*, num_draws: int = 4096, seed: int = 0, priors: PriorTable | None = None) -> xr.Dataset:
    """Predicted against published achieved TFLOP/s per GPU for the 10 rows of Megatron-LM's Table 1.

    Each row's own layout (t, p, GPUs, batch of 2048-token sequences, micro-batch of one sequence,
    full activation recomputation as in the paper) on `a100_80gb`, with the paper's FLOP count
    (`parallelism.megatron_flop_per_token`). The draws come from the same priors as the sweep
    (`kernel_peak_fraction` for the ampere_hopper class, `memory_bound_hidden_size`,
    `link_bandwidth_fraction`, `comm_overlap_fraction`); none was fitted to this table.

    Returns a Dataset over ``row`` with the observed value, the prediction at the prior medians,
    the 5th/50th/95th percentiles over draws, and attributes ``mape_percent`` (at the medians) and
    ``coverage_90`` (share of rows inside the 90% interval).

    Raises:
      InputError: a bad draw count or seed.
    """
    table = priors or load_priors()
    spec = table.hardware_spec("a100_80gb")
    hw = par.Hardware.from_spec(spec)
    ctx = _context(table, "a100_80gb", "world", "hyperscale", "besiroglu_2024")
    names = ("kernel_peak_fraction", "memory_bound_hidden_size", "link_bandwidth_fraction", "comm_overlap_fraction")
    pri = _priors_for(table, names, ctx)
    meg = par.load_megatron_table()
    s = float(par.MEGATRON_SEQUENCE_LENGTH)
    layers, hidden = meg["layers"], meg["hidden"]
    fpt = par.megatron_flop_per_token(layers, hidden, s, par.MEGATRON_VOCABULARY)
    t, p, n = meg["tensor_parallel"], meg["pipeline_parallel"], meg["gpus"]
    nblocks = math.ceil(num_draws / BLOCK)

    def predict(values):
        step = par.training_step(
            parameters=meg["parameters_billion"] * 1e9, layers=layers, hidden=hidden, sequence_length=s,
            batch_tokens=meg["batch_sequences"] * s, tensor_parallel=t, pipeline_parallel=p, data_parallel=n / (t * p),
            model_flop_per_token=fpt * 0.75, hardware_flop_per_token=fpt,
            allreduces_per_layer=par.TP_ALLREDUCES_PER_LAYER_FULL_RECOMPUTE, hardware=hw, **values,
        )
        return np.asarray(step.hardware_flop_fraction, np.float64) * hw.peak_flop_per_s / 1e12

    at_median = predict({k: _median(v) for k, v in pri.items()})
    draws = {k: np.asarray(_icdf(v, uniforms(seed, k, 0, nblocks)), np.float64)[:num_draws, None] for k, v in pri.items()}
    sampled = predict(draws)  # (draw, row)
    observed = meg["tflop_per_s_per_gpu"]
    q = np.percentile(sampled, [5, 50, 95], axis=0)
    mape = float(np.mean(np.abs(at_median - observed) / observed) * 100)
    coverage = float(np.mean((observed >= q[0]) & (observed <= q[2])))
    units = {"units": "TFLOP s-1", "long_name": "achieved TFLOP/s per GPU (Megatron FLOP count, with recomputation)"}
    return xr.Dataset(
        {
            "observed": ("row", observed, units),
            "predicted_at_median": ("row", at_median, units),
            "predicted_p5": ("row", q[0], units),
            "predicted_median": ("row", q[1], units),
            "predicted_p95": ("row", q[2], units),
        },
        coords={"row": np.arange(observed.size), "parameters_billion": ("row", meg["parameters_billion"]),
                "tensor_parallel": ("row", t), "pipeline_parallel": ("row", p), "gpus": ("row", n)},
        attrs={"mape_percent": mape, "coverage_90": coverage, "num_draws": int(num_draws), "seed": int(seed),
               "source": "Narayanan et al. 2021, arXiv:2104.04473, Table 1"},
    )
