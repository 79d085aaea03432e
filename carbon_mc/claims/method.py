"""How a published figure was computed, and two verdicts on it: its arithmetic and its physics.

Most published training footprints are arithmetic, not measurements: device-hours x an assumed
power per device (often the TDP), sometimes x a PUE, x a grid factor. A claim may state its
`method` ([reported] or [[claims]] in a scenario): a named convention (`NAMED_METHODS`) or a
table of the card's own inputs. A check then gives

* the arithmetic verdict (`recompute`): the figure recomputed from the card's own stated inputs;
  a card whose figure disagrees with its inputs is flagged with the size of the disagreement;
* the physics verdict (`decompose`): the gap between the figure and carbon-mc's estimate of the
  full quantity (facility energy; operational or total CO2e), split per draw into multiplicative
  factors (the card's arithmetic, device time, board power vs the card's power, host power, PUE,
  grid factor, embodied carbon) whose product is the per-draw ratio estimate / claim exactly;
  each is summarised by its geometric mean (the geometric means multiply to the ratio's) and
  the 5th-95th percentiles of its per-draw values, all from the same draws.

Pure functions with units in their names; numbers as floats or NumPy arrays over draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..errors import InputError, close_matches, shown
from ..footprint.serving_outputs import NORMALISATIONS
from ..results.statistics import percentile_of
from ..scenarios.units import convert, quantity_kind

__all__ = [
    "CONSISTENT_WITHIN",
    "NAMED_METHODS",
    "Arithmetic",
    "ClaimMethod",
    "Decomposition",
    "Factor",
    "MethodVerdict",
    "NamedMethod",
    "assess",
    "decompose",
    "method_co2e_g",
    "method_energy_wh",
    "parse_method",
    "recompute",
]

# A figure within 2% of what its own inputs give is consistent: cards round their inputs and
# figures to 2-4 significant figures (Llama 3.1: 1.46M GPU-hours, 420 t).
CONSISTENT_WITHIN = 0.02
# The central 99% of the draws: outside it, a figure is implausible (the `ClaimCheck.verdict` threshold).
PLAUSIBLE_PERCENTILES = (0.5, 99.5)
CI_QUANTILES = (0.05, 0.95)
POWER_SCOPES = ("accelerator", "server")  # what the card's power per device covers: the board, or board and host


@dataclass(frozen=True)
class NamedMethod:
    """A common way of computing a footprint: where its power comes from and what it counts."""

    description: str
    power: str  # "tdp": the accelerator's TDP unless the card states a power; "stated": the card's; "measured"
    power_scope: str  # POWER_SCOPES
    pue: str  # "none": no PUE; "stated": the card's PUE; "in_power": the card says its power includes PUE
    source: str


NAMED_METHODS: dict[str, NamedMethod] = {
    "tdp_hours": NamedMethod(
        "device-hours x TDP x grid factor (the accelerators' rated power; no host, no PUE)", "tdp", "accelerator", "none",
        "Luccioni, Viguier, Ligozat 2022, arXiv:2211.02001, §3 (BLOOM's dynamic energy: 1,082,990 GPU-h x 400 W)"),
    "tdp_hours_pue": NamedMethod(
        "device-hours x TDP x PUE x grid factor (no host power)", "tdp", "accelerator", "stated",
        "Touvron et al. 2023, arXiv:2302.13971, §6 and Table 15 (GPU-h x 400 W x PUE 1.1 x 0.385 kg/kWh, after Wu et al. 2022)"),
    "tdp_adjusted_for_pue": NamedMethod(
        "device-hours x TDP 'adjusted for PUE' x grid factor: the stated power is the TDP itself, so neither host "
        "power nor data-centre overhead is counted beyond it", "tdp", "accelerator", "in_power",
        "Touvron et al. 2023, arXiv:2307.09288, Table 2 ('peak power capacity per GPU device ... adjusted for power "
        "usage efficiency'); Meta Llama 3 and 3.1 model cards (github.com/meta-llama)"),
    "ml_co2_impact": NamedMethod(
        "ML CO2 Impact calculator: hours x the hardware's TDP x the region's carbon factor (no host, no PUE)",
        "tdp", "accelerator", "none",
        "Lacoste, Luccioni, Schmidt, Dandres 2019, 'Quantifying the Carbon Emissions of Machine Learning', "
        "arXiv:1910.09700; mlco2.github.io/impact"),
    "codecarbon": NamedMethod(
        "CodeCarbon: measured GPU energy (NVML) plus CPU (RAPL, or a share of its TDP) and RAM (per GB), "
        "PUE 1.0 by default, x the country's or cloud region's carbon factor", "measured", "server", "stated",
        "Courty et al., CodeCarbon (github.com/mlco2/codecarbon), docs 'Methodology' (pue defaults to 1.0)"),
}

METHOD_KEYS = {
    "name", "power_w_per_device", "power_scope", "pue", "grid_gco2_per_kwh", "grid_basis", "grid_source",
    "device_hours", "devices", "latency_s", "extra_energy_mwh", "embodied_tco2e", "source", "notes",
}


@dataclass(frozen=True)
class ClaimMethod:
    """How the card computed its figure: its own inputs, each None where the card does not state it.

    power_w_per_device: the card's power per device (W); None with a TDP method: the accelerator's TDP.
    power_scope: "accelerator" (the board alone) or "server" (board and host, e.g. Strubell et al.'s
      whole-setup power).
    pue: the PUE the card applies on top of its power (1: none); `pue_in_power`: the card says its
      power already includes PUE (the Llama cards), which changes the words, not the arithmetic.
    grid_gco2_per_kwh, grid_basis, grid_source: the card's grid factor, its basis and where it comes from.
    device_hours: the device-hours the figure covers (for a deployment's figure, per unit of the figure);
      None: the scenario's own. `devices` and `latency_s`: a deployment's per-request device time,
      devices x latency / 3600 h per request.
    extra_energy_mwh, embodied_tco2e: energy (idle, infrastructure) and embodied carbon the card adds.
    """

    name: str | None = None
    power_w_per_device: float | None = None
    power_scope: str = "accelerator"
    pue: float = 1.0
    pue_in_power: bool = False
    grid_gco2_per_kwh: float | None = None
    grid_basis: str | None = None
    grid_source: str | None = None
    device_hours: float | None = None
    devices: float | None = None
    latency_s: float | None = None
    extra_energy_mwh: float = 0.0
    embodied_tco2e: float = 0.0
    uses_tdp: bool = False
    measured: bool = False
    source: str | None = None

    @property
    def description(self) -> str:
        return NAMED_METHODS[self.name].description if self.name in NAMED_METHODS else "the card's own inputs"

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description,
                **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}}


def _number(block: dict, key: str, file: str, where: str, *, minimum: float = 0.0, above: bool = False) -> float | None:
    value = block.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum \
            or (above and value <= minimum):
        bound = f"> {minimum:g}" if above else f">= {minimum:g}"
        raise InputError(f"must be a finite number {bound}, got {shown(value)}", file=file, key=f"{where}.{key}")
    return float(value)


def parse_method(value: Any, file: str, where: str) -> ClaimMethod | None:
    """A claim's `method`: a named convention ("tdp_hours", ...) or a table of the card's inputs
    (optionally with `name`). None when absent.

    Raises:
      InputError: an unknown name (with close matches), an unknown key, a bad number or choice.
    """
    if value is None:
        return None
    where = f"{where}.method"
    block = {"name": value} if isinstance(value, str) else value
    if not isinstance(block, dict):
        raise InputError(f"must be a method's name or a table of the card's inputs, got {shown(value)}", file=file, key=where)
    for key in block:
        if key not in METHOD_KEYS:
            raise InputError(f"unknown key; {close_matches(key, METHOD_KEYS)}", file=file, key=f"{where}.{key}")
    name = block.get("name")
    if name is not None and name not in NAMED_METHODS:
        raise InputError(f"unknown method {shown(name)}; {close_matches(str(name), NAMED_METHODS)}", file=file, key=f"{where}.name")
    for key in ("grid_basis", "grid_source", "source", "notes", "power_scope"):
        if key in block and (not isinstance(block[key], str) or not block[key].strip()):
            raise InputError(f"must be a non-empty string, got {shown(block[key])}", file=file, key=f"{where}.{key}")
    if block.get("grid_basis", "location") not in ("location", "market"):
        raise InputError(f"must be location or market, got {shown(block['grid_basis'])}", file=file, key=f"{where}.grid_basis")
    named = NAMED_METHODS.get(name) if name else None
    scope = block.get("power_scope", named.power_scope if named else "accelerator")
    if scope not in POWER_SCOPES:
        raise InputError(f"must be one of {', '.join(POWER_SCOPES)}, got {shown(scope)}", file=file, key=f"{where}.power_scope")
    pue = _number(block, "pue", file, where, minimum=1.0)
    if named is not None and named.pue in ("none", "in_power") and pue not in (None, 1.0):
        raise InputError(f"the method {name!r} applies no PUE on top of its power; give pue = 1 or another method",
                         file=file, key=f"{where}.pue")
    if named is not None and named.pue == "stated" and named.power != "measured" and pue is None:
        raise InputError(f"the method {name!r} multiplies by a PUE: give the card's pue", file=file, key=f"{where}.pue")
    devices, latency = _number(block, "devices", file, where, above=True), _number(block, "latency_s", file, where, above=True)
    if (devices is None) != (latency is None):
        raise InputError("devices and latency_s go together (a request's device time is devices x latency)", file=file, key=where)
    return ClaimMethod(
        name=name,
        power_w_per_device=_number(block, "power_w_per_device", file, where, above=True),
        power_scope=scope,
        pue=1.0 if pue is None else pue,
        pue_in_power=named is not None and named.pue == "in_power",
        grid_gco2_per_kwh=_number(block, "grid_gco2_per_kwh", file, where),
        grid_basis=block.get("grid_basis"),
        grid_source=block.get("grid_source"),
        device_hours=_number(block, "device_hours", file, where, above=True),
        devices=devices,
        latency_s=latency,
        extra_energy_mwh=_number(block, "extra_energy_mwh", file, where) or 0.0,
        embodied_tco2e=_number(block, "embodied_tco2e", file, where) or 0.0,
        uses_tdp=named is not None and named.power == "tdp",
        measured=named is not None and named.power == "measured",
        source=block.get("source") or (named.source if named else None),
    )


# ---------------------------------------------------------------------------------------------
# The card's arithmetic
# ---------------------------------------------------------------------------------------------
def method_energy_wh(device_hours, power_w_per_device, pue, extra_energy_wh=0.0):
    """The card's energy: device-hours x power per device x PUE, plus any energy it adds (Wh).

    Reference: Patterson et al. 2021, arXiv:2104.10350, §2 (hours x processors x average power x PUE);
    Luccioni et al. 2022, arXiv:2211.02001, §3 (GPU-hours x TDP, idle energy added separately).
    """
    return device_hours * power_w_per_device * pue + extra_energy_wh


def method_co2e_g(energy_wh, grid_gco2_per_kwh):
    """The card's operational CO2e: energy x grid factor (Wh / 1000 x g/kWh = g).

    Reference: Patterson et al. 2021, arXiv:2104.10350, §2; GHG Protocol Scope 2 Guidance (2015).
    """
    return energy_wh / 1000.0 * grid_gco2_per_kwh


def _normaliser(quantity: str) -> str | None:
    """A deployment's figure's normaliser ("per_request", ...), or None for a run total."""
    return next((n for n in NORMALISATIONS if quantity.endswith(f"_{n}")), None)


def full_quantity(quantity: str, available) -> str | None:
    """The full-scope output of the same kind as `quantity` (facility energy; operational or total CO2e):
    the accelerator- and IT-scope prefixes removed. None when there is none (embodied)."""
    for prefix in ("accelerator_facility_", "accelerator_", "it_"):
        if quantity.startswith(prefix) and quantity[len(prefix):] in available:
            return quantity[len(prefix):]
    base = quantity
    return base if base in available and not base.startswith("embodied_") else None


@dataclass(frozen=True)
class Arithmetic:
    """The card's figure recomputed from its own stated inputs (in the checked quantity's units).

    status: "consistent" (within `CONSISTENT_WITHIN`), "disagree", or "incomplete" (an input missing).
    relative_difference: stated / recomputed - 1 (nan where it cannot be computed).
    inputs: {name: (value, where it comes from)}; missing: the inputs the card does not state.
    """

    status: str
    stated: float
    recomputed: float
    relative_difference: float
    units: str
    inputs: dict = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    @property
    def sentence(self) -> str:
        if self.status == "incomplete":
            return f"the card's inputs are incomplete (no {', '.join(self.missing)}): its arithmetic cannot be checked"
        shown_inputs = " x ".join(f"{_g(v)} {INPUT_WORDS.get(k, k)}" for k, (v, _) in self.inputs.items() if v is not None)
        if self.status == "consistent":
            return (f"the card's arithmetic is consistent: its inputs ({shown_inputs}) give {_g(self.recomputed)} {self.units}, "
                    f"it states {_g(self.stated)} ({self.relative_difference:+.1%})")
        return (f"the card's figures disagree with each other: its inputs ({shown_inputs}) give {_g(self.recomputed)} "
                f"{self.units}, it states {_g(self.stated)} ({self.relative_difference:+.1%})")

    def to_dict(self) -> dict:
        return {"status": self.status, "stated": self.stated, "recomputed": _finite(self.recomputed),
                "relative_difference": _finite(self.relative_difference), "units": self.units,
                "inputs": {k: {"value": v, "from": w} for k, (v, w) in self.inputs.items()},
                "missing": list(self.missing), "sentence": self.sentence}


INPUT_WORDS = {"device_hours": "device-hours", "power_w_per_device": "W per device", "pue": "PUE",
               "grid_gco2_per_kwh": "gCO2e/kWh", "extra_energy_mwh": "MWh added", "embodied_tco2e": "t embodied added"}


def _g(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def method_device_hours(method: ClaimMethod, quantity: str, run_device_hours: float | None) -> tuple[float | None, str]:
    """The device-hours the card's figure covers, and where they come from."""
    if method.device_hours is not None:
        return method.device_hours, "the card"
    norm = _normaliser(quantity)
    if method.latency_s is not None and method.devices is not None and norm in ("per_request", "per_1k_requests"):
        per_request = method.devices * method.latency_s / 3600.0
        return per_request * (1000.0 if norm == "per_1k_requests" else 1.0), "the card (devices x latency)"
    if norm is None and run_device_hours is not None:
        return run_device_hours, "the scenario's [run]"
    return None, ""


def recompute(method: ClaimMethod, quantity: str, stated: float, units: str, *, tdp_w: float,
              run_device_hours: float | None) -> Arithmetic:
    """`stated` (in `units`, the checked quantity's) against what the card's own inputs give."""
    hours, hours_from = method_device_hours(method, quantity, run_device_hours)
    power = method.power_w_per_device if method.power_w_per_device is not None else (tdp_w if method.uses_tdp else None)
    power_from = "the card" if method.power_w_per_device is not None else "the accelerator's TDP"
    kind = quantity_kind(quantity)
    inputs: dict[str, tuple[Any, str]] = {"device_hours": (hours, hours_from), "power_w_per_device": (power, power_from)}
    if method.pue != 1.0:
        inputs["pue"] = (method.pue, "the card")
    if method.extra_energy_mwh:
        inputs["extra_energy_mwh"] = (method.extra_energy_mwh, "the card")
    if kind == "mass":
        inputs["grid_gco2_per_kwh"] = (method.grid_gco2_per_kwh, method.grid_source or "the card")
        if quantity.startswith("total_") and method.embodied_tco2e:
            inputs["embodied_tco2e"] = (method.embodied_tco2e, "the card")
    missing = tuple(k.replace("_", " ") for k, (v, _) in inputs.items() if v is None)
    if missing:
        return Arithmetic("incomplete", stated, math.nan, math.nan, units, inputs, missing)
    assert hours is not None and power is not None
    energy_wh = method_energy_wh(hours, power, method.pue, method.extra_energy_mwh * 1.0e6)
    if kind == "energy":
        value = convert(energy_wh, "Wh", units)
    else:
        assert method.grid_gco2_per_kwh is not None
        value = convert(method_co2e_g(energy_wh, method.grid_gco2_per_kwh), "g", units)
        if quantity.startswith("total_"):
            value += convert(method.embodied_tco2e, "t", units)
    if value == 0:
        diff = 0.0 if stated == 0 else math.inf
    else:
        diff = stated / value - 1.0
    status = "consistent" if abs(diff) <= CONSISTENT_WITHIN else "disagree"
    return Arithmetic(status, stated, value, diff, units, inputs)


# ---------------------------------------------------------------------------------------------
# The physics: the gap between the figure and the estimate, factor by factor
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Factor:
    """One factor of estimate / claim: its geometric mean and the 5th-95th percentiles of its draws.

    counted: whether the card counts this part of the footprint (host power, PUE, embodied);
    card, estimate: the card's value and the median of the draws of what it is compared with.
    """

    name: str
    label: str
    counted: bool
    card: float | None
    estimate: float | None
    geometric_mean: float
    interval: tuple[float, float]

    def phrase(self) -> str:
        return f"x{self.geometric_mean:.3g} from {self.label}"

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "counted_by_card": self.counted, "card": self.card,
                "estimate_median": self.estimate, "geometric_mean": self.geometric_mean, "p5": self.interval[0],
                "p95": self.interval[1]}


@dataclass(frozen=True)
class Decomposition:
    """estimate / claim per draw, and its factors (their per-draw product is the ratio exactly).

    estimate_quantity: the full-scope output compared with; ratio_geometric_mean, ratio_interval: the
    geometric mean and 5th-95th percentiles of estimate / claim; own_method_percentile: the claim's
    percentile among the draws of what the card's method counts (the factors it leaves out removed,
    and a TDP method's board-power factor: a TDP is a convention, not a claim about the run).
    """

    estimate_quantity: str
    ratio_geometric_mean: float
    ratio_interval: tuple[float, float]
    factors: tuple[Factor, ...]
    left_out: tuple[str, ...]
    own_method_percentile: float
    draws: dict = field(default_factory=dict, repr=False, compare=False)  # name -> per-draw factor; "ratio"

    @property
    def plausible_on_own_method(self) -> bool:
        lo, hi = PLAUSIBLE_PERCENTILES
        return lo <= self.own_method_percentile <= hi

    def to_dict(self) -> dict:
        return {"estimate_quantity": self.estimate_quantity, "definition": "estimate / claim per draw; factors multiply to it "
                "per draw; summaries are geometric means (which multiply too) and 5th-95th percentiles of the same draws",
                "ratio_geometric_mean": self.ratio_geometric_mean, "ratio_p5": self.ratio_interval[0],
                "ratio_p95": self.ratio_interval[1], "factors": [f.to_dict() for f in self.factors],
                "left_out": list(self.left_out), "own_method_percentile": self.own_method_percentile,
                "plausible_on_own_method": self.plausible_on_own_method}


def board_power_factor(accelerator_power_w, card_power_w):
    """Board power drawn vs the card's power per device. Patterson et al. 2021, arXiv:2104.10350, Table 3."""
    return accelerator_power_w / card_power_w


def host_power_factor(it_energy_mwh, accelerator_energy_mwh, card_host_share):
    """(1 + host / board) drawn vs the card's: `card_host_share` = the card's host energy / board energy.
    Luccioni et al. 2022, arXiv:2211.02001 (dynamic vs idle and host energy)."""
    return (it_energy_mwh / accelerator_energy_mwh) / (1.0 + card_host_share)


def pue_factor(facility_energy_mwh, it_energy_mwh, card_pue):
    """PUE drawn (facility / IT energy) vs the card's. The Green Grid, White Paper 49 (2012)."""
    return (facility_energy_mwh / it_energy_mwh) / card_pue


def grid_factor(operational_tco2e, facility_energy_mwh, card_gco2_per_kwh):
    """Grid factor drawn (t / MWh x 1000 = g/kWh) vs the card's. GHG Protocol Scope 2 Guidance (2015)."""
    return operational_tco2e * 1000.0 / facility_energy_mwh / card_gco2_per_kwh


def embodied_factor(total_tco2e, operational_tco2e, card_total_to_operational):
    """(total / operational) drawn vs the card's. Faiz et al. 2024 (LLMCarbon), arXiv:2309.14393."""
    return (total_tco2e / operational_tco2e) / card_total_to_operational


def _summary(x: np.ndarray) -> tuple[float, tuple[float, float]]:
    lo, hi = np.quantile(x, CI_QUANTILES)
    return float(np.exp(np.mean(np.log(x)))), (float(lo), float(hi))


def decompose(method: ClaimMethod, arithmetic: Arithmetic, quantity: str, claim_value: float, outputs: dict,
              ) -> Decomposition | str:
    """Split estimate / claim per draw into the factors the card's method differs on; a reason (str) when it cannot.

    ratio_i = estimate_i / claim = (recomputed / claim) x device time_i x board_i x host_i x PUE_i x grid_i
    x embodied_i, with every factor but device time a ratio of drawn outputs to the card's input;
    device time (device-hours per unit of the figure, drawn vs the card's) is what remains, so the
    product is exact per draw (for a run total it equals device-hours drawn / the card's).
    """
    if arithmetic.status == "incomplete":
        return f"the card's inputs are incomplete (no {', '.join(arithmetic.missing)})"
    target = full_quantity(quantity, outputs)
    needed = ("accelerator_power_w", "accelerator_energy_mwh", "it_energy_mwh", "energy_mwh")
    if target is None or any(k not in outputs for k in needed):
        return f"no full-scope estimate of {quantity} to compare with"
    y = np.asarray(outputs[target], dtype=np.float64)
    card = {k: v for k, (v, _) in arithmetic.inputs.items()}
    if claim_value <= 0 or arithmetic.recomputed <= 0 or not np.all(y > 0):
        return "undefined: the figure, its recomputation or the estimate is zero"
    mass = quantity_kind(quantity) == "mass"
    board_w, hours = np.asarray(outputs["accelerator_power_w"], np.float64), float(card["device_hours"])
    acc, it, fac = (np.asarray(outputs[k], np.float64) for k in ("accelerator_energy_mwh", "it_energy_mwh", "energy_mwh"))
    card_board_energy_mwh = hours * card["power_w_per_device"] / 1.0e6  # per unit of the figure: only the share matters
    host_share = method.extra_energy_mwh / card_board_energy_mwh if _normaliser(quantity) is None else 0.0
    draws: dict[str, np.ndarray] = {"arithmetic": np.full(y.shape, arithmetic.recomputed / claim_value)}
    draws["board_power"] = board_power_factor(board_w, card["power_w_per_device"])
    draws["host_power"] = host_power_factor(it, acc, host_share)
    draws["pue"] = pue_factor(fac, it, method.pue)
    if mass:
        draws["grid"] = grid_factor(np.asarray(outputs["operational_tco2e"], np.float64), fac, card["grid_gco2_per_kwh"])
        if target.startswith("total_"):
            card_op_t = arithmetic.recomputed - convert(method.embodied_tco2e, "t", arithmetic.units)
            op_name = target.replace("total_", "operational_", 1)
            card_ratio = arithmetic.recomputed / card_op_t if card_op_t > 0 else math.inf
            draws["embodied"] = embodied_factor(y, np.asarray(outputs[op_name], np.float64), card_ratio)
    ratio = y / claim_value
    rest = np.prod(np.stack(list(draws.values())), axis=0)
    draws["device_time"] = ratio / rest
    draws["ratio"] = ratio
    if not all(np.all(np.isfinite(v) & (v > 0)) for v in draws.values()):
        return "undefined: a factor is zero or not finite in some draws"
    host_counted = method.power_scope == "server" or method.extra_energy_mwh > 0
    pue_counted = method.pue != 1.0
    emb_counted = method.embodied_tco2e > 0
    median = {
        "board_power": (card["power_w_per_device"], float(np.median(board_w))),
        "pue": (method.pue, float(np.median(fac / it))),
        "grid": (card.get("grid_gco2_per_kwh"), float(np.median(np.asarray(outputs.get("operational_tco2e", fac)) * 1000.0 / fac))),
        "device_time": (hours, float(np.median(hours * draws["device_time"]))),
    }
    power_word = "TDP" if method.uses_tdp and method.power_w_per_device is None else f"the card's {_g(card['power_w_per_device'])} W"
    labels = {
        "arithmetic": ("the card's own arithmetic (its inputs vs its figure)", True),
        "device_time": ("device time (drawn vs the card's)", True),
        "board_power": (f"board power vs {power_word}" + (" (the card's power counts the host too)" if method.power_scope == "server" else ""), True),
        "host_power": ("host power not counted" if not host_counted else
                       "host power (within the card's power)" if method.power_scope == "server" else
                       "host power vs the card's added energy", host_counted),
        "pue": ("PUE not counted" if not pue_counted else f"PUE vs the card's {method.pue:g}", pue_counted),
        "grid": (f"grid factor vs the card's {_g(card.get('grid_gco2_per_kwh') or 0)} g/kWh"
                 + (f" ({method.grid_source})" if method.grid_source else ""), True),
        "embodied": ("embodied carbon not counted" if not emb_counted else "embodied carbon vs the card's", emb_counted),
    }
    order = ("arithmetic", "device_time", "board_power", "host_power", "pue", "grid", "embodied")
    factors = []
    for name in order:
        if name not in draws:
            continue
        gm, iv = _summary(draws[name])
        card_v, est = median.get(name, (None, None))
        factors.append(Factor(name, labels[name][0], labels[name][1], card_v, est, gm, iv))
    left_out = tuple(n for n in ("host_power", "pue", "embodied") if n in draws and not labels[n][1])
    # What the method counts, on its own conventions: the parts it leaves out removed, and a TDP in
    # place of the board's power (a rating, not a claim about the run); the facts it states kept.
    conventions = left_out + (("board_power",) if method.uses_tdp else ())
    own = y / np.prod(np.stack([draws[n] for n in conventions]), axis=0) if conventions else y
    gm, iv = _summary(ratio)
    return Decomposition(target, gm, iv, tuple(factors), left_out, float(percentile_of(own, claim_value)), draws)


# ---------------------------------------------------------------------------------------------
# Both verdicts, in words
# ---------------------------------------------------------------------------------------------
LEFT_OUT_WORDS = {"host_power": "host power", "pue": "PUE", "embodied": "embodied carbon"}


@dataclass(frozen=True)
class MethodVerdict:
    """A claim's method, its arithmetic verdict and its physics verdict.

    case: "inconsistent" (the card's figures disagree with each other), "implausible" (outside the
    central 99% even on its own method), "consistent" (the arithmetic holds and the figure is
    plausible on its method), or "incomplete" (the card's inputs cannot be recomputed).
    percentile: the claim's percentile on its own scope (as the check without a method).
    """

    method: ClaimMethod
    arithmetic: Arithmetic
    decomposition: Decomposition | None
    reason: str | None
    percentile: float
    estimate_is_energy: bool

    @property
    def case(self) -> str:
        if self.arithmetic.status == "disagree":
            return "inconsistent"
        if self.decomposition is not None and not self.decomposition.plausible_on_own_method:
            return "implausible"
        return "incomplete" if self.arithmetic.status == "incomplete" else "consistent"

    @property
    def summary(self) -> str:
        a, d = self.arithmetic, self.decomposition
        if a.status == "disagree":
            parts = [f"the card's figures disagree with each other (its own inputs give {_g(a.recomputed)} {a.units}; "
                     f"it states {_g(a.stated)}, {a.relative_difference:+.1%})"]
        elif a.status == "consistent":
            parts = ["the card's arithmetic is consistent"]
        else:
            parts = [f"the card's arithmetic cannot be checked (no {', '.join(a.missing)})"]
        if d is None:
            return "; ".join(parts) + (f"; no decomposition: {self.reason}" if self.reason else "")
        if d.left_out:
            parts.append("the method leaves out " + " and ".join(LEFT_OUT_WORDS[n] for n in d.left_out))
        if not d.plausible_on_own_method:
            parts.append(f"outside the physically plausible range even on its own method (percentile "
                         f"{d.own_method_percentile:.2f} of what its method counts)")
        what = "used" if self.estimate_is_energy else "emitted"
        norm = _normaliser(d.estimate_quantity)
        per = NORMALISATIONS[norm][3] if norm is not None else ""
        subject = ("the run" if norm is None else f"each {per}" if per.startswith("day") else
                   f"every {per} of the deployment" if per[0].isdigit() else f"each {per} of the deployment")
        parts.append(f"{subject} likely {what} {d.ratio_geometric_mean:.2g}x ({d.ratio_interval[0]:.2g}-"
                     f"{d.ratio_interval[1]:.2g}x) the stated figure")
        big = [f for f in d.factors if f.name != "arithmetic" and abs(math.log(f.geometric_mean)) >= math.log(1.02)]
        if big:
            parts.append(", ".join(f.phrase() for f in big))
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"case": self.case, "summary": self.summary, "method": self.method.to_dict(),
                "arithmetic": self.arithmetic.to_dict(), "physics": {
                    "percentile": self.percentile,
                    "decomposition": self.decomposition.to_dict() if self.decomposition is not None else None,
                    "reason": self.reason}}


def assess(method: ClaimMethod, *, quantity: str, claim_value: float, units: str, outputs: dict, percentile: float,
           tdp_w: float, run_device_hours: float | None) -> MethodVerdict:
    """Both verdicts on a claim with a stated method, from the check's draws (`outputs`, on the claim's basis)."""
    arithmetic = recompute(method, quantity, claim_value, units, tdp_w=tdp_w, run_device_hours=run_device_hours)
    result = decompose(method, arithmetic, quantity, claim_value, outputs)
    decomposition, reason = (None, result) if isinstance(result, str) else (result, None)
    return MethodVerdict(method, arithmetic, decomposition, reason, percentile, quantity_kind(quantity) == "energy")
