"""A distribution of CO2e as a Hugging Face ``co2_eq_emissions`` model-card block (YAML).

The Hub's fields (huggingface.co/docs/hub/model-cards-co2): ``emissions`` in grams (here the
median), ``source``, ``training_type``, ``geographical_location``, ``hardware_used``. carbon-mc adds
the 90% interval (grams), the quantity, the accounting basis, the method and the source of every prior.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from ..errors import CarbonMCError
from ..footprint import OUTPUTS
from ..priors import load_priors
from ..sampling import Simulator, package_version
from ..scenario import Scenario

__all__ = ["ModelCardFields", "card_quantity", "model_card_block", "model_card_from_draws"]


@dataclass(frozen=True)
class ModelCardFields:
    """The Hub fields a caller may set; None derives them from the scenario."""

    training_type: str = "pre-training"
    geographical_location: str | None = None
    hardware_used: str | None = None


def card_quantity(quantity: str | None) -> str:
    """The CO2e quantity a model card reports for a check on `quantity`: it, if CO2e, else total_tco2e."""
    return quantity if quantity and quantity.endswith("_tco2e") else "total_tco2e"


# ---------------------------------------------------------------------------------------------
def _yaml_scalar(value) -> str:
    """One YAML scalar: numbers bare, strings double-quoted with escapes (YAML 1.2 §7.3.1)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value!r} to a model card")
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def _yaml(obj, indent: int = 0) -> list[str]:
    pad = " " * indent
    lines = []
    for key, value in obj.items():
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


def _location(scenario: Scenario) -> str:
    if scenario.region:
        return f"grid region '{scenario.region}' (carbon-mc priors)"
    return "not given (grid factor fixed in the scenario)"


def _hardware(scenario: Scenario) -> str:
    name = load_priors().hardware.get(scenario.hardware, {}).get("name", scenario.hardware)
    if scenario.devices:
        return f"{int(scenario.devices):,} x {name}"
    if scenario.device_hours:
        return f"{scenario.device_hours:,.0f} device-hours of {name}"
    return f"{name} (device-hours derived from compute and utilization)"


def _source(scenario: Scenario) -> str:
    facts = f" (run facts: {scenario.source})" if scenario.source else ""
    return f"carbon-mc {package_version('carbon-mc')} Monte Carlo estimate for '{scenario.name}'" + facts


# ---------------------------------------------------------------------------------------------
def model_card_block(
    scenario: Scenario,
    values_t: np.ndarray,
    *,
    quantity: str = "total_tco2e",
    accounting: dict | None = None,
    num_draws: int | None = None,
    seed: int | None = None,
    sources: dict[str, str] | None = None,
    training_type: str = "pre-training",
    geographical_location: str | None = None,
    hardware_used: str | None = None,
) -> str:
    """A Hugging Face ``co2_eq_emissions`` metadata block (YAML) for a distribution of CO2e.

    Args:
      scenario: the run.
      values_t: draws of `quantity` in tonnes CO2e.
      accounting: {"grid_basis": ..., "pue_included": ...} of the draws (default: the scenario's).
      num_draws, seed: how the draws were made, for the method line.
      sources: {input: source} of the priors used.
      training_type, geographical_location, hardware_used: the Hub's fields; None derives the last
        two from the scenario.

    Raises:
      CarbonMCError: `quantity` is not in t CO2e.
      ValueError: a percentile of the draws is not finite.
    """
    if OUTPUTS[quantity].units != "t":
        raise CarbonMCError(f"a model card reports CO2e; {quantity} is not in t CO2e")
    g = np.asarray(values_t, dtype=np.float64) * 1e6
    p5, median, p95 = (float(v) for v in np.quantile(g, [0.05, 0.5, 0.95]))
    accounting = accounting or {"grid_basis": scenario.accounting.grid_basis, "pue_included": scenario.accounting.pue_included}
    draws_text = f"{num_draws:,} draws, seed {seed}" if num_draws is not None else f"{g.size:,} draws"
    block = {
        "co2_eq_emissions": {
            "emissions": _sig(median),
            "source": _source(scenario),
            "training_type": training_type,
            "geographical_location": _location(scenario) if geographical_location is None else geographical_location,
            "hardware_used": _hardware(scenario) if hardware_used is None else hardware_used,
            "emissions_interval_90": [_sig(p5), _sig(p95)],
            "emissions_statistic": "median",
            "emissions_quantity": quantity,
            "accounting": {
                "grid_basis": f"{accounting['grid_basis']}-based",
                "pue_included": bool(accounting["pue_included"]),
            },
            "method": f"carbon-mc: Monte Carlo over cited priors ({draws_text}); emissions is the median "
                      "and emissions_interval_90 the central 90% interval, in grams CO2e",
            "priors_sources": [f"{k}: {v}" for k, v in sorted((sources or {}).items())],
        }
    }
    return "\n".join(_yaml(block)) + "\n"


def model_card_from_draws(
    scenario: Scenario,
    model: Simulator,
    outputs: dict,
    quantity: str,
    *,
    num_draws: int,
    seed: int,
    fields: ModelCardFields = ModelCardFields(),
) -> str:
    """`model_card_block` for the draws `outputs` of `model`: its accounting basis and its priors' sources.

    Raises:
      CarbonMCError: `quantity` is not in t CO2e.
      KeyError: `outputs` has no `quantity`.
    """
    return model_card_block(
        scenario, outputs[quantity], quantity=quantity, num_draws=num_draws, seed=seed,
        accounting={"grid_basis": model.run.grid_basis, "pue_included": model.run.pue_included},
        sources={n: p.source for n, p in model.priors.items()}, training_type=fields.training_type,
        geographical_location=fields.geographical_location, hardware_used=fields.hardware_used,
    )
