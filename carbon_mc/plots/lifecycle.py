"""A model's life as a figure: cumulative CO2e against days of serving, training first.

`plot_lifecycle` takes the draws of `carbon_mc.lifecycle` (training CO2e and serving CO2e over the
period, per draw) and draws, for each number of days of serving ``d``, the median and the central
90% interval of ``training + serving per day x d`` (`cumulative_tco2e`), the training alone as a
level, the period served, and the median break-even day (serving has then emitted as much as the
training). Two layouts as the distribution figures (`carbon_mc.plots.distribution.WIDE` and
``NARROW``); the legend sits below the axes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import save_figure
from .distribution import HIST_COLOR, MARK_COLORS, NARROW, WIDE, axis_number, legend_below, sized, wrapped

__all__ = ["cumulative_tco2e", "plot_lifecycle"]


def cumulative_tco2e(training_tco2e: np.ndarray, serving_tco2e_per_day: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Life-cycle CO2e (t) after `days` of serving, per draw: training + serving per day x days; (len(days), draws).

    The linear life cycle of `carbon_mc.footprint.lifecycle.lifecycle_tco2e` (Luccioni, Jernite and
    Strubell 2024, "Power hungry processing", sec. 5: deployment emissions grow with use and
    overtake training's), evaluated on a grid of serving periods.
    """
    return np.asarray(training_tco2e)[None, :] + np.asarray(serving_tco2e_per_day)[None, :] * np.asarray(days, np.float64)[:, None]


def plot_lifecycle(ds, *, narrow: bool = False, path: str | Path | None = None):
    """Cumulative CO2e (median, 90% interval) against days of serving, from a `carbon_mc.lifecycle` Dataset.

    Args:
      ds: the life-cycle draws (``training_tco2e``, ``serving_tco2e``, ``break_even_days`` and the
        ``serving_days`` attribute).
      narrow: the layout for a phone's width.
      path: if given, the figure is also written there.
    """
    import matplotlib.pyplot as plt

    sizes = NARROW if narrow else WIDE
    period = float(ds.attrs["serving_days"])
    training = np.asarray(ds["training_tco2e"].values, np.float64)
    per_day = np.asarray(ds["serving_tco2e"].values, np.float64) / period
    even = float(np.median(ds["break_even_days"].values))
    end = max(period, min(1.3 * even, 3650.0)) * 1.05  # past the break-even, up to ten years
    days = np.linspace(0.0, end, 121)
    lo, mid, hi = np.quantile(cumulative_tco2e(training, per_day, days), [0.05, 0.5, 0.95], axis=1)
    t5, t50, t95 = np.quantile(training, [0.05, 0.5, 0.95])
    fig, ax = plt.subplots(figsize=(sizes["panel_width"], 4.4 if narrow else 3.9))
    ax.fill_between(days, lo, hi, color=HIST_COLOR, alpha=0.35, lw=0, label="90% interval, training plus serving")
    ax.plot(days, mid, color="black", lw=1.5, label="median, training plus serving")
    ax.axhspan(t5, t95, color=MARK_COLORS[1], alpha=0.12, lw=0)
    ax.axhline(t50, color=MARK_COLORS[1], lw=1, ls="--", label=f"training alone: median {axis_number(t50)} t (band: 90%)")
    ax.axvline(period, color=MARK_COLORS[3], lw=1.5, label=f"the period served: {axis_number(period)} days")
    if even <= end:
        ax.axvline(even, color=MARK_COLORS[0], lw=1.5, label=f"break-even, median: {axis_number(even)} days of serving")
    ax.set_xlim(0, end)
    ax.set_ylim(0, None)
    ax.set_xlabel(wrapped("days of serving", sizes["label_wrap"]))
    ax.set_ylabel(wrapped("CO2e since training began (t)", 34 if narrow else 40))
    ax.set_title(wrapped(f"{ds.attrs['training_scenario']} + {ds.attrs['serving_scenario']}", 44 if narrow else 90),
                 fontsize=sizes["title"])
    sized(ax, sizes)
    legend_below(ax, sizes)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


