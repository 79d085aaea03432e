"""Mixture-of-experts under expert parallelism: the split of parameters, the token all-to-alls, the degrees.

A top-k mixture-of-experts (MoE) model of N parameters in all and N_act active per token has E
experts per MoE layer, k of which each token visits. Its parameters split into shared ones
(attention, embeddings, dense layers, shared experts: every token uses them) and expert ones:

    N = N_sh + N_exp,   N_act = N_sh + (k/E)·N_exp   ⇒   N_exp = (N − N_act)·E/(E − k)

(each token uses k of the E equal experts of a layer; Lepikhin et al. 2020, arXiv:2006.16668, §2;
Fedus et al. 2021, arXiv:2101.03961, §2.1). Check: DeepSeek-V3 (N = 671B, N_act = 37B, E = 256
routed experts, k = 8; DeepSeek-AI 2024, arXiv:2412.19437, §2.1 and §4.2) gives N_exp = 654.5B,
against 58 MoE layers × 256 experts × 3·7168·2048 = 653.9B counted from its shapes.

Expert parallelism of degree e shards the experts of a layer over e data-parallel ranks (GShard,
Switch: Fedus et al. 2021, §5; DeepSpeed-MoE: Rajbhandari et al. 2022, arXiv:2201.05596; Megatron-Core MoE): each device
holds E/e experts, and every MoE layer sends each token to the ranks of its experts and back, an
all-to-all among the e ranks before (dispatch) and after (combine) the experts. Expert gradients
are all-reduced among the d/e ranks that hold the same experts. The equations are pure jnp;
`check_routing` and `routing` are NumPy (the layout planner's input).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ..errors import CarbonMCError

TOKEN_BYTES = 2.0  # bf16 hidden states sent to and from the experts
# All-to-alls per MoE layer and micro-batch: dispatch and combine forward, their two transposes
# backward (Lepikhin et al. 2020, arXiv:2006.16668, §3; Rajbhandari et al. 2022, arXiv:2201.05596);
# full recomputation runs the forward pair again, as it does the
# tensor-parallel all-reduces (`parallelism.TP_ALLREDUCES_PER_LAYER_FULL_RECOMPUTE`).
ALL_TO_ALLS_PER_MOE_LAYER = 4.0
ALL_TO_ALLS_PER_MOE_LAYER_FULL_RECOMPUTE = 6.0


class Experts(NamedTuple):
    """What a mixture-of-experts step needs beyond the dense one (arrays that broadcast with the layout).

    parameters: N_exp, the parameters inside the experts (all of them, every MoE layer);
    parallel: the expert-parallel degree e (1: every device holds all experts of its stage);
    layers: the MoE layers of the model; per_token: k, experts each token visits;
    all_to_alls_per_layer: `ALL_TO_ALLS_PER_MOE_LAYER` or its full-recompute count;
    all_to_all_overlap_fraction: the share of the all-to-alls' time hidden behind compute (prior
    `expert_all_to_all_overlap_fraction`, priors/scaling.toml); the rest adds to each micro-batch.
    """

    parameters: ArrayLike
    parallel: ArrayLike
    layers: ArrayLike
    per_token: ArrayLike
    all_to_alls_per_layer: ArrayLike
    all_to_all_overlap_fraction: ArrayLike


def expert_parameters(parameters, active_parameters, experts, experts_per_token):
    """Parameters inside the experts of a top-k MoE: N_exp = (N − N_act)·E/(E − k); shared: N − N_exp.

    From N = N_sh + N_exp and N_act = N_sh + (k/E)·N_exp (every token uses the shared parameters and
    k of the E experts of each MoE layer). Reference: Lepikhin et al. 2020, arXiv:2006.16668, §2
    (top-2 gating); Fedus et al. 2021, arXiv:2101.03961, §2.1 (top-1).
    """
    return (parameters - active_parameters) * experts / (experts - experts_per_token)


def check_routing(parameters, active_parameters, experts, experts_per_token) -> None:
    """Refuse an expert count and top-k that cannot describe the model, in one line (NumPy, at planning).

    E and k are whole numbers with 1 ≤ k < E, and N_act ≥ (k/E)·N: fewer active parameters than k/E of
    the total would leave a negative shared part (`expert_parameters`).
    """
    e_count, k = np.asarray(experts, np.float64), np.asarray(experts_per_token, np.float64)
    if np.any(e_count != np.round(e_count)) or np.any(k != np.round(k)) or np.any(k < 1) or np.any(k >= e_count):
        raise CarbonMCError(f"experts and experts_per_token must be whole numbers with 1 <= experts_per_token < experts, "
                            f"got {e_count.tolist()} and {k.tolist()}")
    short = np.asarray(active_parameters, np.float64) < k / e_count * np.asarray(parameters, np.float64) * (1 - 1e-9)
    if np.any(short):
        raise CarbonMCError(f"active_parameters must be at least experts_per_token/experts of parameters (k of E experts "
                            f"plus the shared part); {np.asarray(active_parameters).ravel().tolist()} is less")


def all_to_all_s(message_bytes, participants, bandwidth_bytes_per_s):
    """Time of an all-to-all in which each of `participants` ranks scatters `message_bytes`: (k − 1)/k · bytes / bw.

    Each rank keeps 1/k of its message and sends the rest, k − 1 pieces, over its link (pairwise
    exchange). Reference: Thakur, Rabenseifner & Gropp 2005, "Optimization of collective
    communication operations in MPICH", Int. J. High Perform. Comput. Appl. 19(1).
    """
    k = jnp.maximum(participants, 1.0)
    return (k - 1.0) / k * message_bytes / bandwidth_bytes_per_s


def expert_all_to_all_time_per_microbatch_s(moe_layers, hidden, sequence_length, tensor_parallel, pipeline_parallel,
                                            expert_parallel, experts_per_token, all_to_alls_per_layer,
                                            bandwidth_bytes_per_s):
    """Token dispatch and combine of one micro-batch on one pipeline stage (all of it, hidden or not).

    (l_moe/p) MoE layers × `all_to_alls_per_layer` all-to-alls among the e ranks of an expert group;
    each device sends its s/t tokens (sequence parallelism splits them over the tensor group) to k
    experts: 2·k·s·h/t bytes, of which (e − 1)/e leave the device. Zero at e = 1 (the experts are
    local). Reference: Lepikhin et al. 2020, arXiv:2006.16668, §3; Rajbhandari et al. 2022,
    arXiv:2201.05596; Korthikanti et al. 2022, arXiv:2205.05198, §4.2.2 (sequence parallelism).
    """
    message = TOKEN_BYTES * experts_per_token * sequence_length * hidden / tensor_parallel
    per_layer = all_to_alls_per_layer * all_to_all_s(message, expert_parallel, bandwidth_bytes_per_s)
    return jnp.where(expert_parallel > 1, moe_layers / pipeline_parallel * per_layer, 0.0)



def routing(parameters, active_parameters, experts, experts_per_token, moe_layer_fraction):
    """(E, k, N_exp) over sizes of a routed mixture-of-experts, checked; None for a model without experts.

    NumPy, for the layout planner. E and k come with the active parameters or not at all: no default
    expert count is assumed. Reference: `expert_parameters`.
    """
    if experts is None and experts_per_token is None:
        return None
    if experts is None or experts_per_token is None or active_parameters is None:
        raise CarbonMCError("expert parallelism needs active_parameters, experts and experts_per_token together")
    if not 0.0 < moe_layer_fraction <= 1.0:
        raise CarbonMCError(f"moe_layer_fraction must be in (0, 1], got {moe_layer_fraction:g}")
    n_param = np.asarray(parameters, dtype=np.float64)
    n_active = np.broadcast_to(np.asarray(active_parameters, dtype=np.float64), n_param.shape)
    e_count = np.broadcast_to(np.asarray(experts, dtype=np.float64), n_param.shape)
    k = np.broadcast_to(np.asarray(experts_per_token, dtype=np.float64), n_param.shape)
    check_routing(n_param, n_active, e_count, k)
    return e_count, k, np.asarray(expert_parameters(n_param, n_active, e_count, k), dtype=np.float64)
