"""Neural scaling: the loss law and its inverses, jointly drawn constants, loss -> accuracy, the
critical batch size, scenarios given by a target loss or a compute budget, and the four
CarbonScaling findings as checks over the sweep (fixed seeds)."""

import numpy as np
import pytest
import xarray as xr

import carbon_mc
from carbon_mc import CarbonMCError
from carbon_mc.sampling import uniforms
from carbon_mc.footprint import scaling as sc
from carbon_mc.priors.families import build_distribution
from carbon_mc.sweep import carbon_exponents, scaling_sweep

BESIROGLU = {"loss_irreducible": 1.8172, "ln_a": float(np.log(482.01)), "ln_b": float(np.log(2085.43)), "alpha": 0.3478,
             "beta": 0.3658}
REDUCIBLE = {k: v for k, v in BESIROGLU.items() if k != "loss_irreducible"}


# ------------------------------------------------------------------------------------------------
# the law and its closed forms
# ------------------------------------------------------------------------------------------------
def test_loss_law_at_chinchilla_point():
    # E + A/N^alpha + B/D^beta by hand at 70B / 1.4T tokens.
    by_hand = 1.8172 + 482.01 / 70e9**0.3478 + 2085.43 / 1.4e12**0.3658
    assert float(sc.loss_nats(70e9, 1.4e12, **BESIROGLU)) == pytest.approx(by_hand, rel=1e-5)


@pytest.mark.parametrize("compute_flop,ratio", [(1e21, 21.6), (1e23, 19.2), (5.76e23, 18.4), (1e24, 18.1), (1e25, 17.1), (1e26, 16.1)])
def test_compute_optimal_tokens_per_parameter_match_the_reference_table(compute_flop, ratio):
    # docs/priors_literature.md section 7 tabulates D/N of the Besiroglu fit's closed form.
    n = float(sc.compute_optimal_parameters(compute_flop, **REDUCIBLE))
    d = float(sc.compute_optimal_tokens(compute_flop, **REDUCIBLE))
    assert d / n == pytest.approx(ratio, abs=0.06)
    assert 6 * n * d == pytest.approx(compute_flop, rel=1e-4)


def test_compute_optimal_point_minimises_loss_on_its_iso_flop_line():
    c = 1e24
    n = float(sc.compute_optimal_parameters(c, **REDUCIBLE))
    best = float(sc.loss_nats(n, c / (6 * n), **BESIROGLU))
    for f in (0.8, 0.95, 1.05, 1.25):
        assert float(sc.loss_nats(n * f, c / (6 * n * f), **BESIROGLU)) > best
    assert float(sc.compute_optimal_loss_nats(c, **BESIROGLU)) == pytest.approx(best, rel=1e-5)
    assert float(sc.compute_optimal_tokens_for_parameters(n, **REDUCIBLE)) == pytest.approx(c / (6 * n), rel=1e-3)


def test_inverses_of_the_law():
    c = 3e23
    target = float(sc.compute_optimal_loss_nats(c, **BESIROGLU))
    assert float(sc.compute_for_target_loss_flop(target, **BESIROGLU)) == pytest.approx(c, rel=2e-3)
    d = float(sc.tokens_for_target_loss(7e9, 2.2, **BESIROGLU))
    assert float(sc.loss_nats(7e9, d, **BESIROGLU)) == pytest.approx(2.2, rel=1e-5)
    floor = 1.8172 + 482.01 / 7e9**0.3478  # a 7B model cannot go below this whatever the data
    assert np.isinf(sc.tokens_for_target_loss(7e9, floor - 1e-3, **BESIROGLU))
    assert np.isinf(sc.compute_for_target_loss_flop(1.8, **BESIROGLU))


def _constants(joint: bool, n=20_000):
    table = carbon_mc.load_priors()
    prior = table.select("scaling_law_constants", {"scaling_fit": "besiroglu_2024"})
    u = np.asarray(uniforms(0, "scaling_law_constants", 0, -(-n // 4096), 5))[:n]
    dist = prior.distribution
    if not joint:  # same marginals, correlations dropped
        cov = np.diag(np.diag(np.asarray(dist.covariance_matrix, np.float64)))
        dist = build_distribution("multivariate_normal", {"components": list(prior.components), "mean": np.asarray(dist.loc).tolist(),
                                                          "cov": cov.tolist()})
    return sc.split_constants(np.asarray(dist.icdf(u), np.float64), prior.components)


def test_joint_constants_give_plausible_losses_and_independent_ones_do_not():
    joint, indep = _constants(True), _constants(False)
    loss = np.asarray(sc.loss_nats(70e9, 1.4e12, **joint))
    lo, hi = np.percentile(loss, [5, 95])
    # Chinchilla 70B: 1.94 by Hoffmann's law, 1.98 by Besiroglu's; a sane 90% interval stays within 1.85-2.10.
    assert 1.85 < lo < 1.98 < hi < 2.10

    def ratio(k):
        r = {q: k[q] for q in ("ln_a", "ln_b", "alpha", "beta")}
        return np.asarray(sc.compute_optimal_tokens(1e24, **r) / sc.compute_optimal_parameters(1e24, **r))

    # Compute-optimal tokens per parameter at 1e24 FLOP: about 18 at the means (Chinchilla used 20).
    j5, j95 = np.percentile(ratio(joint), [5, 95])
    assert 5 < j5 < 18 < j95 < 60
    # Drawn independently, the same marginals put the optimum anywhere from under one token per
    # parameter to over a thousand: the correlations carry the fit.
    i5, i95 = np.percentile(ratio(indep), [5, 95])
    assert i5 < 1.0 and i95 > 500


def test_hoffmann_variant_is_the_alternative_prior_set():
    table = carbon_mc.load_priors()
    h = table.select("scaling_law_constants", {"scaling_fit": "hoffmann_2022"})
    k = dict(zip(h.components, np.asarray(h.distribution.loc, np.float64)))
    n = float(sc.compute_optimal_parameters(5.76e23, k["ln_a"], k["ln_b"], k["alpha"], k["beta"]))
    # Hoffmann's TeX-source constants give about 59 tokens per parameter at Chinchilla's compute.
    assert (5.76e23 / (6 * n)) / n == pytest.approx(59, rel=0.05)


# ------------------------------------------------------------------------------------------------
# accuracy and critical batch
# ------------------------------------------------------------------------------------------------
def test_accuracy_mapping_limits_and_monotonicity():
    red = np.array([0.0, 0.1, 0.5, 1.0, 5.0, 50.0])
    acc = np.asarray(sc.accuracy_fraction(red, 0.7, 0.1, 2.0))
    assert acc[0] == pytest.approx(0.9, abs=1e-6)  # 1 - floor error at L = E
    assert acc[-1] == pytest.approx(0.3, abs=1e-6)  # 1 - chance error as L -> infinity
    assert np.all(np.diff(acc) < 0)


def test_critical_batch_laws():
    # Kaplan: B* / L^(1/alpha_B); at L = 1 it is B*.
    assert float(sc.critical_batch_kaplan_tokens(1.0, 2.1e8, 0.21)) == pytest.approx(2.1e8)
    assert float(sc.critical_batch_kaplan_tokens(2.0, 2.1e8, 0.21)) == pytest.approx(2.1e8 / 2 ** (1 / 0.21), rel=1e-5)
    # 2024-25 form: grows with data as D^kappa, whatever the model size.
    assert float(sc.critical_batch_data_tokens(4e12, 1.2e7, 0.5)) == pytest.approx(2.4e7, rel=1e-5)
    # McCandlish: at B = B_crit a run needs twice the minimum tokens.
    assert float(sc.data_efficiency_factor(5e6, 5e6)) == pytest.approx(2.0)
    assert float(sc.batch_token_factor(0.25 * 8e6, 8e6, 0.25)) == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------
# scenarios given by a target loss or a compute budget
# ------------------------------------------------------------------------------------------------
TARGET = """
[run]
name = "70B to a target loss"
hardware = "h100_sxm"
parameters = 70e9
{extra}
devices = 2048
region = "united_states"
datacenter = "hyperscale"
"""


def test_target_loss_scenario_derives_tokens(write_toml):
    # A draw whose loss-law constants put the target out of reach is not finite: refused by default,
    # dropped (and counted) on request; the kept draws keep their draw numbers.
    with pytest.raises(carbon_mc.NumericError, match="not finite"):
        carbon_mc.estimate(write_toml(TARGET.format(extra="target_loss = 2.0")), num_draws=8192, seed=0)
    ds = carbon_mc.estimate(write_toml(TARGET.format(extra="target_loss = 2.0")), num_draws=8192, seed=0, nonfinite="drop")
    finite = np.isfinite(ds["tokens"].values)
    assert finite.all() and ds.attrs["nonfinite_draws_dropped"] < 0.001 * 8192
    np.testing.assert_allclose(ds["loss_nats"].values[finite], 2.0, rtol=1e-5)
    np.testing.assert_allclose(ds["train_flop"].values[finite],
                               6 * 70e9 * ds["tokens"].values[finite] * (1 + ds["flops_overhead_fraction"].values[finite]), rtol=1e-5)
    assert ds["scaling_law_constants"].dims == ("draw", "scaling_law_constants_component")
    # A lower target needs more tokens, draw by draw (common random numbers).
    lower = carbon_mc.estimate(write_toml(TARGET.format(extra="target_loss = 1.99"), "b.toml"), num_draws=8192, seed=0,
                               nonfinite="drop")
    both = np.intersect1d(ds["draw"].values, lower["draw"].values)
    assert both.size > 0.998 * 8192
    assert np.all(lower["tokens"].sel(draw=both).values > ds["tokens"].sel(draw=both).values)


def test_compute_budget_scenario_derives_tokens_and_loss(write_toml):
    ds = carbon_mc.estimate(write_toml(TARGET.format(extra="compute_budget_flop = 5.88e23")), num_draws=4096, seed=0)
    np.testing.assert_allclose(ds["train_flop"].values, 5.88e23, rtol=1e-6)
    tokens = ds["tokens"].values * (1 + ds["flops_overhead_fraction"].values)
    np.testing.assert_allclose(tokens, 5.88e23 / (6 * 70e9), rtol=1e-5)
    assert 1.85 < np.median(ds["loss_nats"].values) < 2.1


@pytest.mark.parametrize("extra,message", [
    ("target_loss = 1.7", "out of reach"),
    ("target_loss = 2.0\ntokens = 1e12", "replaces 'tokens'"),
    ("target_loss = 2.0\ncompute_budget_flop = 1e23", "not both"),
    ("target_loss = 2.0\nscaling_fit = \"kaplan\"", "unknown scaling fit"),
])
def test_bad_scaling_scenarios(write_toml, extra, message):
    with pytest.raises(CarbonMCError, match=message):
        carbon_mc.load_scenario(write_toml(TARGET.format(extra=extra)))


def test_target_loss_needs_parameters(write_toml):
    text = TARGET.format(extra="target_loss = 2.0").replace("parameters = 70e9\n", "")
    with pytest.raises(CarbonMCError, match="needs 'parameters'"):
        carbon_mc.load_scenario(write_toml(text))


def test_bundled_target_loss_scenario_loads():
    scenario = carbon_mc.load_scenario("chinchilla_style_70b_target_loss")
    assert scenario.derives_tokens and "scaling_law_constants" in scenario.needed_quantities()


# ------------------------------------------------------------------------------------------------
# the sweep and the four findings
# ------------------------------------------------------------------------------------------------
DRAWS = 2048


@pytest.fixture(scope="module")
def sweeps():
    return {
        "ideal": scaling_sweep(num_draws=DRAWS, seed=0, utilization="ideal"),
        "critical": scaling_sweep(num_draws=DRAWS, seed=0, batch_policy="critical"),
        "fixed": scaling_sweep(num_draws=DRAWS, seed=0, batch_policy="fixed"),
    }


def test_sweep_is_labelled_and_consistent(sweeps):
    ds = sweeps["critical"]
    assert {k: ds.sizes[k] for k in ("draw", "size", "hardware")} == {"draw": DRAWS, "size": 7, "hardware": 4}
    for name in ("loss_nats", "accuracy_fraction", "train_flop", "effective_mfu_fraction", "device_hours", "energy_mwh",
                 "operational_tco2e", "embodied_tco2e", "total_tco2e"):
        assert ds[name].dims == ("draw", "size", "hardware") and ds[name].attrs["units"], name
        assert np.all(np.isfinite(ds[name].values)) and np.all(ds[name].values > 0), name
    assert ds["devices"].dims == ("size", "hardware")
    np.testing.assert_allclose(ds["total_tco2e"], ds["operational_tco2e"] + ds["embodied_tco2e"], rtol=1e-5)
    np.testing.assert_array_equal(ds["devices"].values, ds["tensor_parallel"] * ds["pipeline_parallel"] * ds["data_parallel"])
    # the same devices on every accelerator: a fixed cluster per size
    assert np.all(ds["devices"].values == ds["devices"].values[:, :1])
    mfu = ds["effective_mfu_fraction"].values
    assert np.all(mfu < sweeps["ideal"]["effective_mfu_fraction"].values + 1e-6)
    # loss and accuracy do not depend on the hardware or the utilization
    xr.testing.assert_allclose(ds["loss_nats"], sweeps["ideal"]["loss_nats"])


def test_sweep_reproducible_and_round_trips(sweeps, tmp_path):
    again = scaling_sweep(num_draws=DRAWS, seed=0, batch_policy="critical")
    xr.testing.assert_equal(again["total_tco2e"], sweeps["critical"]["total_tco2e"])
    carbon_mc.save_dataset(again, tmp_path / "s.nc")
    xr.testing.assert_identical(carbon_mc.load_dataset(tmp_path / "s.nc"), again)


def test_sweep_over_compute_budgets():
    ds = scaling_sweep(compute_budgets_flop=[1e21, 1e23, 1e25], hardware=["h100_sxm"], num_draws=1024, seed=1, utilization="ideal")
    # compute is the budget times (1 + delta), whatever N and D each draw picks
    ratio = ds["train_flop"] / (ds["compute_budget_flop"] * (1 + ds["flops_overhead_fraction"]) * ds["batch_token_factor"])
    np.testing.assert_allclose(ratio.values, 1.0, rtol=1e-4)
    assert np.all(ds["loss_nats"].diff("size") < 0)


def test_sweep_rejects_bad_arguments():
    with pytest.raises(CarbonMCError, match="unknown hardware"):
        scaling_sweep(hardware=["h1000"], num_draws=16)
    with pytest.raises(CarbonMCError, match="unknown batch policy"):
        scaling_sweep(batch_policy="huge", num_draws=16)
    with pytest.raises(CarbonMCError, match="powers of two"):
        scaling_sweep(devices=1000, num_draws=16)
    with pytest.raises(CarbonMCError, match="unknown region"):
        scaling_sweep(region="atlantis", num_draws=16)


def test_finding_a_ideal_carbon_is_a_power_law_in_reducible_loss(sweeps):
    """(a) With ideal utilization, ln CO2e is linear in ln(L - E): R^2 >= 0.98 in every draw, over
    more than two decades of compute."""
    ds = sweeps["ideal"]
    fit = carbon_exponents(ds)
    assert float(fit["carbon_loss_r2"].min()) >= 0.98
    span = ds["train_flop"].isel(size=-1) / ds["train_flop"].isel(size=0)
    assert float(span.min()) > 100


def test_finding_b_real_overheads_make_the_exponent_worse(sweeps):
    """(b) Realistic parallelism makes d ln CO2e / d ln(L - E) more negative than the ideal one.

    Measured (2048 draws, seed 0): in 100% of draws on every accelerator with the critical-batch
    policy; in 84-91% with a fixed 4M-token batch, whose small models pay for a batch above their
    critical batch (so the fixed-batch check is >= 0.8, not 0.9).
    """
    ideal = carbon_exponents(sweeps["ideal"])["carbon_loss_exponent"]
    for policy, share in (("critical", 0.9), ("fixed", 0.8)):
        real = carbon_exponents(sweeps[policy])["carbon_loss_exponent"]
        worse = (real < ideal).mean("draw")
        assert float(worse.min()) >= share, (policy, worse.values)


def _cut(ds, old, new):
    total = ds["total_tco2e"]
    return 1 - total.sel(hardware=new) / total.sel(hardware=old)


def test_finding_c_newer_hardware_helps_small_models_more_with_a_fixed_batch(sweeps):
    """(c) At a fixed cluster per size and a fixed batch, a newer generation cuts the CO2e of 1B-10B
    models by a larger fraction than that of a 1T model (communication grows relative to compute on
    newer parts). The margin is small: a100 -> h100 cuts about 57% against 54%."""
    ds = sweeps["fixed"]
    for old, new in (("a100_80gb", "h100_sxm"), ("h100_sxm", "b200"), ("v100", "h100_sxm")):
        cut = _cut(ds, old, new)
        small = cut.sel(size=[0, 2]).mean("size")  # 1B and 10B
        big = cut.isel(size=-1)  # 1T
        assert float((small > big).mean()) >= 0.95, (old, new)


def test_finding_c_does_not_hold_with_the_critical_batch_from_v100(sweeps):
    """(c), reported honestly: with the critical-batch policy, moving off the 32 GB V100 cuts the 1T
    model's CO2e by MORE than the small models' (its memory forces a deep, bubble-bound pipeline on
    V100), so the finding does not come out of the model there. Measured: 61% for 1T against 51%."""
    cut = _cut(sweeps["critical"], "v100", "a100_80gb")
    small = cut.sel(size=[0, 2]).mean("size")
    assert float((small < cut.isel(size=-1)).mean()) >= 0.95


def test_finding_d_critical_batch_lowers_carbon_at_the_largest_scale(sweeps):
    """(d) Choosing the batch up to the critical batch size (which grows with the data) instead of a
    fixed 4M-token batch lowers the CO2e of the 1T model, by about half at the median. Measured
    (2048 draws, seed 0): lower in 94% of draws on V100 and 99% on A100, H100 and B200."""
    ratio = sweeps["critical"]["total_tco2e"].isel(size=-1) / sweeps["fixed"]["total_tco2e"].isel(size=-1)
    assert float((ratio < 1).mean("draw").min()) >= 0.9
    assert float(ratio.median("draw").max()) < 0.75


def test_cli_scaling_writes_dataset_and_figure(sweeps, tmp_path, capsys):
    from carbon_mc.cli import main

    out, png = tmp_path / "sweep.nc", tmp_path / "sweep.png"
    # the fixture's draw count and sizes, so the jitted evaluation is reused
    code = main(["scaling", "--hardware", "a100_80gb,h100_sxm", "--draws", str(DRAWS), "--out", str(out), "--plot", str(png),
                 "--json"])
    assert code == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"a100_80gb", "h100_sxm"}
    e = result["h100_sxm"]["carbon_loss_exponent"]
    assert e["p5"] <= e["median"] <= e["p95"] < 0
    ds = carbon_mc.load_dataset(out)
    assert ds.sizes["size"] == 7 and png.stat().st_size > 10_000
    assert main(["scaling", "--hardware", "h1000", "--draws", "16"]) == 2
    assert main(["scaling", "--devices", "1000", "--draws", "16"]) == 2
    assert "error" in capsys.readouterr().err
