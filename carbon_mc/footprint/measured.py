"""A measured energy as input: the per-device powers it fixes, and the posterior of a partial measurement.

A run with a [measured] table (carbon_mc.scenarios.measured) takes the meter's energy as known up
to the meter's error (true = measured x factor, priors/measurement.toml) and draws only what the
measurement leaves uncertain. `measured_powers_w` turns the measurement into the two per-device
powers the carbon chain reads (the accelerator board's, and the host's share), so that every scope,
PUE, grid and embodied carbon follow as for any run.

A measurement of some devices for part of the run (a power log of one node for one day) observes
the run's mean board power through a hierarchical model in log space (`partial_posterior_log_power`):
ln p(i, t) = mu + a_i + b_t, mu the run-level mean (its prior the class's power fraction x TDP), a_i
a device's offset (sd `device_power_spread_log_sd`), b_t a day's (sd `power_over_time_spread_log_sd`).
The measured mean S (n devices, k days) and the run's mean R (N devices, K days) are jointly normal
with Var S = s0^2 + sd^2/n + st^2/k, Var R = Cov(S, R) = s0^2 + sd^2/N + st^2/K, so R | S is normal
(conjugate update; Gelman et al., Bayesian Data Analysis, 3rd ed., §3.5): it is exact for the
normal approximation of ln(power), and the whole run is R, the measured part plus the spread of the
devices and days the meter did not see. At n = N and k = K it gives back S, the measurement with its
meter error. Days are 24 h blocks and count fractionally (k = measured hours / 24): a log shorter than
a day has a variance st^2 / k above a day's, a conservative reading of hour-to-hour variation.
tests/test_measured_partial.py checks the update against a NumPyro NUTS fit.
"""

from __future__ import annotations

import jax.numpy as jnp

WH_PER_MWH = 1.0e6
HOURS_PER_BLOCK = 24.0  # the over-time spread is per day


def mean_power_w_from_energy_mwh(energy_mwh, device_hours):
    """Mean power per device (W) of `energy_mwh` spread over `device_hours`: E / t.

    Reference: Patterson et al. 2021, arXiv:2104.10350, §2 (energy = hours x processors x power), inverted.
    """
    return energy_mwh * WH_PER_MWH / device_hours


def it_power_w_from_codecarbon_w(codecarbon_power_w, host_beyond_codecarbon_fraction):
    """Whole-server (IT) power from CodeCarbon's CPU + GPU + RAM power: P_cc x (1 + r), r the share of
    fans, NICs, storage and PSU losses (priors/measurement.toml, host_beyond_codecarbon_fraction).

    Reference: CodeCarbon documentation, 'Methodology' (energy_consumed = CPU + GPU + RAM).
    """
    return codecarbon_power_w * (1.0 + host_beyond_codecarbon_fraction)


def accelerator_share_of_it(accelerator_power_w, server_power_w_per_device):
    """The accelerators' share of IT power, P_acc / (P_acc + P_host): how a whole-server measurement is
    split between the two parts of the power model (priors/power.toml's header)."""
    return accelerator_power_w / (accelerator_power_w + server_power_w_per_device)


def throughput_of(measured) -> float | None:
    """The measured training throughput (tokens/s per device) of a [measured] table on the throughput
    scope, else None (an energy measurement)."""
    return measured.tokens_per_s_per_device if measured is not None and measured.scope == "throughput" else None


def mfu_from_throughput(train_flop, tokens, tokens_per_s_per_device, peak_flop_per_s):
    """Model FLOP utilisation of a measured training throughput: (C / D) x throughput / peak, C / D the
    run's FLOP per token (6 N with its overhead), so that C / (peak x MFU) = D / throughput.

    Reference: Chowdhery et al. 2022, 'PaLM', arXiv:2204.02311, Appendix B (MFU = observed tokens/s x
    6N / peak FLOP/s).
    """
    return train_flop / tokens * tokens_per_s_per_device / peak_flop_per_s


def partial_posterior_log_power(log_measured_w, prior_mean, prior_sd, device_sd, time_sd, *, measured_devices, devices,
                                measured_blocks, blocks):
    """(mean, sd) of ln(run-mean power) given ln(measured mean power) of `measured_devices` of `devices`
    over `measured_blocks` of `blocks` days: the conjugate normal update of the module docstring.

    Reference: Gelman et al., Bayesian Data Analysis, 3rd ed., §3.5 (normal with known variance);
    Cochran, Sampling Techniques, 3rd ed., §2.5 (the finite-population terms sd^2/n - sd^2/N).
    """
    var_run = prior_sd**2 + device_sd**2 / devices + time_sd**2 / blocks
    var_sample = prior_sd**2 + device_sd**2 / measured_devices + time_sd**2 / measured_blocks
    weight = var_run / var_sample
    mean = prior_mean + weight * (log_measured_w - prior_mean)
    var = jnp.maximum(var_run * (1.0 - weight), 0.0)
    return mean, jnp.sqrt(var)


def measured_powers_w(x: dict, measured, *, device_hours: float, devices: float | None, tdp_w: float,
                      drawn_accelerator_w, drawn_server_w):
    """(accelerator power, host power per device, CodeCarbon-scope power or None), in W per device, of a measured run.

    `x` holds the meter-error draws and, by scope, ``host_beyond_codecarbon_fraction``, ``pue`` or the
    partial-measurement draws; `drawn_accelerator_w` and `drawn_server_w` are the class priors' draws,
    used where the measurement does not reach (the host beyond an accelerator meter) or to split a
    whole-server figure between board and host.
    """
    from ..scenarios.measured import BOARD, MODELLED, RAPL

    measured_device_hours = _measured_device_hours(measured, device_hours, devices)
    if measured.scope == "accelerator":
        measured_w = mean_power_w_from_energy_mwh(measured.energy_mwh * x[BOARD], measured_device_hours)
        acc = _whole_run_w(x, measured, measured_w, device_hours, devices) if measured.partial else measured_w
        return acc, drawn_server_w, None
    if measured.scope == "codecarbon":
        def part_w(part: str, factor):
            return mean_power_w_from_energy_mwh(measured.part_kwh(part) / 1000.0 * factor, measured_device_hours)

        gpu = part_w("gpu", x[BOARD]) if measured.part_kwh("gpu") > 0 else jnp.float32(0.0)
        if measured.partial:
            gpu = _whole_run_w(x, measured, gpu, device_hours, devices)
        host = sum((part_w(p, x[MODELLED] if p in measured.modelled else x[RAPL])
                    for p in ("cpu", "ram") if measured.part_kwh(p) > 0), jnp.float32(0.0))
        codecarbon = gpu + host
        it = it_power_w_from_codecarbon_w(codecarbon, x["host_beyond_codecarbon_fraction"])
        return gpu, it - gpu, codecarbon
    energy = measured.energy_mwh * x["meter_error_node_factor"]
    if measured.scope == "facility":
        energy = energy / x["pue"]
    it = mean_power_w_from_energy_mwh(energy, device_hours)
    acc = it * accelerator_share_of_it(drawn_accelerator_w, drawn_server_w)
    return acc, it - acc, None


def _measured_device_hours(measured, device_hours: float, devices: float | None) -> float:
    """Device-hours the meter saw: the run's, or measured devices x measured hours of a partial measurement."""
    if not measured.partial:
        return device_hours
    run_devices = float(devices or 0.0)
    return float(measured.measured_devices or run_devices) * float(measured.measured_hours or device_hours / run_devices)


def _whole_run_w(x: dict, measured, measured_w, device_hours: float, devices: float | None):
    """The run's mean board power (W) drawn from its posterior given the measured devices' mean `measured_w`."""
    run_devices = float(devices or 0.0)
    hours = device_hours / run_devices
    m_devices = float(measured.measured_devices or run_devices)
    m_hours = float(measured.measured_hours or hours)
    mean, sd = partial_posterior_log_power(
        jnp.log(measured_w), measured.prior_log_power_mean, measured.prior_log_power_sd, x["device_power_spread_log_sd"],
        x["power_over_time_spread_log_sd"], measured_devices=m_devices, devices=run_devices,
        measured_blocks=m_hours / HOURS_PER_BLOCK, blocks=hours / HOURS_PER_BLOCK)
    return jnp.exp(mean + sd * x["measured_power_posterior_z"])
