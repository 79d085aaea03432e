"""Read models/serving/*.toml (a `[serving]` table) into a validated deployment (`ServingScenario`).

What is served (parameters, active parameters, precision, tokens per request), on what (hardware,
devices per replica, replicas, batch), how much (requests per day, or requests, or only the
capacity), where (region or grid number, datacenter or PUE) and for how long (days). Errors name
the file, the key, what is wrong and the close matches, as for training runs; the tables both
kinds share ([reported], [[claims]], [accounting], [priors]) are read by `carbon_mc.scenarios.common`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jax.numpy as jnp

from ..data import data_dir
from ..errors import CarbonMCError, InputError, close_matches, shown
from ..footprint.serving import SERVING_INPUTS, SERVING_OUTPUTS
from ..priors import Prior, PriorTable, load_priors
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
    "stack", "load", "boundary", "node_ram_gb",
}
SECTIONS = ("serving", "reported", "priors", "accounting", "claims")
# precision: (bytes per parameter, compute peak relative to the catalogue's dense BF16/FP16 peak on a device that has
# no rate of its own for that precision). The device's own rate comes first (PRECISION_PEAK_FIELDS, the
# accelerator table's dense peaks: H100 SXM FP8 1,979 TFLOP/s = 2.0x BF16, L4 FP8 242.5 = 2.0x, Trainium cFP8
# 190 = 1.0x, A100 FP32 19.5 = 1/16, EPYC 7763 FP32 = its whole (vector) peak).
# fp32: 4 bytes; without an FP32 field, matrix work at 1/16 of the BF16 peak (PyTorch leaves TF32 off for
# matmuls by default; A100: 19.5 vs 312 TFLOP/s), with a note.
# int8 / fp8: 1 byte; on a device without FP8 (INT8) matrix units (fp8 on Ampere, T4, TPU; int8 on Gaudi,
# B300) the weights are dequantised and the matrix work runs at the BF16 peak: weight-only W8A16 kernels
# (vLLM's FP8 Marlin on Ampere, bitsandbytes LLM.int8 / GPTQ 8-bit) are what people run there, so this is
# computed, not refused, and a note says so.
# int4 (GPTQ/AWQ weight-only) and nf4 (bitsandbytes): 4 bits plus one 16-bit scale per group of 64
# (nf4 block size, Dettmers et al. 2023, arXiv:2305.14314) or 128 (GPTQ/AWQ default) weights; the
# matrix work runs at the BF16 peak after dequantisation. mxfp4 (OCP MX v1.0): 4 bits plus an 8-bit
# scale per 32; BF16 peak (weight-only; no FP4 field in the catalogue). The int4 entry keeps 0.5 bytes
# (its value before the scale was counted) so existing deployments do not move.
PRECISIONS = {"fp32": (4.0, 1.0 / 16.0), "bf16": (2.0, 1.0), "fp16": (2.0, 1.0), "fp8": (1.0, 1.0), "int8": (1.0, 1.0),
              "int4": (0.5, 1.0), "nf4": (4.25 / 8.0, 1.0), "mxfp4": (4.25 / 8.0, 1.0)}
# precision -> the accelerator-table field with the device's own dense peak at that precision
PRECISION_PEAK_FIELDS = {"fp32": "peak_fp32_flop_per_s", "fp8": "peak_fp8_flop_per_s", "int8": "peak_int8_op_per_s"}


def precision_peak_factor(spec: dict, precision: str) -> tuple[float, str | None]:
    """The compute peak at `precision` over the device's BF16 peak (spec["peak_flop_per_s"]), and a note when the
    device has no rate of its own for that precision (then PRECISIONS' factor: weight-only at the BF16 peak for
    8-bit formats, 1/16 for fp32).

    Reference: vendor datasheets' dense FP8/INT8/FP32 peaks, as in priors/accelerators*.toml.
    """
    fallback = PRECISIONS[precision][1]
    field_name = PRECISION_PEAK_FIELDS.get(precision)
    if field_name is None:
        return fallback, None
    if field_name in spec:
        return float(spec[field_name]) / float(spec["peak_flop_per_s"]), None
    key = spec.get("key", spec.get("name", "the device"))
    if precision == "fp32":
        return fallback, f"{key} has no FP32 rate in the accelerator table: fp32 matrix work is taken at 1/16 of its BF16 peak"
    native = supported_precisions(spec)
    return fallback, (f"{key} has no {precision.upper()} matrix units (its native precisions: {', '.join(native)}): "
                      f"{precision} weights are dequantised and the matrix work runs at its BF16 peak (weight-only "
                      "quantisation, as W8A16 kernels run it)")


def supported_precisions(spec: dict) -> list[str]:
    """The precisions the device runs at a peak of its own: bf16/fp16 always, and those with a peak field."""
    return ["bf16", "fp16"] + [p for p, f in PRECISION_PEAK_FIELDS.items() if f in spec and p != "fp32"]


STACKS = ("optimised_server", "plain_pipeline")  # selects serving_step_overhead_s
LOADS = ("benchmark", "fleet", "on_demand")  # selects serving_busy_fraction and serving_over_provisioning_factor
BOUNDARIES = ("replica", "whole_node")
# input -> the scenario key whose value picks `<input>_<value>` from the priors (no key: the input's own prior)
REGIME_INPUTS = {"serving_step_overhead_s": "stack", "serving_busy_fraction": "load", "serving_over_provisioning_factor": "load"}
# stack / load as weighted choices: the uniform input whose inverse CDF picks a choice per draw
CHOICE_QUANTILES = {"stack": "serving_stack_quantile", "load": "serving_load_quantile"}
DRAWN_SERVED = {"parameters": "serving_parameters", "active_parameters": "serving_active_parameters", "batch": "serving_batch"}
# What a reported deployment energy covers -> the serving output it is compared with.
ENERGY_SCOPES = {"accelerator": "accelerator_energy_mwh", "it": "it_energy_mwh", "facility": "energy_mwh"}
CO2E_SCOPES = {"accelerator": "accelerator_operational_tco2e", "it": "it_operational_tco2e",
               "operational": "operational_tco2e", "total": "total_tco2e"}
TOKEN_QUANTITIES = {"input_tokens": "input_tokens_per_request", "output_tokens": "output_tokens_per_request"}
J_PER_WH = 3600.0


def regime_quantity(name: str, choice: str) -> str:
    """The prior a regime choice draws input `name` from: `<name>_<choice>`, or the input's own prior for the
    optimised server (serving_step_overhead_s is the optimised server's, as the calibration fits it)."""
    return name if choice == "optimised_server" else f"{name}_{choice}"


@dataclass(frozen=True)
class ServingScenario(ScenarioBase):
    """A validated deployment: what is served, on what, how much, where and for how long."""

    name: str
    hardware: str
    parameters: float | None  # None: drawn from the scenario's prior table (serving_parameters)
    active_parameters: float | None  # None: drawn (serving_active_parameters), or the parameters (active_is_total)
    bytes_per_parameter: float
    compute_speedup: float
    devices_per_replica: float
    batch: float | None  # None: drawn (serving_batch)
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
    stack: str | None = None  # optimised_server | plain_pipeline (None: the default overhead prior)
    load: str | None = None  # benchmark | fleet | on_demand (None: the default load priors)
    boundary: str = "replica"  # replica | whole_node
    node_ram_gb: float | None = None  # installed RAM per node, modelled by the meter (whole_node)
    active_is_total: bool = False  # parameters drawn, no active_parameters: a dense model
    precision_choices: tuple[tuple[float, float, float], ...] = ()  # (cumulative weight, bytes, peak factor)
    precision_notes: tuple[str, ...] = ()  # a precision the device has no rate of its own for
    # stack / load drawn per draw from weighted choices: (choice, cumulative weight) each, and the source given
    stack_choices: tuple[tuple[str, float], ...] = ()
    load_choices: tuple[tuple[str, float], ...] = ()
    choice_sources: tuple[tuple[str, str], ...] = ()  # (key, source) of each weighted choice

    @property
    def requests_per_day(self) -> float | None:
        return None if self.requests is None else self.requests / self.days

    @property
    def per_request_only(self) -> bool:
        """Neither traffic nor capacity given: per-request figures at the load priors, no totals."""
        return self.requests is None and self.provisioned_device_hours is None

    @property
    def may_be_moe(self) -> bool:
        """Active parameters below the parameters, or either drawn: the MoE decode efficiency is drawn."""
        if self.active_is_total:
            return False
        return self.active_parameters is None or self.parameters is None or self.active_parameters < self.parameters

    @property
    def headline(self) -> tuple[str, ...]:
        """The outputs a run reports first: per request and per million output tokens when no traffic is given."""
        from ..footprint.serving_outputs import PER_REQUEST_HEADLINE, SERVING_HEADLINE

        return PER_REQUEST_HEADLINE if self.per_request_only else SERVING_HEADLINE

    def resolve_priors(self, table: PriorTable | None = None) -> dict[str, Prior]:
        """As for every scenario, then the regime inputs: `stack` and `load` pick `<input>_<choice>`."""
        table = table or load_priors()
        resolved = super().resolve_priors(table)
        for name, key in REGIME_INPUTS.items():
            choice = getattr(self, key)
            if name in resolved and choice is not None and name not in self.overrides and choice != "optimised_server":
                prior = table.select(f"{name}_{choice}", self.context(table), file=self.file)
                resolved[name] = replace(prior, quantity=name, variant=choice)
        return resolved

    @property
    def loads_drawn(self) -> bool:
        """Traffic or capacity missing: the load priors (busy fraction, over-provisioning) are drawn."""
        return self.requests is None or self.provisioned_device_hours is None

    @property
    def stack_components(self) -> tuple[tuple[float, str], ...]:
        """(cumulative weight, input name of its step overhead) of each stack choice; () for a single stack."""
        return tuple((cum, regime_quantity("serving_step_overhead_s", c)) for c, cum in self.stack_choices)

    @property
    def load_components(self) -> tuple[tuple[float, str, str], ...]:
        """(cumulative weight, busy-fraction input, over-provisioning input) of each load choice; () for a
        single load, or when traffic and capacity are both given (no load prior is drawn)."""
        if not self.loads_drawn:
            return ()
        return tuple((cum, regime_quantity("serving_busy_fraction", c), regime_quantity("serving_over_provisioning_factor", c))
                     for c, cum in self.load_choices)

    def choice_weights(self, key: str) -> list[tuple[str, float]]:
        """(choice, weight) of `stack` or `load` given as weighted choices (weights summing to 1); [] for a name."""
        choices = getattr(self, f"{key}_choices")
        return [(c, cum - prev) for (c, cum), prev in zip(choices, (0.0, *(cum for _, cum in choices)))]

    def input_streams(self) -> dict[str, str]:
        """Random streams of the choices' inputs: each component draws from the stream of the input it stands
        for (serving_step_overhead_s_plain_pipeline from serving_step_overhead_s's), so that weights [1, 0] give
        the numbers of the single first choice. Only one component is used per draw, so sharing costs nothing."""
        pairs = [(n, "serving_step_overhead_s") for _, n in self.stack_components]
        pairs += [(n, base) for _, *names in self.load_components
                  for n, base in zip(names, ("serving_busy_fraction", "serving_over_provisioning_factor"))]
        return {n: base for n, base in pairs if n != base}

    def check_posterior(self, names) -> None:
        """Refuse a posterior for a regime input that this deployment draws from another choice's prior.

        The calibrated serving_step_overhead_s is the optimised server's (every calibration point is vLLM):
        under stack = "plain_pipeline" the input of that name holds the plain pipeline's prior, which a
        posterior must not replace. Under weighted choices the plain pipeline's component has its own name
        (serving_step_overhead_s_plain_pipeline) and keeps its prior; the optimised server's takes the posterior.
        """
        for name, key in REGIME_INPUTS.items():
            choice = getattr(self, key)
            if name in names and choice is not None and choice != "optimised_server":
                raise InputError(f"a posterior for {name} would replace the {key} {choice!r}'s prior, which it was not "
                                 f"fitted on; leave {name} out of the posterior (or give {key} as weighted choices, whose "
                                 f"optimised_server component takes it)", file=self.file, key=f"serving.{key}")

    def needed_quantities(self) -> list[str]:
        """The priors `serving_footprint` draws for this deployment."""
        names = list(SERVING_INPUTS)
        if self.stack_choices:  # each choice's overhead, in place of the single one, and the quantile that picks
            at = names.index("serving_step_overhead_s")
            names[at:at + 1] = [n for _, n in self.stack_components]
            names.append(CHOICE_QUANTILES["stack"])
        names += [DRAWN_SERVED[k] for k in ("parameters", "active_parameters", "batch") if getattr(self, k) is None
                  and not (k == "active_parameters" and self.active_is_total)]
        if self.may_be_moe:
            names.append("serving_moe_mfu_ratio")
        if self.precision_choices:
            names.append("serving_precision_quantile")
        if self.boundary == "whole_node":
            names.append("node_ram_w_per_gb")
        if not self.accounting.pue_included:
            names.remove("pue")
        if self.accounting.grid_basis == "market":
            names[names.index("grid_gco2_per_kwh")] = MARKET_QUANTITY
        if self.input_tokens is None:
            names.append("input_tokens_per_request")
        if self.output_tokens is None:
            names.append("output_tokens_per_request")
        if self.load_components:
            names += [n for _, *pair in self.load_components for n in pair] + [CHOICE_QUANTILES["load"]]
        elif self.loads_drawn:
            names += ["serving_busy_fraction", "serving_over_provisioning_factor"]
        return names

    def find_notes(self, table: PriorTable) -> list[str]:
        notes = super().find_notes(table) + list(self.precision_notes)
        sources = dict(self.choice_sources)
        for key, choices in (("stack", self.stack_choices), ("load", self.load_choices)):
            if key == "load" and choices and not self.loads_drawn:
                notes.append("load is given as weighted choices, but traffic and capacity are both given: no load prior "
                             "is drawn, so the choices are not used")
            elif choices:
                weights = ", ".join(f"{c} {w:.3g}" for c, w in self.choice_weights(key))
                notes.append(f"{key} drawn per draw from weighted choices: {weights} ({CHOICE_QUANTILES[key]} picks one "
                             f"by the inverse CDF of the weights; source: {sources[key]})")
        if self.per_request_only:
            notes.append("neither traffic (requests, requests_per_day) nor capacity (replicas, device_hours) is given: "
                         "per-request and per-token figures are computed at the load priors; per-day and deployment "
                         "totals are omitted")
        return notes


def _num(block: dict, key: str, file: str, *, integer: bool = False) -> float | None:
    """A positive number under [serving] (type, finiteness and float32 range checked), or None when absent."""
    return fields.read_positive(block, key, file, "serving", integer=integer)


def _agree(a: float, b: float, what_a: str, what_b: str, file: str, key: str) -> None:
    if abs(a / b - 1.0) > 0.01:
        raise CarbonMCError(f"{what_a} = {a:g} contradicts {what_b} = {b:g} (more than 1% apart)", file=file, key=key)


def _tokens(block: dict, key: str, file: str, overrides: dict, quantity: str | None = None, *,
            integer: bool = False) -> float | None:
    """A number (kept as a constant) or a prior table (becomes an override of `quantity`)."""
    value = block.get(key)
    if isinstance(value, dict):
        if "source" not in value or "distribution" not in value:
            raise CarbonMCError("a prior table needs distribution, params and source", file=file, key=f"serving.{key}")
        overrides[quantity or TOKEN_QUANTITIES[key]] = value
        return None
    return _num(block, key, file, integer=integer)


def _choice(block: dict, key: str, choices: tuple[str, ...], file: str, default: str | None) -> str | None:
    value = block.get(key, default)
    if value is not None and value not in choices:
        raise CarbonMCError(f"unknown {key} {shown(value)}; {close_matches(str(value), choices)}", file=file, key=f"serving.{key}")
    return value


def _weighted_choices(value: Any, key: str, valid: Any, file: str) -> tuple[list[str], list[float]]:
    """The names and cumulative weights of `{ choices = [...], weights = [...], source = "..." }` under [serving] `key`.

    Weights: as many as choices, finite, >= 0, not all 0 (default: equal), normalised to sum to 1; the last
    cumulative weight is exactly 1. Names must be in `valid` (close matches suggested) and distinct; a
    non-empty source is required. Every fault is one InputError naming the file and the key.
    """
    where = f"serving.{key}"
    shape = f'{key} as a choice is {{ choices = [...], weights = [...], source = "..." }}'
    if set(value) - {"choices", "weights", "source"} or "choices" not in value:
        raise InputError(shape, file=file, key=where)
    source = value.get("source")
    if not isinstance(source, str) or not source.strip():
        raise InputError(f"{shape}: a source (why these weights) is required", file=file, key=f"{where}.source")
    names = value["choices"]
    weights = value.get("weights", [1.0] * len(names) if isinstance(names, list) else None)
    if not isinstance(names, list) or not names or not isinstance(weights, list) or len(weights) != len(names) or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise InputError(f"{key} choices need as many weights (finite, >= 0, not all 0) as choices", file=file, key=where)
    for name in names:
        if not isinstance(name, str) or name not in valid:
            raise InputError(f"unknown {key} {shown(name)}; {close_matches(str(name), valid)}", file=file, key=f"{where}.choices")
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"{', '.join(twice)} named more than once; give each choice once with its whole weight", file=file,
                         key=f"{where}.choices")
    total, cum, cumulative = float(sum(weights)), 0.0, []
    for w in weights:
        cum += w / total
        cumulative.append(cum)
    cumulative[-1] = 1.0
    return names, cumulative


def _regime_choice(block: dict, key: str, choices: tuple[str, ...],
                   file: str) -> tuple[str | None, tuple[tuple[str, float], ...], str | None]:
    """`stack` or `load`: a name (today's single prior), or weighted choices drawn per draw.

    Returns (the name or None, ((choice, cumulative weight), ...) for choices, the choices' source).
    """
    value = block.get(key)
    if not isinstance(value, dict):
        return _choice(block, key, choices, file, None), (), None
    names, cumulative = _weighted_choices(value, key, choices, file)
    return None, tuple(zip(names, cumulative)), value["source"]


def _precision(block: dict, file: str, spec: dict,
               notes: list[str]) -> tuple[str, tuple[tuple[float, float, float], ...]]:
    """The precision: a name, or weighted choices {choices = [...], weights = [...], source = "..."}.

    Returns the name (the heaviest choice) and, for choices, (cumulative weight, bytes, peak factor) each;
    appends to `notes` what was assumed for a precision the device has no rate of its own for.
    """
    def entry(name: Any, key: str) -> tuple[float, float]:
        if not isinstance(name, str) or name not in PRECISIONS:
            raise InputError(f"unknown precision {shown(name)}; {close_matches(str(name), PRECISIONS)}", file=file, key=key)
        factor, note = precision_peak_factor(spec, name)
        if note and note not in notes:
            notes.append(note)
        return PRECISIONS[name][0], factor

    value = block.get("precision", "bf16")
    if not isinstance(value, dict):
        entry(value, "serving.precision")
        return value, ()
    names, cumulative = _weighted_choices(value, "precision", PRECISIONS, file)
    rows = [(cum, *entry(name, "serving.precision.choices")) for name, cum in zip(names, cumulative)]
    weights = value.get("weights", [1.0] * len(names))
    heaviest = names[max(range(len(names)), key=lambda i: weights[i])]
    return heaviest, tuple(rows)


def _median(spec: dict, file: str, key: str) -> float:
    """The median of a scenario's prior table (for checks made at load time: the weights' fit)."""
    from ..priors.loader import build_prior

    prior = build_prior(key, "scenario", spec, units="1", long_name=key, file=file, key=f"serving.{key}")
    return float(prior.icdf32(jnp.asarray([0.5], jnp.float32))[0])


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

    overrides = fields.prior_overrides(fields.read_table(doc, "priors", file), block, table, file, section="serving")
    bandwidth_gb_per_s = _memory_bandwidth(table, hardware, overrides, file)
    for key in ("parameters", "batch"):
        if key not in block:
            fields.require_positive(block, key, file, "serving")  # the missing-key error
    parameters = _tokens(block, "parameters", file, overrides, DRAWN_SERVED["parameters"])
    batch = _tokens(block, "batch", file, overrides, DRAWN_SERVED["batch"])
    n, days = (fields.require_positive(block, key, file, "serving", integer=key == "devices_per_replica")
               for key in ("devices_per_replica", "days"))
    active_is_total = "active_parameters" not in block and parameters is None
    active = _tokens(block, "active_parameters", file, overrides, DRAWN_SERVED["active_parameters"])
    if active is None and "active_parameters" not in block:
        active = parameters
    if active is not None and parameters is not None and active > parameters:
        raise CarbonMCError(f"active_parameters = {active:g} exceeds parameters = {parameters:g}", file=file,
                            key="serving.active_parameters")
    precision_notes: list[str] = []
    precision, precision_choices = _precision(block, file, spec, precision_notes)
    bytes_per_parameter, speedup = PRECISIONS[precision][0], precision_peak_factor(spec, precision)[0]
    size = parameters if parameters is not None else _median(block["parameters"], file, "parameters")
    for nbytes, label in ([(b, "a precision choice") for _, b, _ in precision_choices] or [(bytes_per_parameter, precision)]):
        weights_gb = nbytes * size / 1e9
        if weights_gb > n * spec["memory_gb"]:
            raise CarbonMCError(f"the weights ({weights_gb:.0f} GB at {label}{'' if parameters is not None else ', median size'}) "
                                f"do not fit in {n:g} x {spec['memory_gb']:g} GB of {hardware}: raise devices_per_replica or "
                                "lower the precision", file=file, key="serving.devices_per_replica")
    stack, stack_choices, stack_source = _regime_choice(block, "stack", STACKS, file)
    load, load_choices, load_source = _regime_choice(block, "load", LOADS, file)
    choice_sources = tuple((k, src) for k, src in (("stack", stack_source), ("load", load_source)) if src is not None)
    boundary = _choice(block, "boundary", BOUNDARIES, file, "replica") or "replica"
    node_ram_gb = fields.read_positive(block, "node_ram_gb", file, "serving")
    if node_ram_gb is not None and boundary != "whole_node":
        raise CarbonMCError("node_ram_gb is counted only on the whole-node boundary: add boundary = \"whole_node\"", file=file,
                            key="serving.node_ram_gb")

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
        memory_bandwidth_gb_per_s=bandwidth_gb_per_s, file=file, model=block.get("model"),
        replicas=replicas, requests=requests, provisioned_device_hours=device_hours, input_tokens=input_tokens,
        output_tokens=output_tokens, region=region, region_fell_back_from=fell_back, datacenter=block.get("datacenter"),
        year=year,
        source=block.get("source"), overrides=overrides, accounting=parse_accounting(doc.get("accounting"), file),
        reported=reported, claims=parse_claims(doc.get("claims"), file, claim_value, required=("value", "unit", "quantity", "source")),
        sha256=sha256, stack=stack, load=load, boundary=boundary, node_ram_gb=node_ram_gb, active_is_total=active_is_total,
        precision_choices=precision_choices, precision_notes=tuple(precision_notes),
        stack_choices=stack_choices, load_choices=load_choices, choice_sources=choice_sources,
    )
    scenario.check_overrides(table)
    _check_choice_overrides(scenario)
    scenario.resolve_priors(table)  # unknown region / datacenter / bad override fail here, at load time
    scenario = scenario.with_notes(table)
    scenario.check_claims_computable(table)
    return scenario


def _check_choice_overrides(scenario: ServingScenario) -> None:
    """Under weighted choices each choice's input has its own name: a [priors] entry for the single input
    that the choices replace would be silently unused, so it is refused, naming the inputs to give instead."""
    needed = set(scenario.needed_quantities())
    for name, key in REGIME_INPUTS.items():
        choices = getattr(scenario, f"{key}_choices")
        if choices and name in scenario.overrides and name not in needed:
            instead = ", ".join(regime_quantity(name, c) for c, _ in choices)
            raise InputError(f"{key} is drawn from weighted choices, so {name} is not drawn as one input: give the prior of "
                             f"each choice instead ({instead})", file=scenario.file, key=f"priors.{name}")


def _memory_bandwidth(table: PriorTable, hardware: str, overrides: dict, file: str) -> float:
    """The accelerator's memory bandwidth (GB/s): the scenario's own ([priors] memory_bandwidth_gb_per_s, a
    number or {value, source}: a datasheet fact, not drawn), else the catalogue's."""
    name = "memory_bandwidth_gb_per_s"
    if name in overrides:
        value = overrides.pop(name)
        if isinstance(value, dict) and "distribution" in value:
            raise InputError("is a datasheet fact, not drawn: give a number or { value = ..., source = \"...\" }", file=file,
                             key=f"priors.{name}")
        number = value.get("value") if isinstance(value, dict) else value
        return fields.check_range(fields.check_number(number, file, f"priors.{name}", positive=True), name, file, f"priors.{name}")
    variants = table.quantity(name).variants
    if hardware not in variants:
        raise InputError(f"no memory bandwidth for {hardware!r} in priors ({name}): give it in the scenario's [priors] "
                         f"({name} = <GB/s>) or in an overlay; known: {', '.join(sorted(variants))}", file=file,
                         key="serving.hardware")
    return variants[hardware].fixed_value


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
