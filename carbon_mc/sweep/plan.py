"""Planning a sweep before any draw: its settings checked, the nominal run per size, device counts and batches."""

from __future__ import annotations

import numpy as np

from ..errors import CarbonMCError, InputError, close_matches, shown
from ..footprint import experts as moe
from ..footprint import parallelism as par
from ..footprint import scaling as sc
from ..options import (
    BATCH_POLICIES,
    CRITICAL_BATCH_LAWS,
    DEFAULT_PARAMETERS,
    SCALING_FITS,
    UTILIZATIONS,
)
from ..priors.support import INPUT_MAX
from .quantities import CRITICAL_BATCH_QUANTITIES, SECONDS_PER_DAY, context, median

# the public sweep
# ------------------------------------------------------------------------------------------------
MAX_SWEEP_PARAMETERS = 1e18  # larger models overflow the layout search's integer device counts


def pow2_at_least(x: np.ndarray) -> np.ndarray:
    return 2.0 ** np.ceil(np.log2(np.maximum(x, 1.0)))


def check_choice(value, choices, what, name: str | None = None):
    """`value` one of the strings `choices`; the message names the setting (`what`) and its argument (`name`)."""
    if not isinstance(value, str) or value not in choices:
        argument = f" ({name})" if name and name != what else ""
        raise CarbonMCError(f"unknown {what}{argument} {shown(value)}; {close_matches(str(value), choices)}")


def checked_settings(table, parameters, compute_budgets_flop, hardware, num_draws, utilization, batch_policy, scaling_fit,
                      critical_batch_law, tokens_per_parameter, sizing_hardware, region, datacenter):
    """(mode, sizes, hardware) of a sweep after checking every setting; a `CarbonMCError` names the first bad one."""
    check_choice(utilization, UTILIZATIONS, "utilization")
    check_choice(batch_policy, BATCH_POLICIES, "batch policy", "batch_policy")
    check_choice(critical_batch_law, CRITICAL_BATCH_LAWS, "critical batch law", "critical_batch_law")
    check_choice(scaling_fit, SCALING_FITS, "scaling fit", "scaling_fit")
    if (parameters is None) == (compute_budgets_flop is None) and parameters is not None:
        raise CarbonMCError("give parameters or compute_budgets_flop, not both")
    mode = "compute" if compute_budgets_flop is not None else "parameters"
    given = compute_budgets_flop if mode == "compute" else parameters
    sizes = np.asarray(DEFAULT_PARAMETERS if given is None or len(given) == 0 else given, dtype=np.float64)
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
    for key in hardware:
        table.hardware_spec(key)
    try:
        table.hardware_spec(sizing_hardware)
    except CarbonMCError as exc:
        raise InputError(f"sizing_hardware: {exc.message}") from None
    for choice, qname in (("region", "grid_gco2_per_kwh"), ("datacenter", "pue")):
        value = region if choice == "region" else datacenter
        if not isinstance(value, str) or value not in table.quantity(qname).variants:
            raise CarbonMCError(f"unknown {choice} {value!r}; {close_matches(value, table.quantity(qname).variants)}")

    return mode, sizes, hardware


def nominal_plan(first: dict, sizes, mode: str, tokens_per_parameter, critical_batch_law: str):
    """Nominal (median) parameters, tokens, critical batch and ρ per size: what the layouts are planned on."""
    k_nom = {c: float(v) for c, v in zip(sc.COMPONENTS, median(first["scaling_law_constants"]))}
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
    cb = [median(first[q]) for q in CRITICAL_BATCH_QUANTITIES[critical_batch_law]]
    rho_nom = median(first["law_batch_critical_ratio"])
    if critical_batch_law == "data_power_law":
        bcrit_nom = np.asarray(sc.critical_batch_data_tokens(d_nom, *cb), np.float64)
    else:
        bcrit_nom = np.asarray(sc.critical_batch_kaplan_tokens(loss_nom, *cb), np.float64)

    return n_nom, d_nom, bcrit_nom, rho_nom


def device_counts(devices, num_sizes, n_nom, d_nom, table, hardware, sizing_hardware, target_days, min_devices, max_devices,
                   region, datacenter, scaling_fit, per_hw, total_parameters=None) -> np.ndarray:
    """Devices per size: given, or enough for `target_days` at the nominal MFU (compute: 6·N·D with the
    nominal N, the active one of a mixture-of-experts) and for the model states of `total_parameters`
    (default N; an MoE's total, experts included), as powers of two."""
    if devices is not None:
        given = np.asarray(devices, dtype=np.float64)
        if given.size not in (1, num_sizes):
            raise InputError(f"give devices as one count for every size or one per size ({num_sizes}), got {given.size}")
        dev = np.broadcast_to(given, (num_sizes,)).copy()
        if np.any(dev < 1) or np.any(2.0 ** np.round(np.log2(dev)) != dev):
            raise CarbonMCError("devices must be powers of two (tensor and pipeline degrees are)")
        return dev
    spec = table.hardware_spec(sizing_hardware)
    mfu = median(table.select("mfu_fraction", context(table, sizing_hardware, region, datacenter, scaling_fit)))
    flop = sc.FLOP_PER_PARAMETER_TOKEN * n_nom * d_nom
    for_time = flop / (float(spec["peak_flop_per_s"]) * mfu * target_days * SECONDS_PER_DAY)
    # Enough devices for the model states (16 bytes per parameter) on the smallest memory, with 2x headroom.
    smallest = min(float(table.hardware_spec(h)["memory_gb"]) * median(per_hw[h]["usable_memory_fraction"]) for h in hardware)
    n_states = n_nom if total_parameters is None else total_parameters
    for_memory = 2.0 * (par.WEIGHT_GRAD_BYTES_PER_PARAMETER + par.OPTIMIZER_BYTES_PER_PARAMETER) * n_states / (smallest * par.BYTES_PER_GB)
    dev = pow2_at_least(np.maximum(for_time, for_memory))
    largest = 2.0 ** np.floor(np.log2(max_devices))
    smallest_cluster = np.minimum(pow2_at_least(np.array(min_devices)), largest)  # max_devices below min_devices wins
    needed = pow2_at_least(for_memory)
    if np.any(needed > largest):
        import logging

        over = [f"{n:.3g}" for n, m in zip(np.broadcast_to(n_states, needed.shape), needed, strict=True) if m > largest]
        logging.getLogger("carbon_mc").warning(
            "max_devices %d: the model states of size %s need more devices (%d): using those", max_devices,
            ", ".join(over), int(needed.max()))
    return np.clip(dev, smallest_cluster, np.maximum(largest, needed))


def batch_candidates(policy, fixed_batch_tokens, bcrit_nom, sequence_length) -> np.ndarray:
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


def checked_experts(mode, sizes, active_parameters, experts, experts_per_token, moe_layer_fraction) -> np.ndarray | None:
    """The active parameters per size of a mixture-of-experts sweep, its settings checked; None for a dense sweep.

    A mixture-of-experts sweep gives `parameters` (totals, experts included), the active count per
    size (or one for all), the experts per MoE layer E and the top-k; all or none of them.
    Reference: `footprint.experts.expert_parameters` (N_exp = (N − N_act)·E/(E − k)).
    """
    if active_parameters is None and experts is None and experts_per_token is None:
        if moe_layer_fraction != 1.0:
            raise CarbonMCError("moe_layer_fraction goes with a mixture-of-experts sweep (active_parameters, experts, "
                                "experts_per_token)")
        return None
    if active_parameters is None or experts is None or experts_per_token is None:
        raise CarbonMCError("a mixture-of-experts sweep needs active_parameters, experts and experts_per_token together")
    if mode != "parameters":
        raise CarbonMCError("active_parameters go with parameters (total sizes, experts included), not compute budgets")
    active = np.asarray(active_parameters, dtype=np.float64).ravel()
    if active.size not in (1, sizes.size):
        raise CarbonMCError(f"give one active_parameters per size ({sizes.size}) or one for all, got {active.size}")
    active = np.broadcast_to(active, sizes.shape).copy()
    if not np.all(np.isfinite(active)) or np.any(active <= 0) or np.any(active > sizes):
        raise CarbonMCError("active_parameters must be positive and at most parameters (the total, experts included)")
    if not 0.0 < moe_layer_fraction <= 1.0:
        raise CarbonMCError(f"moe_layer_fraction must be in (0, 1], got {moe_layer_fraction:g}")
    moe.check_routing(sizes, active, experts, experts_per_token)
    return active
