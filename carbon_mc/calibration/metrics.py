"""What validation measures: predictions of a measured run's figure and the metrics over many runs.

A prediction draws a run's published figure on its own scope twice, from the priors alone and with
calibrated inputs (`prediction_row`); `metrics` summarises many such rows (coverage of the 90%
intervals, median |log10 error|, median p95/p5, the calibration curve, the side of each miss and
its sign test), and `grouped_metrics` splits them by era and architecture. Leave-one-out
(`carbon_mc.calibration.loo`) and forward-in-time validation (`carbon_mc.calibration.forward`) both
build on this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import CarbonMCError
from ..priors import PriorTable
from ..results.statistics import percentile_of
from ..sampling import build_simulator, evaluate, uniform_columns
from ..scenarios.training import ENERGY_SCOPES, Scenario
from .inference_data import groups
from .posterior import calibrated_priors

__all__ = ["LEVELS", "METHODS", "MODERN_HARDWARE_YEAR", "MODERN_TARGETS", "TARGETS", "calibration_curve", "grouped_metrics",
           "metrics", "predict", "prediction_row", "prediction_summary", "run_groups", "sign_test_p"]

# Nominal coverages of the calibration curve, and the targets of the report.
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
TARGETS = {"coverage90_min": 0.80, "coverage90_max": 0.98, "median_abs_log10_error_max": 0.15}
METHODS = ("priors", "calibrated")


# Accelerators released from this year on (A100, MI250X, H100, TPU v4, ...) are the "modern" era.
MODERN_HARDWARE_YEAR = 2020
# Targets of the forward-in-time report (and of the grouped leave-one-out summaries).
MODERN_TARGETS = {"coverage90_min": 0.80, "coverage90_max": 0.98, "median_abs_log10_error_max": 0.10, "one_side_share_max": 2 / 3}


def prediction_summary(values: np.ndarray, reported: float) -> dict:
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


def predict(scenario: Scenario, variables: Sequence[str], *, num_draws: int, seed: int, posterior=None,
            priors: PriorTable | None = None) -> dict[str, np.ndarray]:
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
    variable = ENERGY_SCOPES[scenario.reported.energy_scope]
    if scenario.reported.energy_mwh is None:
        raise CarbonMCError("a held-out run needs a reported energy to compare the predictions with", file=scenario.file,
                            key="reported.energy_mwh")
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
        "priors": prediction_summary(_draw_figure(scenario, variable, num_draws=num_draws, seed=seed, priors=priors), reported),
        "calibrated": prediction_summary(
            _draw_figure(scenario, variable, num_draws=num_draws, seed=seed, posterior=posterior, priors=priors), reported),
        "calibrated_inputs": status,
        "divergences": int(groups(fit)["sample_stats"]["diverging"].sum()),
    }


def run_groups(scenario: Scenario, table: PriorTable) -> dict[str, str]:
    """The groups of a run for the split summaries: ``era`` (by its accelerator's year) and ``architecture``."""
    year = int(table.hardware_spec(scenario.hardware, file=scenario.file)["year"])
    era = f"{MODERN_HARDWARE_YEAR}+ hardware" if year >= MODERN_HARDWARE_YEAR else f"pre-{MODERN_HARDWARE_YEAR} hardware"
    return {"era": era, "architecture": "moe" if scenario.is_moe else "dense"}


def grouped_metrics(rows: Sequence[dict], method: str, targets: dict) -> dict:
    """`metrics` of `method` over all rows and per era and per architecture."""
    out = {"all": metrics(rows, method, targets)}
    for key in ("era", "architecture"):
        out[key] = {g: metrics([r for r in rows if r[key] == g], method, targets) for g in sorted({r[key] for r in rows})}
    return out
