"""Scenario comparison with common random numbers: sharper than independent draws, and exact where it must be."""

import json

import numpy as np
import pytest
import scipy.stats as st

import carbon_mc
from carbon_mc import CarbonMCError
from carbon_mc.cli import main
from carbon_mc.joint.paired import B_STREAM_SUFFIX, compare
from carbon_mc.sampling import build_simulator, draw

N = 20_000
RUN = """
[run]
name = "{name}"
hardware = "h100_sxm"
device_hours = 200000
region = "{region}"
datacenter = "hyperscale"
"""


@pytest.fixture
def pair(write_toml):
    """The same run on two grids: only grid_gco2_per_kwh differs between them."""
    return (write_toml(RUN.format(name="France", region="france"), "a.toml"),
            write_toml(RUN.format(name="Germany", region="germany"), "b.toml"))


def width(x):
    lo, hi = np.quantile(x, [0.05, 0.95])
    return hi - lo


def width_se(x, batches=20):
    """Monte Carlo standard error of the 90% interval width, from batch means (draws are i.i.d.)."""
    w = [width(b) for b in np.array_split(x, batches)]
    return np.std(w, ddof=1) / np.sqrt(batches)


def test_identical_scenarios_give_a_ratio_of_exactly_one():
    c = compare("llama31_8b", "llama31_8b", num_draws=N, seed=4)
    assert c.separate == () and set(c.shared) == set(build_simulator("llama31_8b").stochastic)
    np.testing.assert_array_equal(c.ratio, 1.0)
    np.testing.assert_array_equal(c.difference, 0.0)
    assert c.prob_b_less == 0.0
    independent = compare("llama31_8b", "llama31_8b", num_draws=N, seed=4, common_random_numbers=False)
    assert independent.shared == () and not np.all(independent.ratio == 1.0)
    # without common random numbers, P(B < A) for identical scenarios is 1/2 up to Monte Carlo error
    assert abs(independent.prob_b_less - 0.5) < 4 * np.sqrt(0.25 / N)


def test_side_a_is_what_estimate_draws():
    c = compare("llama31_8b", "llama31_70b", num_draws=5000, seed=2, quantity="energy_mwh")
    ds = carbon_mc.estimate("llama31_8b", num_draws=5000, seed=2)  # run's sampler: randomized QMC
    np.testing.assert_array_equal(c.a, ds["energy_mwh"].values.astype(np.float64))
    assert c.method == "qmc" and "exactly as 'carbon-mc run'" in c.sampler


def test_common_random_numbers_narrow_the_ratio_interval(pair):
    a, b = pair
    crn = compare(a, b, num_draws=N, seed=0)
    ind = compare(a, b, num_draws=N, seed=0, common_random_numbers=False)
    assert crn.separate == ("grid_gco2_per_kwh",) and "pue" in crn.shared and ind.shared == ()
    w_crn, w_ind = width(crn.ratio), width(ind.ratio)
    se = np.hypot(width_se(crn.ratio), width_se(ind.ratio))
    assert w_ind - w_crn > 5 * se, (w_crn, w_ind, se)
    # the difference B - A is sharper too
    assert width(crn.difference) < width(ind.difference)
    # both estimate the same P(B < A); the French grid is far cleaner than the German one
    assert crn.prob_b_less == pytest.approx(ind.prob_b_less, abs=5 * np.sqrt(0.25 / N))


def test_runs_that_share_every_prior_compare_exactly():
    # 70B and 8B Llama 3.1 share hardware, region and data centre: B/A is the device-hour ratio in every draw
    c = compare("llama31_8b", "llama31_70b", num_draws=N, quantity="energy_mwh")
    ratio = 7.0e6 / 1.46e6
    np.testing.assert_allclose(c.ratio, ratio, rtol=1e-5)
    ind = compare("llama31_8b", "llama31_70b", num_draws=N, quantity="energy_mwh", common_random_numbers=False)
    assert width(ind.ratio) > 0.5 * ratio


def test_inputs_with_different_priors_are_drawn_independently():
    a, b = "models/relocate_llama31_8b_iowa.toml", "models/relocate_llama31_8b_quebec.toml"
    energy = compare(a, b, num_draws=N, quantity="energy_mwh")
    operational = compare(a, b, num_draws=N, quantity="operational_tco2e")
    assert operational.separate == ("grid_gco2_per_kwh",)
    np.testing.assert_array_equal(energy.a, energy.b)  # everything behind energy is shared
    grid_a = operational.a / energy.a
    grid_b = operational.b / energy.b
    # Same uniforms through two lognormals would be perfectly rank-correlated; separate streams are not.
    rho = st.spearmanr(grid_a, grid_b).statistic
    assert abs(rho) < 4 / np.sqrt(N)
    assert operational.prob_b_less == 1.0


def test_renamed_streams_change_only_that_input():
    model = build_simulator("gpt3_175b")
    renamed = model.with_streams({"pue": "pue" + B_STREAM_SUFFIX})
    x0, _ = draw(model, num_draws=4096, seed=0, method="mc")
    x1, _ = draw(renamed, num_draws=4096, seed=0, method="mc")
    assert not np.array_equal(x0["pue"], x1["pue"])
    for name in model.stochastic:
        if name != "pue":
            np.testing.assert_array_equal(x0[name], x1[name])
    with pytest.raises(ValueError, match="no such inputs"):
        model.with_streams({"peu": "x"})


def test_summary_and_errors():
    c = compare("llama31_8b", "llama31_70b", num_draws=4096)
    s = c.summary()
    assert s["ratio"]["lower"] <= s["ratio"]["median"] <= s["ratio"]["upper"]
    assert s["prob_b_less"] == 0.0 and s["a"]["median"] < s["b"]["median"]
    with pytest.raises(CarbonMCError, match="device_hours"):
        compare("llama31_8b", "llama31_70b", quantity="device_hours")


def test_cli_compare(tmp_path, capsys):
    plot = tmp_path / "cmp.png"
    a, b = "models/relocate_llama31_8b_iowa.toml", "models/relocate_llama31_8b_quebec.toml"
    assert main(["compare", a, b, "--draws", "8192", "--json", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["common_random_numbers"] is True and out["separate_inputs"] == ["grid_gco2_per_kwh"]
    assert out["summary"]["prob_b_less"] == 1.0 and out["summary"]["ratio"]["upper"] < 1
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["compare", a, b, "--draws", "4096", "--independent"]) == 0
    text = capsys.readouterr().out
    assert "independent draws" in text and "P(B < A)" in text
    assert main(["compare", a, b, "--basis", "market"]) == 2
    assert "market_gco2_per_kwh" in capsys.readouterr().err
