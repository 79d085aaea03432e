"""The engine: priors -> vectorised draws (in chunks) -> the carbon model -> an xarray Dataset.

Random streams. Each uncertain input has its own stream, ``fold_in(key, crc32(name))``, cut into
blocks of `BLOCK` draws; block ``b`` of input ``q`` is ``uniform(fold_in(stream_q, b), (BLOCK,))``.
A draw's value therefore depends only on the seed, the input's name and the draw's index, never on
the chunk size, the device count, or which other inputs the model has (so two scenarios that share
an input share its draws: common random numbers). Uniforms go through each prior's inverse CDF.
"""

from __future__ import annotations

import datetime
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .footprint import OUTPUTS, RunConstants, carbon_footprint
from .priors import Prior, PriorTable, load_priors
from .scenario import Scenario, load_scenario

BLOCK = 4096
DEFAULT_CHUNK = 1 << 20
_TINY = float(np.finfo(np.float32).tiny)


def stream_id(name: str) -> int:
    """Stable 31-bit id of an input's random stream (survives model edits and reordering)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def uniforms(rng_key, name: str, first_block, num_blocks: int, columns: int = 1):
    """Uniforms in (0, 1) for draws ``first_block*BLOCK ... (first_block+num_blocks)*BLOCK - 1`` of input `name`.

    Shape (num_blocks*BLOCK,), or (num_blocks*BLOCK, columns) when `columns` > 1 (joint priors).
    """
    stream = jax.random.fold_in(rng_key, stream_id(name))
    block_ids = first_block + jnp.arange(num_blocks, dtype=jnp.uint32)
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(stream, block_ids)
    shape = (BLOCK,) if columns == 1 else (BLOCK, columns)
    u = jax.vmap(lambda k: jax.random.uniform(k, shape, jnp.float32, minval=_TINY, maxval=1.0))(keys)
    return u.reshape((-1,) + shape[1:])


@dataclass(frozen=True)
class Model:
    """A scenario bound to its priors: what is drawn, what is fixed, and the model function."""

    scenario: Scenario
    priors: dict[str, Prior]
    run: RunConstants
    table: PriorTable
    # Input name -> name of its random stream, where they differ. Empty by default: each input
    # draws from the stream named after it. `carbon_mc.compare` renames the streams of inputs that
    # two scenarios do not share, so that only shared uncertainties get common random numbers.
    streams: dict[str, str] = field(default_factory=dict)

    def stream(self, name: str) -> str:
        """The name of input `name`'s random stream."""
        return self.streams.get(name, name)

    def with_streams(self, streams: dict[str, str]) -> Model:
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

    def inputs_from_uniforms(self, u: dict) -> dict:
        """Inputs for the model: each drawn input through its prior's inverse CDF, fixed ones as scalars."""
        x = {name: jnp.float32(v) for name, v in self.fixed.items()}
        for name in self.stochastic:
            x[name] = self.priors[name].icdf(u[name])
        return x

    def outputs(self, x: dict) -> dict:
        """Every output of the carbon model for inputs `x`."""
        return carbon_footprint(x, self.run)


def build_model(scenario: Scenario | str | Path, *, priors: PriorTable | None = None) -> Model:
    """Bind a scenario (object or TOML path) to its resolved priors."""
    table = priors or load_priors()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, priors=table)
    resolved = scenario.resolve_priors(table)
    spec = table.hardware_spec(scenario.hardware, file=scenario.file)
    return Model(scenario, resolved, RunConstants.from_scenario(scenario, spec), table)


def _chunk_function(model: Model, num_blocks: int) -> Callable:
    size = num_blocks * BLOCK

    def draw_chunk(rng_key, first_block):
        u = {
            name: uniforms(rng_key, model.stream(name), first_block, num_blocks, model.priors[name].num_columns)
            for name in model.stochastic
        }
        x = model.inputs_from_uniforms(u)
        out = model.outputs(x)
        drawn = {name: x[name] for name in model.stochastic}
        return drawn, {k: jnp.broadcast_to(v, (size,)) for k, v in out.items()}

    return jax.jit(draw_chunk)


def _as_key(seed) -> jax.Array:
    if isinstance(seed, (int, np.integer)):
        return jax.random.key(int(seed))
    return seed


def draw(model: Model, *, num_draws: int, seed: int = 0, chunk_size: int = DEFAULT_CHUNK, progress: Callable | None = None):
    """Draw inputs and outputs as NumPy arrays, chunk by chunk (memory bounded by `chunk_size`)."""
    if num_draws < 1:
        raise ValueError("num_draws must be >= 1")
    blocks_per_chunk = max(1, math.ceil(chunk_size / BLOCK))
    total_blocks = math.ceil(num_draws / BLOCK)
    blocks_per_chunk = min(blocks_per_chunk, total_blocks)
    fn = _chunk_function(model, blocks_per_chunk)
    key = _as_key(seed)
    pieces_in: dict[str, list] = {n: [] for n in model.stochastic}
    pieces_out: dict[str, list] = {}
    done = 0
    for first in range(0, total_blocks, blocks_per_chunk):
        drawn, out = fn(key, jnp.uint32(first))
        take = min(blocks_per_chunk * BLOCK, num_draws - done)
        for n, v in drawn.items():
            pieces_in[n].append(np.asarray(v[:take]))
        for n, v in out.items():
            pieces_out.setdefault(n, []).append(np.asarray(v[:take]))
        done += take
        if progress is not None:
            progress(done, num_draws)
    inputs = {n: np.concatenate(v) for n, v in pieces_in.items()}
    outputs = {n: np.concatenate(v) for n, v in pieces_out.items()}
    return inputs, outputs


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "unknown"


def provenance(model: Model, *, seed, num_draws: int, method: str = "monte_carlo") -> dict:
    """CF-style global attributes: versions, seed, draws, and every prior with its source."""
    s = model.scenario
    return {
        "title": f"carbon-mc estimate: {s.name}",
        "Conventions": "CF-1.10",
        "institution": "carbon-mc",
        "carbon_mc_version": _version("carbon-mc"),
        "jax_version": jax.__version__,
        "numpyro_version": _version("numpyro"),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": int(seed) if isinstance(seed, (int, np.integer)) else -1,
        "num_draws": int(num_draws),
        "method": method,
        "random_streams": f"threefry; per input fold_in(key, crc32(name)); blocks of {BLOCK} draws"
        + (f"; streams renamed {json.dumps(model.streams, sort_keys=True)}" if model.streams else ""),
        "scenario_name": s.name,
        "scenario_file": Path(s.file).name,
        "scenario_sha256": s.sha256 or "",
        "hardware": s.hardware,
        "priors_sha256": json.dumps(model.table.files, sort_keys=True),
        "priors": json.dumps({n: p.describe() for n, p in model.priors.items()}, sort_keys=True),
        "reported": json.dumps({**s.reported.figures(), "basis": s.reported.basis, "source": s.reported.source}),
        "accounting": json.dumps({"grid_basis": model.run.grid_basis, "pue_included": model.run.pue_included}),
    }


def to_dataset(model: Model, inputs: dict, outputs: dict, attrs: dict) -> xr.Dataset:
    """Assemble draws into a labelled Dataset with units, long names and sources."""
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
        meta = OUTPUTS[name]
        data_vars[name] = xr.Variable(("draw",), values, {"units": meta.units, "long_name": meta.long_name, "role": "output"})
    n = len(next(iter(outputs.values())))
    coords = {"draw": np.arange(n)}
    for name, prior in model.priors.items():
        if prior.components and not prior.is_fixed:
            coords[f"{name}_component"] = list(prior.components)
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def estimate(
    scenario: Scenario | str | Path,
    *,
    num_draws: int = 100_000,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    progress: Callable | None = None,
) -> xr.Dataset:
    """Distribution of a training run's energy and CO2e, as an xarray Dataset over `draw`.

    Args:
      scenario: a `Scenario`, a path to a scenario TOML, or the name of a bundled one.
      num_draws: number of Monte Carlo draws.
      seed: integer seed (or a JAX key). Same seed, same numbers, whatever `chunk_size`.
      chunk_size: draws processed at once; bounds memory.
      priors: a `PriorTable` (default: the bundled priors/).
      progress: optional callback ``progress(done, total)`` called after each chunk.

    Returns:
      Dataset with every drawn input, every output (``energy_mwh``, ``operational_tco2e``,
      ``embodied_tco2e``, ``total_tco2e`` and intermediates) with CF ``units``/``long_name``, fixed
      inputs as scalars, and provenance in ``attrs``.
    """
    model = build_model(scenario, priors=priors)
    inputs, outputs = draw(model, num_draws=num_draws, seed=seed, chunk_size=chunk_size, progress=progress)
    return to_dataset(model, inputs, outputs, provenance(model, seed=seed, num_draws=num_draws))
