"""A run's distributions with the published figures marked, each only on the histogram of its own scope.

A figure reported as "GPUs only, no PUE" (BLOOM's 24.7 t) belongs on the distribution of the
accelerators' own emissions without PUE, and an operational figure (Patterson et al.'s 552 t for
GPT-3) on the operational emissions, never on total CO2e. `plot_on_scope` takes the checks of
`carbon_mc.check_claims` (each carries its quantity, its accounting basis and its draws) and draws
one panel per (quantity, grid basis, PUE) with exactly the claims made on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import legend_label, literal, output_label, readable_log_ticks, save_figure

__all__ = ["plot_on_scope", "plot_outputs", "scope_groups", "scope_title"]

MARK_COLORS = ("#c0392b", "#2471a3", "#7d3c98", "#b9770e", "#117a65")
HIST_COLOR = "#95a5a6"


def _scope_key(check) -> tuple:
    pue = check.accounting["pue_included"] if check.pue_in_quantity else None
    return check.quantity, check.accounting["grid_basis"], pue


def scope_groups(checks) -> list[list]:
    """The checks grouped by scope (quantity, grid basis, PUE), in the order their scopes first appear."""
    groups: dict[tuple, list] = {}
    for check in checks:
        groups.setdefault(_scope_key(check), []).append(check)
    return list(groups.values())


def scope_title(check) -> str:
    """e.g. "operational emissions (t CO2e)\nlocation-based grid, PUE included"."""
    pue = ("PUE included" if check.accounting["pue_included"] else "PUE excluded") if check.pue_in_quantity else "no PUE in this quantity"
    return f"{output_label(check.quantity, check.units)}\n{check.accounting['grid_basis']}-based grid, {pue}"


def _num(x: float) -> str:
    """Three significant figures, thousands separated, never in e-notation for everyday sizes."""
    return f"{x:,.0f}" if 1e3 <= abs(x) < 1e9 else f"{x:.3g}"


def _panel(ax, group: list) -> None:
    first = group[0]
    x = np.asarray(first.values, dtype=np.float64)
    x = x[np.isfinite(x)]
    claims = [c.claim_value for c in group]
    lo, hi = min(float(x.min()), *claims), max(float(x.max()), *claims)
    log = lo > 0 and hi / lo > 20
    bins = np.geomspace(float(x.min()), float(x.max()), 80) if log else np.linspace(float(x.min()), float(x.max()), 80)
    ax.hist(x, bins=bins, color=HIST_COLOR)
    p5, p95 = first.interval
    ax.axvspan(p5, p95, color=HIST_COLOR, alpha=0.25, label=legend_label(f"90% interval {_num(p5)}-{_num(p95)}"))
    ax.axvline(first.median, color="black", lw=1, label=legend_label(f"median {_num(first.median)} {first.units}"))
    for check, color in zip(group, MARK_COLORS * 4):
        ax.axvline(check.claim_value, color=color, lw=2,
                   label=legend_label(f"{check.claim.label or 'claim'}: {_num(check.claim_value)} {check.units} "
                                      f"(pct {check.percentile:.1f})"))
    if log:
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.3, hi * 1.3)
        readable_log_ticks(ax.xaxis, lo / 1.3, hi * 1.3)
    ax.set_xlabel(literal(output_label(first.quantity, first.units)))
    ax.set_ylabel("draws")
    ax.set_title(literal(scope_title(first).split("\n")[1]), fontsize=8)
    _legend_below(ax)


def _legend_below(ax) -> None:
    """The legend under the axes (below the x label), never over the histogram's bars or marks."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.2), frameon=False, ncol=1, borderaxespad=0.0)


def plot_on_scope(checks, *, title: str | None = None, columns: int = 2, path: str | Path | None = None):
    """One histogram per scope of `checks`, each with the claims made on that scope; returns the figure.

    Args:
      checks: `carbon_mc.claims.ClaimCheck` objects with their draws (from `check_claims` or
        `check_scenario`), e.g. every claim of one scenario.
      title: the figure's title (default: the scenario's name).
      columns: panels per row.
      path: if given, the figure is also written there (format from the suffix).
    """
    import matplotlib.pyplot as plt

    groups = scope_groups(checks)
    if not groups:
        raise ValueError("no claim checks to draw")
    cols = min(columns, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.6 * rows), squeeze=False)
    for ax, group in zip(axes.ravel(), groups):
        _panel(ax, group)
    for ax in axes.ravel()[len(groups):]:
        ax.set_visible(False)
    fig.suptitle(literal(title or groups[0][0].scenario_name), fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_outputs(ds, names: list[str], *, path: str | Path | None = None):
    """Histograms of outputs of an `estimate` Dataset, with median and 90% interval, no claim marked.

    Args:
      ds: draws (`carbon_mc.estimate`).
      names: the outputs, one panel each.
      path: if given, the figure is also written there.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(names), figsize=(5.6 * len(names), 3.7), squeeze=False)
    for ax, name in zip(axes[0], names):
        x = np.asarray(ds[name].values, dtype=np.float64)
        x = x[np.isfinite(x)]
        ax.hist(x, bins=80, color=HIST_COLOR)
        p5, median, p95 = np.quantile(x, [0.05, 0.5, 0.95])
        ax.axvspan(p5, p95, color=HIST_COLOR, alpha=0.25, label=f"90% interval {_num(p5)}-{_num(p95)}")
        ax.axvline(median, color="black", lw=1, label=f"median {_num(median)}")
        ax.set_xlabel(literal(output_label(name)))
        ax.set_ylabel("draws")
        _legend_below(ax)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
