"""The command line on serving scenarios: run, check, compare, sensitivity, lifecycle, and one-line errors."""

import numpy as np
import pytest

import carbon_mc
from carbon_mc.cli import main
from carbon_mc.results.run import JSON_STATS

BLOOM_API = "models/serving/bloom_176b_api.toml"


def test_run_prints_per_request_per_day_and_deployment(capsys):
    assert main(["run", BLOOM_API, "--draws", "4096"]) == 0
    text = capsys.readouterr().out
    for label in ("Energy per request (Wh)", "Total CO2e per request (g)", "Total CO2e per day (kg)", "Total CO2e (t)"):
        assert label in text
    assert "0.914" in text and "percentile" in text


def test_run_json_has_the_training_summary_keys(cli_json):
    out = cli_json("run", "bloom_176b_api", "--draws", "4096")
    for key in ("energy_wh_per_request", "total_gco2e_per_request", "energy_kwh_per_day", "total_kgco2e_per_day", "energy_mwh",
                "total_tco2e"):
        assert set(out[key]) == set(JSON_STATS) | {"units"}  # the same keys as a training run's
        assert out[key]["p2_5"] <= out[key]["p5"] <= out[key]["median"] <= out[key]["p95"] <= out[key]["p97_5"]
    assert out["reported"]["it_energy_mwh"]["value"] == pytest.approx(0.914)
    # per day x days = deployment; per request x requests = deployment (medians of a product of draws)
    assert out["total_kgco2e_per_day"]["median"] * 18 / 1e3 == pytest.approx(out["total_tco2e"]["median"], rel=1e-4)


def test_run_reports_the_share_of_draws_over_capacity(cli_json, capsys):
    """A deployment given by its traffic and its hardware: draws whose throughput cannot carry that
    traffic (utilization above 1) are kept at full-load power, and the run says how many there are."""
    n = 20_000
    draws = carbon_mc.estimate("bloom_176b_api", num_draws=n)
    expected = float(np.mean(draws["utilization_fraction"].values > 1.001))
    assert 0.0 < expected < 0.2  # BLOOM's replica was mostly idle; a few draws of slow decoding overflow it
    exact = cli_json("run", "bloom_176b_api", "--draws", str(n))
    assert exact["over_capacity_share"] == pytest.approx(expected, abs=1e-12)
    streamed = cli_json("run", "bloom_176b_api", "--draws", str(n), "--stream")
    assert streamed["over_capacity_share"] == pytest.approx(expected, abs=2 / n)  # within a histogram bin's draws
    assert main(["run", "bloom_176b_api", "--draws", str(n)]) == 0
    assert f"in {100 * expected:.1f}% of draws the stated traffic needs more" in " ".join(capsys.readouterr().out.split())
    # a deployment given as fully busy sits at utilization 1 up to rounding: nothing over capacity, no note
    assert cli_json("run", "llama31_8b_h100_vllm_batch64", "--draws", "4096")["over_capacity_share"] == 0.0
    assert "over_capacity_share" not in cli_json("run", "gpt3_175b", "--draws", "4096")  # a training run has no traffic


def test_run_without_out_keeps_only_what_it_reports():
    """Restricting the kept draws to the reported variables changes no number."""
    lean = carbon_mc.run_scenario("bloom_176b_api", num_draws=8192)
    full = carbon_mc.run_scenario("bloom_176b_api", num_draws=8192, keep_draws=True)
    assert lean.stats == full.stats and lean.reported == full.reported and lean.info == full.info
    assert lean.draws is None and "requests" in full.draws


def test_run_out_writes_netcdf_with_units(tmp_path, capsys):
    path = tmp_path / "api.nc"
    assert main(["run", "bloom_176b_api", "--draws", "2048", "--out", str(path)]) == 0
    ds = carbon_mc.load_dataset(path)
    assert ds.sizes["draw"] == 2048
    assert ds["energy_wh_per_request"].attrs["units"] == "Wh" and ds["total_kgco2e_per_day"].attrs["units"] == "kg"


def test_check_serving_claims_on_their_scope(cli_json):
    out = cli_json("check", "bloom_176b_api", "--draws", "20000")
    checks = {c["quantity"]: c for c in out["checks"]}
    assert {"it_operational_kgco2e_per_day", "it_operational_tco2e", "accelerator_energy_mwh", "it_energy_mwh"} <= set(checks)
    day = checks["it_operational_kgco2e_per_day"]
    assert day["units"] == "kg" and day["claim"]["value"] == pytest.approx(19.0) and 0 < day["percentile"] < 100
    assert day["shifts"]  # which inputs would have to move


def test_check_a_per_request_claim_given_on_the_command_line(cli_json):
    out = cli_json("check", "llama31_70b_h100_vllm054", "--claim", "0.34", "--unit", "Wh", "--quantity",
                   "energy_wh_per_request", "--draws", "20000")
    (check,) = out["checks"]
    assert check["quantity"] == "energy_wh_per_request" and check["units"] == "Wh"
    assert check["claim"]["value"] == pytest.approx(0.34) and 0 <= check["percentile"] <= 100


def test_compare_what_if_pair_with_common_random_numbers(cli_json):
    out = cli_json("compare", "llama31_8b_h100_vllm_batch8", "llama31_8b_h100_vllm_batch64", "--quantity",
                   "accelerator_energy_kwh_per_million_output_tokens", "--draws", "20000")
    assert out["common_random_numbers"] and "memory_bandwidth_fraction" in out["shared_inputs"]
    assert out["units"] == "kWh" and out["summary"]["ratio"]["upper"] < 1.0 and out["summary"]["prob_b_less"] > 0.99


def test_sensitivity_on_a_serving_output(cli_json):
    out = cli_json("sensitivity", "bloom_176b_api", "--output", "total_kgco2e_per_day", "--base-draws", "1024",
                   "--resamples", "100")
    ranked = [row["input"] for row in out["indices"]]
    assert out["units"] == "kg" and "serving_host_power_w_per_device" in ranked[:2]


def test_lifecycle_command(cli_json):
    out = cli_json("lifecycle", "bloom_176b", "bloom_176b_api", "--days", "365", "--draws", "4096")
    assert out["days"] == 365 and out["training"] == "BLOOM 176B"
    assert 0 < out["serving_share_fraction"]["median"] < 1 and out["break_even_days"]["median"] > 0


@pytest.mark.parametrize("command", [["run"], ["check"], ["sensitivity"], ["lifecycle"], ["compare", "bloom_176b_api"]])
def test_bad_serving_file_is_one_line_exit_2(tmp_path, capsys, command):
    bad = tmp_path / "bad.toml"
    bad.write_text('[serving]\nname = "x"\nparameters = 8e9\nhardware = "h100_sxm"\ndevices_per_replica = 1\nbatchsize = 8\n'
                   'days = 1\nrequests_per_day = 1000\nregion = "world"\ndatacenter = "hyperscale"\n')
    args = [*command[:1], str(bad), *command[1:]]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.toml" in err[0] and "serving.batchsize" in err[0] and "did you mean 'batch'" in err[0]
    assert list(tmp_path.iterdir()) == [bad]


def test_serving_misuse_is_one_line_exit_2(capsys):
    for args in (["compare", "gpt3_175b", "bloom_176b_api"], ["check", "bloom_176b_api", "--model-card", "c.yaml"],
                 ["check", "bloom_176b_api", "--claim", "1", "--unit", "kg", "--quantity", "accelerator_facility_energy_mwh"],
                 ["run", "bloom_176b_api", "--calibrated", "x.nc"]):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("carbon-mc: error:"), (args, err)
