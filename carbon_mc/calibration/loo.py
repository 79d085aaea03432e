"""Leave-one-out validation of the calibration: how well it predicts measured runs it has not seen.

For each measured run (``[reported] basis = "measured"``), the calibration is fitted again without
that run (an exact refit, NUTS, `carbon_mc.calibration.Calibrator`), and the engine draws the run
twice: from the bundled priors alone, and with the calibrated inputs of the refit (what
``carbon-mc run FILE --calibrated`` does). Each gives the distribution of the energy on the scope of
the run's figure; the report holds, per run and method, the predicted median, the 90% interval,
the figure's percentile, the |log10 error| of the median and the ratio p95/p5, and over all runs:

- coverage of the central 90% intervals (the share of figures between the 5th and 95th percentiles),
- the median absolute log10 error of the medians,
- the median ratio of the 95th to the 5th percentile (how wide the intervals are),
- a calibration curve: for central intervals of nominal coverage 10% ... 98%, the observed share.

Published figures that are estimates, not measurements (``basis = "estimated"``: TDP-based model
cards, Strubell's extrapolations, BLOOM's 433 MWh), are not data: ``claims`` reports where each falls
under the priors and under the calibration fitted on every measured run. `validation_report` runs
both, as ``carbon-mc validate`` does.

Predictions use plain Monte Carlo (each input's own random stream, calibrated inputs sharing one),
so a seed gives the same numbers as ``carbon-mc run FILE --method mc --seed S [--calibrated ...]``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..errors import CarbonMCError, shown
from ..priors import PriorTable, load_priors
from ..sampling.args import check_callable, check_names, check_num_draws, check_priors, check_seed, check_whole
from ..scenarios.training import Scenario, load_scenario
from .design import check_runs, scenario_files
from .fit import DEFAULTS, Calibrator
from .metrics import METHODS, MODERN_TARGETS, TARGETS, grouped_metrics, metrics, predict, prediction_row, prediction_summary
from .posterior import calibrated_priors

__all__ = ["claims", "leave_one_out"]

def leave_one_out(
    runs: Sequence[Scenario] | None = None,
    *,
    hold_out: Iterable[str] | None = None,
    seed: int = DEFAULTS["seed"],
    num_draws: int = 20_000,
    num_chains: int = 2,
    num_warmup: int = DEFAULTS["num_warmup"],
    num_samples: int = DEFAULTS["num_samples"],
    priors: PriorTable | None = None,
    calibrator: Calibrator | None = None,
    progress: Callable | None = None,
) -> dict:
    """Leave-one-out over the measured runs, for the priors alone and for the calibration (exact refits).

    Args:
      runs: measured scenarios (default: the bundled ones, `carbon_mc.calibration.measured_runs`).
      hold_out: names of the runs to hold out one at a time (default: every run).
      seed: seed of the refits and of the engine's draws.
      num_draws: engine draws per prediction.
      num_chains: chains per refit.
      num_warmup, num_samples: NUTS settings of each refit (those of `calibrator` when given).
      calibrator: a `Calibrator` to reuse (its compiled program and settings).
      progress: optional ``progress(done, total, name)`` after each held-out run.

    Returns:
      A JSON-ready dict: ``runs`` (one row per held-out run: name, file, energy_scope, variable,
      reported, ``priors`` and ``calibrated`` predictions, calibrated inputs), ``summary`` (per
      method: coverage90, median_abs_log10_error, median_p95_over_p5, targets_met,
      calibration_curve), ``targets`` and ``settings``.

    Raises:
      CarbonMCError: a name in `hold_out` is not a measured run, or as `Calibrator`.
    """
    check_runs(runs), check_names(hold_out, "hold_out"), check_seed(seed), check_num_draws(num_draws), check_priors(priors)
    check_whole(num_chains, "num_chains"), check_whole(num_warmup, "num_warmup"), check_whole(num_samples, "num_samples")
    check_callable(progress)
    if calibrator is not None and not isinstance(calibrator, Calibrator):
        raise CarbonMCError(f"calibrator must be a Calibrator or None, got {shown(calibrator)} ({type(calibrator).__name__})")
    table = priors or load_priors()
    cal = calibrator or Calibrator(runs, priors=table, num_warmup=num_warmup, num_samples=num_samples)
    names = list(cal.design.names) if hold_out is None else list(hold_out)
    for name in names:
        cal.observed_mask([name])  # unknown names fail before any fitting
    rows = []
    batch = max(1, os.cpu_count() or 1)  # refits sampled together run their chains on several cores
    for start in range(0, len(names), batch):
        chunk = names[start : start + batch]
        fits = cal.fit_many([[name] for name in chunk], seed=seed, num_chains=num_chains)
        for name, fit in zip(chunk, fits):
            scenario = cal.runs[cal.design.names.index(name)]
            rows.append(prediction_row(scenario, fit, seed=seed, num_draws=num_draws, priors=table,
                                       source=f"leave-one-out refit without {name!r}"))
            if progress is not None:
                progress(len(rows), len(names), name)
    return {
        "runs": rows,
        "summary": {m: metrics(rows, m) for m in METHODS},
        "groups": {m: grouped_metrics(rows, m, MODERN_TARGETS) for m in METHODS},
        "targets": dict(TARGETS),
        "settings": {"seed": seed, "num_draws": num_draws, "method": "mc", **cal.settings, "num_chains": num_chains,
                     "held_out_one_at_a_time": len(names), "measured_runs": len(cal.design.names)},
    }


def claims(
    idata,
    *,
    models: str | Path | Iterable[str | Path] | None = None,
    seed: int = DEFAULTS["seed"],
    num_draws: int = 20_000,
    priors: PriorTable | None = None,
    source: str = "calibration",
) -> list[dict]:
    """Published estimates (``basis = "estimated"``) as claims: their percentile under the priors and the calibration.

    Args:
      idata: a calibration (`carbon_mc.calibration.fit_calibration` or `load_calibration`).
      models: a directory of scenarios or an iterable of files (default: the bundled models/).

    Raises:
      CarbonMCError: no scenario with an estimated figure, an invalid one, or `idata` fitted with other priors.
    """
    table = priors or load_priors()
    out = []
    for path in scenario_files(models, basis="estimated"):
        scenario = load_scenario(path, priors=table)
        figures = scenario.reported.figures()
        if not figures:
            continue
        posterior, status = calibrated_priors(idata, scenario, priors=table, source=source)
        before = predict(scenario, list(figures), num_draws=num_draws, seed=seed, priors=table)
        after = predict(scenario, list(figures), num_draws=num_draws, seed=seed, posterior=posterior, priors=table)
        for variable, value in figures.items():
            out.append({
                "name": scenario.name, "file": path.name, "variable": variable, "reported": float(value),
                "source": scenario.reported.source,
                "priors": prediction_summary(before[variable], value),
                "calibrated": prediction_summary(after[variable], value),
                "calibrated_inputs": status,
            })
    if not out:
        raise CarbonMCError("no scenario with an estimated figure ([reported] basis = \"estimated\")")
    return out
