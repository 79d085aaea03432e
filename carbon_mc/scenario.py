"""Read models/*.toml into a validated run description (`Scenario`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import scenario_fields as fields
from .data import bundled_model
from .errors import CarbonMCError, InputError, close_matches, shown
from .priors import Prior, PriorTable, build_prior, load_priors
from .priors import read_toml
from .units import default_quantity, parse_unit, to_quantity_units

RUN_KEYS = {
    "name", "hardware", "device_hours", "devices", "days", "parameters", "tokens", "train_flops",
    "region", "grid_gco2_per_kwh", "datacenter", "pue", "year", "source", "description", "notes",
    "target_loss", "compute_budget_flop", "scaling_fit", "active_parameters", "architecture", "experts", "experts_per_token",
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
# What counts the FLOPs beyond 6·N per token (footprint.compute.attention_logit_flops_fraction).
FLOP_SHAPE_QUANTITIES = ("context_length_tokens", "vocabulary_size", "hidden_per_layer_ratio")
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
    experts: int | None = None  # mixture-of-experts: experts per MoE layer (E), for the layout planner
    experts_per_token: int | None = None  # experts each token is routed to (k of top-k), for the layout planner
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
        if self.derives_flop or self.derives_tokens:
            names += list(FLOP_SHAPE_QUANTITIES)
        if self.derives_tokens:
            names.append("scaling_law_constants")
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
        value, key = self.overrides[name], f"priors.{name}"
        common = {"units": q.units, "long_name": q.long_name, "file": self.file, "support": q.support, "key": key}
        if isinstance(value, dict) and "distribution" in value:
            return build_prior(name, "scenario", value, **common)
        if isinstance(value, dict):
            if "value" not in value:
                raise InputError("a fixed prior needs 'value' (or give distribution and params)", file=self.file, key=key)
            entry = {"distribution": "fixed", "params": {"value": value.get("value")}, "source": value.get("source", "")}
            return build_prior(name, "scenario", entry, **common)
        entry = {"distribution": "fixed", "params": {"value": value}, "source": f"fixed in {Path(self.file).name}"}
        return build_prior(name, "scenario", entry, **common)

    def _market_prior(self, table: PriorTable) -> Prior:
        value = self.accounting.market_gco2_per_kwh
        key = f"accounting.{MARKET_QUANTITY}"
        if value is None:
            if MARKET_QUANTITY in table.quantities:
                return table.select(MARKET_QUANTITY, self.context(table), file=self.file)
            raise InputError(
                f"market-based accounting needs a market-based grid factor: add {MARKET_QUANTITY} = <gCO2e/kWh> "
                "(a number, or a prior table with a source) and market_source = \"...\" to [accounting], "
                "e.g. 0 for electricity matched 100% by renewable purchases",
                file=self.file, key=key,
            )
        grid = table.quantity("grid_gco2_per_kwh")
        common = {"units": grid.units, "long_name": MARKET_LONG_NAME, "file": self.file, "support": grid.support, "key": key}
        if isinstance(value, dict):
            return build_prior(MARKET_QUANTITY, "scenario", value, **common)
        source = self.accounting.market_source or f"[accounting] {MARKET_QUANTITY} in {Path(self.file).name}"
        entry = {"distribution": "fixed", "params": {"value": value}, "source": source}
        return build_prior(MARKET_QUANTITY, "scenario", entry, **common)

    def with_accounting(self, *, grid_basis: str | None = None, pue_included: bool | None = None) -> Scenario:
        """A copy counted on another basis; None keeps the scenario's own setting."""
        from dataclasses import replace

        if grid_basis is not None and grid_basis not in GRID_BASES:
            raise InputError(f"unknown grid basis {grid_basis!r}; valid: {', '.join(GRID_BASES)}", file=self.file)
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


def parse_scenario(doc: dict, *, file: str = "<scenario>", table: PriorTable | None = None, sha256: str | None = None) -> Scenario:
    """Validate a scenario document (the parsed TOML) against the priors and the schema.

    Raises:
      InputError: a missing, unknown or mistyped key, a value out of its physical or float32 range,
        an unknown hardware, region or datacenter, or an override whose prior is invalid; the
        message names the file and the key.
    """
    if not isinstance(doc, dict):
        raise InputError(f"a scenario must be a table of sections ([run], ...), got {type(doc).__name__}", file=file)
    table = table or load_priors()
    unknown_sections = set(doc) - set(fields.SECTIONS)
    if unknown_sections:
        bad = sorted(unknown_sections)[0]
        raise InputError(f"unknown section [{bad}]; valid: [run], [reported], [priors], [accounting], [[claims]]", file=file, key=bad)
    run = fields.read_table(doc, "run", file, required=True)
    fields.check_keys(run, RUN_KEYS, file, "run")
    name, hardware = (fields.read_str(run, key, file, "run", required=True) for key in ("name", "hardware"))
    table.hardware_spec(hardware, file=file)
    sizes = {key: fields.read_positive(run, key, file, "run", integer=key == "devices") for key in fields.SIZES}
    scaling_fit = run.get("scaling_fit", "besiroglu_2024")
    sizes["active_parameters"], architecture = _active_parameters(run, file, **{k: sizes[k] for k in (
        "parameters", "tokens", "train_flops", "target_loss", "compute_budget_flop")})
    experts, experts_per_token = fields.expert_routing(run, file, architecture=architecture, parameters=sizes["parameters"],
                                                       active_parameters=sizes["active_parameters"])
    if sizes["target_loss"] is not None or sizes["compute_budget_flop"] is not None:
        _check_scaling_run(run, table, file, **{k: sizes[k] for k in ("parameters", "tokens", "train_flops", "target_loss",
                                                                       "compute_budget_flop")}, scaling_fit=scaling_fit)
    device_hours = fields.device_time(sizes, file)
    overrides = fields.prior_overrides(fields.read_table(doc, "priors", file), run, table, file)
    for key in ("region", "datacenter", "source", "description", "notes", "scaling_fit"):
        fields.read_str(run, key, file, "run")
    scenario = Scenario(
        name=name, hardware=hardware, file=file, device_hours=device_hours, devices=sizes["devices"],
        parameters=sizes["parameters"], tokens=sizes["tokens"], train_flops=sizes["train_flops"],
        active_parameters=sizes["active_parameters"], architecture=architecture, experts=experts,
        experts_per_token=experts_per_token,
        target_loss=sizes["target_loss"], compute_budget_flop=sizes["compute_budget_flop"], scaling_fit=scaling_fit,
        region=run.get("region"), datacenter=run.get("datacenter"), year=fields.read_year(run, "year", file, "run"),
        source=run.get("source"), overrides=overrides, reported=_parse_reported(doc.get("reported"), file), sha256=sha256,
        accounting=parse_accounting(doc.get("accounting"), file), claims=_parse_claims(doc.get("claims"), file),
    )
    for quantity in overrides:  # every override is a valid prior inside its bounds, used by this run or not
        scenario._override_prior(quantity, table)
    scenario.resolve_priors(table)  # unknown region / datacenter fail here, at load time
    for claim in scenario.claims:  # a claim's own accounting must be computable too
        scenario.with_accounting(grid_basis=claim.grid_basis, pue_included=claim.pue_included).resolve_priors(table)
    return scenario


def _active_parameters(run, file, *, parameters, tokens, train_flops, target_loss, compute_budget_flop) -> tuple[float | None, str]:
    """(active parameters, architecture): a mixture-of-experts run's active count goes with its total
    `parameters`, is at most as many, and takes no loss law; 6·N·D of an MoE needs the active count."""
    active = fields.read_positive(run, "active_parameters", file, "run")
    architecture = fields.read_choice(run, "architecture", ("dense", "moe"), file, "run", "moe" if active is not None else "dense")
    if architecture == "dense" and active is not None:
        raise InputError("a dense run has no 'active_parameters' (give architecture = \"moe\")", file=file, key="run.architecture")
    if architecture == "moe" and active is None and train_flops is None and parameters is not None and tokens is not None:
        raise InputError("a mixture-of-experts run given by parameters and tokens needs 'active_parameters' "
                            "(compute is 6 × active parameters × tokens)", file=file, key="run.active_parameters")
    if active is None:
        return None, architecture
    if parameters is None:
        raise InputError("'active_parameters' needs 'parameters' (the total count, experts included)", file=file, key="run.active_parameters")
    if active > parameters:
        raise InputError(f"active_parameters = {active:g} exceeds parameters = {parameters:g} (the total, experts included)",
                            file=file, key="run.active_parameters")
    if target_loss is not None or compute_budget_flop is not None:
        raise InputError("'active_parameters' does not go with a loss law (target_loss or compute_budget_flop): "
                            "the bundled fits are for dense models", file=file, key="run.active_parameters")
    return active, architecture


def _check_scaling_run(run, table, file, *, parameters, tokens, train_flops, target_loss, compute_budget_flop, scaling_fit) -> None:
    """A target loss or a compute budget replaces tokens; it needs parameters, and a target must be in reach."""
    given = "target_loss" if target_loss is not None else "compute_budget_flop"
    if target_loss is not None and compute_budget_flop is not None:
        raise InputError("give either 'target_loss' or 'compute_budget_flop', not both", file=file, key="run.compute_budget_flop")
    if parameters is None:
        raise InputError(f"'{given}' needs 'parameters' (the model size it applies to)", file=file, key=f"run.{given}")
    for other, value in (("tokens", tokens), ("train_flops", train_flops)):
        if value is not None:
            raise InputError(f"'{given}' replaces '{other}': give one of them", file=file, key=f"run.{other}")
    if not isinstance(scaling_fit, str):
        raise InputError("must be a string key", file=file, key="run.scaling_fit")
    q = table.quantity("scaling_law_constants")
    if scaling_fit not in q.variants:
        raise InputError(f"unknown scaling fit {shown(scaling_fit)}; {close_matches(scaling_fit, q.variants)}", file=file,
                            key="run.scaling_fit")
    if target_loss is not None:
        from .footprint.scaling import reachable_loss_quantile_nats

        floor = reachable_loss_quantile_nats(q.variants[scaling_fit], parameters, 0.999)
        if target_loss <= floor:
            raise InputError(
                f"target_loss = {target_loss:g} nats is out of reach for {parameters:g} parameters in more than 0.1% of "
                f"draws of the loss-law constants (E + A/N^alpha reaches {floor:.4f} at its 99.9th percentile): "
                "raise the target or the parameters", file=file, key="run.target_loss",
            )


def parse_accounting(block: Any, file: str) -> Accounting:
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


def _parse_claims(block: Any, file: str) -> tuple[Claim, ...]:
    if block is None:
        return ()
    if not isinstance(block, list) or not all(isinstance(c, dict) for c in block):
        raise InputError("claims must be an array of tables ([[claims]])", file=file, key="claims")
    return tuple(_parse_claim(entry, file, f"claims[{i}]") for i, entry in enumerate(block))


def _parse_claim(entry: dict, file: str, where: str) -> Claim:
    fields.check_keys(entry, CLAIM_KEYS, file, where)
    for required in ("value", "unit", "source"):
        if required not in entry:
            raise InputError(f"missing {required!r} (a claim needs a value, a unit and a source)", file=file, key=where)
    value = fields.check_number(entry["value"], file, f"{where}.value", minimum=0.0)
    unit_text = fields.read_str(entry, "unit", file, where, required=True)
    quantity = fields.read_str(entry, "quantity", file, where)
    try:
        unit = parse_unit(unit_text).symbol
        quantity = quantity or default_quantity(unit)
        to_quantity_units(value, unit, quantity)
    except CarbonMCError as exc:
        raise InputError(exc.message, file=file, key=where) from None
    label = fields.read_str(entry, "label", file, where)
    source = fields.read_str(entry, "source", file, where, required=True)
    fields.read_str(entry, "notes", file, where)
    return Claim(
        value=value, unit=unit, quantity=quantity, label=label or f"{value:g} {unit}", source=source,
        grid_basis=fields.read_choice(entry, "grid_basis", GRID_BASES, file, where),
        pue_included=fields.read_bool(entry, "pue_included", file, where),
    )


def _parse_reported(block: Any, file: str) -> Reported:
    if block is None:
        return Reported()
    block = fields.read_table({"reported": block}, "reported", file)
    fields.check_keys(block, REPORTED_KEYS, file, "reported")
    values = {key: fields.read_positive(block, key, file, "reported") for key in ("energy_mwh", "co2e_t") if key in block}
    scope = fields.read_choice(block, "co2e_scope", tuple(CO2E_SCOPES), file, "reported", "operational")
    basis = fields.read_choice(block, "basis", BASES, file, "reported")
    energy_scope = fields.read_choice(block, "energy_scope", tuple(ENERGY_SCOPES), file, "reported", "facility")
    source = fields.read_str(block, "source", file, "reported")
    fields.read_str(block, "notes", file, "reported")
    published = block.get("published")
    if published is not None and (isinstance(published, bool) or not isinstance(published, int) or not 1990 <= published <= 2100):
        raise InputError(f"must be the year the figure was published, such as 2023, got {shown(published)}", file=file,
                         key="reported.published")
    counts = fields.read_choice(block, "counts", COUNTS, file, "reported", "final_run")
    return Reported(co2e_scope=scope, basis=basis, source=source, energy_scope=energy_scope, published=published,
                    counts=counts, **values)


def scenario_path(path: str | Path, find_bundled) -> Path:
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


def load_scenario(path: str | Path, *, priors: PriorTable | None = None) -> Scenario:
    """Read and validate a scenario TOML file; a bare name loads a bundled scenario.

    Raises:
      InputError: no such file, a directory, a file that is not UTF-8 TOML, or an invalid scenario
        (`parse_scenario`).
    """
    path = scenario_path(path, bundled_model)
    doc = read_toml(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return parse_scenario(doc, file=str(path), table=priors, sha256=sha)
