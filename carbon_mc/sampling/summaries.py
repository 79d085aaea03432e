"""Summaries without keeping draws: streamed histograms, a fixed number of draws or until a precision is reached.

Summaries of large runs are computed on the fly from fixed histograms (`carbon_mc.sampling.histograms`),
so that memory does not grow with the number of draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import CarbonMCError, InputError
from ..options import STREAM_THRESHOLD  # noqa: F401  (re-exported)
from ..priors import Prior, PriorTable
from ..results.finite import check_policy, check_stream
from ..results.statistics import QUANTILES
from ..scenarios import AnyScenario
from .args import (
    check_callable,
    check_chunk_size,
    check_devices,
    check_names,
    check_num_draws,
    check_posterior,
    check_priors,
    check_real,
    check_scenario,
    check_seed,
)
from .dispatch import Dispatcher, cached, dispatch_blocks, draw_kernel, mesh_of, output_shapes, summary_kernel, to_host
from .draws import DEFAULT_CHUNK, provenance
from .histograms import PILOT_DRAWS, Histogram, StreamSummary, plan_bins
from .samplers import DEFAULT_METHOD, METHOD_NAMES, check_method, sampler
from .simulator import Simulator, build_simulator
from .streams import BLOCK

if TYPE_CHECKING:  # xarray is imported where a Dataset is built: a run that only prints does without it
    import xarray as xr

_FLUSH_DRAWS = 1 << 30  # move the device's int32 counts to the host at least this often (draws per device)
# Runs above this many draws are summarized on the fly by default (`carbon-mc run`).
# (STREAM_THRESHOLD, the size above which runs are summarized on the fly, is in carbon_mc.options)


def _summary_variables(model: Simulator, variables) -> tuple[list[str], dict[str, float]]:
    """(variables to stream, constants): outputs that do not vary are summarized without drawing."""
    shapes = output_shapes(model)
    scalar_inputs = [n for n, k in model.columns if k == 1]
    available = scalar_inputs + list(shapes)
    names = available if variables is None else list(variables)
    unknown = [k for k in names if k not in available]
    if unknown:
        raise CarbonMCError(f"unknown variable(s) {', '.join(unknown)}; valid: {', '.join(available)}")
    constants = {}
    if any(shapes.get(k) == () for k in names):
        dummy = {name: jnp.full((1,) if k == 1 else (1, k), 0.5, jnp.float32) for name, k in model.columns}
        out = model.outputs(model.inputs_from_uniforms(dummy))
        constants = {k: float(out[k]) for k in names if shapes.get(k) == ()}
    return [k for k in names if k not in constants], constants


class _Streamer:
    """Counts the draws of one sampler into host histograms (one set per replicate), dispatch by dispatch."""

    def __init__(self, disp: Dispatcher, names: list[str], specs: dict, replicates: int = 1):
        self.disp, self.names, self.specs, self.replicates = disp, names, specs, replicates
        kinds = tuple(specs[k].kind for k in names)
        self.width = max(specs[k].bins for k in names) + 4
        key = ("summary", *disp.key, tuple(names), kinds, self.width, replicates)
        self.fn = cached(key, lambda: summary_kernel(disp.model, disp.mesh, disp.nblk, tuple(names), kinds, self.width, replicates))
        self.params = (
            jnp.asarray([specs[k].base for k in names], jnp.int32),
            jnp.asarray([specs[k].lo for k in names], jnp.float32),
            jnp.asarray([1.0 / specs[k].width if specs[k].width else 0.0 for k in names], jnp.float32),
            jnp.asarray([specs[k].bins for k in names], jnp.int32),
        )
        self.sharding = jax.sharding.NamedSharding(disp.mesh, jax.sharding.PartitionSpec("draw"))
        self.counts = np.zeros((replicates * len(names), self.width), np.int64)
        self.hist = None

    def _flush(self):
        if self.hist is not None:
            self.counts += to_host(self.hist).astype(np.int64).sum(axis=0)
            self.hist = None

    def run(self, first_draw: int, last_draw: int, progress=None, offset: int = 0, total: int = 0):
        """Count draws ``first_draw <= i < last_draw`` (first_draw a multiple of the dispatch size)."""
        per_flush = max(1, _FLUSH_DRAWS // (self.disp.nblk * BLOCK))
        for i, start in enumerate(range(first_draw, last_draw, self.disp.step)):
            if self.hist is None:
                zeros = np.zeros((self.disp.mesh.size, self.replicates * len(self.names), self.width), np.int32)
                self.hist = jax.device_put(zeros, self.sharding)
            valid = np.int32(min(self.disp.step, last_draw - start))
            self.hist = self.fn(self.disp.drawn(start), np.uint32(start // BLOCK), valid, self.hist, *self.params)
            if (i + 1) % per_flush == 0:
                self._flush()
            if progress is not None and (i + 1) % 64 == 0:
                progress(offset + min(start + self.disp.step, last_draw) - first_draw, total)
        self._flush()

    def histograms(self, replicate: int | None = None) -> dict:
        """Histograms of all draws, or of one replicate's."""
        v_count = len(self.names)
        counts = self.counts.reshape(self.replicates, v_count, self.width)
        counts = counts.sum(axis=0) if replicate is None else counts[replicate]
        out = {}
        for v, name in enumerate(self.names):
            spec, row = self.specs[name], counts[v]
            out[name] = Histogram(spec, counts=row[: spec.bins + 2].copy(), nonfinite=int(row[self.width - 2]))
        return out


def _plan(disp: Dispatcher, names: list[str]) -> dict:
    """Bins for each streamed variable from the pilot: the run's first PILOT_DRAWS draws."""
    fn = cached(("draw", *disp.key, tuple(names)), lambda: draw_kernel(disp.model, disp.mesh, disp.nblk, tuple(names)))
    pilot = [fn(disp.drawn(start)) for start in range(0, PILOT_DRAWS, disp.step)]
    return {k: plan_bins(np.concatenate([to_host(p[k]) for p in pilot])[:PILOT_DRAWS]) for k in names}


def _var_attrs(model: Simulator, name: str) -> dict:
    if name in model.priors:
        p = model.priors[name]
        return {"units": p.units, "long_name": p.long_name, "role": "input", "source": p.source}
    meta = model.output_table[name]
    return {"units": meta.units, "long_name": meta.long_name, "role": "output"}


def stream_summary(
    model: Simulator,
    *,
    num_draws: int,
    seed=0,
    method: str = DEFAULT_METHOD,
    variables: list[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    jax_devices=None,
    progress: Callable | None = None,
    nonfinite: str = "refuse",
):
    """Summaries of `num_draws` draws computed on the fly: a `carbon_mc.sampling.histograms.StreamSummary`.

    Memory does not grow with `num_draws`: each streamed variable costs one histogram. The draws
    are those of `draw` with the same seed and method, and the result does not depend on
    `chunk_size` or on the devices (integer counts, merged exactly). Draws that are not finite are
    refused (`carbon_mc.finite`), or with ``nonfinite="drop"`` left out and counted.

    Raises:
      InputError: a bad `num_draws`, `seed`, `chunk_size` or `method`.
      NumericError: draws that are not finite, unless ``nonfinite="drop"``.
    """
    num_draws, seed, chunk_size = check_num_draws(num_draws), check_seed(seed), check_chunk_size(chunk_size)
    check_method(method), check_policy(nonfinite)
    names, constants = _summary_variables(model, variables)
    smp = sampler(model, seed, method, last_index=max(num_draws - 1, 1 << 16))
    mesh = mesh_of(jax_devices)
    hists = {}
    if names:
        disp = Dispatcher(model, smp, mesh, dispatch_blocks(mesh, chunk_size))
        streamer = _Streamer(disp, names, _plan(disp, names))
        streamer.run(0, num_draws, progress, 0, num_draws)
        hists = streamer.histograms()
    dropped = check_stream(hists, constants, num_draws, nonfinite)
    attrs = provenance(model, seed=seed, num_draws=num_draws, method=METHOD_NAMES[method])
    attrs["random_streams"] = smp.description
    attrs["devices"] = f"{mesh.size} x {mesh.devices.flat[0].platform}"
    if nonfinite == "drop":
        attrs["nonfinite_draws_dropped"] = dropped
    return StreamSummary(hists, constants, {k: _var_attrs(model, k) for k in [*names, *constants]}, attrs)


def _target_quantile(stat: str) -> float:
    if stat not in QUANTILES:
        raise CarbonMCError(f"unknown interval endpoint {stat!r}; valid: {', '.join(QUANTILES)}")
    return QUANTILES[stat]


def stream_to_precision(
    model: Simulator,
    *,
    rel_error: float,
    max_draws: int = 100_000_000,
    seed=0,
    method: str = DEFAULT_METHOD,
    variables: list[str] | None = None,
    targets: tuple[str, ...] = ("p5", "p95"),
    replicates: int = 16,
    first_draws: int = BLOCK,
    jax_devices=None,
    progress: Callable | None = None,
    nonfinite: str = "refuse",
):
    """Draw until the relative standard error of the `targets` of every variable is at most `rel_error`.

    Block ``b`` of the run counts in replicate ``b mod replicates``. For Monte Carlo these are just
    the plain run's draws grouped (so the pooled result equals `stream_summary` of as many draws);
    for quasi-Monte Carlo each replicate is an independently scrambled Sobol' sequence (the standard
    randomized-QMC error estimate, Owen 1997). The run doubles from `first_draws` draws per
    replicate; after each doubling an endpoint's standard error is the spread of its replicate
    estimates over sqrt(replicates) (15 degrees of freedom with 16 replicates: the error estimate is
    itself good to about 20%), and the endpoint reported is read from all draws pooled. Stops at
    `max_draws` whatever the precision reached (attribute ``rel_error_achieved``). Returns a
    `carbon_mc.sampling.histograms.StreamSummary` whose ``num_draws`` attribute is the number of draws used.
    Non-finite draws: as for `stream_summary`.
    """
    max_draws, seed = check_num_draws(max_draws, "max_draws"), check_seed(seed)
    check_method(method), check_policy(nonfinite)
    if isinstance(rel_error, bool) or not isinstance(rel_error, (int, float)) or not 0 < rel_error < 1:
        raise InputError(f"rel_error must lie in (0, 1), got {rel_error!r}")
    if replicates < 2:
        raise ValueError("need at least 2 replicates")
    names, constants = _summary_variables(model, variables)
    if not names:
        raise CarbonMCError("none of the requested variables varies; nothing to estimate")
    quantiles = {t: _target_quantile(t) for t in targets}
    mesh = mesh_of(jax_devices)
    smp = sampler(model, seed, method, last_index=max(max_draws, 1 << 16), replicates=replicates)
    disp = Dispatcher(model, smp, mesh, dispatch_blocks(mesh, DEFAULT_CHUNK))
    streamer = _Streamer(disp, names, _plan(disp, names), replicates)
    unit = replicates * BLOCK  # draws per round of blocks, one block per replicate
    total = unit * max(1, math.ceil(first_draws / BLOCK))
    cap = max(unit, unit * (max_draws // unit))
    done = 0
    while True:
        total = min(total, cap)
        streamer.run(done, total)
        done = total
        if progress is not None:
            progress(done, cap)
        pooled = streamer.histograms()
        dropped = check_stream(pooled, constants, total, nonfinite)
        per_rep = [streamer.histograms(r) for r in range(replicates)]
        se = {}
        for k in names:
            for t, q in quantiles.items():
                est = np.array([h[k].quantile(q) for h in per_rep])
                value = pooled[k].quantile(q)
                se[(k, t)] = float(est.std(ddof=1) / math.sqrt(replicates) / abs(value)) if value else math.inf
        worst = max(se.values())
        if worst <= rel_error or done >= cap:
            break
        total = 2 * done
    attrs = provenance(model, seed=seed, num_draws=done, method=METHOD_NAMES[method])
    attrs.update({
        "random_streams": f"{smp.description}; {replicates} replicates, block b in replicate b mod {replicates}",
        "devices": f"{mesh.size} x {mesh.devices.flat[0].platform}",
        "rel_error_target": float(rel_error),
        "rel_error_achieved": float(worst),
        "rel_error_endpoints": ",".join(targets),
        "replicates": int(replicates),
    })
    if nonfinite == "drop":
        attrs["nonfinite_draws_dropped"] = dropped
    var_attrs = {k: _var_attrs(model, k) for k in [*names, *constants]}
    for (k, t), v in se.items():
        var_attrs[k][f"{t}_rel_se"] = v
    return StreamSummary(pooled, constants, var_attrs, attrs)


def estimate_summary(
    scenario: AnyScenario | str | Path,
    *,
    num_draws: int = 1_000_000,
    seed: int = 0,
    method: str = DEFAULT_METHOD,
    variables: list[str] | None = None,
    rel_error: float | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    progress: Callable | None = None,
    jax_devices=None,
    posterior: dict[str, Prior] | None = None,
    nonfinite: str = "refuse",
) -> xr.Dataset:
    """Summary Dataset over ``stat`` (as `carbon_mc.summarize`) computed on the fly, without keeping draws.

    Args:
      scenario: a `Scenario`, a path to a scenario TOML, or the name of a bundled one.
      num_draws: draws (the cap when `rel_error` is given). Memory does not grow with it.
      seed: integer seed. method: "qmc" (randomized quasi-Monte Carlo, the default) or "mc" (Monte Carlo).
      variables: what to summarize (default: every output and every drawn scalar input; with
        `rel_error`, the headline outputs).
      rel_error: if given, stop once the 5% and 95% quantiles of every summarized variable have a
        relative standard error at most this (`stream_to_precision`); attrs record the draws used.
      chunk_size, priors, progress, posterior, nonfinite: as for `estimate`. jax_devices: as for `draw`.

    Returns:
      Dataset shaped like ``summarize(estimate(...))``, with ``summary_method`` and each variable's
      histogram resolution in its attributes (`carbon_mc.streaming` gives the error bound).

    Raises:
      InputError: an invalid scenario, `num_draws`, `seed`, `chunk_size`, `method` or `rel_error`.
      NumericError: draws that are not finite, unless ``nonfinite="drop"``.
    """
    check_scenario(scenario), check_num_draws(num_draws), check_seed(seed), check_chunk_size(chunk_size), check_policy(nonfinite)
    check_priors(priors), check_posterior(posterior), check_method(method), check_callable(progress), check_devices(jax_devices)
    check_names(variables, "variables"), check_real(rel_error, "rel_error", optional=True)
    model = build_simulator(scenario, priors=priors, posterior=posterior)
    if rel_error is not None:
        shapes = output_shapes(model)
        targets = [k for k in model.headline if shapes.get(k, ()) != ()]
        result = stream_to_precision(model, rel_error=rel_error, max_draws=num_draws, seed=seed, method=method,
                                     variables=variables or targets, jax_devices=jax_devices, progress=progress,
                                     nonfinite=nonfinite)
    else:
        result = stream_summary(model, num_draws=num_draws, seed=seed, method=method, variables=variables,
                                chunk_size=chunk_size, jax_devices=jax_devices, progress=progress, nonfinite=nonfinite)
    return result.to_dataset()
