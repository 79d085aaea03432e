"""Figures, one module per feature; matplotlib only, imported lazily by the CLI.

Shared here: `save_figure` (atomic write), `axis_label` (a variable's long name and units, as the
axes of every figure read), `readable_log_ticks` (tick labels on log axes spanning less than a
decade, where matplotlib would print none) and `literal` / `legend_label`: every text a user wrote
(a scenario's name, a claim's label, a quantity, a group, a title) goes through them before it
reaches matplotlib, so "$", "\\", "_" and "^" are shown as written, never parsed as mathtext.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..footprint import OUTPUTS
from ..io.files import atomic_write


def literal(text) -> str:
    """`text` as matplotlib shows it literally: every "$" escaped, so no mathtext is parsed.

    Matplotlib parses a text as mathtext only when it holds an even number (> 0) of unescaped "$";
    with each "$" written "\\$" it holds none, and it draws "\\$" as "$". Backslashes, "_" and "^"
    mean nothing outside mathtext, so they are drawn as they are.
    """
    return str(text).replace("$", r"\$")


def legend_label(text) -> str:
    """`literal` for a legend entry; a label starting with "_" (which matplotlib would leave out of the legend) is kept."""
    text = literal(text)
    return f" {text}" if text.startswith("_") else text


def save_figure(fig, path: str | Path, *, dpi: int = 120) -> Path:
    """Write `fig` to `path` (format from the suffix) through a temporary file and an atomic rename."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or None))


def axis_label(long_name: str, units: str | None) -> str:
    """``"operational emissions (t CO2e)"``, ``"power usage effectiveness (dimensionless)"``: the long name
    with its units, unless the long name already ends with them in parentheses."""
    name = long_name.strip()
    if units in (None, ""):
        return name
    if units == "1":
        return f"{name} (dimensionless)" if "(" not in name else name
    if name.endswith(")") and units in name[name.rfind("("):]:
        return name
    return f"{name} ({units})"


def units_label(units: str | None) -> str:
    """Units as an axis reads them: "dimensionless" for CF's "1"."""
    return "dimensionless" if units in (None, "", "1") else units


def output_label(name: str, units: str | None = None) -> str:
    """`axis_label` of an output of a training run (`carbon_mc.footprint.OUTPUTS`) or of a deployment
    (`SERVING_OUTPUTS`, e.g. ``it_operational_kgco2e_per_day``); where both name it, the one in `units`
    (when given). A name neither knows is shown as it is, with `units`."""
    from ..footprint.serving_outputs import SERVING_OUTPUTS

    known = [table[name] for table in (OUTPUTS, SERVING_OUTPUTS) if name in table]
    meta = next((m for m in known if units is None or m.units == units), known[0] if known else None)
    if meta is None:
        return axis_label(str(name), units)
    return axis_label(meta.long_name, meta.units)


def readable_log_ticks(axis, lo: float, hi: float) -> None:
    """Label a log axis from `lo` to `hi` at 1-2-5 (or every integer multiple when it spans under a decade).

    `axis` is ``ax.xaxis`` or ``ax.yaxis``.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    decades = np.log10(max(hi, lo * 1.0001) / lo) if lo > 0 else 3.0
    subs = tuple(range(1, 10)) if decades < 1.2 else (1.0, 2.0, 5.0) if decades < 3.5 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.3g}"))
    axis.set_minor_formatter(NullFormatter())
