"""What a report says about one scenario, computed once: `scenario_report` -> `ScenarioReport`.

Every number comes from the library's own calls, on one seed and one sampler: the ranges from
`run_scenario` (kept draws), the claim checks and the model card from `check_scenario` (one set of
draws per accounting basis; on the scenario's own basis, the very draws of the ranges, as
`carbon_mc.claims.check` draws with the run's sampler), the sensitivity ranking from `sensitivity`.
A scenario is a training run or a deployment (a ``[serving]`` file: per request, per day and over
the deployment; no model card, which reports a training run). A page holding a deployment and the
training run its ``model`` link names also gets that model's life cycle (`lifecycle_pairs`,
`lifecycle_report`: `carbon_mc.lifecycle` over the deployment's period, the training phase the
very draws of the training run's section). The page (`carbon_mc.report.html`) only lays them out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..claims import ModelCardFields, check_scenario, scenario_claims
from ..claims.result import ClaimCheck
from ..options import REPORT_BASE_DRAWS, REPORT_DRAWS
from ..priors import PriorTable
from ..results.run import RunResult, run_scenario
from ..scenarios import AnyScenario, load_any_scenario
from ..scenarios.deployment import ServingScenario
from ..scenarios.training import Scenario
from ..sobol import ranking, sensitivity

__all__ = [
    "DEFAULT_BASE_DRAWS",
    "DEFAULT_DRAWS",
    "SENSITIVITY_OUTPUT",
    "LifecycleReport",
    "ScenarioReport",
    "assumptions",
    "lifecycle_pairs",
    "lifecycle_report",
    "scenario_report",
]

DEFAULT_DRAWS = REPORT_DRAWS
DEFAULT_BASE_DRAWS = REPORT_BASE_DRAWS
DEFAULT_RESAMPLES = 200
SENSITIVITY_OUTPUT = "total_tco2e"  # a training run's total CO2e, or a deployment's over its whole life


@dataclass
class ScenarioReport:
    """One scenario's section of a report.

    Attributes:
      scenario: the training run or the deployment.
      run: the ranges (`RunResult`, with its kept draws and their provenance).
      checks: every claim the scenario carries, checked (each with its draws and scope).
      model_card: the Hugging Face ``co2_eq_emissions`` block of the same draws (YAML text); None for a deployment.
      ranking: inputs by total-order Sobol' index of total CO2e, largest first (`carbon_mc.sobol.ranking`).
      sensitivity_output: the output the indices apportion.
      sensitivity_attrs: how the indices were computed (base rows, resamples, confidence level).
      assumptions: one row per input: long name, units, distribution, variant, median, 90% interval, source.
    """

    scenario: AnyScenario
    run: RunResult
    checks: tuple[ClaimCheck, ...]
    model_card: str | None
    ranking: list[dict]
    sensitivity_attrs: dict
    assumptions: list[dict]
    sensitivity_output: str = SENSITIVITY_OUTPUT

    @property
    def is_deployment(self) -> bool:
        """True for a deployment (a serving scenario)."""
        return isinstance(self.scenario, ServingScenario)


def assumptions(ds: xr.Dataset) -> list[dict]:
    """The inputs of an `estimate` Dataset with their units and sources, and their median and 90% interval."""
    priors = json.loads(ds.attrs["priors"])
    rows = []
    for name, described in priors.items():
        var = ds[name]
        values = np.asarray(var.values, dtype=np.float64)
        if "draw" in var.dims and values.ndim == 1:
            p5, median, p95 = (float(v) for v in np.quantile(values, [0.05, 0.5, 0.95]))
        elif "draw" in var.dims:  # a joint prior: its components are listed, not summarized as one number
            p5 = median = p95 = float("nan")
        else:
            p5 = median = p95 = float(values)
        rows.append({
            "name": name, "long_name": var.attrs.get("long_name", name), "units": described["units"],
            "distribution": described["distribution"], "variant": described["variant"],
            "year": described.get("year"), "median": median, "p5": p5, "p95": p95, "source": described["source"],
            "components": [str(c) for c in ds[f"{name}_component"].values] if f"{name}_component" in ds.coords else [],
        })
    return rows


def scenario_report(
    scenario: AnyScenario | str | Path,
    *,
    num_draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    base_draws: int = DEFAULT_BASE_DRAWS,
    num_resamples: int = DEFAULT_RESAMPLES,
    priors: PriorTable | None = None,
    card: ModelCardFields = ModelCardFields(),
) -> ScenarioReport:
    """Everything one scenario's section shows, from `num_draws` draws (and a Sobol' design of `base_draws` rows).

    Raises:
      CarbonMCError: an invalid scenario or prior table.
    """
    if not isinstance(scenario, (Scenario, ServingScenario)):
        scenario = load_any_scenario(scenario, priors=priors)
    run = run_scenario(scenario, num_draws=num_draws, seed=seed, priors=priors, keep_draws=True)
    deployment = isinstance(scenario, ServingScenario)
    checks: tuple[ClaimCheck, ...] = ()
    model_card = None
    if not deployment or scenario_claims(scenario):  # a deployment has no model card: only its claims are checked
        checked = check_scenario(scenario, num_draws=num_draws, seed=seed, priors=priors,
                                 model_card=None if deployment else card)
        checks, model_card = checked.checks, checked.model_card
    # a deployment without traffic or capacity has no total: its per-request total is apportioned instead
    output = "total_gco2e_per_request" if isinstance(scenario, ServingScenario) and scenario.per_request_only else SENSITIVITY_OUTPUT
    indices = sensitivity(scenario, output=output, num_base=base_draws, seed=seed, num_resamples=num_resamples,
                          priors=priors)
    how = {k: indices.attrs[k] for k in ("num_base", "num_evaluations", "num_resamples", "conf_level", "sampler")}
    draws = run.draws
    assert draws is not None  # run_scenario keeps the draws when keep_draws=True
    return ScenarioReport(scenario, run, checks, model_card, ranking(indices), how, assumptions(draws), output)


@dataclass
class LifecycleReport:
    """A model's life on a report page: its training run plus its deployment over the deployment's period.

    Attributes:
      training, serving: the two scenarios (both have sections of their own on the page).
      draws: `carbon_mc.lifecycle`'s Dataset (training, serving over the period, totals, shares, break-even).
      days: the period served (the deployment's ``days``).
    """

    training: Scenario
    serving: ServingScenario
    draws: xr.Dataset
    days: float


def _same_file(a: AnyScenario, b: AnyScenario) -> bool:
    return Path(a.file).resolve() == Path(b.file).resolve()


def lifecycle_pairs(scenarios: list[AnyScenario], *, priors: PriorTable | None = None) -> list[tuple[Scenario, ServingScenario]]:
    """(training run, deployment) for each deployment of `scenarios` whose ``model`` link names a training run also among them."""
    pairs: list[tuple[Scenario, ServingScenario]] = []
    if not any(isinstance(s, Scenario) for s in scenarios):
        return pairs
    for sv in scenarios:
        if not isinstance(sv, ServingScenario) or sv.model is None:
            continue
        linked = load_any_scenario(sv.model, priors=priors)
        pairs += [(tr, sv) for tr in scenarios if isinstance(tr, Scenario) and _same_file(tr, linked)][:1]
    return pairs


def lifecycle_report(training: Scenario, serving: ServingScenario, *, num_draws: int = DEFAULT_DRAWS, seed: int = 0,
                     priors: PriorTable | None = None) -> LifecycleReport:
    """The life-cycle part of a page: `carbon_mc.lifecycle` of the pair over the deployment's own period.

    The training phase is drawn exactly as the training run's section (same seed and draw count,
    run's randomized QMC); the deployment shares the inputs both draw from the same prior.
    """
    from ..joint.training_and_serving import lifecycle

    ds = lifecycle(training, serving, num_draws=num_draws, seed=seed, priors=priors)
    return LifecycleReport(training, serving, ds, float(ds.attrs["serving_days"]))
