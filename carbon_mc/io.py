"""Writing and reading results: netCDF written atomically, so a failure leaves nothing half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import xarray as xr

from .errors import CarbonMCError

ENGINE = "h5netcdf"


def check_writable(path: str | Path) -> Path:
    """Fail early, before any computation, if `path` cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CarbonMCError(f"directory {str(parent)!r} does not exist", file=str(path))
    if not os.access(parent, os.W_OK):
        raise CarbonMCError(f"directory {str(parent)!r} is not writable", file=str(path))
    return path


def save_dataset(ds: xr.Dataset, path: str | Path) -> Path:
    """Write `ds` to netCDF at `path` via a temporary file and an atomic rename."""
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=".carbon-mc-", suffix=".nc", dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine=ENGINE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_dataset(path: str | Path) -> xr.Dataset:
    """Read a result written by `save_dataset` fully into memory."""
    path = Path(path)
    if not path.exists():
        raise CarbonMCError("no such file", file=str(path))
    with xr.open_dataset(path, engine=ENGINE) as ds:
        return ds.load()
