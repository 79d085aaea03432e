"""Read priors/*.toml into validated NumPyro distributions that carry units and a source.

The bundled table can be extended by the user's own *overlay* directories (``load_priors(overlays=...)``
and the ``CARBON_MC_PRIORS`` environment variable): their files have the same format and validation,
and add or replace accelerators, variants and quantities (see `load_priors`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax.numpy as jnp

from ..errors import InputError, close_matches, shown
from .families import FAMILIES, build_distribution, check_params, icdf32
from .reading import read_toml_bytes
from .support import INPUT_MAX, INPUT_MIN, Support, check_draw_range, parse_support

PRIORS_ENV = "CARBON_MC_PRIORS"  # overlay directories, separated by os.pathsep
SELECTORS = ("hardware", "power_class", "mfu_class", "server_class", "datacenter", "region", "scaling_fit")
HARDWARE_FIELDS = {
    # field: (required, type)
    "name": (True, str),
    "vendor": (True, str),
    "year": (True, int),
    "peak_flop_per_s": (True, float),
    "peak_fp8_flop_per_s": (False, float),  # dense FP8 / INT8 tensor peaks, only where the device has them
    "peak_int8_op_per_s": (False, float),
    "peak_fp32_flop_per_s": (False, float),  # the FP32 (non-tensor) rate
    "tdp_w": (True, float),
    "memory_gb": (True, float),
    "devices_per_server": (True, int),
    "power_class": (True, str),
    "mfu_class": (True, str),
    "server_class": (True, str),
    "source": (True, str),
    "intra_node_gb_per_s": (False, float),
    "inter_node_gb_per_s": (False, float),
    "cores": (False, int),  # a CPU socket's cores (sockets of a CPU-only run = logical CPUs / (2 x cores) by default)
    "notes": (False, str),
}


@dataclass(frozen=True)
class Prior:
    """One variant of one uncertain quantity: a distribution family and its parameters, with units and a source.

    `spec` is the family's validated parameters (`carbon_mc.priors.families`); the samplers draw
    through `icdf32`, and the NumPyro `distribution` is built only when something asks for it (a
    log density, the calibration, the benchmark), so a run never pays for NumPyro. A prior fitted
    from draws (family ``posterior_predictive``) carries them in `empirical`.
    """

    quantity: str
    variant: str
    family: str
    params: dict
    units: str
    long_name: str
    description: str
    source: str
    year: int | None = None
    spec: dict | None = field(default=None, compare=False)
    empirical: Any = field(default=None, compare=False)

    @functools.cached_property
    def distribution(self):
        """The NumPyro distribution (or the fitted draws), built on first use."""
        if self.empirical is not None:
            return self.empirical
        return build_distribution(self.family, self.params)

    @property
    def is_fixed(self) -> bool:
        return self.family == "fixed"

    @property
    def num_columns(self) -> int:
        """How many uniforms one draw consumes (1, or the number of components of a joint prior)."""
        return len(self.components) if self.components else 1

    @property
    def components(self) -> tuple[str, ...]:
        """Names of a joint prior's components (empty for a scalar prior)."""
        return tuple(self.spec.get("components", ())) if self.spec else ()

    @property
    def fixed_value(self) -> float:
        return float(self.params["value"])

    def icdf(self, u):
        """Map uniforms in (0, 1) to draws of this prior: the NumPyro distribution's exact inverse CDF.

        `u` has shape (n,), or (n, num_columns) for a joint prior, which then returns (n, k).
        """
        if self.is_fixed:
            return jnp.full(jnp.shape(u), self.fixed_value, dtype=jnp.float32)
        return self.distribution.icdf(u)

    @functools.cached_property
    def _icdf32(self):
        return icdf32(self.family, self.spec, self.empirical)

    def icdf32(self, u):
        """Draws of this prior from float32 uniforms strictly inside (0, 1): the samplers' inverse CDF.

        The family's fast float32 form (`carbon_mc.priors.families`), equal to `icdf` to float32
        precision (tested on every bundled prior). Same shapes as `icdf`.
        """
        return self._icdf32(u)

    def describe(self) -> dict:
        """JSON-ready record for provenance."""
        return {
            "quantity": self.quantity,
            "variant": self.variant,
            "distribution": self.family,
            "params": dict(self.params),
            "units": self.units,
            "source": self.source,
            **({"year": self.year} if self.year is not None else {}),
        }


@dataclass(frozen=True)
class Quantity:
    name: str
    units: str
    long_name: str
    selected_by: str | None
    variants: dict[str, Prior]
    file: str
    support: Support | None = None  # admissible values (``support = {...}`` beside the prior definition)


@dataclass(frozen=True)
class PriorTable:
    """All quantities and the accelerator table, as loaded from one priors directory."""

    quantities: dict[str, Quantity]
    hardware: dict[str, dict[str, Any]]
    hardware_units: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)  # file name (overlays: full path) -> sha256
    origins: dict[str, str] = field(default_factory=dict)  # "quantity.variant" or "hardware.key" -> file

    def quantity(self, name: str) -> Quantity:
        if name not in self.quantities:
            raise InputError(f"unknown quantity {shown(name)}; {close_matches(name, self.quantities)}")
        return self.quantities[name]

    def select(self, name: str, context: dict[str, str], *, file: str | None = None) -> Prior:
        """The variant of quantity `name` that `context` (run and accelerator attributes) picks."""
        q = self.quantity(name)
        if q.selected_by is None:
            return q.variants["default"]
        choice = context.get(q.selected_by)
        if choice is None:
            raise InputError(f"{name} is selected by {q.selected_by!r}, which the run does not give", file=file)
        if choice not in q.variants:
            raise InputError(
                f"unknown {q.selected_by} {shown(choice)} for {name}; {close_matches(choice, q.variants)}",
                file=file,
                key=q.selected_by,
            )
        return q.variants[choice]

    def hardware_spec(self, key: str, *, file: str | None = None) -> dict[str, Any]:
        if key not in self.hardware:
            raise InputError(f"unknown hardware {shown(key)}; {close_matches(key, self.hardware)}", file=file, key="hardware")
        return self.hardware[key]


NAME_TABLE_SUFFIX = "_aliases.toml"


def is_name_table(path: Path) -> bool:
    """True for a file of names (``*_aliases.toml``: hardware_aliases, place_aliases), not of priors."""
    return path.name.endswith(NAME_TABLE_SUFFIX)


def read_toml(path: Path) -> dict:
    """Parse a TOML file; a malformed, unreadable, non-UTF-8 or BOM-prefixed file is an `InputError` naming it."""
    return read_toml_bytes(path)[0]


def build_prior(quantity: str, variant: str, entry: Any, *, units: str, long_name: str, file: str,
                support: Support | None = None, key: str | None = None) -> Prior:
    """Validate one variant entry and turn it into a Prior; errors name the file and key.

    `support` is the quantity's admissible range: a prior whose mass leaves it is refused. `key`
    overrides where errors point (default ``quantity.variants.variant``; a scenario's ``priors.pue``).

    Raises:
      InputError: a missing or mistyped field, an unknown family, invalid params, or a support
        outside the quantity's bounds or float32's range.
    """
    key = key or (f"{quantity}.variants.{variant}" if variant else quantity)
    if not isinstance(entry, dict):
        raise InputError("a prior must be a table with distribution, params, description and source", file=file, key=key)
    for required in ("distribution", "params", "source"):
        if required not in entry:
            raise InputError(f"missing {required!r} (every prior needs a distribution, params and a source)", file=file, key=key)
    for name in ("distribution", "source", "description", "units"):
        if name in entry and not isinstance(entry[name], str):
            raise InputError(f"{name} must be a string, got {shown(entry[name])}", file=file, key=f"{key}.{name}")
    if not entry["source"].strip():
        raise InputError("empty 'source': every prior needs a citation a reader can follow", file=file, key=key)
    family = entry["distribution"]
    if family not in FAMILIES:
        raise InputError(f"unknown distribution {shown(family)}; {close_matches(family, FAMILIES)}", file=file, key=key)
    if "units" in entry and entry["units"] != units:
        raise InputError(f"units {shown(entry['units'])} differ from the quantity's units {units!r}", file=file, key=key)
    year = entry.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2100):
        raise InputError(f"year must be a whole year such as 2023, got {shown(year)}", file=file, key=f"{key}.year")
    try:
        spec = check_params(family, entry["params"])
        check_draw_range(family, spec)
    except (ValueError, TypeError) as exc:
        raise InputError(f"invalid {family} params: {exc}", file=file, key=f"{key}.params") from None
    problem = support.problem(family, entry["params"], spec) if support is not None else None
    if problem:
        raise InputError(f"{problem}", file=file, key=key)
    return Prior(
        quantity=quantity,
        variant=variant,
        family=family,
        params=dict(entry["params"]),
        spec=spec,
        units=units,
        long_name=long_name,
        description=str(entry.get("description", "")),
        source=entry["source"],
        year=year,
    )


def load_quantity(name: str, table: Any, file: str) -> Quantity:
    if not isinstance(table, dict):
        raise InputError("a quantity must be a table with units, long_name and variants", file=file, key=name)
    for required in ("units", "long_name", "variants"):
        if required not in table:
            raise InputError(f"missing {required!r}", file=file, key=name)
    for text in ("units", "long_name"):
        if not isinstance(table[text], str):
            raise InputError(f"must be a string, got {shown(table[text])}", file=file, key=f"{name}.{text}")
    selected_by = table.get("selected_by")
    if selected_by is not None and (not isinstance(selected_by, str) or selected_by not in SELECTORS):
        raise InputError(f"unknown selected_by {shown(selected_by)}; valid: {', '.join(SELECTORS)}", file=file, key=f"{name}.selected_by")
    if "support" not in table:
        raise InputError("missing 'support': every quantity declares its physical bounds, e.g. support = { low = 0.0 } "
                         "(>=), { above = 0.0 } (>), { low = 0.0, high = 1.0 }, or {} for any real value",
                         file=file, key=name)
    support = parse_support(table["support"], file=file, key=f"{name}.support")
    variants = table["variants"]
    if not isinstance(variants, dict) or not variants:
        raise InputError("needs at least one variant", file=file, key=f"{name}.variants")
    if selected_by is None and set(variants) != {"default"}:
        raise InputError("without selected_by the only variant must be named 'default'", file=file, key=f"{name}.variants")
    built = build_variants(name, variants, table["units"], table["long_name"], file, support)
    return Quantity(name, table["units"], table["long_name"], selected_by, built, file, support)


def build_variants(name: str, variants: dict, units: str, long_name: str, file: str,
                   support: Support | None = None) -> dict[str, Prior]:
    """Validate and build every variant of one quantity (each needs a description and a source, inside `support`)."""
    built = {}
    for vname, entry in variants.items():
        if isinstance(entry, dict) and not str(entry.get("description", "")).strip():
            raise InputError("missing 'description'", file=file, key=f"{name}.variants.{vname}")
        built[vname] = build_prior(name, vname, entry, units=units, long_name=long_name, file=file, support=support)
    return built


def load_hardware(doc: dict, file: str, known_units: dict | None = None) -> tuple[dict, dict]:
    fields, accelerators = doc.get("fields", {}), doc.get("hardware", {})
    for section, value in (("fields", fields), ("hardware", accelerators)):
        if not isinstance(value, dict):
            raise InputError(f"[{section}] must be a table", file=file, key=section)
    units = {**(known_units or {}), **fields}
    hardware = {}
    for key, spec in accelerators.items():
        if not isinstance(spec, dict):
            raise InputError("an accelerator must be a table", file=file, key=f"hardware.{key}")
        for fname, (required, ftype) in HARDWARE_FIELDS.items():
            where = f"hardware.{key}.{fname}"
            if fname not in spec:
                if required:
                    raise InputError(f"missing {fname!r}", file=file, key=where)
                continue
            value = spec[fname]
            if ftype is float:
                if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0
                        or not INPUT_MIN <= value <= INPUT_MAX):
                    raise InputError(f"must be a positive number between {INPUT_MIN:g} and {INPUT_MAX:g}, got {shown(value)}",
                                     file=file, key=where)
            elif isinstance(value, bool) or not isinstance(value, ftype):
                raise InputError(f"must be {ftype.__name__}, got {shown(value)}", file=file, key=where)
        unknown = set(spec) - set(HARDWARE_FIELDS)
        if unknown:
            raise InputError(f"unknown field(s) {', '.join(sorted(unknown))}", file=file, key=f"hardware.{key}")
        for fname in spec:
            ftype = HARDWARE_FIELDS[fname][1]
            if ftype is float and fname not in units:
                raise InputError(f"no units given for {fname!r} in [fields]", file=file, key="fields")
        hardware[key] = dict(spec, key=key)
    return hardware, units
