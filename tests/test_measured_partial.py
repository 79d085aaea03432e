"""A measurement of some devices for part of the run updates the whole run's mean power (conjugate
update in log space, carbon_mc.footprint.measured), checked against closed forms and a NumPyro NUTS fit."""

import itertools
import math

import numpy as np
import pytest

from carbon_mc import estimate
from carbon_mc.footprint.measured import partial_posterior_log_power
from carbon_mc.priors import load_priors
from carbon_mc.scenarios.training import parse_scenario

RUN = {"name": "partial", "hardware": "h100_sxm", "devices": 64, "days": 10, "region": "US", "datacenter": "hyperscale"}
WATTS = 520.0  # mean board power of the logged devices


def scenario(nodes: int, hours: float = 24.0):
    devices = 8 * nodes
    measured = {"scope": "accelerator", "mean_power_w": WATTS * devices, "hours": hours, "measured_devices": devices,
                "measured_hours": hours, "source": "nvidia-smi log"}
    return parse_scenario({"run": RUN, "measured": measured})


def test_every_device_for_the_whole_run_gives_back_the_measurement():
    mean, sd = partial_posterior_log_power(math.log(WATTS), 6.0, 0.12, 0.04, 0.06, measured_devices=64, devices=64,
                                           measured_blocks=10, blocks=10)
    assert float(mean) == pytest.approx(math.log(WATTS), abs=1e-6) and float(sd) == pytest.approx(0.0, abs=1e-6)


def test_the_update_is_the_normal_conditional():
    """Var S = s0^2 + sd^2/n + st^2/k, Var R = Cov(S, R) = s0^2 + sd^2/N + st^2/K: R | S by hand."""
    s0, sd, st, n, big_n, k, big_k, s = 0.12, 0.04, 0.06, 8, 64, 1.0, 10.0, math.log(WATTS)
    var_s, var_r = s0**2 + sd**2 / n + st**2 / k, s0**2 + sd**2 / big_n + st**2 / big_k
    mean, post_sd = partial_posterior_log_power(s, 6.0, s0, sd, st, measured_devices=n, devices=big_n, measured_blocks=k,
                                                blocks=big_k)
    assert float(mean) == pytest.approx(6.0 + var_r / var_s * (s - 6.0), rel=1e-6)
    assert float(post_sd) ** 2 == pytest.approx(var_r - var_r**2 / var_s, rel=1e-5)


def test_more_measured_devices_and_hours_narrow_the_posterior():
    sds = [float(partial_posterior_log_power(6.2, 6.0, 0.12, 0.04, 0.06, measured_devices=n, devices=64, measured_blocks=1,
                                             blocks=10)[1]) for n in (8, 16, 32, 64)]
    assert all(a > b for a, b in itertools.pairwise(sds))
    by_days = [float(partial_posterior_log_power(6.2, 6.0, 0.12, 0.04, 0.06, measured_devices=8, devices=64,
                                                 measured_blocks=k, blocks=10)[1]) for k in (1, 2, 5, 10)]
    assert all(a > b for a, b in itertools.pairwise(by_days))


def test_more_logged_nodes_narrow_the_whole_runs_interval():
    widths = []
    for nodes in (1, 2, 4, 8):
        ds = estimate(scenario(nodes), num_draws=4000, seed=0)
        q5, q95 = np.quantile(ds["accelerator_energy_mwh"], [0.05, 0.95])
        widths.append(q95 - q5)
    assert all(a > b for a, b in itertools.pairwise(widths)), widths


def test_a_partial_update_takes_the_class_prior_moments():
    run = scenario(1)
    measured, table = run.measured, load_priors()
    assert "accelerator_power_tdp_fraction" not in run.needed_quantities()  # the measurement replaces the draw...
    prior = table.select("accelerator_power_tdp_fraction", run.context(table), file="t")  # ...and updates its prior
    tdp = table.hardware_spec("h100_sxm")["tdp_w"]
    assert measured.partial
    u = (np.arange(4000) + 0.5) / 4000
    logs = np.log(tdp * np.asarray(prior.icdf32(u), dtype=np.float64))
    assert measured.prior_log_power_mean == pytest.approx(logs.mean()) and measured.prior_log_power_sd == pytest.approx(logs.std())


def test_the_closed_form_matches_a_numpyro_nuts_fit_with_the_exact_prior():
    """NUTS on the exact truncated-normal power prior (no normal approximation in log space) gives the
    closed form's quantiles of the run's ln(mean power), within 4 standard errors from its effective sample size."""
    import jax
    import numpyro
    import numpyro.distributions as dist
    from numpyro.diagnostics import effective_sample_size
    from numpyro.infer import MCMC, NUTS
    from scipy import stats

    tdp, sd, st, n, big_n, k, big_k = 700.0, 0.04, 0.06, 8, 64, 1.0, 10.0
    s_obs = math.log(WATTS)
    var_samp = sd**2 / n + st**2 / k  # S - mu
    cov = sd**2 / big_n + st**2 / big_k  # Cov(R - mu, S - mu) = Var(R - mu)
    c, tau = cov / var_samp, math.sqrt(cov - cov**2 / var_samp)

    def model():
        f = numpyro.sample("f", dist.TruncatedNormal(0.75, 0.09, low=0.15, high=1.0))  # priors/power.toml nvidia_modern
        numpyro.sample("s", dist.Normal(jnp_log(tdp * f), math.sqrt(var_samp)), obs=s_obs)

    def jnp_log(x):
        return jax.numpy.log(x)

    mcmc = MCMC(NUTS(model), num_warmup=200, num_samples=1000, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0))
    mu = np.log(tdp * np.asarray(mcmc.get_samples()["f"], dtype=np.float64))
    eps = np.random.default_rng(0).standard_normal(mu.size)
    r = mu + c * (s_obs - mu) + tau * eps  # R | mu, S: the devices and days the log did not see
    ess = float(effective_sample_size(mu[None, :]))

    prior = load_priors().select("accelerator_power_tdp_fraction", {"power_class": "nvidia_modern"}, file="t")
    u = (np.arange(4000) + 0.5) / 4000
    logs = np.log(tdp * np.asarray(prior.icdf32(u), dtype=np.float64))
    mean, post_sd = (float(v) for v in partial_posterior_log_power(s_obs, logs.mean(), logs.std(), sd, st, measured_devices=n,
                                                                   devices=big_n, measured_blocks=k, blocks=big_k))
    for p in (0.05, 0.5, 0.95):
        z = stats.norm.ppf(p)
        se = post_sd * math.sqrt(p * (1 - p) / min(ess, r.size)) / stats.norm.pdf(z)
        assert abs(np.quantile(r, p) - (mean + post_sd * z)) < 4 * se, (p, np.quantile(r, p), mean + post_sd * z, se)
