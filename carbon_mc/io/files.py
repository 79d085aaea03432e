"""Writing and reading results: files written atomically, all or none, with the user's permissions.

Every output goes to a temporary file beside its destination and is renamed into place. Inside
`all_or_none()` (the command line wraps each command in it) the renames wait until the command has
finished: when any output fails, or a signal (Ctrl-C, SIGTERM, SIGHUP) ends the command, no output
of that command is left behind. Files get the permissions the user's umask gives new files (not the
temporary file's 0600).

An output that is a symbolic link is written through to the file it points to (atomically, beside
that file); the link stays a link. Inside `create_only(paths)` those outputs are created and never
replace a file: when another process created one first, the write fails instead of one of the two
being silently lost.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..errors import CarbonMCError, InputError, OutputError
from . import signals
from .signals import CREATED, TEMPORARY

if TYPE_CHECKING:
    import xarray as xr

ENGINE: Final = "h5netcdf"  # Final keeps the literal type that xarray's `engine` parameter takes
_STAGED: contextvars.ContextVar[list | None] = contextvars.ContextVar("carbon_mc_staged_outputs", default=None)
_CREATE_ONLY: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("carbon_mc_create_only", default=frozenset())
def destination(path: str | Path) -> Path:
    """The file a write to `path` replaces: `path` itself, or the file a symbolic link points to.

    Raises:
      OutputError: a loop of symbolic links.
    """
    path = Path(path)
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if target.is_symlink():
        raise OutputError("is a symbolic link that leads nowhere (a loop of links)", file=str(path))
    return target


def same_file_key(path: str | Path) -> tuple:
    """A key equal for two names of one file: (device, inode) of an existing file (through links,
    hard links included), else its resolved path."""
    try:
        st = os.stat(path)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


@contextlib.contextmanager
def create_only(paths: Iterable[str | Path]) -> Iterator[None]:
    """Inside, the outputs `paths` are created exclusively: an existing file there is never replaced.

    Such an output is put in place as soon as it is written (by a hard link, which fails if the
    name exists), so that what the command then says about it is true; it is removed again if the
    command fails or is interrupted later.
    """
    token = _CREATE_ONLY.set(_CREATE_ONLY.get() | {os.path.realpath(destination(p)) for p in paths})
    try:
        yield
    finally:
        _CREATE_ONLY.reset(token)


def check_writable(path: str | Path, suffixes: tuple[str, ...] | None = None, flag: str | None = None) -> Path:
    """Fail early, before any computation, if `path` cannot be written (or lacks one of `suffixes`).

    Raises:
      OutputError: `path` is a directory, its directory is missing or not writable, an existing
        file is not writable, or its suffix is not one of `suffixes`.
    """
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise OutputError(f"{flag or 'an output path'} must be a file name, got {path!r}")
    path = Path(path)
    try:
        return _check_writable(path, suffixes, flag)
    except OSError as exc:  # a name too long, a loop of links, a permission denied on the way
        raise OutputError(f"cannot write here: {exc.strerror or exc}", file=str(path)) from None


def _check_writable(path: Path, suffixes: tuple[str, ...] | None, flag: str | None) -> Path:
    where = {"file": str(path)}
    given, path = path, destination(path)
    if suffixes is not None and not str(given).lower().endswith(suffixes):
        raise OutputError(f"{flag + ' ' if flag else ''}must end in {' or '.join(suffixes)}", **where)
    if path.is_dir() or str(given).endswith(os.sep):
        raise OutputError("is a directory: give a file name inside it", **where)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"directory {str(parent)!r} does not exist", **where)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"directory {str(parent)!r} is not writable", **where)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError("exists and is not writable", **where)
    try:  # the only sure test: create (and remove) a file beside it; a signal waits until it is gone
        with signals.deferred():
            fd, probe = tempfile.mkstemp(prefix=".carbon-mc-probe-", dir=parent)
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write in directory {str(parent)!r}: {exc.strerror or exc}", **where) from None
    return given


def _umask_mode() -> int:
    """The mode the user's umask gives a new file (0666 & ~umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def all_or_none() -> Iterator[None]:
    """Outputs written inside are renamed into place only when the block ends without an error.

    On any exception (KeyboardInterrupt included) every staged temporary file is removed and no
    destination is touched.
    """
    if _STAGED.get() is not None:  # nested: the outer block decides
        yield
        return
    staged: list[tuple[str, Path]] = []
    token = _STAGED.set(staged)
    try:
        yield
    except BaseException:
        with signals.deferred():
            for tmp, _ in staged:
                Path(tmp).unlink(missing_ok=True)
                TEMPORARY.discard(tmp)
            for created in list(CREATED):
                Path(created).unlink(missing_ok=True)
                CREATED.discard(created)
        raise
    finally:
        _STAGED.reset(token)
    _commit(staged)
    CREATED.clear()


def _commit(staged: list[tuple[str, Path]]) -> None:
    done: list[Path] = []
    with signals.deferred():  # the renames are one step: a signal takes effect after the last
        try:
            for tmp, path in staged:
                os.replace(tmp, path)
                TEMPORARY.discard(tmp)
                done.append(path)
        except BaseException as exc:
            for tmp, _ in staged:
                Path(tmp).unlink(missing_ok=True)
                TEMPORARY.discard(tmp)
            if isinstance(exc, OSError):
                raise OutputError(f"cannot write: {exc.strerror} (written before it: {', '.join(map(str, done)) or 'none'})",
                                  file=str(path)) from None
            raise
        finally:
            signals.note_written(done)


def _create(tmp: str, path: Path, shown: Path) -> None:
    """Put `tmp` in place at `path` only if no file is there: a hard link (atomic, fails on an
    existing name); where the file system has no hard links, an exclusive create then a rename."""
    with signals.deferred():
        try:
            try:
                os.link(tmp, path)
                CREATED.add(str(path))
            except FileExistsError:
                raise
            except OSError:  # no hard links here (some network and FUSE file systems)
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                CREATED.add(str(path))
                os.replace(tmp, path)
        except OSError as exc:
            if str(path) in CREATED:  # the exclusive create worked, the rename did not
                path.unlink(missing_ok=True)
                CREATED.discard(str(path))
            if isinstance(exc, FileExistsError):
                raise OutputError("exists (another process wrote it while this command ran): not overwritten; "
                                  "pass --force to overwrite it", file=str(shown)) from None
            raise OutputError(f"cannot write: {exc.strerror or exc}", file=str(shown)) from None
        finally:
            Path(tmp).unlink(missing_ok=True)
            TEMPORARY.discard(tmp)
    if _STAGED.get() is None:  # not inside a command: nothing can undo it any more
        CREATED.discard(str(path))


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside `path`, then rename it to `path`.

    Readers never see a half-written file, and a failure leaves nothing behind; inside
    `all_or_none` the rename waits for the end of the block.

    A `path` that is a symbolic link is written through: the file it points to is replaced
    (atomically, by a temporary file beside it) and the link is kept. Inside `create_only` a
    path named there is created, never replaced (see there).

    Raises:
      OutputError: `path` cannot be written (see `check_writable`), writing it failed, or (inside
        `create_only`) another process created it first.
    """
    shown = check_writable(path)
    path = destination(shown)
    try:
        with signals.deferred():  # a signal between the two would leave the temporary file unknown
            fd, tmp = tempfile.mkstemp(prefix=".carbon-mc-", suffix=path.suffix, dir=path.parent if str(path.parent) else ".")
            TEMPORARY.add(tmp)
    except OSError as exc:
        raise OutputError(f"cannot write here: {exc.strerror or exc}", file=str(shown)) from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _umask_mode())
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        TEMPORARY.discard(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, CarbonMCError):
            raise OutputError(f"cannot write: {exc.strerror or exc}", file=str(shown)) from None
        raise
    staged = _STAGED.get()
    if os.path.realpath(path) in _CREATE_ONLY.get():
        _create(tmp, path, shown)
    elif staged is not None:
        staged.append((tmp, path))
    else:
        _commit([(tmp, path)])
    return shown


# Units as carbon-mc shows them -> the UDUNITS-2 form CF requires in a file (every one parses with
# udunits/cf_units, tested). A count of floating-point operations has no UDUNITS unit: it is "1",
# the human form staying in `units_human` (and the long name).
CF_UNITS: Final = {
    "MWh": "MW h", "kWh": "kW h", "Wh": "W h", "GWh": "GW h",
    "g/kWh": "g/(kW h)", "kg/kWh": "kg/(kW h)", "gCO2e/kWh": "g/(kW h)",
    "FLOP": "1", "TFLOP s-1": "1e12 s-1", "FLOP/s": "s-1", "GB/s": "1e9 byte s-1", "GB": "1e9 byte",
    "dimensionless": "1", "": "1",
}
# Long names of coordinates carbon-mc writes (CF and ACDD ask for one on every coordinate).
COORD_LONG_NAMES: Final = {
    "draw": "draw number", "chain": "chain number (one Monte Carlo chain)", "stat": "summary statistic",
    "size": "model size", "hardware": "accelerator", "group": "input group", "input": "model input",
    "replicate": "replicate", "quantity": "quantity", "region": "grid region", "year": "year",
}
_CF_RECORD: Final = "carbon_mc_cf_encoding"  # what `cf_encoded` changed, so that `load_dataset` gives the Dataset back


def cf_units(units: str) -> str:
    """`units` in the UDUNITS-2 form CF requires ("MWh" -> "MW h", "g/kWh" -> "g/(kW h)", "FLOP" -> "1")."""
    return CF_UNITS.get(units, units)


def cf_encoded(ds: xr.Dataset) -> xr.Dataset:
    """`ds` as a CF-1.10 file holds it: UDUNITS units (the human form in ``units_human``), a long name
    and units on every coordinate, ``coverage_content_type`` on every variable, string-valued dimension
    coordinates as labels (``<dim>_label``, auxiliary coordinates), no global attribute named like a
    dimension. What changed is recorded (`_CF_RECORD`) and undone by `cf_decoded`."""
    out = ds.copy(deep=False)
    record: dict = {"units": {}, "added": {}, "labels": [], "renamed_attrs": {}}
    for name in [str(v) for v in out.variables]:
        var = out[name]
        attrs = dict(var.attrs)
        added = []
        units = attrs.get("units")
        if isinstance(units, str) and cf_units(units) != units:
            record["units"][name] = units
            attrs["units"], attrs["units_human"] = cf_units(units), units
        is_coord = name in out.coords
        if "long_name" not in attrs:
            attrs["long_name"] = COORD_LONG_NAMES.get(name, name.replace("_", " ")) if is_coord else name.replace("_", " ")
            added.append("long_name")
        if not is_coord and "coverage_content_type" not in attrs:
            attrs["coverage_content_type"] = "modelResult"
            added.append("coverage_content_type")
        if is_coord and var.dtype.kind in "iuf" and "units" not in attrs:
            attrs["units"] = "1"
            added.append("units")
        if added:
            record["added"][name] = added
        out[name].attrs = attrs
    for dim in list(out.dims):
        if dim in out.coords and out[dim].dtype.kind in "OSU":
            label = f"{dim}_label"
            out = out.rename_vars({dim: label})
            record["labels"].append(dim)
    for key in [k for k in out.attrs if k in out.dims]:
        out.attrs[f"{key}_attribute"] = out.attrs.pop(key)
        record["renamed_attrs"][f"{key}_attribute"] = key
    if any(record.values()):
        out.attrs[_CF_RECORD] = json.dumps(record, sort_keys=True)
    return out


def cf_decoded(ds: xr.Dataset) -> xr.Dataset:
    """Undo `cf_encoded` on a Dataset read back (a file without its record is returned as it is)."""
    text = ds.attrs.get(_CF_RECORD)
    if not text:
        return ds
    record = json.loads(text)
    out = ds.copy(deep=False)
    out.attrs = {k: v for k, v in out.attrs.items() if k != _CF_RECORD}
    for new, old in record.get("renamed_attrs", {}).items():
        if new in out.attrs:
            out.attrs[old] = out.attrs.pop(new)
    for dim in record.get("labels", []):
        out = out.rename_vars({f"{dim}_label": dim}).set_xindex(dim) if f"{dim}_label" in out.variables else out
    for name, units in record.get("units", {}).items():
        if name in out.variables:
            attrs = dict(out[name].attrs)
            attrs["units"] = units
            attrs.pop("units_human", None)
            out[name].attrs = attrs
    for name, keys in record.get("added", {}).items():
        if name in out.variables:
            out[name].attrs = {k: v for k, v in out[name].attrs.items() if k not in keys}
    return out


def save_dataset(ds: xr.Dataset, path: str | Path) -> Path:
    """Write `ds` to netCDF at `path` via a temporary file and an atomic rename, as CF-1.10 asks (`cf_encoded`).

    Raises:
      OutputError: `path` cannot be written.
    """
    import xarray as xr

    if not isinstance(ds, xr.Dataset):
        raise InputError(f"ds must be an xarray Dataset (carbon_mc.estimate or summarize), got {type(ds).__name__}")
    encoded = cf_encoded(ds)
    return atomic_write(path, lambda tmp: encoded.to_netcdf(tmp, engine=ENGINE))


def save_text(text: str, path: str | Path) -> Path:
    """Write `text` (UTF-8) to `path` atomically.

    Raises:
      OutputError: `path` cannot be written.
    """
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def load_dataset(path: str | Path) -> xr.Dataset:
    """Read a result written by `save_dataset` fully into memory.

    Raises:
      InputError: no such file, a directory, or a file that is not netCDF-4/HDF5.
    """
    if not isinstance(path, (str, Path)):
        raise InputError(f"a dataset path must be a string or a Path, got {type(path).__name__}")
    path = Path(path)
    try:
        if not path.exists():
            raise InputError("no such file", file=str(path))
        if path.is_dir():
            raise InputError("is a directory, not a netCDF file", file=str(path))
        import xarray as xr  # only reading a file needs xarray: the command line's --help and checks do not

        with xr.open_dataset(path, engine=ENGINE) as ds:
            return cf_decoded(ds.load())
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"not a readable netCDF-4 file ({type(exc).__name__}: {str(exc)[:120]})", file=str(path)) from None
