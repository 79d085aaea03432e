"""Read models/*.toml into a validated run description (`Scenario`)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CarbonMCError, close_matches
from .priors import Prior, PriorTable, build_prior, load_priors
from .priors.loader import _load_toml

RUN_KEYS = {
    "name", "hardware", "device_hours", "devices", "days", "parameters", "tokens", "train_flops",
    "region", "grid_gco2_per_kwh", "datacenter", "pue", "year", "source", "description", "notes",
}
REPORTED_KEYS = {"energy_mwh", "co2e_t", "co2e_scope", "basis", "source", "notes"}
CO2E_SCOPES = {"operational": "operational_tco2e", "total": "total_tco2e"}
BASES = ("measured", "estimated")
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

    def figures(self) -> dict[str, float]:
        """{dataset variable: published value}."""
        out = {}
        if self.energy_mwh is not None:
            out["energy_mwh"] = self.energy_mwh
        if self.co2e_t is not None:
            out[CO2E_SCOPES[self.co2e_scope]] = self.co2e_t
        return out


@dataclass(frozen=True)
class Scenario:
    """A validated training run: what ran, where, for how long, and what was reported."""

    name: str
    hardware: str
    file: str = "<scenario>"
    device_hours: float | None = None
    devices: float | None = None
    parameters: float | None = None
    tokens: float | None = None
    train_flops: float | None = None
    region: str | None = None
    datacenter: str | None = None
    year: int | None = None
    source: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # quantity -> number or prior table
    reported: Reported = field(default_factory=Reported)
    sha256: str | None = None

    # ----------------------------------------------------------------------------------------
    @property
    def derives_device_time(self) -> bool:
        """True when device-hours come from FLOPs and MFU rather than being given."""
        return self.device_hours is None

    @property
    def derives_flop(self) -> bool:
        return self.train_flops is None and self.parameters is not None and self.tokens is not None

    def needed_quantities(self) -> list[str]:
        names = list(ALWAYS)
        if self.derives_device_time:
            names.append("mfu_fraction")
        if self.derives_flop:
            names.append("flops_overhead_fraction")
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
        return ctx

    def resolve_priors(self, table: PriorTable | None = None) -> dict[str, Prior]:
        """The prior of every quantity this run needs, after the scenario's own overrides."""
        table = table or load_priors()
        ctx = self.context(table)
        resolved = {}
        for name in self.needed_quantities():
            if name in self.overrides:
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
    unknown_sections = set(doc) - {"run", "reported", "priors"}
    if unknown_sections:
        bad = sorted(unknown_sections)[0]
        raise CarbonMCError(f"unknown section [{bad}]; valid: [run], [reported], [priors]", file=file, key=bad)
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
    if (parameters is None) != (tokens is None) and train_flops is None and device_hours is None:
        missing = "tokens" if tokens is None else "parameters"
        raise CarbonMCError(f"'parameters' and 'tokens' go together: {missing} is missing", file=file, key=f"run.{missing}")
    if train_flops is not None and parameters is not None and tokens is not None:
        six_nd = 6.0 * parameters * tokens
        if abs(train_flops / six_nd - 1.0) > 0.25:
            raise CarbonMCError(
                f"train_flops = {train_flops:g} contradicts 6 × parameters × tokens = {six_nd:g} (more than 25% apart)",
                file=file, key="run.train_flops",
            )
    if device_hours is None and train_flops is None and (parameters is None or tokens is None):
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
        parameters=parameters, tokens=tokens, train_flops=train_flops, region=run.get("region"),
        datacenter=run.get("datacenter"), year=year, source=run.get("source"), overrides=overrides,
        reported=reported, sha256=sha256,
    )
    scenario.resolve_priors(table)  # unknown region / datacenter / bad override fail here, at load time
    return scenario


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
    return Reported(co2e_scope=scope, basis=basis, source=block.get("source"), **values)


def load_scenario(path: str | Path, *, priors: PriorTable | None = None) -> Scenario:
    """Read and validate a scenario TOML file; a bare name loads a bundled scenario."""
    path = Path(path)
    if not path.exists() and path.suffix == "" and path.parent == Path("."):
        from .data import bundled_model

        path = bundled_model(str(path))
    if not path.exists():
        raise CarbonMCError("no such file", file=str(path))
    doc = _load_toml(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return parse_scenario(doc, file=str(path), table=priors, sha256=sha)
