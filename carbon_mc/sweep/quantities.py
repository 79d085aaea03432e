"""What the sweep draws and returns: its quantities, outputs and layout variables, and how a prior is read."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from ..priors import Prior, PriorTable
from ..scenarios.training import ALWAYS

SECONDS_PER_DAY = 86400.0

# Quantities of the core carbon chain the sweep draws: those every run draws, plus the vocabulary
# (with the sweep's own depth, width and sequence length it gives the FLOPs beyond 6N per token).
CORE_QUANTITIES = ("vocabulary_size", *ALWAYS)
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
# Drawn only for a mixture-of-experts sweep (with `experts`): its token all-to-alls' hidden share.
EXPERT_QUANTITIES = ("expert_all_to_all_overlap_fraction",)
CRITICAL_BATCH_QUANTITIES = {
    "data_power_law": ("critical_batch_tokens_at_1e12", "critical_batch_data_exponent"),
    "kaplan_2020": ("critical_batch_kaplan_tokens_at_unit_loss", "critical_batch_kaplan_exponent"),
}

# Output variables: name -> (units, long_name). Dims: (draw, size, hardware) unless listed in _LAYOUT.
SWEEP_OUTPUTS: dict[str, tuple[str, str]] = {
    "tokens": ("1", "training tokens (including any extra tokens a large batch costs)"),
    "law_tokens": ("1", "training tokens the loss law needs (compute-optimal or fixed ratio)"),
    "train_flop": ("FLOP", "training compute, 6·N·D·(1 + δ)"),
    "flops_overhead_fraction": ("1", "training FLOPs per token beyond 6N (attention and logits), δ"),
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
    "expert_parallel": ("1", "expert-parallel degree e, a divisor of d (1: dense, or experts not sharded)"),
    "batch_tokens": ("1", "global batch in tokens"),
    "full_recompute": ("1", "1 if full activation recomputation, 0 if selective"),
    "layers": ("1", "transformer layers"),
    "hidden": ("1", "hidden size"),
    "memory_per_device_gb": ("GB", "memory per device at the chosen layout (nominal)"),
    "expert_parameters": ("1", "parameters inside the experts, N_exp = (N - N_act) E/(E - k) (0: dense)"),
}


# ------------------------------------------------------------------------------------------------
# priors
# ------------------------------------------------------------------------------------------------
def context(table: PriorTable, hardware: str, region: str, datacenter: str, scaling_fit: str) -> dict:
    spec = table.hardware_spec(hardware)
    ctx = {"hardware": hardware, "region": region, "datacenter": datacenter, "scaling_fit": scaling_fit}
    for key in ("power_class", "mfu_class", "server_class"):
        ctx[key] = spec[key]
    return ctx


def priors_for(table: PriorTable, names: Sequence[str], ctx: dict) -> dict[str, Prior]:
    return {name: table.select(name, ctx) for name in names}


def draws_of(prior: Prior, u):
    """Draws of `prior` from uniforms `u` (its float32 inverse CDF, as every sampler draws it)."""
    return prior.icdf32(jnp.asarray(u))


def median(prior: Prior):
    if prior.is_fixed:
        return prior.fixed_value
    if prior.components:
        return np.asarray(prior.distribution.loc, dtype=np.float64)
    return float(prior.icdf(jnp.float32(0.5)))


# ------------------------------------------------------------------------------------------------
