"""A training run: models/*.toml with a [run] table, read into a validated `Scenario`.

What differs from a deployment lives here: the [run] table (what ran, on what, for how long), the
quantities a run draws, and the scopes its published figures are on. The shared tables ([reported],
[[claims]], [accounting], [priors]) are read by `carbon_mc.scenarios.common`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import bundled_model
from ..errors import CarbonMCError, InputError, close_matches, shown
from ..priors import PriorTable, load_priors
from . import fields
from .common import (
    MARKET_QUANTITY,
    Accounting,
    Claim,
    Reported,
    ReportedFigure,
    ScenarioBase,
    override_prior,
    parse_accounting,
    parse_claims,
    parse_reported,
    read_scenario_file,
    scenario_path,
)
from .measured import Measured, check_throughput_mfu, parse_measured, with_prior_moments
from .units import default_quantity, parse_unit, to_quantity_units
from .where import resolve_hardware, resolve_region

RUN_KEYS = {
    "name", "hardware", "device_hours", "devices", "days", "parameters", "tokens", "train_flops",
    "region", "grid_gco2_per_kwh", "datacenter", "pue", "year", "source", "description", "notes",
    "target_loss", "compute_budget_flop", "scaling_fit", "active_parameters", "architecture", "experts", "experts_per_token",
}
CO2E_SCOPES = {"operational": "operational_tco2e", "total": "total_tco2e"}
# What a reported energy covers -> the model output it is compared with (like with like).
ENERGY_SCOPES = {
    "facility": "energy_mwh",  # accelerators + host, times PUE (Patterson et al. 2021)
    "it": "it_energy_mwh",  # accelerators + host, no PUE
    "accelerator": "accelerator_energy_mwh",  # accelerators only (GPU telemetry), no PUE (Dodge et al. 2022)
    "accelerator_facility": "accelerator_facility_energy_mwh",  # accelerators only, times PUE (Morrison et al. 2025)
    "codecarbon": "codecarbon_energy_mwh",  # CPU + GPU + RAM, no fans, NICs, PSU losses, no PUE (CodeCarbon's energy_consumed)
}
SECTIONS = (*fields.SECTIONS, "measured")
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
class Scenario(ScenarioBase):
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
    region: str | None = None  # a grid variant key (the name given, resolved: "Spain", "us-east-1" -> its key)
    region_fell_back_from: str | None = None  # the place named, when only a wider grid has a value
    notes: tuple[str, ...] = ()  # how inputs were chosen: a fallback, an extrapolated year
    datacenter: str | None = None
    year: int | None = None
    source: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # quantity -> number or prior table
    reported: Reported = field(default_factory=Reported)
    sha256: str | None = None
    accounting: Accounting = field(default_factory=Accounting)
    claims: tuple[Claim, ...] = ()
    measured: Measured | None = None  # a measured energy taken as input ([measured]; carbon_mc.footprint.measured)

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
        if self.measured is not None:
            names = [n for n in names if n not in self.measured.replaced_quantities()]
            names += [n for n in self.measured.needed_quantities() if n not in names]
        elif self.counts_codecarbon_scope:
            names.append("host_beyond_codecarbon_fraction")
        return names

    @property
    def counts_codecarbon_scope(self) -> bool:
        """True when a published figure is on CodeCarbon's scope (CPU + GPU + RAM): the run then draws
        what that scope leaves out of the IT energy (``host_beyond_codecarbon_fraction``)."""
        quantities = set(self.reported.values) | {c.quantity for c in self.claims}
        return ENERGY_SCOPES["codecarbon"] in quantities


def parse_scenario(doc: dict, *, file: str = "<scenario>", table: PriorTable | None = None, sha256: str | None = None) -> Scenario:
    """Validate a scenario document (the parsed TOML) against the priors and the schema.

    Raises:
      InputError: a missing, unknown or mistyped key, a value out of its physical or float32 range,
        an unknown hardware, region or datacenter, or an override whose prior is invalid; the
        message names the file and the key.
    """
    fields.check_sections(doc, SECTIONS, file)
    table = table or load_priors()
    run = fields.read_table(doc, "run", file, required=True)
    fields.check_keys(run, RUN_KEYS, file, "run")
    name, hardware = (fields.read_str(run, key, file, "run", required=True) for key in ("name", "hardware"))
    hardware = resolve_hardware(hardware, table, file, "run.hardware")
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
    region, fell_back = resolve_region(run["region"], table, file, "run.region") if "region" in run else (None, None)
    scenario = Scenario(
        name=name, hardware=hardware, file=file, device_hours=device_hours, devices=sizes["devices"],
        parameters=sizes["parameters"], tokens=sizes["tokens"], train_flops=sizes["train_flops"],
        active_parameters=sizes["active_parameters"], architecture=architecture, experts=experts,
        experts_per_token=experts_per_token,
        target_loss=sizes["target_loss"], compute_budget_flop=sizes["compute_budget_flop"], scaling_fit=scaling_fit,
        region=region, region_fell_back_from=fell_back, datacenter=run.get("datacenter"),
        year=fields.read_year(run, "year", file, "run"),
        source=run.get("source"), overrides=overrides, sha256=sha256,
        reported=parse_reported(doc.get("reported"), file, REPORTED_FIGURES, extra_keys=("published", "counts")),
        accounting=parse_accounting(doc.get("accounting"), file), claims=parse_claims(doc.get("claims"), file, claim_value),
    )
    if "measured" in doc:
        measured = parse_measured(doc["measured"], file, device_hours=device_hours, devices=sizes["devices"],
                                  pue_included=scenario.accounting.pue_included, tokens=sizes["tokens"])
        scenario = replace(scenario, measured=measured)
    scenario.check_overrides(table)
    resolved = scenario.resolve_priors(table)  # unknown region / datacenter fail here, at load time
    if scenario.measured is not None:
        scenario = replace(scenario, measured=_placed_measurement(scenario, resolved, table))
    scenario = scenario.with_notes(table)
    scenario.check_claims_computable(table)
    return scenario


def _placed_measurement(scenario: Scenario, resolved: dict, table: PriorTable) -> Measured:
    """The scenario's measurement checked against its accelerator (mean board power within 2 x TDP) and
    carrying the run-level power prior's moments (for a partial measurement's update)."""
    measured = scenario.measured
    assert measured is not None
    tdp = float(table.hardware_spec(scenario.hardware, file=scenario.file)["tdp_w"])
    if measured.scope == "throughput":  # 6 N x tokens/s over the peak: above 1 is not a measurement of this run
        check_throughput_mfu(measured, scenario.active_parameters or scenario.parameters,
                             table.hardware_spec(scenario.hardware, file=scenario.file), scenario.file)
    if measured.scope == "accelerator":
        devices = measured.measured_devices or scenario.devices
        hours = measured.measured_hours or (scenario.device_hours / scenario.devices
                                            if scenario.devices and scenario.device_hours else None)
        device_hours = devices * hours if devices and hours else scenario.device_hours
        watts = measured.energy_kwh * 1000.0 / float(device_hours or 1.0)
        if watts > 2.0 * tdp:
            raise InputError(f"{measured.energy_kwh:g} kWh over {device_hours:g} device-hours is {watts:,.0f} W per device, more "
                             f"than twice the {tdp:g} W TDP of {scenario.hardware}: not a board measurement of this run "
                             "(a unit slip, or the wrong device time?)", file=scenario.file, key="measured.energy_kwh")
    name = "accelerator_power_tdp_fraction"  # the run-level prior of the board power a partial measurement updates
    prior = resolved.get(name) or (override_prior(name, scenario.overrides[name], table, scenario.file) if name in scenario.overrides
                                   else table.select(name, scenario.context(table), file=scenario.file))
    if prior.is_fixed:
        return replace(measured, prior_log_power_mean=float(np.log(tdp * prior.fixed_value)), prior_log_power_sd=0.0)
    return with_prior_moments(measured, prior, tdp)


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
        from ..footprint.scaling import reachable_loss_quantile_nats

        floor = reachable_loss_quantile_nats(q.variants[scaling_fit], parameters, 0.999)
        if target_loss <= floor:
            raise InputError(
                f"target_loss = {target_loss:g} nats is out of reach for {parameters:g} parameters in more than 0.1% of "
                f"draws of the loss-law constants (E + A/N^alpha reaches {floor:.4f} at its 99.9th percentile): "
                "raise the target or the parameters", file=file, key="run.target_loss",
            )


def claim_value(value: Any, unit: Any, quantity: str | None, file: str, where: str) -> tuple[float, str, str, str]:
    """A run's claim: a mass of CO2e or an energy, kept in its own unit; its quantity defaults by the
    unit's kind (total CO2e, or facility energy)."""
    value = fields.check_number(value, file, f"{where}.value", minimum=0.0)
    unit_text = fields.read_str({"unit": unit}, "unit", file, where, required=True)
    try:
        symbol = parse_unit(unit_text).symbol
        quantity = quantity or default_quantity(symbol)
        to_quantity_units(value, symbol, quantity)
    except CarbonMCError as exc:
        raise InputError(exc.message, file=file, key=where) from None
    return value, symbol, quantity, f"{value:g} {symbol}"


# The figures a run's [reported] table holds, each on a scope (-> the output it is compared with).
REPORTED_FIGURES = (
    ReportedFigure("energy_mwh", "MWh", "energy_scope", ENERGY_SCOPES, "facility",
                   lambda scope, quantity: f"reported energy ({scope})"),
    ReportedFigure("co2e_t", "t", "co2e_scope", CO2E_SCOPES, "operational",
                   lambda scope, quantity: f"reported {scope} CO2e"),
)


def load_scenario(path: str | Path, *, priors: PriorTable | None = None) -> Scenario:
    """Read and validate a scenario TOML file; a bare name loads a bundled scenario.

    Raises:
      InputError: no such file, a directory, a file that is not UTF-8 TOML, or an invalid scenario
        (`parse_scenario`).
    """
    path = scenario_path(path, bundled_model)
    doc, sha = read_scenario_file(path)
    return parse_scenario(doc, file=str(path), table=priors, sha256=sha)
