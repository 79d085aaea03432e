"""Writing and reading results: files written atomically, all or none, with the user's permissions.

Every output goes to a temporary file beside its destination and is renamed into place. Inside
`all_or_none()` (the command line wraps each command in it) the renames wait until the command has
finished: when any output fails, or the user presses Ctrl-C, no output of that command is left
behind. Files get the permissions the user's umask gives new files (not the temporary file's 0600).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..errors import CarbonMCError, InputError, OutputError

if TYPE_CHECKING:
    import xarray as xr

ENGINE: Final = "h5netcdf"  # Final keeps the literal type that xarray's `engine` parameter takes
_STAGED: contextvars.ContextVar[list | None] = contextvars.ContextVar("carbon_mc_staged_outputs", default=None)
# Temporary files that exist right now (being written or staged), so that an interrupt handler can
# remove them before the process leaves (`discard_temporary`).
_TEMPORARY: set[str] = set()


def discard_temporary() -> None:
    """Remove every temporary output file this process still holds (called when Ctrl-C ends a command)."""
    for tmp in list(_TEMPORARY):
        Path(tmp).unlink(missing_ok=True)
        _TEMPORARY.discard(tmp)


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
    if suffixes is not None and not str(path).lower().endswith(suffixes):
        raise OutputError(f"{flag + ' ' if flag else ''}must end in {' or '.join(suffixes)}", **where)
    if path.is_dir() or str(path).endswith(os.sep):
        raise OutputError("is a directory: give a file name inside it", **where)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"directory {str(parent)!r} does not exist", **where)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"directory {str(parent)!r} is not writable", **where)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError("exists and is not writable", **where)
    try:  # the only sure test: create (and remove) a file beside it
        fd, probe = tempfile.mkstemp(prefix=".carbon-mc-probe-", dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write in directory {str(parent)!r}: {exc.strerror or exc}", **where) from None
    os.close(fd)
    os.unlink(probe)
    return path


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
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _STAGED.reset(token)
    _commit(staged)


def _commit(staged: list[tuple[str, Path]]) -> None:
    done = []
    try:
        for tmp, path in staged:
            os.replace(tmp, path)
            _TEMPORARY.discard(tmp)
            done.append(path)
    except BaseException as exc:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write: {exc.strerror} (written before it: {', '.join(map(str, done)) or 'none'})",
                              file=str(path)) from None
        raise


def atomic_write(path: str | Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside `path`, then rename it to `path`.

    Readers never see a half-written file, and a failure leaves nothing behind; inside
    `all_or_none` the rename waits for the end of the block.

    Raises:
      OutputError: `path` cannot be written (see `check_writable`), or writing it failed.
    """
    path = check_writable(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".carbon-mc-", suffix=path.suffix, dir=path.parent if str(path.parent) else ".")
    except OSError as exc:
        raise OutputError(f"cannot write here: {exc.strerror or exc}", file=str(path)) from None
    os.close(fd)
    _TEMPORARY.add(tmp)
    try:
        write(tmp)
        os.chmod(tmp, _umask_mode())
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        _TEMPORARY.discard(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, CarbonMCError):
            raise OutputError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
        raise
    staged = _STAGED.get()
    if staged is not None:
        staged.append((tmp, path))
    else:
        _commit([(tmp, path)])
    return path


def save_dataset(ds: xr.Dataset, path: str | Path) -> Path:
    """Write `ds` to netCDF at `path` via a temporary file and an atomic rename.

    Raises:
      OutputError: `path` cannot be written.
    """
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine=ENGINE))


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
            return ds.load()
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"not a readable netCDF-4 file ({type(exc).__name__}: {str(exc)[:120]})", file=str(path)) from None
