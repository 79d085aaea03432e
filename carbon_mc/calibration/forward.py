"""Forward-in-time validation: calibrate on runs published before a year, predict the runs published from it on.

Leave-one-out lets the calibration learn from runs published after the one it predicts; a user
predicting a new run cannot. For a cut-off year Y, `forward_in_time` fits the calibration on the
measured runs whose figure was published before Y (``[reported] published``) and predicts each
run published in Y or later, from the priors alone and with that calibration, as leave-one-out
does (`carbon_mc.calibration.metrics.prediction_row`). The summaries are split by era (the
accelerator's generation) and by architecture (dense or mixture-of-experts), and count on which
side each miss falls: a model that always under-estimates is not fixed by wider intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import CarbonMCError
from ..priors import PriorTable, load_priors
from ..scenarios.training import Scenario
from .fit import DEFAULTS, Calibrator
from .metrics import METHODS, MODERN_TARGETS, grouped_metrics, prediction_row

__all__ = ["CUTOFFS", "forward_in_time", "split_by_year"]

# Default cut-off years: before 2022 the data are Patterson et al. 2021's TPU/GPU runs and GLaM;
# from 2022 on Dodge et al., PaLM, OLMo and OLMo 2; from 2024 on only the H100/A100/MI250X runs.
CUTOFFS = (2022, 2024)
def split_by_year(runs: Sequence[Scenario], cutoff: int) -> tuple[list[str], list[str]]:
    """(names published before `cutoff`, names published in `cutoff` or later).

    Raises:
      CarbonMCError: a run does not say when its figure was published, or one side of the split is empty.
    """
    published: list[tuple[str, int]] = []
    for s in runs:
        if s.reported.published is None:
            raise CarbonMCError("forward-in-time validation needs the year the figure was published: add "
                                "published = <year> to [reported]", file=s.file, key="reported.published")
        published.append((s.name, s.reported.published))
    before = [name for name, year in published if year < cutoff]
    after = [name for name, year in published if year >= cutoff]
    if not before or not after:
        years = sorted({year for _, year in published})
        raise CarbonMCError(f"cut-off {cutoff} leaves no run on one side (runs were published in {', '.join(map(str, years))}); "
                            f"pick a year in {years[0] + 1}-{years[-1]}")
    return before, after


def forward_in_time(
    cutoffs: Sequence[int] = CUTOFFS,
    *,
    calibrator: Calibrator | None = None,
    seed: int = DEFAULTS["seed"],
    num_draws: int = 20_000,
    num_chains: int = 2,
    priors: PriorTable | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Calibrate on the runs published before each cut-off year and predict those published from it on.

    Args:
      cutoffs: years Y; each gives one fit (runs published before Y) and predictions of the others.
      calibrator: a `Calibrator` over the measured runs (default: the bundled ones, default settings).
      seed, num_draws, num_chains: as `carbon_mc.calibration.leave_one_out`.
      progress: optional ``progress(message)`` before each fit.

    Returns:
      ``{"cutoffs": [...], "targets": MODERN_TARGETS}``; per cut-off: ``year``, ``calibrated_on``
      and ``predicted`` (run names), ``runs`` (rows as in leave-one-out), ``summary`` (per method:
      `grouped_metrics`).

    Raises:
      CarbonMCError: a run without ``published``, or a cut-off that leaves one side empty (before any fitting).
    """
    table = priors or load_priors()
    cal = calibrator or Calibrator(priors=table)
    splits = [(int(y), *split_by_year(cal.runs, int(y))) for y in cutoffs]
    out = []
    for year, before, after in splits:
        if progress is not None:
            progress(f"forward in time: calibrating on {len(before)} runs published before {year}")
        fit = cal.fit(seed=seed, held_out=after, num_chains=num_chains)
        rows = [prediction_row(cal.runs[cal.design.names.index(name)], fit, seed=seed, num_draws=num_draws, priors=table,
                               source=f"calibration on runs published before {year}") for name in after]
        out.append({"year": year, "calibrated_on": before, "predicted": after, "runs": rows,
                    "summary": {m: grouped_metrics(rows, m, MODERN_TARGETS) for m in METHODS}})
    return {"cutoffs": out, "targets": dict(MODERN_TARGETS)}
