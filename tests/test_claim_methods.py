"""A claim's stated method: the arithmetic verdict (the card's figure from its own inputs) and the
physics verdict (where the figure falls, and the gap to the estimate factor by factor)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carbon_mc.claims import check_claim
from carbon_mc.claims.check import make_claim, scenario_claims
from carbon_mc.claims.method import NAMED_METHODS, ClaimMethod, parse_method, recompute
from carbon_mc.errors import InputError
from carbon_mc.scenarios import load_any_scenario

LB = 0.45359237  # kg per lb

ESTIMATE_SCENARIOS = ("llama2_7b", "llama2_70b", "llama3_8b", "llama31_8b", "llama31_70b", "llama31_405b", "llama_65b",
                      "bloom_176b", "strubell_transformer_big", "strubell_nas", "xlm")


def _recompute(claim, scenario):
    return recompute(claim.method, claim.quantity, claim.value_in_quantity_units, "MWh" if claim.quantity.endswith("mwh") else "t",
                     tdp_w={"a100_80gb": 400.0, "h100_sxm": 700.0}.get(scenario.hardware, math.nan),
                     run_device_hours=scenario.device_hours)


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------
def test_every_bundled_estimate_figure_states_its_method():
    for name in ESTIMATE_SCENARIOS:
        scenario = load_any_scenario(name)
        assert scenario.reported.basis == "estimated"
        assert scenario.reported.method is not None, name
        assert all(c.method is not None for c in scenario_claims(scenario)), name


def test_scenarios_without_a_method_parse_as_before():
    scenario = load_any_scenario("gpt3_175b")
    assert scenario.reported.method is None
    assert all(c.method is None for c in scenario_claims(scenario))


def test_named_method_as_a_string_and_its_defaults():
    m = parse_method("tdp_hours", "x.toml", "claims[0]")
    assert m == ClaimMethod(name="tdp_hours", uses_tdp=True, source=NAMED_METHODS["tdp_hours"].source)
    assert parse_method("tdp_adjusted_for_pue", "x.toml", "reported").pue_in_power
    assert parse_method("codecarbon", "x.toml", "reported").measured


@pytest.mark.parametrize("value, match", [
    ("tdp_hour", "tdp_hours"),  # unknown name, with its close match
    ({"name": "tdp_hours", "wattage": 400}, "unknown key"),
    ({"name": "tdp_hours_pue"}, "pue"),  # the method multiplies by a PUE the card must give
    ({"name": "tdp_hours", "pue": 1.2}, "no PUE"),
    ({"power_w_per_device": -1}, "finite number"),
    ({"pue": 0.9}, "finite number >= 1"),
    ({"power_scope": "rack"}, "accelerator, server"),
    ({"devices": 4}, "latency_s"),
    (12, "method's name or a table"),
])
def test_bad_methods_are_refused(value, match):
    with pytest.raises(InputError, match=match):
        parse_method(value, "x.toml", "claims[0]")


# ---------------------------------------------------------------------------------------------
# The arithmetic verdict: the cards' own numbers, within 1%
# ---------------------------------------------------------------------------------------------
def test_llama2_34b_example_of_the_issue():
    """1,038,336 GPU-h x 350 W x 0.4234 kg/kWh = 153.9 t (Touvron et al. 2023, Table 2, 34B row)."""
    m = parse_method({"name": "tdp_adjusted_for_pue", "power_w_per_device": 350, "grid_gco2_per_kwh": 423.4,
                      "device_hours": 1038336}, "x.toml", "claims[0]")
    a = recompute(m, "operational_tco2e", 153.9, "t", tdp_w=400.0, run_device_hours=None)
    assert a.status == "consistent" and abs(a.recomputed - 153.9) / 153.9 < 0.001


@pytest.mark.parametrize("name, quantity, published", [
    ("llama2_7b", "operational_tco2e", 31.22),
    ("llama2_70b", "operational_tco2e", 291.42),
    ("llama_65b", "energy_mwh", 449.0),           # 1,022,362 h x 400 W x 1.1
    ("llama_65b", "operational_tco2e", 173.0),    # x 0.385 kg/kWh
    ("bloom_176b", "accelerator_operational_tco2e", 24.7),  # 1,082,990 h x 400 W x 57 g/kWh
    ("bloom_176b", "total_tco2e", 50.5),          # + 256,646 kWh idle x 57 g/kWh + 11.2 t embodied
    ("strubell_nas", "energy_mwh", 656.347),      # 274,120 h x 1515.43 W x 1.58
    ("strubell_nas", "operational_tco2e", 626155 * LB / 1000),  # x 0.954 lb/kWh
    ("strubell_transformer_big", "energy_mwh", 0.201),
    ("strubell_transformer_big", "operational_tco2e", 192 * LB / 1000),
    ("xlm", "operational_tco2e", 39.0),           # 250,675 h x 342 W x 1.1 x 0.413 kg/kWh
    ("llama31_8b", "operational_tco2e", 420.0),   # family-implied factor: within the rounding of 1.46M h
    ("llama31_70b", "operational_tco2e", 2040.0),
    ("llama31_405b", "operational_tco2e", 8930.0),
    ("llama3_8b", "operational_tco2e", 390.0),
])
def test_method_reproduces_the_published_arithmetic_within_1_percent(name, quantity, published):
    scenario = load_any_scenario(name)
    claim = next(c for c in scenario_claims(scenario) if c.quantity == quantity and c.grid_basis != "market")
    a = _recompute(claim, scenario)
    assert a.status == "consistent", a.sentence
    assert abs(a.recomputed / published - 1) < 0.01
    assert abs(a.relative_difference) < 0.01


def test_figures_that_disagree_with_their_inputs_are_flagged_with_the_size():
    m = parse_method({"name": "tdp_hours", "grid_gco2_per_kwh": 57, "device_hours": 1082990}, "x.toml", "claims[0]")
    a = recompute(m, "accelerator_operational_tco2e", 30.0, "t", tdp_w=400.0, run_device_hours=None)
    assert a.status == "disagree"
    assert a.relative_difference == pytest.approx(30.0 / 24.692172 - 1, rel=1e-6)
    assert "disagree with each other" in a.sentence and "+21.5%" in a.sentence


def test_missing_inputs_make_the_arithmetic_incomplete():
    m = parse_method({"power_w_per_device": 400}, "x.toml", "claims[0]")
    a = recompute(m, "operational_tco2e", 10.0, "t", tdp_w=400.0, run_device_hours=None)
    assert a.status == "incomplete" and set(a.missing) == {"device hours", "grid gco2 per kwh"}


# ---------------------------------------------------------------------------------------------
# The physics verdict: a decomposition whose factors multiply to estimate / claim, per draw
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def llama2_check():
    scenario = load_any_scenario("llama2_7b")
    return check_claim(scenario, scenario_claims(scenario)[0], num_draws=4000, seed=3)


def test_factors_multiply_to_the_ratio_in_every_draw(llama2_check):
    d = llama2_check.method.decomposition
    factors = [d.draws[f.name] for f in d.factors]
    np.testing.assert_allclose(np.prod(factors, axis=0), d.draws["ratio"], rtol=1e-12)
    np.testing.assert_allclose(d.draws["ratio"], llama2_check.values / llama2_check.claim_value, rtol=1e-12)
    # the geometric means multiply too; each factor's interval is from the same draws
    assert math.prod(f.geometric_mean for f in d.factors) == pytest.approx(d.ratio_geometric_mean, rel=1e-9)
    for f in d.factors:
        assert f.interval == pytest.approx(tuple(np.quantile(d.draws[f.name], [0.05, 0.95])))


def test_each_factor_is_what_its_name_says(llama2_check):
    d = llama2_check.method.decomposition
    names = [f.name for f in d.factors]
    assert names == ["arithmetic", "device_time", "board_power", "host_power", "pue", "grid"]
    np.testing.assert_allclose(d.draws["device_time"], 1.0, rtol=1e-5)  # published device-hours: the card's own
    assert d.left_out == ("host_power", "pue")
    f = {f.name: f for f in d.factors}
    assert f["board_power"].geometric_mean < 1 < f["host_power"].geometric_mean  # below TDP; host not counted
    assert f["pue"].geometric_mean > 1


def test_the_verdict_says_which_case_it_is(llama2_check):
    m = llama2_check.method
    assert m.case == "consistent"
    assert m.summary.startswith("the card's arithmetic is consistent; the method leaves out host power and PUE; "
                                "the run likely emitted")
    record = llama2_check.to_dict()["method"]
    assert record["case"] == "consistent" and record["arithmetic"]["status"] == "consistent"
    assert record["physics"]["percentile"] == pytest.approx(llama2_check.percentile)
    assert {f["name"] for f in record["physics"]["decomposition"]["factors"]} >= {"board_power", "host_power", "pue", "grid"}


def test_strubell_nas_is_implausible_even_on_its_own_method():
    scenario = load_any_scenario("evolved_transformer_nas_actual")
    claim = next(c for c in scenario.claims if c.quantity == "operational_tco2e")
    r = check_claim(scenario, claim, num_draws=2000)
    m = r.method
    assert m.arithmetic.status == "consistent"
    assert m.case == "implausible"
    assert "outside the physically plausible range even on its own method" in m.summary
    time = next(f for f in m.decomposition.factors if f.name == "device_time")
    assert time.geometric_mean == pytest.approx(200 * 6.8 * 24 / 2192960, rel=1e-4)


def test_a_disagreeing_card_is_called_inconsistent():
    scenario = load_any_scenario("llama2_7b")
    method = scenario.reported.method
    claim = make_claim(40.0, "t", "operational_tco2e", label="wrong", source="test", method=method)
    m = check_claim(scenario, claim, num_draws=2000).method
    assert m.case == "inconsistent" and m.summary.startswith("the card's figures disagree with each other")
    d = m.decomposition
    np.testing.assert_allclose(np.prod([d.draws[f.name] for f in d.factors], axis=0), d.draws["ratio"], rtol=1e-12)


def test_a_zero_market_based_figure_has_no_decomposition():
    scenario = load_any_scenario("llama31_70b")
    claim = next(c for c in scenario.claims if c.grid_basis == "market")
    m = check_claim(scenario, claim, num_draws=2000).method
    assert m.arithmetic.status == "consistent" and m.decomposition is None and "zero" in m.reason


def test_without_a_method_the_check_is_as_before():
    scenario = load_any_scenario("llama2_7b")
    claim = make_claim(31.22, "t", "operational_tco2e", label="bare", source="test")
    r = check_claim(scenario, claim, num_draws=2000)
    assert r.method is None and "method" not in r.to_dict()


# ---------------------------------------------------------------------------------------------
# Deployments: a per-request figure from a stated power and latency
# ---------------------------------------------------------------------------------------------
def test_per_request_figure_from_power_and_latency():
    scenario = load_any_scenario("models/serving/llama31_70b_h100_vllm054.toml")
    method = parse_method({"power_w_per_device": 700, "devices": 4, "latency_s": 20.0}, "x.toml", "claims[0]")
    value_wh = 4 * 20.0 * 700 / 3600  # 15.56 Wh per request
    claim = make_claim(value_wh, "Wh", "accelerator_energy_wh_per_request", label="per request", source="test", method=method)
    r = check_claim(scenario, claim, num_draws=2000)
    m = r.method
    assert m.arithmetic.status == "consistent" and m.arithmetic.recomputed == pytest.approx(value_wh)
    d = m.decomposition
    assert d.estimate_quantity == "energy_wh_per_request"
    np.testing.assert_allclose(np.prod([d.draws[f.name] for f in d.factors], axis=0), d.draws["ratio"], rtol=1e-12)
    assert d.left_out == ("host_power", "pue")
