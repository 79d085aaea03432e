"""Priors as data: every bundled prior is valid, sourced, and drawn from the right distribution."""

import numpy as np
import pytest
import scipy.stats as st

from carbon_mc import CarbonMCError
from carbon_mc.sampling import uniforms
from carbon_mc.priors import load_priors

REQUIRED_HARDWARE = ["p100", "v100", "a100_40gb", "a100_80gb", "h100_sxm", "h200", "b200", "mi250x", "mi300x",
                     "tpu_v2", "tpu_v3", "tpu_v4", "tpu_v5e", "tpu_v5p"]


def all_priors(table):
    return [p for q in table.quantities.values() for p in q.variants.values()]


def test_required_content(table):
    for hw in REQUIRED_HARDWARE:
        spec = table.hardware_spec(hw)
        assert spec["peak_flop_per_s"] > 1e12 and spec["tdp_w"] > 50
    for q in ("accelerator_power_tdp_fraction", "server_power_w_per_device", "mfu_fraction", "pue",
              "grid_gco2_per_kwh", "embodied_kgco2e_per_device", "embodied_kgco2e_per_server",
              "service_life_years", "lifetime_utilization_fraction"):
        assert q in table.quantities
    assert {"hyperscale", "colocation", "hpc"} <= set(table.quantities["pue"].variants)
    # every accelerator has an embodied prior, and its classes select existing variants
    for hw, spec in table.hardware.items():
        assert hw in table.quantities["embodied_kgco2e_per_device"].variants
        assert spec["power_class"] in table.quantities["accelerator_power_tdp_fraction"].variants
        assert spec["mfu_class"] in table.quantities["mfu_fraction"].variants
        assert spec["server_class"] in table.quantities["server_power_w_per_device"].variants
        assert spec["server_class"] in table.quantities["embodied_kgco2e_per_server"].variants
    for p in table.quantities["grid_gco2_per_kwh"].variants.values():
        assert p.year is not None, p.variant


def test_every_prior_has_units_and_source(table):
    for p in all_priors(table):
        assert p.units and p.source.strip() and p.description.strip(), (p.quantity, p.variant)


def _draws(prior, n=20_000):
    import jax

    u = uniforms(jax.random.key(0), f"{prior.quantity}.{prior.variant}", 0, -(-n // 4096))[:n]
    return np.asarray(prior.icdf(u), dtype=np.float64)


@pytest.mark.parametrize("family", ["uniform", "normal", "truncated_normal", "lognormal", "triangular"])
def test_bundled_priors_match_their_distribution_ks(table, family):
    priors = [p for p in all_priors(table) if p.family == family]
    if not priors:
        pytest.skip(f"no bundled prior uses {family}")
    # One KS test per bundled prior (about 150): Bonferroni-correct so that the chance of any false
    # alarm across the whole table is 1%, whatever the table's size.
    alpha = 0.01 / len(all_priors(table))
    for p in priors:
        x = _draws(p)
        cdf = lambda v: np.asarray(p.distribution.cdf(np.asarray(v, np.float32)), np.float64)  # noqa: E731
        result = st.kstest(x, cdf)
        assert result.pvalue > alpha, (p.quantity, p.variant, result)


@pytest.mark.parametrize(
    "family,params,scipy_dist",
    [
        ("uniform", {"low": 2.0, "high": 5.0}, st.uniform(2, 3)),
        ("normal", {"loc": 1.0, "scale": 0.2}, st.norm(1, 0.2)),
        ("truncated_normal", {"loc": 1.1, "scale": 0.1, "low": 1.0}, st.truncnorm(-1, np.inf, 1.1, 0.1)),
        ("lognormal", {"median": 165.0, "sigma": 0.3}, st.lognorm(0.3, scale=165.0)),
        ("lognormal", {"p5": 100.0, "p95": 300.0}, st.lognorm(np.log(3) / (2 * 1.6448536), scale=np.sqrt(3e4))),
        ("triangular", {"low": 3.0, "mode": 5.0, "high": 7.0}, st.triang(0.5, loc=3, scale=4)),
    ],
)
def test_families_against_scipy(family, params, scipy_dist):
    from carbon_mc.priors import build_prior

    p = build_prior("x", "v", {"distribution": family, "params": params, "source": "test"}, units="1", long_name="x", file="t")
    x = _draws(p, 50_000)
    assert st.kstest(x, scipy_dist.cdf).pvalue > 1e-3
    q = np.array([0.05, 0.5, 0.95], np.float32)
    np.testing.assert_allclose(np.asarray(p.icdf(q)), scipy_dist.ppf(q), rtol=2e-5)


GOOD_Q = """
[pue]
units = "1"
long_name = "power usage effectiveness"
selected_by = "datacenter"
support = { low = 1.0 }
[pue.variants.hyperscale]
distribution = "uniform"
params = { low = 1.05, high = 1.2 }
description = "test"
source = "test source"
"""


def loader_error(tmp_path, text):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(CarbonMCError) as info:
        load_priors(tmp_path)
    return str(info.value)


def test_good_prior_file_loads(tmp_path):
    (tmp_path / "ok.toml").write_text(GOOD_Q)
    assert load_priors(tmp_path).quantities["pue"].variants["hyperscale"].family == "uniform"


def test_prior_without_source_is_rejected(tmp_path):
    msg = loader_error(tmp_path, GOOD_Q.replace('source = "test source"\n', ""))
    assert "bad.toml" in msg and "pue.variants.hyperscale" in msg and "source" in msg


def test_quantity_without_units_is_rejected(tmp_path):
    msg = loader_error(tmp_path, GOOD_Q.replace('units = "1"\n', ""))
    assert "bad.toml: pue" in msg and "units" in msg


def test_unknown_family_is_rejected(tmp_path):
    msg = loader_error(tmp_path, GOOD_Q.replace('"uniform"', '"unifrom"'))
    assert "unknown distribution 'unifrom'" in msg and "uniform" in msg


@pytest.mark.parametrize("params", ["{ low = 1.2, high = 1.05 }", "{ low = 1.05 }", "{ low = 1.05, high = nan }",
                                    "{ low = 1.05, high = 1.2, mode = 1.1 }"])
def test_invalid_params_are_rejected(tmp_path, params):
    msg = loader_error(tmp_path, GOOD_Q.replace("{ low = 1.05, high = 1.2 }", params))
    assert "bad.toml: pue.variants.hyperscale" in msg and "invalid uniform params" in msg


def test_bundled_data_found_from_installed_layout():
    from carbon_mc.data import data_dir

    assert (data_dir("priors") / "accelerators.toml").exists()
    assert any(data_dir("models").glob("*.toml"))


# --- bounds are structural: every quantity declares its support -------------------------------------
def test_every_bundled_quantity_declares_its_support():
    table = load_priors()
    missing = [name for name, q in table.quantities.items() if q.support is None]
    assert missing == []
    joint = table.quantities["scaling_law_constants"].support
    assert {name for name, _ in joint.components} == {"loss_irreducible", "ln_a", "ln_b", "alpha", "beta"}


def test_a_quantity_without_support_is_refused(tmp_path):
    msg = loader_error(tmp_path, GOOD_Q.replace("support = { low = 1.0 }\n", ""))
    assert "bad.toml: pue" in msg and "missing 'support'" in msg and "{ low = 0.0 }" in msg


JOINT_Q = """
[law]
units = "1"
long_name = "two constants"
support = SUPPORT
[law.variants.default]
distribution = "multivariate_normal"
params = { components = ["e", "alpha"], mean = [1.8, 0.30], sd = [0.03, 0.05], corr = [[1.0, 0.5], [0.5, 1.0]] }
description = "test"
source = "test source"
"""


def test_joint_support_checks_each_marginal(tmp_path):
    ok = JOINT_Q.replace("SUPPORT", "{ components = { e = { above = 0.0 }, alpha = { above = 0.0 } } }")
    (tmp_path / "ok.toml").write_text(ok)
    assert load_priors(tmp_path).quantities["law"].support.bounded
    # alpha's normal marginal reaches 0.30 - 5.33 x 0.05 = 0.034 > 0; with high = 0.5 its upper tail (0.57) leaves
    msg = loader_error(tmp_path, JOINT_Q.replace("SUPPORT", "{ components = { e = { above = 0.0 }, alpha = { above = 0.0, high = 0.5 } } }"))
    assert "component alpha" in msg and "<= 0.5" in msg
    msg = loader_error(tmp_path, JOINT_Q.replace("SUPPORT", "{ components = { e = { above = 0.0 } } }"))
    assert "every component" in msg and "missing alpha" in msg
    msg = loader_error(tmp_path, JOINT_Q.replace("SUPPORT", "{ low = 0.0 }"))
    assert "by component" in msg


@pytest.mark.parametrize("quantity, value", [
    ("serving_host_power_w_per_device", -100.0), ("serving_busy_fraction", 5.0), ("memory_bandwidth_fraction", 3.0),
    ("decode_mfu_fraction", -0.2), ("output_tokens_per_request", -5.0), ("serving_over_provisioning_factor", 0.5),
])
def test_serving_overrides_outside_their_bounds_are_refused(tmp_path, quantity, value):
    from carbon_mc.data import data_dir
    from carbon_mc.scenarios import load_any_scenario

    text = (data_dir("models") / "serving" / "bloom_176b_api.toml").read_text()
    path = tmp_path / "bad.toml"
    path.write_text(text + f"\n[priors]\n{quantity} = {value}\n" if "[priors]" not in text else
                    text.replace("[priors]\n", f"[priors]\n{quantity} = {value}\n", 1))
    with pytest.raises(CarbonMCError) as info:
        load_any_scenario(path)
    assert f"priors.{quantity}" in str(info.value) and "outside" in str(info.value)


@pytest.mark.parametrize("quantity, value", [("device_time_overhead_factor", -1.0), ("moe_mfu_ratio", -0.5),
                                             ("project_experiment_factor", 0.0)])
def test_training_overrides_outside_their_bounds_are_refused(tmp_path, quantity, value):
    from carbon_mc.data import data_dir
    from carbon_mc.scenarios import load_any_scenario

    text = (data_dir("models") / "olmoe_0924.toml").read_text()
    path = tmp_path / "bad.toml"
    path.write_text(text.replace("[priors]\n", f"[priors]\n{quantity} = {value}\n", 1) if "[priors]" in text
                    else text + f"\n[priors]\n{quantity} = {value}\n")
    with pytest.raises(CarbonMCError) as info:
        load_any_scenario(path)
    assert f"priors.{quantity}" in str(info.value) and "outside" in str(info.value)
