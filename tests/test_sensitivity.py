"""Sobol' sensitivity analysis proved against known answers and against SALib on the same numbers.

Tolerances: the Ishigami check uses the issue's 0.02 at 2^14 base draws; the others use the
bootstrap standard error of each index (sd of the replicates, which treats the quasi-random
design as random and so overstates the error), at four standard errors.
"""

import json
import math
import subprocess
import sys
from functools import partial

import jax
import numpy as np
import pytest

import carbon_mc
from carbon_mc.cli import main
from carbon_mc.errors import CarbonMCError
from carbon_mc.sobol import (
    analyze_evaluations,
    base_points,
    ranking,
    resolve_groups,
    saltelli_matrix,
    sobol_indices,
    split_evaluations,
)
from carbon_mc.sobol import estimators
from carbon_mc.sobol.functions import (
    additive,
    additive_indices,
    ishigami,
    ishigami_indices,
    sobol_g,
    sobol_g_indices,
)

ISHIGAMI = ["x1", "x2", "x3"]
G_A = [0.0, 1.0, 4.5, 9.0, 99.0, 99.0, 99.0, 99.0]  # SALib's Sobol_G defaults
SE_MULTIPLE = 4.0


def estimates(ds, index):
    return ds["sobol_index"].sel(index=index).values


def standard_errors(ds, index):
    """Bootstrap sd of an index, from a Dataset computed with ci_method="normal" (bounds = est ± z·sd)."""
    from scipy.stats import norm

    ci = ds["sobol_index_ci"].sel(index=index)
    z = norm.ppf(0.5 + ds.attrs["conf_level"] / 2)
    return (ci.sel(ci_bound="upper") - ci.sel(ci_bound="lower")).values / (2 * z)


# ------------------------------------------------------------------------------------------------
# Same numbers as SALib


def _salib_problem(num_vars, groups=None):
    problem = {"num_vars": num_vars, "names": [f"x{i + 1}" for i in range(num_vars)], "bounds": [[0.0, 1.0]] * num_vars}
    if groups is not None:
        problem["groups"] = groups
    return problem


@pytest.mark.parametrize("second_order", [False, True])
@pytest.mark.parametrize("groups", [None, ["a", "a", "b", "c"]])
def test_design_is_salib_sobol_sample_row_for_row(second_order, groups):
    from SALib.sample import sobol as salib_sample

    problem = _salib_problem(4, groups)
    expected = salib_sample.sample(problem, 256, calc_second_order=second_order, seed=11)
    grouping = resolve_groups({f"x{i + 1}": 1 for i in range(4)}, {"a": ["x1", "x2"]} if groups else None)
    got = saltelli_matrix(base_points(11, 256, 4), grouping.group_of_column, grouping.num_groups, second_order)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("second_order", [False, True])
@pytest.mark.parametrize("groups", [None, ["g13", "x2", "g13"]])
def test_indices_equal_salib_analyze_on_the_same_evaluations(second_order, groups):
    from SALib.analyze import sobol as salib_analyze
    from SALib.sample import sobol as salib_sample

    problem = _salib_problem(3, groups)
    x = salib_sample.sample(problem, 1024, calc_second_order=second_order, seed=3)
    y = _ishigami_np(x)
    ref = salib_analyze.analyze(problem, y, calc_second_order=second_order, print_to_console=False, seed=1)
    num_groups = 3 if groups is None else 2
    names = ISHIGAMI if groups is None else ["g13", "x2"]
    ds = analyze_evaluations(*split_evaluations(y, num_groups, second_order), names=names, num_resamples=0)
    np.testing.assert_allclose(estimates(ds, "S1"), ref["S1"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(estimates(ds, "ST"), ref["ST"], rtol=0, atol=1e-6)
    if second_order:
        upper = np.triu_indices(num_groups, 1)
        np.testing.assert_allclose(ds["second_order_index"].values[upper], ref["S2"][upper], rtol=0, atol=1e-6)
        np.testing.assert_allclose(ds["second_order_index"].values, ds["second_order_index"].values.T)  # symmetric


def _ishigami_np(x, a=7.0, b=0.1):
    """Ishigami in float64 NumPy on unit-cube points (SALib's reference implementation, rescaled)."""
    from SALib.test_functions import Ishigami

    return Ishigami.evaluate(-np.pi + 2 * np.pi * x, A=a, B=b)


def test_bootstrap_normal_interval_agrees_with_salib_conf_in_size():
    # Different resampling streams, same estimator: the half-widths agree to Monte Carlo error
    # (the sd of a bootstrap sd from R resamples is about 1/sqrt(2R) of it; 1000 resamples: 2.2%).
    from SALib.analyze import sobol as salib_analyze
    from SALib.sample import sobol as salib_sample

    problem = _salib_problem(3)
    x = salib_sample.sample(problem, 2048, calc_second_order=False, seed=4)
    y = _ishigami_np(x)
    ref = salib_analyze.analyze(problem, y, calc_second_order=False, num_resamples=1000, seed=2)
    ds = analyze_evaluations(*split_evaluations(y, 3), num_resamples=1000, ci_method="normal", seed=5)
    half = (ds["sobol_index_ci"].sel(ci_bound="upper") - ds["sobol_index_ci"].sel(ci_bound="lower")).values / 2
    np.testing.assert_allclose(half[:, 0], ref["S1_conf"], rtol=5 * 0.022 * math.sqrt(2))
    np.testing.assert_allclose(half[:, 1], ref["ST_conf"], rtol=5 * 0.022 * math.sqrt(2))


# ------------------------------------------------------------------------------------------------
# Known answers


@pytest.fixture(scope="module")
def ishigami_2_14():
    return sobol_indices(ishigami, ISHIGAMI, num_base=2**14, seed=0, num_resamples=300)


def test_ishigami_analytic_within_0_02(ishigami_2_14):
    truth = ishigami_indices(7.0, 0.1)
    np.testing.assert_allclose(estimates(ishigami_2_14, "S1"), truth["S1"], atol=0.02)
    np.testing.assert_allclose(estimates(ishigami_2_14, "ST"), truth["ST"], atol=0.02)


def test_first_order_not_above_total_order_within_ci(ishigami_2_14):
    ds = ishigami_2_14
    s1, st = estimates(ds, "S1"), estimates(ds, "ST")
    st_upper = ds["sobol_index_ci"].sel(index="ST", ci_bound="upper").values
    s1_lower = ds["sobol_index_ci"].sel(index="S1", ci_bound="lower").values
    assert np.all(s1 <= st_upper) and np.all(s1_lower <= st)
    # and the intervals bracket their estimates
    ci = ds["sobol_index_ci"]
    assert np.all(ci.sel(ci_bound="lower") <= ds["sobol_index"]) and np.all(ds["sobol_index"] <= ci.sel(ci_bound="upper"))


def test_sobol_g_function_known_answer():
    ds = sobol_indices(partial(sobol_g, a=G_A), [f"x{i + 1}" for i in range(8)], num_base=2**13, seed=2, ci_method="normal", num_resamples=400)
    truth = sobol_g_indices(G_A)
    for index in ("S1", "ST"):
        se = standard_errors(ds, index)
        assert np.all(np.abs(estimates(ds, index) - truth[index]) <= SE_MULTIPLE * se + 1e-4), index
    assert list(ds["input"].values[np.argsort(-estimates(ds, "ST"))][:4]) == ["x1", "x2", "x3", "x4"]


def test_additive_model_indices_sum_to_one_and_first_equals_total():
    c = [1.0, 2.0, 3.0, 4.0]
    ds = sobol_indices(partial(additive, coefficients=c), [f"x{i + 1}" for i in range(4)], num_base=2**12, seed=1, ci_method="normal", num_resamples=400)
    truth = additive_indices(c)
    s1, st = estimates(ds, "S1"), estimates(ds, "ST")
    se1, set_ = standard_errors(ds, "S1"), standard_errors(ds, "ST")
    assert np.all(np.abs(s1 - truth["S1"]) <= SE_MULTIPLE * se1)
    assert np.all(np.abs(st - truth["ST"]) <= SE_MULTIPLE * set_)
    assert abs(s1.sum() - 1.0) <= SE_MULTIPLE * math.sqrt(np.sum(se1**2))
    assert abs(st.sum() - 1.0) <= SE_MULTIPLE * math.sqrt(np.sum(set_**2))


def test_group_index_is_the_closed_index_of_its_members(ishigami_2_14):
    # Ishigami's x1 and x3 together explain V1 + V13 (= ST of x1) alone and in total.
    ds = sobol_indices(ishigami, ISHIGAMI, groups={"x13": ["x1", "x3"]}, num_base=2**13, seed=0, ci_method="normal", num_resamples=300)
    assert list(ds["input"].values) == ["x13", "x2"] and ds["members"].sel(input="x13").item() == "x1,x3"
    truth = ishigami_indices()["ST"][0]
    for index in ("S1", "ST"):
        se = standard_errors(ds, index)[0]
        assert abs(float(ds["sobol_index"].sel(input="x13", index=index)) - truth) <= SE_MULTIPLE * se


def test_joint_input_columns_stay_together_as_one_factor():
    # A two-column (joint) input "ab" and a scalar "c", y = a + b + c: S_ab = 2/3, S_c = 1/3.
    def fn(u):
        return u["ab"][:, 0] + u["ab"][:, 1] + u["c"]

    ds = sobol_indices(fn, {"ab": 2, "c": 1}, num_base=2**12, seed=0, ci_method="normal", num_resamples=300)
    assert list(ds["input"].values) == ["ab", "c"] and ds.attrs["num_columns"] == 3
    for index in ("S1", "ST"):
        se = standard_errors(ds, index)
        assert np.all(np.abs(estimates(ds, index) - [2 / 3, 1 / 3]) <= SE_MULTIPLE * se)
    with pytest.raises(CarbonMCError, match="unknown input 'ab.0'"):
        sobol_indices(fn, {"ab": 2, "c": 1}, groups={"part": ["ab.0"]}, num_base=64)


# ------------------------------------------------------------------------------------------------
# The carbon model


def test_product_of_lognormals_through_the_carbon_model():
    # Fix everything but three lognormal factors of operational CO2e (= c · power fraction · PUE · grid):
    # S_i = (exp(σ_i²) − 1) / (exp(Σσ²) − 1), ST_i = 1 − (exp(Σ_{j≠i} σ_j²) − 1) / (exp(Σσ²) − 1).
    sigmas = {"accelerator_power_tdp_fraction": 0.1, "pue": 0.05, "grid_gco2_per_kwh": 0.3}
    medians = {"accelerator_power_tdp_fraction": 0.8, "pue": 1.4, "grid_gco2_per_kwh": 400.0}
    scenario = carbon_mc.load_scenario("gpt3_175b").with_priors(
        server_power_w_per_device=0.0,
        **{n: {"distribution": "lognormal", "params": {"median": medians[n], "sigma": s}, "source": "test"} for n, s in sigmas.items()},
    )
    ds = carbon_mc.sensitivity(scenario, output="operational_tco2e", num_base=2**12, seed=0, ci_method="normal", num_resamples=300)
    varied = [str(v) for v in ds["input"].values if float(ds["sobol_index"].sel(input=v, index="ST")) > 1e-6]
    assert sorted(varied) == sorted(sigmas)
    total = math.expm1(sum(s * s for s in sigmas.values()))
    for name, s in sigmas.items():
        s1 = math.expm1(s * s) / total
        st = 1.0 - math.expm1(sum(t * t for n, t in sigmas.items() if n != name)) / total
        got = ds["sobol_index"].sel(input=name)
        se = standard_errors(ds.sel(input=[name]), "S1")[0], standard_errors(ds.sel(input=[name]), "ST")[0]
        assert abs(float(got.sel(index="S1")) - s1) <= SE_MULTIPLE * se[0], name
        assert abs(float(got.sel(index="ST")) - st) <= SE_MULTIPLE * se[1], name
    assert "server_power_w_per_device" in json.loads(ds.attrs["fixed_inputs"])
    assert "server_power_w_per_device" not in ds["input"].values


def test_a_joint_prior_of_the_carbon_model_is_one_factor(write_toml):
    # A target loss draws tokens through the jointly fitted loss-law constants (five columns).
    path = write_toml('''
        [run]
        name = "70B to a target loss"
        hardware = "h100_sxm"
        parameters = 70e9
        target_loss = 2.05
        region = "united_states"
        datacenter = "meta"
    ''')
    model = carbon_mc.build_simulator(path)
    assert model.priors["scaling_law_constants"].num_columns == 5
    ds = carbon_mc.sensitivity(model.scenario, num_base=256, num_resamples=0)
    assert "scaling_law_constants" in ds["input"].values and "ln_a" not in ds["input"].values
    assert ds.attrs["num_columns"] == len(model.stochastic) + 4 and ds.sizes["input"] == len(model.stochastic)
    with pytest.raises(CarbonMCError, match="component of the joint prior 'scaling_law_constants'"):
        carbon_mc.sensitivity(model.scenario, groups={"law": ["ln_a", "alpha"]}, num_base=256, num_resamples=0)


@pytest.fixture(scope="module")
def gpt3():
    return carbon_mc.sensitivity("gpt3_175b", num_base=2**11, seed=3, num_resamples=200)


def test_dataset_shape_labels_and_attrs(gpt3, tmp_path):
    model = carbon_mc.build_simulator("gpt3_175b")
    assert set(gpt3["sobol_index"].dims) == {"input", "index"} and list(gpt3["index"].values) == ["S1", "ST"]
    assert gpt3["sobol_index_ci"].dims == ("input", "index", "ci_bound") and list(gpt3["ci_bound"].values) == ["lower", "upper"]
    assert list(gpt3["input"].values) == model.stochastic
    a = gpt3.attrs
    assert a["output"] == "total_tco2e" and a["output_units"] == "t" and a["num_base"] == 2**11 and a["seed"] == 3
    assert a["num_evaluations"] == 2**11 * (len(model.stochastic) + 2)
    assert a["conf_level"] == 0.95 and "Jansen" in a["method"] and a["ci_method"] == "percentile" and a["sampler"] == "sobol"
    assert a["scenario_name"] == "GPT-3 175B" and "priors" in a
    path = carbon_mc.save_dataset(gpt3, tmp_path / "s.nc")
    back = carbon_mc.load_dataset(path)
    np.testing.assert_array_equal(back["sobol_index"].values, gpt3["sobol_index"].values)
    assert back.attrs["num_evaluations"] == a["num_evaluations"]
    assert not jax.config.jax_enable_x64  # the float64 estimators leave the global flag alone


def test_same_seed_same_indices_whatever_the_chunk_size(gpt3):
    again = carbon_mc.sensitivity("gpt3_175b", num_base=2**11, seed=3, num_resamples=200, chunk_size=2**12)
    np.testing.assert_array_equal(again["sobol_index"].values, gpt3["sobol_index"].values)
    np.testing.assert_array_equal(again["sobol_index_ci"].values, gpt3["sobol_index_ci"].values)
    other = carbon_mc.sensitivity("gpt3_175b", num_base=2**11, seed=4, num_resamples=0)
    assert not np.array_equal(other["sobol_index"].values, gpt3["sobol_index"].values)
    assert np.all(np.isnan(other["sobol_index_ci"].values))


def test_bootstrap_does_not_depend_on_batch_size():
    rng = np.random.default_rng(0)
    f_a, f_b, f_ab = rng.normal(size=256), rng.normal(size=256), rng.normal(size=(256, 3))
    with jax.enable_x64(True):
        key = jax.random.key(9)
        one = estimators.bootstrap(key, f_a, f_b, f_ab, num_resamples=50, batch_size=7)
        two = estimators.bootstrap(key, f_a, f_b, f_ab, num_resamples=50, batch_size=64)
    np.testing.assert_allclose(one["S1"], two["S1"], rtol=1e-12)
    assert one["S1"].shape == (50, 3)


def test_each_bootstrap_replicate_is_the_estimator_on_a_resample_of_base_rows():
    # Replicate r weights the rows by the counts of resample r (key fold_in(key, r)); its float32
    # centred sums must agree with the float64 estimator on those counts far below the bootstrap spread.
    rng = np.random.default_rng(1)
    f_a, f_b = rng.lognormal(size=4096), rng.lognormal(size=4096)
    f_ab = f_a[:, None] * rng.uniform(0.5, 1.5, size=(4096, 3))
    f_ba = rng.lognormal(size=(4096, 3))
    with jax.enable_x64(True):
        key = jax.random.key(2)
        reps = estimators.bootstrap(key, f_a, f_b, f_ab, f_ba, num_resamples=20)
        for r in (0, 7, 19):
            counts = estimators.resample_counts(jax.random.fold_in(key, r)[None], 4096)[0].astype(np.float64)
            ref = estimators.sobol_estimates(f_a, f_b, f_ab, f_ba, weights=counts)
            for k in ("S1", "ST", "S2"):
                np.testing.assert_allclose(reps[k][r], np.asarray(ref[k]), rtol=0, atol=1e-6)
        assert np.std(reps["S1"], axis=0).min() > 1e-3  # the tolerance is far below the spread


@pytest.mark.parametrize("n,num_keys", [(64, 400), (100, 400), (2**17, 8)])  # two indices per word; randint; one per word
def test_resample_counts_are_a_resample_of_n_rows(n, num_keys):
    with jax.enable_x64(True):
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(jax.random.key(0), np.arange(num_keys, dtype=np.uint32))
        counts = np.asarray(jax.jit(estimators.resample_counts, static_argnums=1)(keys, n))
    assert counts.shape == (num_keys, n) and np.all(counts.sum(axis=1) == n)
    # each row is drawn Binomial(n, 1/n) times: variance 1 - 1/n; and no block of rows, nor the even
    # or the odd rows, is drawn more often than another (each mean count is 1 within 5 standard errors)
    assert abs(counts.var() - (1 - 1 / n)) < 4 * math.sqrt(2 / counts.size)
    blocks = [counts[:, i * n // 8 : (i + 1) * n // 8] for i in range(8)] + [counts[:, 0::2], counts[:, 1::2]]
    for block in blocks:
        assert abs(block.mean() - 1.0) < 5 * math.sqrt(1.0 / block.size)


def test_user_groups_and_fixed_inputs():
    scenario = carbon_mc.load_scenario("bloom_176b").with_priors(pue=1.2)
    groups = {"site": ["grid_gco2_per_kwh", "pue"], "embodied": ["embodied_kgco2e_per_device", "embodied_kgco2e_per_server"]}
    ds = carbon_mc.sensitivity(scenario, groups=groups, num_base=2**10, num_resamples=0)
    assert "pue" not in ds["input"].values and "site" in ds["input"].values
    assert ds["members"].sel(input="site").item() == "grid_gco2_per_kwh"
    assert ds["members"].sel(input="embodied").item() == "embodied_kgco2e_per_device,embodied_kgco2e_per_server"
    # pue fixed here; the scenario fixes its published context length and vocabulary, the aspect ratio is fixed data
    assert sorted(json.loads(ds.attrs["fixed_inputs"])) == ["context_length_tokens", "hidden_per_layer_ratio", "pue", "vocabulary_size"]
    rows = ranking(ds)
    assert [r["ST"] for r in rows] == sorted((r["ST"] for r in rows), reverse=True)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"output": "total_tco2"}, "did you mean 'total_tco2e'"),
        ({"groups": {"site": ["grid_gco2_per_kwhh"]}}, "did you mean 'grid_gco2_per_kwh'"),
        ({"groups": {"a": ["pue"], "b": ["pue"]}}, "in two groups"),
        ({"groups": {"pue": ["grid_gco2_per_kwh"]}}, "also an input"),
        ({"num_base": 8}, "at least 16"),
        ({"conf_level": 1.0}, "strictly between 0 and 1"),
        ({"num_resamples": 1}, "at least 2"),
        ({"output": "device_hours"}, "does not vary"),
    ],
)
def test_user_errors_name_the_problem(kwargs, needle):
    with pytest.raises(CarbonMCError, match=needle.replace("(", r"\(")):
        carbon_mc.sensitivity("gpt3_175b", **{"num_base": 64, "num_resamples": 0, **kwargs})


def test_non_power_of_two_base_draws_round_up_with_a_warning():
    with pytest.warns(UserWarning, match="rounded up to 128"):
        ds = sobol_indices(ishigami, ISHIGAMI, num_base=100, num_resamples=0)
    assert ds.attrs["num_base"] == 128
    ds = sobol_indices(ishigami, ISHIGAMI, num_base=100, num_resamples=0, sampler="random")  # plain uniforms: no rounding
    assert ds.attrs["num_base"] == 100 and ds.attrs["sampler"] == "random"


# ------------------------------------------------------------------------------------------------
# Command line


def test_cli_json_table_plot_and_netcdf(tmp_path, capsys):
    png, nc = tmp_path / "s.png", tmp_path / "s.nc"
    args = ["sensitivity", "gpt3_175b", "--base-draws", "1024", "--resamples", "100", "--group", "site=grid_gco2_per_kwh,pue"]
    assert main([*args, "--json", "--plot", str(png), "--out", str(nc)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["output"] == "total_tco2e" and out["units"] == "t" and out["num_base"] == 1024
    assert [r["input"] for r in out["indices"]][:1] and any(r["input"] == "site" and r["members"] == ["pue", "grid_gco2_per_kwh"] for r in out["indices"])
    sts = [r["ST"] for r in out["indices"]]
    assert sts == sorted(sts, reverse=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert carbon_mc.load_dataset(nc).attrs["num_base"] == 1024
    assert main([*args[:-4], "--resamples", "20", "--group", "site=grid_gco2_per_kwh,pue", "--second-order"]) == 0
    text = capsys.readouterr().out
    assert "ranked by ST" in text and "group site = pue, grid_gco2_per_kwh" in text and "second-order" in text


def test_cli_error_is_one_line_exit_2_no_traceback_and_writes_nothing(tmp_path):
    png = tmp_path / "s.png"
    r = subprocess.run([sys.executable, "-m", "carbon_mc.cli", "sensitivity", "gpt3_175b", "--plot", str(png), "--output", "totl_tco2e"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "did you mean 'total_tco2e'" in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--group", "site=grid_gco2_per_kwhh"], "unknown input 'grid_gco2_per_kwhh'"),
        (["--group", "site"], "expected NAME=INPUT"),
        (["--base-draws", "8"], "at least 16"),
        (["--conf-level", "95"], "strictly between 0 and 1"),
    ],
)
def test_cli_user_errors_exit_2_before_writing(tmp_path, capsys, extra, needle):
    png = tmp_path / "s.png"
    assert main(["sensitivity", "gpt3_175b", "--plot", str(png), "--resamples", "0", *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err
    assert list(tmp_path.iterdir()) == []


def test_cli_rounds_base_draws_up_and_says_so(capsys):
    assert main(["sensitivity", "gpt3_175b", "--base-draws", "1000", "--resamples", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["num_base"] == 1024
    assert "rounded up to 1,024" in captured.err
