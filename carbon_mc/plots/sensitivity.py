"""Figures for Sobol' sensitivity indices (matplotlib; the CLI selects the Agg backend).

- `plot_indices`: horizontal bars of S1 and ST per input, ranked by ST, with their intervals.
- `plot_rankings`: the same for several scenarios side by side, on one shared list of inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from ..priors import load_priors
from . import axis_label, literal, save_figure

__all__ = ["plot_indices", "plot_rankings", "save_figure"]

S1_COLOR = "#5d8aa8"
ST_COLOR = "#1f3a5f"


def _errors(ds: xr.Dataset, labels: list[str], index: str) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and matplotlib's (2, n) asymmetric error bars, NaN where an input is absent."""
    est, err = np.full(len(labels), np.nan), np.full((2, len(labels)), np.nan)
    present = set(map(str, ds["input"].values))
    for i, label in enumerate(labels):
        if label not in present:
            continue
        value = float(ds["sobol_index"].sel(input=label, index=index))
        lower, upper = (float(ds["sobol_index_ci"].sel(input=label, index=index, ci_bound=b)) for b in ("lower", "upper"))
        est[i] = value
        err[:, i] = [max(0.0, value - lower), max(0.0, upper - value)] if np.isfinite(lower) else [0.0, 0.0]
    return est, err


def _bars(ax, ds: xr.Dataset, labels: list[str], *, legend: bool) -> None:
    y = np.arange(len(labels))
    height = 0.38
    for offset, index, color in ((-height / 2, "ST", ST_COLOR), (height / 2, "S1", S1_COLOR)):
        est, err = _errors(ds, labels, index)
        ax.barh(y + offset, np.nan_to_num(est), height=height, color=color, label=f"{index} ({'total' if index == 'ST' else 'first'} order)",
                xerr=err, error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#444444"})
    ax.set_yticks(y, [literal(input_label(label)) for label in labels])
    ax.invert_yaxis()
    ax.axvline(0.0, color="black", lw=0.6)
    lo, hi = ax.get_xlim()
    ax.set_xlim(min(0.0, lo), max(1.0, hi))  # indices on one 0-1 scale, so panels compare
    ax.grid(axis="x", alpha=0.3)
    if legend:
        ax.legend(loc="lower right", fontsize="small", frameon=False)


def input_label(name: str) -> str:
    """An input's long name from the priors, before any parenthesis (a group's name stays as it is)."""
    table = load_priors()
    return table.quantities[name].long_name.split(" (")[0] if name in table.quantities else name


def _ranked_labels(ds: xr.Dataset) -> list[str]:
    st = ds["sobol_index"].sel(index="ST").values
    labels = [str(v) for v in ds["input"].values]
    return [labels[i] for i in np.argsort(-st, kind="stable")]


def _subtitle(ds: xr.Dataset) -> str:
    level = f"{100 * float(ds.attrs.get('conf_level', 0.95)):g}%"
    return f"{ds.attrs.get('num_base', '?'):,} base draws, {level} {ds.attrs.get('ci_method', 'bootstrap')} intervals"


def plot_indices(ds: xr.Dataset, *, title: str | None = None, path: str | Path | None = None):
    """Horizontal bars of S1 and ST per input (largest ST on top) with their confidence intervals.

    Args:
      ds: a Dataset from `carbon_mc.sensitivity`.
      title: figure title (default: the scenario and output).
      path: if given, the figure is also written there (.png, .pdf, .svg).

    Returns:
      the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    labels = _ranked_labels(ds)
    fig, ax = plt.subplots(figsize=(10.5, 0.9 + 0.42 * len(labels)))
    _bars(ax, ds, labels, legend=True)
    scenario = ds.attrs.get("scenario_name")
    output = ds.attrs.get("output", "output")
    if "output_long_name" in ds.attrs:
        output = axis_label(ds.attrs["output_long_name"], ds.attrs.get("output_units"))
    ax.set_title(literal(title or (f"{scenario}: what drives {output}" if scenario else f"what drives {output}")), loc="left",
                 fontsize="medium")
    ax.set_xlabel(f"Sobol' index, dimensionless ({_subtitle(ds)})")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_rankings(results: Mapping[str, xr.Dataset], *, title: str | None = None, path: str | Path | None = None):
    """Several scenarios side by side: one panel each, the inputs in one shared order.

    The shared order is by the largest ST an input reaches in any scenario, so a change of rank
    between panels shows as a change of bar length on the same row.

    Args:
      results: ``{panel title: Dataset from carbon_mc.sensitivity}``.
      title: figure title.
      path: if given, the figure is also written there.

    Returns:
      the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("no results to plot")
    best: dict[str, float] = {}
    for ds in results.values():
        for label, st in zip(map(str, ds["input"].values), ds["sobol_index"].sel(index="ST").values):
            best[label] = max(best.get(label, -np.inf), float(st))
    labels = sorted(best, key=lambda k: -best[k])
    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(5.0 + 3.2 * n, 0.9 + 0.42 * len(labels)), sharey=True, squeeze=False)
    for i, (ax, (name, ds)) in enumerate(zip(axes[0], results.items())):
        _bars(ax, ds, labels, legend=i == n - 1)
        ax.set_title(literal(name), fontsize="medium")
        ax.set_xlabel("Sobol' index (dimensionless)")
    if title:
        fig.suptitle(literal(title), x=0.01, ha="left", fontsize="medium")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
