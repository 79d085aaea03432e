"""Which inputs of which entries share a random stream: the inventory's sharing rules.

An organisation's runs are not independent: runs in the same data centre share its unknown PUE,
runs on the same grid in the same year share its unknown carbon intensity, runs on the same
hardware class share the unknown share of TDP it draws and its embodied carbon. Summing entries
drawn independently would understate the spread of the total (the errors would cancel as 1/sqrt(N)
where in truth they add up). So each drawn input of each entry gets a random stream:

- a *shared* input draws from a stream named after what is shared: the quantity, the variant the
  entry selected and a hash of that prior's family and parameters (`shared_stream`), so two entries
  on the same grid variant and year draw the same grid values in every draw, and two entries on
  different grids draw independently;
- a *run-specific* input (`RUN_SPECIFIC`: MFU, the run's own overheads and load, tokens per request,
  and any prior the scenario sets itself in ``[priors]``) draws from a stream of its own: the
  engine's stream for ``<quantity>@entry`` with the entry's id folded in (`entry_words`), so it is
  independent across entries.

The rules (`RULES`) say which shared quantities fall under which kind of sharing; a report may
switch rules off, and an entry may opt out of any (``independent = ["datacenter"]``, or ``"all"``),
which makes its inputs under those rules its own. Every drawn quantity not named by a rule nor
run-specific falls under ``"constants"`` (scaling-law constants and other physical constants).
"""

from __future__ import annotations

import hashlib
import json

from ..priors import Prior

__all__ = ["RULES", "RUN_SPECIFIC", "entry_words", "own_stream", "rule_of", "shared_stream"]

RULES: dict[str, tuple[str, ...]] = {
    "grid": ("grid_gco2_per_kwh", "market_gco2_per_kwh"),  # same place and year (and market instrument)
    "datacenter": ("pue",),  # same data centre (class)
    "hardware": (  # same hardware class: its real power, host power, embodied carbon and life
        "accelerator_power_tdp_fraction", "server_power_w_per_device", "embodied_kgco2e_per_device",
        "embodied_kgco2e_per_server", "service_life_years", "lifetime_utilization_fraction",
        "serving_memory_bound_power_tdp_fraction", "serving_idle_power_tdp_fraction", "serving_host_power_w_per_device",
    ),
    "constants": (),  # every other drawn quantity that is not run-specific (scaling-law constants, ...)
}
RUN_SPECIFIC = frozenset({
    "mfu_fraction", "device_time_overhead_factor", "moe_mfu_ratio", "project_experiment_factor",
    "decode_mfu_fraction", "prefill_mfu_fraction", "memory_bandwidth_fraction", "serving_busy_fraction",
    "serving_over_provisioning_factor", "input_tokens_per_request", "output_tokens_per_request",
    # a deployment's weighted precision / stack / load choices: which one it runs, and each load choice's own priors
    "serving_precision_quantile", "serving_stack_quantile", "serving_load_quantile",
    *(f"{q}_{load}" for q in ("serving_busy_fraction", "serving_over_provisioning_factor")
      for load in ("benchmark", "fleet", "on_demand")),
})
SCENARIO_VARIANT = "scenario"  # the variant of a prior a scenario sets itself ([priors], [accounting])


def rule_of(name: str, prior: Prior) -> str | None:
    """The sharing rule input `name` falls under, or None where it is run-specific."""
    if name in RUN_SPECIFIC or prior.variant == SCENARIO_VARIANT:
        return None
    for rule, names in RULES.items():
        if name in names:
            return rule
    return "constants"


def prior_hash(prior: Prior) -> str:
    """12 hex digits of the prior's family and parameters: two priors with the same hash draw alike."""
    text = json.dumps([prior.family, prior.params, prior.num_columns], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def shared_stream(name: str, prior: Prior) -> str:
    """The stream name of a shared input: quantity, selected variant and the prior's hash."""
    return f"{name}@{prior.variant}#{prior_hash(prior)}"


def own_stream(name: str) -> str:
    """The stream name of a run-specific input, before the entry's id is folded in (`entry_words`)."""
    return f"{name}@entry"


def entry_words(entry_id: str) -> tuple[int, int]:
    """Two 31-bit words from the entry's id, folded into its own streams' keys (a 62-bit hash: no two
    entries of any real inventory collide)."""
    digest = hashlib.sha256(entry_id.encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF, int.from_bytes(digest[4:8], "little") & 0x7FFFFFFF


def stream_plan(priors: dict[str, Prior], rules: tuple[str, ...], independent: tuple[str, ...]) -> dict[str, str | None]:
    """{drawn input: its shared stream name, or None where the entry draws it on its own stream}."""
    out: dict[str, str | None] = {}
    for name, prior in priors.items():
        if prior.is_fixed:
            continue
        rule = rule_of(name, prior)
        out[name] = shared_stream(name, prior) if rule is not None and rule in rules and rule not in independent else None
    return out
