"""Benchmark: the measurements behind the engine's choices of samplers and summary method.

1. Draws per second of ``jax.random`` samplers on this device: uniform, normal, beta, gamma
   (rejection samplers), against the inverse-CDF path the engine uses (Threefry uniforms in jnp
   through the float32 normal quantile, `carbon_mc.sampling.ndtri_f32`).
2. Summaries of 10^7 float32 values: ``jnp.quantile`` (a full sort on the device), ``jnp.sort``,
   ``numpy.quantile`` (introselect), ``numpy.sort`` + the sorted-array HDI, and the engine's
   streaming histogram (bin counts on the device, quantiles and HDI read on the host).

    python benchmarks/bench_families_and_summaries.py [--draws 1e7]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def best(fn, repeats=3):
    fn()
    out = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=float, default=1e7)
    args = parser.parse_args()
    n = int(args.draws)

    import jax
    import jax.numpy as jnp

    from carbon_mc.sampling.benchmark import machine
    from carbon_mc.sampling import ndtri_f32, threefry_uniforms
    from carbon_mc.sampling.histograms import FLOAT_SHIFT, Histogram, plan_bins
    from carbon_mc.results.statistics import hdi

    chunk = 1 << 20
    key = jax.random.key(0)
    samplers = {
        "jax.random.uniform": jax.jit(lambda k: jax.random.uniform(k, (chunk,))),
        "jax.random.normal": jax.jit(lambda k: jax.random.normal(k, (chunk,))),
        "jax.random.beta(2, 5)": jax.jit(lambda k: jax.random.beta(k, 2.0, 5.0, (chunk,))),
        "jax.random.gamma(2)": jax.jit(lambda k: jax.random.gamma(k, 2.0, (chunk,))),
    }
    keys = np.zeros((1, 2), np.uint32)
    samplers["engine: threefry uniforms (jnp)"] = jax.jit(lambda k: threefry_uniforms(keys, 0, chunk // 4096))
    samplers["engine: uniforms -> ndtri_f32"] = jax.jit(lambda k: ndtri_f32(threefry_uniforms(keys, 0, chunk // 4096)))
    rates = {}
    for label, f in samplers.items():
        reps = 2 if "beta" in label or "gamma" in label else 8
        secs = best(lambda f=f, reps=reps: jax.block_until_ready([f(jax.random.fold_in(key, i)) for i in range(reps)]))
        rates[label] = reps * chunk / secs
        print(f"{label:34s} {rates[label]:.3e} draws/s", flush=True)

    x = np.exp(np.random.default_rng(0).normal(5.0, 0.4, n)).astype(np.float32)
    xj = jnp.asarray(x)
    qs = [0.025, 0.05, 0.5, 0.95, 0.975]
    jq = jax.jit(lambda v: jnp.quantile(v, jnp.asarray(qs)))
    js = jax.jit(jnp.sort)
    spec = plan_bins(x[:65536])

    @jax.jit
    def device_counts(v):
        b = (jax.lax.bitcast_convert_type(v, jnp.int32) >> FLOAT_SHIFT) - spec.base
        return jnp.zeros(spec.bins + 2, jnp.int32).at[jnp.clip(b, -1, spec.bins) + 1].add(1)

    def streaming():
        h = Histogram(spec, counts=np.asarray(device_counts(xj), np.int64))
        [h.quantile(q) for q in qs]
        h.hdi(0.9)

    def numpy_sort_hdi():
        s = np.sort(x)
        [s[int(q * (n - 1))] for q in qs]
        hdi(s, 0.9, sorted_values=True)

    summaries = {
        "jnp.quantile (5 quantiles)": lambda: jax.block_until_ready(jq(xj)),
        "jnp.sort": lambda: jax.block_until_ready(js(xj)),
        "numpy.quantile (5 quantiles)": lambda: np.quantile(x, qs),
        "numpy.sort + quantiles + HDI": numpy_sort_hdi,
        "engine histogram: counts + quantiles + HDI": streaming,
    }
    seconds = {}
    for label, f in summaries.items():
        seconds[label] = best(f, 2)
        print(f"{label:44s} {seconds[label]:8.3f} s for {n:,} values", flush=True)
    print(json.dumps({"machine": machine(), "num_values": n, "draws_per_s": rates, "summary_seconds": seconds}, indent=2))


if __name__ == "__main__":
    main()
