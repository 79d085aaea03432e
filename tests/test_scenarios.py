"""Scenario files: every bundled one loads; every kind of bad input gets one clear error."""

import math
from pathlib import Path

import pytest

import carbon_mc

MODELS = sorted((Path(__file__).resolve().parents[1] / "models").glob("*.toml"))


def test_at_least_the_promised_scenarios_are_bundled():
    names = {p.stem for p in MODELS}
    for required in ("strubell_transformer_big", "strubell_nas", "evolved_transformer_nas_actual", "t5_11b", "meena",
                     "gshard_600b", "switch_transformer", "gpt3_175b", "xlm", "bloom_176b", "llama_65b",
                     "llama2_7b", "llama31_70b"):
        assert required in names


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_bundled_scenario_loads_and_runs(path):
    scenario = carbon_mc.load_scenario(path)
    ds = carbon_mc.estimate(scenario, num_draws=512, seed=0)
    for name in ("energy_mwh", "total_tco2e"):
        v = ds[name].values
        assert (v > 0).all() and all(math.isfinite(x) for x in v[:10])


def test_modern_measured_runs_are_calibration_data_with_their_publication_year():
    # They were held out until the model knew device-time overhead, MoE utilisation and modern power;
    # forward-in-time validation (calibrate on runs published before a year) now keeps them honest.
    from carbon_mc.calibration import measured_runs, scenario_files

    modern = {"glam_64b64e", "palm_540b", "olmo2_7b", "olmo2_13b", "olmoe_0924"}
    assert modern <= {p.stem for p in scenario_files(basis="measured")}
    published = {Path(s.file).stem: s.reported.published for s in measured_runs()}
    assert {k: published[k] for k in modern} == {"glam_64b64e": 2021, "palm_540b": 2022, "olmo2_7b": 2025, "olmo2_13b": 2024,
                                                 "olmoe_0924": 2025}


def test_good_toy_scenario(write_toml, toy_scenario):
    s = carbon_mc.load_scenario(write_toml(toy_scenario))
    assert s.device_hours == 64 * 10 * 24




def test_malformed_toml(write_toml, scenario_error):
    msg = scenario_error("[run\nname = 'x'")
    assert "scenario.toml" in msg and "malformed TOML" in msg


def test_unknown_hardware_names_close_matches(write_toml, toy_scenario, scenario_error):
    msg = scenario_error(toy_scenario.replace('"a100_80gb"', '"a100-80gb"'))
    assert "hardware" in msg and "a100_80gb" in msg


def test_unknown_region_names_close_matches(write_toml, toy_scenario, scenario_error):
    msg = scenario_error(toy_scenario.replace('"france"', '"frnace"'))
    assert "region" in msg and "'france'" in msg


def test_unknown_datacenter(write_toml, toy_scenario, scenario_error):
    msg = scenario_error(toy_scenario.replace('"hyperscale"', '"hyperscal"'))
    assert "datacenter" in msg and "hyperscale" in msg


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", '"ten"'])
def test_bad_counts(write_toml, value, toy_scenario, scenario_error):
    msg = scenario_error(toy_scenario.replace("devices = 64", f"devices = {value}"))
    assert "run.devices" in msg


def test_fractional_devices(write_toml, toy_scenario, scenario_error):
    assert "whole number" in scenario_error(toy_scenario.replace("devices = 64", "devices = 6.5"))


def test_contradicting_device_time(write_toml, toy_scenario, scenario_error):
    msg = scenario_error(toy_scenario + "device_hours = 20000\n")
    assert "contradicts" in msg and "run.device_hours" in msg


def test_contradicting_flops(write_toml, toy_scenario, scenario_error):
    text = toy_scenario + "parameters = 7e9\ntokens = 1e12\ntrain_flops = 1e23\n"
    assert "contradicts" in scenario_error(text)


def test_region_and_number_both_given(write_toml, toy_scenario, scenario_error):
    assert "not both" in scenario_error(toy_scenario + "grid_gco2_per_kwh = 50\n")


def test_missing_device_time(write_toml, toy_scenario, scenario_error):
    msg = scenario_error(toy_scenario.replace("devices = 64\ndays = 10\n", ""))
    assert "device time" in msg


def test_unknown_key_and_section(write_toml, toy_scenario, scenario_error):
    assert "run.devics" in scenario_error(toy_scenario + "devics = 3\n")
    assert "[extra]" in scenario_error(toy_scenario + "[extra]\nx = 1\n")


def test_replaced_prior_without_source(write_toml, toy_scenario, scenario_error):
    text = toy_scenario + '[priors]\npue = { distribution = "uniform", params = { low = 1.1, high = 1.3 } }\n'
    msg = scenario_error(text)
    assert "priors" in msg or "pue" in msg
    assert "source" in msg


def test_replaced_prior_with_bad_params(write_toml, toy_scenario, scenario_error):
    text = toy_scenario + '[priors]\npue = { distribution = "uniform", params = { low = 1.3, high = 1.1 }, source = "me" }\n'
    assert "low < high" in scenario_error(text)


def test_unknown_prior_quantity(write_toml, toy_scenario, scenario_error):
    assert "did you mean 'pue'" in scenario_error(toy_scenario + "[priors]\npeu = 1.2\n")


def test_fixed_and_replaced_priors_are_used(write_toml, toy_scenario):
    text = toy_scenario + '[priors]\npue = 1.25\nmfu_fraction = 0.4\n'
    model = carbon_mc.build_simulator(carbon_mc.load_scenario(write_toml(text)))
    assert model.fixed["pue"] == 1.25
    assert "pue" not in model.stochastic
