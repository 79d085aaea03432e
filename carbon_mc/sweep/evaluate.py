"""The per-draw evaluation of a sweep: pure jnp over (draw, size), jitted once per set of static options."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..footprint import compute, energy_and_emissions
from ..footprint import experts as moe
from ..footprint import parallelism as par
from ..footprint import scaling as sc
from .quantities import SWEEP_OUTPUTS


# the per-draw evaluation (pure jnp, jitted once per set of static options)
# ------------------------------------------------------------------------------------------------
def evaluate_draws(x, sizes, layout, hw, *, mode, utilization, law, tokens_per_parameter,
              sequence_length, grid_basis, pue_included):
    """Every output for draws `x` (arrays (n, 1)) and sizes/layout (arrays (S,)); returns (n, S) arrays.

    A layout with ``experts_per_token`` is a mixture-of-experts one: `sizes` and ``planned_parameters``
    are then the active parameters (compute, tokens, loss), ``total_parameters`` the totals, and the
    step adds the experts' all-to-alls and their gradient all-reduce over d/e (`footprint.experts`).
    """
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
    plan_param = layout["planned_parameters"][None, :]
    delta = compute.attention_logit_flops_fraction_of_shape(layout["layers"][None, :], layout["hidden"][None, :],
                                                           sequence_length, x["vocabulary_size"])
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
        experts = None
        if "experts_per_token" in layout:
            experts = moe.Experts(
                parameters=layout["expert_parameters"][None, :], parallel=layout["expert_parallel"][None, :],
                layers=layout["moe_layers"][None, :], per_token=layout["experts_per_token"][None, :],
                all_to_alls_per_layer=jnp.where(full, moe.ALL_TO_ALLS_PER_MOE_LAYER_FULL_RECOMPUTE, moe.ALL_TO_ALLS_PER_MOE_LAYER),
                all_to_all_overlap_fraction=x["expert_all_to_all_overlap_fraction"])
        step = par.training_step(
            parameters=layout["total_parameters"][None, :] if experts is not None else plan_param,
            layers=layout["layers"][None, :], hidden=layout["hidden"][None, :],
            sequence_length=sequence_length, batch_tokens=batch, tensor_parallel=layout["tensor_parallel"][None, :],
            pipeline_parallel=layout["pipeline_parallel"][None, :], data_parallel=layout["data_parallel"][None, :],
            model_flop_per_token=model_fpt, hardware_flop_per_token=model_fpt * (1.0 + overhead),
            allreduces_per_layer=jnp.where(full, par.TP_ALLREDUCES_PER_LAYER_FULL_RECOMPUTE, par.TP_ALLREDUCES_PER_LAYER),
            hardware=hw, kernel_peak_fraction=x["kernel_peak_fraction"], memory_bound_hidden_size=x["memory_bound_hidden_size"],
            link_bandwidth_fraction=x["link_bandwidth_fraction"], comm_overlap_fraction=x["comm_overlap_fraction"],
            experts=experts,
        )
        mfu = step.mfu_fraction
        out["batch_token_factor"] = factor
        out["pipeline_bubble_fraction"] = step.bubble_fraction
        out["idle_fraction"] = step.idle_fraction
    out["tokens"] = tokens
    train_flop = compute.train_flop_from_params_tokens(n_param, tokens, delta)
    out["train_flop"] = train_flop
    out["flops_overhead_fraction"] = delta
    out["effective_mfu_fraction"] = mfu
    hours = compute.device_hours_from_flop(train_flop, hw.peak_flop_per_s, mfu)
    out["device_hours"] = hours
    out["wall_clock_days"] = compute.wall_clock_days(hours, layout["devices"][None, :])
    out.update(energy_and_emissions(x, hours, tdp_w=hw.tdp_w, devices_per_server=hw.devices_per_server,
                                    grid_basis=grid_basis, pue_included=pue_included))
    shape = d_law.shape
    return {name: jnp.broadcast_to(v, shape) for name, v in out.items() if name in SWEEP_OUTPUTS}


class HardwareConsts(dict):
    """Hardware facts as a pytree-friendly mapping with attribute access (jit arguments)."""

    __getattr__ = dict.__getitem__


EVALUATE = jax.jit(evaluate_draws, static_argnames=("mode", "utilization", "law", "tokens_per_parameter", "sequence_length",
                                                "grid_basis", "pue_included"))
jax.tree_util.register_pytree_node(
    HardwareConsts,
    lambda d: (tuple(d.values()), tuple(d.keys())),
    lambda keys, values: HardwareConsts(zip(keys, values)),
)


# ------------------------------------------------------------------------------------------------
