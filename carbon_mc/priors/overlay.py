"""Overlay directories: the user's own priors, added to or replacing entries of a loaded table.

An overlay is a directory of ``*.toml`` files in the bundled format (see priors/README.md). Each
entry is validated as the bundled ones are (units, a description and a source on every variant;
every required accelerator field), and every error names the overlay file and the key. What an
overlay may do is documented on `carbon_mc.priors.load_priors`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import InputError, close_matches
from .loader import (
    PriorTable,
    Quantity,
    build_variants,
    is_name_table,
    load_hardware,
    load_quantity,
    read_toml,
)
from .support import parse_support

QUANTITY_KEYS = ("units", "long_name", "selected_by", "support", "variants")
HARDWARE_SELECTORS = ("hardware", "power_class", "mfu_class", "server_class")


def apply_overlay(table: PriorTable, directory: str | Path) -> PriorTable:
    """A new table: `table` with the entries of every ``*.toml`` in `directory` added or replaced."""
    directory = Path(directory)
    try:
        if not directory.is_dir():
            raise InputError("priors overlay is not a directory (from --priors or CARBON_MC_PRIORS)", file=str(directory))
        files = sorted(directory.glob("*.toml"))
    except OSError as exc:  # a name too long, a directory that cannot be read
        raise InputError(f"cannot read the priors overlay: {exc.strerror or exc}", file=str(directory)) from None
    if not files:
        raise InputError("priors overlay has no *.toml files", file=str(directory))
    quantities = dict(table.quantities)
    hardware = dict(table.hardware)
    units = dict(table.hardware_units)
    hashes = dict(table.files)
    origins = dict(table.origins)
    defined_here: dict[str, str] = {}
    new_hardware: dict[str, str] = {}
    for path in files:
        file = str(path)
        hashes[file] = hashlib.sha256(path.read_bytes()).hexdigest()
        if is_name_table(path):
            continue
        doc = read_toml(path)
        if "hardware" in doc or "fields" in doc:  # a device declared once: its facts, and the priors its key picks
            device = {k: doc[k] for k in ("fields", "hardware") if k in doc}
            _check_hardware_doc(device, units, file)
            hw, merged_units = load_hardware(device, file, known_units=units)
            units.update(merged_units)
            hardware.update(hw)
            for key in hw:
                origins[f"hardware.{key}"] = file
                new_hardware[key] = file
            doc = {k: v for k, v in doc.items() if k not in device}
        for name, entry in doc.items():
            if name in defined_here:
                raise InputError(f"quantity defined twice in one overlay (also in {defined_here[name]})", file=file, key=name)
            defined_here[name] = file
            quantity = overlay_quantity(quantities[name], entry, file) if name in quantities else load_quantity(name, entry, file)
            quantities[name] = quantity
            variants = entry.get("variants", {}) if isinstance(entry, dict) else {}
            origins.update({f"{name}.{v}": file for v in variants})
    merged = PriorTable(quantities, hardware, units, hashes, origins)
    for key, file in new_hardware.items():
        check_selectable(merged, key, file=file)
    return merged


def _check_hardware_doc(doc: dict, units: dict, file: str) -> None:
    """[fields] and [hardware] of an overlay file are tables; field units may add, not change."""
    for section in ("fields", "hardware"):
        if not isinstance(doc.get(section, {}), dict):
            raise InputError(f"[{section}] must be a table", file=file, key=section)
    for fname, unit in doc.get("fields", {}).items():
        if fname in units and units[fname] != unit:
            raise InputError(f"units {unit!r} differ from the bundled {units[fname]!r}", file=file, key=f"fields.{fname}")


def overlay_quantity(base: Quantity, entry, file: str) -> Quantity:
    """`base` with the overlay's variants added or replaced; its units, name and selector unchanged."""
    name = base.name
    if not isinstance(entry, dict):
        raise InputError("a quantity must be a table with variants", file=file, key=name)
    for key in entry:
        if key not in QUANTITY_KEYS:
            raise InputError(f"unknown key; {close_matches(key, QUANTITY_KEYS)}", file=file, key=f"{name}.{key}")
    for key, bundled in (("units", base.units), ("long_name", base.long_name), ("selected_by", base.selected_by)):
        if key in entry and entry[key] != bundled:
            raise InputError(
                f"{key} {entry[key]!r} differs from the bundled {bundled!r} (an overlay may add or replace variants, "
                "not change the quantity)", file=file, key=f"{name}.{key}",
            )
    if "support" in entry and parse_support(entry["support"], file=file, key=f"{name}.support") != base.support:
        raise InputError(f"support differs from the bundled ({base.support.describe() if base.support else 'none'}): an overlay "
                         "may add or replace variants, not change the quantity's physical bounds", file=file, key=f"{name}.support")
    variants = entry.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise InputError("needs at least one variant", file=file, key=f"{name}.variants")
    if base.selected_by is None and set(variants) != {"default"}:
        raise InputError("this quantity has no selector: its only variant is named 'default'", file=file, key=f"{name}.variants")
    built = build_variants(name, variants, base.units, base.long_name, file, base.support)
    return Quantity(name, base.units, base.long_name, base.selected_by, {**base.variants, **built}, base.file, base.support)


# Picked by accelerator but needed only to serve a model: a serving scenario on an accelerator without
# one fails at load time, naming the accelerators that have one (carbon_mc.serving_scenario), so an
# overlay that adds an accelerator for training runs need not give it.
SERVING_ONLY = frozenset({"memory_bandwidth_gb_per_s"})


def check_selectable(table: PriorTable, key: str, *, file: str | None = None) -> None:
    """Every quantity a training run picks by an accelerator's key or classes has a variant for accelerator `key`."""
    spec = table.hardware[key]
    for quantity in table.quantities.values():
        selector = quantity.selected_by
        if selector not in HARDWARE_SELECTORS or quantity.name in SERVING_ONLY:
            continue
        choice = key if selector == "hardware" else spec[selector]
        if choice not in quantity.variants:
            what = f"accelerator {key!r}" if selector == "hardware" else f"{selector} {choice!r} of accelerator {key!r}"
            raise InputError(
                f"no variant of {quantity.name} for {what}: add [{quantity.name}.variants.{choice}] (with units "
                f"{quantity.units!r}, a description and a source) to an overlay, or use one of "
                f"{', '.join(sorted(quantity.variants))}", file=file,
                key=f"hardware.{key}.{selector}" if selector != "hardware" else f"hardware.{key}",
            )


__all__ = ["apply_overlay", "check_selectable"]
