"""A distribution of CO2e as a Hugging Face ``co2_eq_emissions`` model-card block (YAML).

The Hub's fields (huggingface.co/docs/hub/model-cards-co2): ``emissions`` in grams of CO2e, the
figure CodeCarbon and other cards report, which is OPERATIONAL emissions (here the median of the
operational draws); ``source``; ``training_type``; ``geographical_location``; ``hardware_used``.
carbon-mc adds clearly named keys: the 90% interval of the same quantity, the total including
embodied carbon (median and 90% interval, grams), the accounting basis, the method and a short
reference to the priors (their sources are in ``carbon-mc list priors`` and in every netCDF).
`carbon_mc.claims.front_matter` writes the block into a model card's README.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CarbonMCError, InputError, NumericError, close_matches, shown
from ..footprint import OUTPUTS
from ..priors import Prior, load_priors
from ..sampling import Simulator, package_version
from ..sampling.args import check_num_draws, check_real, check_text, check_training_scenario, check_values
from ..sampling.simulator import check_simulator
from ..scenarios.training import Scenario

__all__ = ["CLOUD_PROVIDERS", "OPERATIONAL", "TRAINING_TYPES", "ModelCardFields", "card_quantity", "check_training_type",
           "environmental_values", "hardware_used", "location_name", "model_card_block", "model_card_from_draws", "sig_text"]

OPERATIONAL = ("operational_tco2e", "accelerator_operational_tco2e")  # what a card's `emissions` may report
# The values the Hub documents for co2_eq_emissions.training_type (huggingface.co/docs/hub/model-cards-co2:
# 'training_type: "pre-training or fine-tuning"').
TRAINING_TYPES = ("pre-training", "fine-tuning")


def check_training_type(value, *, key: str = "training_type") -> str:
    """`value` if it is one of the Hub's `TRAINING_TYPES`; else an error naming the close ones.

    Raises:
      CarbonMCError: any other value ("pretraining", "Fine-Tuning", "inference").
    """
    if value in TRAINING_TYPES:
        return value
    text = str(value).strip().lower().replace("_", "-").replace(" ", "-")
    guess = {"pretraining": "pre-training", "finetuning": "fine-tuning", "fine-tune": "fine-tuning"}.get(text.replace("-", ""), text)
    hint = f"did you mean {guess!r}?" if guess in TRAINING_TYPES else close_matches(text, TRAINING_TYPES)
    raise CarbonMCError(f"{shown(value)} is not a training type of the Hub's co2_eq_emissions ("
                        f"{' or '.join(TRAINING_TYPES)}); {hint}", key=key)


@dataclass(frozen=True)
class ModelCardFields:
    """The Hub fields a caller may set; None derives them from the scenario."""

    training_type: str = "pre-training"
    geographical_location: str | None = None
    hardware_used: str | None = None
    days: float | None = None  # wall-clock days of the run: derives the device count from device-hours (`hardware_used`)


def card_quantity(quantity: str | None) -> str:
    """The operational CO2e a model card reports for a check on `quantity`: it, if operational, else operational_tco2e."""
    check_text(quantity, "quantity", optional=True)
    return quantity if quantity in OPERATIONAL else "operational_tco2e"


# ---------------------------------------------------------------------------------------------
def _yaml_scalar(value) -> str:
    """One YAML scalar: numbers bare, strings double-quoted with escapes (YAML 1.2 §7.3.1)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NumericError(f"cannot write {value!r} to a model card")
        text = repr(value)
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text  # 1e-05 -> 1.0e-05: a float in YAML 1.1 too
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def _yaml(obj, indent: int = 0) -> list[str]:
    pad = " " * indent
    lines = []
    for key, value in obj.items():
        key = key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else json.dumps(key, ensure_ascii=False)
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.extend(_yaml(value, indent + 2))
        elif isinstance(value, (list, tuple)):
            lines.append(f"{pad}{key}:")
            lines.extend(f"{pad}  - {_yaml_scalar(v)}" for v in value)
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(value)}")
    return lines


def _sig(x: float, digits: int = 4):
    """`x` rounded to `digits` significant figures; an int when that loses nothing."""
    if x == 0 or not math.isfinite(x):
        return 0 if x == 0 else x
    r = float(f"{x:.{digits}g}")
    return int(r) if abs(r) >= 10 ** (digits - 1) else r


def location_name(grid: Prior | None) -> str:
    """A readable place for a grid prior: the head of its description and its year.

    e.g. "United States national average, 2023", "Google Cloud us-central1, 2024".
    """
    if grid is None:
        return "not given"
    if grid.variant == "scenario":
        return "not given (grid factor set in the scenario)"
    head = re.split(r"[,:;(]| used by| \d", " ".join(grid.description.split()), maxsplit=1)[0].strip().rstrip(".")
    return f"{head or grid.variant}, {grid.year}" if grid.year else (head or grid.variant)


def sig_text(x: float, digits: int = 3) -> str:
    """`x` with `digits` significant figures at every scale, as text: 1,083,000; 0.000412; 3.2e-09 (never "0.000").

    Thousands separated by commas from 1,000 up; positional notation down to 1e-4; scientific below.
    """
    if not math.isfinite(x):
        raise NumericError(f"cannot write {x!r} to a model card")
    if x == 0:
        return "0"
    r = float(f"{x:.{digits}g}")
    if abs(r) >= 1000:
        return f"{r:,.0f}"
    if abs(r) >= 1e-4:
        return np.format_float_positional(r, trim="-")
    return f"{r:.{digits - 1}e}"


def _count_text(x: float) -> str:
    """A count as published: whole numbers in full with separators (1,082,990), others with significant figures."""
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else sig_text(x, 4)


def hardware_used(scenario: Scenario, days: float | None = None) -> str:
    """The Hub's ``hardware_used``: the device count and the accelerator, with the device-hours.

    The count is the scenario's `devices`; else, with the run's wall-clock `days`, derived as
    device-hours / (days x 24 h), and said so; else the device-hours alone, saying the count is not stated.
    """
    name = load_priors().hardware.get(scenario.hardware, {}).get("name", scenario.hardware)
    hours = f"{_count_text(scenario.device_hours)} device-hours" if scenario.device_hours else None
    if scenario.devices:
        count = f"{int(scenario.devices):,}" if float(scenario.devices).is_integer() else sig_text(scenario.devices)
        return f"{count} x {name}" + (f" ({hours})" if hours else "")
    if scenario.device_hours and days:
        derived = scenario.device_hours / (days * 24.0)
        return (f"{sig_text(derived)} x {name} (derived: {hours} / ({sig_text(days, 4)} days x 24 h); the device count is "
                "not stated in the scenario)")
    if scenario.device_hours:
        return f"{hours} of {name} (device count not stated; give the run's days to derive it)"
    return f"{name} (device-hours derived from compute and utilization; device count not stated)"


def _hardware(scenario: Scenario) -> str:
    return hardware_used(scenario)


def _source(scenario: Scenario) -> str:
    facts = f"; run facts: {scenario.source}" if scenario.source else ""
    return f"carbon-mc {package_version('carbon-mc')} (Monte Carlo estimate for '{scenario.name}'{facts})"


def _grams(values_t) -> np.ndarray:
    return np.asarray(values_t, dtype=np.float64) * 1e6


def _median_interval(g: np.ndarray) -> tuple:
    p5, median, p95 = (float(v) for v in np.quantile(g, [0.05, 0.5, 0.95]))
    return _sig(median), [_sig(p5), _sig(p95)]


def _check_emissions(scenario: Scenario, g: np.ndarray, quantity: str, accounting: dict, inputs: dict | None) -> None:
    """Refuse what no card may say: a median or 90% interval of the emissions that is not finite, or
    negative, or zero while the grid factor is not (zero is right only on a zero grid factor, such as
    market-based electricity matched 100% by renewable purchases, which `inputs` then shows)."""
    values = np.asarray(g, dtype=np.float64)
    finite = values.size > 0 and bool(np.all(np.isfinite(values)))
    p5, median, p95 = (float(v) for v in np.quantile(values, [0.05, 0.5, 0.95])) if finite else (math.nan,) * 3
    factor = "market_gco2_per_kwh" if str(accounting.get("grid_basis")) == "market" else "grid_gco2_per_kwh"
    zero_grid = (inputs or {}).get(factor) == "0"
    if finite and p5 >= 0 and (median > 0 or (median == 0 and zero_grid)):
        return
    bad = values[~np.isfinite(values)] if values.size else values
    what = (f"{bad.size:,} of {values.size:,} draws are not finite" if bad.size else
            f"median {median:.6g} g, 90% interval {p5:.6g} to {p95:.6g} g" if values.size else "no draws")
    given = "; ".join(f"{k} {v}" for k, v in (inputs or {}).items())
    raise NumericError(
        f"the model card's emissions ({quantity} x 1e6 g, {accounting['grid_basis']}-based) would be wrong: {what}. "
        "A card's emissions must be a finite number > 0 (0 only on a zero grid factor)"
        + (f"; inputs: {given}" if given else "") + ". Check the scenario's priors and [accounting]",
        file=scenario.file)


def _inputs_behind(model: Simulator, outputs: dict) -> dict[str, str]:
    """What the card's emissions are made of, for an error message: energy and the grid factor in use."""
    found: dict[str, str] = {}
    for name in ("energy_mwh", "accelerator_facility_energy_mwh"):
        if name in outputs:
            v = np.asarray(outputs[name], dtype=np.float64)
            found[name] = f"median {float(np.median(v)):.6g} MWh" if v.size else "no draws"
    for name in ("grid_gco2_per_kwh", "market_gco2_per_kwh"):
        prior = model.priors.get(name)
        if prior is None:
            continue
        if prior.is_fixed:
            found[name] = "0" if prior.fixed_value == 0 else f"fixed {prior.fixed_value:.6g} g/kWh"
            continue
        try:
            mid = float(np.asarray(prior.icdf32(np.array([0.5], dtype=np.float32)), np.float64).ravel()[0])
            found[name] = f"median {mid:.6g} g/kWh (variant {prior.variant})"
        except Exception:  # a joint or exotic prior: named, not summarized
            found[name] = f"variant {prior.variant}"
    return found


# ---------------------------------------------------------------------------------------------
def model_card_block(
    scenario: Scenario,
    values_t: np.ndarray,
    *,
    total_t: np.ndarray | None = None,
    quantity: str = "operational_tco2e",
    accounting: dict | None = None,
    num_draws: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    priors_ref: str | None = None,
    training_type: str = "pre-training",
    geographical_location: str | None = None,
    hardware_used: str | None = None,
    inputs: dict[str, str] | None = None,
) -> str:
    """A Hugging Face ``co2_eq_emissions`` metadata block (YAML) for a distribution of CO2e.

    Args:
      scenario: the run.
      values_t: draws of `quantity`, an operational CO2e (`OPERATIONAL`), in tonnes: ``emissions``
        is their median in grams, ``emissions_interval_90`` their central 90% interval.
      total_t: draws of total CO2e including embodied carbon (t), reported under
        ``total_emissions_with_embodied`` (median) and ``..._interval_90``; None leaves them out.
      accounting: {"grid_basis": ..., "pue_included": ...} of the draws (default: the scenario's).
      num_draws, seed: how the draws were made, for the method line.
      sampler: "qmc" or "mc", the sampler of the draws, named on the method line (None: "Monte Carlo").
      priors_ref: one line on the priors used (``carbon_mc_priors``); None leaves it out.
      training_type, geographical_location, hardware_used: the Hub's fields; None derives the last
        two from the scenario. `training_type` must be one of `TRAINING_TYPES`.
      inputs: {name: what it was} of the inputs behind the draws, named when the emissions are refused.

    Raises:
      CarbonMCError: `quantity` is not an operational CO2e, or `training_type` is not the Hub's.
      NumericError: the draws' median or interval is not finite, negative, or zero on a grid factor that is not.
    """
    check_training_scenario(scenario)
    values_t = check_values(values_t, "values_t")
    total_t = None if total_t is None else check_values(total_t, "total_t")
    check_text(quantity, "quantity")
    if quantity not in OPERATIONAL:
        raise InputError(f"quantity must be an operational CO2e ({' or '.join(OPERATIONAL)}): a model card's emissions "
                         f"are; got {quantity}")
    if accounting is not None and (not isinstance(accounting, dict) or set(accounting) != {"grid_basis", "pue_included"}):
        raise InputError(f"accounting must be a dict with grid_basis and pue_included, got {shown(accounting)}")
    if num_draws is not None:
        check_num_draws(num_draws)
    for name, value in (("sampler", sampler), ("priors_ref", priors_ref), ("geographical_location", geographical_location),
                        ("hardware_used", hardware_used)):
        check_text(value, name, optional=True)
    check_text(training_type, "training_type")
    if inputs is not None and (not isinstance(inputs, dict) or not all(isinstance(k, str) for k in inputs)):
        raise InputError(f"inputs must be a dict of input name -> description, got {shown(inputs)}")
    check_training_type(training_type)
    g = _grams(values_t)
    accounting = accounting or {"grid_basis": scenario.accounting.grid_basis, "pue_included": scenario.accounting.pue_included}
    _check_emissions(scenario, g, quantity, accounting, inputs)
    median, interval = _median_interval(g)
    draws_text = f"{num_draws:,} draws, seed {seed}" if num_draws is not None else f"{g.size:,} draws"
    block = {
        "emissions": median,
        "source": _source(scenario),
        "training_type": training_type,
        "geographical_location": geographical_location or location_name(None),
        "hardware_used": _hardware(scenario) if hardware_used is None else hardware_used,
        "emissions_interval_90": interval,
        "emissions_statistic": "median",
        "emissions_quantity": f"{quantity}: {OUTPUTS[quantity].long_name}, in grams",
    }
    if total_t is not None:
        total_median, total_interval = _median_interval(_grams(total_t))
        block["total_emissions_with_embodied"] = total_median
        block["total_emissions_with_embodied_interval_90"] = total_interval
    block["accounting"] = {"grid_basis": f"{accounting['grid_basis']}-based", "pue_included": bool(accounting["pue_included"])}
    how = {"qmc": "randomized quasi-Monte Carlo (scrambled Sobol')", "mc": "Monte Carlo"}.get(sampler or "mc", "Monte Carlo")
    block["method"] = (f"carbon-mc: {how} over cited priors ({draws_text}); emissions is the median of the operational "
                       "CO2e and emissions_interval_90 its central 90% interval, in grams CO2e")
    if priors_ref:
        block["carbon_mc_priors"] = priors_ref
    return "\n".join(_yaml({"co2_eq_emissions": block})) + "\n"


def priors_reference(model: Simulator) -> str:
    """One line on the priors `model` drew from: bundled or overlay files, and where the sources are listed."""
    overlays = sorted({Path(f).parent.name for f in model.table.files if Path(f).parent != Path(".")})
    extra = f" with overlays {', '.join(overlays)}" if overlays else ""
    return (f"carbon-mc {package_version('carbon-mc')} priors{extra}; every prior with its units and source: "
            "`carbon-mc list priors`, and the netCDF of `carbon-mc run --out`")


def model_card_from_draws(
    scenario: Scenario,
    model: Simulator,
    outputs: dict,
    quantity: str,
    *,
    num_draws: int,
    seed: int,
    fields: ModelCardFields = ModelCardFields(),
    sampler: str | None = None,
) -> str:
    """`model_card_block` for the draws `outputs` of `model`: operational `quantity`, total, accounting, priors.

    Raises:
      CarbonMCError: `quantity` is not an operational CO2e, or `outputs` has no draws of it.
    """
    check_training_scenario(scenario)
    check_simulator(model)
    check_text(quantity, "quantity")
    if not isinstance(outputs, dict):
        raise InputError(f"outputs must be a dict of draws (output name -> array), got {shown(outputs)}")
    if quantity not in outputs:
        raise InputError(f"quantity {quantity!r} has no draws in outputs")
    if not isinstance(fields, ModelCardFields):
        raise InputError(f"fields must be a ModelCardFields, got {shown(fields)}")
    check_num_draws(num_draws), check_text(sampler, "sampler", optional=True)
    if fields.days is not None:
        check_real(fields.days, "fields.days", above=0.0)
    return model_card_block(
        scenario, outputs[quantity], total_t=outputs.get("total_tco2e"), quantity=quantity, num_draws=num_draws,
        seed=seed, sampler=sampler, accounting={"grid_basis": model.run.grid_basis, "pue_included": model.run.pue_included},
        priors_ref=priors_reference(model), training_type=fields.training_type,
        geographical_location=fields.geographical_location or location_name(model.priors.get("grid_gco2_per_kwh")),
        hardware_used=fields.hardware_used or hardware_used(scenario, fields.days), inputs=_inputs_behind(model, outputs),
    )


# The data-centre keys of `priors/datacenter.toml` that are cloud providers, as the Hub template's "Cloud Provider" names them.
CLOUD_PROVIDERS = {"aws": "Amazon Web Services", "google": "Google Cloud", "microsoft_azure": "Microsoft Azure"}


def _mass_text(t: float) -> str:
    """A mass of CO2e given in tonnes, in t, kg or g, whichever reads best, with significant figures."""
    if abs(t) >= 1.0:
        return f"{sig_text(t)} t"
    if abs(t) >= 1e-3:
        return f"{sig_text(t * 1e3)} kg"
    return f"{sig_text(t * 1e6)} g"


def environmental_values(scenario: Scenario, model: Simulator, outputs: dict, quantity: str, *,
                         fields: ModelCardFields = ModelCardFields()) -> dict[str, str]:
    """The Hub template's "Environmental Impact" fields, from the same draws as the ``co2_eq_emissions`` block.

    Hardware Type and Compute Region as the block's ``hardware_used`` and ``geographical_location``;
    Hours used: the device-hours (median and 90% interval where they are drawn); Cloud Provider: the
    data centre, when it is a cloud provider (`CLOUD_PROVIDERS`; otherwise left unset); Carbon
    Emitted: the median and 90% interval of `quantity` (operational CO2e) and the total with embodied carbon.
    """
    def mid(name):
        v = np.asarray(outputs[name], dtype=np.float64)
        lo, m, hi = (float(x) for x in np.quantile(v, [0.05, 0.5, 0.95]))
        return lo, m, hi

    values = {"Hardware Type": fields.hardware_used or hardware_used(scenario, fields.days),
              "Compute Region": fields.geographical_location or location_name(model.priors.get("grid_gco2_per_kwh"))}
    if scenario.device_hours:
        values["Hours used"] = f"{_count_text(scenario.device_hours)} device-hours"
    elif "device_hours" in outputs:
        lo, m, hi = mid("device_hours")
        values["Hours used"] = f"{sig_text(m)} device-hours (90% interval {sig_text(lo)}-{sig_text(hi)}; derived from compute)"
    if fields.days:
        values["Hours used"] = values.get("Hours used", "") + f" over {sig_text(fields.days, 4)} days"
    if scenario.datacenter in CLOUD_PROVIDERS:
        values["Cloud Provider"] = CLOUD_PROVIDERS[scenario.datacenter]
    lo, m, hi = mid(quantity)
    basis = f"{model.run.grid_basis}-based grid, PUE {'included' if model.run.pue_included else 'excluded'}"
    text = f"{_mass_text(m)} CO2e operational (90% interval {_mass_text(lo)} to {_mass_text(hi)}; {basis})"
    if "total_tco2e" in outputs:
        _, tm, _ = mid("total_tco2e")
        text += f", {_mass_text(tm)} with embodied carbon"
    values["Carbon Emitted"] = text + "; a carbon-mc Monte Carlo estimate, as the co2_eq_emissions metadata"
    return values


def claim_checks_yaml(checks) -> str:
    """The claims checked that state their method, as YAML lines to go under ``co2_eq_emissions``
    (``carbon_mc_claim_checks``: per claim, both verdicts and the decomposition's factors); "" when none."""
    entries = {}
    for c in checks:
        m = getattr(c, "method", None)
        if m is None:
            continue
        a, d = m.arithmetic, m.decomposition
        entry: dict = {"figure": f"{sig_text(c.claim.value, 4)} {c.claim.unit}", "quantity": c.quantity, "case": m.case,
                       "arithmetic": a.status + ("" if a.status == "incomplete" else f" ({a.relative_difference:+.1%})"),
                       "percentile": _sig(c.percentile, 3)}
        if d is not None:
            entry["estimate_over_claim"] = _sig(d.ratio_geometric_mean, 3)
            entry["estimate_over_claim_interval_90"] = [_sig(d.ratio_interval[0], 3), _sig(d.ratio_interval[1], 3)]
            entry["factors"] = {f.name: _sig(f.geometric_mean, 3) for f in d.factors}
            entry["left_out"] = list(d.left_out) or ["nothing"]
        entry["verdict"] = m.summary
        entries[c.claim.label or f"{c.claim.value:g} {c.claim.unit}"] = entry
    if not entries:
        return ""
    return "\n".join(_yaml({"carbon_mc_claim_checks": entries}, 2)) + "\n"
