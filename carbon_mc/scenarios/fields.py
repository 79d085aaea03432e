"""Typed readers for scenario fields: each checks one value's type and range before anything uses it.

Every reader takes the table it reads from, the key, the file and where the table sits (``"run"``,
``"claims[0]"``), and raises an `InputError` naming ``file: where.key``, what is wrong (the value
echoed, cut to a readable length) and what would be valid. The parsers of both kinds
(`carbon_mc.scenarios.training`, `carbon_mc.scenarios.deployment`) compose them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, overload

from ..errors import InputError, close_matches, shown
from ..priors import PriorTable
from ..priors.support import INPUT_MAX, INPUT_MIN

SECTIONS = ("run", "reported", "priors", "accounting", "claims")
SIZES = ("device_hours", "devices", "days", "parameters", "tokens", "train_flops", "target_loss", "compute_budget_flop")
# [run] numbers that stand in for a prior: the run's key that would select the prior instead.
RUN_NUMBERS = {"grid_gco2_per_kwh": "region", "pue": "datacenter"}


# Physical ranges of the numbers a scenario states, checked at one place (`read_positive` and
# `require_positive`): beyond these a figure is a typo or a unit slip, not a run. Each upper bound
# is one to two orders of magnitude above the largest published case, and says why.
FIELD_RANGES: dict[str, tuple[float, str]] = {
    "days": (36_525.0, "100 years"),
    "devices": (1e8, "more accelerators than exist"),
    "devices_per_replica": (1e6, "more accelerators than any cluster holds"),
    "replicas": (1e8, "more accelerators than exist"),
    "device_hours": (1e14, "10^8 accelerators for 100 years"),
    "parameters": (1e16, "10^4 times the largest model published"),
    "active_parameters": (1e16, "10^4 times the largest model published"),
    "tokens": (1e18, "10^4 times the largest training set published"),
    "train_flops": (1e30, "10^4 times the largest training run published"),
    "compute_budget_flop": (1e30, "10^4 times the largest training run published"),
    "target_loss": (100.0, "nats per token; a uniform guess over 10^43 tokens"),
    "experts": (1e6, "experts per MoE layer"),
    "experts_per_token": (1e6, "experts per token"),
    "batch": (1e6, "requests decoded together"),
    "requests": (1e16, "a request per person per second for 50 years"),
    "requests_per_day": (1e14, "10^4 requests per person per day"),
    "input_tokens": (1e8, "tokens per request"),
    "output_tokens": (1e8, "tokens per request"),
    "energy_mwh": (1e9, "1,000 TWh: a country's yearly electricity"),
    "co2e_t": (1e10, "a tenth of the world's yearly emissions"),
    "energy_kwh": (1e12, "1,000 TWh: a country's yearly electricity"),
    "co2e_kg": (1e13, "a tenth of the world's yearly emissions"),
    "memory_bandwidth_gb_per_s": (1e6, "a hundred times the fastest accelerator memory"),
}


def check_range(value: float, key: str, file: str, full_key: str) -> float:
    """`value` if within the physical range of field `key` (`FIELD_RANGES`), else an error naming the bound."""
    bound = FIELD_RANGES.get(key)
    if bound is not None and value > bound[0]:
        raise InputError(f"{value:g} is beyond the physical range of {key} (at most {bound[0]:g}: {bound[1]}); "
                         "check the number and its units", file=file, key=full_key)
    return value


def _key(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def check_sections(doc: Any, sections, file: str) -> None:
    """`doc` is a table of sections, each one of `sections`."""
    if not isinstance(doc, dict):
        raise InputError(f"a scenario must be a table of sections, got {type(doc).__name__}", file=file)
    for section in doc:
        if section not in sections:
            valid = ", ".join(f"[[{s}]]" if s == "claims" else f"[{s}]" for s in sections)
            raise InputError(f"unknown section [{section}]; {close_matches(str(section), sections)} (valid: {valid})",
                             file=file, key=section)


def check_keys(block: dict, allowed, file: str, where: str) -> None:
    """Every key of `block` is one of `allowed`, else the first unknown one with close matches."""
    for key in block:
        if key not in allowed:
            raise InputError(f"unknown key; {close_matches(key, allowed)}", file=file, key=_key(where, key))


@overload
def read_table(doc: dict, key: str, file: str, *, required: Literal[True], label: str | None = None) -> dict: ...
@overload
def read_table(doc: dict, key: str, file: str, *, required: bool = False, label: str | None = None) -> dict | None: ...
def read_table(doc: dict, key: str, file: str, *, required: bool = False, label: str | None = None) -> dict | None:
    """The sub-table `key` of `doc` (None when absent and not required)."""
    label = label or f"[{key}]"
    if key not in doc:
        if required:
            raise InputError(f"missing {label} section", file=file, key=key)
        return None
    if not isinstance(doc[key], dict):
        raise InputError(f"{label} must be a table, got {shown(doc[key])}", file=file, key=key)
    return doc[key]


@overload
def read_str(block: dict, key: str, file: str, where: str, *, required: Literal[True]) -> str: ...
@overload
def read_str(block: dict, key: str, file: str, where: str, *, required: bool = False) -> str | None: ...
def read_str(block: dict, key: str, file: str, where: str, *, required: bool = False) -> str | None:
    """A non-empty string, or None when absent and not required."""
    if key not in block:
        if required:
            raise InputError("missing (a non-empty string is required)", file=file, key=_key(where, key))
        return None
    value = block[key]
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"must be a non-empty string, got {shown(value)}", file=file, key=_key(where, key))
    return value


def read_bool(block: dict, key: str, file: str, where: str) -> bool | None:
    value = block.get(key)
    if value is not None and not isinstance(value, bool):
        raise InputError(f"must be true or false, got {shown(value)}", file=file, key=_key(where, key))
    return value


@overload
def read_choice(block: dict, key: str, choices, file: str, where: str, default: str) -> str: ...
@overload
def read_choice(block: dict, key: str, choices, file: str, where: str, default: None = None) -> str | None: ...
def read_choice(block: dict, key: str, choices, file: str, where: str, default: str | None = None) -> str | None:
    """One of `choices` (a string), `default` when absent."""
    if key not in block:
        return default
    value = block[key]
    if not isinstance(value, str):
        raise InputError(f"must be a string, one of {', '.join(choices)}; got {shown(value)}", file=file, key=_key(where, key))
    if value not in choices:
        raise InputError(f"unknown {key.replace('_', ' ')} {shown(value)}; {close_matches(value, choices)}",
                         file=file, key=_key(where, key))
    return value


def check_number(value: Any, file: str, key: str, *, minimum: float | None = None, positive: bool = False,
                 integer: bool = False) -> float:
    """`value` as a float if it is a finite number in range and in float32's usable range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"must be a number, got {shown(value)}", file=file, key=key)
    if not math.isfinite(value):
        raise InputError(f"must be finite, got {shown(value)}", file=file, key=key)
    if positive and value <= 0:
        raise InputError(f"must be a finite number > 0, got {shown(value)}", file=file, key=key)
    if minimum is not None and value < minimum:
        raise InputError(f"must be a finite number >= {minimum:g}, got {shown(value)}", file=file, key=key)
    if abs(value) > INPUT_MAX or (value != 0 and abs(value) < INPUT_MIN):
        raise InputError(
            f"{value:g} is outside the range the float32 engine carries through the chain: give a magnitude between "
            f"{INPUT_MIN:g} and {INPUT_MAX:g} (or 0), e.g. in other units", file=file, key=key,
        )
    if integer and float(value) != int(value):
        raise InputError(f"must be a whole number, got {shown(value)}", file=file, key=key)
    return float(value)


def read_positive(block: dict, key: str, file: str, where: str, *, integer: bool = False) -> float | None:
    """A finite number > 0 inside float32's usable range, or None when absent."""
    if key not in block:
        return None
    value = check_number(block[key], file, _key(where, key), positive=True, integer=integer)
    return check_range(value, key, file, _key(where, key))


def require_positive(block: dict, key: str, file: str, where: str, *, integer: bool = False) -> float:
    """A finite number > 0 inside float32's usable range; its absence is an error."""
    if key not in block:
        raise InputError(f"missing {key!r}", file=file, key=where)
    value = check_number(block[key], file, _key(where, key), positive=True, integer=integer)
    return check_range(value, key, file, _key(where, key))


def read_year(block: dict, key: str, file: str, where: str) -> int | None:
    year = block.get(key)
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100):
        raise InputError(f"must be a year such as 2023, got {shown(year)}", file=file, key=_key(where, key))
    return year


def read_number_or_table(block: dict, key: str, file: str, where: str, *, minimum: float | None = None):
    """A number (checked) or a prior table (checked when its prior is built), or None when absent."""
    value = block.get(key)
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"must be a number or a prior table, got {shown(value)}", file=file, key=_key(where, key))
    return check_number(value, file, _key(where, key), minimum=minimum)


def device_time(sizes: dict, file: str) -> float | None:
    """Device-hours given, or from devices x days; the run's sizes checked for consistency."""
    device_hours, devices, days = sizes["device_hours"], sizes["devices"], sizes["days"]
    parameters, tokens, train_flops = sizes["parameters"], sizes["tokens"], sizes["train_flops"]
    derives_tokens = sizes["target_loss"] is not None or sizes["compute_budget_flop"] is not None
    if days is not None and devices is None:
        raise InputError("'days' needs 'devices' to fix device time", file=file, key="run.days")
    if devices is not None and days is not None:
        from_days = check_range(check_number(devices * days * 24.0, file, "run.days", positive=True), "device_hours", file, "run.days")
        if device_hours is not None and abs(from_days / device_hours - 1.0) > 0.01:
            raise InputError(f"device_hours = {device_hours:g} contradicts devices × days × 24 = {from_days:g} (more than 1% apart)",
                             file=file, key="run.device_hours")
        device_hours = device_hours or from_days
    if (parameters is None) != (tokens is None) and train_flops is None and device_hours is None and not derives_tokens:
        missing = "tokens" if tokens is None else "parameters"
        raise InputError(f"'parameters' and 'tokens' go together: {missing} is missing", file=file, key=f"run.{missing}")
    if parameters is not None and tokens is not None:
        compute_parameters = sizes.get("active_parameters") or parameters  # a mixture-of-experts run computes on its active ones
        six_nd = check_number(6.0 * compute_parameters * tokens, file, "run.tokens", positive=True)  # the FLOPs the chain computes
        if train_flops is not None and abs(train_flops / six_nd - 1.0) > 0.25:
            raise InputError(f"train_flops = {train_flops:g} contradicts 6 × (active) parameters × tokens = {six_nd:g} (more than 25% apart)",
                             file=file, key="run.train_flops")
    if device_hours is None and train_flops is None and (parameters is None or tokens is None) and not derives_tokens:
        raise InputError("cannot fix device time: give device_hours, or devices + days, or parameters + tokens, or train_flops",
                         file=file, key="run")
    return device_hours


def prior_overrides(priors: dict | None, run: dict, table: PriorTable, file: str, *, section: str = "run") -> dict[str, Any]:
    """[priors] overrides (numbers or prior tables) and the numbers of the kind's own table ([run] or
    [serving]) that stand in for priors.

    A number is checked here against the quantity's support; a table when its prior is built.
    """
    overrides: dict[str, Any] = {}
    for name, value in (priors or {}).items():
        if name not in table.quantities:
            raise InputError(f"unknown quantity; {close_matches(name, table.quantities)}", file=file, key=f"priors.{name}")
        if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
            raise InputError(f"must be a number or a prior table, got {shown(value)}", file=file, key=f"priors.{name}")
        if not isinstance(value, dict):
            _inside_support(table, name, check_number(value, file, f"priors.{name}"), file, f"priors.{name}")
        overrides[name] = value
    for number, choice in RUN_NUMBERS.items():
        if choice in run and number in run:
            raise InputError(f"give either {choice!r} or {number!r}, not both", file=file, key=f"{section}.{number}")
        if number in run:
            value = _inside_support(table, number, check_number(run[number], file, f"{section}.{number}"), file, f"{section}.{number}")
            if number in overrides:
                raise InputError(f"{number} is given in both [{section}] and [priors]", file=file, key=f"priors.{number}")
            overrides[number] = {"value": value, "source": f"[{section}] {number} in {Path(file).name}"}
        elif choice in run:
            read_str(run, choice, file, section)
        elif number not in overrides:
            raise InputError(f"missing: give {choice!r} (a key of the priors) or {number!r} (a number)", file=file, key=section)
    return overrides


def _inside_support(table: PriorTable, name: str, value: float, file: str, key: str) -> float:
    support = table.quantity(name).support
    if support is not None and not support.contains(value):
        raise InputError(f"{value:g} is outside the physical bounds of {name} ({support.describe()})", file=file, key=key)
    return value


def expert_routing(run: dict, file: str, *, architecture: str, parameters, active_parameters) -> tuple[int | None, int | None]:
    """`experts` (E per MoE layer) and `experts_per_token` (k of top-k routing) of a mixture-of-experts run.

    Both or neither; whole numbers with 1 <= k < E; only on an MoE run; and with parameters and
    active_parameters, active >= (k/E) x parameters (the shared part is not negative). The layout
    planner shards the experts with them (`footprint.experts`); the run's own numbers do not use them.
    Reference: Lepikhin et al. 2020, arXiv:2006.16668, §2 (E experts, top-2); Fedus et al. 2021,
    arXiv:2101.03961, §2.1 (top-1).
    """
    experts, per_token = (read_positive(run, key, file, "run", integer=True) for key in ("experts", "experts_per_token"))
    if experts is None and per_token is None:
        return None, None
    if architecture != "moe":
        given = "experts" if experts is not None else "experts_per_token"
        raise InputError(f"a dense run has no '{given}' (give architecture = \"moe\")", file=file, key=f"run.{given}")
    if experts is None or per_token is None:
        missing = "experts" if experts is None else "experts_per_token"
        raise InputError(f"'experts' and 'experts_per_token' go together: {missing} is missing", file=file, key=f"run.{missing}")
    if per_token >= experts:
        raise InputError(f"experts_per_token = {per_token:g} must be less than experts = {experts:g}", file=file,
                         key="run.experts_per_token")
    if parameters is not None and active_parameters is not None and active_parameters < per_token / experts * parameters:
        raise InputError(f"active_parameters = {active_parameters:g} is less than experts_per_token/experts of parameters "
                         f"({per_token / experts * parameters:g}): the shared part would be negative", file=file,
                         key="run.active_parameters")
    return int(experts), int(per_token)
