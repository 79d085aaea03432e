"""Read models/serving/*.toml (a `[serving]` table) into a validated deployment (`ServingScenario`).

What is served (parameters, active parameters, precision, tokens per request), on what (hardware,
devices per replica, replicas, batch), how much (requests per day, or requests, or only the
capacity), where (region or grid number, datacenter or PUE) and for how long (days). Errors name
the file, the key, what is wrong and the close matches, as for training scenarios
(`carbon_mc.scenario`, whose helpers this module reuses).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CarbonMCError, close_matches
from .footprint.serving import SERVING_INPUTS, SERVING_OUTPUTS
from .priors import Prior, PriorTable, load_priors
from .priors import read_toml
from . import scenario_fields as fields
from .scenario import MARKET_QUANTITY, Accounting, Scenario, parse_accounting
from .units import convert, parse_unit

SERVING_KEYS = {
    "name", "model", "parameters", "active_parameters", "precision", "input_tokens", "output_tokens",
    "hardware", "devices_per_replica", "replicas", "batch", "requests_per_day", "requests", "device_hours", "days",
    "region", "grid_gco2_per_kwh", "datacenter", "pue", "year", "source", "description", "notes",
}
SECTIONS = ("serving", "reported", "priors", "accounting", "claims")
REPORTED_KEYS = {"energy_kwh", "energy_scope", "co2e_kg", "co2e_scope", "requests", "basis", "source", "notes"}
CLAIM_KEYS = {"label", "value", "unit", "quantity", "source", "notes"}
# precision: (bytes per parameter, compute peak relative to the dense BF16/FP16 peak)
PRECISIONS = {"bf16": (2.0, 1.0), "fp16": (2.0, 1.0), "fp8": (1.0, 2.0), "int8": (1.0, 2.0), "int4": (0.5, 1.0)}
# What a reported deployment energy covers -> the serving output it is compared with.
ENERGY_SCOPES = {"accelerator": "accelerator_energy_mwh", "it": "it_energy_mwh", "facility": "energy_mwh"}
CO2E_SCOPES = {"accelerator": "accelerator_operational_tco2e", "it": "it_operational_tco2e",
               "operational": "operational_tco2e", "total": "total_tco2e"}
TOKEN_QUANTITIES = {"input_tokens": "input_tokens_per_request", "output_tokens": "output_tokens_per_request"}
J_PER_WH = 3600.0


@dataclass(frozen=True)
class ServingClaim:
    """A published figure about a deployment, in the units of the serving output it is checked against."""

    value: float  # in the units of SERVING_OUTPUTS[quantity]
    quantity: str
    label: str
    source: str


class ServingReported(dict):
    """{serving output: published value}, with the figures' basis and source (the shape of `Scenario.reported`)."""

    def __init__(self, figures: dict[str, float] | None = None, *, basis: str | None = None, source: str | None = None):
        super().__init__(figures or {})
        self.basis, self.source = basis, source

    def figures(self) -> dict[str, float]:
        """{dataset variable: published value}: the energies and masses (not the request count)."""
        return {k: v for k, v in self.items() if k != "requests"}


@dataclass(frozen=True)
class ServingScenario:
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
    region: str | None = None
    datacenter: str | None = None
    year: int | None = None
    source: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    accounting: Accounting = field(default_factory=Accounting)
    reported: ServingReported = field(default_factory=ServingReported)  # serving output -> published value
    reported_source: str | None = None
    claims: tuple[ServingClaim, ...] = ()
    sha256: str | None = None

    @property
    def requests_per_day(self) -> float | None:
        return None if self.requests is None else self.requests / self.days

    def with_accounting(self, *, grid_basis: str | None = None, pue_included: bool | None = None) -> ServingScenario:
        """A copy counted on another basis; None keeps the scenario's own setting (as `Scenario.with_accounting`)."""
        from dataclasses import replace

        return replace(self, accounting=self._as_training().with_accounting(grid_basis=grid_basis,
                                                                            pue_included=pue_included).accounting)

    def with_priors(self, **overrides: Any) -> ServingScenario:
        """A copy with some priors fixed (numbers) or replaced (prior tables)."""
        from dataclasses import replace

        return replace(self, overrides={**self.overrides, **overrides})

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

    def _as_training(self) -> Scenario:
        """A training `Scenario` with this deployment's location and overrides (to reuse its resolvers)."""
        return Scenario(name=self.name, hardware=self.hardware, file=self.file, region=self.region,
                        datacenter=self.datacenter, overrides=self.overrides, accounting=self.accounting)

    def resolve_priors(self, table: PriorTable | None = None) -> dict[str, Prior]:
        """The prior of every quantity this deployment needs, after the scenario's own overrides."""
        table = table or load_priors()
        run = self._as_training()
        ctx = run.context(table)
        out = {}
        for name in self.needed_quantities():
            if name == MARKET_QUANTITY:
                out[name] = run._market_prior(table)
            elif name in self.overrides:
                out[name] = run._override_prior(name, table)
            else:
                out[name] = table.select(name, ctx, file=self.file)
        return out


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
    for section in doc:
        if section not in SECTIONS:
            raise CarbonMCError(f"unknown section [{section}]; {close_matches(section, SECTIONS)}", file=file, key=section)
    block = doc.get("serving")
    if not isinstance(block, dict):
        raise CarbonMCError("missing [serving] section", file=file, key="serving")
    for key in block:
        if key not in SERVING_KEYS:
            raise CarbonMCError(f"unknown key; {close_matches(key, SERVING_KEYS)}", file=file, key=f"serving.{key}")
    for key in ("name", "hardware"):
        if not isinstance(block.get(key), str) or not block[key].strip():
            raise CarbonMCError("missing (a non-empty string is required)", file=file, key=f"serving.{key}")
    spec = table.hardware_spec(block["hardware"], file=file)
    bandwidth = table.quantity("memory_bandwidth_gb_per_s")
    if block["hardware"] not in bandwidth.variants:
        raise CarbonMCError(f"no memory bandwidth for {block['hardware']!r} in priors (memory_bandwidth_gb_per_s); "
                            f"known: {', '.join(sorted(bandwidth.variants))}", file=file, key="serving.hardware")

    for key in ("parameters", "devices_per_replica", "batch", "days"):
        if key not in block:
            raise CarbonMCError(f"missing {key!r}", file=file, key="serving")
    parameters = _num(block, "parameters", file)
    active = _num(block, "active_parameters", file) or parameters
    if active > parameters:
        raise CarbonMCError(f"active_parameters = {active:g} exceeds parameters = {parameters:g}", file=file,
                            key="serving.active_parameters")
    precision = block.get("precision", "bf16")
    if precision not in PRECISIONS:
        raise CarbonMCError(f"unknown precision {precision!r}; {close_matches(str(precision), PRECISIONS)}", file=file,
                            key="serving.precision")
    bytes_per_parameter, speedup = PRECISIONS[precision]
    n = _num(block, "devices_per_replica", file, integer=True)
    batch = _num(block, "batch", file)
    days = _num(block, "days", file)
    weights_gb = bytes_per_parameter * parameters / 1e9
    if weights_gb > n * spec["memory_gb"]:
        raise CarbonMCError(f"the weights ({weights_gb:.0f} GB at {precision}) do not fit in {n:g} x {spec['memory_gb']:g} GB "
                            f"of {block['hardware']}: raise devices_per_replica or lower the precision", file=file,
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

    overrides = _parse_overrides(doc.get("priors", {}), table, file)
    input_tokens = _tokens(block, "input_tokens", file, overrides)
    output_tokens = _tokens(block, "output_tokens", file, overrides)
    for choice, number in (("region", "grid_gco2_per_kwh"), ("datacenter", "pue")):
        if choice in block and number in block:
            raise CarbonMCError(f"give either {choice!r} or {number!r}, not both", file=file, key=f"serving.{number}")
        if number in block:
            if number in overrides:
                raise CarbonMCError(f"{number} is given in both [serving] and [priors]", file=file, key=f"priors.{number}")
            overrides[number] = {"value": _num(block, number, file), "source": f"[serving] {number} in {Path(file).name}"}
        elif choice in block:
            if not isinstance(block[choice], str):
                raise CarbonMCError("must be a string key", file=file, key=f"serving.{choice}")
        elif number not in overrides:
            raise CarbonMCError(f"missing: give {choice!r} (a key of the priors) or {number!r} (a number)", file=file,
                                key="serving")
    year = block.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100):
        raise CarbonMCError(f"must be a year such as 2023, got {year!r}", file=file, key="serving.year")
    reported, reported_source = _parse_reported(doc.get("reported"), file)

    scenario = ServingScenario(
        name=block["name"], hardware=block["hardware"], parameters=parameters, active_parameters=active,
        bytes_per_parameter=bytes_per_parameter, compute_speedup=speedup, devices_per_replica=n, batch=batch, days=days,
        memory_bandwidth_gb_per_s=bandwidth.variants[block["hardware"]].fixed_value, file=file, model=block.get("model"),
        replicas=replicas, requests=requests, provisioned_device_hours=device_hours, input_tokens=input_tokens,
        output_tokens=output_tokens, region=block.get("region"), datacenter=block.get("datacenter"), year=year,
        source=block.get("source"), overrides=overrides, accounting=parse_accounting(doc.get("accounting"), file),
        reported=reported, reported_source=reported_source, claims=_parse_claims(doc.get("claims"), file), sha256=sha256,
    )
    scenario.resolve_priors(table)  # unknown region / datacenter / bad override fail here, at load time
    return scenario


def _parse_overrides(priors: Any, table: PriorTable, file: str) -> dict[str, Any]:
    if not isinstance(priors, dict):
        raise CarbonMCError("[priors] must be a table", file=file, key="priors")
    out = {}
    for name, value in priors.items():
        if name not in table.quantities:
            raise CarbonMCError(f"unknown quantity; {close_matches(name, table.quantities)}", file=file, key=f"priors.{name}")
        if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
            raise CarbonMCError("must be a number or a prior table", file=file, key=f"priors.{name}")
        if isinstance(value, (int, float)) and not math.isfinite(value):
            raise CarbonMCError(f"must be finite, got {value!r}", file=file, key=f"priors.{name}")
        out[name] = value
    return out


def _in_quantity_units(value: Any, unit: Any, quantity: str, file: str, key: str) -> float:
    """A published figure converted to the units of serving output `quantity` (J allowed for energies)."""
    if quantity not in SERVING_OUTPUTS:
        raise CarbonMCError(f"unknown serving quantity {quantity!r}; {close_matches(str(quantity), SERVING_OUTPUTS)}",
                            file=file, key=f"{key}.quantity")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise CarbonMCError(f"must be a finite number >= 0, got {value!r}", file=file, key=f"{key}.value")
    if isinstance(unit, str) and unit.strip() in ("J", "kJ"):
        value, unit = value * (1e3 if unit.strip() == "kJ" else 1.0) / J_PER_WH, "Wh"
    target = SERVING_OUTPUTS[quantity].units
    try:
        return convert(value, parse_unit(unit).symbol, target)
    except CarbonMCError as exc:
        raise CarbonMCError(f"{exc.message} (quantity {quantity} is in {target})", file=file, key=f"{key}.unit") from None


def _parse_claims(block: Any, file: str) -> tuple[ServingClaim, ...]:
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
        for required in ("value", "unit", "quantity", "source"):
            if required not in entry:
                raise CarbonMCError(f"missing {required!r} (a serving claim needs value, unit, quantity and source)",
                                    file=file, key=where)
        value = _in_quantity_units(entry["value"], entry["unit"], entry["quantity"], file, where)
        claims.append(ServingClaim(value, entry["quantity"], entry.get("label", f"{entry['value']:g} {entry['unit']}"),
                                   entry["source"]))
    return tuple(claims)


def _parse_reported(block: Any, file: str) -> tuple[ServingReported, str | None]:
    if block is None:
        return ServingReported(), None
    if not isinstance(block, dict):
        raise CarbonMCError("[reported] must be a table", file=file, key="reported")
    for key in block:
        if key not in REPORTED_KEYS:
            raise CarbonMCError(f"unknown key; {close_matches(key, REPORTED_KEYS)}", file=file, key=f"reported.{key}")
    out = {}
    for key, scopes, default, unit in (("energy_kwh", ENERGY_SCOPES, "facility", "kWh"),
                                       ("co2e_kg", CO2E_SCOPES, "operational", "kg")):
        scope_key = key.split("_")[0] + "_scope"
        scope = block.get(scope_key, default)
        if scope not in scopes:
            raise CarbonMCError(f"unknown scope {scope!r}; valid: {', '.join(scopes)}", file=file, key=f"reported.{scope_key}")
        if key in block:
            out[scopes[scope]] = _in_quantity_units(block[key], unit, scopes[scope], file, f"reported.{key}")
    if "requests" in block:
        out["requests"] = _in_quantity_units_count(block["requests"], file)
    return ServingReported(out, basis=block.get("basis"), source=block.get("source")), block.get("source")


def _in_quantity_units_count(value: Any, file: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise CarbonMCError(f"must be a finite number >= 0, got {value!r}", file=file, key="reported.requests")
    return float(value)


def load_serving_scenario(path: str | Path, *, priors: PriorTable | None = None) -> ServingScenario:
    """Read and validate a serving scenario; a bare name loads a bundled one from models/serving/."""
    path = Path(path)
    if not path.exists() and path.suffix == "" and path.parent == Path("."):
        from .data import data_dir

        candidate = data_dir("models") / "serving" / f"{path}.toml"
        if not candidate.exists():
            names = [p.stem for p in (data_dir("models") / "serving").glob("*.toml")]
            raise CarbonMCError(f"no bundled serving scenario {str(path)!r}; {close_matches(str(path), names)}")
        path = candidate
    if not path.exists():
        raise CarbonMCError("no such file", file=str(path))
    doc = read_toml(path)
    return parse_serving_scenario(doc, file=str(path), table=priors, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
