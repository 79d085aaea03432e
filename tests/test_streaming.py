"""Streaming summaries: histograms on the device, exact merges, quantiles within one bin of the exact ones."""

import math

import numpy as np
import pytest
import scipy.stats as st

import carbon_mc
from carbon_mc.sampling import BLOCK, build_simulator, draw, stream_summary, stream_to_precision
from carbon_mc.footprint import HEADLINE
from carbon_mc.sampling.histograms import FLOAT_SHIFT, Histogram, plan_bins
from carbon_mc.results.statistics import STATS, QUANTILES, describe

REL_BIN = 2.0 ** -(23 - FLOAT_SHIFT)  # widest float bin, relative to its values


def _histogram(x, spec):
    """Counts of `x` in `spec`'s bins, computed on the host the way the device does."""
    x = np.asarray(x, np.float32)
    if spec.kind == "float":
        b = (x.view(np.int32) >> FLOAT_SHIFT).astype(np.int64) - spec.base
    else:
        b = np.floor((x - np.float32(spec.lo)) * np.float32(1.0 / spec.width)).astype(np.int64)
    idx = np.clip(b, -1, spec.bins) + 1
    return Histogram(spec, counts=np.bincount(idx, minlength=spec.bins + 2).astype(np.int64))


def test_quantiles_of_1e7_streamed_draws_match_exact_ones():
    # The acceptance check: interval endpoints of 10^7 draws within 0.1% of the exact sample quantiles.
    model = build_simulator("llama_65b")
    n = 10_000_000
    streamed = stream_summary(model, num_draws=n, seed=4, variables=list(HEADLINE))
    _, exact = draw(model, num_draws=n, seed=4, variables=list(HEADLINE))
    worst = 0.0
    for name in HEADLINE:
        x = exact[name].astype(np.float64)
        h = streamed.histograms[name]
        assert h.n == n
        qs = np.quantile(x, list(QUANTILES.values()))
        for (stat, q), truth in zip(QUANTILES.items(), qs):
            err = abs(h.quantile(q) / truth - 1)
            worst = max(worst, err)
            assert err < 1e-3, (name, stat, err)
            assert err < REL_BIN, (name, stat, err)  # the documented bound: within one bin
        assert h.mean() == pytest.approx(x.mean(), rel=1e-5)
        assert h.sd() == pytest.approx(x.std(ddof=1), rel=1e-4)
        lo, hi = h.hdi(0.9)
        mass = np.mean((x >= lo) & (x <= hi))
        assert mass == pytest.approx(0.9, abs=2e-3), (name, mass)
        exact_lo, exact_hi = carbon_mc.hdi(x, 0.9)
        assert hi - lo <= (exact_hi - exact_lo) * (1 + 1e-3)
    print(f"largest relative error of a streamed quantile of 10^7 draws: {worst:.2e}")


def test_stream_summary_does_not_depend_on_chunk_size():
    model = build_simulator("gpt3_175b")
    n = 5 * BLOCK * 16 + 77
    names = ["total_tco2e", "embodied_tco2e", "pue"]
    a = stream_summary(model, num_draws=n, seed=9, variables=names)
    b = stream_summary(model, num_draws=n, seed=9, chunk_size=3 * BLOCK, variables=names)
    assert set(a.histograms) == set(b.histograms)
    for name, h in a.histograms.items():
        np.testing.assert_array_equal(h.counts, b.histograms[name].counts)
        assert h.n == n
    xr_a, xr_b = a.to_dataset(), b.to_dataset()
    for name in xr_a.data_vars:
        np.testing.assert_array_equal(xr_a[name].values, xr_b[name].values)


def test_counts_are_those_of_the_drawn_values():
    # The device bins agree with host binning of the very draws `draw` returns for the same seed.
    model = build_simulator("bloom_176b")
    n = 40_000
    streamed = stream_summary(model, num_draws=n, seed=2, variables=["total_tco2e", "pue"])
    _, out = draw(model, num_draws=n, seed=2, variables=["total_tco2e"])
    x, _ = draw(model, num_draws=n, seed=2, variables=["pue"])
    for name, values in (("total_tco2e", out["total_tco2e"]), ("pue", x["pue"])):
        h = streamed.histograms[name]
        np.testing.assert_array_equal(h.counts, _histogram(values, h.spec).counts)


def test_estimate_summary_has_the_shape_of_summarize():
    ds = carbon_mc.estimate_summary("gpt3_175b", num_draws=200_000, seed=1)
    exact = carbon_mc.summarize(carbon_mc.estimate("gpt3_175b", num_draws=200_000, seed=1))
    assert list(ds["stat"].values) == list(STATS)
    assert set(ds.data_vars) == set(exact.data_vars)
    assert ds.attrs["summary_method"] == "streaming_histogram" and ds.attrs["num_draws"] == 200_000
    for name in ds.data_vars:
        assert ds[name].attrs["units"] == exact[name].attrs["units"], name
        assert ds[name].dims == ("stat",)
        s, e = ds[name], exact[name]
        if float(e.sel(stat="sd")) == 0:  # a constant
            np.testing.assert_allclose(s.values, e.values, rtol=1e-6)
            continue
        assert "histogram_bins" in s.attrs
        width = s.attrs.get("histogram_relative_bin_width")
        for stat in QUANTILES:
            a, b = float(s.sel(stat=stat)), float(e.sel(stat=stat))
            if width is not None:
                assert abs(a / b - 1) <= width, (name, stat)
            else:  # linear bins: within one bin
                assert abs(a - b) <= s.attrs["histogram_bin_width"], (name, stat)


def test_histogram_of_a_known_sample_and_exact_merge():
    rng = np.random.default_rng(5)
    x = rng.lognormal(3.0, 0.7, 400_000).astype(np.float32)
    spec = plan_bins(x[:65_536])
    assert spec.kind == "float"
    h = _histogram(x, spec)
    for q in (0.025, 0.05, 0.5, 0.95, 0.975):
        assert abs(h.quantile(q) / np.quantile(x.astype(np.float64), q) - 1) < REL_BIN
    v = float(np.quantile(x, 0.3))
    assert h.percentile_of(v) == pytest.approx(30.0, abs=0.01)
    merged = _histogram(x[:100_000], spec).merge(_histogram(x[100_000:], spec))
    np.testing.assert_array_equal(merged.counts, h.counts)
    # linear bins for a variable that crosses zero
    y = rng.normal(0.0, 1.0, 200_000).astype(np.float32)
    lin = plan_bins(y[:65_536])
    assert lin.kind == "linear"
    hy = _histogram(y, lin)
    for q in (0.05, 0.5, 0.95):
        assert abs(hy.quantile(q) - np.quantile(y.astype(np.float64), q)) <= lin.width


def test_a_tail_beyond_the_pilot_raises_instead_of_guessing():
    x = np.linspace(1.0, 2.0, 10_000, dtype=np.float32)
    spec = plan_bins(x)
    far = np.concatenate([x, np.full(2_000, 1e30, np.float32)])  # a sixth of the mass far beyond the range
    h = _histogram(far, spec)
    assert h.quantile(0.5) == pytest.approx(np.quantile(far, 0.5), rel=REL_BIN)
    with pytest.raises(RuntimeError, match="range"):
        h.quantile(0.95)
    with pytest.raises(RuntimeError, match="range"):
        h.mean()


def test_stopping_at_a_relative_error_is_honest():
    # operational CO2e is lognormal here (product of lognormal inputs), so the standard error of its
    # sample 95% quantile is known: sqrt(q(1-q)/n) / f(x_q). The estimate from 16 replicates is a
    # scaled chi with 15 degrees of freedom: within [0.48, 1.59] of the truth with probability 99.8%.
    sig = {"accelerator_power_tdp_fraction": 0.15, "pue": 0.05, "grid_gco2_per_kwh": 0.3}
    med = {"accelerator_power_tdp_fraction": 0.8, "pue": 1.4, "grid_gco2_per_kwh": 400.0}
    lognormal = {k: {"distribution": "lognormal", "params": {"median": med[k], "sigma": sig[k]}, "source": "test"} for k in sig}
    scenario = carbon_mc.load_scenario("llama_65b").with_priors(
        server_power_w_per_device=0.0, embodied_kgco2e_per_device=0.0, embodied_kgco2e_per_server=0.0, **lognormal
    )
    model = build_simulator(scenario)
    result = stream_to_precision(model, rel_error=2e-3, seed=3, method="mc", variables=["operational_tco2e"], max_draws=10_000_000)
    n = result.attrs["num_draws"]
    assert result.attrs["rel_error_achieved"] <= 2e-3 and n % (16 * BLOCK) == 0
    sigma = math.sqrt(sum(s * s for s in sig.values()))
    truth = st.lognorm(s=sigma, scale=1_022_362 * 400 / 1e9 * math.prod(med.values()))
    q = 0.95
    se_true = math.sqrt(q * (1 - q) / n) / truth.pdf(truth.ppf(q)) / truth.ppf(q)
    se_est = result.var_attrs["operational_tco2e"]["p95_rel_se"]
    assert 0.48 < se_est / se_true < 1.59, (se_est, se_true)
    # Monte Carlo replicates are the plain run's blocks, regrouped: pooled counts equal a plain stream of as many draws
    plain = stream_summary(model, num_draws=n, seed=3, method="mc", variables=["operational_tco2e"])
    np.testing.assert_array_equal(result.histograms["operational_tco2e"].counts, plain.histograms["operational_tco2e"].counts)


def test_streamed_mean_and_sd_match_describe_on_a_small_run():
    model = build_simulator("llama2_7b")
    n = 100_000
    s = stream_summary(model, num_draws=n, seed=8, variables=["energy_mwh"])
    _, out = draw(model, num_draws=n, seed=8, variables=["energy_mwh"])
    exact = describe(out["energy_mwh"])
    got = s.describe("energy_mwh")
    assert got["mean"] == pytest.approx(exact["mean"], rel=1e-6)
    assert got["sd"] == pytest.approx(exact["sd"], rel=1e-5)


def test_cli_stops_at_a_relative_error_and_reports_the_draws(capsys):
    import json

    from carbon_mc.cli import main

    assert main(["run", "llama_65b", "--rel-error", "0.002", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    run = out["run"]
    assert run["method"] == "qmc" and run["summary"] == "streaming_histogram"
    assert run["rel_error_achieved"] <= 0.002 and run["num_draws"] % (16 * BLOCK) == 0
    for key in HEADLINE:
        assert out[key]["p5"] < out[key]["median"] < out[key]["p95"]
    assert out["reported"]["energy_mwh"]["value"] == 449
    assert main(["run", "llama_65b", "--rel-error", "0.002", "--method", "mc"]) == 0
    text = capsys.readouterr().out
    assert "draws (mc) for a relative standard error" in text


def test_cli_streams_on_request_and_refuses_to_stream_into_a_draws_file(tmp_path, capsys):
    import json

    from carbon_mc.cli import main

    assert main(["run", "gpt3_175b", "--stream", "--draws", "300000", "--json", "--method", "mc"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run"] == {"num_draws": 300_000, "method": "mc", "summary": "streaming_histogram"}
    target = tmp_path / "draws.nc"
    assert main(["run", "gpt3_175b", "--stream", "--out", str(target)]) == 2
    assert "--out" in capsys.readouterr().err and not target.exists()
