"""Read models/*.toml into a validated run description (`Scenario`)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import bundled_model
from .errors import CarbonMCError, close_matches
from .priors import Prior, PriorTable, build_prior, load_priors
from .priors import read_toml
from .units import default_quantity, parse_unit, to_quantity_units

RUN_KEYS = {
    "name", "hardware", "device_hours", "devices", "days", "parameters", "tokens", "train_flops",
    "region", "grid_gco2_per_kwh", "datacenter", "pue", "year", "source", "description", "notes",
    "target_loss", "compute_budget_flop", "scaling_fit", "active_parameters", "architecture",
}
REPORTED_KEYS = {"energy_mwh", "energy_scope", "co2e_t", "co2e_scope", "basis", "source", "notes", "published", "counts"}
# What a published figure counts: the final training run, or the whole project (experiments,
# ablations, failed runs). A "project" figure is compared with the run times project_experiment_factor.
COUNTS = ("final_run", "project")
CO2E_SCOPES = {"operational": "operational_tco2e", "total": "total_tco2e"}
# What a reported energy covers -> the model output it is compared with (like with like).
ENERGY_SCOPES = {
    "facility": "energy_mwh",  # accelerators + host, times PUE (Patterson et al. 2021)
    "it": "it_energy_mwh",  # accelerators + host, no PUE
    "accelerator": "accelerator_energy_mwh",  # accelerators only (GPU telemetry), no PUE (Dodge et al. 2022)
    "accelerator_facility": "accelerator_facility_energy_mwh",  # accelerators only, times PUE (Morrison et al. 2025)
}
BASES = ("measured", "estimated")
# Accounting switches ([accounting], and per claim in [[claims]]): which grid factor, and whether
# energy includes the data centre's overhead (PUE). Published figures differ on both.
GRID_BASES = ("location", "market")
MARKET_QUANTITY = "market_gco2_per_kwh"
MARKET_LONG_NAME = "grid carbon intensity, market-based (GHG Protocol Scope 2, after energy purchases; gCO2e/kWh)"
ACCOUNTING_KEYS = {"grid_basis", "pue_included", MARKET_QUANTITY, "market_source", "notes"}
CLAIM_KEYS = {"label", "value", "unit", "quantity", "source", "grid_basis", "pue_included", "notes"}
# Quantities every run draws, and those drawn only when the run's device time must be derived.
ALWAYS = (
    "accelerator_power_tdp_fraction",
    "server_power_w_per_device",
    "pue",
    "grid_gco2_per_kwh",
    "embodied_kgco2e_per_device",
    "embodied_kgco2e_per_server",
    "service_life_years",
    "lifetime_utilization_fraction",
)


@dataclass(frozen=True)
class Reported:
    """What the authors of a run published, to compare against the distribution."""

    energy_mwh: float | None = None
    co2e_t: float | None = None
    co2e_scope: str = "operational"
    basis: str | None = None
    source: str | None = None
    energy_scope: str = "facility"
    published: int | None = None  # year the figure was published (forward-in-time validation)
    counts: str = "final_run"  # COUNTS

    def figures(self) -> dict[str, float]:
        """{dataset variable: published value}."""
        out = {}
        if self.energy_mwh is not None:
            out[ENERGY_SCOPES[self.energy_scope]] = self.energy_mwh
        if self.co2e_t is not None:
            out[CO2E_SCOPES[self.co2e_scope]] = self.co2e_t
        return out


@dataclass(frozen=True)
class Accounting:
    """How a footprint is counted: location- or market-based grid factor; energy with or without PUE."""

    grid_basis: str = "location"  # "location" | "market"
    pue_included: bool = True  # False: energy_mwh is IT energy, and operational emissions use it
    market_gco2_per_kwh: Any = None  # a number or a prior table; needed only for grid_basis = "market"
    market_source: str | None = None


@dataclass(frozen=True)
class Claim:
    """A published figure to check against the distribution ([[claims]] in a scenario).

    `grid_basis` and `pue_included` are the accounting the figure was made on; None means the
    scenario's own ([accounting], by default location-based with PUE).
    """

    value: float
    unit: str
    quantity: str
    label: str = ""
    source: str | None = None
    grid_basis: str | None = None
    pue_included: bool | None = None

    @property
    def value_in_quantity_units(self) -> float:
        """The claim in the units of its quantity (t CO2e or MWh)."""
        return to_quantity_units(self.value, self.unit, self.quantity)


@dataclass(frozen=True)
class Scenario:
    """A validated training run: what ran, where, for how long, and what was reported."""

    name: str
    hardware: str
    file: str = "<scenario>"
    device_hours: float | None = None
    devices: float | None = None
    parameters: float | None = None  # total parameters (memory); compute uses active_parameters when given
    tokens: float | None = None
    train_flops: float | None = None
    active_parameters: float | None = None  # mixture-of-experts: parameters active per token (6·N_active·D)
    architecture: str = "dense"  # "dense" | "moe" (mixture-of-experts; "moe" whenever active_parameters is given)
    target_loss: float | None = None  # nats/token: tokens derived from the loss law (with parameters)
    compute_budget_flop: float | None = None  # training FLOPs: tokens = C / (6 N (1 + δ)) (with parameters)
    scaling_fit: str = "besiroglu_2024"  # variant of scaling_law_constants
    region: str | None = None
    datacenter: str | None = None
    year: int | None = None
    source: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # quantity -> number or prior table
    reported: Reported = field(default_factory=Reported)
    sha256: str | None = None
    accounting: Accounting = field(default_factory=Accounting)
    claims: tuple[Claim, ...] = ()

    # ----------------------------------------------------------------------------------------
    @property
    def derives_device_time(self) -> bool:
        """True when device-hours come from FLOPs and MFU rather than being given."""
        return self.device_hours is None

    @property
    def is_moe(self) -> bool:
        """True for a mixture-of-experts run (architecture = "moe", implied by active_parameters)."""
        return self.architecture == "moe"

    @property
    def compute_parameters(self) -> float | None:
        """The N of 6·N·D: active parameters of a mixture-of-experts run, else all parameters."""
        return self.active_parameters if self.active_parameters is not None else self.parameters

    @property
    def derives_flop(self) -> bool:
        return self.train_flops is None and self.parameters is not None and self.tokens is not None

    @property
    def derives_tokens(self) -> bool:
        """True when tokens come from the scaling modules (a target loss or a compute budget)."""
        return self.tokens is None and (self.target_loss is not None or self.compute_budget_flop is not None)

    def needed_quantities(self) -> list[str]:
        names = list(ALWAYS)
        if not self.accounting.pue_included:
            names.remove("pue")
        if self.accounting.grid_basis == "market":
            names[names.index("grid_gco2_per_kwh")] = MARKET_QUANTITY
        if self.derives_device_time:
            names += ["mfu_fraction", "device_time_overhead_factor"] + (["moe_mfu_ratio"] if self.is_moe else [])
        if self.reported.counts == "project":
            names.append("project_experiment_factor")
        if self.derives_flop:
            names.append("flops_overhead_fraction")
        if self.derives_tokens:
            names += ["flops_overhead_fraction", "scaling_law_constants"]
        return names

    def context(self, table: PriorTable) -> dict[str, str]:
        """Selector values: the run's own keys plus its accelerator's classes."""
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
        """The prior of every quantity this run needs, after the scenario's own overrides."""
        table = table or load_priors()
        ctx = self.context(table)
        resolved = {}
        for name in self.needed_quantities():
            if name == MARKET_QUANTITY:
                resolved[name] = self._market_prior(table)
            elif name in self.overrides:
                resolved[name] = self._override_prior(name, table)
            else:
                resolved[name] = table.select(name, ctx, file=self.file)
        return resolved

    def _override_prior(self, name: str, table: PriorTable) -> Prior:
        q = table.quantity(name)
        value = self.overrides[name]
        if isinstance(value, dict) and "distribution" in value:
            return build_prior(name, "scenario", value, units=q.units, long_name=q.long_name, file=self.file)
        if isinstance(value, dict):
            entry = {"distribution": "fixed", "params": {"value": value.get("value")}, "source": value.get("source", "")}
            if "value" not in value:
                raise CarbonMCError("a fixed prior needs 'value' (or give distribution and params)", file=self.file, key=f"priors.{name}")
            return build_prior(name, "scenario", entry, units=q.units, long_name=q.long_name, file=self.file)
        entry = {"distribution": "fixed", "params": {"value": value}, "source": f"fixed in {Path(self.file).name}"}
        return build_prior(name, "scenario", entry, units=q.units, long_name=q.long_name, file=self.file)

    def _market_prior(self, table: PriorTable) -> Prior:
        value = self.accounting.market_gco2_per_kwh
        key = f"accounting.{MARKET_QUANTITY}"
        if value is None:
            if MARKET_QUANTITY in table.quantities:
                return table.select(MARKET_QUANTITY, self.context(table), file=self.file)
            raise CarbonMCError(
                f"market-based accounting needs a market-based grid factor: add {MARKET_QUANTITY} = <gCO2e/kWh> "
                "(a number, or a prior table with a source) and market_source = \"...\" to [accounting], "
                "e.g. 0 for electricity matched 100% by renewable purchases",
                file=self.file, key=key,
            )
        units = table.quantity("grid_gco2_per_kwh").units
        if isinstance(value, dict):
            return build_prior(MARKET_QUANTITY, "scenario", value, units=units, long_name=MARKET_LONG_NAME, file=self.file)
        source = self.accounting.market_source or f"[accounting] {MARKET_QUANTITY} in {Path(self.file).name}"
        entry = {"distribution": "fixed", "params": {"value": value}, "source": source}
        return build_prior(MARKET_QUANTITY, "scenario", entry, units=units, long_name=MARKET_LONG_NAME, file=self.file)

    def with_accounting(self, *, grid_basis: str | None = None, pue_included: bool | None = None) -> Scenario:
        """A copy counted on another basis; None keeps the scenario's own setting."""
        from dataclasses import replace

        if grid_basis is not None and grid_basis not in GRID_BASES:
            raise CarbonMCError(f"unknown grid basis {grid_basis!r}; valid: {', '.join(GRID_BASES)}", file=self.file)
        accounting = replace(
            self.accounting,
            grid_basis=self.accounting.grid_basis if grid_basis is None else grid_basis,
            pue_included=self.accounting.pue_included if pue_included is None else bool(pue_included),
        )
        return replace(self, accounting=accounting)

    def with_priors(self, **overrides: Any) -> Scenario:
        """A copy with some priors fixed (numbers) or replaced (prior tables)."""
        from dataclasses import replace

        return replace(self, overrides={**self.overrides, **overrides})


def _positive(run: dict, key: str, file: str, *, integer: bool = False) -> float | None:
    if key not in run:
        return None
    value = run[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CarbonMCError(f"must be a number, got {value!r}", file=file, key=f"run.{key}")
    if not math.isfinite(value) or value <= 0:
        raise CarbonMCError(f"must be a finite number > 0, got {value!r}", file=file, key=f"run.{key}")
    if integer and float(value) != int(value):
        raise CarbonMCError(f"must be a whole number, got {value!r}", file=file, key=f"run.{key}")
    return float(value)


def parse_scenario(doc: dict, *, file: str = "<scenario>", table: PriorTable | None = None, sha256: str | None = None) -> Scenario:
    """Validate a scenario document (the parsed TOML) against the priors and the schema."""
    table = table or load_priors()
    unknown_sections = set(doc) - {"run", "reported", "priors", "accounting", "claims"}
    if unknown_sections:
        bad = sorted(unknown_sections)[0]
        raise CarbonMCError(
            f"unknown section [{bad}]; valid: [run], [reported], [priors], [accounting], [[claims]]", file=file, key=bad
        )
    run = doc.get("run")
    if not isinstance(run, dict):
        raise CarbonMCError("missing [run] section", file=file, key="run")
    for key in run:
        if key not in RUN_KEYS:
            raise CarbonMCError(f"unknown key; {close_matches(key, RUN_KEYS)}", file=file, key=f"run.{key}")
    for key in ("name", "hardware"):
        if not isinstance(run.get(key), str) or not run[key].strip():
            raise CarbonMCError("missing (a non-empty string is required)", file=file, key=f"run.{key}")
    table.hardware_spec(run["hardware"], file=file)

    device_hours = _positive(run, "device_hours", file)
    devices = _positive(run, "devices", file, integer=True)
    days = _positive(run, "days", file)
    parameters = _positive(run, "parameters", file)
    tokens = _positive(run, "tokens", file)
    train_flops = _positive(run, "train_flops", file)
    target_loss = _positive(run, "target_loss", file)
    compute_budget_flop = _positive(run, "compute_budget_flop", file)
    scaling_fit = run.get("scaling_fit", "besiroglu_2024")
    active_parameters, architecture = _active_parameters(run, file, parameters, tokens, train_flops, target_loss, compute_budget_flop)
    if target_loss is not None or compute_budget_flop is not None:
        _check_scaling_run(run, table, file, parameters, tokens, train_flops, target_loss, compute_budget_flop, scaling_fit)

    if days is not None and devices is None:
        raise CarbonMCError("'days' needs 'devices' to fix device time", file=file, key="run.days")
    if devices is not None and days is not None:
        from_days = devices * days * 24.0
        if device_hours is not None and abs(from_days / device_hours - 1.0) > 0.01:
            raise CarbonMCError(
                f"device_hours = {device_hours:g} contradicts devices × days × 24 = {from_days:g} (more than 1% apart)",
                file=file, key="run.device_hours",
            )
        device_hours = device_hours or from_days
    derives_tokens = target_loss is not None or compute_budget_flop is not None
    if (parameters is None) != (tokens is None) and train_flops is None and device_hours is None and not derives_tokens:
        missing = "tokens" if tokens is None else "parameters"
        raise CarbonMCError(f"'parameters' and 'tokens' go together: {missing} is missing", file=file, key=f"run.{missing}")
    if train_flops is not None and parameters is not None and tokens is not None:
        six_nd = 6.0 * (active_parameters or parameters) * tokens
        if abs(train_flops / six_nd - 1.0) > 0.25:
            raise CarbonMCError(
                f"train_flops = {train_flops:g} contradicts 6 × (active) parameters × tokens = {six_nd:g} (more than 25% apart)",
                file=file, key="run.train_flops",
            )
    if device_hours is None and train_flops is None and (parameters is None or tokens is None) and not derives_tokens:
        raise CarbonMCError(
            "cannot fix device time: give device_hours, or devices + days, or parameters + tokens, or train_flops",
            file=file, key="run",
        )

    overrides: dict[str, Any] = {}
    priors = doc.get("priors", {})
    if not isinstance(priors, dict):
        raise CarbonMCError("[priors] must be a table", file=file, key="priors")
    for name, value in priors.items():
        if name not in table.quantities:
            raise CarbonMCError(f"unknown quantity; {close_matches(name, table.quantities)}", file=file, key=f"priors.{name}")
        if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
            raise CarbonMCError("must be a number or a prior table", file=file, key=f"priors.{name}")
        if isinstance(value, (int, float)) and not math.isfinite(value):
            raise CarbonMCError(f"must be finite, got {value!r}", file=file, key=f"priors.{name}")
        overrides[name] = value

    for choice, number in (("region", "grid_gco2_per_kwh"), ("datacenter", "pue")):
        if choice in run and number in run:
            raise CarbonMCError(f"give either {choice!r} or {number!r}, not both", file=file, key=f"run.{number}")
        if number in run:
            value = _positive(run, number, file)
            if number in overrides:
                raise CarbonMCError(f"{number} is given in both [run] and [priors]", file=file, key=f"priors.{number}")
            overrides[number] = {"value": value, "source": f"[run] {number} in {Path(file).name}"}
        elif choice in run:
            if not isinstance(run[choice], str):
                raise CarbonMCError("must be a string key", file=file, key=f"run.{choice}")
        elif number not in overrides:
            raise CarbonMCError(f"missing: give {choice!r} (a key of the priors) or {number!r} (a number)", file=file, key="run")

    reported = _parse_reported(doc.get("reported"), file)
    year = run.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100):
        raise CarbonMCError(f"must be a year such as 2023, got {year!r}", file=file, key="run.year")

    scenario = Scenario(
        name=run["name"], hardware=run["hardware"], file=file, device_hours=device_hours, devices=devices,
        parameters=parameters, tokens=tokens, train_flops=train_flops, active_parameters=active_parameters, architecture=architecture, target_loss=target_loss,
        compute_budget_flop=compute_budget_flop, scaling_fit=scaling_fit, region=run.get("region"),
        datacenter=run.get("datacenter"), year=year, source=run.get("source"), overrides=overrides,
        reported=reported, sha256=sha256, accounting=_parse_accounting(doc.get("accounting"), file),
        claims=_parse_claims(doc.get("claims"), file),
    )
    scenario.resolve_priors(table)  # unknown region / datacenter / bad override fail here, at load time
    for claim in scenario.claims:  # a claim's own accounting must be computable too
        scenario.with_accounting(grid_basis=claim.grid_basis, pue_included=claim.pue_included).resolve_priors(table)
    return scenario


def _active_parameters(run, file, parameters, tokens, train_flops, target_loss, compute_budget_flop) -> tuple[float | None, str]:
    """(active parameters, architecture): a mixture-of-experts run's active count goes with its total
    `parameters`, is at most as many, and takes no loss law; 6·N·D of an MoE needs the active count."""
    active = _positive(run, "active_parameters", file)
    architecture = run.get("architecture", "moe" if active is not None else "dense")
    if architecture not in ("dense", "moe"):
        raise CarbonMCError(f"unknown architecture {architecture!r}; valid: dense, moe", file=file, key="run.architecture")
    if architecture == "dense" and active is not None:
        raise CarbonMCError("a dense run has no 'active_parameters' (give architecture = \"moe\")", file=file, key="run.architecture")
    if architecture == "moe" and active is None and train_flops is None and parameters is not None and tokens is not None:
        raise CarbonMCError("a mixture-of-experts run given by parameters and tokens needs 'active_parameters' "
                            "(compute is 6 × active parameters × tokens)", file=file, key="run.active_parameters")
    if active is None:
        return None, architecture
    if parameters is None:
        raise CarbonMCError("'active_parameters' needs 'parameters' (the total count, experts included)", file=file, key="run.active_parameters")
    if active > parameters:
        raise CarbonMCError(f"active_parameters = {active:g} exceeds parameters = {parameters:g} (the total, experts included)",
                            file=file, key="run.active_parameters")
    if target_loss is not None or compute_budget_flop is not None:
        raise CarbonMCError("'active_parameters' does not go with a loss law (target_loss or compute_budget_flop): "
                            "the bundled fits are for dense models", file=file, key="run.active_parameters")
    return active, architecture


def _check_scaling_run(run, table, file, parameters, tokens, train_flops, target_loss, compute_budget_flop, scaling_fit) -> None:
    """A target loss or a compute budget replaces tokens; it needs parameters, and a target must be in reach."""
    given = "target_loss" if target_loss is not None else "compute_budget_flop"
    if target_loss is not None and compute_budget_flop is not None:
        raise CarbonMCError("give either 'target_loss' or 'compute_budget_flop', not both", file=file, key="run.compute_budget_flop")
    if parameters is None:
        raise CarbonMCError(f"'{given}' needs 'parameters' (the model size it applies to)", file=file, key=f"run.{given}")
    for other, value in (("tokens", tokens), ("train_flops", train_flops)):
        if value is not None:
            raise CarbonMCError(f"'{given}' replaces '{other}': give one of them", file=file, key=f"run.{other}")
    if not isinstance(scaling_fit, str):
        raise CarbonMCError("must be a string key", file=file, key="run.scaling_fit")
    q = table.quantity("scaling_law_constants")
    if scaling_fit not in q.variants:
        raise CarbonMCError(f"unknown scaling fit {scaling_fit!r}; {close_matches(scaling_fit, q.variants)}", file=file,
                            key="run.scaling_fit")
    if target_loss is not None:
        from .footprint.scaling import reachable_loss_quantile_nats

        floor = reachable_loss_quantile_nats(q.variants[scaling_fit], parameters, 0.999)
        if target_loss <= floor:
            raise CarbonMCError(
                f"target_loss = {target_loss:g} nats is out of reach for {parameters:g} parameters in more than 0.1% of "
                f"draws of the loss-law constants (E + A/N^alpha reaches {floor:.4f} at its 99.9th percentile): "
                "raise the target or the parameters", file=file, key="run.target_loss",
            )


def _parse_accounting(block: Any, file: str) -> Accounting:
    if block is None:
        return Accounting()
    if not isinstance(block, dict):
        raise CarbonMCError("[accounting] must be a table", file=file, key="accounting")
    for key in block:
        if key not in ACCOUNTING_KEYS:
            raise CarbonMCError(f"unknown key; {close_matches(key, ACCOUNTING_KEYS)}", file=file, key=f"accounting.{key}")
    grid_basis = _grid_basis(block, file, "accounting") or "location"
    pue_included = _pue_included(block, file, "accounting")
    market = block.get(MARKET_QUANTITY)
    if market is not None:
        if isinstance(market, bool) or not isinstance(market, (int, float, dict)):
            raise CarbonMCError("must be a number (gCO2e/kWh) or a prior table", file=file, key=f"accounting.{MARKET_QUANTITY}")
        if isinstance(market, (int, float)) and (not math.isfinite(market) or market < 0):
            raise CarbonMCError(f"must be a finite number >= 0, got {market!r}", file=file, key=f"accounting.{MARKET_QUANTITY}")
    source = block.get("market_source")
    if source is not None and (not isinstance(source, str) or not source.strip()):
        raise CarbonMCError("must be a non-empty string", file=file, key="accounting.market_source")
    return Accounting(grid_basis, True if pue_included is None else pue_included, market, source)


def _grid_basis(block: dict, file: str, where: str) -> str | None:
    basis = block.get("grid_basis")
    if basis is not None and basis not in GRID_BASES:
        raise CarbonMCError(f"unknown grid basis {basis!r}; valid: {', '.join(GRID_BASES)}", file=file, key=f"{where}.grid_basis")
    return basis


def _pue_included(block: dict, file: str, where: str) -> bool | None:
    value = block.get("pue_included")
    if value is not None and not isinstance(value, bool):
        raise CarbonMCError(f"must be true or false, got {value!r}", file=file, key=f"{where}.pue_included")
    return value


def _parse_claims(block: Any, file: str) -> tuple[Claim, ...]:
    if block is None:
        return ()
    if not isinstance(block, list) or not all(isinstance(c, dict) for c in block):
        raise CarbonMCError("claims must be an array of tables ([[claims]])", file=file, key="claims")
    claims = []
    for i, entry in enumerate(block):
        where = f"claims[{i}]"
        for key in entry:
            if key not in CLAIM_KEYS:
                raise CarbonMCError(f"unknown key; {close_matches(key, CLAIM_KEYS)}", file=file, key=f"{where}.{key}")
        for required in ("value", "unit", "source"):
            if required not in entry:
                raise CarbonMCError(f"missing {required!r} (a claim needs a value, a unit and a source)", file=file, key=where)
        value = entry["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise CarbonMCError(f"must be a finite number >= 0, got {value!r}", file=file, key=f"{where}.value")
        try:
            unit = parse_unit(entry["unit"]).symbol
            quantity = entry.get("quantity") or default_quantity(unit)
            to_quantity_units(value, unit, quantity)
        except CarbonMCError as exc:
            raise CarbonMCError(exc.message, file=file, key=where) from None
        for key in ("label", "source"):
            if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
                raise CarbonMCError("must be a non-empty string", file=file, key=f"{where}.{key}")
        claims.append(Claim(
            value=float(value), unit=unit, quantity=quantity, label=entry.get("label", f"{value:g} {unit}"),
            source=entry["source"], grid_basis=_grid_basis(entry, file, where),
            pue_included=_pue_included(entry, file, where),
        ))
    return tuple(claims)


def _parse_reported(block: Any, file: str) -> Reported:
    if block is None:
        return Reported()
    if not isinstance(block, dict):
        raise CarbonMCError("[reported] must be a table", file=file, key="reported")
    for key in block:
        if key not in REPORTED_KEYS:
            raise CarbonMCError(f"unknown key; {close_matches(key, REPORTED_KEYS)}", file=file, key=f"reported.{key}")
    values = {}
    for key in ("energy_mwh", "co2e_t"):
        if key in block:
            values[key] = _positive(block, key, file)
    scope = block.get("co2e_scope", "operational")
    if scope not in CO2E_SCOPES:
        raise CarbonMCError(f"unknown scope {scope!r}; valid: {', '.join(CO2E_SCOPES)}", file=file, key="reported.co2e_scope")
    basis = block.get("basis")
    if basis is not None and basis not in BASES:
        raise CarbonMCError(f"unknown basis {basis!r}; valid: {', '.join(BASES)}", file=file, key="reported.basis")
    energy_scope = block.get("energy_scope", "facility")
    if energy_scope not in ENERGY_SCOPES:
        raise CarbonMCError(
            f"unknown energy scope {energy_scope!r}; {close_matches(str(energy_scope), ENERGY_SCOPES)}",
            file=file, key="reported.energy_scope",
        )
    published = block.get("published")
    if published is not None and (isinstance(published, bool) or not isinstance(published, int) or not 1990 <= published <= 2100):
        raise CarbonMCError(f"must be the year the figure was published, such as 2023, got {published!r}", file=file, key="reported.published")
    counts = block.get("counts", "final_run")
    if counts not in COUNTS:
        raise CarbonMCError(f"unknown {counts!r}; valid: {', '.join(COUNTS)} (what the figure counts)", file=file, key="reported.counts")
    return Reported(co2e_scope=scope, basis=basis, source=block.get("source"), energy_scope=energy_scope, published=published,
                    counts=counts, **values)


def load_scenario(path: str | Path, *, priors: PriorTable | None = None) -> Scenario:
    """Read and validate a scenario TOML file; a bare name loads a bundled scenario."""
    path = Path(path)
    if not path.exists() and path.suffix == "" and path.parent == Path("."):
        path = bundled_model(str(path))
    if not path.exists():
        raise CarbonMCError("no such file", file=str(path))
    doc = read_toml(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return parse_scenario(doc, file=str(path), table=priors, sha256=sha)
