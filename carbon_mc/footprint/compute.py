"""Training compute and device time.

Each function is pure jnp arithmetic on arrays of draws; units are in the names.
"""

from __future__ import annotations

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
