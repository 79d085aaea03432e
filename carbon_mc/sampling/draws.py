"""Draws kept: `draw` (NumPy arrays), `estimate` (an xarray Dataset with units, sources and provenance)."""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import numpy as np

from ..errors import CarbonMCError, InputError
from ..priors import Prior, PriorTable
from ..results.finite import apply_policy, check_policy, finite_rows
from ..scenarios import AnyScenario
from ..scenarios.common import SCENARIO_TEXTS
from .args import (
    check_callable,
    check_chunk_size,
    check_devices,
    check_flag,
    check_names,
    check_num_draws,
    check_posterior,
    check_priors,
    check_scenario,
    check_seed,
)
from .dispatch import Dispatcher, cached, dispatch_blocks, draw_kernel, mesh_of, output_shapes
from .inference_data import to_inference_data
from .samplers import DEFAULT_METHOD, METHOD_NAMES, check_method, sampler
from .simulator import Simulator, build_simulator, check_simulator
from .streams import BLOCK

if TYPE_CHECKING:  # xarray is imported where a Dataset is built: a run that only prints does without it
    import xarray as xr

DEFAULT_CHUNK = 1 << 20


def draw(
    model: Simulator,
    *,
    num_draws: int,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Callable | None = None,
    method: str = DEFAULT_METHOD,
    variables: list[str] | None = None,
    jax_devices=None,
    nonfinite: str = "refuse",
):
    """Draw inputs and outputs as NumPy arrays ``(inputs, outputs)``, dispatch by dispatch.

    Args:
      model, num_draws, seed: the model, how many draws, an integer seed (or a threefry JAX key).
      chunk_size: at most this many draws per device dispatch (bounds device memory); results never
        depend on it, nor on the number of devices.
      progress: optional callback ``progress(done, total)``.
      method: "qmc" (scrambled Sobol', the default) or "mc" (Threefry streams).
      variables: keep only these inputs/outputs (default: every drawn input and every output).
      jax_devices: the JAX devices to shard the draws over (default: this process's ``jax.local_devices()``).
      nonfinite: "refuse" (default) draws that are not finite, "drop" them (fewer rows come back), or
        "keep" them for a caller that applies the policy itself (`carbon_mc.finite`).

    Raises:
      InputError: a bad `num_draws`, `seed`, `chunk_size`, `method` or variable name.
      NumericError: some draws are not finite under ``nonfinite="refuse"``.
    """
    check_simulator(model)
    num_draws, seed, chunk_size = check_num_draws(num_draws), check_seed(seed), check_chunk_size(chunk_size)
    check_method(method)
    check_policy(nonfinite)
    check_callable(progress), check_names(variables, "variables"), check_devices(jax_devices)
    shapes = output_shapes(model)
    available = list(model.stochastic) + list(shapes)
    keep = tuple(available if variables is None else variables)
    unknown = [k for k in keep if k not in available]
    if unknown:
        raise CarbonMCError(f"unknown variable(s) {', '.join(unknown)}; valid: {', '.join(available)}")
    smp = sampler(model, seed, method, last_index=num_draws - 1)
    mesh = mesh_of(jax_devices, local=True)  # every draw comes back to this process
    disp = Dispatcher(model, smp, mesh, dispatch_blocks(mesh, chunk_size))
    outputs_fn = cached(("draw", *disp.key, keep), lambda: draw_kernel(model, mesh, disp.nblk, keep))
    width = dict(model.columns)
    size = 4 * num_draws * sum(width.get(k, 1) for k in keep)
    if size > 0.8 * _memory_bytes():
        raise InputError(f"keeping {num_draws:,} draws needs about {size / 1e9:,.1f} GB of memory, more than this machine "
                         "has: draw fewer, or summarize on the fly (estimate_summary, carbon-mc run --stream)")
    result = {k: np.empty((num_draws,) + ((width[k],) if width.get(k, 1) > 1 else ()), np.float32) for k in keep}
    starts = list(range(0, num_draws, disp.step))
    pending = None
    for start in [*starts, None]:
        queued = None if start is None else (start, outputs_fn(disp.drawn(start)))  # queue the next dispatch first
        if pending is not None:
            s, values = pending
            take = min(disp.step, num_draws - s)
            for k, v in values.items():
                result[k][s : s + take] = np.asarray(v)[:take]
            if progress is not None:
                progress(s + take, num_draws)
        pending = queued
    inputs = {k: result[k] for k in keep if k in model.stochastic}
    outputs = {k: result[k] for k in keep if k not in model.stochastic}
    inputs, outputs, _ = apply_policy(inputs, outputs, nonfinite)
    return inputs, outputs


def _memory_bytes() -> float:
    """This machine's physical memory in bytes (infinite where the OS does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return float("inf")


@functools.cache
def package_version(module: str) -> str:
    """The installed version of distribution `module`, or "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "unknown"


def provenance(model: Simulator, *, seed, num_draws: int, method: str = METHOD_NAMES[DEFAULT_METHOD]) -> dict:
    """CF-style global attributes: versions, seed, draws, and every prior with its source."""
    s = model.scenario
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    version = package_version("carbon-mc")
    kind = "deployment" if model.is_serving else "training run"
    slug = "".join(c if c.isalnum() or c in "._-" else "_" for c in s.name).strip("_") or "scenario"
    return {
        "title": f"carbon-mc estimate: {s.name}",
        "summary": (f"Draws ({method.replace('_', ' ')}, {int(num_draws)} draws, seed {seed}) of the energy and "
                    f"CO2e of the {kind} {s.name!r}: every uncertain input is drawn from a prior with units and a cited "
                    "source and pushed through carbon-mc's carbon model; inputs and outputs carry units and long names."),
        "keywords": "carbon footprint, greenhouse gas emissions, CO2e, energy, machine learning, large language models, "
                    "Monte Carlo, uncertainty quantification",
        "id": f"carbon-mc_{slug}_seed{int(seed) if isinstance(seed, (int, np.integer)) else 'key'}_{int(num_draws)}",
        "comment": "Model output, not observations: a distribution over the inputs' priors, not a measurement.",
        "acknowledgement": "Every prior cites its source: see the 'priors' attribute and each input's 'source'.",
        "license": "carbon-mc and its bundled priors: MIT; the cited sources keep their own terms",
        "creator_name": "carbon-mc contributors",
        "creator_type": "group",
        "project": "carbon-mc",
        "processing_level": "model output (Monte Carlo over cited priors)",
        "product_version": version,
        "model_chain": model.chain.__name__,
        "Conventions": "CF-1.10, ACDD-1.3",
        "source": f"carbon-mc {version} (Monte Carlo over cited priors; JAX {jax.__version__}, NumPyro {package_version('numpyro')})",
        "history": f"{now}: carbon-mc {version} estimate of {Path(s.file).name}: {int(num_draws)} draws, seed {seed}, method {method}",
        "date_created": now,
        "references": "https://huggingface.co/docs/hub/model-cards-co2 (model-card fields); priors: see the 'priors' attribute",
        "carbon_mc_version": version,
        "jax_version": jax.__version__,
        "numpyro_version": package_version("numpyro"),
        "created_utc": now,
        "seed": int(seed) if isinstance(seed, (int, np.integer)) else -1,
        "num_draws": int(num_draws),
        "method": method,
        "random_streams": (f"threefry2x32-20 counter streams (jnp); per input fold_in(key, crc32(name)); two draws per counter; "
                           f"blocks of {BLOCK} draws")
        + (f"; streams renamed {json.dumps(model.streams, sort_keys=True)}" if model.streams else ""),
        "scenario_name": s.name,
        "scenario_file": Path(s.file).name,
        "scenario_sha256": s.sha256 or "",
        "scenario_toml": scenario_text(s),
        "hardware": s.hardware,
        "priors_sha256": json.dumps(model.table.files, sort_keys=True),
        "priors": json.dumps({n: p.describe() for n, p in model.priors.items()}, sort_keys=True),
        "reported": json.dumps({**s.reported.figures(), "basis": s.reported.basis, "source": s.reported.source}),
        "accounting": json.dumps({"grid_basis": model.run.grid_basis, "pue_included": model.run.pue_included}),
    }


def scenario_text(scenario: AnyScenario) -> str:
    """The scenario file's own text, checked against the hash taken when it was loaded.

    A scenario built in Python (no file, no hash) has no text: "".

    Raises:
      CarbonMCError: the file changed (or vanished) since the scenario was loaded from it.
    """
    if not scenario.sha256:
        return ""
    if scenario.sha256 in SCENARIO_TEXTS:  # read at load time (a pipe cannot be read twice)
        return SCENARIO_TEXTS[scenario.sha256]
    path = Path(scenario.file)
    data = path.read_bytes() if path.is_file() else b""
    if hashlib.sha256(data).hexdigest() != scenario.sha256:
        raise CarbonMCError("the scenario file changed since it was loaded; load it again", file=str(path))
    return data.decode("utf-8")


def to_dataset(model: Simulator, inputs: dict, outputs: dict, attrs: dict, draw_index=None) -> xr.Dataset:
    """Assemble draws into a labelled Dataset with units, long names and sources.

    `draw_index` numbers the draws (default 0, 1, ...): the kept draws' own numbers after some were dropped.
    """
    import xarray as xr

    data_vars = {}
    for name, prior in model.priors.items():
        var_attrs = {
            "units": prior.units,
            "long_name": prior.long_name,
            "distribution": prior.family,
            "variant": prior.variant,
            "source": prior.source,
            "role": "input",
        }
        if prior.is_fixed:
            data_vars[name] = xr.Variable((), np.float32(prior.fixed_value), var_attrs)
        elif prior.components:
            data_vars[name] = xr.Variable(("draw", f"{name}_component"), inputs[name], var_attrs)
        else:
            data_vars[name] = xr.Variable(("draw",), inputs[name], var_attrs)
    for name, values in outputs.items():
        meta = model.output_table[name]
        data_vars[name] = xr.Variable(("draw",), values, {"units": meta.units, "long_name": meta.long_name, "role": "output"})
    n = len(next(iter(outputs.values())))
    coords: dict[str, xr.Variable] = {
        "draw": xr.Variable("draw", np.arange(n) if draw_index is None else np.asarray(draw_index),
                            {"long_name": "draw number", "units": "1"})}
    for name, prior in model.priors.items():
        if prior.components and not prior.is_fixed:
            coords[f"{name}_component"] = xr.Variable(f"{name}_component", list(prior.components),
                                                      {"long_name": f"component of {prior.long_name}"})
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def estimate(
    scenario: AnyScenario | str | Path,
    *,
    num_draws: int = 100_000,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    progress: Callable | None = None,
    method: str = DEFAULT_METHOD,
    jax_devices=None,
    posterior: dict[str, Prior] | None = None,
    as_inference_data: bool = False,
    nonfinite: str = "refuse",
):
    """Distribution of a training run's (or a deployment's) energy and CO2e, as an xarray Dataset over `draw`.

    Args:
      scenario: a `Scenario` or `ServingScenario`, a path to a scenario TOML (a ``[serving]`` table
        makes it a deployment), or the name of a bundled one.
      num_draws: number of Monte Carlo draws.
      seed: integer seed (or a JAX key). Same seed, same numbers, whatever `chunk_size`.
      chunk_size: draws processed at once; bounds memory.
      priors: a `PriorTable` (default: the bundled priors/).
      progress: optional callback ``progress(done, total)`` called after each chunk.
      method: "qmc" (randomized quasi-Monte Carlo: scrambled Sobol' points,
        `carbon_mc.sampling.qmc`; the default, as for ``carbon-mc run``) or "mc" (Monte Carlo:
        each input's own Threefry stream).
      jax_devices: JAX devices to shard the draws over (default: all of ``jax.devices()``); the draws do not
        depend on them.
      posterior: priors to draw some inputs from instead ({input name: Prior}; see `build_simulator`).
      as_inference_data: return an ArviZ object instead (`carbon_mc.to_inference_data`): the draws
        in a ``prior`` group on (chain, draw), constants as scalars in ``constant_data``, so that
        ``az.summary(idata, group="prior")``, ``az.hdi``, ``az.plot_posterior`` and ``to_netcdf``
        work on it directly.
      nonfinite: "refuse" (default) or "drop" draws that are not finite (`carbon_mc.finite`); the
        number dropped is ``attrs["nonfinite_draws_dropped"]``.

    Returns:
      Dataset with every drawn input, every output (``energy_mwh``, ``operational_tco2e``,
      ``embodied_tco2e``, ``total_tco2e`` and intermediates) with CF ``units``/``long_name``, fixed
      inputs as scalars, and provenance in ``attrs`` (CF/ACDD ``source``, ``history``,
      ``date_created``; the scenario's TOML text; every prior used with its source). With
      `as_inference_data`, the same draws as an ``arviz.InferenceData`` (ArviZ 0.x) or an
      ``xarray.DataTree`` (ArviZ 1.x).

    Raises:
      InputError: an invalid scenario (`load_scenario`), `num_draws`, `seed`, `chunk_size` or `method`.
      NumericError: draws that are not finite, unless ``nonfinite="drop"``.
    """
    check_scenario(scenario), check_num_draws(num_draws), check_seed(seed), check_chunk_size(chunk_size), check_policy(nonfinite)
    check_priors(priors), check_posterior(posterior), check_method(method), check_callable(progress), check_devices(jax_devices)
    check_flag(as_inference_data, "as_inference_data")
    model = build_simulator(scenario, priors=priors, posterior=posterior)
    kept = kept_draws(model, num_draws=num_draws, seed=seed, method=method, chunk_size=chunk_size, progress=progress,
                      jax_devices=jax_devices, nonfinite=nonfinite)
    ds = to_dataset(model, *kept)
    return to_inference_data(ds) if as_inference_data else ds


def kept_draws(model: Simulator, *, num_draws: int, seed, method: str, chunk_size: int = DEFAULT_CHUNK, progress=None,
               jax_devices=None, nonfinite: str = "refuse", variables: list[str] | None = None,
               ) -> tuple[dict, dict, dict, np.ndarray | None]:
    """(inputs, outputs, provenance attrs, draw numbers or None): the draws `estimate` keeps, after the non-finite policy.

    `variables` (default: every drawn input and output) limits what is computed, kept and checked: a
    run that reports a few outputs need not keep the others (a deployment has about fifty).

    Raises:
      NumericError: draws that are not finite, unless ``nonfinite="drop"``.
    """
    inputs, outputs = draw(model, num_draws=num_draws, seed=seed, chunk_size=chunk_size, progress=progress, method=method,
                           jax_devices=jax_devices, nonfinite="keep", variables=variables)
    kept, _ = finite_rows({**inputs, **outputs})
    inputs, outputs, dropped = apply_policy(inputs, outputs, nonfinite)
    attrs = provenance(model, seed=seed, num_draws=num_draws, method=METHOD_NAMES[method])
    if nonfinite == "drop":
        attrs["nonfinite_draws_dropped"] = dropped
    if method != "mc":
        attrs["random_streams"] = sampler(model, seed, method).description
    return inputs, outputs, attrs, (np.flatnonzero(kept) if dropped else None)
