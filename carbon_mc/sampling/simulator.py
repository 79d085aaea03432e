"""A scenario bound to its priors and the carbon chain: what is drawn, what is fixed, and how outputs follow.

`Simulator` is the one contract between the samplers and the physics: uniforms (a dict per input,
or a matrix laid out as `Simulator.columns`) go through each prior's float32 inverse CDF
(`carbon_mc.priors.Prior.icdf32`) to inputs, and the inputs through the carbon chain
(`carbon_mc.footprint.carbon_footprint`) to outputs. `evaluate` composes the two for callers that
own their loop and their jit (sensitivity designs, the calibration's predictions, the benchmark).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jax.numpy as jnp

from ..errors import CarbonMCError
from ..footprint import HEADLINE, OUTPUTS, RunConstants, carbon_footprint
from ..footprint.serving import SERVING_OUTPUTS, ServingConstants, serving_footprint
from ..priors import Prior, PriorTable, load_priors
from ..scenarios import AnyScenario, load_any_scenario
from ..scenarios.deployment import ServingScenario
from ..scenarios.training import Scenario
from .args import check_posterior, check_priors, check_scenario, refuse


@dataclass(frozen=True)
class Simulator:
    """A scenario bound to its priors: what is drawn, what is fixed, and the model function.

    `chain` maps (inputs, `run`) to outputs: `carbon_footprint` with `RunConstants` for a training
    run, `serving_footprint` with `ServingConstants` for a deployment; `output_table` gives each
    output's units and long name, `headline` the outputs a run reports first.
    """

    scenario: AnyScenario
    priors: dict[str, Prior]
    run: RunConstants | ServingConstants
    table: PriorTable
    # Input name -> name of its random stream, where they differ. Empty by default: each input
    # draws from the stream named after it. `carbon_mc.comparison.compare` renames the streams of inputs that
    # two scenarios do not share, so that only shared uncertainties get common random numbers.
    streams: dict[str, str] = field(default_factory=dict)

    def stream(self, name: str) -> str:
        """The name of input `name`'s random stream."""
        return self.streams.get(name, name)

    chain: Callable[[dict, Any], dict] = carbon_footprint
    output_table: dict = field(default_factory=lambda: OUTPUTS)
    headline: tuple[str, ...] = HEADLINE

    @property
    def is_serving(self) -> bool:
        return self.chain is serving_footprint

    def with_streams(self, streams: dict[str, str]) -> Simulator:
        """A copy whose inputs draw from the given streams (input name -> stream name)."""
        unknown = set(streams) - set(self.priors)
        if unknown:
            raise ValueError(f"no such inputs: {sorted(unknown)}")
        return replace(self, streams={**self.streams, **streams})

    @property
    def stochastic(self) -> list[str]:
        """Names of the inputs that are drawn (not fixed), in a stable order."""
        return [name for name, p in self.priors.items() if not p.is_fixed]

    @property
    def fixed(self) -> dict[str, float]:
        return {name: p.fixed_value for name, p in self.priors.items() if p.is_fixed}

    @property
    def columns(self) -> list[tuple[str, int]]:
        """(name, number of uniform columns) of each drawn input, in order: the layout of a uniforms matrix."""
        return [(name, self.priors[name].num_columns) for name in self.stochastic]

    def icdf(self, name: str, u):
        """Input `name` from uniforms `u` through its prior's float32 inverse CDF (`Prior.icdf32`)."""
        return self.priors[name].icdf32(u)

    def drawn_from_columns(self, u) -> dict:
        """The drawn inputs from a uniforms matrix `u` (columns, n) laid out as `columns`.

        Inputs that share a random stream (see `with_streams`) share its rows: each takes the rows
        of the first input on that stream, as the Monte Carlo and QMC samplers both lay them out.
        """
        out, row = {}, 0
        first_row: dict[str, int] = {}  # random stream -> its first row
        for name, k in self.columns:
            start = first_row.setdefault(self.stream(name), row)
            out[name] = self.icdf(name, u[start] if k == 1 else u[start : start + k].T)
            row += k
        return out

    def inputs_from_uniforms(self, u: dict) -> dict:
        """Inputs for the model: each drawn input through its prior's inverse CDF, fixed ones as scalars.

        `u` maps each drawn input to its uniforms, shape (n,) or (n, k) for a joint prior.
        """
        x = {name: jnp.float32(v) for name, v in self.fixed.items()}
        for name in self.stochastic:
            x[name] = self.icdf(name, u[name])
        return x

    def with_fixed(self, drawn: dict) -> dict:
        """Drawn inputs completed by the fixed ones (as float32 scalars): the carbon chain's inputs."""
        return {**{name: jnp.float32(v) for name, v in self.fixed.items()}, **drawn}

    def outputs(self, x: dict) -> dict:
        """Every output of the chain (`carbon_footprint` or `serving_footprint`) for inputs `x`."""
        return self.chain(x, self.run)


def _bind(scenario: AnyScenario, resolved: dict[str, Prior], table: PriorTable) -> Simulator:
    """The simulator of a training run (`carbon_footprint`) or of a deployment (`serving_footprint`)."""
    spec = table.hardware_spec(scenario.hardware, file=scenario.file)
    if isinstance(scenario, ServingScenario):
        sim = Simulator(scenario, resolved, ServingConstants.from_scenario(scenario, spec), table, chain=serving_footprint,
                        output_table=SERVING_OUTPUTS, headline=scenario.headline)
        streams = scenario.input_streams()  # the components of a weighted choice share their input's stream
        return sim.with_streams(streams) if streams else sim
    return Simulator(scenario, resolved, RunConstants.from_scenario(scenario, spec), table)


def build_simulator(scenario: AnyScenario | str | Path, *, priors: PriorTable | None = None,
                    posterior: dict[str, Prior] | None = None) -> Simulator:
    """Bind a scenario (object, TOML path or bundled name) to its resolved priors.

    A serving scenario (a file with a ``[serving]`` table, `carbon_mc.serving_scenario`) gets the
    serving chain; every sampler, summary and analysis then works on it unchanged.

    `posterior` replaces some of them ({input name: Prior}, e.g. from
    `carbon_mc.calibration.calibrated_priors`); inputs whose replacement's distribution names a
    ``stream`` draw from that shared stream, so one draw takes them all from the same posterior draw.

    Raises:
      InputError: an invalid scenario (`carbon_mc.load_scenario`), or a posterior for an input the
        scenario does not draw.
    """

    check_scenario(scenario), check_priors(priors), check_posterior(posterior)
    table = priors or load_priors()
    if not isinstance(scenario, (Scenario, ServingScenario)):
        scenario = load_any_scenario(scenario, priors=table)
    resolved = scenario.resolve_priors(table)
    model = _bind(scenario, resolved, table)
    if posterior:
        if isinstance(scenario, ServingScenario):
            scenario.check_posterior(posterior)  # a regime input holding another choice's prior keeps it
        unknown = sorted(set(posterior) - set(resolved))
        if unknown:
            raise CarbonMCError(f"posterior for {', '.join(unknown)}, which {scenario.name!r} does not draw")
        model = replace(model, priors={**resolved, **posterior})
        shared = {n: p.distribution.stream for n, p in posterior.items() if getattr(p.distribution, "stream", None)}
        model = model.with_streams(shared) if shared else model
    return model


def evaluate(sim: Simulator, u, variables=None) -> dict:
    """Inputs and outputs of `sim` at uniforms `u`: the drawing contract, unjitted (the caller owns jit and loops).

    Args:
      sim: from `build_simulator`.
      u: ``{drawn input: uniforms}`` (shape (n,), or (n, k) for a joint prior), or a matrix
        (columns, n) laid out as ``sim.columns``; uniforms strictly inside (0, 1).
      variables: names to return (default: every drawn input and every output).

    Returns:
      ``{name: values}``; outputs that do not vary are broadcast to the draws' shape only if asked
      for by name.
    """
    drawn = sim.drawn_from_columns(u) if not isinstance(u, dict) else {n: sim.icdf(n, u[n]) for n in sim.stochastic}
    values = {**drawn, **sim.outputs(sim.with_fixed(drawn))}
    if variables is None:
        return values
    unknown = [k for k in variables if k not in values]
    if unknown:
        raise CarbonMCError(f"unknown variable(s) {', '.join(unknown)}; valid: {', '.join(values)}")
    return {k: values[k] for k in variables}


def check_simulator(value, name: str = "model"):
    """`value` if it is a `Simulator` (from `carbon_mc.build_simulator`)."""
    if not isinstance(value, Simulator):
        raise refuse(name, "a Simulator (carbon_mc.build_simulator)", value)
    return value
