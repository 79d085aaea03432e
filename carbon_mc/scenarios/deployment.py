"""Read models/serving/*.toml (a `[serving]` table) into a validated deployment (`ServingScenario`).

What is served (parameters, active parameters, precision, tokens per request), on what (hardware,
devices per replica, replicas, batch), how much (requests per day, or requests, or only the
capacity), where (region or grid number, datacenter or PUE) and for how long (days). Errors name
the file, the key, what is wrong and the close matches, as for training runs; the tables both
kinds share ([reported], [[claims]], [accounting], [priors]) are read by `carbon_mc.scenarios.common`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import data_dir
from ..errors import CarbonMCError, InputError, close_matches, shown
from ..footprint.serving import SERVING_INPUTS, SERVING_OUTPUTS
from ..priors import PriorTable, load_priors
from . import fields
from .common import (
    MARKET_QUANTITY,
    Accounting,
    Claim,
    Reported,
    ReportedFigure,
    ScenarioBase,
    parse_accounting,
    parse_claims,
    parse_reported,
    read_scenario_file,
    scenario_path,
)
from .units import convert, parse_unit
from .where import resolve_hardware, resolve_region

SERVING_KEYS = {
    "name", "model", "parameters", "active_parameters", "precision", "input_tokens", "output_tokens",
    "hardware", "devices_per_replica", "replicas", "batch", "requests_per_day", "requests", "device_hours", "days",
    "region", "grid_gco2_per_kwh", "datacenter", "pue", "year", "source", "description", "notes",
}
SECTIONS = ("serving", "reported", "priors", "accounting", "claims")
# precision: (bytes per parameter, compute peak relative to the dense BF16/FP16 peak)
PRECISIONS = {"bf16": (2.0, 1.0), "fp16": (2.0, 1.0), "fp8": (1.0, 2.0), "int8": (1.0, 2.0), "int4": (0.5, 1.0)}
# What a reported deployment energy covers -> the serving output it is compared with.
ENERGY_SCOPES = {"accelerator": "accelerator_energy_mwh", "it": "it_energy_mwh", "facility": "energy_mwh"}
CO2E_SCOPES = {"accelerator": "accelerator_operational_tco2e", "it": "it_operational_tco2e",
               "operational": "operational_tco2e", "total": "total_tco2e"}
TOKEN_QUANTITIES = {"input_tokens": "input_tokens_per_request", "output_tokens": "output_tokens_per_request"}
J_PER_WH = 3600.0


@dataclass(frozen=True)
class ServingScenario(ScenarioBase):
    """A validated deployment: what is served, on what, how much, where and for how long."""

    name: str
    hardware: str
    parameters: float
    active_parameters: float
    bytes_per_parameter: float
    compute_speedup: float
    devices_per_replica: float
    batch: float
    days: float
    memory_bandwidth_gb_per_s: float
    file: str = "<serving scenario>"
    model: str | None = None  # the training scenario of the same model, for life-cycle totals
    replicas: float | None = None
    requests: float | None = None  # total over `days`
    provisioned_device_hours: float | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    region: str | None = None  # a grid variant key (the name given, resolved)
    region_fell_back_from: str | None = None  # the place named, when only a wider grid has a value
    notes: tuple[str, ...] = ()  # how inputs were chosen: a fallback, an extrapolated year
    datacenter: str | None = None
    year: int | None = None
    source: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    accounting: Accounting = field(default_factory=Accounting)
    reported: Reported = field(default_factory=Reported)  # published figures, each on its serving output
    claims: tuple[Claim, ...] = ()
    sha256: str | None = None

    @property
    def requests_per_day(self) -> float | None:
        return None if self.requests is None else self.requests / self.days

    def needed_quantities(self) -> list[str]:
        """The priors `serving_footprint` draws for this deployment."""
        names = list(SERVING_INPUTS)
        if not self.accounting.pue_included:
            names.remove("pue")
        if self.accounting.grid_basis == "market":
            names[names.index("grid_gco2_per_kwh")] = MARKET_QUANTITY
        if self.input_tokens is None:
            names.append("input_tokens_per_request")
        if self.output_tokens is None:
            names.append("output_tokens_per_request")
        if self.requests is None or self.provisioned_device_hours is None:
            names += ["serving_busy_fraction", "serving_over_provisioning_factor"]
        return names


def _num(block: dict, key: str, file: str, *, integer: bool = False) -> float | None:
    """A positive number under [serving] (type, finiteness and float32 range checked), or None when absent."""
    return fields.read_positive(block, key, file, "serving", integer=integer)


def _agree(a: float, b: float, what_a: str, what_b: str, file: str, key: str) -> None:
    if abs(a / b - 1.0) > 0.01:
        raise CarbonMCError(f"{what_a} = {a:g} contradicts {what_b} = {b:g} (more than 1% apart)", file=file, key=key)


def _tokens(block: dict, key: str, file: str, overrides: dict) -> float | None:
    """A token count: a number (kept as a constant) or a prior table (becomes an override)."""
    value = block.get(key)
    if isinstance(value, dict):
        if "source" not in value or "distribution" not in value:
            raise CarbonMCError("a prior table needs distribution, params and source", file=file, key=f"serving.{key}")
        overrides[TOKEN_QUANTITIES[key]] = value
        return None
    return _num(block, key, file)


def parse_serving_scenario(doc: dict, *, file: str = "<serving scenario>", table: PriorTable | None = None,
                           sha256: str | None = None) -> ServingScenario:
    """Validate a serving scenario document (the parsed TOML) against the priors and the schema."""
    table = table or load_priors()
    fields.check_sections(doc, SECTIONS, file)
    block = fields.read_table(doc, "serving", file, required=True)
    fields.check_keys(block, SERVING_KEYS, file, "serving")
    name, hardware = (fields.read_str(block, key, file, "serving", required=True) for key in ("name", "hardware"))
    hardware = resolve_hardware(hardware, table, file, "serving.hardware")
    spec = table.hardware_spec(hardware, file=file)
    bandwidth = table.quantity("memory_bandwidth_gb_per_s")
    if hardware not in bandwidth.variants:
        raise InputError(f"no memory bandwidth for {hardware!r} in priors (memory_bandwidth_gb_per_s); "
                            f"known: {', '.join(sorted(bandwidth.variants))}", file=file, key="serving.hardware")

    parameters, n, batch, days = (fields.require_positive(block, key, file, "serving", integer=key == "devices_per_replica")
                                  for key in ("parameters", "devices_per_replica", "batch", "days"))
    active = _num(block, "active_parameters", file) or parameters
    if active > parameters:
        raise CarbonMCError(f"active_parameters = {active:g} exceeds parameters = {parameters:g}", file=file,
                            key="serving.active_parameters")
    precision = block.get("precision", "bf16")
    if precision not in PRECISIONS:
        raise CarbonMCError(f"unknown precision {precision!r}; {close_matches(str(precision), PRECISIONS)}", file=file,
                            key="serving.precision")
    bytes_per_parameter, speedup = PRECISIONS[precision]
    weights_gb = bytes_per_parameter * parameters / 1e9
    if weights_gb > n * spec["memory_gb"]:
        raise CarbonMCError(f"the weights ({weights_gb:.0f} GB at {precision}) do not fit in {n:g} x {spec['memory_gb']:g} GB "
                            f"of {hardware}: raise devices_per_replica or lower the precision", file=file,
                            key="serving.devices_per_replica")

    requests = _num(block, "requests", file)
    per_day = _num(block, "requests_per_day", file)
    if per_day is not None:
        if requests is not None:
            _agree(requests, per_day * days, "requests", "requests_per_day x days", file, "serving.requests")
        requests = requests or per_day * days
    replicas = _num(block, "replicas", file, integer=True)
    device_hours = _num(block, "device_hours", file)
    if replicas is not None:
        from_replicas = replicas * n * 24.0 * days
        if device_hours is not None:
            _agree(device_hours, from_replicas, "device_hours", "replicas x devices_per_replica x 24 x days", file,
                   "serving.device_hours")
        device_hours = device_hours or from_replicas
    if requests is None and device_hours is None:
        raise CarbonMCError("cannot size the deployment: give its traffic (requests_per_day, or requests) and/or its "
                            "capacity (replicas, or device_hours)", file=file, key="serving")

    overrides = fields.prior_overrides(fields.read_table(doc, "priors", file), block, table, file, section="serving")
    input_tokens = _tokens(block, "input_tokens", file, overrides)
    output_tokens = _tokens(block, "output_tokens", file, overrides)
    year = fields.read_year(block, "year", file, "serving")
    region, fell_back = resolve_region(block["region"], table, file, "serving.region") if "region" in block else (None, None)
    for key in ("model", "source", "description", "notes"):
        fields.read_str(block, key, file, "serving")
    reported = parse_reported(doc.get("reported"), file, REPORTED_FIGURES, extra_keys=("requests",))

    scenario = ServingScenario(
        name=name, hardware=hardware, parameters=parameters, active_parameters=active,
        bytes_per_parameter=bytes_per_parameter, compute_speedup=speedup, devices_per_replica=n, batch=batch, days=days,
        memory_bandwidth_gb_per_s=bandwidth.variants[hardware].fixed_value, file=file, model=block.get("model"),
        replicas=replicas, requests=requests, provisioned_device_hours=device_hours, input_tokens=input_tokens,
        output_tokens=output_tokens, region=region, region_fell_back_from=fell_back, datacenter=block.get("datacenter"),
        year=year,
        source=block.get("source"), overrides=overrides, accounting=parse_accounting(doc.get("accounting"), file),
        reported=reported, claims=parse_claims(doc.get("claims"), file, claim_value, required=("value", "unit", "quantity", "source")),
        sha256=sha256,
    )
    scenario.check_overrides(table)
    scenario.resolve_priors(table)  # unknown region / datacenter / bad override fail here, at load time
    scenario = scenario.with_notes(table)
    scenario.check_claims_computable(table)
    return scenario


def claim_value(value: Any, unit: Any, quantity: str | None, file: str, where: str) -> tuple[float, str, str, str]:
    """A deployment's claim: converted to the units of the serving output it names (J and kJ allowed
    for energies); a serving claim always names its quantity."""
    if quantity not in SERVING_OUTPUTS:
        raise InputError(f"unknown serving quantity {shown(quantity)}; {close_matches(str(quantity), SERVING_OUTPUTS)}",
                         file=file, key=f"{where}.quantity")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(f"must be a finite number >= 0, got {shown(value)}", file=file, key=f"{where}.value")
    converted, from_unit = value, unit
    if isinstance(unit, str) and unit.strip() in ("J", "kJ"):
        converted, from_unit = value * (1e3 if unit.strip() == "kJ" else 1.0) / J_PER_WH, "Wh"
    target = SERVING_OUTPUTS[quantity].units
    try:
        converted = convert(converted, parse_unit(from_unit).symbol, target)
    except CarbonMCError as exc:
        raise InputError(f"{exc.message} (quantity {quantity} is in {target})", file=file, key=f"{where}.unit") from None
    return converted, target, quantity, f"{value:g} {unit}"


# The figures a deployment's [reported] table holds, each on a scope (-> the serving output it is compared with).
REPORTED_FIGURES = (
    ReportedFigure("energy_kwh", "kWh", "energy_scope", ENERGY_SCOPES, "facility",
                   lambda scope, quantity: f"reported {quantity}"),
    ReportedFigure("co2e_kg", "kg", "co2e_scope", CO2E_SCOPES, "operational",
                   lambda scope, quantity: f"reported {quantity}"),
)


def find_bundled(name: str) -> Path:
    """The bundled deployment `name` (models/serving/NAME.toml)."""
    folder = data_dir("models") / "serving"
    candidate = folder / f"{name}.toml"
    if not candidate.exists():
        names = [p.stem for p in folder.glob("*.toml")]
        raise InputError(f"no bundled serving scenario {shown(name)}; {close_matches(name, names)}")
    return candidate


def load_serving_scenario(path: str | Path, *, priors: PriorTable | None = None) -> ServingScenario:
    """Read and validate a serving scenario; a bare name loads a bundled one from models/serving/."""
    path = scenario_path(path, find_bundled)
    doc, sha = read_scenario_file(path)
    return parse_serving_scenario(doc, file=str(path), table=priors, sha256=sha)
