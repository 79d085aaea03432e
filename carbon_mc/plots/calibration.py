"""Figures of the calibration: held-out coverage, held-out predictions, priors against posteriors.

- `plot_calibration`: nominal against observed coverage of central intervals (the calibration
  curve), for the priors alone and the calibrated model, beside each held-out run's reported figure
  against its predicted median and 90% interval.
- `plot_priors_posteriors`: for each calibrated quantity and class with data, the bundled prior,
  the posterior of the class value and, where runs of the class varied in the quantity, the
  posterior predictive for a new run of the class; `plot_priors_posteriors_each`: one figure per
  quantity (legible where the grid of every quantity at once is not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..calibration import CALIBRATED, groups
from ..priors import load_priors
from . import axis_label, literal, save_figure, units_label

__all__ = ["plot_calibration", "plot_priors_posteriors", "plot_priors_posteriors_each", "save_figure"]

COLORS = {"priors": "#7f8c8d", "calibrated": "#2471a3"}
LABELS = {"priors": "priors alone", "calibrated": "calibrated"}


def plot_calibration(result: dict, *, path: str | Path | None = None):
    """Calibration curve and held-out predictions of a leave-one-out result.

    Args:
      result: what `carbon_mc.calibration.leave_one_out` returns (or its JSON, loaded).
      path: if given, the figure is also written there (PNG, SVG or PDF by suffix).

    Returns:
      the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    fig, (ax_cov, ax_pred) = plt.subplots(1, 2, figsize=(11.5, 4.8), width_ratios=(1, 1.35))
    targets = result.get("targets", {})
    if targets:
        ax_cov.fill_between([0.87, 0.93], targets["coverage90_min"], targets["coverage90_max"], color="#f5b041", alpha=0.35,
                            lw=0, label=f"target at 90%: {targets['coverage90_min']:.0%}–{targets['coverage90_max']:.0%}")
    ax_cov.plot([0, 1], [0, 1], color="black", lw=0.8, ls=":", label="perfect calibration")
    for method, summary in result["summary"].items():
        curve = summary["calibration_curve"]
        ax_cov.plot([c["nominal"] for c in curve], [c["observed"] for c in curve], marker="o", ms=4, color=COLORS[method],
                    label=f"{LABELS[method]}: 90% coverage {summary['coverage90']:.0%}")
    ax_cov.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="nominal coverage of the central interval",
               ylabel="share of held-out figures inside", title=f"Calibration, leave-one-out ({len(result['runs'])} runs)")
    ax_cov.legend(loc="upper left", fontsize=8, frameon=False)

    rows = sorted(result["runs"], key=lambda r: r["reported"])
    lo = min(min(r[m]["p5"] for m in result["summary"]) for r in [*rows])
    lo = min(lo, min(r["reported"] for r in rows))
    hi = max(max(max(r[m]["p95"] for m in result["summary"]) for r in rows), max(r["reported"] for r in rows))
    for k, method in enumerate(result["summary"]):
        x = np.array([r["reported"] for r in rows]) * (0.93 if k == 0 else 1.07)
        med = np.array([r[method]["median"] for r in rows])
        err = np.array([[r[method]["median"] - r[method]["p5"] for r in rows], [r[method]["p95"] - r[method]["median"] for r in rows]])
        ax_pred.errorbar(x, med, yerr=err, fmt="o", ms=3.5, lw=1, capsize=0, color=COLORS[method],
                         label=f"{LABELS[method]}: median |log10 error| {result['summary'][method]['median_abs_log10_error']:.3f}")
    ax_pred.plot([lo / 2, hi * 2], [lo / 2, hi * 2], color="black", lw=0.8, ls=":")
    ax_pred.set(xscale="log", yscale="log", xlim=(lo / 2, hi * 2), ylim=(lo / 2, hi * 2),
                xlabel="reported energy (MWh, on the figure's own scope)", ylabel="predicted median and 90% interval (MWh)",
                title="Held-out runs")
    ax_pred.legend(loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_priors_posteriors(idata, *, quantities: tuple[str, ...] | None = None, priors=None, columns: int = 3,
                           path: str | Path | None = None):
    """Prior, class-value posterior and new-run predictive of each calibrated quantity and class with data.

    Legible at the size it is stored (about 4 x 3.3 inches a panel, 8.5-10 pt type): `columns`
    panels a row, x labels wrapped to their panel, and one legend for the figure, under its title
    and off every panel's data. With one quantity (``quantities=("pue",)``) the figure's title
    names it with its units and each panel's x axis reads only the units;
    `plot_priors_posteriors_each` draws one such figure per calibrated quantity.

    Args:
      idata: a calibration (InferenceData, or the DataTree of ArviZ 1.x).
      quantities: which calibrated quantities to show (default: all).
      priors: a `PriorTable` (default: the bundled priors).
      columns: panels per row.
      path: if given, the figure is also written there.

    Returns:
      the matplotlib Figure.
    """
    import textwrap

    import matplotlib.pyplot as plt

    table = priors or load_priors()
    g = groups(idata)
    post, pp = g["posterior"], g["posterior_predictive"]
    panels = []
    const = g["constant_data"]
    for q in quantities or CALIBRATED:
        if f"{q}_class_runs" not in const:
            continue
        dim = table.quantity(q).selected_by
        panels += [(q, dim, str(c)) for c in const[dim].values if int(const[f"{q}_class_runs"].sel({dim: c})) > 0]
    if not panels:
        raise ValueError("the calibration has no calibrated class to show")
    single = len({q for q, _, _ in panels}) == 1
    ncols = min(columns, len(panels))
    nrows = -(-len(panels) // ncols)
    quantity = table.quantity(panels[0][0])
    title = (f"{axis_label(quantity.long_name, quantity.units)}: prior against posteriors, by class" if single
             else "Priors against posteriors: class value, and a new run of the class")
    title_lines = textwrap.wrap(title, int(24 * ncols))
    head = 0.22 * len(title_lines) + 0.4  # inches above the panels: the title's lines, then the legend
    height = 3.3 * nrows + head
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, height), squeeze=False)
    u = (np.arange(20_000) + 0.5) / 20_000
    handles: dict[str, Any] = {}
    for ax, (q, dim, cls) in zip(axes.ravel(), panels):
        quantity = table.quantity(q)
        prior = quantity.variants[cls]
        prior_draws = np.asarray(prior.icdf(u), np.float64)
        class_draws = post[f"{q}_class"].sel({dim: cls}).values.ravel()
        var = f"{q}_new_run"
        has_new = var in pp and cls in pp[var].coords[dim].values
        new_draws = pp[var].sel({dim: cls}).values.ravel() if has_new else np.empty(0)
        lo, hi = np.quantile(np.concatenate([prior_draws, new_draws, class_draws]), [0.002, 0.998])
        bins = np.linspace(lo, hi, 50)
        *_, h = ax.hist(prior_draws, bins=bins, density=True, histtype="stepfilled", color="#d5d8dc", label="prior")
        handles.setdefault("prior", h[0])
        *_, h = ax.hist(class_draws, bins=bins, density=True, histtype="step", color="#1f618d", lw=1.4, label="class value (posterior)")
        handles.setdefault("class value (posterior)", h[0])
        if has_new:
            *_, h = ax.hist(new_draws, bins=bins, density=True, histtype="step", color="#cb4335", lw=1.4, ls="--",
                            label="a new run of the class (posterior predictive)")
            handles.setdefault("a new run of the class (posterior predictive)", h[0])
        runs = int(g["constant_data"][f"{q}_class_runs"].sel({dim: cls}))
        ax.set_title(literal(f"{cls} ({runs} run{'s' if runs != 1 else ''})"), fontsize=10)
        label = units_label(quantity.units) if single else axis_label(quantity.long_name, quantity.units)
        ax.set_xlabel(literal("\n".join(textwrap.wrap(label, 44))), fontsize=9)
        ax.set_ylabel("density", fontsize=9)
        ax.tick_params(labelsize=8.5)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(literal("\n".join(title_lines)), fontsize=11, y=1 - 0.12 / height, va="top")
    fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 1 - (0.2 + 0.22 * len(title_lines)) / height),
               ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - head / height), h_pad=1.6)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_priors_posteriors_each(idata, *, priors=None, columns: int = 3) -> list:
    """`plot_priors_posteriors`, one figure per calibrated quantity with data (in `CALIBRATED` order)."""
    g = groups(idata)
    shown = [q for q in CALIBRATED if f"{q}_class_runs" in g["constant_data"]
             and int(g["constant_data"][f"{q}_class_runs"].sum()) > 0]
    return [plot_priors_posteriors(idata, quantities=(q,), priors=priors, columns=columns) for q in shown]
