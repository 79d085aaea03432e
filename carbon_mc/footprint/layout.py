"""The layout a practitioner would pick: the memory-feasible (t, p, d, e) and batch that train fastest.

`plan_layout` evaluates every candidate layout with the equations of `parallelism` (and, for a
mixture-of-experts model, of `experts`) at nominal (median) constants, as a practitioner would
before a run; the draws then evaluate the chosen layout. NumPy over (size, t, p, e, recompute,
batch): the degrees are whole numbers. Reference: Narayanan et al. 2021, arXiv:2104.04473, §3
(how t, p and d are chosen).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import CarbonMCError
from . import experts as moe
from .parallelism import (
    FULL_RECOMPUTE_OVERHEAD_FRACTION,
    TP_ALLREDUCES_PER_LAYER,
    TP_ALLREDUCES_PER_LAYER_FULL_RECOMPUTE,
    Hardware,
    layers_hidden_from_parameters,
    memory_per_device_gb,
    training_step,
)


class Layout(NamedTuple):
    """The chosen layout and batch per model size (NumPy arrays over sizes)."""

    devices: np.ndarray
    tensor_parallel: np.ndarray
    pipeline_parallel: np.ndarray
    data_parallel: np.ndarray
    batch_tokens: np.ndarray
    full_recompute: np.ndarray  # bool
    layers: np.ndarray
    hidden: np.ndarray
    memory_gb: np.ndarray  # per device, at the chosen layout
    expert_parallel: np.ndarray | None = None  # e, a divisor of d (1: dense, or experts not sharded)
    expert_parameters: np.ndarray | None = None  # N_exp, parameters inside the experts (0: dense)


def _powers_of_two(upto: int) -> np.ndarray:
    return 2.0 ** np.arange(int(np.floor(np.log2(max(upto, 1)))) + 1)


def plan_layout(*, parameters, devices, hardware: Hardware, sequence_length: float, batch_candidates, token_factor,
                nominal: dict, hidden_per_layer_ratio: float, usable_memory_fraction: float, active_parameters=None,
                experts=None, experts_per_token=None, moe_layer_fraction: float = 1.0) -> Layout:
    """For each model size, the memory-feasible (t, p, d, e), recompute mode and batch that train fastest.

    Searches t ∈ {1, 2, 4, ...} up to one server (tensor parallelism stays inside a server:
    Narayanan et al. 2021, §3.2), p ∈ {1, 2, 4, ...} up to the layer count, d = n/(t·p), for a
    routed mixture-of-experts e ∈ {1, 2, 4, ...} with e ≤ E, E divisible by e and e dividing d
    (experts sharded over data-parallel ranks: Lepikhin et al. 2020, arXiv:2006.16668; Fedus et al.
    2021, arXiv:2101.03961, §5; Megatron-Core MoE), selective or full recompute, and each candidate
    batch; keeps layouts whose memory fits `usable_memory_fraction` of the device; minimises
    training time ∝ token_factor(B) · step / B.

    Args:
      parameters, devices: arrays over sizes (devices: powers of two); parameters are the total
        (experts included): weights, gradients, optimizer states and the gradient all-reduce use them.
      active_parameters: for mixture-of-experts models, the parameters active per token (array over
        sizes; default: all): model FLOPs per token are 6 x active, and layers and width follow the
        active (dense-equivalent) size.
      experts, experts_per_token: E experts per MoE layer and the k each token visits (scalars or
        arrays over sizes; both, with active_parameters). The experts hold N_exp = (N − N_act)·E/(E − k)
        parameters (`experts.expert_parameters`); their weights and gradients shard over t·p·e, the
        shared ones over t·p. Without them no expert parallelism is searched (e = 1): every device
        holds its shard of all experts.
      moe_layer_fraction: share of the layers that are MoE layers (1: all, as in Mixtral and OLMoE;
        0.5: every other one, as in GShard and GLaM); it sets only the number of all-to-alls.
      batch_candidates: array (sizes, k) of global batches in tokens (NaN = not a candidate).
      token_factor: callable (batch array of shape (sizes, k)) -> tokens needed relative to the law's D.
      nominal: median values of `kernel_peak_fraction`, `memory_bound_hidden_size`,
        `link_bandwidth_fraction`, `comm_overlap_fraction`, `selective_recompute_overhead_fraction`;
        with experts also `expert_all_to_all_overlap_fraction`.
    """
    n_param = np.asarray(parameters, dtype=np.float64)
    n_active = n_param if active_parameters is None else np.broadcast_to(np.asarray(active_parameters, dtype=np.float64), n_param.shape)
    if np.any(n_active > n_param):
        raise CarbonMCError("active_parameters must not exceed parameters (the total, experts included)")
    routing = moe.routing(n_param, active_parameters, experts, experts_per_token, moe_layer_fraction)
    n_dev = np.asarray(devices, dtype=np.float64)
    layers, hidden = layers_hidden_from_parameters(n_active, hidden_per_layer_ratio)
    t_vals = _powers_of_two(hardware.devices_per_server)
    p_vals = _powers_of_two(int(n_dev.max()))
    e_vals = np.array([1.0]) if routing is None else _powers_of_two(int(min(routing[0].max(), n_dev.max())))
    batches = np.asarray(batch_candidates, dtype=np.float64)
    # axes: size, t, p, e, recompute, batch
    S = n_param.size
    N = n_param.reshape(S, 1, 1, 1, 1, 1)
    L = layers.reshape(S, 1, 1, 1, 1, 1)
    H = hidden.reshape(S, 1, 1, 1, 1, 1)
    n = n_dev.reshape(S, 1, 1, 1, 1, 1)
    t = t_vals.reshape(1, -1, 1, 1, 1, 1)
    p = p_vals.reshape(1, 1, -1, 1, 1, 1)
    e = e_vals.reshape(1, 1, 1, -1, 1, 1)
    full = np.array([False, True]).reshape(1, 1, 1, 1, 2, 1)
    B = batches.reshape(S, 1, 1, 1, 1, -1)
    d = n / (t * p)
    valid = (d >= 1) & (p <= L) & np.isfinite(B)
    if routing is not None:
        E = routing[0].reshape(S, 1, 1, 1, 1, 1)
        valid = valid & (e <= E) & (np.mod(E, e) == 0) & (e <= d)  # powers of two: e <= d means e divides d
    d = np.where(valid, d, 1.0)
    Bsafe = np.where(np.isfinite(B), B, sequence_length)
    overhead = np.where(full, FULL_RECOMPUTE_OVERHEAD_FRACTION, nominal["selective_recompute_overhead_fraction"])
    model_fpt = 6.0 * n_active.reshape(S, 1, 1, 1, 1, 1)  # compute: active parameters (Kaplan et al. 2020, C = 6ND)
    n_exp = 0.0 if routing is None else routing[2].reshape(S, 1, 1, 1, 1, 1)
    experts_in_step = None if routing is None else moe.Experts(
        parameters=n_exp, parallel=e, layers=L * moe_layer_fraction, per_token=routing[1].reshape(S, 1, 1, 1, 1, 1),
        all_to_alls_per_layer=np.where(full, moe.ALL_TO_ALLS_PER_MOE_LAYER_FULL_RECOMPUTE, moe.ALL_TO_ALLS_PER_MOE_LAYER),
        all_to_all_overlap_fraction=nominal["expert_all_to_all_overlap_fraction"])
    step = training_step(
        parameters=N, layers=L, hidden=H, sequence_length=sequence_length, batch_tokens=Bsafe, tensor_parallel=t,
        pipeline_parallel=p, data_parallel=d, model_flop_per_token=model_fpt,
        hardware_flop_per_token=model_fpt * (1.0 + overhead),
        allreduces_per_layer=np.where(full, TP_ALLREDUCES_PER_LAYER_FULL_RECOMPUTE, TP_ALLREDUCES_PER_LAYER),
        hardware=hardware, kernel_peak_fraction=nominal["kernel_peak_fraction"],
        memory_bound_hidden_size=nominal["memory_bound_hidden_size"],
        link_bandwidth_fraction=nominal["link_bandwidth_fraction"],
        comm_overlap_fraction=nominal["comm_overlap_fraction"], experts=experts_in_step,
    )
    mem = np.asarray(memory_per_device_gb(N, L, H, sequence_length, t, p, d, np.asarray(step.microbatches), full,
                                          expert_parameters=n_exp, expert_parallel=e))
    fits = valid & (mem <= usable_memory_fraction * hardware.memory_gb)
    batch_per_size = np.broadcast_to(Bsafe, (S, 1, 1, 1, 1, batches.shape[-1])).reshape(S, 1, 1, 1, -1)  # token_factor's shape
    time_per_law_token = np.asarray(token_factor(batch_per_size)).reshape(S, 1, 1, 1, 1, -1) * np.asarray(step.step_s) / Bsafe
    cost = np.where(fits, time_per_law_token, np.inf)
    flat = cost.reshape(S, -1)
    best = np.argmin(flat, axis=1)
    if not np.all(np.isfinite(flat[np.arange(S), best])):
        bad = int(np.flatnonzero(~np.isfinite(flat[np.arange(S), best]))[0])
        kinds = "tensor/pipeline" if routing is None else "tensor/pipeline/expert"
        raise CarbonMCError(
            f"a {n_param[bad]:.3g}-parameter model does not fit on {int(n_dev[bad])} devices of {hardware.memory_gb:g} GB "
            f"with any {kinds} layout; give more devices"
        )
    shape = cost.shape[1:]
    it, ip, ie, ir, ib = np.unravel_index(best, shape)
    rows = np.arange(S)
    full_grid = np.broadcast_to(full, cost.shape)
    return Layout(
        devices=n_dev,
        tensor_parallel=t_vals[it],
        pipeline_parallel=p_vals[ip],
        data_parallel=n_dev / (t_vals[it] * p_vals[ip]),
        batch_tokens=batches[rows, ib],
        full_recompute=full_grid[rows, it, ip, ie, ir, ib],
        layers=layers,
        hidden=hidden,
        memory_gb=mem[rows, it, ip, ie, ir, ib],
        expert_parallel=e_vals[ie],
        expert_parameters=np.zeros(S) if routing is None else routing[2].copy(),
    )
