"""Figures for claim checks and scenario comparisons (matplotlib, Agg when saving from the CLI).

- `plot_claim`: the distribution with the claim marked, and the inputs' distributions among the
  draws at or beyond the claim against their priors.
- `plot_comparison`: the distribution of B / A (and of B - A), optionally against the same
  comparison drawn without common random numbers.
- `plot_decomposition`: for a claim that states its method, the gap between the estimate and the
  claim, factor by factor (geometric means with the 5th-95th percentiles of the same draws).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import legend_label, literal, output_label, readable_log_ticks, save_figure, units_label

__all__ = ["plot_claim", "plot_comparison", "plot_decomposition", "save_figure"]

CLAIM_COLOR = "#c0392b"
PRIOR_COLOR = "#7f8c8d"
SHIFT_COLOR = "#2471a3"


def _bins(x: np.ndarray, log: bool, lo: float | None = None, hi: float | None = None, num: int = 80):
    lo = float(np.min(x)) if lo is None else lo
    hi = float(np.max(x)) if hi is None else hi
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0) * 1e-3
    return np.geomspace(lo, hi, num) if log else np.linspace(lo, hi, num)


def _input_name(name: str) -> str:
    """An input's long name from the bundled priors, wrapped for a panel title (its key where none is known)."""
    import textwrap

    from ..priors import load_priors

    base, _, component = name.partition("[")
    quantity = load_priors().quantities.get(base)
    long_name = quantity.long_name if quantity is not None else base.replace("_", " ")
    return literal(textwrap.fill(long_name + (f" [{component}" if component else ""), 34))


def plot_claim(check, *, max_inputs: int = 4, path: str | Path | None = None):
    """The distribution of the checked quantity with the claim marked, beside the shifted inputs.

    Args:
      check: a `carbon_mc.claims.ClaimCheck` (with its draws, as `check_claim` returns it).
      max_inputs: how many inputs to show, largest shift first.
      path: if given, the figure is also written there.

    Returns:
      the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    y = check.values
    c = check.claim_value
    shifts = [s for s in check.shifts if s.ks_distance > 0][:max_inputs]
    fig, axes = plt.subplots(1, 1 + len(shifts), figsize=(5.2 + 2.6 * len(shifts), 3.6),
                             gridspec_kw={"width_ratios": [2.0] + [1.0] * len(shifts)}, squeeze=False)
    axes = axes[0]
    ax = axes[0]
    positive = np.all(y > 0) and c > 0
    span = max(c, float(y.max())) / min(c, float(y.min())) if positive else 1.0
    log = bool(positive and span > 20)
    lo, hi = min(float(y.min()), c), max(float(y.max()), c)
    ax.hist(y, bins=_bins(y, log), color=PRIOR_COLOR, alpha=0.8, density=False)
    if log:
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.5, hi * 1.5)
        readable_log_ticks(ax.xaxis, lo / 1.5, hi * 1.5)
    p5, p95 = check.interval
    ax.axvspan(p5, p95, color=PRIOR_COLOR, alpha=0.15, label="90% interval")
    ax.axvline(check.median, color="black", lw=1, label=legend_label(f"median {check.median:.3g} {check.units}"))
    ax.axvline(c, color=CLAIM_COLOR, lw=2, label=legend_label(f"claim {c:.3g} {check.units}"))
    ratio = check.ratio_median
    text = f"percentile {check.percentile:.1f}"
    if math.isfinite(ratio):
        lo_r, hi_r = check.ratio_interval
        text += f"; claim/median {ratio:.3g} (90%: {lo_r:.3g}-{hi_r:.3g})"
    if check.num_beyond == 0:
        text += f"\nno draw of {check.num_draws:,} reaches it"
    ax.set_xlabel(literal(output_label(check.quantity, check.units)))
    ax.set_ylabel("draws")
    title = check.claim.label or f"{check.claim.value:g} {check.claim.unit}"
    ax.set_title(literal(f"{check.scenario_name}: {title}\n{text}"), fontsize=8)
    ax.legend(fontsize=7, loc="upper right")  # fixed: "best" searches every bar, slow and warned of under load

    inputs = check.inputs or {}
    for ax, s in zip(axes[1:], shifts):
        x = np.asarray(inputs[s.name], dtype=np.float64)
        bins = _bins(x, False, float(np.quantile(x, 0.001)), float(np.quantile(x, 0.999)), 50)
        ax.hist(x, bins=bins, density=True, color=PRIOR_COLOR, alpha=0.6, label="prior")
        ax.hist(x[check.selected], bins=bins, density=True, color=SHIFT_COLOR, alpha=0.6,
                label="at/beyond claim" if check.num_beyond else "nearest claim")
        ax.set_title(f"{_input_name(s.name)}\nKS {s.ks_distance:.2f}, median x{s.median_ratio:.2f}", fontsize=8)
        ax.set_xlabel(literal(units_label(s.units)), fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    if shifts:
        axes[1].legend(fontsize=7, loc="upper right")  # a fixed place: "best" searches the data, slow and warned of on large samples
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_comparison(comparison, *, independent=None, path: str | Path | None = None):
    """B / A and B - A of a `carbon_mc.comparison.Comparison`.

    Args:
      comparison: the comparison (normally with common random numbers).
      independent: optionally the same comparison drawn without them, overlaid for contrast.
      path: if given, the figure is also written there.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    c = comparison
    fig, (ax_r, ax_d) = plt.subplots(1, 2, figsize=(10.5, 3.6))
    ratio = c.ratio
    finite = np.isfinite(ratio)
    r = ratio[finite]
    pieces = [r] + ([independent.ratio[np.isfinite(independent.ratio)]] if independent is not None else [])
    allr = np.concatenate(pieces)
    log = bool(allr.size > 0 and np.all(allr > 0) and allr.max() / allr.min() > 100)
    lo, hi = (float(np.quantile(allr, 0.0005)), float(np.quantile(allr, 0.9995))) if allr.size else (0.0, 1.0)
    bins = _bins(allr, log, lo, hi)
    if independent is not None:
        ax_r.hist(pieces[1], bins=bins, color=PRIOR_COLOR, alpha=0.5, density=True, label="independent draws")
    ax_r.hist(r, bins=bins, color=SHIFT_COLOR, alpha=0.7, density=True,
              label="common random numbers" if c.common_random_numbers else "independent draws")
    if log:
        ax_r.set_xscale("log")
        ax_r.xaxis.set_minor_formatter(NullFormatter())
    if lo <= 1.0 <= hi:
        ax_r.axvline(1.0, color="black", lw=1)
    s = c.summary()
    if s["ratio"]:
        q = s["ratio"]
        ax_r.set_title(f"B / A: median {q['median']:.3g} (90%: {q['lower']:.3g}-{q['upper']:.3g})", fontsize=9)
    label = output_label(c.quantity, c.units)  # e.g. "total emissions, operational plus embodied (t CO2e)"
    cut = label.rfind(" (")
    named, shown_units = (label[:cut], label[cut + 2:-1]) if cut > 0 and c.units in label[cut:] else (label, c.units)
    ax_r.set_xlabel(literal(f"ratio B / A of {named}"))
    ax_r.set_yticks([])
    ax_r.legend(fontsize=7, loc="upper right")
    fig.suptitle(literal(f"A: {c.a_name}    B: {c.b_name}    P(B < A) = {s['prob_b_less']:.3f}"), fontsize=9)
    d = c.difference
    dq = np.quantile(d, [0.0005, 0.9995])
    ax_d.hist(d, bins=_bins(d, False, float(dq[0]), float(dq[1])), color=SHIFT_COLOR, alpha=0.7, density=True)
    if dq[0] <= 0 <= dq[1]:
        ax_d.axvline(0.0, color="black", lw=1)
    q = s["difference"]
    ax_d.set_title(literal(f"B - A: median {q['median']:.3g} {c.units} (90%: {q['lower']:.3g} to {q['upper']:.3g})"), fontsize=9)
    ax_d.set_xlabel(literal(f"B - A of {named} ({shown_units})"))
    ax_d.set_yticks([])
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


COUNTED_COLOR = "#2471a3"
LEFT_OUT_COLOR = "#c0392b"


def plot_decomposition(check, *, path: str | Path | None = None):
    """estimate / claim of a claim that states its method, split into its factors (log scale).

    One bar per factor: its geometric mean over the draws, with a whisker over its 5th-95th
    percentiles; red where the card's method leaves the part out (host power, PUE, embodied), blue
    where it counts it with its own value; the last bar is the product, estimate / claim. The
    factors' geometric means multiply to its geometric mean (`carbon_mc.claims.method.decompose`).

    Args:
      check: a `carbon_mc.claims.ClaimCheck` whose claim states its method, with a decomposition.
      path: if given, the figure is also written there.

    Raises:
      CarbonMCError: the claim states no method, or its decomposition is undefined (the reason given).
    """
    import textwrap

    import matplotlib.pyplot as plt

    from ..errors import CarbonMCError

    m = getattr(check, "method", None)
    if m is None:
        raise CarbonMCError("this claim states no method: there is no decomposition to plot (add method to the claim)")
    d = m.decomposition
    if d is None:
        raise CarbonMCError(f"no decomposition of this claim to plot: {m.reason}")
    factors = [f for f in d.factors if not (f.name == "arithmetic" and abs(math.log(f.geometric_mean)) < 1e-9)]
    labels = [textwrap.fill(f.label, 38) for f in factors] + [f"estimate / claim\n({d.estimate_quantity})"]
    gm = [f.geometric_mean for f in factors] + [d.ratio_geometric_mean]
    lo = [f.interval[0] for f in factors] + [d.ratio_interval[0]]
    hi = [f.interval[1] for f in factors] + [d.ratio_interval[1]]
    colors = [COUNTED_COLOR if f.counted else LEFT_OUT_COLOR for f in factors] + ["#1b2631"]
    n = len(gm)
    fig, ax = plt.subplots(figsize=(8.6, 1.0 + 0.62 * n))
    y = np.arange(n)[::-1]
    ax.barh(y, [g - 1.0 for g in gm], left=1.0, color=colors, alpha=0.85, height=0.6)
    ax.errorbar(gm, y, xerr=[[g - a for g, a in zip(gm, lo)], [b - g for g, b in zip(gm, hi)]], fmt="none",
                ecolor="black", elinewidth=1, capsize=3)
    for yi, g, b in zip(y, gm, hi):
        ax.text(max(b, 1.0) * 1.03, yi, f"x{g:.3g}", ha="left", va="center", fontsize=8)
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xscale("log")
    span = max(max(hi), 1 / min(lo), 1.2)
    ax.set_xlim(1 / (span * 1.3), span * 1.6)
    readable_log_ticks(ax.xaxis, 1 / (span * 1.3), span * 1.6)
    ax.set_yticks(y)
    ax.set_yticklabels([literal(t) for t in labels], fontsize=8)
    ax.set_xlabel("factor of estimate / claim (geometric mean over the draws; whiskers: 5th-95th percentiles)", fontsize=8)
    ax.axhline(0.5, color="#aab7b8", lw=0.8)
    from matplotlib.patches import Patch

    fig.legend(handles=[Patch(color=COUNTED_COLOR, label="counted by the card (its value vs the estimate)"),
                        Patch(color=LEFT_OUT_COLOR, label="left out by the card's method")],
               fontsize=7, loc="lower center", ncol=2, frameon=False)
    title = check.claim.label or f"{check.claim.value:g} {check.claim.unit}"
    verdict = textwrap.fill(m.summary, 110)
    ax.set_title(literal(f"{check.scenario_name}: {title}\n{verdict}"), fontsize=8, loc="left")
    fig.tight_layout(rect=(0.0, 0.05, 1.0, 1.0))
    if path is not None:
        save_figure(fig, path)
    return fig
