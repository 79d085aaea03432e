"""Hardware generations: the table by year and the log-linear trends with their uncertainty."""

import jax
import numpy as np
import pytest

import carbon_mc
from carbon_mc.footprint import hardware as hwm


def test_generation_table(table):
    gen = hwm.generation_table()
    assert list(gen["hardware"].values) == list(hwm.NVIDIA_FLAGSHIPS)
    assert np.all(np.diff(gen["year"].values) >= 0)
    np.testing.assert_allclose(gen["flop_per_s_per_w"], gen["peak_flop_per_s"] / gen["tdp_w"])
    for key in gen["hardware"].values:
        prior = table.select("embodied_kgco2e_per_device", {"hardware": str(key)})
        median = float(prior.icdf(np.float32(0.5)))
        assert float(gen["embodied_kgco2e_per_device"].sel(hardware=key)) == pytest.approx(median, rel=1e-6)
    assert gen["tdp_w"].attrs["units"] == "W"


def test_fit_recovers_an_exact_exponential():
    years = np.array([2016.0, 2018, 2020, 2022, 2024])
    fit = hwm.fit_log_trend(years, 3.0 * np.exp(0.4 * (years - 2016)))
    assert fit.slope == pytest.approx(0.4, abs=1e-9)
    assert fit.residual_sd == pytest.approx(0.0, abs=1e-9)
    assert fit.doubling_years == pytest.approx(np.log(2) / 0.4)


def test_fit_covariance_is_the_least_squares_one():
    rng = np.random.default_rng(1)
    years = np.array([2016.0, 2017, 2020, 2022, 2024, 2025])
    y = np.exp(0.3 * (years - 2020) + rng.normal(0, 0.2, years.size))
    fit = hwm.fit_log_trend(years, y)
    coef, cov = np.polyfit(years - fit.reference_year, np.log(y), 1, cov=True)
    assert fit.slope == pytest.approx(coef[0])
    assert fit.covariance[1, 1] == pytest.approx(cov[0, 0])
    assert fit.covariance[0, 0] == pytest.approx(cov[1, 1])


def test_predictive_interval_has_its_nominal_coverage():
    # Fit 5 noisy generations of a known trend, project a 6th: the 90% predictive interval should
    # cover it 90% of the time. 600 repetitions: binomial SE 0.012, tolerance 4 SE.
    rng = np.random.default_rng(7)
    years = np.array([2016.0, 2017, 2020, 2022, 2024])
    t_quantile = 2.3533634  # Student-t, 3 degrees of freedom, 95th percentile
    hits = 0
    for _ in range(600):
        noise = rng.normal(0, 0.4, 6)
        y = np.exp(1.0 + 0.35 * (years - 2020) + noise[:5])
        fit = hwm.fit_log_trend(years, y)
        mean, sd = fit.predict_ln(2027.0)
        truth = 1.0 + 0.35 * 7 + noise[5]
        hits += abs(truth - mean) <= t_quantile * sd
    assert abs(hits / 600 - 0.9) < 4 * np.sqrt(0.09 / 600)


def test_projection_draws_follow_the_predictive_distribution():
    fit = hwm.generation_trends(hwm.generation_table())["flop_per_s_per_w"]
    draws = np.log(np.asarray(hwm.project_trend(jax.random.key(0), fit, 2027.0, 100_000), np.float64))
    mean, sd = fit.predict_ln(2027.0)
    assert np.median(draws) == pytest.approx(float(mean), abs=4 * 1.25 * float(sd) / np.sqrt(100_000))
    q05 = np.percentile(draws, 5)
    t05 = float(mean) - 2.3533634 * float(sd)  # 3 degrees of freedom
    assert q05 == pytest.approx(t05, abs=0.05 * float(sd) * 2.35)


def test_the_generation_trends_point_the_right_way():
    trends = hwm.generation_trends(hwm.generation_table())
    eff, emb = trends["flop_per_s_per_w"], trends["embodied_kgco2e_per_pflop_per_s"]
    assert eff.slope > 2 * eff.slope_sd  # FLOP/s per watt improves
    assert emb.slope < -2 * emb.slope_sd  # embodied carbon per unit of peak falls
    assert 1.0 < eff.doubling_years < 3.5


def test_unknown_hardware_is_an_error():
    with pytest.raises(carbon_mc.CarbonMCError, match="unknown hardware"):
        hwm.generation_table(["h1000"])
