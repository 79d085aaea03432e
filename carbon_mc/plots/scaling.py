"""Figures of the scaling sweep: total CO2e against loss and against accuracy, one curve per
accelerator generation, with 50% and 90% credible bands (matplotlib; the CLI selects Agg).

At each model size the curve sits at the median loss (or accuracy) of the draws; the bands are
the 25-75% and 5-95% quantiles of the total CO2e there. Both axes are logarithmic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from . import legend_label, literal, output_label, readable_log_ticks, save_figure

__all__ = ["plot_carbon_curves", "save_figure"]

COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


def _curves(ax, ds: xr.Dataset, x_name: str, xlabel: str) -> None:
    for i, hw in enumerate(ds["hardware"].values):
        sub = ds.sel(hardware=hw)
        x = sub[x_name].median("draw").values
        q = np.percentile(sub["total_tco2e"].values, [5, 25, 50, 75, 95], axis=0)
        color = COLORS[i % len(COLORS)]
        ax.fill_between(x, q[0], q[4], color=color, alpha=0.15, linewidth=0)
        ax.fill_between(x, q[1], q[3], color=color, alpha=0.3, linewidth=0)
        ax.plot(x, q[2], color=color, marker="o", markersize=3, label=legend_label(hw))
    ax.set_xscale("log")
    ax.set_yscale("log")
    x_all = ds[x_name].median("draw").values
    readable_log_ticks(ax.xaxis, float(np.nanmin(x_all)), float(np.nanmax(x_all)))
    y_all = ds["total_tco2e"].values
    readable_log_ticks(ax.yaxis, float(np.nanpercentile(y_all, 1)), float(np.nanpercentile(y_all, 99)))
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.set_xlabel(xlabel)
    ax.grid(True, which="both", alpha=0.3, linewidth=0.5)


def plot_carbon_curves(ds: xr.Dataset, *, title: str | None = None, path: str | Path | None = None):
    """Two panels: total CO2e against reducible loss L − E and against accuracy; returns the figure.

    Args:
      ds: a Dataset from `carbon_mc.scaling_sweep`.
      title: figure title (default: from the Dataset's attributes).
      path: where to write the figure (atomically), if given.
    """
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    _curves(left, ds, "reducible_loss_nats", "reducible loss L − E (nats/token), log scale")
    left.invert_xaxis()  # better models to the right
    left.set_ylabel(f"{output_label('total_tco2e')}, log scale", fontsize=9)
    _curves(right, ds, "accuracy_fraction", "average downstream accuracy, log scale")
    right.legend(title="hardware", fontsize=8, loc="upper left")  # CO2e rises to the right: upper left is clear
    if title is None:
        title = (f"CO2e against model quality: {ds.attrs.get('utilization', '')} utilization, "
                 f"{ds.attrs.get('batch_policy', '')} batch; median, 50% and 90% bands")
    fig.suptitle(literal(title), fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
