"""A calibration's posterior as inputs of the engine (``carbon-mc run FILE --calibrated NC``).

`calibrated_priors` turns the posterior (predictive) draws of the classes a scenario uses into
`carbon_mc.priors.EmpiricalDraws` priors, all on one random stream (`STREAM`) so that the engine
draws every calibrated input of one draw from the same posterior draw and keeps their correlation.
A posterior is used only with the priors it was fitted with (`check_priors_match`) and, when read
from a file for a run, only if it converged (`check_converged`, on the thresholds of
`carbon_mc.calibration.report.CONVERGENCE`).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from ..errors import CarbonMCError
from ..priors import EmpiricalDraws, Prior, PriorTable, load_priors
from ..sampling.args import check_priors, check_text, check_training_scenario
from ..scenarios.training import Scenario
from .design import CALIBRATED, GLOBAL, MFU_REFERENCE, MFU_SLOPE, POWER_REFERENCE, POWER_SLOPE, RUN_SPREAD, class_selector
from .inference_data import CALIBRATION_PRIOR_FILES, check_idata, groups, load_calibration
from .model import support_link
from .report import convergence, convergence_problem

__all__ = ["STREAM", "calibrated_priors", "check_converged", "check_priors_match", "load_calibrated_priors"]

# All calibrated inputs of one engine draw come from the same posterior draw: they share one
# random stream (see `carbon_mc.priors.EmpiricalDraws`), so their posterior correlation is kept.
STREAM = "calibrated_inputs"


def check_priors_match(idata, table: PriorTable, source: str) -> None:
    """Refuse a calibration fitted with other prior files than `table`'s.

    Raises:
      CarbonMCError: a calibration prior file changed since the fit (named in the message).
    """
    attrs = groups(idata)["posterior"].attrs
    stored = json.loads(attrs.get("priors_sha256", "{}"))
    now = {f: h for f, h in table.files.items() if f in CALIBRATION_PRIOR_FILES}
    changed = sorted(f for f in set(stored) | set(now) if stored.get(f) != now.get(f))
    if changed:
        raise CarbonMCError(
            f"calibrated with other priors ({', '.join(changed)} changed since); run `carbon-mc calibrate` again",
            file=source,
        )


def check_converged(idata, source: str) -> None:
    """Refuse a posterior whose own diagnostics fail `carbon_mc.calibration.report.CONVERGENCE`.

    Raises:
      CarbonMCError: some latent's r_hat or bulk ESS misses its threshold (one line, naming `source`).
    """
    problem = convergence_problem(convergence(idata))
    if problem is not None:
        raise CarbonMCError(f"the calibration did not converge ({problem}); run `carbon-mc calibrate` again with more --samples or --warmup",
                            file=source)


def _varying_quantity(scenario: Scenario) -> str:
    """The factor a run of this kind varies in, run to run, in the calibration model."""
    return "mfu_fraction" if scenario.derives_device_time else "accelerator_power_tdp_fraction"


def _class_draws(g: dict, scenario: Scenario, q: str, cls: str, selector: str) -> tuple[np.ndarray | None, str]:
    """(posterior draws of quantity `q` for a run of class `cls`, note) or (None, why it keeps its prior).

    The factor the run varies in comes from the new-run predictive, provided some measured run of
    the class varied in it; the others from the class value, provided some measured run informed it.
    """
    pp, post, const = g["posterior_predictive"], g["posterior"], g["constant_data"]
    counts = const.get(f"{q}_class_runs")
    informed = counts is not None and cls in counts.coords[selector].values and int(counts.sel({selector: cls})) > 0
    if q in RUN_SPREAD and q != _varying_quantity(scenario):
        # The model lets a run vary in one factor only: its MFU where device time is derived
        # from FLOPs, else its power fraction. The other is drawn at its class value, as in the fit.
        if not informed:
            return None, f"prior (no measured run of {selector} {cls!r})"
        return post[f"{q}_class"].sel({selector: cls}).values.ravel(), ", class value"
    var = f"{q}_new_run"
    if var not in pp or cls not in pp[var].coords[selector].values:
        why = ("whose device time was published" if q == "accelerator_power_tdp_fraction"
               else "with device time from FLOPs or published beside its FLOPs")
        return None, (f"prior (no measured run of {selector} {cls!r} {why})" if q in RUN_SPREAD and informed
                      else f"prior (no measured run of {selector} {cls!r})")
    return pp[var].sel({selector: cls}).values.ravel(), ""


def _below_reference(scenario: Scenario, table: PriorTable) -> bool:
    """True when the run's (active) parameters are below the MFU reference size, where the size term applies."""
    n = scenario.compute_parameters
    return n is not None and n < table.quantity(MFU_REFERENCE).variants["default"].fixed_value


def _prior_draws(prior: Prior, g: dict) -> np.ndarray:
    """As many draws of `prior` as the posterior has (stratified, in a fixed shuffled order), one per posterior draw.

    For a class no measured run informed: its prior stands for the class, and the posterior's MFU
    size term (learnt from the other classes) still shifts it for a small model.
    """
    n = g["posterior"].sizes["chain"] * g["posterior"].sizes["draw"]
    u = (np.random.default_rng(0).permutation(n) + 0.5) / n
    return np.asarray(prior.icdf(jnp.asarray(u, jnp.float32)), np.float64)


def _posterior_prior(q: str, cls: str, values: np.ndarray, runs: int, note: str, table: PriorTable, source: str) -> Prior:
    """The `Prior` the engine draws for quantity `q`: the posterior draws `values`, on `STREAM`."""
    meta = table.quantity(q)
    return Prior(
        quantity=q, variant=f"{cls} (calibrated)", family="posterior_predictive",
        params={"calibration": source, "class": cls, "measured_runs": runs, "posterior_draws": int(values.size),
                "draws_sha256": hashlib.sha256(np.asarray(values, np.float32).tobytes()).hexdigest()},
        empirical=EmpiricalDraws(values, stream=STREAM), units=meta.units, long_name=meta.long_name,
        description=(f"{'Posterior of the class value' if note else 'Posterior predictive for a new run'} of "
                     f"{meta.selected_by or 'the one value'} {cls!r}, given {runs} measured run(s)"),
        source=f"carbon-mc calibrate ({source}): prior {meta.variants[cls].source}; conditioned on measured runs",
    )


def _size_shifted(values, variant: Prior, g: dict, slope: str, reference: str, parameters: float, table: PriorTable):
    """(draws shifted by the size term, whether it applied): slope x min(0, log10(N / N_ref)) added on
    the class prior's unconstrained scale, as in the fit (`carbon_mc.calibration.model`)."""
    decades = min(0.0, math.log10(parameters / table.quantity(reference).variants["default"].fixed_value))
    if decades == 0.0:
        return values, False
    link = support_link(variant)
    return np.asarray(link(link.inv(jnp.asarray(values)) + g["posterior"][slope].values.ravel() * decades)), True


def calibrated_priors(idata, scenario: Scenario, *, priors: PriorTable | None = None,
                      source: str = "calibration") -> tuple[dict[str, Prior], dict[str, str]]:
    """The calibrated inputs of `scenario`, and what happened to each calibrated quantity.

    Returns ``(posterior, status)``: `posterior` maps quantity names to Priors the engine draws
    instead of the bundled ones (pass it as ``estimate(..., posterior=posterior)``); `status` maps
    each calibrated quantity the run needs to ``"calibrated (<class>, n runs)"`` or the reason it
    keeps its prior.

    As in the fit, a run varies from its class in one factor: its power fraction when its device
    time is published, its MFU when device time comes from FLOPs. That factor is drawn from the
    posterior predictive for a *new* run of the class (class value plus run-to-run spread; MFU, and
    power below its reference size, shifted by the size term for the run's parameters), provided some measured run of the class
    varied in it; the other calibrated quantities are drawn at their class value, provided some
    measured run informed the class. Otherwise the quantity keeps its prior, and `status` says why.

    Raises:
      CarbonMCError: the calibration was fitted with other prior files (`check_priors_match`).
    """
    check_idata(idata), check_training_scenario(scenario), check_priors(priors), check_text(source, "source")
    table = priors or load_priors()
    check_priors_match(idata, table, source)
    g = groups(idata)
    ctx = scenario.context(table)
    needed = scenario.needed_quantities()
    out: dict[str, Prior] = {}
    status: dict[str, str] = {}
    for q in (q for q in CALIBRATED if q in needed):
        meta, selector = table.quantity(q), class_selector(table, q)
        cls = ctx.get(selector)
        if q in scenario.overrides:
            status[q] = "prior (fixed or replaced in the scenario)"
            continue
        if cls is None:  # the run names no class of q (no such key), so no measured run is of its class
            status[q] = f"prior (no measured run of {selector} None)"
            continue
        values, note = _class_draws(g, scenario, q, cls, selector)
        if values is None and q == "mfu_fraction" and _below_reference(scenario, table):
            values, note = _prior_draws(meta.variants[cls], g), f", class prior (no measured run of {cls!r}) with the calibrated size term"
        if values is None:
            status[q] = note
            continue
        if q == "mfu_fraction":
            if scenario.compute_parameters is None:
                status[q] = "prior (the size term needs the run's parameters)"
                continue
            values, _ = _size_shifted(values, meta.variants[cls], g, MFU_SLOPE, MFU_REFERENCE, scenario.compute_parameters, table)
        if q == "accelerator_power_tdp_fraction" and POWER_SLOPE in g["posterior"] and scenario.compute_parameters is not None:
            values, shifted = _size_shifted(values, meta.variants[cls], g, POWER_SLOPE, POWER_REFERENCE, scenario.compute_parameters, table)
            if shifted:
                note += f", shifted by the size term for {scenario.compute_parameters:.3g} parameters"
        counts = g["constant_data"].get(f"{q}_class_runs")
        runs = int(counts.sel({selector: cls})) if counts is not None and cls in counts.coords[selector].values else 0
        out[q] = _posterior_prior(q, cls, values, runs, note, table, source)
        status[q] = f"calibrated ({cls}, {runs} run{'s' if runs != 1 else ''}{note})"
    for q in (q for q in GLOBAL if q in needed):
        if q in scenario.overrides:
            status[q] = "prior (fixed or replaced in the scenario)"
            continue
        runs = int(g["constant_data"][f"{q}_runs"]) if f"{q}_runs" in g["constant_data"] else 0
        if runs == 0 or q not in g["posterior"]:
            status[q] = "prior (no measured run informed it)"
            continue
        out[q] = _posterior_prior(q, "default", g["posterior"][q].values.ravel(), runs, ", one value", table, source)
        status[q] = f"calibrated (one value, {runs} run{'s' if runs != 1 else ''})"
    return out, status


def load_calibrated_priors(path: str | Path, scenario: Scenario, *, priors: PriorTable | None = None) -> tuple[dict[str, Prior], dict[str, str]]:
    """`calibrated_priors` of the calibration file `path` for `scenario`: what ``carbon-mc run --calibrated`` draws.

    Raises:
      CarbonMCError: the file is missing or not a calibration (`load_calibration`), its posterior
        did not converge (`check_converged`), or it was fitted with other priors.
    """
    idata = load_calibration(path)
    source = Path(path).name
    check_converged(idata, source)
    return calibrated_priors(idata, scenario, priors=priors, source=source)
