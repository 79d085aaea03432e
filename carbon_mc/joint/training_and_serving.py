"""A model's life: training it once, then serving it for a stated period, as one distribution.

`lifecycle` draws a training run (`carbon_footprint`) and a deployment (`serving_footprint`) with
the same seed through the one sampling road, and combines them draw by draw
(`carbon_mc.footprint.lifecycle.lifecycle_footprint`): total CO2e, the share of each phase, and the
break-even point (days or requests of serving that emit as much as the training), each with its
interval. Inputs the two take from the same prior (embodied carbon per server, service life, a
shared datacenter's PUE, ...) are drawn once for both (common random numbers); inputs whose priors
differ are drawn independently. Both phases draw randomized quasi-Monte Carlo as in
`carbon_mc.compare` (`carbon_mc.joint.paired.paired_draws`): the training phase is exactly
``carbon-mc run TRAINING`` at the same seed and draw count; the deployment takes the training's
uniforms for the shared inputs and further Sobol' dimensions for its own.

    >>> ds = lifecycle("bloom_176b", "bloom_176b_api", days=365)        # doctest: +SKIP
    >>> float(ds["serving_share_fraction"].median())                     # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import CarbonMCError
from ..footprint.lifecycle import LIFECYCLE_OUTPUTS, lifecycle_footprint
from ..priors import PriorTable, load_priors
from ..results.finite import apply_policy
from ..sampling import DEFAULT_CHUNK, METHOD_NAMES, build_simulator, provenance
from ..sampling.args import check_draw_args, check_real, check_scenario
from ..scenarios import AnyScenario, load_any_scenario
from ..scenarios.deployment import ServingScenario
from ..scenarios.training import Scenario
from .paired import PAIRED_METHOD, paired_draws, sampler_description, shared_inputs

__all__ = ["LIFECYCLE_OUTPUTS", "lifecycle"]

SERVING_NEEDS = ["total_kgco2e_per_day", "total_gco2e_per_request"]


def _scenarios(training, serving, priors: PriorTable) -> tuple[Scenario, ServingScenario]:
    """(training run, deployment); the training run defaults to the deployment's ``model`` link."""
    sv = serving if isinstance(serving, ServingScenario) else load_any_scenario(serving, priors=priors)
    if not isinstance(sv, ServingScenario):
        raise CarbonMCError("the second scenario must be a deployment (a file with a [serving] table)", file=sv.file)
    if training is None:
        if sv.model is None:
            raise CarbonMCError("no training run given, and the serving scenario names none: add model = \"<training "
                                "scenario>\" to [serving], or give the training scenario", file=sv.file, key="serving.model")
        training = sv.model
    tr = training if isinstance(training, (Scenario, ServingScenario)) else load_any_scenario(training, priors=priors)
    if not isinstance(tr, Scenario):
        raise CarbonMCError("the first scenario must be a training run (a file with a [run] table)", file=tr.file)
    return tr, sv


def lifecycle(
    training: AnyScenario | str | Path | None,
    serving: AnyScenario | str | Path,
    *,
    days: float | None = None,
    num_draws: int = 100_000,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
) -> xr.Dataset:
    """Training plus serving over `days`, draw by draw, as an xarray Dataset over `draw`.

    Args:
      training: the training run (a `Scenario`, path or bundled name); None takes the serving
        scenario's ``model`` link.
      serving: the deployment (a `ServingScenario`, path or bundled name). Its CO2e per day is
        carried over `days`.
      days: how long the model is served (default: the serving scenario's own ``days``).
      num_draws, seed, chunk_size: as for `carbon_mc.estimate`; the training phase draws exactly as
        `carbon_mc.estimate` with this seed, and shared inputs take the same draw in both phases.

    Returns:
      Dataset with ``training_tco2e``, ``serving_tco2e``, ``lifecycle_tco2e``,
      ``training_share_fraction``, ``serving_share_fraction``, ``break_even_days`` and
      ``break_even_requests`` (units and long names in attrs), and attrs naming both scenarios, the
      period and the inputs drawn once for both.

    Raises:
      CarbonMCError: a scenario that cannot be loaded, the wrong kind in either place, no training
        run, or `days` not a finite number > 0.
    """
    check_scenario(training, "training", optional=True), check_scenario(serving, "serving")
    check_draw_args(num_draws=num_draws, seed=seed, chunk_size=chunk_size, priors=priors)
    check_real(days, "days", above=0.0, optional=True)
    table = priors or load_priors()
    tr, sv = _scenarios(training, serving, table)
    period = sv.days if days is None else days
    if isinstance(period, bool) or not isinstance(period, (int, float)) or not np.isfinite(period) or period <= 0:
        raise CarbonMCError(f"days must be a finite number > 0, got {period!r}")
    mt, ms = build_simulator(tr, priors=table), build_simulator(sv, priors=table)
    shared = shared_inputs(mt, ms)
    separate = [n for n in ms.stochastic if n not in shared]
    out_t, out_s = paired_draws(mt, ms, shared, num_draws=num_draws, seed=seed, chunk_size=chunk_size,
                                variables_a=["total_tco2e"], variables_b=SERVING_NEEDS)
    apply_policy({}, {**out_t, **out_s}, "refuse")
    values = lifecycle_footprint({k: np.asarray(v, np.float64) for k, v in out_t.items()},
                                 {k: np.asarray(v, np.float64) for k, v in out_s.items()}, float(period))
    data_vars = {name: xr.Variable(("draw",), np.asarray(values[name]), {"units": units, "long_name": long_name, "role": "output"})
                 for name, (units, long_name) in LIFECYCLE_OUTPUTS.items()}
    attrs = provenance(ms, seed=seed, num_draws=num_draws, method=METHOD_NAMES[PAIRED_METHOD])
    attrs.update(
        sampler=sampler_description(len(shared), len(separate), "the training run", "the deployment"),
        title=f"carbon-mc life cycle: {tr.name} + {sv.name}",
        training_scenario=tr.name, training_file=Path(tr.file).name, serving_scenario=sv.name,
        serving_file=Path(sv.file).name, serving_days=float(period), shared_inputs=", ".join(shared),
    )
    return xr.Dataset(data_vars, coords={"draw": np.arange(num_draws)}, attrs=attrs)
