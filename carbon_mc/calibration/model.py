"""The NumPyro calibration model: the measured runs' energies (and published device-hours) given the uncertain factors.

For runs r with a measured energy E_r (natural logs):

    class value      m_q,k ~ the bundled prior of quantity q, variant k   (k = the run's class)
    run value        x_q,r = T_k( u_q,r ),  u_q,r ~ N( T_k⁻¹(m_q,k) + s · h_r, σ_q,k )
    prediction       Ê_r  = `carbon_mc.footprint.energy_on_scopes` on x_r, on the figure's own scope
    likelihood       log E_r ~ N( log Ê_r, √(ε² + ρ_r²) )

- q runs over `CALIBRATED`: accelerator_power_tdp_fraction (per power class), server_power_w_per_device
  (per server class), pue (per data-centre class) and mfu_fraction (per MFU class), wherever a run
  needs them and its figure depends on them; a number a run fixes (Morrison's assumed PUE) stays fixed.
- One factor per run varies from its class: the power fraction where the run's device time was
  published, the MFU where it comes from FLOPs (one figure cannot tell power from MFU apart). The
  others take their class value.
- T_k maps the real line onto the support of the class prior (numpyro's ``biject_to``), so a run's
  value never leaves the range its prior allows. σ_q,k (between-run spread, per class), the MFU size
  slope s (h_r = min(0, log10(N_r / N_ref)): no size term at and above N_ref, only MFU) and the
  reporting error ε have their own priors in ``priors/calibration.toml``; the rounding error ρ_r
  comes from the figure's last written digit.
- Board power has a size term like MFU's: below ``power_reference_parameters`` a run's power class
  value is shifted by `power_scale_slope_logit_per_decade` x log10(N_r / N_ref,power) on the
  unconstrained scale (small models leave the accelerator idle between kernels); runs without a
  parameter count take none.
- Device time is the run's own where published; else C·(1 + δ_r) / (peak · MFU_r · ρ_r) · ω, with
  δ_r the FLOPs-overhead prior, ρ_r the MoE MFU ratio (one value; 1 for a dense run) and ω the
  whole-run device-time overhead (one value for every run that has an MFU of its own), both
  sampled from their priors (`OVERHEAD`, `MOE_RATIO`).
- Published device time beside published compute. A run whose device-hours H_r are published and
  whose compute is known too (``train_flops``, or parameters and tokens: C_r = 6·N·D·(1 + δ_r) with
  its own FLOPs-overhead draw) measures its MFU: it gets an MFU latent of its own, on its hardware's
  MFU class prior exactly as a derived run (class value, size term, between-run spread; the engine
  draws no MFU for such a run, but the class is sampled for it), and the likelihood

      log H_r ~ N( log( C_r / (peak · MFU_r · ρ_r) · ω / 3600 ), √(ε² + κ_r²) )

  with ε the same reporting error as the energies' (one error for every published figure of a run;
  the run's own MFU absorbs what is specific to it) and κ_r the rounding of the printed hours
  (`carbon_mc.calibration.design.published_hours_rounding_sd_ln`). ω applies because published
  device-hours are wall-clock time × devices, restarts and pauses included: PaLM's 8.40M chip-hours
  are "including some downtime and repeated steps" (Chowdhery et al. 2022, App. B), 1.5 × the ideal
  5.53M at its 46.2% MFU (docs/modern_training_priors.md §1). So these runs inform the MFU classes,
  ω, the MFU size slope and (GLaM, GShard, Switch) the MoE ratio, which the derived runs alone
  (all from 2024) left to their priors. Their energy is still computed on the published hours and
  their power fraction still varies run by run; a held-out run drops its hours as it drops its
  energy (its MFU then follows its class prior).
- The energy scope of the figure (``[reported] energy_scope``) picks the prediction, on the
  footprint's own energy equations (`energy_on_scopes`): accelerators and host times PUE
  ("facility"), without PUE ("it"), accelerators alone ("accelerator"), or accelerators alone times
  PUE ("accelerator_facility").
- NUTS samples u_q,r through `run_latent`'s reparameterisation (centred on what the figure implies
  where it is observed, on the prior where it is held out), which keeps the geometry free of funnels
  whatever the reporting error and spreads.

This module holds the model only; `carbon_mc.calibration.fit` drives NUTS on it.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions.transforms import biject_to

from ..errors import CarbonMCError
from ..footprint import compute, energy, energy_on_scopes
from ..priors import Prior, PriorTable
from ..scenarios.training import FLOP_SHAPE_QUANTITIES
from .design import CALIBRATED, MFU_SLOPE, MOE_RATIO, OVERHEAD, POWER_SLOPE, REPORTING_ERROR, RUN_SPREAD, Design

__all__ = ["calibration_model", "class_site", "run_latent", "support_link"]

POWER, MFU = "accelerator_power_tdp_fraction", "mfu_fraction"


def class_site(q: str, cls: str) -> str:
    """Name of the sample site of the class value of quantity `q` for class `cls`."""
    return f"{q}_class[{cls}]"


def support_link(prior: Prior):
    """Bijection from the real line onto the support of `prior` (and its inverse as ``.inv``)."""
    return biject_to(prior.distribution.support)


def _hyper(table: PriorTable, name: str) -> Prior:
    return table.quantity(name).variants["default"]


def _gather(design: Design, q: str, class_values, fill: float = 1.0):
    """(R,) values of quantity q: each run's class value, its fixed number, or `fill` where unused."""
    fixed = np.nan_to_num(design.fixed[q], nan=fill)
    if not class_values:
        return jnp.asarray(fixed)
    stacked = jnp.stack(class_values)
    idx = design.index[q]
    return jnp.where(idx >= 0, stacked[np.maximum(idx, 0)], fixed)


def _run_link(priors: list[Prior], idx: np.ndarray):
    """Per-run bijection from the real line onto the support of each run's class prior (batched)."""
    supports = [p.distribution.support for p in priors]
    kinds = {type(c) for c in supports}
    rows = np.maximum(idx, 0)
    if kinds == {type(dist.constraints.interval(0.0, 1.0))}:
        low = np.array([float(c.lower_bound) for c in supports])[rows]
        high = np.array([float(c.upper_bound) for c in supports])[rows]
        return biject_to(dist.constraints.interval(low, high))
    if kinds == {type(dist.constraints.greater_than(0.0))}:
        return biject_to(dist.constraints.greater_than(np.array([float(c.lower_bound) for c in supports])[rows]))
    if len({str(c) for c in supports}) == 1:
        return biject_to(supports[0])
    raise CarbonMCError(f"the class priors of {priors[0].quantity} must share one kind of support to vary run by run")


def run_latent(name: str, link, loc, scale, implied, slope_ln, observed, sd_ln):
    """Sample one run-level value per run on the unconstrained scale, reparameterised for NUTS.

    Prior u ~ N(loc, scale). Where the run's figure is observed, its energy fixes u to about
    `implied` (the value that reproduces the figure given everything else) within sd_ln / |slope_ln|
    (slope_ln = d log energy / d u there). Sampling u = a + b·η with (a, b) the mean and sd of the
    Gaussian that combines the two (b = scale and a = loc where the run is held out) keeps η close to
    N(0, 1) whatever the reporting error and the spread: no funnel. The density is unchanged: the
    factor adds log N(u | loc, scale) + log b − log N(η | 0, 1) (the Jacobian of η -> u).
    """
    data_precision = jnp.where(observed, (slope_ln / sd_ln) ** 2, 0.0)
    precision = scale**-2 + data_precision
    b = precision**-0.5
    a = (loc * scale**-2 + implied * data_precision) / precision
    eta = numpyro.sample(f"{name}_eta", dist.Normal(0.0, 1.0).expand([jnp.size(loc)]).to_event(1))
    u = a + b * eta
    numpyro.factor(f"{name}_jacobian", jnp.sum(dist.Normal(loc, scale).log_prob(u) + jnp.log(b) - dist.Normal(0.0, 1.0).log_prob(eta)))
    numpyro.deterministic(f"{name}_latent", u)
    return link(u)


def _implied(link, value, low, high):
    """Unconstrained value of `value`, continued linearly (C¹) beyond the support's edges (less a margin).

    Returns (u, dT/du at u). Used only to centre the reparameterisation of `run_latent`, so it
    must be smooth in the parameters but need not be exact: a figure that no value inside the
    support reproduces gets a far-out u, a tiny dT/du, and so the prior's centre and scale.
    `low` and `high` may be infinite (one-sided or unbounded supports).
    """
    two_sided = np.isfinite(low) & np.isfinite(high)
    margin = np.where(two_sided, 0.01 * np.where(two_sided, high - low, 1.0),
                      1e-3 * np.maximum(1.0, np.abs(np.nan_to_num(low, posinf=0.0, neginf=0.0))))
    inner = jnp.clip(value, low + margin, high - margin)
    u_inner = link.inv(inner)
    du_dvalue = jnp.exp(-link.log_abs_det_jacobian(u_inner, inner))
    u = u_inner + (value - inner) * du_dvalue
    return u, jnp.exp(link.log_abs_det_jacobian(u, link(u)))


def _support_bounds(priors: list[Prior], idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of each run's class prior support (±inf where unbounded)."""
    lows = [float(np.asarray(getattr(p.distribution.support, "lower_bound", -np.inf))) for p in priors]
    highs = [float(np.asarray(getattr(p.distribution.support, "upper_bound", np.inf))) for p in priors]
    rows = np.maximum(idx, 0)
    return np.array(lows)[rows], np.array(highs)[rows]


def _figure_scope_energy(design: Design, device_hours, power_w, server_w, pue):
    """(R,) each run's energy on the scope of its published figure.

    The accelerator and IT energies come from `energy_on_scopes`; each run takes the one its scope
    counts (with or without the host), times PUE where the scope counts it, as `energy_on_scopes`
    makes its PUE scopes. Picking among its four outputs after the PUE product would give the same
    values but a different compiled program, whose last-bit differences NUTS amplifies: the fit's
    numbers for a seed would change.
    """
    scopes = energy_on_scopes(device_hours, power_w, server_w)
    base = jnp.where(design.host, scopes["it_energy_mwh"], scopes["accelerator_energy_mwh"])
    return jnp.where(design.with_pue, energy.facility_energy_mwh(base, pue), base)


def calibration_model(design: Design, table: PriorTable) -> Callable:
    """The NumPyro calibration model of `design`: ``model(obs_mask)``; `obs_mask` (R,) bool leaves runs out.

    Run-to-run deviations: a run whose device time is published varies in its accelerator power
    fraction; a run whose device time is derived from FLOPs varies in its MFU (its energy fixes only
    power / MFU, so one deviation per run), on the unconstrained scale of its class prior. A run whose
    device time is published beside its compute varies in both: power through its energy, MFU through
    its published device-hours (``log_published_device_hours``).

    Raises:
      CarbonMCError: the class priors of a quantity that varies run by run have supports of
        different kinds (raised when the model is first traced).
    """
    priors = {q: [table.quantity(q).variants[c] for c in design.classes[q]] for q in CALIBRATED}
    derived = design.mfu_run >= 0
    power_runs, mfu_runs, hours_runs = np.flatnonzero(~derived), np.flatnonzero(derived), np.flatnonzero(design.hours_run >= 0)
    dh_known = np.nan_to_num(design.device_hours, nan=1.0)
    reported_w_h = np.exp(design.log_reported) * energy.WH_PER_MWH  # reported energy in Wh

    def class_values(q: str):
        values = [numpyro.sample(class_site(q, c), p.distribution) for c, p in zip(design.classes[q], priors[q])]
        return values, _gather(design, q, values)

    def spread(q: str, n: int):
        return numpyro.sample(f"{RUN_SPREAD[q]}[{q}]", _hyper(table, RUN_SPREAD[q]).distribution.expand([n]).to_event(1))

    def sized_power(fraction, slope_decade):
        """Each run's power class value shifted by the size term (models below the power reference size)."""
        r = np.flatnonzero((design.index[POWER] >= 0) & (design.power_decades < 0))
        if not len(r):
            return fraction
        link = _run_link(priors[POWER], design.index[POWER][r])
        return fraction.at[r].set(link(link.inv(fraction[r]) + slope_decade * design.power_decades[r]))

    def power_fraction(fraction, power_spread, pue_factor, host_w, obs_mask, sd_ln):
        """Each run's power fraction: its (size-shifted) class value, or its own value where device time is published."""
        r, idx = power_runs, design.index[POWER][power_runs]
        link = _run_link(priors[POWER], idx)
        low, high = _support_bounds(priors[POWER], idx)
        needed_w = reported_w_h[r] / (dh_known[r] * pue_factor[r]) - host_w[r]
        implied, slope = _implied(link, needed_w / design.tdp_w[r], low, high)
        slope_ln = design.tdp_w[r] * slope / (design.tdp_w[r] * link(implied) + host_w[r])
        value = run_latent(f"{POWER}_run", link, link.inv(fraction[r]), power_spread[idx], implied, slope_ln, obs_mask[r], sd_ln[r])
        return fraction.at[r].set(value)

    def mfu_terms():
        """What MFU depends on, sampled once for the derived runs and the hours runs both: MFU class
        values, their between-run spreads, the size slope, the FLOPs, the overhead and the MoE ratio."""
        mfu_cls, mfu = class_values(MFU)
        mfu_spread = spread(MFU, len(mfu_cls))
        slope_decade = numpyro.sample(MFU_SLOPE, _hyper(table, MFU_SLOPE).distribution)
        flop = _train_flop(design, table)
        overhead, ratio = _device_time_factors(design, table)
        return {"mfu": mfu, "spread": mfu_spread, "slope": slope_decade, "flop": flop, "overhead": overhead, "ratio": ratio}

    def mfu_prior(t, r):
        """(link, support bounds, prior centre on the unconstrained scale, spread) of the MFU of runs `r`."""
        idx = design.index[MFU][r]
        link = _run_link(priors[MFU], idx)
        low, high = _support_bounds(priors[MFU], idx)
        return link, low, high, link.inv(t["mfu"][r]) + t["slope"] * design.scale_decades[r], t["spread"][idx]

    def device_hours_at(t, r, mfu_value):
        """Device-hours of runs `r` at their own (dense) MFU: C / (peak · MFU · ρ) · ω."""
        mfu_effective = jnp.where(design.moe_run[r], compute.moe_mfu_fraction(mfu_value, t["ratio"][r]), mfu_value)
        ideal = compute.device_hours_from_flop(t["flop"][r], design.peak_flop_per_s[r], mfu_effective)
        return compute.project_device_hours(ideal, t["overhead"])

    def hours_at_full(t, r):
        """Device-hours of runs `r` at MFU 1 (dense) with the overhead: their hours are this / (MFU · ρ)."""
        ideal = compute.device_hours_from_flop(t["flop"][r], design.peak_flop_per_s[r], 1.0)
        return compute.project_device_hours(ideal, t["overhead"]) / t["ratio"][r]

    def derived_device_hours(t, power_w, pue_factor, host_w, obs_mask, sd_ln):
        """Device-hours of every run: published, or from FLOPs, peak throughput and each run's own MFU."""
        r = mfu_runs
        link, low, high, loc, scale = mfu_prior(t, r)
        needed_mfu = hours_at_full(t, r) * (power_w[r] + host_w[r]) * pue_factor[r] / reported_w_h[r]
        implied, slope = _implied(link, needed_mfu, low, high)
        slope_ln = -slope / link(implied)
        value = run_latent(f"{MFU}_run", link, loc, scale, implied, slope_ln, obs_mask[r], sd_ln[r])
        numpyro.deterministic(f"{MFU}_run", value)
        return jnp.asarray(dh_known).at[r].set(device_hours_at(t, r, value))

    def published_device_hours(t, obs_mask, error):
        """The published device time of the hours runs, observed against their compute and their own MFU.

        Their energy is computed on the published hours (above); here the same hours, given the FLOPs,
        the peak, the overhead and the MoE ratio, measure the run's MFU. Held-out runs drop this term
        as they drop their energy.
        """
        r = hours_runs
        link, low, high, loc, scale = mfu_prior(t, r)
        sd_h = jnp.sqrt(error**2 + design.hours_rounding_sd_ln[r] ** 2)
        implied, slope = _implied(link, hours_at_full(t, r) / dh_known[r], low, high)
        slope_ln = -slope / link(implied)  # d log(hours) / du
        value = run_latent(f"{MFU}_hours_run", link, loc, scale, implied, slope_ln, obs_mask[r], sd_h)
        numpyro.deterministic(f"{MFU}_hours_run", value)
        predicted = device_hours_at(t, r, value)
        numpyro.deterministic("predicted_device_hours", predicted)
        with numpyro.handlers.mask(mask=obs_mask[r]):
            numpyro.sample("log_published_device_hours", dist.Normal(jnp.log(predicted), sd_h), obs=np.log(dh_known[r]))

    def model(obs_mask):
        power_cls, fraction = class_values(POWER)
        _, server_w = class_values("server_power_w_per_device")
        _, pue = class_values("pue")
        error = numpyro.sample(REPORTING_ERROR, _hyper(table, REPORTING_ERROR).distribution)
        sd_ln = jnp.sqrt(error**2 + design.rounding_sd_ln**2)
        pue_factor = jnp.where(design.with_pue, pue, 1.0)
        host_w = jnp.where(design.host, server_w, 0.0)
        power_spread = spread(POWER, len(power_cls)) if power_cls else None
        if power_cls and (design.power_decades[design.index[POWER] >= 0] < 0).any():
            fraction = sized_power(fraction, numpyro.sample(POWER_SLOPE, _hyper(table, POWER_SLOPE).distribution))
        if len(power_runs) and power_cls:
            fraction = power_fraction(fraction, power_spread, pue_factor, host_w, obs_mask, sd_ln)
        numpyro.deterministic(f"{POWER}_run", fraction)
        power_w = energy.accelerator_power_w(design.tdp_w, fraction)
        t = mfu_terms() if len(mfu_runs) or len(hours_runs) else None
        device_hours = derived_device_hours(t, power_w, pue_factor, host_w, obs_mask, sd_ln) if len(mfu_runs) else jnp.asarray(dh_known)
        scoped = _figure_scope_energy(design, device_hours, power_w, server_w, pue)
        numpyro.deterministic("predicted_energy_mwh", scoped)
        with numpyro.handlers.mask(mask=obs_mask):
            numpyro.sample("log_reported_energy_mwh", dist.Normal(jnp.log(scoped), sd_ln), obs=design.log_reported)
        if len(hours_runs):
            published_device_hours(t, obs_mask, error)

    return model


def _device_time_factors(design: Design, table: PriorTable):
    """The whole-run device-time overhead (one value) and each run's MoE MFU ratio (1 for dense runs).

    Both are sampled from their bundled priors (priors/utilization.toml): one overhead for every run
    with an MFU of its own (device time derived, or published and observed against compute), one MoE
    ratio for every such mixture-of-experts run.
    """
    overhead = numpyro.sample(OVERHEAD, _hyper(table, OVERHEAD).distribution)
    if not design.moe_run.any():
        return overhead, jnp.ones(design.num_runs)
    ratio = numpyro.sample(MOE_RATIO, _hyper(table, MOE_RATIO).distribution)
    return overhead, jnp.where(design.moe_run, ratio, 1.0)


def _flop_shape_values(design: Design, table: PriorTable, q: str, runs: np.ndarray):
    """(len(runs),) values of `q` (context length, vocabulary, aspect ratio): each run's fixed number, else drawn from its prior."""
    fixed = design.flop_shape[q][runs]
    drawn = np.flatnonzero(np.isnan(fixed))
    values = jnp.asarray(np.nan_to_num(fixed, nan=1.0))
    if not len(drawn):
        return values
    prior = table.quantity(q).variants["default"]
    return values.at[drawn].set(numpyro.sample(q, prior.distribution.expand([len(drawn)]).to_event(1)))


def _train_flop(design: Design, table: PriorTable):
    """(R,) training FLOPs where the model needs them: published, or 6·N·D·(1 + δ) with δ the attention and logit FLOPs of each such run.

    δ = `compute.attention_logit_flops_fraction` of the run's parameters, context length and
    vocabulary (its own numbers where the scenario fixes them, else draws from their priors).
    """
    flop = jnp.asarray(np.nan_to_num(design.train_flop, nan=1.0))
    flops_runs = np.flatnonzero(design.flops_run >= 0)
    if not len(flops_runs):
        return flop
    shape = {q: _flop_shape_values(design, table, q, flops_runs) for q in FLOP_SHAPE_QUANTITIES}
    delta = compute.attention_logit_flops_fraction(design.parameters[flops_runs], shape["context_length_tokens"],
                                                   shape["vocabulary_size"], shape["hidden_per_layer_ratio"])
    numpyro.deterministic("flops_overhead_fraction", delta)
    from_nd = compute.train_flop_from_params_tokens(
        np.nan_to_num(design.parameters, nan=1.0), np.nan_to_num(design.tokens, nan=1.0),
        jnp.zeros(design.num_runs).at[flops_runs].set(delta),
    )
    return jnp.where(design.flops_run >= 0, from_nd, flop)
