"""Claim checks: the case studies, known answers for "what would it take", accounting switches, CLI."""

import json
import math

import numpy as np
import pytest
import yaml

import carbon_mc
from carbon_mc import CarbonMCError
from carbon_mc.claims import check_claim, check_claims, model_card_block, reach_factors, scenario_claims, simulate
from carbon_mc.cli import main

N = 40_000
# A run whose operational CO2e is a pure product of three drawn inputs (server power fixed to 0),
# and whose embodied CO2e is a product of three others (server embodied carbon fixed to 0).
PRODUCT = """
[run]
name = "product toy"
hardware = "a100_80gb"
device_hours = 1000
region = "france"
datacenter = "hyperscale"

[priors]
server_power_w_per_device = 0
embodied_kgco2e_per_server = 0
accelerator_power_tdp_fraction = { distribution = "lognormal", params = { median = 0.7, sigma = 0.1 }, source = "test" }
pue = { distribution = "lognormal", params = { median = 1.4, sigma = 0.05 }, source = "test" }
grid_gco2_per_kwh = { distribution = "lognormal", params = { median = 300, sigma = 0.5 }, source = "test" }
"""
OPERATIONAL_INPUTS = {"accelerator_power_tdp_fraction", "pue", "grid_gco2_per_kwh"}
EMBODIED_INPUTS = {"embodied_kgco2e_per_device": 1, "service_life_years": -1, "lifetime_utilization_fraction": -1}


@pytest.fixture(scope="module")
def nas_checks():
    return check_claims("evolved_transformer_nas_actual", num_draws=N, seed=0)


def by_label(checks, text):
    (found,) = [c for c in checks if text in c.claim.label]
    return found


# --- the Strubell case study -----------------------------------------------------------------
def test_strubell_nas_co2e_is_an_extreme_outlier_about_88_times_too_high(nas_checks):
    r = by_label(nas_checks, "NAS CO2e")
    assert r.quantity == "operational_tco2e" and r.claim_value == pytest.approx(284.019, abs=1e-3)
    assert r.percentile == 100.0 and r.num_beyond == 0 and r.prob_at_least == 0.0
    assert r.verdict.startswith("beyond every one")
    lo, hi = r.ratio_interval
    assert 10 < lo < r.ratio_median < hi
    # Patterson et al. 2021: 284 t against the 3.2 t measured ("88x"); that point ratio lies in our interval.
    assert lo < 284.019 / 3.2 < hi
    # No draw reaches it, so the report names the largest draw and the factors the inputs would need.
    assert r.extreme < r.claim_value
    assert r.reach is not None and 1.0 < r.reach.common < math.inf
    assert set(k for k, d in r.reach.directions.items() if d) >= {"pue", "grid_gco2_per_kwh"}


def test_strubell_nas_energy_is_an_extreme_outlier(nas_checks):
    r = by_label(nas_checks, "NAS energy")
    assert r.quantity == "energy_mwh" and r.claim_value == pytest.approx(656.347)
    assert r.percentile == 100.0 and r.ratio_interval[0] > 10
    assert r.ratio_interval[0] < 656.347 / 7.5 < r.ratio_interval[1]  # Patterson's measured 7.5 MWh


def test_patterson_measured_figures_sit_inside_the_distribution(nas_checks):
    for label in ("reported energy", "reported operational CO2e"):
        r = by_label(nas_checks, label)
        assert 5.0 < r.percentile < 95.0, (label, r.percentile)
        assert r.verdict == "inside the central 90% interval"


# --- consistency with the engine -------------------------------------------------------------
def test_percentile_probability_and_ratio_agree_with_estimate():
    r = check_claim("gpt3_175b", 552.1, "t", quantity="operational_tco2e", num_draws=20_000, seed=3)
    y = carbon_mc.estimate("gpt3_175b", num_draws=20_000, seed=3)["operational_tco2e"].values.astype(np.float64)
    assert r.percentile == carbon_mc.percentile_of(y, 552.1)
    assert r.prob_at_least == np.mean(y >= 552.1)
    assert r.prob_at_least_se == pytest.approx(math.sqrt(r.prob_at_least * (1 - r.prob_at_least) / y.size))
    p5, med, p95 = np.quantile(y, [0.05, 0.5, 0.95])
    assert r.ratio_median == pytest.approx(552.1 / med)
    assert r.ratio_interval == pytest.approx((552.1 / p95, 552.1 / p5))


def test_a_claim_below_every_draw():
    r = check_claim("gpt3_175b", 85_000, "kg", quantity="operational_tco2e", num_draws=20_000, seed=0)
    assert r.direction == "below" and r.num_beyond == 0 and r.percentile == 0.0
    assert r.extreme == pytest.approx(r.values.min()) and r.extreme > r.claim_value
    assert r.ratio_interval[1] < 1.0
    # to come down to the claim, the inputs must be divided
    assert all(d in (-1, 0) for d in r.reach.directions.values()) and r.reach.directions["pue"] == -1


# --- "what would it take": known answers -----------------------------------------------------
@pytest.fixture(scope="module")
def product(tmp_path_factory):
    path = tmp_path_factory.mktemp("claims") / "product.toml"
    path.write_text(PRODUCT)
    scenario = carbon_mc.load_scenario(path)
    return scenario, simulate(scenario, num_draws=20_000, seed=1)


def test_common_factor_of_a_product_of_k_inputs(product):
    scenario, (model, inputs, outputs) = product
    top = float(np.max(outputs["operational_tco2e"]))
    reach = reach_factors(model, inputs, "operational_tco2e", 1000.0 * top, "above")
    assert reach.common == pytest.approx(10.0, rel=1e-4)  # (claim / max) ** (1 / 3)
    for name in OPERATIONAL_INPUTS:
        assert reach.directions[name] == 1
        assert reach.per_input[name] == pytest.approx(1000.0, rel=1e-4)  # claim / max, one input alone
    for name in EMBODIED_INPUTS:
        assert reach.directions[name] == 0 and reach.per_input[name] == math.inf


def test_common_factor_with_inputs_that_lower_the_quantity(product):
    scenario, (model, inputs, outputs) = product
    top = float(np.max(outputs["embodied_tco2e"]))
    reach = reach_factors(model, inputs, "embodied_tco2e", 1000.0 * top, "above")
    assert reach.common == pytest.approx(10.0, rel=1e-4)
    for name, sign in EMBODIED_INPUTS.items():
        assert reach.directions[name] == sign  # a longer life or busier hardware spreads embodied carbon thinner
    assert reach.per_input["service_life_years"] == pytest.approx(1000.0, rel=1e-4)


def test_common_factor_below_and_through_check_claim(product):
    scenario, draws = product
    low = float(np.min(draws[2]["operational_tco2e"]))
    r = check_claim(scenario, low / 8.0, "t", quantity="operational_tco2e", _draws=draws, seed=1)
    assert r.direction == "below" and r.num_beyond == 0
    assert r.reach.common == pytest.approx(2.0, rel=1e-4)  # 8 ** (1 / 3)
    assert {n for n, d in r.reach.directions.items() if d == -1} == OPERATIONAL_INPUTS


def test_shifts_rank_the_widest_multiplicative_input_first(product):
    # In a product of lognormals, conditioning on a high product shifts each log-input in proportion
    # to its variance: grid (sigma 0.5) far more than power (0.1) and PUE (0.05); embodied not at all.
    scenario, draws = product
    q95 = float(np.quantile(draws[2]["operational_tco2e"], 0.95))
    r = check_claim(scenario, q95, "t", quantity="operational_tco2e", _draws=draws, seed=1)
    assert r.num_beyond == pytest.approx(0.05 * 20_000, abs=2)
    names = [s.name for s in r.shifts]
    assert names[:3] == ["grid_gco2_per_kwh", "accelerator_power_tdp_fraction", "pue"]
    grid = r.shifts[0]
    assert grid.median_ratio > 1.5 and grid.prior_percentile > 90 and grid.ks_distance > 0.5
    # an input the quantity does not depend on does not shift beyond sampling noise (KS ~ 1.36 / sqrt(m))
    ks_noise = 1.63 * math.sqrt(1 / r.num_beyond + 1 / 20_000)  # 99% critical value of the two-sample KS
    assert all(s.ks_distance < ks_noise for s in r.shifts if s.name in EMBODIED_INPUTS)


# --- accounting switches ---------------------------------------------------------------------
def test_pue_excluded_is_it_energy_and_draws_no_pue():
    s = carbon_mc.load_scenario("gpt3_175b")
    model, inputs, out = simulate(s, num_draws=8192, seed=2, pue_included=False)
    assert "pue" not in model.priors
    np.testing.assert_array_equal(out["energy_mwh"], out["it_energy_mwh"])
    _, inputs_with, out_with = simulate(s, num_draws=8192, seed=2)
    # same seed, same streams: the only difference is the PUE factor
    np.testing.assert_allclose(out_with["energy_mwh"], out["energy_mwh"] * inputs_with["pue"], rtol=1e-6)
    np.testing.assert_allclose(out["operational_tco2e"], out["energy_mwh"] * inputs["grid_gco2_per_kwh"] / 1000, rtol=1e-6)
    # the accelerators' own emissions leave out host power and PUE, whatever the accounting
    for o, x in ((out, inputs), (out_with, inputs_with)):
        np.testing.assert_allclose(o["accelerator_operational_tco2e"], o["accelerator_energy_mwh"] * x["grid_gco2_per_kwh"] / 1000, rtol=1e-6)
    np.testing.assert_array_equal(out["accelerator_operational_tco2e"], out_with["accelerator_operational_tco2e"])


def test_market_basis_uses_the_scenarios_market_factor():
    s = carbon_mc.load_scenario("llama31_70b")
    model, _, out = simulate(s, num_draws=4096, seed=0, grid_basis="market")
    assert model.fixed["market_gco2_per_kwh"] == 0.0 and "grid_gco2_per_kwh" not in model.priors
    assert "renewable" in model.priors["market_gco2_per_kwh"].source
    assert np.all(out["operational_tco2e"] == 0)
    np.testing.assert_array_equal(out["total_tco2e"], out["embodied_tco2e"])
    (claim,) = [c for c in s.claims if c.grid_basis == "market"]
    market = check_claim(s, claim, _draws=(model, _, out))
    assert market.accounting == {"grid_basis": "market", "pue_included": True}
    assert market.prob_at_least == 1.0 and math.isnan(market.ratio_median)


def test_market_basis_without_a_factor_says_what_to_add():
    with pytest.raises(CarbonMCError) as info:
        simulate("gpt3_175b", num_draws=10, grid_basis="market")
    msg = str(info.value)
    assert "market_gco2_per_kwh" in msg and "[accounting]" in msg and "gpt3_175b.toml" in msg


def test_claims_carry_their_own_basis():
    bloom = {c.label: c for c in scenario_claims(carbon_mc.load_scenario("bloom_176b"))}
    dynamic = bloom["Luccioni et al. 2022: dynamic CO2e only"]
    # GPU energy alone (no host, no PUE): the claim's own scope
    assert dynamic.grid_basis == "location" and dynamic.quantity == "accelerator_operational_tco2e"
    r = check_claim("bloom_176b", dynamic, num_draws=8192)
    assert r.accounting["grid_basis"] == "location" and r.quantity == "accelerator_operational_tco2e"
    assert bloom["reported total CO2e"].quantity == "total_tco2e"


# --- scenario schema -------------------------------------------------------------------------




def test_claims_schema_errors(write_toml, toy_scenario, scenario_error):
    claim = '\n[[claims]]\nvalue = 10\nunit = "t"\nsource = "x"\n'
    s = carbon_mc.load_scenario(write_toml(toy_scenario + claim))
    assert s.claims[0].quantity == "total_tco2e" and s.claims[0].grid_basis is None
    assert "did you mean 'unit'" in scenario_error(toy_scenario + claim.replace('unit = "t"', 'unt = "t"\nunit = "t"'))
    assert "source" in scenario_error(toy_scenario + claim.replace('source = "x"\n', ""))
    msg = scenario_error(toy_scenario + claim + 'quantity = "energy_mwh"\n')
    assert "claims[0]" in msg and "energy_mwh" in msg and "scenario.toml" in msg
    assert "grid basis" in scenario_error(toy_scenario + claim + 'grid_basis = "net"\n')
    assert "true or false" in scenario_error(toy_scenario + claim + 'pue_included = "yes"\n')
    assert "market_gco2_per_kwh" in scenario_error(toy_scenario + claim + 'grid_basis = "market"\n')


def test_accounting_schema(write_toml, toy_scenario, scenario_error):
    s = carbon_mc.load_scenario(write_toml(toy_scenario + '[accounting]\ngrid_basis = "market"\nmarket_gco2_per_kwh = 12.5\n'))
    model = carbon_mc.build_simulator(s)
    assert model.run.grid_basis == "market" and model.fixed["market_gco2_per_kwh"] == 12.5
    assert "did you mean" in scenario_error(toy_scenario + "[accounting]\npue_include = false\n")
    assert ">= 0" in scenario_error(toy_scenario + "[accounting]\nmarket_gco2_per_kwh = -3\n")
    prior = '[accounting]\nmarket_gco2_per_kwh = { distribution = "uniform", params = { low = 0, high = 50 } }\n'
    assert "source" in scenario_error(toy_scenario + prior.replace("[accounting]", '[accounting]\ngrid_basis = "market"'))


# --- model card ------------------------------------------------------------------------------
def test_model_card_block_is_valid_yaml_with_the_hub_fields():
    scenario = carbon_mc.load_scenario("bloom_176b")
    model, _, out = simulate(scenario, num_draws=8192, seed=0)
    text = model_card_block(scenario, out["operational_tco2e"], total_t=out["total_tco2e"], num_draws=8192, seed=0,
                            priors_ref="bundled priors", geographical_location='Jean Zay, "IDRIS": Orsay, France')
    block = yaml.safe_load(text)["co2_eq_emissions"]
    assert {"emissions", "source", "training_type", "geographical_location", "hardware_used"} <= set(block)
    grams = np.asarray(out["operational_tco2e"], dtype=np.float64) * 1e6  # the Hub's emissions: operational, grams
    assert block["emissions"] == pytest.approx(np.median(grams), rel=1e-3)  # grams, 4 significant figures
    lo, hi = block["emissions_interval_90"]
    assert lo == pytest.approx(np.quantile(grams, 0.05), rel=1e-3) and hi == pytest.approx(np.quantile(grams, 0.95), rel=1e-3)
    total = np.asarray(out["total_tco2e"], dtype=np.float64) * 1e6
    assert block["total_emissions_with_embodied"] == pytest.approx(np.median(total), rel=1e-3)
    assert block["geographical_location"] == 'Jean Zay, "IDRIS": Orsay, France'
    assert block["hardware_used"].endswith("A100 SXM4 80 GB") or "A100" in block["hardware_used"]
    assert block["training_type"] == "pre-training" and "median" in block["method"]
    assert block["carbon_mc_priors"] == "bundled priors" and "priors_sources" not in block


# --- command line ----------------------------------------------------------------------------
def test_cli_check_json_plot_and_model_card(tmp_path, capsys):
    plot, card = tmp_path / "nas.png", tmp_path / "card.yaml"
    args = ["check", "evolved_transformer_nas_actual", "--claim", "626155", "--unit", "lb",
            "--quantity", "operational_tco2e", "--draws", "8192", "--json", "--plot", str(plot), "--model-card", str(card)]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    (r,) = out["checks"]
    assert r["percentile"] == 100.0 and r["ratio_interval_90"][0] > 10 and r["reach"]["common_factor"] > 1
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"
    assert card.read_text().startswith("co2_eq_emissions:\n  emissions: ")
    assert sorted(out["written"]) == sorted([str(plot), str(card)])


def test_cli_check_table(capsys):
    assert main(["check", "bloom_176b", "--draws", "4096"]) == 0
    text = capsys.readouterr().out
    assert "dynamic CO2e only" in text and "no PUE in this quantity" in text and "PUE included" in text and "What it would take" in text


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--claim", "5"], "--claim and --unit go together"),
        (["--claim", "5", "--unit", "lb", "--quantity", "energy_mwh"], "energy_mwh"),
        (["--claim", "5", "--unit", "stone"], "unknown unit"),
        (["--basis", "market"], "market_gco2_per_kwh"),
        (["--plot", "x.jpg"], "--plot must end in"),
    ],
)
def test_cli_check_errors(args, needle, capsys, tmp_path):
    assert main(["check", "gpt3_175b", "--draws", "100", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_cli_check_without_any_claim(write_toml, capsys, toy_scenario):
    assert main(["check", str(write_toml(toy_scenario)), "--draws", "100"]) == 2
    assert "no claim" in capsys.readouterr().err
