"""Resolve the hardware names people and tools write to keys of the accelerator table.

The strings come from nvidia-smi and NVML/DCGM ("NVIDIA A100-SXM4-80GB"), CodeCarbon's gpu_model
("8 x NVIDIA A100-SXM4-80GB"), torch.cuda.get_device_name(), rocm-smi, hl-smi, jax device_kind,
CPU model strings and cloud instance types ("p4d.24xlarge", "a3-highgpu-8g",
"Standard_ND96isr_H100_v5"). The table of known strings is priors/hardware_aliases.toml.

Resolution never guesses: an exact catalogue key, an exact alias, an instance type or a unique
match on the normalised form (case, dashes, underscores and vendor words ignored) is accepted;
a string that names several accelerators, or none, is an `InputError` naming the candidates or
the closest matches.

Pure Python (TOML through `carbon_mc.priors.reading`): importing this module does not import JAX.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, close_matches, shown
from .reading import read_toml_bytes

ALIAS_FILE = "hardware_aliases.toml"
# Words that vendors and tools add or drop without changing the part.
VENDOR_WORDS = frozenset({"nvidia", "tesla", "geforce", "amd", "instinct", "intel", "habana", "google", "cloud",
                          "aws", "amazon", "r", "tm", "processor", "cpu", "gpu", "accelerator"})
_COUNT_PREFIX = re.compile(r"^\s*(\d+)\s*[x×*]\s*(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Instance:
    """A cloud instance type: the accelerator key it carries and how many."""

    hardware: str
    devices: int


@dataclass(frozen=True)
class Aliases:
    """The alias table: exact names, ambiguous names, instance types (all as written in the file)."""

    names: Mapping[str, str]
    ambiguous: Mapping[str, tuple[str, ...]]
    instances: Mapping[str, Instance]
    file: str = ALIAS_FILE


@dataclass(frozen=True)
class Resolution:
    """What a string resolved to: the accelerator key, the devices it implies (an instance type or a
    "8 x ..." count, else None) and how it was matched ("key", "alias", "instance", "normalised")."""

    key: str
    devices: int | None
    via: str


def normalize_name(text: str) -> str:
    """A comparable form of a hardware name: lower case, '(R)'/'(TM)' and punctuation removed,
    vendor words dropped, memory sizes written "80gb" ("NVIDIA A100-PCIE-40GB" -> "a100 pcie 40gb")."""
    text = str(text).lower().replace("(r)", " ").replace("(tm)", " ")
    text = re.sub(r"[-_/,()+]", " ", text)
    text = re.sub(r"(\d+)\s*(gb|gib|g)\b", r"\1gb", text)
    words = [w for w in text.split() if w not in VENDOR_WORDS]
    return " ".join(words)


def _instance_form(text: str) -> str:
    """Instance types compare case-insensitively, Azure's with or without "Standard_"."""
    text = str(text).strip().lower()
    return text.removeprefix("standard_")


def _priors_dir() -> Path:
    from ..data import data_dir

    return data_dir("priors")


def parse_aliases(doc: Mapping, *, file: str = ALIAS_FILE) -> Aliases:
    """Validate a parsed alias document (tables [names], [ambiguous], [instances]) into `Aliases`.

    Raises:
      InputError: a table or entry of the wrong type, a device count that is not a positive integer.
    """
    names, ambiguous, instances = (doc.get(section, {}) for section in ("names", "ambiguous", "instances"))
    for section, value in (("names", names), ("ambiguous", ambiguous), ("instances", instances)):
        if not isinstance(value, dict):
            raise InputError(f"[{section}] must be a table", file=file, key=section)
    for name, key in names.items():
        if not isinstance(key, str) or not key:
            raise InputError(f"must be an accelerator key (a string), got {shown(key)}", file=file, key=f"names.{name}")
    checked_ambiguous = {}
    for name, keys in ambiguous.items():
        if not isinstance(keys, list) or len(keys) < 2 or not all(isinstance(k, str) for k in keys):
            raise InputError("must list two or more accelerator keys", file=file, key=f"ambiguous.{name}")
        checked_ambiguous[name] = tuple(keys)
    checked_instances = {}
    for name, entry in instances.items():
        where = f"instances.{name}"
        if not isinstance(entry, dict) or set(entry) != {"hardware", "devices"}:
            raise InputError("must be { hardware = KEY, devices = N }", file=file, key=where)
        devices = entry["devices"]
        if not isinstance(entry["hardware"], str) or isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
            raise InputError(f"needs a string hardware key and a whole number of devices >= 1, got {shown(entry)}",
                             file=file, key=where)
        checked_instances[name] = Instance(entry["hardware"], devices)
    return Aliases(dict(names), checked_ambiguous, checked_instances, file)


@functools.lru_cache(maxsize=4)
def load_aliases(path: str | Path | None = None) -> Aliases:
    """The alias table of `path` (default: the bundled priors/hardware_aliases.toml), cached."""
    path = Path(path) if path is not None else _priors_dir() / ALIAS_FILE
    doc = read_toml_bytes(path)[0]
    return parse_aliases(doc, file=path.name)


@functools.lru_cache(maxsize=1)
def bundled_hardware_names() -> dict[str, str]:
    """Accelerator key -> its `name` field, read from the bundled priors/*.toml files with [hardware]
    (no JAX; use `carbon_mc.load_priors().hardware` to include overlays)."""
    out = {}
    for path in sorted(_priors_dir().glob("*.toml")):
        doc = read_toml_bytes(path)[0]
        for key, spec in (doc.get("hardware") or {}).items():
            if isinstance(spec, dict):
                out[key] = str(spec.get("name", key))
    return out


def _catalogue(hardware: Mapping[str, Mapping] | Iterable[str] | None) -> dict[str, str]:
    """Key -> display name for a prior table's hardware (a dict of specs), a list of keys, or the bundled table."""
    if hardware is None:
        return bundled_hardware_names()
    if isinstance(hardware, Mapping):
        return {k: str(v.get("name", k)) if isinstance(v, Mapping) else str(k) for k, v in hardware.items()}
    return {k: k for k in hardware}


def split_count(text: str) -> tuple[int | None, str]:
    """CodeCarbon writes "8 x NVIDIA A100-SXM4-80GB": the count and the name (None and `text` if absent)."""
    match = _COUNT_PREFIX.match(str(text))
    if match and int(match.group(1)) >= 1:
        return int(match.group(1)), match.group(2).strip()
    return None, str(text).strip()


def normalized_index(catalogue: Mapping[str, str], aliases: Aliases) -> dict[str, frozenset[str]]:
    """Normalised form -> the accelerator keys it may denote, from the catalogue keys and names and
    every alias. A form with two or more keys is ambiguous."""
    index: dict[str, set[str]] = {}

    def add(form: str, keys: Iterable[str]) -> None:
        if form:
            index.setdefault(form, set()).update(k for k in keys if k in catalogue)

    for key, name in catalogue.items():
        add(normalize_name(key), [key])
        add(normalize_name(name), [key])
    for name, key in aliases.names.items():
        add(normalize_name(name), [key])
    for name, keys in aliases.ambiguous.items():
        add(normalize_name(name), keys)
    return {form: frozenset(keys) for form, keys in index.items() if keys}


def instance_type(text: str, aliases: Aliases | None = None) -> Instance | None:
    """The `Instance` of a cloud instance type ("p5.48xlarge", "Standard_NC24ads_A100_v4"), else None."""
    aliases = aliases or load_aliases()
    wanted = _instance_form(text)
    for name, instance in aliases.instances.items():
        if _instance_form(name) == wanted:
            return instance
    return None


class AmbiguousNameError(InputError):
    """A name that denotes more than one accelerator (the message names them): never a silent pick."""


def _ambiguous(text: str, keys: Iterable[str], *, file: str | None, key: str | None) -> InputError:
    return AmbiguousNameError(f"hardware {shown(text)} names several accelerators ({', '.join(sorted(keys))}): "
                      "give the key of the one you used", file=file, key=key)


def resolve(text: str, hardware: Mapping[str, Mapping] | Iterable[str] | None = None, *,
            aliases: Aliases | None = None, file: str | None = None, key: str | None = None) -> Resolution:
    """Resolve a hardware string or an instance type to an accelerator key of `hardware`.

    Args:
        text: a catalogue key, a tool's device name (optionally "N x NAME"), or an instance type.
        hardware: the accelerators to resolve into: a prior table's ``.hardware`` (bundled plus
            overlays), a list of keys, or None for the bundled table.
        aliases: the alias table (default: the bundled one).
        file, key: where the string came from, for error messages.

    Returns:
        `Resolution` with the key, the devices implied (instance size or count prefix) and the rule used.

    Raises:
      InputError: the string names more than one accelerator (the candidates are named), or none
        (the closest keys and names are named), or an alias points to a key that `hardware` lacks.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"a hardware name must be a non-empty string, got {shown(text)}", file=file, key=key)
    catalogue = _catalogue(hardware)
    aliases = aliases or load_aliases()
    text = text.strip()
    if text in catalogue:
        return Resolution(text, None, "key")
    instance = instance_type(text, aliases)
    if instance is not None:
        return Resolution(_known(instance.hardware, text, catalogue, aliases, file=file, key=key), instance.devices, "instance")
    count, name = split_count(text)
    if name in catalogue:
        return Resolution(name, count, "key")
    if name in aliases.names:
        return Resolution(_known(aliases.names[name], text, catalogue, aliases, file=file, key=key), count, "alias")
    if name in aliases.ambiguous:
        raise _ambiguous(text, aliases.ambiguous[name], file=file, key=key)
    keys = normalized_index(catalogue, aliases).get(normalize_name(name))
    if keys and len(keys) == 1:
        return Resolution(next(iter(keys)), count, "normalised")
    if keys:
        raise _ambiguous(text, keys, file=file, key=key)
    choices = [*catalogue, *(n.lower() for n in aliases.names), *(n.lower() for n in aliases.instances)]
    raise InputError(f"unknown hardware {shown(text)}; {close_matches(normalize_name(name) or name, choices)} "
                     f"(`carbon-mc list hardware` shows all {len(catalogue)}; add a new one with a priors overlay)",
                     file=file, key=key)


def _known(target: str, text: str, catalogue: Mapping[str, str], aliases: Aliases, *, file, key) -> str:
    if target not in catalogue:
        raise InputError(f"{shown(text)} is an alias of {target!r} ({aliases.file}), which this prior table does not "
                         f"have; {close_matches(target, catalogue)}", file=file, key=key)
    return target


def resolve_hardware(text: str, hardware: Mapping[str, Mapping] | Iterable[str] | None = None, **kwargs) -> str:
    """The accelerator key that `text` denotes (see `resolve`; the device count is dropped)."""
    return resolve(text, hardware, **kwargs).key


def resolve_instance(text: str, hardware: Mapping[str, Mapping] | Iterable[str] | None = None, *,
                     aliases: Aliases | None = None, file: str | None = None, key: str | None = None) -> tuple[str, int]:
    """(accelerator key, accelerators per instance) of a cloud instance type.

    Raises:
      InputError: `text` is not a known instance type (close matches are named), or its accelerator
        is not in `hardware`.
    """
    aliases = aliases or load_aliases()
    instance = instance_type(text, aliases)
    if instance is None:
        forms = [_instance_form(n) for n in aliases.instances]
        raise InputError(f"unknown instance type {shown(text)}; {close_matches(_instance_form(text), forms)}",
                         file=file, key=key)
    return _known(instance.hardware, text, _catalogue(hardware), aliases, file=file, key=key), instance.devices


__all__ = [
    "ALIAS_FILE", "Aliases", "Instance", "Resolution", "bundled_hardware_names", "instance_type", "load_aliases",
    "normalize_name", "normalized_index", "parse_aliases", "resolve", "resolve_hardware", "resolve_instance", "split_count",
]
