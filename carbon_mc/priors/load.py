"""Loading a prior table: the bundled priors/*.toml (or a directory), then any overlays on top.

`load_priors` is the one entry point. The validators live in `carbon_mc.priors.loader`, the overlay
rules in `carbon_mc.priors.overlay`; this module only composes them (and caches the bundled table).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from ..data import data_dir
from ..errors import InputError, shown
from .loader import PRIORS_ENV, PriorTable, Quantity, is_name_table, load_hardware, load_quantity, read_toml
from .overlay import apply_overlay, overlay_quantity


def load_priors(directory: str | Path | None = None, *, overlays=(), use_env: bool = True) -> PriorTable:
    """Load and validate the prior table, then apply the user's overlay directories.

    Args:
        directory: a complete priors directory that replaces the bundled ``priors/`` (default: bundled).
        overlays: directories (a path or a list of paths) whose ``*.toml`` files *add or replace*
            entries, applied in order after those named by ``CARBON_MC_PRIORS``, so the last wins.
        use_env: also apply the directories in the ``CARBON_MC_PRIORS`` environment variable
            (separated by ``os.pathsep``: ``:`` on Linux and macOS, ``;`` on Windows).

    An overlay file has the format of the bundled files and the same validation (units, description
    and source on every variant). It may
      - add an accelerator or replace one whole (``[hardware.<key>]``, every required field);
      - add or replace variants of a bundled quantity (``[pue.variants.my_site]``), giving
        ``units``, ``long_name`` or ``selected_by`` only if they equal the bundled ones;
      - define a new quantity (``units``, ``long_name``, ``variants``), e.g. ``market_gco2_per_kwh``.
    A new accelerator must be selectable: every quantity chosen by its key or its classes needs a
    variant for it. Errors name the overlay file and the key.

    Raises:
      InputError: a directory that is missing or holds no ``*.toml``, a file that is not UTF-8 TOML,
        or an entry that is mistyped, incomplete or outside its quantity's physical bounds.
    """
    _check_args(directory, overlays, use_env)
    dirs = (env_overlay_dirs() if use_env else []) + _as_dirs(overlays)
    if directory is None:
        return _load_default_with(tuple(_overlay_signature(d) for d in dirs))
    table = _load_dir(Path(directory))
    for d in dirs:
        table = apply_overlay(table, d)
    return table


def _check_args(directory, overlays, use_env) -> None:
    """The types of `load_priors`'s arguments (written here, not in `carbon_mc.sampling.args`: priors load without JAX)."""
    if directory is not None and not isinstance(directory, (str, os.PathLike)):
        raise InputError(f"directory must be a priors directory (a path) or None, got {shown(directory)} ({type(directory).__name__})")
    if not (overlays is None or isinstance(overlays, (str, os.PathLike))
            or (isinstance(overlays, (list, tuple)) and all(isinstance(d, (str, os.PathLike)) for d in overlays))):
        raise InputError(f"overlays must be a directory or a list of directories (paths), got {shown(overlays)} "
                         f"({type(overlays).__name__})")
    if not isinstance(use_env, bool):
        raise InputError(f"use_env must be True or False, got {shown(use_env)}")


def env_overlay_dirs(environ=None) -> list[Path]:
    """The overlay directories named by ``CARBON_MC_PRIORS`` (empty entries are skipped)."""
    value = (os.environ if environ is None else environ).get(PRIORS_ENV, "")
    return [Path(part) for part in value.split(os.pathsep) if part.strip()]


def _as_dirs(overlays) -> list[Path]:
    if overlays is None:
        return []
    if isinstance(overlays, (str, os.PathLike)):
        return [Path(overlays)]
    return [Path(d) for d in overlays]


def _overlay_signature(directory: Path) -> tuple:
    """A cache key for one overlay directory: its path and each file's size and modification time."""
    try:
        if not directory.is_dir():
            raise InputError("priors overlay is not a directory (from --priors or CARBON_MC_PRIORS)", file=str(directory))
        files = sorted(directory.glob("*.toml"))
        stats = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        return (str(directory.resolve()), stats)
    except OSError as exc:  # a name too long, a directory that cannot be read
        raise InputError(f"cannot read the priors overlay: {exc.strerror or exc}", file=str(directory)) from None


@functools.lru_cache(maxsize=8)
def _load_default_with(signatures: tuple) -> PriorTable:
    table = _load_default()
    for directory, _stats in signatures:
        table = apply_overlay(table, Path(directory))
    return table


@functools.lru_cache(maxsize=1)
def _load_default() -> PriorTable:
    return _load_dir(data_dir("priors"))


def _load_dir(directory: Path) -> PriorTable:
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise InputError("no *.toml prior files", file=str(directory))
    quantities: dict[str, Quantity] = {}
    hardware: dict[str, dict] = {}
    hardware_units: dict[str, str] = {}
    hashes = {}
    origins = {}
    for path in files:
        hashes[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        if is_name_table(path):  # names of places or devices (priors.places, priors.hardware_names), no quantity
            continue
        doc = read_toml(path)
        file = path.name
        if "hardware" in doc:
            hw, units = load_hardware(doc, file)
            hardware.update(hw)
            hardware_units.update(units)
            origins.update({f"hardware.{key}": file for key in hw})
            continue
        for name, table in doc.items():
            if name in quantities:  # a second bundled file adds variants (e.g. grid_places.toml)
                quantities[name] = _merge_bundled(quantities[name], table, file)
            else:
                quantities[name] = load_quantity(name, table, file)
            variants = table.get("variants", {}) if isinstance(table, dict) else {}
            origins.update({f"{name}.{v}": file for v in variants})
    return PriorTable(quantities, hardware, hardware_units, hashes, origins)


def _merge_bundled(base: Quantity, table, file: str) -> Quantity:
    """`base` with another bundled file's variants added: same units, long_name, selector and support; none redefined."""
    variants = table.get("variants") if isinstance(table, dict) else None
    twice = sorted(set(variants or {}) & set(base.variants))
    if twice:
        raise InputError(f"variant(s) defined twice (also in {base.file}): {', '.join(twice[:5])}", file=file, key=base.name)
    return overlay_quantity(base, table, file)

