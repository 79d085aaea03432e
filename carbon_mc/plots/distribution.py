"""A run's distributions with the published figures marked, each only on the histogram of its own scope.

A figure reported as "GPUs only, no PUE" (BLOOM's 24.7 t) belongs on the distribution of the
accelerators' own emissions without PUE, and an operational figure (Patterson et al.'s 552 t for
GPT-3) on the operational emissions, never on total CO2e. `plot_on_scope` takes the checks of
`carbon_mc.check_claims` (each carries its quantity, its accounting basis and its draws) and draws
one panel per (quantity, grid basis, PUE) with exactly the claims made on it.

Two layouts of the same figure: ``narrow=False`` (panels side by side, for a page at desktop width)
and ``narrow=True`` (one panel per row, 4.2 in wide, larger type, legend labels wrapped): drawn at
a phone's width (360-390 CSS px) its text stays at least 9 CSS px high (`NARROW` sizes, in points;
an SVG point is 4/3 CSS px before the figure is scaled to the screen).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import legend_label, literal, output_label, readable_log_ticks, save_figure

__all__ = ["NARROW", "WIDE", "legend_below", "plot_on_scope", "plot_outputs", "scope_groups", "scope_title", "sized", "wrapped"]

MARK_COLORS = ("#c0392b", "#2471a3", "#7d3c98", "#b9770e", "#117a65")
HIST_COLOR = "#95a5a6"

# Type sizes in points, and panel sizes in inches, of the two layouts.
WIDE = {"base": 10.0, "legend": 7.5, "title": 8.5, "suptitle": 10.0, "panel_width": 5.6, "wrap": 0, "label_wrap": 64}
NARROW = {"base": 10.5, "legend": 10.0, "title": 10.0, "suptitle": 11.5, "panel_width": 4.2, "wrap": 36, "label_wrap": 40}


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


def axis_number(x: float) -> str:
    """Three significant figures, thousands separated, never in e-notation for everyday sizes."""
    return f"{x:,.0f}" if 1e3 <= abs(x) < 1e9 else f"{x:.3g}"


def _panel(ax, group: list, sizes: dict = WIDE) -> None:
    first = group[0]
    x = np.asarray(first.values, dtype=np.float64)
    x = x[np.isfinite(x)]
    claims = [c.claim_value for c in group]
    lo, hi = min(float(x.min()), *claims), max(float(x.max()), *claims)
    log = lo > 0 and hi / lo > 20
    bins = np.geomspace(float(x.min()), float(x.max()), 80) if log else np.linspace(float(x.min()), float(x.max()), 80)
    ax.hist(x, bins=bins, color=HIST_COLOR)
    p5, p95 = first.interval
    ax.axvspan(p5, p95, color=HIST_COLOR, alpha=0.25, label=legend_label(f"90% interval {axis_number(p5)}-{axis_number(p95)}"))
    ax.axvline(first.median, color="black", lw=1, label=legend_label(f"median {axis_number(first.median)} {first.units}"))
    for check, color in zip(group, MARK_COLORS * 4):
        ax.axvline(check.claim_value, color=color, lw=2,
                   label=legend_label(f"{check.claim.label or 'claim'}: {axis_number(check.claim_value)} {check.units} "
                                      f"(pct {check.percentile:.1f})"))
    if log:
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.3, hi * 1.3)
        readable_log_ticks(ax.xaxis, lo / 1.3, hi * 1.3)
    ax.set_xlabel(wrapped(output_label(first.quantity, first.units), sizes["label_wrap"]))
    ax.set_ylabel("draws")
    ax.set_title(literal(scope_title(first).split("\n")[1]), fontsize=sizes["title"])
    sized(ax, sizes)
    legend_below(ax, sizes)


def wrapped(text: str, width: float) -> str:
    """`literal` text broken into lines of at most `width` characters (an axis label no wider than its panel)."""
    import textwrap

    return "\n".join(textwrap.wrap(literal(text), int(width))) or literal(text)


def legend_below(ax, sizes: dict = WIDE) -> None:
    """The legend under the axes, below the tick labels and the x label: never over the bars, marks or labels.

    Placed a fixed distance (in inches) under the axes, from the x label's number of lines; in the
    narrow layout each entry is wrapped to ``sizes["wrap"]`` characters so that the legend is no
    wider than its panel (a wider one would widen the figure, and shrink its type on screen).
    """
    import textwrap

    from matplotlib.transforms import ScaledTranslation

    handles, labels = ax.get_legend_handles_labels()
    if sizes["wrap"]:
        labels = [textwrap.fill(label, int(sizes["wrap"]), subsequent_indent="  ") for label in labels]
    lines = ax.get_xlabel().count("\n") + 1
    drop = 0.12 + 1.25 * (sizes["base"] * (lines + 1)) / 72  # tick labels + x label lines, in inches
    ax.legend(handles, labels, fontsize=sizes["legend"], loc="upper left", bbox_to_anchor=(0.0, 0.0),
              bbox_transform=ax.transAxes + ScaledTranslation(0, -drop, ax.figure.dpi_scale_trans),
              frameon=False, ncol=1, borderaxespad=0.0)


def sized(ax, sizes: dict) -> None:
    """Tick labels and axis labels of `ax` at the layout's type size (set on the artists, not through rcParams:
    a figure drawn inside ``matplotlib.rc_context`` can be lost by a notebook's inline backend)."""
    ax.tick_params(labelsize=sizes["base"] - 0.5)
    ax.xaxis.label.set_fontsize(sizes["base"])
    ax.yaxis.label.set_fontsize(sizes["base"])


def plot_on_scope(checks, *, title: str | None = None, columns: int = 2, narrow: bool = False, path: str | Path | None = None):
    """One histogram per scope of `checks`, each with the claims made on that scope; returns the figure.

    Args:
      checks: `carbon_mc.claims.ClaimCheck` objects with their draws (from `check_claims` or
        `check_scenario`), e.g. every claim of one scenario.
      title: the figure's title (default: the scenario's name).
      columns: panels per row (1 when `narrow`).
      narrow: the layout for a phone's width (`NARROW`): one panel per row, larger type.
      path: if given, the figure is also written there (format from the suffix).
    """
    import matplotlib.pyplot as plt

    groups = scope_groups(checks)
    if not groups:
        raise ValueError("no claim checks to draw")
    sizes = NARROW if narrow else WIDE
    cols = 1 if narrow else min(columns, len(groups))
    rows = -(-len(groups) // cols)
    height = 5.6 if narrow else 4.6
    fig, axes = plt.subplots(rows, cols, figsize=(sizes["panel_width"] * cols, height * rows), squeeze=False)
    for ax, group in zip(axes.ravel(), groups):
        _panel(ax, group, sizes)
    for ax in axes.ravel()[len(groups):]:
        ax.set_visible(False)
    fig.suptitle(wrapped(title or groups[0][0].scenario_name, 2 * sizes["label_wrap"] if not narrow else 44),
                 fontsize=sizes["suptitle"])
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / (height * rows)))  # room for the title above the first panels
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_outputs(ds, names: list[str], *, narrow: bool = False, path: str | Path | None = None):
    """Histograms of outputs of an `estimate` Dataset, with median and 90% interval, no claim marked.

    Args:
      ds: draws (`carbon_mc.estimate`).
      names: the outputs, one panel each.
      narrow: the layout for a phone's width (`NARROW`): one panel per row, larger type.
      path: if given, the figure is also written there.
    """
    import matplotlib.pyplot as plt

    sizes = NARROW if narrow else WIDE
    shape = (len(names), 1) if narrow else (1, len(names))
    size = (sizes["panel_width"], 4.6 * len(names)) if narrow else (sizes["panel_width"] * len(names), 3.7)
    fig, axes = plt.subplots(*shape, figsize=size, squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        x = np.asarray(ds[name].values, dtype=np.float64)
        x = x[np.isfinite(x)]
        ax.hist(x, bins=80, color=HIST_COLOR)
        p5, median, p95 = np.quantile(x, [0.05, 0.5, 0.95])
        ax.axvspan(p5, p95, color=HIST_COLOR, alpha=0.25, label=f"90% interval {axis_number(p5)}-{axis_number(p95)}")
        ax.axvline(median, color="black", lw=1, label=f"median {axis_number(median)}")
        ax.set_xlabel(wrapped(output_label(name), sizes["label_wrap"]))
        ax.set_ylabel("draws")
        sized(ax, sizes)
        legend_below(ax, sizes)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
