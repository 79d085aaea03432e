"""Writing and reading results: netCDF written atomically, so a failure leaves nothing half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CarbonMCError

if TYPE_CHECKING:
    import xarray as xr

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


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside `path`, then rename it to `path`.

    Readers never see a half-written file, and a failure leaves nothing behind.
    """
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=".carbon-mc-", suffix=path.suffix, dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_dataset(ds: "xr.Dataset", path: str | Path) -> Path:
    """Write `ds` to netCDF at `path` via a temporary file and an atomic rename."""
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine=ENGINE))


def save_text(text: str, path: str | Path) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def load_dataset(path: str | Path) -> "xr.Dataset":
    """Read a result written by `save_dataset` fully into memory."""
    path = Path(path)
    if not path.exists():
        raise CarbonMCError("no such file", file=str(path))
    import xarray as xr  # only reading a file needs xarray: the command line's --help and checks do not

    with xr.open_dataset(path, engine=ENGINE) as ds:
        return ds.load()
