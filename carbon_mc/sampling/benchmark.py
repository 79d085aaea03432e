"""Throughput benchmark: the engine against a plain-NumPy reference, the random-variate floor and NumPyro.

Everything runs in one process on one bundled scenario (default ``llama_65b``: parameters and
tokens, nine drawn inputs), and every contestant computes the same thing: draws of the drawn
inputs, the carbon model's headline outputs (`carbon_mc.footprint.HEADLINE`), and their summaries
(mean, sd, median, 90% and 95% equal-tailed intervals, 90% HDI).

- engine: `carbon_mc.sampling.stream_summary` (device-side histograms, summaries on the fly), timed
  after a warm-up run that compiles it.
- numpy: the same model written here in NumPy (float64, ``numpy.random.default_rng``, the same
  distribution families, whole-array operations over chunks of 2^20 draws, no Python loop over
  draws), summaries exact from one sort per output. The reference's model is checked against the
  engine's on the same inputs (``numpy_model_max_rel_diff``).
- floor: only the model's random variates: the engine's generator (Threefry streams, or Sobol'
  points with ``method="qmc"``) and the priors' inverse CDFs, the same count of draws in the same
  dispatches, materialised, and nothing else (no model, no summaries): what any Monte Carlo run of
  this model must pay before it computes anything.
- uniforms only: a stricter floor, the generator's uniforms alone, before the inverse CDFs. For
  scale, JAX's own ``jax.random.uniform`` (the same Threefry function) and NumPy's uniforms are
  timed for the same count.
- numpyro: the same model as a NumPyro model (``numpyro.sample`` per prior, ``numpyro.deterministic``
  outputs) through ``numpyro.infer.Predictive`` with default settings, on fewer draws (it is slow),
  timed on a second call of the same ``Predictive`` object (the first traces and compiles).

Timings are wall-clock, best of `repeats`, in draws per second; the load average of the machine is
reported with them, since other processes slow a benchmark down.
"""

from __future__ import annotations

import functools
import math
import os
import platform
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..footprint import HEADLINE, compute, emissions, energy, scaling
from ..results.statistics import QUANTILES, hdi
from . import BLOCK, build_simulator, draw, mesh_of, package_version, sampler, stream_summary
from .dispatch import Dispatcher, dispatch_blocks

REFERENCE_CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------
# The NumPy reference


def numpy_inputs(model, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draws of every drawn input with NumPy's generator, the same families as the priors (float64)."""
    from scipy.special import ndtr, ndtri

    x = {}
    for name in model.stochastic:
        p = model.priors[name]
        q = p.params
        if p.family == "uniform":
            x[name] = rng.uniform(q["low"], q["high"], n)
        elif p.family == "normal":
            x[name] = rng.normal(q["loc"], q["scale"], n)
        elif p.family == "lognormal":
            d = p.distribution.base_dist
            x[name] = rng.lognormal(float(d.loc), float(d.scale), n)
        elif p.family == "triangular":
            x[name] = rng.triangular(q["low"], q["mode"], q["high"], n)
        elif p.family == "truncated_normal":  # inverse CDF on the truncated range, whole-array
            a = -math.inf if q.get("low") is None else (q["low"] - q["loc"]) / q["scale"]
            b = math.inf if q.get("high") is None else (q["high"] - q["loc"]) / q["scale"]
            pa, pb = ndtr(a), ndtr(b)
            x[name] = q["loc"] + q["scale"] * ndtri(pa + rng.random(n) * (pb - pa))
        elif p.family == "multivariate_normal":
            d = p.distribution
            x[name] = rng.multivariate_normal(np.asarray(d.loc, np.float64), np.asarray(d.covariance_matrix, np.float64), n)
        else:
            raise NotImplementedError(f"no NumPy reference for family {p.family!r}")
    return x


def numpy_train_flop_from_scaling(run, x: dict) -> np.ndarray:
    """Training FLOPs of a run given by parameters and a target loss or a compute budget, in NumPy.

    The twin of `carbon_mc.footprint.model._tokens_from_scaling`: D from the loss law
    E + A/N^α + B/D^β = L (+inf where the target is out of reach), or C as given.
    """
    k = scaling.split_constants(x["scaling_law_constants"])
    if run.target_loss is None:
        return np.full(np.shape(k["alpha"]), float(run.compute_budget_flop))
    gap = run.target_loss - k["loss_irreducible"] - np.exp(k["ln_a"] - k["alpha"] * np.log(run.parameters))
    tokens = np.exp((k["ln_b"] - np.log(np.where(gap > 0, gap, 1.0))) / k["beta"])
    return compute.train_flop_from_params_tokens(run.parameters, np.where(gap > 0, tokens, np.inf), numpy_flops_overhead(run, x))


def numpy_flops_overhead(run, x: dict):
    """δ, the attention and logit FLOPs beyond 6N (`compute.attention_logit_flops_fraction`), in NumPy."""
    return compute.attention_logit_flops_fraction(run.parameters, x["context_length_tokens"], x["vocabulary_size"],
                                                  x["hidden_per_layer_ratio"])


def numpy_headline(model, x: dict) -> dict[str, np.ndarray]:
    """The headline outputs of the carbon model (`carbon_mc.footprint.model.carbon_footprint`) in NumPy."""
    run = model.run
    x = {**{k: np.float64(v) for k, v in model.fixed.items()}, **x}
    train_flop: np.float64 | np.ndarray | None  # one number, or one per draw
    if run.train_flops is not None:
        train_flop = np.float64(run.train_flops)
    elif run.parameters is not None and run.tokens is not None:
        train_flop = compute.train_flop_from_params_tokens(run.parameters, run.tokens, numpy_flops_overhead(run, x))
    elif run.target_loss is not None or run.compute_budget_flop is not None:
        train_flop = numpy_train_flop_from_scaling(run, x)
    else:
        train_flop = None
    if run.device_hours is not None:
        device_hours = np.float64(run.device_hours)
    else:
        mfu = np.minimum(x["mfu_fraction"] * x["moe_mfu_ratio"], 1.0) if run.moe else x["mfu_fraction"]
        device_hours = compute.device_hours_from_flop(train_flop, run.peak_flop_per_s, mfu) * x["device_time_overhead_factor"]
    if run.project:
        device_hours = device_hours * x["project_experiment_factor"]
    power_w = energy.accelerator_power_w(run.tdp_w, x["accelerator_power_tdp_fraction"])
    it = energy.it_energy_mwh(device_hours, power_w, x["server_power_w_per_device"])
    energy_mwh = energy.facility_energy_mwh(it, x["pue"]) if run.pue_included else it
    grid = x["market_gco2_per_kwh"] if run.grid_basis == "market" else x["grid_gco2_per_kwh"]
    operational = emissions.operational_tco2e(energy_mwh, grid)
    slot_kg = emissions.embodied_kgco2e_per_device_total(x["embodied_kgco2e_per_device"], x["embodied_kgco2e_per_server"], run.devices_per_server)
    embodied = emissions.embodied_tco2e(device_hours, slot_kg, x["service_life_years"], x["lifetime_utilization_fraction"])
    out = {"energy_mwh": energy_mwh, "operational_tco2e": operational, "embodied_tco2e": embodied,
           "total_tco2e": emissions.total_tco2e(operational, embodied)}
    n = max(np.shape(v)[0] if np.ndim(v) else 1 for v in x.values())  # draws (a joint input is (draws, k))
    return {k: np.broadcast_to(np.asarray(v, np.float64), (n,)) for k, v in out.items()}


def numpy_describe(values: np.ndarray) -> dict[str, float]:
    """Exact summaries from one sort: mean, sd, the equal-tailed quantiles and the 90% HDI."""
    x = np.sort(values)
    out = {"mean": float(x.mean()), "sd": float(x.std(ddof=1))}
    out.update({k: float(np.quantile(x, q)) for k, q in QUANTILES.items()})
    out["hdi90_lower"], out["hdi90_upper"] = hdi(x, 0.9, sorted_values=True)
    return out


def numpy_reference(model, num_draws: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """The NumPy reference end to end: draws, the model in chunks, exact summaries of the headline outputs."""
    rng = np.random.default_rng(seed)
    keep = {k: np.empty(num_draws, np.float64) for k in HEADLINE}
    for start in range(0, num_draws, REFERENCE_CHUNK):
        n = min(REFERENCE_CHUNK, num_draws - start)
        out = numpy_headline(model, numpy_inputs(model, rng, n))
        for k in HEADLINE:
            keep[k][start : start + n] = out[k]
    return {k: numpy_describe(v) for k, v in keep.items()}


def numpy_model_check(model, num_draws: int = 4096, seed: int = 0) -> float:
    """Largest relative difference between the NumPy reference's model and the engine's on the same inputs."""
    x, out = draw(model, num_draws=num_draws, seed=seed)
    ref = numpy_headline(model, {k: v.astype(np.float64) for k, v in x.items()})
    return max(float(np.max(np.abs(ref[k] - out[k]) / np.abs(ref[k]))) for k in HEADLINE)


# ---------------------------------------------------------------------------------------------
# The floor, and NumPyro


def _dispatches(model, num_draws: int, seed: int, method: str, jax_devices):
    mesh = mesh_of(jax_devices)
    disp = Dispatcher(model, sampler(model, seed, method), mesh, dispatch_blocks(mesh, 1 << 30))
    return disp, range(0, num_draws, disp.step)


def floor_draws(model, num_draws: int, seed: int = 0, method: str = "mc", jax_devices=None) -> None:
    """The floor: only the model's random variates (uniforms through the priors' inverse CDFs), materialised.

    The engine's own programs for these two steps, the same count and dispatches; no model, no summaries.
    """
    disp, starts = _dispatches(model, num_draws, seed, method, jax_devices)
    out = None
    for start in starts:
        out = disp.drawn(start)
    jax.block_until_ready(out)


def uniforms_only(model, num_draws: int, seed: int = 0, method: str = "mc", jax_devices=None) -> None:
    """A stricter floor: the engine's uniforms alone (same generator, count and dispatches), materialised."""
    disp, starts = _dispatches(model, num_draws, seed, method, jax_devices)
    out = None
    for start in starts:
        out = disp.uniforms(disp.consts, np.uint32(start // BLOCK))
    jax.block_until_ready(out)


@functools.lru_cache(maxsize=8)
def _jax_uniform_kernel(num_columns: int, chunk: int):
    return jax.jit(lambda k, i: jax.random.uniform(jax.random.fold_in(k, i), (num_columns, chunk), jnp.float32))


def jax_random_uniforms(num_columns: int, num_draws: int, chunk: int = 1 << 16) -> None:
    """The same count of uniforms from ``jax.random.uniform`` (JAX's own threefry), in the same chunk size."""
    f = _jax_uniform_kernel(num_columns, chunk)
    key, out = jax.random.key(0), None
    for i in range(0, num_draws, chunk):
        out = f(key, i)
    jax.block_until_ready(out)


def numpyro_model(model):
    """The carbon model as a NumPyro model: ``numpyro.sample`` per drawn input, ``numpyro.deterministic`` outputs."""
    import numpyro

    def fn():
        x = {name: numpyro.sample(name, model.priors[name].distribution) for name in model.stochastic}
        x = {**{k: jnp.float32(v) for k, v in model.fixed.items()}, **x}
        for k, v in model.outputs(x).items():
            numpyro.deterministic(k, v)

    return fn


def numpyro_predictive(model, num_samples: int):
    """``numpyro.infer.Predictive(model, num_samples=...)`` with default settings; call it with a key."""
    from numpyro.infer import Predictive

    predictive = Predictive(numpyro_model(model), num_samples=num_samples)
    return lambda seed=0: jax.block_until_ready(predictive(jax.random.key(seed)))


# ---------------------------------------------------------------------------------------------
# Running it


def _best(fn, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def machine() -> dict:
    """Where the benchmark ran: devices, versions, CPU, load."""
    dev = jax.devices()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "device": f"{len(dev)} x {dev[0].platform}: {getattr(dev[0], 'device_kind', dev[0].platform)}",
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "carbon_mc": package_version("carbon-mc"),
        "jax": jax.__version__,
        "jaxlib": package_version("jaxlib"),
        "numpy": np.__version__,
        "numpyro": package_version("numpyro"),
        "os": platform.platform(),
    }


def run_benchmark(
    scenario: str = "llama_65b",
    *,
    num_draws: int = 10_000_000,
    reference_draws: int | None = None,
    numpyro_draws: int = 10_000,
    repeats: int = 5,
    method: str = "mc",
) -> dict:
    """Time the engine, the NumPy reference, the floor and NumPyro on one scenario; return a JSON-ready dict."""
    model = build_simulator(scenario)
    reference_draws = reference_draws or num_draws
    names = list(HEADLINE)
    columns = sum(model.priors[n].num_columns for n in model.stochastic)
    result: dict[str, Any] = {"scenario": scenario, "method": method, "num_draws": num_draws, "drawn_columns": columns,
              "summarized": names, "machine": machine(), "timings_s": {}, "draws_per_s": {}}
    t: dict[str, float] = result["timings_s"]

    stream_summary(model, num_draws=min(num_draws, 1 << 20), seed=1, variables=names, method=method)  # compile
    floor_draws(model, min(num_draws, 1 << 20), method=method)  # compile
    uniforms_only(model, min(num_draws, 1 << 20), method=method)  # compile
    # the engine and both floors alternate, so that a change in the machine's load hits all alike
    rounds: dict[str, list[float]] = {"engine": [], "floor": [], "uniforms_only": []}
    for _ in range(repeats):
        rounds["engine"].append(_best(lambda: stream_summary(model, num_draws=num_draws, seed=1, variables=names, method=method).to_dataset(), 1))
        rounds["floor"].append(_best(lambda: floor_draws(model, num_draws, method=method), 1))
        rounds["uniforms_only"].append(_best(lambda: uniforms_only(model, num_draws, method=method), 1))
    t.update({k: min(v) for k, v in rounds.items()})
    result["engine_over_floor_per_round"] = [f / e for e, f in zip(rounds["engine"], rounds["floor"])]
    result["engine_over_uniforms_only_per_round"] = [f / e for e, f in zip(rounds["engine"], rounds["uniforms_only"])]
    jax_random_uniforms(columns, 1 << 16)
    t["jax_random_uniform"] = _best(lambda: jax_random_uniforms(columns, num_draws), 1)
    rng = np.random.default_rng(0)
    t["numpy_uniform_f64"] = _best(lambda: [rng.random(min(REFERENCE_CHUNK, num_draws - s))
                                            for s in range(0, num_draws, REFERENCE_CHUNK) for _ in range(columns)], 1)
    t["numpy"] = _best(lambda: numpy_reference(model, reference_draws), max(1, repeats - 1))
    predictive = numpyro_predictive(model, numpyro_draws)
    predictive(0)  # the first call traces and compiles
    t["numpyro_predictive"] = _best(lambda: predictive(1), 1)

    counts = {"engine": num_draws, "floor": num_draws, "uniforms_only": num_draws, "jax_random_uniform": num_draws,
              "numpy_uniform_f64": num_draws, "numpy": reference_draws, "numpyro_predictive": numpyro_draws}
    rate: dict[str, float] = result["draws_per_s"]
    for k, v in t.items():
        rate[k] = counts[k] / v
    result["ratios"] = {
        "engine_over_numpy": rate["engine"] / rate["numpy"],
        "engine_over_floor": rate["engine"] / rate["floor"],
        "engine_over_floor_median_of_rounds": float(np.median(result["engine_over_floor_per_round"])),
        "engine_over_uniforms_only": rate["engine"] / rate["uniforms_only"],
        "engine_over_numpyro_predictive": rate["engine"] / rate["numpyro_predictive"],
        "uniforms_only_over_jax_random_uniform": rate["uniforms_only"] / rate["jax_random_uniform"],
    }
    result["numpy_model_max_rel_diff"] = numpy_model_check(model)
    result["targets"] = {"engine_over_numpy": 2.0, "engine_over_floor": 0.6, "engine_over_numpyro_predictive": 100.0}
    return result


def format_table(result: dict) -> str:
    """A plain-text table of a `run_benchmark` result."""
    m = result["machine"]
    lines = [
        f"carbon-mc bench: {result['scenario']} ({result['drawn_columns']} drawn columns), method {result['method']}, "
        f"summaries of {', '.join(result['summarized'])}",
        f"device {m['device']}; cpu {m['cpu']} x {m['cpu_count']}; load {m['load_average']}; "
        f"jax {m['jax']}, numpy {m['numpy']}, numpyro {m['numpyro']}",
        "",
        f"{'contestant':36s} {'draws':>12s} {'seconds':>9s} {'draws/s':>12s}",
    ]
    labels = {
        "engine": "engine (draws + model + summaries)",
        "numpy": "NumPy reference (same, exact)",
        "floor": "floor: the model's variates only",
        "uniforms_only": "uniforms only (stricter floor)",
        "jax_random_uniform": "jax.random.uniform, same count",
        "numpy_uniform_f64": "numpy default_rng.random, same count",
        "numpyro_predictive": "NumPyro Predictive (default)",
    }
    for k, label in labels.items():
        draws = result["num_draws"] if k not in ("numpy", "numpyro_predictive") else None
        secs = result["timings_s"][k]
        rate = result["draws_per_s"][k]
        draws = draws or round(rate * secs)
        lines.append(f"{label:36s} {draws:>12,d} {secs:>9.3f} {rate:>12.3e}")
    lines.append("")
    for k, v in result["ratios"].items():
        target = result["targets"].get(k)
        mark = "" if target is None else f"   (target >= {target:g}: {'met' if v >= target else 'NOT met'})"
        lines.append(f"{k:36s} {v:>10.2f}{mark}")
    lines.append(f"{'numpy_model_max_rel_diff':36s} {result['numpy_model_max_rel_diff']:>10.1e}")
    return "\n".join(lines)
