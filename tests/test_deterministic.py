"""Deterministic mode: fixing every uncertain input to the published assumptions reproduces the
published arithmetic within 1%."""

import numpy as np
import pytest

import carbon_mc
from carbon_mc.sampling import BLOCK

LB_PER_KG = 1 / 0.45359237


def run_fixed(name, **fixed):
    scenario = carbon_mc.load_scenario(name).with_priors(**fixed)
    model = carbon_mc.build_simulator(scenario)
    assert model.stochastic == [], f"inputs left uncertain: {model.stochastic}"
    ds = carbon_mc.estimate(scenario, num_draws=BLOCK, seed=0)
    # every draw is the same number when nothing is uncertain
    for var in ("energy_mwh", "operational_tco2e", "embodied_tco2e"):
        assert np.ptp(ds[var].values) == 0
    return {k: float(ds[k].values[0]) for k in ("energy_mwh", "operational_tco2e", "embodied_tco2e", "total_tco2e", "accelerator_operational_tco2e")}


NO_EMBODIED = dict(context_length_tokens=0.0, vocabulary_size=0.0, embodied_kgco2e_per_device=0.0, embodied_kgco2e_per_server=0.0,
                   service_life_years=5.0, lifetime_utilization_fraction=1.0)


def test_strubell_nas_626155_lbs():
    # Strubell et al. 2019, Table 3: 274,120 h of an 8xP100 machine at 1,515.43 W (whole setup),
    # PUE 1.58, 0.954 lbs/kWh -> 656,347 kWh and 626,155 lbs CO2e.
    out = run_fixed(
        "strubell_nas",
        accelerator_power_tdp_fraction=1515.43 / 8 / 300.0,  # P100 SXM2 TDP 300 W
        server_power_w_per_device=0.0,
        pue=1.58,
        grid_gco2_per_kwh=0.954 / LB_PER_KG * 1000,  # 0.954 lb/kWh in g/kWh
        **NO_EMBODIED,
    )
    assert out["energy_mwh"] * 1000 == pytest.approx(656_347, rel=0.01)
    assert out["operational_tco2e"] * 1000 * LB_PER_KG == pytest.approx(626_155, rel=0.01)


def test_patterson_gpt3_1287_mwh_552_t():
    # Patterson et al. 2021, Table 4: 10,000 V100 x 14.8 days x 330 W x PUE 1.1; x 0.429 kg/kWh.
    out = run_fixed(
        "gpt3_175b",
        accelerator_power_tdp_fraction=330.0 / 300.0,
        server_power_w_per_device=0.0,
        pue=1.1,
        grid_gco2_per_kwh=429.0,
        **NO_EMBODIED,
    )
    assert out["energy_mwh"] == pytest.approx(1287, rel=0.01)
    assert out["operational_tco2e"] == pytest.approx(552.1, rel=0.01)


# Luccioni et al. 2022's assumptions for BLOOM: GPUs at TDP, no host power, no PUE, 57 g/kWh.
BLOOM_PUBLISHED = dict(
    accelerator_power_tdp_fraction=1.0,
    server_power_w_per_device=0.0,
    pue=1.0,
    grid_gco2_per_kwh=57.0,
    embodied_kgco2e_per_device=150.0,
    embodied_kgco2e_per_server=2500.0,
    service_life_years=6.0,
    lifetime_utilization_fraction=0.85,
    context_length_tokens=0.0,  # 6·N·D alone, as the published arithmetic
    vocabulary_size=0.0,
)


def test_bloom_dynamic_433_mwh_24_7_t_and_embodied_11_2_t():
    # Luccioni et al. 2022: 1,082,990 GPU-h x 400 W = 433,196 kWh (no PUE) x 57 g/kWh = 24.7 t;
    # embodied 150 kg per GPU + 2,500 kg per 8-GPU server over 6 years at 85% use = 11.2 t.
    out = run_fixed("bloom_176b", **BLOOM_PUBLISHED)
    assert out["energy_mwh"] == pytest.approx(433.196, rel=0.01)
    assert out["operational_tco2e"] == pytest.approx(24.7, rel=0.01)
    assert out["embodied_tco2e"] == pytest.approx(11.2, rel=0.01)


def test_bloom_dynamic_24_7_t_is_the_accelerators_own_whatever_host_and_pue():
    # the dynamic figure's scope is GPU energy alone: host power and PUE do not enter it
    out = run_fixed("bloom_176b", **{**BLOOM_PUBLISHED, "server_power_w_per_device": 300.0, "pue": 1.2})
    assert out["accelerator_operational_tco2e"] == pytest.approx(24.7, rel=0.01)
    assert out["operational_tco2e"] == pytest.approx(24.7 * (400 + 300) / 400 * 1.2, rel=0.01)


def test_llama_65b_449_mwh_173_t():
    # Touvron et al. 2023, Table 15: 1,022,362 GPU-h x 400 W x PUE 1.1; x 0.385 kg/kWh.
    out = run_fixed(
        "llama_65b",
        accelerator_power_tdp_fraction=1.0,
        server_power_w_per_device=0.0,
        pue=1.1,
        grid_gco2_per_kwh=385.0,
        **NO_EMBODIED,
    )
    assert out["energy_mwh"] == pytest.approx(449, rel=0.01)
    assert out["operational_tco2e"] == pytest.approx(173, rel=0.01)
