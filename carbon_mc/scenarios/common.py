"""What training runs and deployments share, written once: published figures ([reported],
[[claims]]), the accounting basis ([accounting]), prior overrides ([priors]) and how a scenario's
priors are resolved, and finding and reading a scenario file.

Each kind (`training.Scenario`, `deployment.ServingScenario`) holds only what differs: its own
table ([run] or [serving]), which quantities it draws, and which outputs a figure can name.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Self

from ..errors import InputError, shown
from ..priors import Prior, PriorTable, build_prior, load_priors
from ..priors.reading import read_toml_bytes
from . import fields
from .units import convert, quantity_units, to_quantity_units
from .where import GRID_QUANTITY, grid_prior, resolve_region

if TYPE_CHECKING:
    from ..claims.method import ClaimMethod

LOG = logging.getLogger("carbon_mc")

# Accounting switches ([accounting], and per claim in [[claims]]): which grid factor, and whether
# energy includes the data centre's overhead (PUE). Published figures differ on both.
GRID_BASES = ("location", "market")
MARKET_QUANTITY = "market_gco2_per_kwh"
MARKET_LONG_NAME = "grid carbon intensity, market-based (GHG Protocol Scope 2, after energy purchases; gCO2e/kWh)"
ACCOUNTING_KEYS = {"grid_basis", "pue_included", MARKET_QUANTITY, "market_source", "notes"}
CLAIM_KEYS = {"label", "value", "unit", "quantity", "source", "grid_basis", "pue_included", "notes", "method"}
BASES = ("measured", "estimated")
# What a published figure counts: the final training run, or the whole project (experiments,
# ablations, failed runs). A "project" figure is compared with the run times project_experiment_factor.
COUNTS = ("final_run", "project")


@dataclass(frozen=True)
class Accounting:
    """How a footprint is counted: location- or market-based grid factor; energy with or without PUE."""

    grid_basis: str = "location"  # "location" | "market"
    pue_included: bool = True  # False: energy_mwh is IT energy, and operational emissions use it
    market_gco2_per_kwh: Any = None  # a number or a prior table; needed only for grid_basis = "market"
    market_source: str | None = None


@dataclass(frozen=True)
class Claim:
    """A published figure to check against the distribution ([[claims]] in a scenario, or an argument).

    `quantity` names an output of the scenario's chain (which outputs exist is the kind's business);
    `grid_basis` and `pue_included` are the accounting the figure was made on; None means the
    scenario's own ([accounting], by default location-based with PUE). `method`: how the figure was
    computed (`carbon_mc.claims.method.ClaimMethod`), None when not stated.
    """

    value: float
    unit: str
    quantity: str
    label: str = ""
    source: str | None = None
    grid_basis: str | None = None
    pue_included: bool | None = None
    method: ClaimMethod | None = None

    @property
    def value_in_quantity_units(self) -> float:
        """The claim in the units of its quantity (t CO2e or MWh; g, Wh or kWh for serving outputs)."""
        return to_quantity_units(self.value, self.unit, self.quantity)


@dataclass(frozen=True)
class Reported:
    """What the authors of a run or a deployment published, to compare against the distribution.

    `values` maps each published figure's output quantity (its scope: `energy_mwh`,
    `accelerator_energy_mwh`, `total_tco2e`, ...) to the figure in that output's units.
    """

    values: Mapping[str, float] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)  # output -> how the figure is named in a check
    basis: str | None = None  # BASES
    source: str | None = None
    energy_scope: str = "facility"
    co2e_scope: str = "operational"
    energy_quantity: str | None = None  # the output the published energy is compared with
    co2e_quantity: str | None = None
    published: int | None = None  # year the figure was published (forward-in-time validation)
    counts: str = "final_run"  # COUNTS
    requests: float | None = None  # requests the published serving figures cover
    method: ClaimMethod | None = None  # how the figures were computed (`carbon_mc.claims.method`), None: not stated

    def figures(self) -> dict[str, float]:
        """{dataset variable: published value}."""
        return dict(self.values)

    @property
    def energy_mwh(self) -> float | None:
        """The published energy (MWh) on its own scope, or None."""
        return None if self.energy_quantity is None else self.values[self.energy_quantity]

    @property
    def co2e_t(self) -> float | None:
        """The published CO2e (in its output's units) on its own scope, or None."""
        return None if self.co2e_quantity is None else self.values[self.co2e_quantity]

    def claims(self) -> list[Claim]:
        """The published figures as claims, each on its own output (and so its own scope)."""
        return [Claim(value, quantity_units(quantity), quantity, label=self.labels[quantity], source=self.source,
                      method=self.method)
                for quantity, value in self.values.items()]


class ReportedFigure(NamedTuple):
    """A figure a kind's [reported] table may hold: its key, the unit it is written in, the key of its
    scope, the scopes (scope -> output quantity), the default scope, and how a check labels it."""

    key: str
    unit: str
    scope_key: str
    scopes: Mapping[str, str]
    default_scope: str
    label: Callable[[str, str], str]  # (scope, output quantity) -> label


# ---------------------------------------------------------------------------------------------
# Parsing the shared tables
# ---------------------------------------------------------------------------------------------
def parse_accounting(block: Any, file: str) -> Accounting:
    """[accounting]: the grid basis, whether PUE is included, and a market-based factor."""
    if block is None:
        return Accounting()
    block = fields.read_table({"accounting": block}, "accounting", file)
    fields.check_keys(block, ACCOUNTING_KEYS, file, "accounting")
    grid_basis = fields.read_choice(block, "grid_basis", GRID_BASES, file, "accounting", "location")
    pue_included = fields.read_bool(block, "pue_included", file, "accounting")
    market = fields.read_number_or_table(block, MARKET_QUANTITY, file, "accounting", minimum=0.0)
    source = fields.read_str(block, "market_source", file, "accounting")
    fields.read_str(block, "notes", file, "accounting")
    return Accounting(grid_basis, True if pue_included is None else pue_included, market, source)


# (value, unit, quantity or None, file, where) -> (value, unit symbol, quantity, default label)
ClaimValue = Callable[[Any, Any, "str | None", str, str], tuple[float, str, str, str]]


def parse_claims(block: Any, file: str, claim_value: ClaimValue, *, required: tuple[str, ...] = ("value", "unit", "source"),
                 ) -> tuple[Claim, ...]:
    """[[claims]]: each a value, a unit, a source, optionally the output quantity it is about, a
    label and its own accounting. `claim_value(value, unit, quantity, file, where)` is the kind's:
    it checks the figure against the kind's outputs and returns (value, unit symbol, quantity, default label)."""
    if block is None:
        return ()
    if not isinstance(block, list) or not all(isinstance(c, dict) for c in block):
        raise InputError("claims must be an array of tables ([[claims]])", file=file, key="claims")
    claims = []
    for i, entry in enumerate(block):
        where = f"claims[{i}]"
        fields.check_keys(entry, CLAIM_KEYS, file, where)
        for key in required:
            if key not in entry:
                raise InputError(f"missing {key!r} (a claim needs {', '.join(required[:-1])} and {required[-1]})",
                                 file=file, key=where)
        quantity = fields.read_str(entry, "quantity", file, where)
        value, unit, quantity, default_label = claim_value(entry["value"], entry["unit"], quantity, file, where)
        label = fields.read_str(entry, "label", file, where)
        source = fields.read_str(entry, "source", file, where, required=True)
        fields.read_str(entry, "notes", file, where)
        claims.append(Claim(
            value=value, unit=unit, quantity=quantity, label=label or default_label, source=source,
            grid_basis=fields.read_choice(entry, "grid_basis", GRID_BASES, file, where),
            pue_included=fields.read_bool(entry, "pue_included", file, where),
            method=_parse_method(entry.get("method"), file, where),
        ))
    return tuple(claims)


def _parse_method(value: Any, file: str, where: str) -> ClaimMethod | None:
    """A figure's `method` (`carbon_mc.claims.method.parse_method`), None when absent."""
    if value is None:
        return None
    from ..claims.method import parse_method  # here, not at the top: the claims package imports the scenarios

    return parse_method(value, file, where)


def parse_reported(block: Any, file: str, figures: tuple[ReportedFigure, ...], *, extra_keys: tuple[str, ...] = (),
                   ) -> Reported:
    """[reported]: the published figures (each on a scope the kind names), their basis and source,
    and, where the kind allows them (`extra_keys`), the year published, what they count and the
    requests they cover."""
    if block is None:
        return Reported()
    block = fields.read_table({"reported": block}, "reported", file)
    allowed = {"basis", "source", "notes", "method", *extra_keys} | {f.key for f in figures} | {f.scope_key for f in figures}
    fields.check_keys(block, allowed, file, "reported")
    values, labels, chosen, quantities = {}, {}, {}, {}
    for figure in figures:
        scope = fields.read_choice(block, figure.scope_key, tuple(figure.scopes), file, "reported", figure.default_scope)
        chosen[figure.scope_key] = scope
        if figure.key in block:
            quantity = figure.scopes[scope]
            value = fields.require_positive(block, figure.key, file, "reported")
            values[quantity] = convert(value, figure.unit, quantity_units(quantity))
            labels[quantity] = figure.label(scope, quantity)
            quantities[figure.scope_key] = quantity
    basis = fields.read_choice(block, "basis", BASES, file, "reported")
    source = fields.read_str(block, "source", file, "reported")
    fields.read_str(block, "notes", file, "reported")
    published = block.get("published")
    if published is not None and (isinstance(published, bool) or not isinstance(published, int) or not 1990 <= published <= 2100):
        raise InputError(f"must be the year the figure was published, such as 2023, got {shown(published)}",
                         file=file, key="reported.published")
    counts = fields.read_choice(block, "counts", COUNTS, file, "reported", "final_run")
    requests = fields.read_positive(block, "requests", file, "reported")
    method = _parse_method(block.get("method"), file, "reported")
    return Reported(values=values, labels=labels, basis=basis, source=source,
                    energy_scope=chosen.get("energy_scope", "facility"), co2e_scope=chosen.get("co2e_scope", "operational"),
                    energy_quantity=quantities.get("energy_scope"), co2e_quantity=quantities.get("co2e_scope"),
                    published=published, counts=counts, requests=requests, method=method)


# ---------------------------------------------------------------------------------------------
# Resolving a scenario's priors
# ---------------------------------------------------------------------------------------------
def override_prior(name: str, value: Any, table: PriorTable, file: str) -> Prior:
    """The prior a scenario's [priors] entry (a number, {value, source} or a prior table) stands for."""
    q = table.quantity(name)
    key = f"priors.{name}"

    def build(entry: Any) -> Prior:
        return build_prior(name, "scenario", entry, units=q.units, long_name=q.long_name, file=file, support=q.support, key=key)

    if isinstance(value, dict) and "distribution" in value:
        return build(value)
    if isinstance(value, dict):
        if "value" not in value:
            raise InputError("a fixed prior needs 'value' (or give distribution and params)", file=file, key=key)
        return build({"distribution": "fixed", "params": {"value": value.get("value")}, "source": value.get("source", "")})
    return build({"distribution": "fixed", "params": {"value": value}, "source": f"fixed in {Path(file).name}"})


def market_prior(accounting: Accounting, table: PriorTable, context: dict[str, str], file: str) -> Prior:
    """The market-based grid factor: [accounting]'s own, else the priors' (by region), else an error."""
    value = accounting.market_gco2_per_kwh
    key = f"accounting.{MARKET_QUANTITY}"
    if value is None:
        if MARKET_QUANTITY in table.quantities:
            return table.select(MARKET_QUANTITY, context, file=file)
        raise InputError(
            f"market-based accounting needs a market-based grid factor: add {MARKET_QUANTITY} = <gCO2e/kWh> "
            "(a number, or a prior table with a source) and market_source = \"...\" to [accounting], "
            "e.g. 0 for electricity matched 100% by renewable purchases",
            file=file, key=key,
        )
    grid = table.quantity("grid_gco2_per_kwh")
    if not isinstance(value, dict):
        source = accounting.market_source or f"[accounting] {MARKET_QUANTITY} in {Path(file).name}"
        value = {"distribution": "fixed", "params": {"value": value}, "source": source}
    return build_prior(MARKET_QUANTITY, "scenario", value, units=grid.units, long_name=MARKET_LONG_NAME, file=file,
                       support=grid.support, key=key)


class ScenarioBase:
    """Behaviour both kinds share; each kind is a frozen dataclass with `name`, `hardware`, `file`,
    `region`, `datacenter`, `overrides`, `accounting`, `claims` and `reported`, and its own
    `needed_quantities()`."""

    scaling_fit = "besiroglu_2024"  # a training run's own field; a deployment selects with the default
    region_fell_back_from: str | None = None  # the place named, when its grid is a wider one's
    notes: tuple[str, ...] = ()  # how inputs were chosen (`with_notes`)
    year: int | None
    file: str
    hardware: str
    region: str | None
    datacenter: str | None
    overrides: dict[str, Any]
    accounting: Accounting
    reported: Reported
    claims: tuple[Claim, ...]

    def needed_quantities(self) -> list[str]:  # pragma: no cover - each kind defines it
        raise NotImplementedError

    def context(self, table: PriorTable) -> dict[str, str]:
        """Selector values: the scenario's own keys plus its accelerator's classes."""
        spec = table.hardware_spec(self.hardware, file=self.file)
        ctx = {"hardware": self.hardware}
        for key in ("power_class", "mfu_class", "server_class"):
            ctx[key] = spec[key]
        if self.region is not None:
            ctx["region"] = self.region
        if self.datacenter is not None:
            ctx["datacenter"] = self.datacenter
        ctx["scaling_fit"] = self.scaling_fit
        return ctx

    def resolve_priors(self, table: PriorTable | None = None) -> dict[str, Prior]:
        """The prior of every quantity this scenario needs, after the scenario's own overrides."""
        table = table or load_priors()
        ctx = self.context(table)
        resolved = {}
        for name in self.needed_quantities():
            if name == MARKET_QUANTITY:
                resolved[name] = market_prior(self.accounting, table, ctx, self.file)
            elif name in self.overrides:
                resolved[name] = override_prior(name, self.overrides[name], table, self.file)
            elif name == GRID_QUANTITY and self.region is not None:
                resolved[name] = self.grid(table, ctx)[0]
            else:
                resolved[name] = table.select(name, ctx, file=self.file)
        return resolved

    def grid(self, table: PriorTable, ctx: dict[str, str] | None = None) -> tuple[Prior, list[str]]:
        """The grid prior of the scenario's region and year, and the notes on how it was chosen."""
        base = table.select(GRID_QUANTITY, ctx or self.context(table), file=self.file)
        return grid_prior(base, str(self.region), self.year, self.region_fell_back_from, self.file)

    def with_notes(self, table: PriorTable) -> Self:
        """A copy carrying `notes` (how its inputs were chosen: a fallback, an extrapolated year), each
        said once as a warning of the ``carbon_mc`` logger (the command line prints it)."""
        found = tuple(self.find_notes(table))
        for note in found:
            LOG.warning("%s: %s", Path(self.file).name, note)
        return replace(self, notes=found)  # type: ignore[type-var]  # each kind is a dataclass; mypy sees the mixin

    def find_notes(self, table: PriorTable) -> list[str]:
        """What the user should know about how the scenario's inputs were chosen."""
        if self.region is None or GRID_QUANTITY in self.overrides:
            return []
        return self.grid(table)[1]

    def at_place(self, place: str, table: PriorTable | None = None) -> Self:
        """A copy computed at `place` (any name `resolve_region` takes): what a model card's
        location must mean. Refused when the scenario fixes its grid factor as a number, which
        would leave the card's number computed elsewhere than the place it names."""
        table = table or load_priors()
        if GRID_QUANTITY in self.overrides:
            raise InputError(f"the location {place!r} cannot be computed on: the scenario fixes {GRID_QUANTITY} itself; "
                             "give the run's region instead of the number, or leave the location to the scenario",
                             file=self.file, key="--location")
        key, fell_back = resolve_region(place, table, self.file, "--location")
        if key == self.region:
            return self
        moved = replace(self, region=key, region_fell_back_from=fell_back)  # type: ignore[type-var]  # each kind is a dataclass; mypy sees the mixin
        moved.resolve_priors(table)
        return moved.with_notes(table)

    def check_overrides(self, table: PriorTable) -> None:
        """Every override is a valid prior inside its bounds, used by this scenario or not."""
        for name, value in self.overrides.items():
            override_prior(name, value, table, self.file)

    def with_accounting(self, *, grid_basis: str | None = None, pue_included: bool | None = None) -> Self:
        """A copy counted on another basis; None keeps the scenario's own setting."""
        if grid_basis is not None and grid_basis not in GRID_BASES:
            raise InputError(f"unknown grid basis {grid_basis!r}; valid: {', '.join(GRID_BASES)}", file=self.file)
        accounting = replace(
            self.accounting,
            grid_basis=self.accounting.grid_basis if grid_basis is None else grid_basis,
            pue_included=self.accounting.pue_included if pue_included is None else bool(pue_included),
        )
        return replace(self, accounting=accounting)  # type: ignore[type-var]  # each kind is a dataclass; mypy sees the mixin

    def with_priors(self, **overrides: Any) -> Self:
        """A copy with some priors fixed (numbers) or replaced (prior tables)."""
        return replace(self, overrides={**self.overrides, **overrides})  # type: ignore[type-var]  # each kind is a dataclass; mypy sees the mixin

    def check_claims_computable(self, table: PriorTable) -> None:
        """Each claim's own accounting must be computable too (a market basis needs a market factor)."""
        for claim in self.claims:
            self.with_accounting(grid_basis=claim.grid_basis, pue_included=claim.pue_included).resolve_priors(table)


# ---------------------------------------------------------------------------------------------
# Files and bundled names
# ---------------------------------------------------------------------------------------------
def scenario_path(path: str | Path, find_bundled: Callable[[str], Path]) -> Path:
    """The file a scenario argument names: a path, or a bare name that `find_bundled` turns into one.

    Raises:
      InputError: not a string or path, no such file, a directory, or a name the system refuses.
    """
    if not isinstance(path, (str, Path)):
        raise InputError(f"a scenario is a Scenario, a TOML path or a bundled name, got {type(path).__name__}")
    path = Path(path)
    try:
        if not path.exists() and path.suffix == "" and path.parent == Path("."):
            path = find_bundled(str(path))
        if not path.exists():
            raise InputError("no such file", file=str(path))
        if path.is_dir():
            raise InputError("is a directory, not a scenario TOML file", file=str(path))
    except OSError as exc:  # a name too long, a loop of links
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    return path


# The text of each scenario file read, by SHA-256: what a run writes into its netCDF as the scenario's
# own text, without reading the file again (a pipe, /dev/stdin or <(...), can be read only once).
SCENARIO_TEXTS: dict[str, str] = {}


def read_scenario_file(path: Path) -> tuple[dict, str]:
    """(the parsed TOML, the file's SHA-256) of a scenario file, read once: it may be a pipe
    (``/dev/stdin``, ``<(...)``). Its text is kept by hash (`SCENARIO_TEXTS`)."""
    doc, data = read_toml_bytes(path)
    sha = hashlib.sha256(data).hexdigest()
    SCENARIO_TEXTS[sha] = data.decode("utf-8")
    return doc, sha


__all__ = [
    "Accounting", "Claim", "Reported", "ReportedFigure", "ScenarioBase", "market_prior",
    "override_prior", "parse_accounting", "parse_claims", "parse_reported", "read_scenario_file",
    "scenario_path",
]
