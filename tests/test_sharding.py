"""Draws sharded over a Mesh of 1, 2 and 4 devices give the same numbers for the same seed.

The number of CPU devices is fixed when JAX starts, so the multi-device runs happen in a child
process started with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from carbon_mc.sampling import BLOCK, build_simulator, draw, stream_summary

REPO = Path(__file__).resolve().parents[1]
N_DRAWS = 9 * BLOCK + 321  # not a multiple of any dispatch: the last one is partial on every device count
N_STREAM = 300_001
NAMES = ["total_tco2e", "energy_mwh", "pue"]

CHILD = textwrap.dedent(
    f"""
    import sys
    import jax
    import numpy as np
    from carbon_mc.sampling import build_simulator, draw, stream_summary

    assert len(jax.devices()) == 4, jax.devices()
    model = build_simulator("gpt3_175b")
    out = {{}}
    for method, counts in (("mc", (1, 2, 4)), ("qmc", (1, 4))):
        for nd in counts:
            jax_devices = jax.devices()[:nd]
            x, y = draw(model, num_draws={N_DRAWS}, seed=11, method=method, jax_devices=jax_devices, variables={NAMES!r})
            for k, v in {{**x, **y}}.items():
                out[f"{{method}}/{{nd}}/draw/{{k}}"] = v
            s = stream_summary(model, num_draws={N_STREAM}, seed=11, method=method, variables={NAMES!r}, jax_devices=jax_devices)
            for k, h in s.histograms.items():
                out[f"{{method}}/{{nd}}/hist/{{k}}"] = h.counts
    np.savez(sys.argv[1], **out)
    """
)


def test_same_numbers_on_1_2_and_4_devices(tmp_path):
    path = tmp_path / "sharded.npz"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(path)
    keys = sorted(k for k in got.files if k.startswith("mc/1/") or k.startswith("qmc/1/"))
    assert any("/draw/" in k for k in keys) and any("/hist/" in k for k in keys)
    for key in keys:
        for nd in (2, 4) if key.startswith("mc/") else (4,):
            np.testing.assert_array_equal(got[key.replace("/1/", f"/{nd}/", 1)], got[key], err_msg=f"{key} on {nd} devices")
    # and the child's one-device numbers are this process's numbers (a single default device)
    model = build_simulator("gpt3_175b")
    for method in ("mc", "qmc"):
        x, y = draw(model, num_draws=N_DRAWS, seed=11, method=method, variables=NAMES)
        for k, v in {**x, **y}.items():
            np.testing.assert_array_equal(got[f"{method}/1/draw/{k}"], v, err_msg=k)
        s = stream_summary(model, num_draws=N_STREAM, seed=11, method=method, variables=NAMES)
        for k, h in s.histograms.items():
            np.testing.assert_array_equal(got[f"{method}/1/hist/{k}"], h.counts, err_msg=k)


# --- accelerators ------------------------------------------------------------------------------
# No GPU or TPU runs these tests, but every program a dispatch runs can be lowered for one: JAX
# exports StableHLO for another platform without its device, and fails on any primitive that has
# no lowering there (a CPU-only custom call, a host callback). This is the same code at the
# accelerator dispatch size (4096 blocks per device); its speed there is for BENCHMARKS.md.


@pytest.mark.parametrize("scenario", ["llama_65b", "chinchilla_style_70b_target_loss"])
@pytest.mark.parametrize("method", ["mc", "qmc"])
def test_every_program_of_a_dispatch_lowers_for_gpu_and_tpu(scenario, method):
    import jax
    import jax.numpy as jnp
    from jax import export

    from carbon_mc.sampling.dispatch import DISPATCH_BLOCKS_ACCELERATOR, Dispatcher, draw_kernel, mesh_of, summary_kernel
    from carbon_mc.sampling import sampler
    from carbon_mc.footprint import HEADLINE

    model = build_simulator(scenario)
    mesh, nblk = mesh_of(), DISPATCH_BLOCKS_ACCELERATOR
    disp = Dispatcher(model, sampler(model, 0, method), mesh, nblk)
    consts = tuple(jax.ShapeDtypeStruct(np.shape(c), np.asarray(c).dtype) for c in disp.consts)
    u = jax.eval_shape(disp.uniforms, disp.consts, np.uint32(0))
    drawn = jax.eval_shape(disp.inputs, u)
    assert u.shape[1] == nblk * BLOCK
    width, names = (1 << 17) + 4, tuple(HEADLINE)
    summary = summary_kernel(model, mesh, nblk, names, ("float",) * 4, width, 1)
    bins = (jnp.zeros(4, jnp.int32), jnp.zeros(4, jnp.float32), jnp.zeros(4, jnp.float32), jnp.full(4, width - 4, jnp.int32))
    hist = jax.ShapeDtypeStruct((mesh.size, 4, width), jnp.int32)
    programs = {
        "uniforms": (disp.uniforms, (consts, np.uint32(0))),
        "inverse CDFs": (disp.inputs, (u,)),
        "model and histograms": (summary, (drawn, np.uint32(0), np.int32(1), hist, *bins)),
        "model, draws kept": (draw_kernel(model, mesh, nblk, names), (drawn,)),
    }
    for platform in ("cuda", "rocm", "tpu"):
        for label, (fn, args) in programs.items():
            exported = export.export(fn, platforms=[platform])(*args)
            assert exported.platforms == (platform,), label
            assert "stablehlo" in exported.mlir_module(), label
