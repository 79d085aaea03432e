"""Training compute and device time.

Each function is pure jnp arithmetic on arrays of draws; units are in the names.
"""

from __future__ import annotations

import jax.numpy as jnp

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0


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
