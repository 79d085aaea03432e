"""Training compute and device time.

Each function is pure jnp arithmetic on arrays of draws; units are in the names.
"""

from __future__ import annotations

import jax.numpy as jnp

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0


def transformer_width(parameters, hidden_per_layer_ratio):
    """Width h (d_model) and depth l of a dense transformer with N = 12·l·h² and h = r·l (continuous).

    l = (N / (12 r²))^{1/3}, h = r·l. Reference: Kaplan et al. 2020, arXiv:2001.08361, §2.1
    (N ≈ 12·n_layer·d_model², embeddings excluded) and Fig. 5 (aspect ratios 20-200 train equally well);
    `carbon_mc.footprint.parallelism.layers_hidden_from_parameters` is the whole-layer version of the
    layout planner.
    """
    layers = (parameters / (12.0 * hidden_per_layer_ratio**2)) ** (1.0 / 3.0)
    return hidden_per_layer_ratio * layers, layers


def attention_logit_flops_fraction(parameters, context_length_tokens, vocabulary_size, hidden_per_layer_ratio):
    """δ of C = 6·N·D·(1 + δ): the FLOPs of attention scores and of the logits, relative to 6·N.

    Per token, a dense transformer of l layers and width h spends 72·l·h² FLOPs on its weight
    matrices (= 6N, forward and backward), 12·l·h·s on attention over a context of s tokens and
    6·h·V on the logits over a vocabulary of V tokens: δ = s/(6h) + V/(12·l·h). This is
    Narayanan et al. 2021 (arXiv:2104.04473), eq. 3 without activation recomputation (72 instead of
    96 FLOPs per l·h², so V/(12lh) for their V/(16lh)), and the attention term of PaLM's MFU
    (Chowdhery et al. 2022, arXiv:2204.02311, App. B: 6N + 12·L·H·Q·T per token). Large models
    have δ of a few percent (GPT-3: 0.03); small ones, whose width is small against the context and
    the vocabulary, several (a 20M-parameter model at s = 4,096 and V = 100k: about 4), which is why
    6·N·D alone undercounts their compute. N is taken without embeddings (Kaplan's convention); a
    count that includes them overstates l and h slightly, which matters only for the smallest models [I].
    """
    hidden, layers = transformer_width(parameters, hidden_per_layer_ratio)
    return attention_logit_flops_fraction_of_shape(layers, hidden, context_length_tokens, vocabulary_size)


def attention_logit_flops_fraction_of_shape(layers, hidden, context_length_tokens, vocabulary_size):
    """δ = s/(6h) + V/(12·l·h) for a transformer of known depth l and width h (see `attention_logit_flops_fraction`)."""
    return context_length_tokens / (6.0 * hidden) + vocabulary_size / (12.0 * layers * hidden)


def train_flop_from_params_tokens(parameters, tokens, flops_overhead_fraction):
    """Training FLOPs, C = 6·N·D·(1 + δ).

    6 FLOPs per parameter per token (2 forward, 4 backward), with δ the extra share for attention and
    logits. Reference: Kaplan et al. 2020, arXiv:2001.08361, §2.1 (C ≈ 6NBS); Narayanan et al.
    2021, arXiv:2104.04473, eq. 3 for the attention and logit terms.
    """
    return 6.0 * parameters * tokens * (1.0 + flops_overhead_fraction)


def device_hours_from_flop(train_flop, peak_flop_per_s, mfu_fraction):
    """Device-hours needed to run `train_flop` at model FLOP utilization `mfu_fraction`.

    hours = C / (peak × MFU) / 3600. Reference: Chowdhery et al. 2022 (PaLM), arXiv:2204.02311,
    App. B (definition of MFU); Faiz et al. 2024 (LLMCarbon), arXiv:2309.14393, training-time eq.
    """
    return train_flop / (peak_flop_per_s * mfu_fraction) / SECONDS_PER_HOUR


def device_hours_from_devices_days(devices, days):
    """Device-hours of `devices` accelerators busy for `days` days."""
    return devices * days * HOURS_PER_DAY


def wall_clock_days(device_hours, devices):
    """Wall-clock days of a run spread over `devices` accelerators."""
    return device_hours / devices / HOURS_PER_DAY


def implied_mfu_fraction(train_flop, device_hours, peak_flop_per_s):
    """MFU implied by a known compute and device time: C / (device-hours · 3600 · peak)."""
    return train_flop / (device_hours * SECONDS_PER_HOUR * peak_flop_per_s)


def moe_mfu_fraction(dense_mfu_fraction, moe_mfu_ratio):
    """MFU of a mixture-of-experts run: the dense MFU of its class times the MoE ratio, at most 1.

    MFU counts 6·N_active·D useful FLOPs; all-to-all token routing, expert load imbalance and
    smaller per-expert matrices make it lower than a dense run's on the same hardware. Reference:
    Patterson et al. 2021, arXiv:2104.10350, Table 4 (GShard, Switch); Du et al. 2021 (GLaM),
    arXiv:2112.06905; priors/utilization.toml, moe_mfu_ratio.
    """
    return jnp.minimum(dense_mfu_fraction * moe_mfu_ratio, 1.0)


def project_device_hours(ideal_device_hours, device_time_overhead_factor):
    """Device-hours a run actually spends: ideal hours at steady-state MFU times the overhead (>= 1).

    The overhead carries restarts, work lost since the last checkpoint, checkpoint and evaluation
    pauses, stragglers and rolled-back steps. Reference: Llama Team 2024, arXiv:2407.21783,
    §3.3.4 (">90% effective training time"); Chowdhery et al. 2022, arXiv:2204.02311, App. B
    ("including some downtime and repeated steps"); priors/utilization.toml,
    device_time_overhead_factor.
    """
    return ideal_device_hours * device_time_overhead_factor


def experiment_device_hours(final_run_device_hours, project_experiment_factor):
    """Device-hours of a whole model-development project (experiments, ablations, failed runs).

    Only for a figure that counts the project (``[reported] counts = "project"``). Reference:
    Morrison et al. 2025, arXiv:2503.05804, Tables 1-2; priors/utilization.toml,
    project_experiment_factor.
    """
    return final_run_device_hours * project_experiment_factor
