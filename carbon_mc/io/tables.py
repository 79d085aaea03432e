"""CSV out: a summary Dataset (``stat`` x variables) or a draws Dataset (``draw``), units in the header.

Written atomically through `carbon_mc.io.atomic_write`, so a failure leaves nothing half-written.
Each column header is ``name [units]`` (``name`` alone for a variable without units); scalar
variables (inputs fixed to one value) are repeated on every row, so every column has one value
per row.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import CarbonMCError
from .files import atomic_write

ROW_DIMS = ("stat", "draw")


def column_name(name: str, variable: xr.DataArray) -> str:
    """``"energy_mwh [MWh]"``: the variable's name and its ``units`` attribute."""
    units = variable.attrs.get("units")
    return f"{name} [{units}]" if units not in (None, "") else name


def table_of(ds: xr.Dataset) -> tuple[list[str], list[list]]:
    """(header, rows) of a summary or draws Dataset: one row per ``stat`` or ``draw``."""
    dims = [d for d in ROW_DIMS if d in ds.dims]
    if len(dims) != 1:
        raise CarbonMCError(f"expected a Dataset over 'stat' (a summary) or 'draw' (draws), got dims {sorted(map(str, ds.dims))}")
    dim = dims[0]
    n = ds.sizes[dim]
    names, columns = [], []
    for name, variable in ds.data_vars.items():
        extra = [d for d in variable.dims if d != dim]
        if extra:
            raise CarbonMCError(f"variable {name!r} has dims {variable.dims}: only ({dim!r},) or scalars fit one CSV column")
        values = np.asarray(variable.values)
        columns.append(np.broadcast_to(values, (n,)) if values.ndim == 0 else values)
        names.append(column_name(str(name), variable))
    index = ds[dim].values if dim in ds.coords else np.arange(n)
    header = [dim, *names]
    rows = [[_cell(index[i]), *(_cell(col[i]) for col in columns)] for i in range(n)]
    return header, rows


def _cell(value):
    if isinstance(value, (np.floating, float)):
        return repr(float(value))  # full precision, round-trips
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_csv(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a summary (``carbon_mc.summarize``) or draws (``carbon_mc.estimate``) Dataset to CSV atomically."""
    header, rows = table_of(ds)

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)

    return atomic_write(path, write)


__all__ = ["column_name", "table_of", "write_csv"]
