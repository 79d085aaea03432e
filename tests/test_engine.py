"""The engine: reproducible, chunk-size independent, labelled, and round-trips through netCDF."""

import json

import numpy as np
import pytest
import scipy.stats as st
import xarray as xr

import carbon_mc
from carbon_mc.sampling import BLOCK, build_simulator, draw


def test_same_seed_same_numbers_whatever_the_chunk_size():
    model = build_simulator("gpt3_175b")
    n = 3 * BLOCK + 123
    ref_in, ref_out = draw(model, num_draws=n, seed=7, chunk_size=4 * BLOCK)
    for chunk in (BLOCK, 2 * BLOCK, 1):
        got_in, got_out = draw(model, num_draws=n, seed=7, chunk_size=chunk)
        for k in ref_out:
            np.testing.assert_array_equal(got_out[k], ref_out[k])
        for k in ref_in:
            np.testing.assert_array_equal(got_in[k], ref_in[k])
    other_in, _ = draw(model, num_draws=n, seed=8)
    assert not np.array_equal(other_in["pue"], ref_in["pue"])


def test_prefix_of_a_longer_run_is_the_shorter_run():
    model = build_simulator("bloom_176b")
    short_in, _ = draw(model, num_draws=1000, seed=3)
    long_in, _ = draw(model, num_draws=5 * BLOCK, seed=3)
    for k in short_in:
        np.testing.assert_array_equal(short_in[k], long_in[k][:1000])


def test_dataset_is_labelled_and_carries_provenance():
    ds = carbon_mc.estimate("gpt3_175b", num_draws=2000, seed=1)
    assert ds.sizes["draw"] == 2000
    for name in ("energy_mwh", "operational_tco2e", "embodied_tco2e", "total_tco2e", "device_hours", "pue"):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    assert ds["energy_mwh"].attrs["units"] == "MWh"
    assert ds["total_tco2e"].attrs["units"] == "t" and "CO2e" in ds["total_tco2e"].attrs["long_name"]
    assert ds["pue"].attrs["source"]
    assert ds.attrs["seed"] == 1 and ds.attrs["num_draws"] == 2000
    priors = json.loads(ds.attrs["priors"])
    assert set(priors) >= {"pue", "grid_gco2_per_kwh", "mfu_fraction"} or "pue" in priors
    assert all(p["source"] for p in priors.values())
    np.testing.assert_allclose(
        ds["total_tco2e"], ds["operational_tco2e"] + ds["embodied_tco2e"], rtol=1e-6
    )


def test_netcdf_round_trip(tmp_path):
    ds = carbon_mc.estimate("llama2_7b", num_draws=1500, seed=2)
    summary = carbon_mc.summarize(ds)
    carbon_mc.save_dataset(ds, tmp_path / "r.nc")
    carbon_mc.save_dataset(summary, tmp_path / "s.nc")
    xr.testing.assert_identical(carbon_mc.load_dataset(tmp_path / "r.nc"), ds)
    xr.testing.assert_identical(carbon_mc.load_dataset(tmp_path / "s.nc"), summary)


def test_summary_has_the_promised_statistics():
    ds = carbon_mc.estimate("gpt3_175b", num_draws=4000, seed=0)
    s = carbon_mc.summarize(ds)
    assert list(s["stat"].values) == ["mean", "sd", "median", "p5", "p95", "p2_5", "p97_5", "hdi90_lower", "hdi90_upper"]
    x = ds["total_tco2e"].values.astype(np.float64)
    t = s["total_tco2e"]
    assert float(t.sel(stat="median")) == pytest.approx(np.median(x))
    assert float(t.sel(stat="p2_5")) < float(t.sel(stat="p5")) < float(t.sel(stat="p95")) < float(t.sel(stat="p97_5"))
    lo, hi = float(t.sel(stat="hdi90_lower")), float(t.sel(stat="hdi90_upper"))
    assert np.mean((x >= lo) & (x <= hi)) == pytest.approx(0.9, abs=1e-3)
    assert hi - lo <= float(t.sel(stat="p95")) - float(t.sel(stat="p5")) + 1e-9


def test_hdi_of_a_skewed_sample_is_narrower_than_the_equal_tailed_interval():
    x = st.lognorm(s=1.0).rvs(size=200_000, random_state=np.random.default_rng(0))
    lo, hi = carbon_mc.hdi(x, 0.9)
    eti = np.quantile(x, [0.05, 0.95])
    assert hi - lo < eti[1] - eti[0]
    assert np.mean((x >= lo) & (x <= hi)) == pytest.approx(0.9, abs=1e-4)


def test_product_of_lognormal_inputs_has_analytic_lognormal_quantiles():
    # operational = device_hours x TDP x f x PUE x grid / 1e9 with f, PUE and grid lognormal and the rest
    # fixed is lognormal with mu = sum of mus and sigma^2 = sum of sigma^2.
    sig = {"accelerator_power_tdp_fraction": 0.15, "pue": 0.05, "grid_gco2_per_kwh": 0.3}
    med = {"accelerator_power_tdp_fraction": 0.8, "pue": 1.4, "grid_gco2_per_kwh": 400.0}
    lognormal = {k: {"distribution": "lognormal", "params": {"median": med[k], "sigma": sig[k]}, "source": "test"} for k in sig}
    scenario = carbon_mc.load_scenario("llama_65b").with_priors(
        server_power_w_per_device=0.0, **lognormal,
        embodied_kgco2e_per_device=0.0, embodied_kgco2e_per_server=0.0,
    )
    n = 400_000
    ds = carbon_mc.estimate(scenario, num_draws=n, seed=11)
    x = ds["operational_tco2e"].values.astype(np.float64)
    device_hours, tdp_w = 1_022_362.0, 400.0
    mu = np.log(device_hours * tdp_w / 1e9) + sum(np.log(v) for v in med.values())
    sigma = np.sqrt(sum(s**2 for s in sig.values()))
    truth = st.lognorm(s=sigma, scale=np.exp(mu))
    for q in (0.05, 0.5, 0.95):
        # standard error of a sample quantile: sqrt(q(1-q)/n) / density at the quantile
        se = np.sqrt(q * (1 - q) / n) / truth.pdf(truth.ppf(q))
        assert abs(np.quantile(x, q) - truth.ppf(q)) < 4 * se, q


# --- the random streams: Threefry-2x32-20 written in jnp, and the float32 inverse CDFs


def test_threefry_is_jax_threefry_and_the_random123_known_answers():
    import jax
    import jax.extend.random as jr
    import jax.numpy as jnp

    from carbon_mc.sampling.streams import threefry2x32

    key = jax.random.key_data(jax.random.key(2024))
    count = jnp.arange(512, dtype=jnp.uint32)
    y0, y1 = threefry2x32(key[0], key[1], count[:256], count[256:])
    np.testing.assert_array_equal(np.concatenate([y0, y1]), jr.threefry_2x32(key, count))
    # Random123 kat_vectors, threefry2x32 with 20 rounds: (key words, counter words) -> output words
    kat = [
        ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
        ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
        ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
    ]
    for (k0, k1), (c0, c1), expected in kat:
        got = threefry2x32(*(jnp.uint32(v) for v in (k0, k1, c0, c1)))
        assert tuple(int(v) for v in got) == expected


def test_a_draw_depends_only_on_seed_name_and_index():
    import jax

    from carbon_mc.sampling import uniforms

    whole = np.asarray(uniforms(5, "pue", 0, 4))
    np.testing.assert_array_equal(np.asarray(uniforms(5, "pue", 3, 1)), whole[3 * BLOCK :])
    np.testing.assert_array_equal(np.asarray(uniforms(jax.random.key(5), "pue", 0, 4)), whole)
    assert whole.min() >= 2.0**-24 and whole.max() <= 1 - 2.0**-24
    joint = np.asarray(uniforms(5, "pue", 0, 2, columns=3))
    assert joint.shape == (2 * BLOCK, 3) and not np.array_equal(joint[:, 0], joint[:, 1])


def test_streams_are_uniform_and_independent():
    # Fixed seeds; each test at the 0.1% level (KS, chi-square on a 32 x 32 grid of consecutive
    # pairs, correlation between streams and between neighbouring draws against 4/sqrt(n)).
    from carbon_mc.sampling import uniforms

    n = 1 << 20
    u = np.asarray(uniforms(0, "grid_gco2_per_kwh", 0, n // BLOCK), np.float64)
    v = np.asarray(uniforms(0, "pue", 0, n // BLOCK), np.float64)
    assert st.kstest(u, "uniform").pvalue > 1e-3
    pairs, _, _ = np.histogram2d(u[0::2], u[1::2], bins=32, range=[[0, 1], [0, 1]])
    assert st.chisquare(pairs.ravel()).pvalue > 1e-3
    assert abs(np.corrcoef(u, v)[0, 1]) < 4 / np.sqrt(n)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 4 / np.sqrt(n)
    w = np.asarray(uniforms(1, "grid_gco2_per_kwh", 0, n // BLOCK), np.float64)  # another seed, same name
    assert abs(np.corrcoef(u, w)[0, 1]) < 4 / np.sqrt(n)


def test_float32_normal_quantile_and_log_are_accurate():
    import jax
    from scipy.special import ndtri

    from carbon_mc.priors.float32 import log_f32, ndtri_f32

    u = ((np.arange(2**23, dtype=np.float64) + 0.5) / 2**23).astype(np.float32)  # every uniform the engine makes
    z = np.asarray(jax.jit(ndtri_f32)(u), np.float64)
    assert np.max(np.abs(z - ndtri(u.astype(np.float64)))) < 1.5e-6
    assert np.max(np.abs(np.asarray(jax.jit(log_f32)(u), np.float64) - np.log(u.astype(np.float64)))) < 1e-6
    big = np.geomspace(1e-30, 1e30, 10_001).astype(np.float32)
    exact = np.log(big.astype(np.float64))
    assert np.max(np.abs(np.asarray(log_f32(big), np.float64) - exact) / np.maximum(np.abs(exact), 1.0)) < 1e-6
    edges = np.asarray(ndtri_f32(np.array([0.0, 1.0, -0.5, 1.5], np.float32)))
    assert edges[0] == -np.inf and edges[1] == np.inf and np.isnan(edges[2:]).all()


def test_fast_inverse_cdfs_agree_with_numpyro_for_every_bundled_prior():
    k = np.concatenate([np.arange(0, 2**23, 1021), np.arange(64), 2**23 - 1 - np.arange(64)])  # and both tails
    u = ((k.astype(np.float64) + 0.5) / 2**23).astype(np.float32)
    table = carbon_mc.load_priors()
    checked = 0
    for q in table.quantities.values():
        for p in q.variants.values():
            if p.is_fixed:
                continue
            fn = p.icdf32
            assert p.family in carbon_mc.priors.FAMILIES, (p.quantity, p.family)
            uu = u if not p.components else np.stack([u] * len(p.components), axis=-1)
            fast = np.asarray(fn(uu), np.float64)
            if p.family == "truncated_normal":  # NumPyro's float32 form loses the far upper tail: use SciPy's float64 one
                q = p.params
                lo, hi = [(q[k] - q["loc"]) / q["scale"] if k in q else s for k, s in (("low", -np.inf), ("high", np.inf))]
                ref = st.truncnorm(lo, hi, loc=q["loc"], scale=q["scale"]).ppf(uu.astype(np.float64))
            else:
                ref = np.asarray(p.icdf(uu), np.float64)
            scale = np.maximum(np.abs(ref), np.quantile(ref, 0.75, axis=0) - np.quantile(ref, 0.25, axis=0))
            assert np.max(np.abs(fast - ref) / scale) < 2e-5, (p.quantity, p.variant, p.family)
            checked += 1
    assert checked > 50
