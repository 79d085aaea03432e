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

import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ..errors import CarbonMCError
from ..priors import PriorTable, load_priors
from ..sampling import build_simulator, evaluate, uniform_columns
from ..scenario import ENERGY_SCOPES, Scenario, load_scenario
from ..summary import percentile_of
from .design import scenario_files
from .fit import DEFAULTS, Calibrator
from .inference_data import groups
from .posterior import calibrated_priors

__all__ = ["LEVELS", "TARGETS", "calibration_curve", "claims", "leave_one_out", "metrics", "predict", "prediction_row", "sign_test_p", "validation_report"]

# Nominal coverages of the calibration curve, and the targets of the report.
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
TARGETS = {"coverage90_min": 0.80, "coverage90_max": 0.98, "median_abs_log10_error_max": 0.15}
METHODS = ("priors", "calibrated")


def _prediction(values: np.ndarray, reported: float) -> dict:
    """Median, 90% interval, percentile of the figure, |log10 error| and p95/p5 of one predictive distribution."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    p5, median, p95 = np.quantile(v, [0.05, 0.5, 0.95])
    return {
        "median": float(median), "p5": float(p5), "p95": float(p95),
        "percentile": float(percentile_of(v, reported)),
        "abs_log10_error": float(abs(math.log10(median / reported))),
        "p95_over_p5": float(p95 / p5),
    }


def calibration_curve(percentiles: Sequence[float], levels: Sequence[float] = LEVELS) -> list[dict]:
    """For each nominal coverage L, the share of figures inside the central L interval (|pct - 50| <= 50 L)."""
    pct = np.asarray(percentiles, np.float64)
    return [{"nominal": float(level), "observed": float(np.mean(np.abs(pct - 50.0) <= 50.0 * level))} for level in levels]


def sign_test_p(under: int, over: int) -> float:
    """Two-sided exact sign test: the chance that misses split at least this unevenly between the two
    sides if each miss fell on either side with probability 1/2 (1.0 for no miss or one miss).

    Conover, Practical Nonparametric Statistics, 3rd ed., §3.4 (the sign test). It says what the
    two-thirds rule cannot with few misses: one miss is always all on one side, at p = 1.
    """
    n = under + over
    tail = sum(math.comb(n, k) for k in range(min(under, over) + 1)) / 2.0**n
    return float(min(1.0, 2.0 * tail))


def metrics(rows: Sequence[dict], method: str, targets: dict | None = None) -> dict:
    """Coverage of the 90% intervals, median |log10 error|, median p95/p5, the calibration curve and the
    side of each miss (``misses``: ``under``, the figure above the 95th percentile; ``over``, below the
    5th; ``misses_sign_test_p``: `sign_test_p` of that split) of one method, against `targets`
    (default `TARGETS`; with ``one_side_share_max``, no side may hold more than that share of the
    misses)."""
    targets = TARGETS if targets is None else targets
    preds = [r[method] for r in rows]
    pct = [p["percentile"] for p in preds]
    coverage = float(np.mean([5.0 <= x <= 95.0 for x in pct]))
    mae = float(np.median([p["abs_log10_error"] for p in preds]))
    under, over = sum(x > 95.0 for x in pct), sum(x < 5.0 for x in pct)
    met = {
        "coverage90": targets["coverage90_min"] <= coverage <= targets["coverage90_max"],
        "median_abs_log10_error": mae <= targets["median_abs_log10_error_max"],
    }
    if "one_side_share_max" in targets:
        met["no_systematic_sign"] = max(under, over) <= targets["one_side_share_max"] * (under + over)
    return {
        "num_runs": len(preds),
        "coverage90": coverage,
        "median_abs_log10_error": mae,
        "median_p95_over_p5": float(np.median([p["p95_over_p5"] for p in preds])),
        "misses": {"under": int(under), "over": int(over)},
        "misses_sign_test_p": sign_test_p(int(under), int(over)),
        "targets_met": met,
        "calibration_curve": calibration_curve(pct),
    }


def predict(scenario: Scenario, variables: Sequence[str], *, num_draws: int, seed: int, posterior=None, priors: PriorTable | None = None) -> dict[str, np.ndarray]:
    """The first `num_draws` Monte Carlo draws of some outputs: the numbers of ``estimate(..., method="mc")``.

    Runs the engine's model op by op instead of compiling a program per scenario: every scenario
    then reuses the same compiled operations, which makes a leave-one-out over many runs (each
    with its own calibrated inputs) cheap.

    Raises:
      CarbonMCError: the scenario cannot be simulated (an unknown variable, a prior it cannot resolve).
    """
    sim = build_simulator(scenario, priors=priors, posterior=posterior)
    out = evaluate(sim, uniform_columns(sim, num_draws=num_draws, seed=seed, method="mc"), variables)
    return {k: np.broadcast_to(np.asarray(out[k]), (num_draws,)) for k in variables}


def _draw_figure(scenario: Scenario, variable: str, *, num_draws: int, seed: int, posterior=None, priors=None) -> np.ndarray:
    return predict(scenario, [variable], num_draws=num_draws, seed=seed, posterior=posterior, priors=priors)[variable]


def prediction_row(scenario: Scenario, fit, *, seed: int, num_draws: int, priors: PriorTable, source: str) -> dict:
    """One held-out run's predictions of its published energy: priors alone, and calibrated by `fit`.

    The row also names what the run is (its publication year, the era of its accelerator, dense or
    mixture-of-experts) for the grouped summaries of `carbon_mc.calibration.forward`.
    """
    from .forward import run_groups

    variable = ENERGY_SCOPES[scenario.reported.energy_scope]
    reported = float(scenario.reported.energy_mwh)
    posterior, status = calibrated_priors(fit, scenario, priors=priors, source=source)
    return {
        "name": scenario.name,
        "file": Path(scenario.file).name,
        "energy_scope": scenario.reported.energy_scope,
        "variable": variable,
        "reported": reported,
        "published": scenario.reported.published,
        **run_groups(scenario, priors),
        "priors": _prediction(_draw_figure(scenario, variable, num_draws=num_draws, seed=seed, priors=priors), reported),
        "calibrated": _prediction(_draw_figure(scenario, variable, num_draws=num_draws, seed=seed, posterior=posterior, priors=priors), reported),
        "calibrated_inputs": status,
        "divergences": int(groups(fit)["sample_stats"]["diverging"].sum()),
    }


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
    from .forward import MODERN_TARGETS, grouped_metrics

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
                "priors": _prediction(before[variable], value),
                "calibrated": _prediction(after[variable], value),
                "calibrated_inputs": status,
            })
    if not out:
        raise CarbonMCError("no scenario with an estimated figure ([reported] basis = \"estimated\")")
    return out


def validation_report(
    *,
    hold_out: Iterable[str] | None = None,
    seed: int = DEFAULTS["seed"],
    num_draws: int = 20_000,
    num_chains: int = 2,
    num_warmup: int = DEFAULTS["num_warmup"],
    num_samples: int = DEFAULTS["num_samples"],
    with_claims: bool = True,
    cutoffs: Sequence[int] = (),
    priors: PriorTable | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """What ``carbon-mc validate`` reports: `leave_one_out` over the bundled measured runs, with
    `cutoffs` the forward-in-time validation at those years (`carbon_mc.calibration.forward_in_time`),
    and with `with_claims` the published estimates (`claims`) under a calibration fitted on every measured run.

    Every refit and the full fit share one `Calibrator` (one compiled program). `progress(message)`
    is called after each held-out run and before the full fit.

    Returns:
      `leave_one_out`'s dict, plus ``forward_in_time`` with `cutoffs` and ``claims`` (a list, see
      `claims`) with `with_claims`.

    Raises:
      CarbonMCError: a name in `hold_out` is not a measured run (before any fitting), or as `Calibrator`.
    """
    table = priors or load_priors()
    cal = Calibrator(priors=table, num_chains=num_chains, num_warmup=num_warmup, num_samples=num_samples)

    def held_out(done, total, name):
        if progress is not None:
            progress(f"[{done}/{total}] held out: {name}")

    from .forward import forward_in_time, split_by_year

    for year in cutoffs:  # a bad cut-off fails before any fitting
        split_by_year(cal.runs, int(year))
    result = leave_one_out(calibrator=cal, hold_out=hold_out, seed=seed, num_draws=num_draws, num_chains=num_chains,
                           priors=table, progress=held_out)
    if cutoffs:
        result["forward_in_time"] = forward_in_time(cutoffs, calibrator=cal, seed=seed, num_draws=num_draws,
                                                    num_chains=num_chains, priors=table, progress=progress)
    if with_claims:
        if progress is not None:
            progress("fitting on every measured run for the published estimates")
        full = cal.fit(seed=seed)
        result["claims"] = claims(full, seed=seed, num_draws=num_draws, priors=table, source="calibration on every measured run")
    return result
