"""Accelerator power while serving: how busy the matrix units are sets how close to TDP a board runs.

A decode step at small batch streams weights from memory with the matrix units mostly idle; at large
batch the same step does B times the matrix work in little more time. Measured board power follows:
on ML.ENERGY v3.0 (vLLM 0.11, H100 SXM) Llama 3.1 8B draws 0.70 of TDP at batch 8, 0.80 at 32, 0.87 at
64 and 0.98-0.99 at 255-691. One busy power per deployment cannot follow this, so the busy power is a
function of the achieved matrix-unit utilisation of decode:

    u      = 2 N_active x decode tokens/s / (devices x peak FLOP/s)
    logit p = logit p_mem + beta x sqrt(u)

p_mem (`serving_memory_bound_power_tdp_fraction`) is the board power of a memory-bound decode (u -> 0)
and beta (`serving_power_utilisation_slope`) how fast power rises with utilisation; the logistic keeps
p below 1 (the driver's power limit). On the 186 ML.ENERGY calibration points, with one level per
accelerator x software group, the form leaves a residual sd of ln power of 0.120 for dense models
against 0.182 for one level per group, and the mean residual of small models (<= 15B) at batch 8
goes from -0.204 to -0.047 (least squares in logit space, pooled slope 5.5; u from the measured
throughput). sqrt(u) fits a little better than u^0.3 (0.122 dense), u (0.122) or ln u (0.129), and
best for mixture-of-experts points (0.211 against 0.211-0.238). The NUTS fit
(`carbon_mc.calibration.serving`) puts the slope at 3.4-5.1 (90%).
"""

from __future__ import annotations

import jax.numpy as jnp

FLOP_PER_ACTIVE_PARAMETER_TOKEN = 2.0  # forward pass only (Kaplan et al. 2020, arXiv:2001.08361, §2.1); serving.py uses it too

__all__ = ["FLOP_PER_ACTIVE_PARAMETER_TOKEN", "busy_power_tdp_fraction", "decode_flop_utilization_fraction"]


def decode_flop_utilization_fraction(active_parameters, decode_tokens_per_s, devices_per_replica, peak_flop_per_s):
    """Achieved matrix-unit utilisation of decode: FLOP/s done over the replica's peak FLOP/s.

    2 FLOPs per active parameter per token (Kaplan et al. 2020, arXiv:2001.08361, §2.1); the peak is
    the dense peak at the precision served. Model FLOPs utilisation in the sense of Chowdhery et al.
    2022 (PaLM, arXiv:2204.02311, §4.1), here of decode.
    """
    flop_per_s = FLOP_PER_ACTIVE_PARAMETER_TOKEN * active_parameters * decode_tokens_per_s
    return flop_per_s / (devices_per_replica * peak_flop_per_s)


def busy_power_tdp_fraction(memory_bound_power_tdp_fraction, power_utilization_slope, decode_flop_utilization_fraction):
    """Board power while busy, as a fraction of TDP: logit p = logit p_mem + beta x sqrt(u).

    Power rises with the matrix units' activity and is capped by the power limit (dynamic power
    ~ switching activity: Horowitz 2014, ISSCC, 'Computing's energy problem'; measured rise with
    batch: Chung et al. 2025, arXiv:2505.06371, ML.ENERGY v3.0 data). The form and its fit are in
    this module's docstring.
    """
    p = jnp.clip(memory_bound_power_tdp_fraction, 1e-6, 1.0 - 1e-6)
    logit = jnp.log(p) - jnp.log1p(-p) + power_utilization_slope * jnp.sqrt(jnp.maximum(decode_flop_utilization_fraction, 0.0))
    return 1.0 / (1.0 + jnp.exp(-logit))
