"""Figures, one module per feature; matplotlib only, imported lazily by the CLI.

Shared here: `save_figure` (atomic write), `axis_label` (a variable's long name and units, as the
axes of every figure read) and `readable_log_ticks` (tick labels on log axes spanning less than a
decade, where matplotlib would print none).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..footprint import OUTPUTS
from ..io.files import atomic_write


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


def output_label(name: str) -> str:
    """`axis_label` of a model output (`carbon_mc.footprint.OUTPUTS`)."""
    meta = OUTPUTS[name]
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
