"""Dispatch: the jitted programs of a run, sharded over a device mesh, and the loop over dispatches.

A run is cut into dispatches of whole `BLOCK`s of draws (16 blocks per device on a CPU, 4096 on an
accelerator); with several devices each dispatch is sharded over a ``jax.sharding.Mesh`` along its
blocks. A dispatch runs three jitted programs (uniforms, inverse CDFs, then the model with the
outputs kept or binned), so that XLA cannot fuse an expensive producer into each of its consumers.
"""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np

from .histograms import FLOAT_SHIFT
from .samplers import Sampler
from .simulator import Simulator
from .streams import BLOCK


def kept_in_blocks(chunk, num_draws: int, chunk_size: int) -> dict[str, np.ndarray]:
    """Call ``chunk(first_block, marker)`` over a run of `num_draws` draws cut into dispatches of whole
    `BLOCK`s (at most `chunk_size` draws each) and join what it returns, key by key, as float32 arrays
    of `num_draws` rows. ``marker`` is an int8 array with one entry per block of the dispatch (its shape
    carries the block count into a jitted `chunk` without retracing per value)."""
    step = max(BLOCK, (min(chunk_size, num_draws + BLOCK - 1) // BLOCK) * BLOCK)
    kept: dict[str, list] = {}
    for start in range(0, num_draws, step):
        take = min(step, num_draws - start)
        values = chunk(np.uint32(start // BLOCK), np.zeros(-(-take // BLOCK), np.int8))
        for key, v in values.items():
            kept.setdefault(key, []).append(np.asarray(v)[:take])
    return {key: np.concatenate(parts).astype(np.float32, copy=False) for key, parts in kept.items()}


def model_key(model: Simulator) -> str:
    """What a compiled kernel depends on: the priors, their order and the run's constants."""
    priors = [(n, p.family, json.dumps(p.describe()["params"], sort_keys=True, default=str)) for n, p in model.priors.items()]
    return json.dumps([priors, model.chain.__name__, repr(model.run), model.streams], default=str)


def mesh_of(jax_devices=None, *, local: bool = False) -> jax.sharding.Mesh:
    """A one-axis ``Mesh(jax_devices, ("draw",))`` over the JAX devices that compute the draws.

    By default all of ``jax.devices()`` (every host's, after ``jax.distributed.initialize()``), or
    with `local` only this process's ``jax.local_devices()``. (These are JAX's compute devices, not
    the accelerators of the training run a scenario describes.)
    """
    if jax_devices is None:
        jax_devices = jax.local_devices() if local else jax.devices()
    return jax.sharding.Mesh(np.array(list(jax_devices)), ("draw",))


# Blocks per device per dispatch: small on a CPU, so that a dispatch's intermediates stay in cache;
# large on an accelerator, so that launch overhead vanishes.
DISPATCH_BLOCKS = {"cpu": 16}
DISPATCH_BLOCKS_ACCELERATOR = 4096


def dispatch_blocks(mesh: jax.sharding.Mesh, chunk_size: int) -> int:
    """Blocks per device per dispatch: the platform's default, or fewer if `chunk_size` asks."""
    platform = mesh.devices.flat[0].platform
    default = DISPATCH_BLOCKS.get(platform, DISPATCH_BLOCKS_ACCELERATOR)
    return max(1, min(default, math.ceil(chunk_size / BLOCK / mesh.size)))


_KERNELS: dict = {}


def cached(key, build):
    if key not in _KERNELS:
        if len(_KERNELS) > 64:
            _KERNELS.clear()
        _KERNELS[key] = build()
    return _KERNELS[key]


def output_shapes(model: Simulator) -> dict[str, tuple]:
    """Shape of each output for two draws: () marks an output that does not vary (traced once per model)."""

    def trace():  # the chain alone, on abstract drawn inputs: their inverse CDFs do not change a shape
        drawn = {name: jax.ShapeDtypeStruct((2,) if k == 1 else (2, k), jnp.float32) for name, k in model.columns}
        return {k: v.shape for k, v in jax.eval_shape(lambda x: model.outputs(model.with_fixed(x)), drawn).items()}

    return dict(cached(("output_shapes", model_key(model)), trace))


_P = jax.sharding.PartitionSpec


def uniforms_kernel(smp: Sampler, mesh, nblk: int):
    """Jitted ``(consts, first_block) -> (columns, mesh.size * nblk * BLOCK)`` uniforms, sharded by block."""

    def local(consts, first_block):
        device = jax.lax.axis_index("draw").astype(jnp.uint32)
        return smp.uniforms(consts, first_block + device * np.uint32(nblk), nblk)

    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(_P(), _P()), out_specs=_P(None, "draw")))


def inputs_kernel(model: Simulator, mesh):
    """Jitted ``uniforms (columns, n) -> {drawn input: values}``, sharded by block.

    A dispatch runs three jitted programs: uniforms, inverse CDFs, then the model with the
    summaries or the outputs kept. Materialising the uniforms and the inputs in between stops XLA
    from fusing a producer into each of its consumers and recomputing it there (an
    ``optimization_barrier`` does not prevent it on the CPU), which cost 1.5 to 10 times.
    """
    specs = {k: _P("draw") for k, _ in model.columns}
    return jax.jit(jax.shard_map(model.drawn_from_columns, mesh=mesh, in_specs=(_P(None, "draw"),), out_specs=specs))


def draw_kernel(model: Simulator, mesh, nblk: int, keep: tuple[str, ...]):
    """Jitted ``drawn inputs -> {name: values}`` for the variables in `keep`, sharded by block."""
    n = nblk * BLOCK
    drawn_names = [name for name, _ in model.columns]

    def local(drawn):
        values = {**drawn, **model.outputs(model.with_fixed(drawn))}
        return {k: jnp.broadcast_to(values[k], (n, *tuple(jnp.shape(values[k])[1:]))) for k in keep}

    in_specs = ({k: _P("draw") for k in drawn_names},)
    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs={k: _P("draw") for k in keep}))


def summary_kernel(model: Simulator, mesh, nblk: int, names: tuple[str, ...], kinds: tuple[str, ...], width: int, replicates: int):
    """Jitted ``(drawn inputs, first_block, num_valid, hist, base, lo, inv_width, nbins) -> hist``, sharded by block.

    `hist` (devices, replicates * variables, width) int32 gains this dispatch's counts; block ``b``
    counts in replicate ``b mod replicates``. Row ``r V + v``: column 0 underflow, 1..nbins[v] the
    bins, nbins[v]+1 overflow, width-2 non-finite, width-1 draws past `num_valid` (dropped). See
    `carbon_mc.sampling.histograms` for the bins.
    """
    n = nblk * BLOCK
    drawn_names = [name for name, _ in model.columns]

    def local(drawn, first_block, num_valid, hist, base, lo, inv_width, nbins):
        device = jax.lax.axis_index("draw")
        values = {**drawn, **model.outputs(model.with_fixed(drawn))}
        valid = jnp.arange(n, dtype=jnp.int32) < (num_valid - device * n)
        row = jnp.int32(0)
        if replicates > 1:
            block = first_block + device.astype(jnp.uint32) * np.uint32(nblk) + jnp.arange(nblk, dtype=jnp.uint32)
            row = jnp.repeat((block % np.uint32(replicates)).astype(jnp.int32) * (len(names) * width), BLOCK)
        flat = hist.reshape(-1)
        for v, (name, kind) in enumerate(zip(names, kinds)):
            x = jnp.broadcast_to(values[name], (n,))
            if kind == "float":  # exponent and top mantissa bits: log-linear bins without a log
                b = (jax.lax.bitcast_convert_type(x, jnp.int32) >> FLOAT_SHIFT) - base[v]
            else:
                b = jnp.floor((x - lo[v]) * inv_width[v]).clip(-1.0, nbins[v].astype(jnp.float32)).astype(jnp.int32)
            idx = jnp.clip(b, -1, nbins[v]) + 1
            idx = jnp.where(valid, jnp.where(jnp.abs(x) < jnp.inf, idx, width - 2), width - 1)
            flat = flat.at[idx + (v * width) + row].add(1, mode="promise_in_bounds")
        return flat.reshape(hist.shape)

    rep = _P()
    in_specs = ({k: _P("draw") for k in drawn_names}, rep, rep, _P("draw"), rep, rep, rep, rep)
    fn = jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs=_P("draw"))
    return jax.jit(fn, donate_argnums=(3,))


class Dispatcher:
    """The compiled programs of one (model, sampler, mesh, dispatch size), and the loop over dispatches."""

    def __init__(self, model: Simulator, smp: Sampler, mesh, nblk: int):
        self.model, self.smp, self.mesh, self.nblk = model, smp, mesh, nblk
        self.key = (model_key(model), smp.method, mesh.devices.tobytes(), nblk)
        self.uniforms = cached(("uniforms", *self.key), lambda: uniforms_kernel(smp, mesh, nblk))
        self.inputs = cached(("inputs", *self.key), lambda: inputs_kernel(model, mesh))
        self.consts = tuple(jnp.asarray(c) for c in smp.consts)
        self.step = nblk * mesh.size * BLOCK  # draws per dispatch

    def drawn(self, first_draw: int):
        """The drawn inputs of the dispatch starting at draw `first_draw` (a multiple of BLOCK), on the devices."""
        return self.inputs(self.uniforms(self.consts, np.uint32(first_draw // BLOCK)))


def to_host(x) -> np.ndarray:
    """A (possibly multi-host) sharded array as one NumPy array on this process."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
