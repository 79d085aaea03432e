"""Serving scenarios on the one sampling road: draw, estimate, streaming, QMC, chunking, provenance, life cycle."""

from pathlib import Path

import numpy as np
import pytest

import carbon_mc
from carbon_mc import CarbonMCError
from carbon_mc.footprint.lifecycle import LIFECYCLE_OUTPUTS
from carbon_mc.footprint.serving import SERVING_HEADLINE, SERVING_OUTPUTS, ServingConstants, serving_footprint
from carbon_mc.sampling import build_simulator, draw, estimate, estimate_summary
from carbon_mc.scenarios import bundled_names, load_any_scenario
from carbon_mc.scenarios.deployment import ServingScenario

SERVING = Path(__file__).resolve().parents[1] / "models" / "serving"
BLOOM_API = SERVING / "bloom_176b_api.toml"


def test_a_serving_file_or_bundled_name_becomes_a_serving_simulator(table):
    for source in (BLOOM_API, str(BLOOM_API), "bloom_176b_api", load_any_scenario("bloom_176b_api", priors=table)):
        sim = build_simulator(source, priors=table)
        assert isinstance(sim.scenario, ServingScenario) and isinstance(sim.run, ServingConstants)
        assert sim.chain is serving_footprint and sim.headline == SERVING_HEADLINE and sim.is_serving
    training = build_simulator("gpt3_175b", priors=table)
    assert not training.is_serving and "bloom_176b_api" in bundled_names() and "gpt3_175b" in bundled_names()
    with pytest.raises(CarbonMCError, match="did you mean 'bloom_176b_api'"):
        load_any_scenario("bloom_176b_apu", priors=table)


@pytest.mark.parametrize("method", ["mc", "qmc"])
def test_same_seed_same_draws_whatever_the_chunk(table, method):
    sim = build_simulator("llama31_8b_h100_vllm_batch8", priors=table)
    keep = ["energy_wh_per_request", "total_kgco2e_per_day"]
    _, a = draw(sim, num_draws=5000, seed=4, method=method, variables=keep)
    _, b = draw(sim, num_draws=5000, seed=4, method=method, variables=keep, chunk_size=1024)
    _, c = draw(sim, num_draws=5000, seed=5, method=method, variables=keep)
    for k in keep:
        np.testing.assert_array_equal(a[k], b[k])
        assert not np.array_equal(a[k], c[k])


def test_estimate_dataset_has_serving_units_and_provenance(table):
    ds = estimate(BLOOM_API, num_draws=4096, seed=1, priors=table)
    for name in ("energy_wh_per_request", "total_gco2e_per_request", "total_kgco2e_per_day", "it_energy_mwh"):
        assert ds[name].attrs["units"] == SERVING_OUTPUTS[name].units
        assert ds[name].attrs["long_name"] == SERVING_OUTPUTS[name].long_name
    assert ds["output_tokens_per_request"].attrs["role"] == "input" and ds["output_tokens_per_request"].attrs["source"]
    assert ds.attrs["model_chain"] == "serving_footprint" and ds.attrs["scenario_file"] == "bloom_176b_api.toml"
    assert '"it_energy_mwh": 0.914' in ds.attrs["reported"]


def test_streamed_summary_agrees_with_kept_draws(table):
    kept = carbon_mc.summarize(estimate(BLOOM_API, num_draws=1 << 16, seed=2, priors=table), ["energy_wh_per_request"])
    streamed = estimate_summary(BLOOM_API, num_draws=1 << 16, seed=2, priors=table, variables=["energy_wh_per_request"])
    for stat in ("median", "p5", "p95"):
        a = float(kept["energy_wh_per_request"].sel(stat=stat))
        b = float(streamed["energy_wh_per_request"].sel(stat=stat))
        assert b == pytest.approx(a, rel=0.01), stat  # histogram bins are ~0.4% wide
    assert streamed["energy_wh_per_request"].attrs["units"] == "Wh"


def test_lifecycle_is_the_two_footprints_combined_with_common_random_numbers(table):
    ds = carbon_mc.lifecycle(None, "bloom_176b_api", days=365, num_draws=4096, seed=3, priors=table)
    assert set(LIFECYCLE_OUTPUTS) <= set(ds.data_vars) and ds.attrs["training_scenario"] == "BLOOM 176B"
    # the training phase is exactly the training run drawn alone with the same seed (run's randomized QMC)
    _, alone = draw(build_simulator("bloom_176b", priors=table), num_draws=4096, seed=3, variables=["total_tco2e"])
    np.testing.assert_array_equal(ds["training_tco2e"].values, alone["total_tco2e"].astype(np.float64))
    shared = ds.attrs["shared_inputs"].split(", ")
    assert "service_life_years" in shared and "grid_gco2_per_kwh" not in shared  # France vs a fixed 394 g/kWh
    # the serving phase: the deployment's own distribution (its median where run's draws put it, within the MC error)
    _, serving = draw(build_simulator("bloom_176b_api", priors=table), num_draws=4096, seed=3, variables=["total_kgco2e_per_day"])
    below = np.mean(serving["total_kgco2e_per_day"] * 365 / 1e3 < np.median(ds["serving_tco2e"].values))
    assert abs(below - 0.5) < 4 * np.sqrt(2 * 0.25 / 4096)
    share = ds["training_share_fraction"].values + ds["serving_share_fraction"].values
    np.testing.assert_allclose(share, 1.0, rtol=1e-6)
    np.testing.assert_allclose(ds["break_even_days"].values * ds["serving_tco2e"].values / 365, ds["training_tco2e"].values,
                               rtol=1e-5)
    assert ds["break_even_days"].attrs["units"] == "d"


def test_lifecycle_errors(table):
    with pytest.raises(CarbonMCError, match="serving.model"):
        carbon_mc.lifecycle(None, "llama31_405b_fp8_h100_vllm_batch64", priors=table)
    with pytest.raises(CarbonMCError, match="must be a deployment"):
        carbon_mc.lifecycle("bloom_176b", "gpt3_175b", priors=table)
    with pytest.raises(CarbonMCError, match="days must be"):
        carbon_mc.lifecycle(None, "bloom_176b_api", days=-1, priors=table)
