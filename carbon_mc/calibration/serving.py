"""Calibrate the serving throughput and power on measured inference points (NumPyro, NUTS).

Data: the steady-state GPU measurements of models/reference/inference_measurements.csv that give a
running batch, a mean output length and a throughput (ML.ENERGY v3.0 on H100/B200 with vLLM 0.11.1,
v2.0 on A100/H100 with vLLM 0.5.4): 201 points over 47 model x accelerator x GPU-count x software
configurations (the v3.0 rows added by models/reference/extract_mlenergy_v3.py: batch 8, the batch
nearest 64 and the largest per configuration, 16 and 32 for dense models of at most 15B, and every
batch from 64 up for dense models of at least 60B, as models/reference/extract_mlenergy_v2.py adds
from the v2.0 files). Per configuration the file gives output tokens/s and GPU energy per output
token, hence mean GPU power (energy x tokens/s). Sources, years and licences:
models/reference/inference_measurements_sources.toml.

Model (hierarchical over groups = accelerator x software vintage, partial pooling):

    logit f_g = logit f + tau_f z_f,g     f: memory_bandwidth_fraction               (priors/serving.toml)
    logit m_g = logit m + tau_m z_m,g     m: decode_mfu_fraction                     (priors/serving.toml)
    logit a_g = logit a + tau_a z_a,g     a: serving_memory_bound_power_tdp_fraction (priors/serving_power.toml)
    r                                     r: serving_moe_mfu_ratio, MoE decode MFU = m_g x r (pooled)
    o                                     o: serving_step_overhead_s, seconds per decode step (pooled)
    beta                                  beta: serving_power_utilization_slope (pooled)
    ln tokens/s_i ~ Normal(ln decode_tokens_per_s(f_g, m_g, r, o; N, B, n, hardware), sigma_t,k x exp(tau_s z_s,g))
                                          k: dense or mixture of experts; z_s,g: the group's factor
    ln power_i    ~ Normal(ln(n x TDP x p_i), sigma_p,k),  logit p_i = logit a_g + beta sqrt(u_i)
                                          u_i: predicted decode FLOP/s over peak (footprint.serving_power)
    corr(throughput residual, power residual) = rho_k   (bivariate normal per point)

with the throughput of `carbon_mc.footprint.serving` (weights streamed once per step, MoE weights
by the expected share touched, plus the batched compute, whose MFU a mixture of experts reaches only
in part: small per-expert GEMMs, routing and all-to-all) and the busy power of
`carbon_mc.footprint.serving_power`. Energy per output token is then power / tokens/s. `validate`
refits with groups of configurations held out; `validate_regimes` leaves one model-hardware
configuration out at a time and scores each regime's held-out points: coverage of the 90% predictive
interval and the median |log10(measured / predicted median)|.

Why the MoE ratio: without it (and with the 40 earlier points, the MoE regime held out as a whole),
held-out coverage of MoE was 73% and every miss was on the low side at large batch (DeepSeek V3.1 on
B200 at batch 3,008 predicted 0.11 J/token, measured 0.61; gpt-oss-120b at batch 1,916 0.036 vs
0.086; Mixtral on H100 0.42 vs 1.0): the compute term assumed a dense model's MFU for expert GEMMs
of B x k / E tokens each. With it, on the 154 points of then, the 45 MoE points scored 89% coverage
and median |log10 error| 0.139 against 87% and 0.186 without it.

Why the busy power follows utilisation: with one busy power per group the small models were
predicted high at batch 8 (log10 error -0.07 to -0.28, all 12) because their measured GPU power
rises with batch (H100, vLLM 0.11: 0.61-0.73 of TDP at batch 8, 0.88-0.99 at the largest); least
squares on the measured points leaves a mean ln power residual of -0.204 for them with one level per
group and -0.047 with the utilisation term, and the dense power residual scale falls from 0.21 to
0.13 (posterior medians).

Why a throughput residual factor per group: the groups scatter differently about the forward model
(dense points, posterior medians: H100 0.24, A100 0.23, B200 0.30 in ln; tau_s 0.07-0.57, 90%), newer
software on the newest accelerator varying most by model.

Held-out figures by regime (leave one model-hardware configuration out, seed 0; `validate_regimes`;
4 chains x 400 warm-up and 250 draws, 500 and 500 for MoE), 201 points:
mixture of experts 45 points, 40 inside (89%), median |log10 error| 0.100 (misses: Qwen3-235B FP8
at batch 8 on three configurations, +0.43 to +0.49, and on 8 H100 at batch 64 and 511, +0.31);
large dense batched (>= 60B, batch >= 64) 59 points, 55 inside (93%), 0.090 (misses: Llama 3.1
405B BF16 on 8 B200 at batch 1,021-3,589, -0.19 to -0.23); small models on an optimised server
(<= 15B, batch <= 32) 36 points, 35 inside (97%), 0.074 (miss: Llama 3.1 8B on B200 at batch 8,
-0.20). With the utilisation power term but one throughput residual scale per kind and independent
residuals, the same check on the 201 points gave large dense 58 of 59 (98%), 0.077, and small 34 of
36 (94%), 0.085; adding the group factor alone, large dense 59 of 59, small 35 of 36 and MoE 40 of
45, 0.123. The intervals were too wide for energy because its two residuals were treated as
independent: on the dense points the throughput and power residuals correlate (0.43 at the fitted
medians), so their difference varies less than the two apart.

The per-step overhead (serving_step_overhead_s) is a latent of this model with the engine's prior
for an optimised server (every point is vLLM; `calibration_priors`), so the forward model is the
engine's; `posterior_serving_draws` hands its draws to the engine by name, with the memory-bound
power level and the utilisation slope. Posteriors (90%): overhead 1.0-3.9 ms a step (median 2.4 ms),
within the prior's 0.2-3 ms at its upper end (with independent residuals it was 3.5-5.8 ms: the power
data, coupled to the throughput, now inform it); MoE ratio 0.15-0.24; utilisation slope 4.0-5.2;
memory-bound power 0.51 of TDP on H100 (vLLM 0.11) and 0.55 on B200 (group medians); correlation of
the residuals 0.40-0.64 for dense points, -0.09-0.41 for MoE. With 201 points every R-hat is at most
1.005 and the smallest bulk ESS 634 (4 x 1,000 warm-up and 500 draws).
"""

from __future__ import annotations

import csv
import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS

from ..footprint import serving, serving_power

HARDWARE = {"H100": "h100_sxm", "A100-SXM4-40GB": "a100_40gb", "B200": "b200"}
# bytes per parameter and compute peak relative to BF16, by the weight format the data file names
WEIGHT_FORMATS = {"bfloat16": (2.0, 1.0), "fp8": (1.0, 2.0), "mxfp4": (4.25 / 8.0, 1.0)}  # MXFP4: 4-bit + 8-bit scale per 32 (OCP MX v1.0)
CALIBRATED = ("memory_bandwidth_fraction", "decode_mfu_fraction", "serving_memory_bound_power_tdp_fraction")
SHORT = dict(zip(CALIBRATED, ("f", "m", "a")))
# fitted once for all groups (no accelerator x software effect): the MoE decode efficiency relative to dense
POOLED = ("serving_moe_mfu_ratio", "serving_step_overhead_s", "serving_power_utilization_slope")
# the serving stack of every calibration point (ML.ENERGY: vLLM): its overhead prior is the engine's for that stack
CALIBRATION_STACK = "optimised_server"

__all__ = [
    "CALIBRATED",
    "HARDWARE",
    "WEIGHT_FORMATS",
    "CalibrationFit",
    "Measurements",
    "RegimeScore",
    "Validation",
    "calibration_priors",
    "calibration_regimes",
    "fit",
    "load_measurements",
    "posterior_serving_draws",
    "predict_energy_j_per_token",
    "predicted_ln_tokens_per_s",
    "serving_model",
    "validate",
    "validate_regimes",
]


class Measurements(NamedTuple):
    """Arrays over measured configurations (float64 NumPy)."""

    label: list[str]
    config: np.ndarray  # int: model x accelerator x software, the unit held out together
    group: np.ndarray  # int: accelerator x software vintage
    group_names: list[str]
    parameters: np.ndarray
    active_parameters: np.ndarray
    bytes_per_parameter: np.ndarray
    devices: np.ndarray
    batch: np.ndarray
    peak_flop_per_s: np.ndarray
    memory_bandwidth_gb_per_s: np.ndarray
    tdp_w: np.ndarray
    tokens_per_s: np.ndarray
    energy_j_per_token: np.ndarray

    @property
    def moe(self) -> np.ndarray:
        """Mixture-of-experts points: fewer active than total parameters."""
        return self.active_parameters < self.parameters

    @property
    def power_w(self) -> np.ndarray:
        return self.energy_j_per_token * self.tokens_per_s

    def subset(self, idx) -> Measurements:
        idx = np.asarray(idx)
        fields: dict[str, Any] = {k: (v[idx] if isinstance(v, np.ndarray) else ([v[i] for i in idx] if k == "label" else v))
                                  for k, v in self._asdict().items()}
        return self._replace(**fields)


def load_measurements(path=None, *, priors=None) -> Measurements:
    """The steady-state GPU points of the bundled measurement file (or `path`) usable for calibration."""
    from ..data import data_dir
    from ..priors import load_priors

    table = priors or load_priors()
    path = path or data_dir("models") / "reference" / "inference_measurements.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    recs = []
    for r in rows:
        batch = re.search(r"mean running batch ([\d.]+)", r["batch_or_load"])
        out = re.match(r"([\d.]+) \(mean\)$", r["output_tokens"].strip())
        tput = re.search(r"throughput (\d+) tok/s", r["notes"])
        hw = [v for k, v in HARDWARE.items() if k in r["hardware"]]
        if r["scope"] != "gpu" or r["per"] not in ("token", "response") or not (batch and out and tput and hw):
            continue
        fmt = re.search(r"weights (\w+)", r["notes"])
        nbytes, speedup = WEIGHT_FORMATS[fmt.group(1) if fmt else "bfloat16"]
        spec = table.hardware_spec(hw[0])
        software = "vllm-0.11" if "0.11" in r["serving_software"] else "vllm-0.5"
        energy = float(r["energy_value"]) / (float(out.group(1)) if r["per"] == "response" else 1.0)
        recs.append({
            "label": f"{r['model']} | {hw[0]} x{r['n_devices']} | {software} | batch {float(batch.group(1)):g}",
            "config": (r["model"], hw[0], r["n_devices"], software), "group": f"{hw[0]}/{software}",
            "parameters": float(r["params_total_b"]) * 1e9, "active_parameters": float(r["params_active_b"]) * 1e9,
            "bytes_per_parameter": nbytes, "devices": float(r["n_devices"]), "batch": float(batch.group(1)),
            "peak_flop_per_s": spec["peak_flop_per_s"] * speedup, "tdp_w": float(spec["tdp_w"]),
            "memory_bandwidth_gb_per_s": table.select("memory_bandwidth_gb_per_s", {"hardware": hw[0]}).fixed_value,
            "tokens_per_s": float(tput.group(1)), "energy_j_per_token": energy,
        })
    groups = sorted({r["group"] for r in recs})
    configs = list(dict.fromkeys(r["config"] for r in recs))
    arr = {k: np.array([r[k] for r in recs], dtype=np.float64) for k in recs[0] if k not in ("label", "config", "group")}
    return Measurements(label=[r["label"] for r in recs], config=np.array([configs.index(r["config"]) for r in recs]),
                        group=np.array([groups.index(r["group"]) for r in recs]), group_names=groups, **arr)


def _logit(p):
    return jnp.log(p) - jnp.log1p(-p)


def predicted_ln_tokens_per_s(d: Measurements, f, m, moe_ratio=1.0, step_overhead_s=0.0):
    """ln decode tokens/s per configuration from group-level fractions (arrays over points).

    `moe_ratio` (serving_moe_mfu_ratio) scales the decode MFU of mixture-of-experts points;
    `step_overhead_s` (serving_step_overhead_s) is the fixed time per decode step the engine adds.
    """
    read = serving.parameters_read_per_step(d.parameters, d.active_parameters, d.batch)
    mem_s = serving.decode_memory_s_per_step(read, d.bytes_per_parameter, d.devices, d.memory_bandwidth_gb_per_s, f)
    mfu = serving.moe_decode_mfu_fraction(m, moe_ratio, d.parameters, d.active_parameters)
    cmp_s = serving.decode_compute_s_per_step(d.active_parameters, d.batch, d.devices, d.peak_flop_per_s, mfu)
    return jnp.log(serving.decode_tokens_per_s(d.batch, mem_s, cmp_s, step_overhead_s))


def predicted_ln_power_w(d: Measurements, a, slope, ln_tokens_per_s):
    """ln mean GPU power per configuration: the engine's busy power at the predicted decode utilisation.

    `a` is the group's memory-bound power fraction (serving_memory_bound_power_tdp_fraction) and
    `slope` serving_power_utilization_slope (`carbon_mc.footprint.serving_power`).
    """
    u = serving_power.decode_flop_utilization_fraction(d.active_parameters, jnp.exp(ln_tokens_per_s), d.devices,
                                                       d.peak_flop_per_s)
    return jnp.log(d.devices * d.tdp_w * serving_power.busy_power_tdp_fraction(a, slope, u))


def throughput_residual_scale(d: Measurements, sigma_tokens, tau_sigma_tokens, z_sigma_tokens):
    """Scale of ln tokens/s residuals per point: the dense or MoE scale times its group's factor.

    ln sigma_{g,k} = ln sigma_k + tau z_g (z_g ~ N(0, 1), non-centred; Gelman et al., BDA3 §5.5 and §15.7
    for hierarchical variance models). Works on one draw (sigma_tokens of shape (2,)) or on many
    (leading draw axis, as `predict_energy_j_per_token` passes them).
    """
    kind = np.asarray(d.moe, np.int32)
    return sigma_tokens[..., kind] * jnp.exp(jnp.asarray(tau_sigma_tokens)[..., None] * z_sigma_tokens[..., d.group])


def energy_residual_scale(sigma_tokens, sigma_power, rho):
    """Scale of ln(energy per token) = ln power - ln tokens/s for correlated residuals:
    sqrt(sigma_t^2 + sigma_p^2 - 2 rho sigma_t sigma_p) (the variance of a difference)."""
    return np.sqrt(sigma_tokens ** 2 + sigma_power ** 2 - 2.0 * rho * sigma_tokens * sigma_power)


def serving_model(d: Measurements, priors: dict, observe: bool = True):
    """The hierarchical NumPyro model; `priors` maps each CALIBRATED name to its bundled Prior."""
    num_groups = len(d.group_names)
    level, tau, z = {}, {}, {}
    for name in CALIBRATED:
        s = SHORT[name]
        level[s] = numpyro.sample(name, priors[name].distribution)
        tau[s] = numpyro.sample(f"tau_{s}", dist.HalfNormal(0.5))
        z[s] = numpyro.sample(f"z_{s}", dist.Normal(0.0, 1.0).expand([num_groups]).to_event(1))
    g = {s: jax.nn.sigmoid(_logit(level[s]) + tau[s] * z[s]) for s in level}
    for s, values in g.items():
        numpyro.deterministic(f"{s}_group", values)
    r = numpyro.sample(POOLED[0], priors[POOLED[0]].distribution)
    overhead_s = numpyro.sample(POOLED[1], priors[POOLED[1]].distribution)
    slope = numpyro.sample(POOLED[2], priors[POOLED[2]].distribution)
    # the residual scale of throughput, dense [0] and mixture of experts [1]: the MoE forward model
    # (uniform routing, one efficiency ratio for grouped GEMMs and all-to-all) is the cruder one; times a
    # factor per group (partially pooled in log space): software on a newer accelerator varies more by model
    sigma_k = numpyro.sample("sigma_tokens", dist.HalfNormal(0.5).expand([2]).to_event(1))
    tau_sigma = numpyro.sample("tau_sigma_tokens", dist.HalfNormal(0.5))
    z_sigma = numpyro.sample("z_sigma_tokens", dist.Normal(0.0, 1.0).expand([num_groups]).to_event(1))
    sigma_t = throughput_residual_scale(d, sigma_k, tau_sigma, z_sigma)
    # and of power, likewise: a mixture of experts' busy power follows its utilisation less closely
    kind = jnp.asarray(d.moe, jnp.int32)
    sigma_p = numpyro.sample("sigma_power", dist.HalfNormal(0.5).expand([2]).to_event(1))[kind]
    # the two residuals of a point are correlated (a configuration that runs faster than predicted also
    # draws more power), dense and MoE apart: a bivariate normal, written as throughput then power given it
    rho = numpyro.sample("rho_tokens_power", dist.Uniform(-1.0, 1.0).expand([2]).to_event(1))[kind]
    idx = jnp.asarray(d.group)
    ln_tps = predicted_ln_tokens_per_s(d, g["f"][idx], g["m"][idx], r, overhead_s)
    ln_power = predicted_ln_power_w(d, g["a"][idx], slope, ln_tps)
    if observe:
        observed_ln_tps = jnp.log(d.tokens_per_s)
        numpyro.sample("ln_tokens_per_s", dist.Normal(ln_tps, sigma_t), obs=observed_ln_tps)
        numpyro.sample("ln_power_w", dist.Normal(ln_power + rho * sigma_p / sigma_t * (observed_ln_tps - ln_tps),
                                                 sigma_p * jnp.sqrt(1.0 - rho ** 2)), obs=jnp.log(d.power_w))


class CalibrationFit(NamedTuple):
    samples: dict  # name -> array (chains, draws, ...)
    r_hat: dict  # name -> max rank-normalised split R-hat over components
    ess_bulk: dict  # name -> min bulk ESS over components
    data: Measurements


def calibration_priors(table) -> dict:
    """The priors of the fitted quantities: the engine's own, for the stack of every measured point.

    serving_step_overhead_s is the optimised server's prior (`CALIBRATION_STACK`: every point is vLLM),
    the one a deployment without `stack` (or with stack = "optimised_server") draws, so that the
    calibration's forward model and the engine's are the same model.
    """
    return {name: table.select(name, {}) for name in CALIBRATED + POOLED}


def fit(data: Measurements | None = None, *, seed: int = 0, num_chains: int = 4, num_warmup: int = 1000,
        num_samples: int = 500, priors=None) -> CalibrationFit:
    """NUTS over the measured points; chains vectorised (fixed seed: the same numbers every run).

    1,000 warm-up steps: with 500, the MoE ratio's split R-hat was 1.0105 on the bundled data (seed
    0); with 1,000 every R-hat is at most 1.007 and the smallest bulk ESS 848.
    """
    from ..priors import load_priors

    table = priors or load_priors()
    data = data if data is not None else load_measurements(priors=table)
    prior = calibration_priors(table)
    mcmc = MCMC(NUTS(serving_model, target_accept_prob=0.9), num_warmup=num_warmup, num_samples=num_samples,
                num_chains=num_chains, chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.key(seed), data, prior)
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    return CalibrationFit(samples, *_diagnostics(samples), data)


def _diagnostics(samples: dict) -> tuple[dict, dict]:
    """Rank-normalised split R-hat (max over components) and bulk ESS (min), per sampled quantity.

    Reference: Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021, Bayesian Analysis 16(2), as
    implemented by ArviZ (`rhat`, `ess(method="bulk")`).
    """
    import arviz as az

    idata = az.from_dict(posterior={k: v for k, v in samples.items() if not k.startswith("z_")})
    r_hat = az.rhat(idata)
    ess = az.ess(idata, method="bulk")
    return ({k: float(r_hat[k].max()) for k in r_hat.data_vars}, {k: float(ess[k].min()) for k in ess.data_vars})


def predict_energy_j_per_token(result: CalibrationFit, d: Measurements, rng_key=None) -> np.ndarray:
    """Posterior-predictive draws (draws, points) of GPU energy per output token for configurations `d`.

    Each point uses the fitted level of its group (accelerator x software), plus the residual scatter
    of throughput and power.
    """
    s = {k: v.reshape(-1, *v.shape[2:]) for k, v in result.samples.items()}
    idx = d.group
    f, m, a = s["f_group"][:, idx], s["m_group"][:, idx], s["a_group"][:, idx]
    r, overhead_s, slope = (s[name][:, None] for name in POOLED)
    ln_tps = predicted_ln_tokens_per_s(d, jnp.asarray(f), jnp.asarray(m), jnp.asarray(r), jnp.asarray(overhead_s))
    ln_power = np.asarray(predicted_ln_power_w(d, jnp.asarray(a), jnp.asarray(slope), ln_tps))
    ln_tps = np.asarray(ln_tps)
    sigma_t = np.asarray(throughput_residual_scale(d, s["sigma_tokens"], s["tau_sigma_tokens"], s["z_sigma_tokens"]))
    kind = d.moe.astype(int)
    scale = energy_residual_scale(sigma_t, s["sigma_power"][:, kind], s["rho_tokens_power"][:, kind])
    noise = np.random.default_rng(0 if rng_key is None else rng_key).standard_normal(ln_tps.shape)
    return np.exp(ln_power - ln_tps + scale * noise)


class Validation(NamedTuple):
    coverage_90: float  # share of held-out points inside their 90% predictive interval
    median_abs_log10_error: float  # median |log10(measured / predictive median)|
    folds: int
    points: int
    per_point: list  # (label, measured, median, low, high)


def validate(data: Measurements | None = None, *, folds: int | None = None, seed: int = 0, **fit_kwargs) -> Validation:
    """Held-out check: refit without each fold of configurations, predict their energy per token.

    A configuration (one model on one accelerator and software, all its batches) is held out as a
    whole, so a batch sweep never predicts its own neighbours. `folds=None` holds out one
    configuration at a time (leave-one-configuration-out); an integer k deals configurations into k
    folds in a fixed order.
    """
    data = data if data is not None else load_measurements()
    configs = np.unique(data.config)
    assign = np.arange(configs.size) if folds is None else np.arange(configs.size) % folds
    rows = []
    for k in np.unique(assign):
        held = np.isin(data.config, configs[assign == k])
        result = fit(data.subset(np.flatnonzero(~held)), seed=seed, **fit_kwargs)
        # group indices refer to the full data's groups: keep them, as every group stays in training
        test = data.subset(np.flatnonzero(held))
        draws = predict_energy_j_per_token(result, test, rng_key=seed + int(k))
        lo, med, hi = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
        rows += list(zip(test.label, test.energy_j_per_token, med, lo, hi))
    measured, med, lo, hi = (np.array([r[i] for r in rows]) for i in range(1, 5))
    return Validation(float(np.mean((measured >= lo) & (measured <= hi))),
                      float(np.median(np.abs(np.log10(measured / med)))), int(np.unique(assign).size), len(rows), rows)


def posterior_serving_draws(result: CalibrationFit, num_draws: int, *, group: str | None = None, seed: int = 0) -> dict:
    """Draws of the calibrated quantities for the engine: a named group's, or a new group's.

    A new accelerator or software (group=None) gets the population level plus a fresh group effect
    (logit level + tau x z, z ~ N(0, 1)), so the between-group spread is carried, not dropped.
    Returns {quantity name: float32 array (num_draws,)}, keyed like the priors they replace.
    """
    s = {k: v.reshape(-1, *v.shape[2:]) for k, v in result.samples.items()}
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, s["sigma_tokens"].shape[0], num_draws)
    out = {}
    for name in CALIBRATED:
        short = SHORT[name]
        if group is not None:
            values = s[f"{short}_group"][pick, result.data.group_names.index(group)]
        else:
            lvl = s[name][pick]
            values = 1.0 / (1.0 + np.exp(-(np.log(lvl / (1 - lvl)) + s[f"tau_{short}"][pick] * rng.standard_normal(num_draws))))
        out[name] = np.asarray(values, np.float32)
    for name in POOLED:
        out[name] = np.asarray(s[name][pick], np.float32)
    return out


# ------------------------------------------------------------------------------------------------
# held-out checks by regime
# ------------------------------------------------------------------------------------------------
class RegimeScore(NamedTuple):
    regime: str
    points: int
    coverage_90: float | None  # None: no point in the regime
    median_abs_log10_error: float | None
    per_point: list  # (label, measured, median, low, high)
    how: str  # how the regime was held out

    @property
    def few(self) -> bool:
        """Fewer than 5 points: a coverage of so few says little."""
        return self.points < 5


def _score(regime: str, rows: list, how: str) -> RegimeScore:
    if not rows:
        return RegimeScore(regime, 0, None, None, [], how)
    measured, med, lo, hi = (np.array([r[i] for r in rows]) for i in range(1, 5))
    return RegimeScore(regime, len(rows), float(np.mean((measured >= lo) & (measured <= hi))),
                       float(np.median(np.abs(np.log10(measured / med)))), rows, how)


def calibration_regimes(d: Measurements) -> dict[str, np.ndarray]:
    """Boolean masks over the calibration points: large dense models batched, MoE, and small models at
    low batch on an optimised server. (Every calibration point is on an H100, A100 or B200: the
    non-NVIDIA and inference-card points are scored at the priors, `carbon_mc.calibration.devices`.)"""
    moe = d.active_parameters < d.parameters
    return {
        "large dense, batched (>= 60B, batch >= 64)": (~moe) & (d.parameters >= 60e9) & (d.batch >= 64),
        "mixture of experts": moe,
        "small at low batch, optimised server (<= 15B, batch <= 32)": (~moe) & (d.parameters <= 15e9) & (d.batch <= 32),
    }


def _plain_pipeline_points(path=None) -> list[tuple[str, dict, float]]:
    """Luccioni, Jernite & Strubell 2024 (generation rows): small models, batch 1, a plain Transformers
    pipeline, CodeCarbon on the whole 8-GPU node. (label, [serving] table, measured kWh per 1,000 requests)."""
    from ..data import data_dir

    path = path or data_dir("models") / "reference" / "inference_measurements.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    src = "Luccioni, Jernite & Strubell 2024, arXiv:2311.16863"
    out = []
    for r in rows:
        if "Luccioni, Jernite" not in r["source"] or ("generation" not in r["model"] and not r["params_total_b"]):
            continue
        if "classification" in r["model"] or "extractive" in r["model"] or "summarization" in r["model"]:
            continue  # single forward passes (the overhead prior's anchors) and an unsized mix
        if r["params_total_b"]:
            parameters: Any = float(r["params_total_b"]) * 1e9
            tokens_out: Any = {"distribution": "lognormal", "params": {"p5": 1.0, "p95": 14.0}, "source": f"{src}, Table 4"}
        else:  # the text-generation mean over 8 models from distilgpt2 to OPT-6.7B, 10 new tokens
            parameters = {"distribution": "lognormal", "params": {"p5": 0.082e9, "p95": 6.7e9}, "source": f"{src}, Table 2"}
            tokens_out = 10.0
        block = {
            "name": r["model"][:60], "parameters": parameters, "precision": "fp32", "hardware": "a100_80gb",
            "devices_per_replica": 1, "replicas": 1, "batch": 1, "days": 1, "stack": "plain_pipeline", "load": "benchmark",
            "boundary": "whole_node", "node_ram_gb": 1152.0, "output_tokens": tokens_out,
            "input_tokens": {"distribution": "lognormal", "params": {"p5": 28.0, "p95": 134.0}, "source": f"{src}, Table 4"},
            "grid_gco2_per_kwh": 297.6, "pue": 1.0,
        }
        out.append((r["model"][:60], block, float(r["energy_value"])))
    return out


def validate_regimes(data: Measurements | None = None, *, seed: int = 0, num_draws: int = 20_000,
                     regimes: tuple[str, ...] | None = None, plain_pipeline: bool = True, devices: bool = True,
                     **fit_kwargs) -> list[RegimeScore]:
    """Held-out coverage of the 90% intervals and median |log10 error|, per regime.

    GPU-scope regimes (ML.ENERGY points): leave one model-hardware configuration out (one model on
    one accelerator type, GPU count and software, all its batches): the NUTS fit is redone without
    it and predicts its points of the regime (GPU energy per output token). A configuration is held
    out once and its fit reused by every regime it has points in. Small models at batch 1 in a plain
    pipeline, metered on the whole node (Luccioni et al. 2024's generation rows): the serving model
    (plain-pipeline overhead, fp32, the node's idle GPUs and CodeCarbon's modelled RAM, benchmark
    load) at its priors, none of which was fitted on these points, against the measured kWh per
    1,000 requests (IT scope). Then the published points on other devices (inference cards, TPUs:
    `carbon_mc.calibration.devices.score_device_points`), also at the priors. `regimes` limits the
    GPU-scope regimes scored (names of `calibration_regimes`); `plain_pipeline=False` and
    `devices=False` skip the last ones.
    """
    from ..sampling import build_simulator, draw
    from ..scenarios.deployment import parse_serving_scenario

    data = data if data is not None else load_measurements()
    masks = calibration_regimes(data)
    unknown = sorted(set(regimes or ()) - set(masks))
    if unknown:
        raise ValueError(f"unknown regime(s) {unknown}; valid: {sorted(masks)}")
    predicted: dict[int, dict[int, tuple]] = {}  # held-out configuration -> point index -> (median, low, high)
    scores = []
    for regime, mask in masks.items():
        if regimes is not None and regime not in regimes:
            continue
        rows: list = []
        for c in np.unique(data.config[mask]):
            if c not in predicted:
                held = data.config == c
                result = fit(data.subset(np.flatnonzero(~held)), seed=seed, **fit_kwargs)
                idx = np.flatnonzero(held)
                draws = predict_energy_j_per_token(result, data.subset(idx), rng_key=seed + int(c))
                lo, med, hi = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
                predicted[int(c)] = {int(i): (float(med[j]), float(lo[j]), float(hi[j])) for j, i in enumerate(idx)}
            for i in np.flatnonzero(mask & (data.config == c)):
                rows.append((data.label[i], float(data.energy_j_per_token[i]), *predicted[int(c)][int(i)]))
        scores.append(_score(regime, rows, "leave one model-hardware configuration out (GPU J per output token)"))
    if devices:
        from .devices import score_device_points

        scores += score_device_points(seed=seed, num_draws=num_draws)
    if not plain_pipeline:
        return scores
    rows = []
    for label, block, measured in _plain_pipeline_points():
        sim = build_simulator(parse_serving_scenario({"serving": block}, file=f"<{label}>"))
        _, out = draw(sim, num_draws=num_draws, seed=seed, method="mc", variables=["it_energy_kwh_per_1k_requests"])
        lo, med, hi = np.quantile(out["it_energy_kwh_per_1k_requests"], [0.05, 0.5, 0.95])
        rows.append((label, measured, float(med), float(lo), float(hi)))
    scores.append(_score("small at batch 1, plain pipeline, whole node (<= 11B)", rows,
                         "priors only, never fitted on these points (IT kWh per 1,000 requests)"))
    return scores
