"""Calibrate the uncertain factors on published training runs whose energy was measured.

A prior is a guess with a source; a measured run is evidence. This module conditions the class
priors of the carbon model on the runs of ``models/`` whose ``[reported] basis = "measured"``
with a hierarchical NumPyro model, samples it with NUTS, and turns the posterior into inputs the
engine draws instead of the priors (`calibrated_priors`).

The model, for runs r with a measured energy E_r (natural logs):

    class value      m_q,k ~ the bundled prior of quantity q, variant k   (k = the run's class)
    run value        x_q,r = T_k( u_q,r ),  u_q,r ~ N( T_k⁻¹(m_q,k) + s · h_r, σ_q,k )
    prediction       Ê_r  = the engine's energy equations on x_r, on the figure's own scope
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
- Device time is the run's own where published; else C·(1 + δ_r) / (peak · MFU_r), with δ_r the
  FLOPs-overhead prior.
- The energy scope of the figure (``[reported] energy_scope``) decides the prediction: accelerators
  and host times PUE ("facility"), without PUE ("it"), accelerators alone ("accelerator"), or
  accelerators alone times PUE ("accelerator_facility").
- NUTS samples u_q,r through `_run_latent`'s reparameterisation (centred on what the figure implies
  where it is observed, on the prior where it is held out), which keeps the geometry free of funnels
  whatever the reporting error and spreads.

The result is ArviZ InferenceData with groups posterior, posterior_predictive, observed_data,
constant_data and sample_stats. ``posterior_predictive`` holds, for each calibrated quantity and
class with data, ``<quantity>_new_run``: the value for a *new* run of that class (class value plus
a fresh run-to-run deviation, for the varying factors only where some run of the class varied in
it), which `calibrated_priors` hands to the engine. It is written
to netCDF as one group per InferenceData group through xarray's DataTree, which both ArviZ 0.x
(InferenceData) and ArviZ 1.x (DataTree) read (`load_calibration` returns the one the installed
ArviZ uses).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr
from numpyro.distributions.transforms import biject_to

from .data import data_dir
from .errors import CarbonMCError
from .sampling import package_version
from .footprint import compute, energy
from .io import ENGINE
from .priors import EmpiricalDraws, Prior, PriorTable, load_priors
from .scenario import Scenario, load_scenario

__all__ = [
    "CALIBRATED",
    "Calibrator",
    "calibrated_priors",
    "diagnostics",
    "fit_calibration",
    "groups",
    "load_calibration",
    "measured_runs",
    "save_calibration",
    "scenario_files",
]

# Quantities the calibration conditions, and the hyperprior of the run-to-run spread of each that
# varies from run to run (the others are one value per class).
CALIBRATED = ("accelerator_power_tdp_fraction", "server_power_w_per_device", "pue", "mfu_fraction")
RUN_SPREAD = {
    "accelerator_power_tdp_fraction": "between_run_sd_power_fraction_logit",
    "mfu_fraction": "between_run_sd_mfu_logit",
}
MFU_SLOPE = "mfu_scale_slope_logit_per_decade"
MFU_REFERENCE = "mfu_reference_parameters"
REPORTING_ERROR = "reporting_error_sd_ln"
# All calibrated inputs of one engine draw come from the same posterior draw: they share one
# random stream (see `carbon_mc.priors.EmpiricalDraws`), so their posterior correlation is kept.
STREAM = "calibrated_inputs"
CALIBRATION_PRIOR_FILES = ("accelerators.toml", "calibration.toml", "datacenter.toml", "power.toml", "utilization.toml")
DEFAULTS = {"num_chains": 4, "num_warmup": 500, "num_samples": 1000, "seed": 0}


def _arviz():
    with warnings.catch_warnings():  # ArviZ 0.2x announces its 1.x refactor with a FutureWarning on import
        warnings.filterwarnings("ignore", category=FutureWarning)
        import arviz

    return arviz


# ------------------------------------------------------------------------------------------------
# Measured runs -> arrays
# ------------------------------------------------------------------------------------------------
def measured_runs(models: str | Path | Iterable[str | Path] | None = None, *, priors: PriorTable | None = None) -> list[Scenario]:
    """Scenarios whose ``[reported]`` energy was measured (``basis = "measured"``), sorted by file name.

    Args:
      models: a directory of scenario TOML files, or an iterable of files (default: the bundled models/).
      priors: a `PriorTable` (default: the bundled priors/).
    """
    table = priors or load_priors()
    runs = [s for s in (load_scenario(p, priors=table) for p in scenario_files(models, basis="measured")) if s.reported.energy_mwh is not None]
    if not runs:
        raise CarbonMCError("no scenario with a measured energy ([reported] basis = \"measured\" and energy_mwh)", file=str(models or "models/"))
    return runs


def scenario_files(models: str | Path | Iterable[str | Path] | None = None, *, basis: str | None = None) -> list[Path]:
    """Scenario files (default: the bundled models/), those whose ``[reported] basis`` is `basis` if given.

    The basis is read from the TOML before a scenario is validated, so an unrelated broken file
    does not stop a calibration.
    """
    from .priors import read_toml

    if models is None:
        paths = sorted(data_dir("models").glob("*.toml"))
    elif isinstance(models, (str, Path)) and Path(models).is_dir():
        paths = sorted(Path(models).glob("*.toml"))
    elif isinstance(models, (str, Path)):
        raise CarbonMCError("not a directory of scenario files", file=str(models))
    else:
        paths = [Path(p) for p in models]
    if basis is None:
        return paths
    return [p for p in paths if read_toml(p).get("reported", {}).get("basis") == basis]


def rounding_sd_ln(value: float) -> float:
    """Standard deviation (natural-log scale) of the rounding of a printed figure.

    The figure is taken as rounded to its last written decimal place (to units for whole numbers):
    an error uniform on ± half a unit of that place, sd = half-unit / √3, relative to the value.
    """
    exponent = min(0, Decimal(repr(float(value))).normalize().as_tuple().exponent)
    return 0.5 * 10.0**exponent / math.sqrt(3.0) / float(value)


def _scope_terms(scope: str) -> tuple[bool, bool]:
    """(host power included, PUE included) for a reported energy scope."""
    return {"facility": (True, True), "it": (True, False), "accelerator": (False, False), "accelerator_facility": (False, True)}[scope]


@dataclass(frozen=True)
class Design:
    """The measured runs as arrays, and which class of each calibrated quantity each run uses.

    Per quantity q: ``classes[q]`` (sorted class names that some run needs), ``index[q]`` (R,)
    the run's class index or -1 where the run uses a fixed value (``fixed[q]``) or does not need q.
    """

    runs: tuple[Scenario, ...]
    names: tuple[str, ...]
    classes: dict[str, tuple[str, ...]]
    index: dict[str, np.ndarray]
    fixed: dict[str, np.ndarray]
    device_hours: np.ndarray  # (R,), NaN where derived from FLOPs and MFU
    train_flop: np.ndarray  # (R,) published FLOPs where device time is derived from them; NaN otherwise
    parameters: np.ndarray  # (R,) N and D where FLOPs come from 6·N·D·(1 + δ); NaN otherwise
    tokens: np.ndarray
    flops_run: np.ndarray  # (R,) index into the FLOPs-overhead draws, -1 if none
    mfu_run: np.ndarray  # (R,) index into the MFU run deviations, -1 if the run's device time is known
    scale_decades: np.ndarray  # (R,) min(0, log10(N / N_ref)); 0 without a parameter count
    tdp_w: np.ndarray
    peak_flop_per_s: np.ndarray
    host: np.ndarray  # (R,) bool: figure includes host power
    with_pue: np.ndarray  # (R,) bool: figure includes PUE
    log_reported: np.ndarray  # (R,) natural log of the reported energy (MWh)
    rounding_sd_ln: np.ndarray
    scopes: tuple[str, ...]

    @property
    def num_runs(self) -> int:
        return len(self.names)

    def class_counts(self, observed: np.ndarray) -> dict[str, np.ndarray]:
        """Per quantity, how many observed runs inform each class."""
        return {q: np.array([int(np.sum((self.index[q] == i) & observed)) for i in range(len(c))]) for q, c in self.classes.items()}

    def varying_counts(self, observed: np.ndarray) -> dict[str, np.ndarray]:
        """Per quantity with run-to-run spread, how many observed runs of each class vary in it."""
        varies = {"accelerator_power_tdp_fraction": self.mfu_run < 0, "mfu_fraction": self.mfu_run >= 0}
        return {q: np.array([int(np.sum((self.index[q] == i) & observed & varies[q])) for i in range(len(self.classes[q]))])
                for q in RUN_SPREAD}


def build_design(runs: Sequence[Scenario], table: PriorTable) -> Design:
    """Arrays for the NumPyro model from measured scenarios (see `Design`)."""
    names = tuple(s.name for s in runs)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[0]
        raise CarbonMCError(f"two measured runs share the name {dup!r}; names must be unique")
    n_ref = table.quantity(MFU_REFERENCE).variants["default"].fixed_value
    needs: dict[str, list] = {q: [] for q in CALIBRATED}  # per run: class name, a fixed number, or None
    device_hours, train_flop, params, tokens, flops_run, mfu_run, scale, tdp, peak, host, with_pue = ([] for _ in range(11))
    n_flops = n_mfu = 0
    for s in runs:
        spec = table.hardware_spec(s.hardware, file=s.file)
        ctx = s.context(table)
        has_host, has_pue = _scope_terms(s.reported.energy_scope)
        used = {"accelerator_power_tdp_fraction": True, "server_power_w_per_device": has_host, "pue": has_pue,
                "mfu_fraction": s.derives_device_time}
        needed = set(s.needed_quantities())
        for q in CALIBRATED:
            if not used[q]:
                needs[q].append(None)
                continue
            if q not in needed:
                raise CarbonMCError(f"the reported energy scope {s.reported.energy_scope!r} needs {q}, which this run does not draw", file=s.file, key="reported.energy_scope")
            if q in s.overrides:
                prior = s.resolve_priors(table)[q]
                if not prior.is_fixed:
                    raise CarbonMCError(f"a calibration run may fix {q} to a number but not replace its prior", file=s.file, key=f"priors.{q}")
                needs[q].append(prior.fixed_value)
            else:
                needs[q].append(ctx[table.quantity(q).selected_by])
        device_hours.append(np.nan if s.derives_device_time else s.device_hours)
        if s.derives_device_time:
            train_flop.append(s.train_flops if s.train_flops is not None else np.nan)
            flops_run.append(n_flops if s.derives_flop else -1)
            n_flops += s.derives_flop
            mfu_run.append(n_mfu)
            n_mfu += 1
        else:
            train_flop.append(np.nan)
            flops_run.append(-1)
            mfu_run.append(-1)
        params.append(s.parameters if s.derives_device_time and s.derives_flop else np.nan)
        tokens.append(s.tokens if s.derives_device_time and s.derives_flop else np.nan)
        scale.append(min(0.0, math.log10(s.parameters / n_ref)) if s.parameters else 0.0)
        tdp.append(float(spec["tdp_w"]))
        peak.append(float(spec["peak_flop_per_s"]))
        host.append(has_host)
        with_pue.append(has_pue)
    classes, index, fixed = {}, {}, {}
    for q in CALIBRATED:
        cls = tuple(sorted({v for v in needs[q] if isinstance(v, str)}))
        classes[q] = cls
        index[q] = np.array([cls.index(v) if isinstance(v, str) else -1 for v in needs[q]], dtype=np.int32)
        fixed[q] = np.array([v if isinstance(v, float) else np.nan for v in needs[q]], dtype=np.float64)
    reported = np.array([s.reported.energy_mwh for s in runs], dtype=np.float64)
    return Design(
        runs=tuple(runs), names=names, classes=classes, index=index, fixed=fixed,
        device_hours=np.array(device_hours, dtype=np.float64), train_flop=np.array(train_flop, dtype=np.float64),
        parameters=np.array(params, dtype=np.float64), tokens=np.array(tokens, dtype=np.float64),
        flops_run=np.array(flops_run, dtype=np.int32), mfu_run=np.array(mfu_run, dtype=np.int32),
        scale_decades=np.array(scale, dtype=np.float64), tdp_w=np.array(tdp), peak_flop_per_s=np.array(peak),
        host=np.array(host, dtype=bool), with_pue=np.array(with_pue, dtype=bool), log_reported=np.log(reported),
        rounding_sd_ln=np.array([rounding_sd_ln(v) for v in reported]), scopes=tuple(s.reported.energy_scope for s in runs),
    )


# ------------------------------------------------------------------------------------------------
# The NumPyro model
# ------------------------------------------------------------------------------------------------
def _class_site(q: str, cls: str) -> str:
    return f"{q}_class[{cls}]"


def _link(prior: Prior):
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


def _run_latent(name: str, link, loc, scale, implied, slope_ln, observed, sd_ln):
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

    Returns (u, dT/du at u). Used only to centre the reparameterisation of `_run_latent`, so it
    must be smooth in the parameters but need not be exact: a figure that no value inside the
    support reproduces gets a far-out u, a tiny dT/du, and so the prior's centre and scale.
    `low` and `high` may be infinite (one-sided or unbounded supports).
    """
    two_sided = np.isfinite(low) & np.isfinite(high)
    margin = np.where(two_sided, 0.01 * np.where(two_sided, high - low, 1.0), 1e-3 * np.maximum(1.0, np.abs(np.nan_to_num(low, posinf=0.0, neginf=0.0))))
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


def make_model(design: Design, table: PriorTable) -> Callable:
    """The NumPyro model of `design`: ``model(obs_mask)``; `obs_mask` (R,) bool leaves runs out.

    Run-to-run deviations: a run whose device time is published varies in its accelerator power
    fraction; a run whose device time is derived from FLOPs varies in its MFU (its energy fixes only
    power / MFU, so one deviation per run), on the unconstrained scale of its class prior.
    """
    priors = {q: [table.quantity(q).variants[c] for c in design.classes[q]] for q in CALIBRATED}
    n_runs = design.num_runs
    derived = design.mfu_run >= 0
    power_runs, mfu_runs = np.flatnonzero(~derived), np.flatnonzero(derived)
    flops_runs = np.flatnonzero(design.flops_run >= 0)
    overhead = table.quantity("flops_overhead_fraction").variants["default"]
    dh_known = np.nan_to_num(design.device_hours, nan=1.0)
    reported_w_h = np.exp(design.log_reported) * energy.WH_PER_MWH  # reported energy in Wh
    sd_round2 = design.rounding_sd_ln**2
    power_q, mfu_q = "accelerator_power_tdp_fraction", "mfu_fraction"

    def class_values(q: str):
        values = [numpyro.sample(_class_site(q, c), p.distribution) for c, p in zip(design.classes[q], priors[q])]
        return values, _gather(design, q, values)

    def spread(q: str, n: int):
        return numpyro.sample(f"{RUN_SPREAD[q]}[{q}]", _hyper(table, RUN_SPREAD[q]).distribution.expand([n]).to_event(1))

    def model(obs_mask):
        power_cls, fraction = class_values(power_q)
        _, server_w = class_values("server_power_w_per_device")
        _, pue = class_values("pue")
        error = numpyro.sample(REPORTING_ERROR, _hyper(table, REPORTING_ERROR).distribution)
        sd_ln = jnp.sqrt(error**2 + sd_round2)
        pue_factor = jnp.where(design.with_pue, pue, 1.0)
        host_w = jnp.where(design.host, server_w, 0.0)
        power_spread = spread(power_q, len(power_cls)) if power_cls else None
        if len(power_runs) and power_cls:
            r, idx = power_runs, design.index[power_q][power_runs]
            link = _run_link(priors[power_q], idx)
            low, high = _support_bounds(priors[power_q], idx)
            needed_w = reported_w_h[r] / (dh_known[r] * pue_factor[r]) - host_w[r]
            implied, slope = _implied(link, needed_w / design.tdp_w[r], low, high)
            slope_ln = design.tdp_w[r] * slope / (design.tdp_w[r] * link(implied) + host_w[r])
            value = _run_latent(f"{power_q}_run", link, link.inv(fraction[r]), power_spread[idx], implied, slope_ln, obs_mask[r], sd_ln[r])
            fraction = fraction.at[r].set(value)
        numpyro.deterministic(f"{power_q}_run", fraction)
        power_w = energy.accelerator_power_w(design.tdp_w, fraction)
        device_hours = jnp.asarray(dh_known)
        if len(mfu_runs):
            mfu_cls, mfu = class_values(mfu_q)
            mfu_spread = spread(mfu_q, len(mfu_cls))
            slope_decade = numpyro.sample(MFU_SLOPE, _hyper(table, MFU_SLOPE).distribution)
            flop = jnp.asarray(np.nan_to_num(design.train_flop, nan=1.0))
            if len(flops_runs):
                delta = numpyro.sample("flops_overhead_fraction", overhead.distribution.expand([len(flops_runs)]).to_event(1))
                from_nd = compute.train_flop_from_params_tokens(
                    np.nan_to_num(design.parameters, nan=1.0), np.nan_to_num(design.tokens, nan=1.0),
                    jnp.zeros(n_runs).at[flops_runs].set(delta),
                )
                flop = jnp.where(design.flops_run >= 0, from_nd, flop)
            r, idx = mfu_runs, design.index[mfu_q][mfu_runs]
            link = _run_link(priors[mfu_q], idx)
            low, high = _support_bounds(priors[mfu_q], idx)
            hours_at_full = compute.device_hours_from_flop(flop[r], design.peak_flop_per_s[r], 1.0)
            needed_mfu = hours_at_full * (power_w[r] + host_w[r]) * pue_factor[r] / reported_w_h[r]
            implied, slope = _implied(link, needed_mfu, low, high)
            slope_ln = -slope / link(implied)
            loc = link.inv(mfu[r]) + slope_decade * design.scale_decades[r]
            value = _run_latent(f"{mfu_q}_run", link, loc, mfu_spread[idx], implied, slope_ln, obs_mask[r], sd_ln[r])
            numpyro.deterministic(f"{mfu_q}_run", value)
            device_hours = device_hours.at[r].set(compute.device_hours_from_flop(flop[r], design.peak_flop_per_s[r], value))
        it_mwh = energy.it_energy_mwh(device_hours, power_w, server_w)
        acc_mwh = energy.accelerator_energy_mwh(device_hours, power_w)
        scoped = jnp.where(design.host, it_mwh, acc_mwh)
        scoped = jnp.where(design.with_pue, energy.facility_energy_mwh(scoped, pue), scoped)
        numpyro.deterministic("predicted_energy_mwh", scoped)
        with numpyro.handlers.mask(mask=obs_mask):
            numpyro.sample("log_reported_energy_mwh", dist.Normal(jnp.log(scoped), sd_ln), obs=design.log_reported)

    return model


# ------------------------------------------------------------------------------------------------
# Inference
# ------------------------------------------------------------------------------------------------
_PROGRAMS: dict = {}  # compiled chain programs, shared by Calibrators of the same runs, priors and settings


class Calibrator:
    """NUTS on the calibration model of a set of measured runs.

    One compiled program runs one chain, warm-up adaptation included; every chain of every fit
    (leave-one-out refits too) reuses it, so a Calibrator compiles once.

    >>> cal = Calibrator(measured_runs())
    >>> idata = cal.fit(seed=0)                                       # all runs
    >>> full, loo = cal.fit_many([(), ["GPT-3 175B"]], seed=0)       # and GPT-3 held out
    """

    def __init__(
        self,
        runs: Sequence[Scenario] | None = None,
        *,
        priors: PriorTable | None = None,
        num_chains: int = DEFAULTS["num_chains"],
        num_warmup: int = DEFAULTS["num_warmup"],
        num_samples: int = DEFAULTS["num_samples"],
        target_accept_prob: float = 0.9,
        max_tree_depth: int = 8,
    ):
        if min(num_chains, num_warmup, num_samples) < 1:
            raise CarbonMCError("num_chains, num_warmup and num_samples must be >= 1")
        self.table = priors or load_priors()
        self.runs = tuple(runs) if runs is not None else tuple(measured_runs(priors=self.table))
        self.design = build_design(self.runs, self.table)
        self.settings = {"num_chains": num_chains, "num_warmup": num_warmup, "num_samples": num_samples,
                         "target_accept_prob": target_accept_prob, "max_tree_depth": max_tree_depth}
        self.model = make_model(self.design, self.table)
        self._compiled: dict = {}

    def observed_mask(self, held_out: Iterable[str] = ()) -> np.ndarray:
        """(R,) True for the runs whose figure the fit uses."""
        held_out = list(held_out)
        unknown = [n for n in held_out if n not in self.design.names]
        if unknown:
            from .errors import close_matches

            raise CarbonMCError(f"no measured run named {unknown[0]!r}; {close_matches(unknown[0], self.design.names)}")
        observed = np.array([n not in held_out for n in self.design.names])
        if not observed.any():
            raise CarbonMCError("every measured run is held out: nothing to calibrate on")
        return observed

    def _cache_key(self) -> str:
        """What the compiled programs depend on: the runs, the priors and the sampler settings."""
        runs = [(s.name, s.file, s.sha256 or repr(s)) for s in self.runs]
        settings = {k: v for k, v in self.settings.items() if k != "num_chains"}  # the program runs one chain
        return json.dumps([runs, self.table.files, settings], sort_keys=True, default=str)

    def _programs(self):
        if not self._compiled and self._cache_key() in _PROGRAMS:
            self._compiled = _PROGRAMS[self._cache_key()]
        if not self._compiled:
            from numpyro.infer.hmc import hmc
            from numpyro.infer.util import get_potential_fn

            # numpyro.infer.util.initialize_model would run the model eagerly, op by op (hundreds of
            # small compilations); the sites' shapes come from an abstract trace instead.
            potential_fn_gen, postprocess_fn_gen = get_potential_fn(self.model, {}, dynamic_args=True, replay_model=True)
            init_kernel, sample_kernel = hmc(potential_fn_gen=potential_fn_gen, algo="NUTS")
            num_warmup, num_samples = self.settings["num_warmup"], self.settings["num_samples"]

            def chain(rng_key, z_init, observed):
                init_key, run_key = jax.random.split(rng_key)
                state = init_kernel(z_init, num_warmup, target_accept_prob=self.settings["target_accept_prob"],
                                    max_tree_depth=self.settings["max_tree_depth"], model_args=(observed,), rng_key=run_key)

                def step(state, _):
                    state = sample_kernel(state, model_args=(observed,))
                    return state, (state.z, state.diverging, state.num_steps)

                _, (z, diverging, num_steps) = jax.lax.scan(step, state, None, length=num_warmup + num_samples)
                z = jax.tree.map(lambda v: v[num_warmup:], z)
                return z, diverging[num_warmup:], num_steps[num_warmup:]

            self._compiled = {
                "chain": jax.jit(chain),
                "constrain": jax.jit(lambda z, observed: jax.vmap(postprocess_fn_gen(observed))(z)),
                "sites": self._site_shapes(),
            }
            if len(_PROGRAMS) >= 4:
                _PROGRAMS.clear()
            _PROGRAMS[self._cache_key()] = self._compiled
        return self._compiled

    def _initial_params(self, rng_key, num: int):
        """Starting points, one per chain: uniform in (-1, 1) on the unconstrained scale (numpyro's init_to_uniform)."""
        sites = self._programs()["sites"]
        keys = jax.random.split(rng_key, len(sites))
        return {name: jax.random.uniform(k, (num,) + shape, minval=-1.0, maxval=1.0) for k, (name, shape) in zip(keys, sites.items())}

    def _site_shapes(self) -> dict[str, tuple]:
        """{latent sample site: shape on the unconstrained scale}, from an abstract trace of the model."""
        found = {}

        def trace(observed):
            tr = numpyro.handlers.trace(numpyro.handlers.seed(self.model, 0)).get_trace(observed)
            for name, site in tr.items():
                if site["type"] == "sample" and not site["is_observed"]:
                    shape = jnp.shape(site["value"])
                    found[name] = tuple(biject_to(site["fn"].support).inverse_shape(shape))
            return jnp.zeros(())

        jax.make_jaxpr(trace)(jnp.ones(self.design.num_runs, bool))
        return dict(sorted(found.items()))

    def fit_many(self, held_out_sets: Sequence[Iterable[str]], *, seed: int = DEFAULTS["seed"], num_chains: int | None = None) -> list:
        """One fit per set of held-out run names (``()`` for none); InferenceData each.

        Every fit starts its chains from the same points and reuses the one compiled chain program;
        `num_chains` overrides the Calibrator's for these fits.
        """
        masks = [self.observed_mask(h) for h in held_out_sets]
        num_chains = num_chains or self.settings["num_chains"]
        programs = self._programs()
        init_key, run_key = jax.random.split(jax.random.key(seed))
        z0 = self._initial_params(init_key, num_chains)

        def run_chain(job):
            f, c = job
            key = jax.random.split(jax.random.fold_in(run_key, f), num_chains)[c]
            observed = jnp.asarray(masks[f])
            z, diverging, num_steps = programs["chain"](key, {k: v[c] for k, v in z0.items()}, observed)
            constrained = programs["constrain"](z, observed)
            return {k: np.asarray(v) for k, v in constrained.items()}, np.asarray(diverging), np.asarray(num_steps)

        # Chains are independent (each its own key), so they may run on several cores at once;
        # the result does not depend on which finishes first.
        jobs = [(f, c) for f in range(len(masks)) for c in range(num_chains)]
        with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
            done = dict(zip(jobs, pool.map(run_chain, jobs)))
        fits = []
        for f, observed in enumerate(masks):
            chains = [done[(f, c)] for c in range(num_chains)]
            samples = {k: np.stack([ch[0][k] for ch in chains]) for k in chains[0][0]}
            extra = {"diverging": np.stack([ch[1] for ch in chains]), "num_steps": np.stack([ch[2] for ch in chains])}
            fits.append(_inference_data(self, samples, extra, observed, seed))
        return fits

    def fit(self, *, seed: int = DEFAULTS["seed"], held_out: Iterable[str] = (), num_chains: int | None = None):
        """Sample the posterior given every run but `held_out` (names); returns InferenceData."""
        return self.fit_many([tuple(held_out)], seed=seed, num_chains=num_chains)[0]


def fit_calibration(runs: Sequence[Scenario] | None = None, *, seed: int = DEFAULTS["seed"], priors: PriorTable | None = None, **settings):
    """Calibrate on measured runs (default: the bundled ones) with NUTS; returns InferenceData.

    `settings`: num_chains, num_warmup, num_samples, target_accept_prob (see `Calibrator`).
    """
    return Calibrator(runs, priors=priors, **settings).fit(seed=seed)


def _inference_data(cal: Calibrator, samples: dict, extra: dict, observed: np.ndarray, seed: int):
    """Samples of one fit -> InferenceData (posterior, posterior_predictive, observed_data, constant_data, sample_stats)."""
    d, table = cal.design, cal.table
    chains, draws = next(iter(samples.values())).shape[:2]
    base = {"chain": np.arange(chains), "draw": np.arange(draws)}
    counts = d.class_counts(observed)
    varying = d.varying_counts(observed)  # a new run's spread is learnt only from runs that varied in the quantity
    subsets = {  # runs of each run-level dimension
        "run": list(d.names),
        "run_power": [d.names[i] for i in np.flatnonzero(d.mfu_run < 0)],
        "run_mfu": [d.names[i] for i in np.flatnonzero(d.mfu_run >= 0)],
        "run_flops": [d.names[i] for i in np.flatnonzero(d.flops_run >= 0)],
    }
    class_coords = {table.quantity(q).selected_by: list(d.classes[q]) for q in CALIBRATED if d.classes[q]}

    def var(dims, values, units, long_name):
        return xr.Variable(("chain", "draw", *dims), np.asarray(values), {"units": units, "long_name": long_name})

    post = {}
    for q in CALIBRATED:
        if not d.classes[q]:
            continue
        meta, dim = table.quantity(q), table.quantity(q).selected_by
        post[f"{q}_class"] = var((dim,), np.stack([samples[_class_site(q, c)] for c in d.classes[q]], axis=-1),
                                 meta.units, f"{meta.long_name}: typical value of the {dim}")
        if q in RUN_SPREAD and f"{RUN_SPREAD[q]}[{q}]" in samples:
            hyper = table.quantity(RUN_SPREAD[q])
            post[RUN_SPREAD[q]] = var((dim,), samples[f"{RUN_SPREAD[q]}[{q}]"], hyper.units, hyper.long_name)
    for q, dim in (("accelerator_power_tdp_fraction", "run_power"), ("mfu_fraction", "run_mfu")):
        if f"{q}_run_eta" in samples:
            post[f"{q}_run_eta"] = var((dim,), samples[f"{q}_run_eta"], "1", f"sampling coordinate of {q}_run_latent (standardised)")
            post[f"{q}_run_latent"] = var((dim,), samples[f"{q}_run_latent"], "1", f"{q} of each run that varies in it, on its class prior's unconstrained scale")
    for name in (MFU_SLOPE, REPORTING_ERROR):
        if name in samples:
            meta = table.quantity(name)
            post[name] = var((), samples[name], meta.units, meta.long_name)
    if "flops_overhead_fraction" in samples:
        meta = table.quantity("flops_overhead_fraction")
        post["flops_overhead_fraction"] = var(("run_flops",), samples["flops_overhead_fraction"], meta.units, meta.long_name)
    post["accelerator_power_tdp_fraction_run"] = var(("run",), samples["accelerator_power_tdp_fraction_run"], "1", "accelerator power fraction of each run")
    if "mfu_fraction_run" in samples:
        post["mfu_fraction_run"] = var(("run_mfu",), samples["mfu_fraction_run"], "1", "MFU of each run whose device time is derived")
    post["predicted_energy_mwh"] = var(("run",), samples["predicted_energy_mwh"], "MWh", "energy of each run on the scope of its reported figure")
    used = {dim for v in post.values() for dim in v.dims}
    posterior = xr.Dataset(post, coords={**base, **{k: v for k, v in {**subsets, **class_coords}.items() if k in used}})

    # Posterior predictive: replicated figures, and each calibrated quantity for a new run of each
    # class that had data (class value plus a fresh run-to-run deviation).
    rng = np.random.default_rng([seed, 1])
    sd = np.sqrt(samples[REPORTING_ERROR][..., None] ** 2 + d.rounding_sd_ln**2)
    replicated = samples["predicted_energy_mwh"] * np.exp(sd * rng.standard_normal(sd.shape))
    pp = {"reported_energy_mwh": xr.DataArray(var(("run",), replicated, "MWh", "replicated reported energy (reporting and rounding error included)"),
                                              coords={**base, "run": subsets["run"]})}
    for q in CALIBRATED:
        keep = [i for i, n in enumerate(varying[q] if q in RUN_SPREAD else counts[q]) if n > 0]
        if not keep:
            continue
        meta, dim = table.quantity(q), table.quantity(q).selected_by
        cols = []
        for i in keep:
            value = samples[_class_site(q, d.classes[q][i])]
            if q in RUN_SPREAD:
                link = _link(meta.variants[d.classes[q][i]])
                spread = samples[f"{RUN_SPREAD[q]}[{q}]"][..., i]
                value = np.asarray(link(link.inv(jnp.asarray(value)) + spread * rng.standard_normal(value.shape)))
            cols.append(value)
        note = f" (model size at or above {MFU_REFERENCE})" if q == "mfu_fraction" else ""
        pp[f"{q}_new_run"] = xr.DataArray(var((dim,), np.stack(cols, axis=-1), meta.units, f"{meta.long_name}: a new run of the {dim}{note}"),
                                          coords={**base, dim: [d.classes[q][i] for i in keep]})
    posterior_predictive = xr.Dataset(pp)
    observed_data = xr.Dataset(
        {"reported_energy_mwh": (("run",), np.exp(d.log_reported), {"units": "MWh", "long_name": "published energy, on the scope in constant_data.energy_scope"})},
        coords={"run": subsets["run"]},
    )
    constant = {
        "energy_scope": (("run",), np.array(d.scopes, dtype=object)),
        "scenario_file": (("run",), np.array([Path(s.file).name for s in d.runs], dtype=object)),
        "hardware": (("run",), np.array([s.hardware for s in d.runs], dtype=object)),
        "observed": (("run",), observed.astype(np.int8), {"long_name": "1 if the run's figure was used, 0 if held out"}),
        "rounding_sd_ln": (("run",), d.rounding_sd_ln, {"units": "1", "long_name": "rounding error of the printed figure (natural-log sd)"}),
        "device_hours": (("run",), d.device_hours, {"units": "h", "long_name": "published device-hours (NaN where derived)"}),
        "parameters_scale_decades": (("run",), d.scale_decades, {"units": "1", "long_name": "min(0, log10(parameters / mfu_reference_parameters))"}),
    }
    for q in CALIBRATED:
        if d.classes[q]:
            dim = table.quantity(q).selected_by
            constant[f"{q}_class_runs"] = ((dim,), counts[q], {"long_name": f"observed runs informing each {dim}"})
            if q in RUN_SPREAD:
                constant[f"{q}_class_varying_runs"] = ((dim,), varying[q], {"long_name": f"observed runs of each {dim} that vary in {q}"})
    constant_data = xr.Dataset(constant, coords={"run": subsets["run"], **class_coords})
    sample_stats = xr.Dataset(
        {"diverging": (("chain", "draw"), extra["diverging"].astype(np.int8)), "n_steps": (("chain", "draw"), extra["num_steps"].astype(np.int32))},
        coords=base,
    )
    attrs = {
        "title": "carbon-mc calibration: posterior of the uncertain factors given measured training runs",
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "carbon_mc_version": package_version("carbon-mc"),
        "numpyro_version": numpyro.__version__,
        "jax_version": jax.__version__,
        "inference_library": "numpyro",
        "sampler": "NUTS",
        "seed": int(seed),
        **{k: v for k, v in cal.settings.items()},
        "num_chains": int(chains),
        "chain_method": "one compiled chain program, chains run one after another",
        "runs": json.dumps({s.name: Path(s.file).name for s in d.runs}),
        "held_out": json.dumps([n for n, o in zip(d.names, observed) if not o]),
        "priors_sha256": json.dumps({f: h for f, h in table.files.items() if f in CALIBRATION_PRIOR_FILES}, sort_keys=True),
        "scenarios_sha256": json.dumps({Path(s.file).name: s.sha256 or "" for s in d.runs}, sort_keys=True),
    }
    groups_ = {
        "posterior": posterior, "posterior_predictive": posterior_predictive, "observed_data": observed_data,
        "constant_data": constant_data, "sample_stats": sample_stats,
    }
    for ds in groups_.values():
        ds.attrs.update(attrs)
    return _to_inference_data(groups_)


# ------------------------------------------------------------------------------------------------
# InferenceData in and out (ArviZ 0.x InferenceData or ArviZ 1.x DataTree)
# ------------------------------------------------------------------------------------------------
def _arviz_major() -> int:
    return int(_arviz().__version__.split(".")[0])


def _to_inference_data(groups_: dict[str, xr.Dataset]):
    if _arviz_major() >= 1:
        return xr.DataTree.from_dict({f"/{name}": ds for name, ds in groups_.items()})
    return _arviz().InferenceData(**groups_)


def groups(idata) -> dict[str, xr.Dataset]:
    """{group name: Dataset} of an InferenceData (ArviZ 0.x) or a DataTree (ArviZ 1.x)."""
    if isinstance(idata, xr.DataTree):
        return {name: node.to_dataset() for name, node in idata.children.items()}
    return {name: idata[name] for name in idata.groups()}


def save_calibration(idata, path: str | Path) -> Path:
    """Write a calibration to netCDF (one group per InferenceData group), atomically."""
    from .io import atomic_write

    tree = xr.DataTree.from_dict({f"/{name}": ds for name, ds in groups(idata).items()})
    return atomic_write(path, lambda tmp: tree.to_netcdf(tmp, engine=ENGINE))


def load_calibration(path: str | Path):
    """Read a calibration written by `save_calibration` (or by ``carbon-mc calibrate``)."""
    path = Path(path)
    if not path.exists():
        raise CarbonMCError("no such file", file=str(path))
    try:
        with xr.open_datatree(path, engine=ENGINE) as tree:
            found = {name: node.to_dataset().load() for name, node in tree.children.items()}
    except (OSError, ValueError) as exc:
        raise CarbonMCError(f"not a readable calibration file: {exc}", file=str(path)) from None
    if "posterior" not in found or "posterior_predictive" not in found:
        raise CarbonMCError("not a carbon-mc calibration (no posterior / posterior_predictive groups)", file=str(path))
    return _to_inference_data(found)


def diagnostics(idata) -> xr.Dataset:
    """r_hat and bulk ESS (ArviZ) of every sampled latent, plus the number of divergent transitions."""
    az = _arviz()
    post = groups(idata)["posterior"]
    latents = [v for v in post.data_vars if not v.endswith("_run") and v != "predicted_energy_mwh"]
    rhat = az.rhat(post[latents])
    ess = az.ess(post[latents], method="bulk")
    out = xr.Dataset({f"{v}_r_hat": rhat[v] for v in latents} | {f"{v}_ess_bulk": ess[v] for v in latents})
    out.attrs["divergences"] = int(groups(idata)["sample_stats"]["diverging"].sum())
    out.attrs["latents"] = json.dumps(latents)
    return out


# ------------------------------------------------------------------------------------------------
# Posterior -> inputs of the engine
# ------------------------------------------------------------------------------------------------
def _check_priors_match(idata, table: PriorTable, source: str) -> None:
    attrs = groups(idata)["posterior"].attrs
    stored = json.loads(attrs.get("priors_sha256", "{}"))
    now = {f: h for f, h in table.files.items() if f in CALIBRATION_PRIOR_FILES}
    changed = sorted(f for f in set(stored) | set(now) if stored.get(f) != now.get(f))
    if changed:
        raise CarbonMCError(
            f"calibrated with other priors ({', '.join(changed)} changed since); run `carbon-mc calibrate` again",
            file=source,
        )


def _varying_quantity(scenario: Scenario) -> str:
    """The factor a run of this kind varies in, run to run, in the calibration model."""
    return "mfu_fraction" if scenario.derives_device_time else "accelerator_power_tdp_fraction"


def calibrated_priors(idata, scenario: Scenario, *, priors: PriorTable | None = None, source: str = "calibration") -> tuple[dict[str, Prior], dict[str, str]]:
    """The calibrated inputs of `scenario`, and what happened to each calibrated quantity.

    Returns ``(posterior, status)``: `posterior` maps quantity names to Priors the engine draws
    instead of the bundled ones (pass it as ``estimate(..., posterior=posterior)``); `status` maps
    each calibrated quantity the run needs to ``"calibrated (<class>, n runs)"`` or the reason it
    keeps its prior.

    As in the fit, a run varies from its class in one factor: its power fraction when its device
    time is published, its MFU when device time comes from FLOPs. That factor is drawn from the
    posterior predictive for a *new* run of the class (class value plus run-to-run spread; MFU
    shifted by the size term for the run's parameters), provided some measured run of the class
    varied in it; the other calibrated quantities are drawn at their class value, provided some
    measured run informed the class. Otherwise the quantity keeps its prior, and `status` says why.
    """
    table = priors or load_priors()
    _check_priors_match(idata, table, source)
    g = groups(idata)
    pp, post, const = g["posterior_predictive"], g["posterior"], g["constant_data"]
    ctx = scenario.context(table)
    needed = scenario.needed_quantities()
    out: dict[str, Prior] = {}
    status: dict[str, str] = {}
    for q in CALIBRATED:
        if q not in needed:
            continue
        meta = table.quantity(q)
        cls = ctx.get(meta.selected_by)
        var = f"{q}_new_run"
        if q in scenario.overrides:
            status[q] = "prior (fixed or replaced in the scenario)"
            continue
        counts = const.get(f"{q}_class_runs")
        informed = counts is not None and cls in counts.coords[meta.selected_by].values and int(counts.sel({meta.selected_by: cls})) > 0
        spread_note = ""
        if q in RUN_SPREAD and q != _varying_quantity(scenario):
            # The model lets a run vary in one factor only: its MFU where device time is derived
            # from FLOPs, else its power fraction. The other is drawn at its class value, as in the fit.
            if not informed:
                status[q] = f"prior (no measured run of {meta.selected_by} {cls!r})"
                continue
            values = post[f"{q}_class"].sel({meta.selected_by: cls}).values.ravel()
            spread_note = ", class value"
        elif var not in pp or cls not in pp[var].coords[meta.selected_by].values:
            why = "whose device time was published" if q == "accelerator_power_tdp_fraction" else "with device time from FLOPs"
            status[q] = (f"prior (no measured run of {meta.selected_by} {cls!r} {why})" if q in RUN_SPREAD and informed
                         else f"prior (no measured run of {meta.selected_by} {cls!r})")
            continue
        else:
            values = pp[var].sel({meta.selected_by: cls}).values.ravel()
        if q == "mfu_fraction":
            if scenario.parameters is None:
                status[q] = "prior (the size term needs the run's parameters)"
                continue
            n_ref = table.quantity(MFU_REFERENCE).variants["default"].fixed_value
            decades = min(0.0, math.log10(scenario.parameters / n_ref))
            link = _link(meta.variants[cls])
            values = np.asarray(link(link.inv(jnp.asarray(values)) + post[MFU_SLOPE].values.ravel() * decades))
        runs = int(const[f"{q}_class_runs"].sel({meta.selected_by: cls}))
        out[q] = Prior(
            quantity=q, variant=f"{cls} (calibrated)", family="posterior_predictive",
            params={"calibration": source, "class": cls, "measured_runs": runs, "posterior_draws": int(values.size),
                    "draws_sha256": hashlib.sha256(np.asarray(values, np.float32).tobytes()).hexdigest()},
            distribution=EmpiricalDraws(values, stream=STREAM), units=meta.units, long_name=meta.long_name,
            description=(f"{'Posterior of the class value' if spread_note else 'Posterior predictive for a new run'} of "
                         f"{meta.selected_by} {cls!r}, given {runs} measured run(s)"),
            source=f"carbon-mc calibrate ({source}): prior {meta.variants[cls].source}; conditioned on measured runs",
        )
        status[q] = f"calibrated ({cls}, {runs} run{'s' if runs != 1 else ''}{spread_note})"
    return out, status
