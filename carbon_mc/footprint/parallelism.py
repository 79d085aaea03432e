"""Parallelism: tensor (t), pipeline (p), data (d) and expert (e) parallel training of a transformer.

A training step of a (t, p, d) layout on n = t·p·d devices, with global batch B tokens cut into
sequences of s tokens (one sequence per micro-batch), runs m = B / (s·d) micro-batches through
each pipeline under the 1F1B schedule:

    step = (max(m, 1) + p − 1) · (compute + tensor-parallel + pipeline send) + (1 − o) · data-parallel

so the pipeline bubble is (p − 1)/m of the busy time (Narayanan et al. 2021, arXiv:2104.04473,
§2.2.1). Compute runs at a fraction of peak (the `kernel_peak_fraction` prior) slowed by memory-bound
element-wise work that matters more for narrow models (`memory_bound_hidden_size`);
communication uses ring collectives at a fraction of the nominal link bandwidth
(`link_bandwidth_fraction`); the data-parallel gradient all-reduce overlaps the backward pass by
`comm_overlap_fraction`. Model FLOP utilization (MFU) is model FLOPs per step over n·peak·step.
A mixture-of-experts model adds expert parallelism (`experts`): its experts shard over e of the d
data-parallel ranks, each MoE layer adds token all-to-alls to the busy time, and expert gradients
are all-reduced among d/e ranks; a dense model (e = 1, no experts) takes the dense equations alone.

The equations are pure jnp (they broadcast over draws, sizes and candidate layouts); `plan_layout`
(in `layout.py`) picks the memory-feasible layout and batch that train fastest at nominal (median) constants, as a
practitioner would before a run; the draws then evaluate that layout.
"""

from __future__ import annotations

import csv
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..data import data_dir
from ..errors import CarbonMCError
from . import compute
from . import experts as moe

BYTES_PER_GB = 1.0e9
ACTIVATION_BYTES = 2.0  # bf16 activations and gradients
WEIGHT_GRAD_BYTES_PER_PARAMETER = 4.0  # bf16 weights + bf16 gradients
OPTIMIZER_BYTES_PER_PARAMETER = 12.0  # fp32 master weights + Adam first and second moments
# Activation memory per layer per sequence, in units of s·h bytes, with sequence parallelism:
# selective recompute keeps 34 s·h / t; full recompute keeps the layer input, 2 s·h / t
# (Korthikanti et al. 2022, arXiv:2205.05198, Table 2).
SELECTIVE_ACTIVATION_SH = 34.0
FULL_RECOMPUTE_ACTIVATION_SH = 2.0
# Tensor-parallel all-reduces of an s·h activation per layer and micro-batch: 2 forward + 2
# backward, and 2 more when the forward is recomputed (Shoeybi et al. 2019, arXiv:1909.08053, Fig. 4).
TP_ALLREDUCES_PER_LAYER = 4.0
TP_ALLREDUCES_PER_LAYER_FULL_RECOMPUTE = 6.0
# Full activation recomputation adds one forward pass: 8N instead of 6N FLOPs per token.
FULL_RECOMPUTE_OVERHEAD_FRACTION = 1.0 / 3.0


class Hardware(NamedTuple):
    """The accelerator facts the parallelism model needs (from priors/accelerators.toml)."""

    peak_flop_per_s: float
    memory_gb: float
    devices_per_server: int
    intra_node_gb_per_s: float  # aggregate bidirectional scale-up bandwidth per device
    inter_node_gb_per_s: float  # scale-out bandwidth per device, one direction

    @classmethod
    def from_spec(cls, spec: dict) -> Hardware:
        missing = [k for k in ("intra_node_gb_per_s", "inter_node_gb_per_s") if k not in spec]
        if missing:
            raise CarbonMCError(f"hardware {spec.get('key')!r} has no {' or '.join(missing)}: the parallelism model needs both",
                                file="accelerators.toml", key=f"hardware.{spec.get('key')}")
        return cls(float(spec["peak_flop_per_s"]), float(spec["memory_gb"]), int(spec["devices_per_server"]),
                   float(spec["intra_node_gb_per_s"]), float(spec["inter_node_gb_per_s"]))


# ------------------------------------------------------------------------------------------------
# architecture
# ------------------------------------------------------------------------------------------------
def layers_hidden_from_parameters(parameters, hidden_per_layer_ratio):
    """Layers l and hidden size h of a dense transformer with N ≈ 12·l·h² and h = r·l.

    l = round((N / (12 r²))^{1/3}) (at least 1), h = √(N / (12 l)). Reference: Kaplan et al. 2020,
    arXiv:2001.08361, §2.1 (N ≈ 12·n_layer·d_model²) and Fig. 5 (loss is flat for aspect ratios
    d_model/n_layer between about 20 and 200); Narayanan et al. 2021, Table 1 (h/l = 96 to 200).
    NumPy: the layout planner needs whole layers.
    """
    n = np.asarray(parameters, dtype=np.float64)
    _, continuous_layers = compute.transformer_width(n, hidden_per_layer_ratio)
    layers = np.maximum(1.0, np.round(continuous_layers))
    hidden = np.sqrt(n / (12.0 * layers))
    return layers, hidden


def megatron_flop_per_token(layers, hidden, sequence_length, vocabulary, recompute=True):
    """Hardware FLOPs per token of a GPT layer stack, Megatron's eq. 3 divided by B·s.

    F = 96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h)) per iteration with activation recomputation (four
    passes); 72 instead of 96 without it. Reference: Narayanan et al. 2021, arXiv:2104.04473, §5.1.
    """
    passes = 96.0 if recompute else 72.0
    return passes * layers * hidden**2 * (1.0 + sequence_length / (6.0 * hidden) + vocabulary / (16.0 * layers * hidden))


# ------------------------------------------------------------------------------------------------
# the pieces of a step
# ------------------------------------------------------------------------------------------------
def ring_allreduce_s(message_bytes, participants, bandwidth_bytes_per_s):
    """Time of a ring all-reduce of `message_bytes` among `participants`: 2(k − 1)/k · bytes / bw.

    Reference: Patarasuk & Yuan 2009, "Bandwidth optimal all-reduce algorithms for clusters of
    workstations", J. Parallel Distrib. Comput. 69(2); NCCL's bus-bandwidth convention.
    """
    k = jnp.maximum(participants, 1.0)
    return 2.0 * (k - 1.0) / k * message_bytes / bandwidth_bytes_per_s


def pipeline_bubble_fraction(pipeline_parallel, microbatches):
    """Idle share of a pipeline flush relative to busy time: (p − 1)/m (1F1B / GPipe).

    Reference: Narayanan et al. 2021, arXiv:2104.04473, §2.2.1 (bubble time fraction (p − 1)/m).
    """
    return (pipeline_parallel - 1.0) / microbatches


def microbatches_per_step(batch_tokens, sequence_length, data_parallel):
    """Micro-batches of one sequence per pipeline per step: m = B / (s · d) (may be < 1: idle replicas)."""
    return batch_tokens / (sequence_length * data_parallel)


def compute_time_per_microbatch_s(hardware_flop_per_token, sequence_length, tensor_parallel, pipeline_parallel,
                                  peak_flop_per_s, kernel_peak_fraction, memory_bound_hidden_size, hidden):
    """Compute time of one micro-batch on one pipeline stage (one device of its tensor group).

    t_c = F_hw · s / (t·p) / (peak · η) · (1 + h_mb / h): matrix multiplies run at fraction η of
    peak, and memory-bound element-wise work (layer norms, activations, dropout, residuals; about
    34·s·h bytes moved per layer against 24·s·h² FLOPs) adds a share h_mb/h that falls with the
    hidden size. Reference: Korthikanti et al. 2022, arXiv:2205.05198, §4 (activation bytes per
    layer); Narayanan et al. 2021, Table 1 (throughput rises with h at fixed layout).
    """
    gemm_s = hardware_flop_per_token * sequence_length / (tensor_parallel * pipeline_parallel) / (
        peak_flop_per_s * kernel_peak_fraction
    )
    return gemm_s * (1.0 + memory_bound_hidden_size / hidden)


def tensor_parallel_time_per_microbatch_s(layers, hidden, sequence_length, tensor_parallel, pipeline_parallel,
                                          allreduces_per_layer, bandwidth_bytes_per_s):
    """Tensor-parallel communication of one micro-batch on one stage (not overlapped with compute).

    (l/p) layers × `allreduces_per_layer` ring all-reduces of an s·h bf16 activation among t
    devices. Reference: Shoeybi et al. 2019, arXiv:1909.08053, §3 (two all-reduces forward, two
    backward per layer); Narayanan et al. 2021, §3.2.
    """
    message = ACTIVATION_BYTES * sequence_length * hidden
    per_layer = allreduces_per_layer * ring_allreduce_s(message, tensor_parallel, bandwidth_bytes_per_s)
    return jnp.where(tensor_parallel > 1, layers / pipeline_parallel * per_layer, 0.0)


def pipeline_send_time_per_microbatch_s(hidden, sequence_length, tensor_parallel, pipeline_parallel,
                                        bandwidth_bytes_per_s):
    """Point-to-point sends between pipeline stages for one micro-batch: activations forward, gradients back.

    2 × (2·s·h / t) bytes with the scatter/gather optimisation (each tensor-parallel rank sends its
    1/t share). Reference: Narayanan et al. 2021, arXiv:2104.04473, §4.1.
    """
    message = ACTIVATION_BYTES * sequence_length * hidden / tensor_parallel
    return jnp.where(pipeline_parallel > 1, 2.0 * message / bandwidth_bytes_per_s, 0.0)


def data_parallel_allreduce_s(parameters, tensor_parallel, pipeline_parallel, data_parallel, bandwidth_bytes_per_s):
    """Gradient all-reduce across data-parallel replicas, once per step.

    Each device holds N/(t·p) parameters' bf16 gradients, all-reduced in a ring of d. Reference:
    Li et al. 2020, "PyTorch Distributed", VLDB 13(12) (bucketed all-reduce overlapped with the
    backward pass); Narayanan et al. 2021, §3.3.
    """
    message = ACTIVATION_BYTES * parameters / (tensor_parallel * pipeline_parallel)
    return ring_allreduce_s(message, data_parallel, bandwidth_bytes_per_s)


def expert_data_parallel_allreduce_s(expert_parameters, tensor_parallel, pipeline_parallel, data_parallel,
                                     expert_parallel, bandwidth_bytes_per_s):
    """Gradient all-reduce of the experts, once per step: N_exp/(t·p·e) bf16 gradients in a ring of d/e.

    Each expert is held by the d/e data-parallel ranks of the other expert groups. Reference:
    Rajbhandari et al. 2022, arXiv:2201.05596 (expert-data-parallel groups); Megatron-Core MoE
    (expert gradients reduce over the expert-data-parallel group of size d/e).
    """
    return data_parallel_allreduce_s(expert_parameters, tensor_parallel, pipeline_parallel * expert_parallel,
                                     data_parallel / expert_parallel, bandwidth_bytes_per_s)


def group_bandwidth_bytes_per_s(group_devices, devices_per_server, intra_node_gb_per_s, inter_node_gb_per_s,
                                link_bandwidth_fraction):
    """Per-direction bandwidth a collective among `group_devices` gets: scale-up inside a server,
    scale-out (the slower) once the group spans servers; times the achieved fraction of nominal.

    intra_node_gb_per_s is the aggregate bidirectional figure (halved for one direction);
    inter_node_gb_per_s is already per direction (priors/accelerators.toml header).
    """
    intra = intra_node_gb_per_s / 2.0 * BYTES_PER_GB
    inter = inter_node_gb_per_s * BYTES_PER_GB
    return jnp.where(group_devices > devices_per_server, inter, intra) * link_bandwidth_fraction


class Step(NamedTuple):
    """Every intermediate of one training step (arrays broadcast over draws, sizes, layouts)."""

    microbatches: jnp.ndarray
    compute_s: jnp.ndarray
    tensor_parallel_s: jnp.ndarray
    pipeline_send_s: jnp.ndarray
    data_parallel_s: jnp.ndarray
    bubble_fraction: jnp.ndarray
    step_s: jnp.ndarray
    mfu_fraction: jnp.ndarray  # model FLOPs per step / (devices · peak · step time)
    hardware_flop_fraction: jnp.ndarray  # hardware FLOPs (incl. recompute) / (devices · peak · step time)
    idle_fraction: jnp.ndarray  # share of the step a device is not computing
    expert_all_to_all_s: jnp.ndarray | float = 0.0  # token dispatch and combine per micro-batch, hidden or not (mixture-of-experts)


def training_step(*, parameters, layers, hidden, sequence_length, batch_tokens, tensor_parallel, pipeline_parallel,
                  data_parallel, model_flop_per_token, hardware_flop_per_token, allreduces_per_layer, hardware: Hardware,
                  kernel_peak_fraction, memory_bound_hidden_size, link_bandwidth_fraction, comm_overlap_fraction,
                  experts: moe.Experts | None = None) -> Step:
    """One step of a (t, p, d) layout: its parts, its length, and the resulting MFU and idle share.

    step = (max(m, 1) + p − 1)·(t_c + t_tp + t_pp) + (1 − o)·t_dp (1F1B schedule; Narayanan et al.
    2021, arXiv:2104.04473, §2.2.1 and §3). MFU = 6N(1+δ)·B / (n·peak·step) (Chowdhery et al. 2022,
    arXiv:2204.02311, App. B). With `experts` (a mixture-of-experts layout) the busy time adds the
    share (1 − o_a2a) of the token all-to-alls t_a2a not hidden behind compute (DeepSeek-AI 2024,
    arXiv:2412.19437, §3.2.1; Hwang et al. 2023, arXiv:2206.03382), among the e ranks of an expert
    group, whose t·e devices are adjacent ranks (Megatron-Core's default order tp-cp-ep-dp-pp), and
    t_dp all-reduces the shared parameters' gradients over d and the experts' over d/e (`experts.py`).
    """
    devices = tensor_parallel * pipeline_parallel * data_parallel
    m = microbatches_per_step(batch_tokens, sequence_length, data_parallel)
    dps = hardware.devices_per_server
    bw_tp = group_bandwidth_bytes_per_s(tensor_parallel, dps, hardware.intra_node_gb_per_s, hardware.inter_node_gb_per_s,
                                        link_bandwidth_fraction)
    bw_pp = group_bandwidth_bytes_per_s(tensor_parallel * pipeline_parallel, dps, hardware.intra_node_gb_per_s,
                                        hardware.inter_node_gb_per_s, link_bandwidth_fraction)
    bw_dp = group_bandwidth_bytes_per_s(devices, dps, hardware.intra_node_gb_per_s, hardware.inter_node_gb_per_s,
                                        link_bandwidth_fraction)
    t_c = compute_time_per_microbatch_s(hardware_flop_per_token, sequence_length, tensor_parallel, pipeline_parallel,
                                        hardware.peak_flop_per_s, kernel_peak_fraction, memory_bound_hidden_size, hidden)
    t_tp = tensor_parallel_time_per_microbatch_s(layers, hidden, sequence_length, tensor_parallel, pipeline_parallel,
                                                 allreduces_per_layer, bw_tp)
    t_pp = pipeline_send_time_per_microbatch_s(hidden, sequence_length, tensor_parallel, pipeline_parallel, bw_pp)
    busy = t_c + t_tp + t_pp
    if experts is None:
        t_a2a = 0.0
        t_dp = data_parallel_allreduce_s(parameters, tensor_parallel, pipeline_parallel, data_parallel, bw_dp)
    else:
        bw_ep = group_bandwidth_bytes_per_s(tensor_parallel * experts.parallel, dps, hardware.intra_node_gb_per_s,
                                            hardware.inter_node_gb_per_s, link_bandwidth_fraction)
        t_a2a = moe.expert_all_to_all_time_per_microbatch_s(experts.layers, hidden, sequence_length, tensor_parallel,
                                                            pipeline_parallel, experts.parallel, experts.per_token,
                                                            experts.all_to_alls_per_layer, bw_ep)
        busy = busy + (1.0 - experts.all_to_all_overlap_fraction) * t_a2a  # the share not hidden behind compute
        t_dp = data_parallel_allreduce_s(parameters - experts.parameters, tensor_parallel, pipeline_parallel, data_parallel,
                                         bw_dp) + expert_data_parallel_allreduce_s(
            experts.parameters, tensor_parallel, pipeline_parallel, data_parallel, experts.parallel, bw_dp)
    slots = jnp.maximum(m, 1.0) + pipeline_parallel - 1.0
    step = slots * busy + (1.0 - comm_overlap_fraction) * t_dp
    peak_step = devices * hardware.peak_flop_per_s * step
    mfu = model_flop_per_token * batch_tokens / peak_step
    hfu = hardware_flop_per_token * batch_tokens / peak_step
    idle = 1.0 - m * t_c / step  # busy: m micro-batches of compute (m < 1: that share of replicas busy)
    return Step(m, t_c, t_tp, t_pp, t_dp, pipeline_bubble_fraction(pipeline_parallel, jnp.maximum(m, 1.0)), step,
                mfu, hfu, idle, t_a2a)


def memory_per_device_gb(parameters, layers, hidden, sequence_length, tensor_parallel, pipeline_parallel,
                         data_parallel, microbatches, full_recompute, expert_parameters=0.0, expert_parallel=1.0):
    """Memory one device needs: weights and gradients, its shard of the optimizer, activations in flight.

    4·(N − N_exp)/(t·p) + 4·N_exp/(t·p·e) bytes (bf16 weights and gradients; the N_exp parameters of a
    mixture-of-experts' experts shard over e more ranks, `experts.py`) + 12·N/(t·p·d) (fp32 master and
    Adam moments, sharded over data-parallel ranks as in ZeRO-1 / Megatron's distributed optimizer; an
    expert's over the d/e ranks that hold it, which is again N_exp/(t·p·d) per device) +
    min(p, m)·(l/p)·a·s·h/t bytes of activations held by the first stage under 1F1B, with a = 34
    (selective recompute) or 2 (full recompute, plus one layer's 34·s·h/t working set).
    Reference: Rajbhandari et al. 2020, arXiv:1910.02054, §3 (16 bytes per parameter for mixed-
    precision Adam); Korthikanti et al. 2022, arXiv:2205.05198, Table 2; Rajbhandari et al. 2022,
    arXiv:2201.05596 (experts sharded over expert-parallel ranks). Activations are those of the
    dense model of the active size (the planner's layers and width).
    """
    shards = tensor_parallel * pipeline_parallel
    weights = WEIGHT_GRAD_BYTES_PER_PARAMETER * (parameters - expert_parameters) / shards
    weights = weights + WEIGHT_GRAD_BYTES_PER_PARAMETER * expert_parameters / (shards * expert_parallel)
    states = weights + OPTIMIZER_BYTES_PER_PARAMETER * parameters / (shards * data_parallel)
    in_flight = jnp.minimum(pipeline_parallel, jnp.maximum(microbatches, 1.0))
    per_layer = jnp.where(full_recompute, FULL_RECOMPUTE_ACTIVATION_SH, SELECTIVE_ACTIVATION_SH)
    sh_t = sequence_length * hidden / tensor_parallel
    activations = in_flight * layers / pipeline_parallel * per_layer * sh_t
    working = jnp.where(full_recompute, SELECTIVE_ACTIVATION_SH * sh_t, 0.0)
    return (states + activations + working) / BYTES_PER_GB


# ------------------------------------------------------------------------------------------------
# check against Megatron-LM
# ------------------------------------------------------------------------------------------------
MEGATRON_SEQUENCE_LENGTH = 2048
MEGATRON_VOCABULARY = 51200


def load_megatron_table() -> dict[str, np.ndarray]:
    """Narayanan et al. 2021 (arXiv:2104.04473) Table 1: GPT weak scaling on DGX A100 80 GB.

    Columns: parameters_billion, heads, hidden, layers, tensor_parallel, pipeline_parallel, gpus,
    batch_sequences, tflop_per_s_per_gpu, percent_of_peak. Read from the bundled
    models/reference/megatron_narayanan2021_table1.csv.
    """
    path = data_dir("models") / "reference" / "megatron_narayanan2021_table1.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}

