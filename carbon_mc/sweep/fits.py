"""Power laws of carbon against quality, per draw: log-log fits over the sizes of a sweep."""

from __future__ import annotations

from typing import cast

import numpy as np
import xarray as xr

from ..errors import InputError, shown


# ------------------------------------------------------------------------------------------------
# exponents
# ------------------------------------------------------------------------------------------------
def loglog_fit(x: xr.DataArray, y: xr.DataArray, dim: str = "size") -> xr.Dataset:
    """Per-draw least-squares slope and R² of ln y against ln x along `dim`."""
    # np.log of a DataArray is a DataArray (xarray's __array_ufunc__); NumPy's stubs say ndarray
    lx, ly = cast(xr.DataArray, np.log(x)), cast(xr.DataArray, np.log(y))
    mx, my = lx.mean(dim), ly.mean(dim)
    sxx = ((lx - mx) ** 2).sum(dim)
    sxy = ((lx - mx) * (ly - my)).sum(dim)
    syy = ((ly - my) ** 2).sum(dim)
    slope = sxy / sxx
    r2 = sxy**2 / (sxx * syy)
    return xr.Dataset({"slope": slope, "r2": r2})


def carbon_exponents(ds: xr.Dataset, dim: str = "size") -> xr.Dataset:
    """Per draw (and accelerator): d ln CO2e / d ln (L − E) and d ln CO2e / d ln accuracy, with their R².

    The carbon–loss exponent is negative (carbon rises as the reducible loss falls); "worse" means
    more negative. The carbon–accuracy exponent is positive.

    Raises:
      InputError: `ds` lacks the sweep's variables or the dimension `dim`.
    """
    needed = ("reducible_loss_nats", "accuracy_fraction", "total_tco2e")
    if not isinstance(dim, str):
        raise InputError(f"dim must be the name of a dimension (a string), got {shown(dim)} ({type(dim).__name__})")
    if not isinstance(ds, xr.Dataset) or any(v not in ds for v in needed) or dim not in ds.dims:
        raise InputError(f"carbon_exponents needs a scaling_sweep Dataset (ds) with {', '.join(needed)} over dim {dim!r}")
    loss = loglog_fit(ds["reducible_loss_nats"], ds["total_tco2e"], dim)
    acc = loglog_fit(ds["accuracy_fraction"], ds["total_tco2e"], dim)
    out = xr.Dataset({
        "carbon_loss_exponent": loss["slope"], "carbon_loss_r2": loss["r2"],
        "carbon_accuracy_exponent": acc["slope"], "carbon_accuracy_r2": acc["r2"],
    })
    out["carbon_loss_exponent"].attrs = {"units": "1", "long_name": "slope of ln total CO2e against ln reducible loss"}
    out["carbon_accuracy_exponent"].attrs = {"units": "1", "long_name": "slope of ln total CO2e against ln accuracy"}
    return out
