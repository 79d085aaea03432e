"""Check published figures against the distribution a scenario implies.

`check_claim` draws the scenario (on the claim's accounting basis) and answers where the claim
falls (its percentile, P(true value >= claim)), how far off it is (claim / X with its 90% interval)
and what it would take (`carbon_mc.claims.reach`). `check_claims` checks several on one set of draws
per accounting basis; `check_scenario` also writes the model card from those same draws.

One number per quantity, seed and draw count: checks draw with `CHECK_METHOD`, the sampler of
``carbon-mc run`` and `carbon_mc.estimate` (randomized quasi-Monte Carlo), so a check on the
scenario's own accounting basis sees exactly the draws a run with the same seed summarizes. A check
on another basis (PUE excluded, market-based grid) keeps common random numbers with them: every
input the two bases share takes the same uniforms, column by input name, and an input only the
other basis draws takes its own Monte Carlo stream (`simulate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import CarbonMCError, close_matches, shown
from ..priors import PriorTable
from ..results.finite import apply_policy
from ..results.statistics import percentile_of
from ..sampling import BLOCK, DEFAULT_CHUNK, DEFAULT_METHOD, Simulator, build_simulator, draw, evaluate, sampler
from ..sampling.args import (
    check_accounting,
    check_any_scenario_object,
    check_draw_args,
    check_real,
    check_text,
)
from ..sampling.args import check_scenario as check_scenario_arg
from ..sampling.dispatch import kept_in_blocks
from ..scenarios import AnyScenario, load_any_scenario
from ..scenarios.deployment import ServingScenario
from ..scenarios.training import Claim, Scenario
from ..scenarios.units import ALL_CHECKABLE, CHECKABLE, SERVING_CHECKABLE, default_quantity, parse_unit, to_quantity_units
from .method import MethodVerdict, assess
from .model_card import ModelCardFields, card_quantity, claim_checks_yaml, environmental_values, model_card_from_draws
from .reach import input_columns, input_shifts, reach_factors
from .result import ClaimCheck, ScenarioCheck

__all__ = [
    "CHECK_METHOD",
    "CI_PROB",
    "TAIL_FRACTION",
    "Claim",
    "check_claim",
    "check_claims",
    "check_scenario",
    "make_claim",
    "scenario_claims",
    "select_claims",
    "simulate",
]

CI_PROB = 0.90
TAIL_FRACTION = 0.01  # when no draw reaches a claim, shifts are read from this share of draws nearest it
CHECK_METHOD = DEFAULT_METHOD  # the sampler of `carbon-mc run` and `estimate`: the same draws for the same seed


# ---------------------------------------------------------------------------------------------
def simulate(
    scenario: AnyScenario | str | Path,
    *,
    num_draws: int = 100_000,
    seed: int = 0,
    grid_basis: str | None = None,
    pue_included: bool | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    nonfinite: str = "refuse",
) -> tuple[Simulator, dict, dict]:
    """Draw a scenario on a given accounting basis: (simulator, inputs, outputs), NumPy arrays over draws.

    Raises:
      CarbonMCError: the scenario cannot be loaded, or the basis is market-based and the scenario
        has no market-based grid factor.
      NumericError: draws that are not finite, unless ``nonfinite="drop"`` (`carbon_mc.finite`).
    """
    _check_args(scenario, grid_basis, pue_included, num_draws=num_draws, seed=seed, chunk_size=chunk_size, priors=priors,
                nonfinite=nonfinite)
    scenario = _load(scenario, priors)
    own = build_simulator(scenario, priors=priors)
    model = build_simulator(scenario.with_accounting(grid_basis=grid_basis, pue_included=pue_included), priors=priors)
    if model.columns == own.columns:  # the scenario's own basis, or one drawing the same inputs: run's draws exactly
        inputs, outputs = draw(model, num_draws=num_draws, seed=seed, chunk_size=chunk_size, method=CHECK_METHOD,
                               nonfinite=nonfinite)
    else:
        inputs, outputs = _draw_beside(own, model, num_draws=num_draws, seed=seed, chunk_size=chunk_size)
        inputs, outputs, _ = apply_policy(inputs, outputs, nonfinite)
    return model, inputs, outputs


def _draw_beside(own: Simulator, model: Simulator, *, num_draws: int, seed, chunk_size: int) -> tuple[dict, dict]:
    """Draws of `model` (the scenario on another accounting basis) on the uniforms of `own` (its own basis).

    Each input both draw takes the row of `own`'s `CHECK_METHOD` uniforms that `own` gives it (common
    random numbers with the run's draws, input by input); an input only `model` draws takes its own
    Monte Carlo stream (Threefry, named after it), independent of the rest.
    """
    rows, row = {}, 0
    for name, k in own.columns:
        rows[name] = (row, k)
        row += k
    shared = [(name, k) for name, k in model.columns if rows.get(name, (0, -1))[1] == k]
    smp = sampler(own, seed, CHECK_METHOD, last_index=num_draws - 1)
    extra = sampler(model, seed, "mc") if len(shared) < len(model.columns) else None
    consts = tuple(jnp.asarray(c) for c in smp.consts)
    extra_consts = tuple(jnp.asarray(c) for c in extra.consts) if extra is not None else ()

    @jax.jit
    def chunk(first_block, num_blocks_marker):
        n = num_blocks_marker.shape[0] * BLOCK
        u_own = smp.uniforms(consts, first_block, num_blocks_marker.shape[0])
        u_extra = extra.uniforms(extra_consts, first_block, num_blocks_marker.shape[0]) if extra is not None else None
        parts, at = [], 0
        for name, k in model.columns:
            start, width = rows.get(name, (0, -1))
            parts.append(u_own[start:start + k] if width == k else u_extra[at:at + k])
            at += k
        values = evaluate(model, jnp.concatenate(parts, axis=0) if parts else jnp.zeros((0, n), jnp.float32))
        return {key: jnp.broadcast_to(v, (n, *jnp.shape(v)[1:])) for key, v in values.items()}

    arrays = kept_in_blocks(chunk, num_draws, chunk_size)
    inputs = {name: arrays[name] for name in model.stochastic}
    outputs = {key: v for key, v in arrays.items() if key not in model.stochastic}
    return inputs, outputs


def _check_args(scenario, grid_basis, pue_included, **draw_args) -> None:
    """The argument checks the drawing functions here share (`carbon_mc.sampling.args`)."""
    check_scenario_arg(scenario), check_accounting(grid_basis, pue_included), check_draw_args(**draw_args)


def _check_claim_arg(claim, unit, quantity, *, optional: bool):
    """`claim` a `Claim` or a number (None too when `optional`); `unit` and `quantity` None or strings."""
    if not (claim is None and optional) and not isinstance(claim, Claim):
        check_real(claim, "claim", low=0.0)
    check_text(unit, "unit", optional=True), check_text(quantity, "quantity", optional=True)
    _check_quantity(quantity)
    return claim


def _check_quantity(quantity) -> str | None:
    """`quantity` None or an output a claim can be checked against (of a training run or of a deployment)."""
    if quantity is not None and quantity not in ALL_CHECKABLE:
        raise CarbonMCError(f"cannot check a claim against quantity {shown(quantity)}; {close_matches(quantity, ALL_CHECKABLE)}")
    return quantity


def _load(scenario: AnyScenario | str | Path, priors: PriorTable | None) -> AnyScenario:
    if isinstance(scenario, (Scenario, ServingScenario)):
        return scenario
    return load_any_scenario(scenario, priors=priors)


def checkable(scenario: AnyScenario) -> tuple[str, ...]:
    """The outputs of `scenario`'s chain a claim can be checked against."""
    return SERVING_CHECKABLE if isinstance(scenario, ServingScenario) else CHECKABLE


def scenario_claims(scenario: AnyScenario) -> list[Claim]:
    """The claims a scenario carries: its [[claims]], then the figures of its [reported] block, each on
    its own output (and so its own scope: compare like with like)."""
    check_any_scenario_object(scenario)
    return [*scenario.claims, *scenario.reported.claims()]


def make_claim(value: float, unit: str, quantity: str | None = None, **extra) -> Claim:
    """A validated `Claim` from a value and a unit; the quantity defaults by the unit's kind.

    Raises:
      CarbonMCError: an unknown unit, a bad value, or a unit of the wrong kind for `quantity`.
    """
    check_real(value, "value", low=0.0), check_text(unit, "unit"), check_text(quantity, "quantity", optional=True)
    _check_quantity(quantity)
    symbol = parse_unit(unit).symbol
    quantity = quantity or default_quantity(symbol)
    to_quantity_units(value, symbol, quantity)  # raises on a mass against an energy, or a bad value
    extra.setdefault("label", f"{value:g} {symbol}")
    return Claim(float(value), symbol, quantity, **extra)


def _as_claim(claim: Claim | float, unit: str | None, quantity: str | None, **extra) -> Claim:
    """`claim` as a `Claim` checked on `quantity` (default: its own)."""
    if not isinstance(claim, Claim):
        if unit is None:
            raise CarbonMCError("a claim given as a number needs its unit (e.g. 't', 'lb', 'kWh')")
        return make_claim(claim, unit, quantity, **extra)
    if quantity is not None and quantity != claim.quantity:
        return make_claim(claim.value, claim.unit, quantity, label=claim.label, source=claim.source,
                          grid_basis=claim.grid_basis, pue_included=claim.pue_included, method=claim.method)
    return claim


def select_claims(
    scenario: AnyScenario, claim: Claim | float | None = None, unit: str | None = None, *,
    quantity: str | None = None, source: str = "given",
) -> list[Claim]:
    """The claims to check: `claim` alone if given, else those `scenario` carries on `quantity` (default: all).

    A claim given as a number is labelled and sourced `source`.

    Raises:
      CarbonMCError: a unit without a claim, a number without its unit, an unknown unit, or a unit
        of the wrong kind for `quantity`.
    """
    check_any_scenario_object(scenario), _check_claim_arg(claim, unit, quantity, optional=True), check_text(source, "source")
    if claim is not None:
        return [_as_claim(claim, unit, quantity, label=source, source=source)]
    if unit is not None:
        raise CarbonMCError("a unit needs the claim's value")
    return [c for c in scenario_claims(scenario) if quantity is None or c.quantity == quantity]


# ---------------------------------------------------------------------------------------------
def check_claim(
    scenario: AnyScenario | str | Path,
    claim: Claim | float,
    unit: str | None = None,
    *,
    quantity: str | None = None,
    grid_basis: str | None = None,
    pue_included: bool | None = None,
    num_draws: int = 100_000,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    tail_fraction: float = TAIL_FRACTION,
    nonfinite: str = "refuse",
    _draws: tuple | None = None,
) -> ClaimCheck:
    """Check one published figure against the distribution of `scenario`.

    Args:
      scenario: a `Scenario`, a path, or the name of a bundled scenario.
      claim: a `Claim`, or a number with its `unit` ("lb", "tCO2e", "kWh", ...).
      quantity: the model output to check against (default: the claim's, or total_tco2e for a
        mass and energy_mwh for an energy).
      grid_basis, pue_included: accounting switches; None uses the claim's own, else the scenario's.
      num_draws, seed, chunk_size: as for `carbon_mc.estimate`.
      tail_fraction: when no draw reaches the claim, the share of draws nearest it whose inputs
        `shifts` describes.
      nonfinite: "refuse" (default) or "drop" draws that are not finite (`carbon_mc.finite`); the
        check's ``num_draws`` counts the draws kept.
      _draws: (simulator, inputs, outputs) already drawn on the claim's basis, as `simulate` returns.

    Returns:
      a `ClaimCheck`.

    Raises:
      CarbonMCError: the scenario cannot be loaded; a number without its unit, an unknown unit or
        one of the wrong kind; a quantity that cannot be checked or is not drawn on this basis; a
        market basis without a market-based grid factor.
    """
    _check_args(scenario, grid_basis, pue_included, num_draws=num_draws, seed=seed, chunk_size=chunk_size, priors=priors,
                nonfinite=nonfinite)
    _check_claim_arg(claim, unit, quantity, optional=False), check_real(tail_fraction, "tail_fraction", above=0.0, high=1.0)
    scenario = _load(scenario, priors)
    claim = _as_claim(claim, unit, quantity)
    valid = checkable(scenario)
    if claim.quantity not in valid:
        kind = "a deployment's" if isinstance(scenario, ServingScenario) else "a training run's"
        raise CarbonMCError(f"cannot check {kind} figure against quantity {claim.quantity!r}; {close_matches(claim.quantity, valid)}",
                            file=scenario.file)
    basis = claim.grid_basis if grid_basis is None else grid_basis
    pue = claim.pue_included if pue_included is None else pue_included
    if _draws is None:
        _draws = simulate(scenario, num_draws=num_draws, seed=seed, grid_basis=basis, pue_included=pue,
                          chunk_size=chunk_size, priors=priors, nonfinite=nonfinite)
    model, inputs, outputs = _draws
    if claim.quantity not in outputs:
        raise CarbonMCError(f"this run's model has no {claim.quantity} on this accounting basis", file=scenario.file)
    return _analyse(model, inputs, outputs, claim, seed=seed, tail_fraction=tail_fraction)


def _draws_on(cache: dict, scenario: AnyScenario, grid_basis: str | None, pue_included: bool | None, **how) -> tuple:
    """`simulate` on an accounting basis, once per effective basis (`cache`: {(basis, pue): draws})."""
    effective = scenario.with_accounting(grid_basis=grid_basis, pue_included=pue_included).accounting
    key = (effective.grid_basis, effective.pue_included)
    if key not in cache:
        cache[key] = simulate(scenario, grid_basis=grid_basis, pue_included=pue_included, **how)
    return cache[key]


def _check_each(scenario: AnyScenario, claims: Sequence[Claim], cache: dict, *, grid_basis, pue_included, **how) -> list[ClaimCheck]:
    results = []
    for claim in claims:
        basis = claim.grid_basis if grid_basis is None else grid_basis
        pue = claim.pue_included if pue_included is None else pue_included
        draws = _draws_on(cache, scenario, basis, pue, **how)
        results.append(check_claim(scenario, claim, grid_basis=basis, pue_included=pue, seed=how["seed"], _draws=draws))
    return results


def check_claims(
    scenario: AnyScenario | str | Path,
    claims: Sequence[Claim] | None = None,
    *,
    grid_basis: str | None = None,
    pue_included: bool | None = None,
    num_draws: int = 100_000,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    nonfinite: str = "refuse",
) -> list[ClaimCheck]:
    """Check several claims (default: all the scenario carries), drawing once per accounting basis.

    Raises:
      CarbonMCError: the scenario carries no claim and none is given, or as `check_claim`.
    """
    _check_args(scenario, grid_basis, pue_included, num_draws=num_draws, seed=seed, chunk_size=chunk_size, priors=priors,
                nonfinite=nonfinite)
    if claims is not None and (not isinstance(claims, (list, tuple)) or not all(isinstance(c, Claim) for c in claims)):
        raise CarbonMCError(f"claims must be a list of Claim (carbon_mc.claims.make_claim) or None, got {shown(claims)}")
    scenario = _load(scenario, priors)
    claims = scenario_claims(scenario) if claims is None else list(claims)
    if not claims:
        raise CarbonMCError("the scenario carries no claim: add [[claims]] or [reported], or give one", file=scenario.file)
    return _check_each(scenario, claims, {}, grid_basis=grid_basis, pue_included=pue_included,
                       num_draws=num_draws, seed=seed, chunk_size=chunk_size, priors=priors, nonfinite=nonfinite)


def check_scenario(
    scenario: AnyScenario | str | Path,
    claim: Claim | float | None = None,
    unit: str | None = None,
    *,
    quantity: str | None = None,
    grid_basis: str | None = None,
    pue_included: bool | None = None,
    num_draws: int = 100_000,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    model_card: ModelCardFields | None = None,
    source: str = "given",
    nonfinite: str = "refuse",
) -> ScenarioCheck:
    """Check `claim` (default: every claim the scenario carries on `quantity`) and write its model card.

    The claims and the model card share one set of draws per accounting basis: the card's, on
    `grid_basis` and `pue_included` (None: the scenario's), is the draws of every claim on that basis.

    Args:
      scenario, claim, unit, grid_basis, pue_included, num_draws, seed, chunk_size: as for `check_claim`.
      quantity: the output to check a given claim on, or which of the scenario's claims to check
        (default: all); the model card reports it if it is a CO2e, else total_tco2e.
      model_card: the Hub fields of the model card; None writes no card.
      source: the label and source of a claim given as a number.
      nonfinite: as for `check_claim`.

    Raises:
      CarbonMCError: no claim to check and no model card asked for, or as `select_claims` and
        `check_claim`.
    """
    _check_args(scenario, grid_basis, pue_included, num_draws=num_draws, seed=seed, chunk_size=chunk_size, priors=priors,
                nonfinite=nonfinite)
    _check_claim_arg(claim, unit, quantity, optional=True), check_text(source, "source")
    if model_card is not None and not isinstance(model_card, ModelCardFields):
        raise CarbonMCError(f"model_card must be ModelCardFields (carbon_mc.claims.ModelCardFields) or None, got {shown(model_card)} "
                            f"({type(model_card).__name__})")
    scenario = _load(scenario, priors)
    if model_card is not None and isinstance(scenario, ServingScenario):
        raise CarbonMCError("a model card reports a training run's CO2e; this is a serving scenario", file=scenario.file)
    if model_card is not None and model_card.geographical_location:
        scenario = scenario.at_place(model_card.geographical_location, priors)  # the card's number on the place it names
    claims = select_claims(scenario, claim, unit, quantity=quantity, source=source)
    if not claims and model_card is None:
        what = f" on {quantity}" if quantity else ""
        raise CarbonMCError(f"no claim{what} to check: give one (a value and its unit), or add [[claims]] to the scenario",
                            file=scenario.file)
    cache: dict[tuple, tuple] = {}
    how = {"num_draws": num_draws, "seed": seed, "chunk_size": chunk_size, "priors": priors, "nonfinite": nonfinite}
    checks = _check_each(scenario, claims, cache, grid_basis=grid_basis, pue_included=pue_included, **how)
    card, body = None, None
    if model_card is not None:
        assert isinstance(scenario, Scenario)  # a serving scenario with a model card was refused above
        model, _, outputs = _draws_on(cache, scenario, grid_basis, pue_included, **how)
        kept = len(next(iter(outputs.values())))  # fewer than num_draws when non-finite draws were dropped
        card = model_card_from_draws(scenario, model, outputs, card_quantity(quantity), num_draws=kept,
                                     seed=seed, fields=model_card, sampler=CHECK_METHOD)
        card += claim_checks_yaml(checks)  # the claims that state their method: both verdicts, under co2_eq_emissions
        body = environmental_values(scenario, model, outputs, card_quantity(quantity), fields=model_card)
    return ScenarioCheck(scenario.name, tuple(checks), card, body)


# ---------------------------------------------------------------------------------------------
def _selection(y: np.ndarray, c: float, direction: str, beyond: np.ndarray, tail_fraction: float) -> tuple[np.ndarray, str]:
    """The draws the shifts describe: those at or beyond the claim, else the `tail_fraction` nearest it."""
    num_beyond = int(np.count_nonzero(beyond))
    if num_beyond > 0:
        return beyond, f"the {num_beyond:,} draws at or {direction} the claim"
    n = y.size
    m = max(1, math.ceil(tail_fraction * n))
    order = np.argpartition(-y if direction == "above" else y, m - 1)[:m]
    selected = np.zeros(n, dtype=bool)
    selected[order] = True
    return selected, f"the {m:,} draws nearest the claim ({tail_fraction:.0%}); none reach it"


def _ratio(c: float, d: float) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(c / d) if d != 0 else math.nan


def _analyse(model: Simulator, inputs: dict, outputs: dict, claim: Claim, *, seed, tail_fraction: float) -> ClaimCheck:
    y = np.asarray(outputs[claim.quantity], dtype=np.float64)
    n = y.size
    c = claim.value_in_quantity_units
    p5, median, p95 = (float(v) for v in np.quantile(y, [0.05, 0.5, 0.95]))
    direction = "above" if c >= median else "below"
    beyond = y >= c if direction == "above" else y <= c
    num_beyond = int(np.count_nonzero(beyond))
    prob = float(np.count_nonzero(y >= c)) / n
    selected, conditioned_on = _selection(y, c, direction, beyond, tail_fraction)
    return ClaimCheck(
        claim=claim,
        claim_value=c,
        quantity=claim.quantity,
        units=model.output_table[claim.quantity].units,
        scenario_name=model.scenario.name,
        accounting={"grid_basis": model.run.grid_basis, "pue_included": model.run.pue_included},
        num_draws=n,
        seed=int(seed) if isinstance(seed, (int, np.integer)) else -1,
        median=median,
        interval=(p5, p95),
        percentile=float(percentile_of(y, c)),
        prob_at_least=prob,
        prob_at_least_se=math.sqrt(prob * (1.0 - prob) / n),
        ratio_median=_ratio(c, median),
        ratio_interval=(_ratio(c, p95), _ratio(c, p5)),
        direction=direction,
        num_beyond=num_beyond,
        extreme=float(y.max() if direction == "above" else y.min()),
        conditioned_on=conditioned_on,
        shifts=tuple(input_shifts(model, inputs, selected)),
        reach=reach_factors(model, inputs, claim.quantity, c, direction) if num_beyond == 0 else None,
        sources={name: p.source for name, p in model.priors.items()},
        values=y,
        inputs={label: x for label, _, x in input_columns(model, inputs)},
        selected=selected,
        method=_method_verdict(model, outputs, claim, c),
    )


def _method_verdict(model: Simulator, outputs: dict, claim: Claim, c: float) -> MethodVerdict | None:
    """The arithmetic and physics verdicts of a claim that states its method (`carbon_mc.claims.method`), from these draws."""
    if claim.method is None:
        return None
    y = np.asarray(outputs[claim.quantity], dtype=np.float64)
    return assess(claim.method, quantity=claim.quantity, claim_value=c, units=model.output_table[claim.quantity].units,
                  outputs=outputs, percentile=float(percentile_of(y, c)), tdp_w=float(model.run.tdp_w),
                  run_device_hours=getattr(model.run, "device_hours", None))
