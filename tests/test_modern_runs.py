"""Modern runs: active parameters of mixture-of-experts, the whole-run device-time overhead, what a
figure counts, publication years, and forward-in-time validation (split, grouped metrics, a small fit)."""

import math

import numpy as np
import pytest

import carbon_mc
from carbon_mc import CarbonMCError
from carbon_mc import calibration as calib
from carbon_mc.sampling import BLOCK

MOE_RUN = """
    [run]
    name = "MoE toy"
    hardware = "h100_sxm"
    parameters = 7e9
    active_parameters = 1e9
    tokens = 1e12
    region = "france"
    datacenter = "hyperscale"
    {extra}
    [reported]
    energy_mwh = 10
    basis = "measured"
    published = 2025
    {reported}
"""
FIXED = dict(context_length_tokens=0.0, vocabulary_size=0.0, mfu_fraction=0.4, device_time_overhead_factor=1.25, accelerator_power_tdp_fraction=0.8,
             server_power_w_per_device=0.0, pue=1.0, grid_gco2_per_kwh=100.0, embodied_kgco2e_per_device=0.0,
             embodied_kgco2e_per_server=0.0, service_life_years=5.0, lifetime_utilization_fraction=1.0)
H100_PEAK, H100_TDP = 989.4e12, 700.0


def _fixed_outputs(scenario, **fixed):
    s = scenario.with_priors(**fixed)
    assert carbon_mc.build_simulator(s).stochastic == []
    ds = carbon_mc.estimate(s, num_draws=BLOCK, seed=0)
    return {k: float(ds[k].values[0]) for k in ("train_flop", "device_hours", "energy_mwh")}


def test_moe_compute_uses_active_parameters_and_its_own_mfu_ratio(write_toml):
    s = carbon_mc.load_scenario(write_toml(MOE_RUN.format(extra="", reported="")))
    assert s.is_moe and s.compute_parameters == 1e9 and s.parameters == 7e9
    assert {"moe_mfu_ratio", "device_time_overhead_factor", "mfu_fraction"} <= set(s.needed_quantities())
    out = _fixed_outputs(s, moe_mfu_ratio=0.5, **FIXED)
    assert out["train_flop"] == pytest.approx(6 * 1e9 * 1e12, rel=1e-6)
    hours = 6e21 / (H100_PEAK * 0.4 * 0.5) / 3600 * 1.25  # C / (peak · MFU · ratio) · overhead
    assert out["device_hours"] == pytest.approx(hours, rel=1e-5)
    assert out["energy_mwh"] == pytest.approx(hours * 0.8 * H100_TDP / 1e6, rel=1e-5)


def test_overhead_only_where_device_time_is_derived(write_toml):
    derived = carbon_mc.load_scenario(write_toml(MOE_RUN.format(extra="", reported="")))
    given = carbon_mc.load_scenario(write_toml(MOE_RUN.format(extra="device_hours = 1000", reported="")))
    assert "device_time_overhead_factor" in derived.needed_quantities()
    assert not {"device_time_overhead_factor", "moe_mfu_ratio", "mfu_fraction"} & set(given.needed_quantities())
    fixed = {k: v for k, v in FIXED.items() if k not in ("mfu_fraction", "device_time_overhead_factor")}
    assert _fixed_outputs(given, **fixed)["device_hours"] == pytest.approx(1000.0)


def test_a_project_figure_is_compared_with_the_run_times_the_project_factor(write_toml):
    run = carbon_mc.load_scenario(write_toml(MOE_RUN.format(extra="device_hours = 1000", reported=""), "run.toml"))
    project = carbon_mc.load_scenario(write_toml(MOE_RUN.format(extra="device_hours = 1000", reported='counts = "project"'), "project.toml"))
    assert run.reported.counts == "final_run" and "project_experiment_factor" not in run.needed_quantities()
    assert "project_experiment_factor" in project.needed_quantities()
    fixed = {k: v for k, v in FIXED.items() if k not in ("mfu_fraction", "device_time_overhead_factor")}
    assert _fixed_outputs(project, project_experiment_factor=3.0, **fixed)["energy_mwh"] == pytest.approx(
        3.0 * _fixed_outputs(run, **fixed)["energy_mwh"], rel=1e-6)
    with pytest.raises(CarbonMCError, match="reported.counts.*not calibration data"):
        calib.Calibrator(calib.measured_runs([project.file]))


@pytest.mark.parametrize("extra, reported, message", [
    ("", "published = 1800", "reported.published.*published"),
    ("", 'counts = "everything"', "reported.counts.*final_run, project"),
])
def test_bad_reported_fields(write_toml, extra, reported, message):
    text = MOE_RUN.format(extra=extra, reported=reported)
    if reported.startswith("published"):
        text = text.replace("published = 2025", "", 1)
    with pytest.raises(CarbonMCError, match=message):
        carbon_mc.load_scenario(write_toml(text))


@pytest.mark.parametrize("body, message", [
    ('parameters = 1e9\nactive_parameters = 2e9\ntokens = 1e12', "active_parameters = 2e.*exceeds parameters"),
    ('active_parameters = 1e9\ndevice_hours = 10', "'active_parameters' needs 'parameters'"),
    ('architecture = "dense"\nparameters = 2e9\nactive_parameters = 1e9\ntokens = 1e12', "dense run has no 'active_parameters'"),
    ('architecture = "moe"\nparameters = 2e9\ntokens = 1e12', "needs 'active_parameters'"),
    ('architecture = "sparse"\ndevice_hours = 10', "unknown architecture 'sparse'; valid: dense, moe"),
    ('parameters = 2e9\nactive_parameters = 1e9\ntarget_loss = 2.5', "does not go with a loss law"),
])
def test_bad_moe_runs(write_toml, body, message):
    path = write_toml(f"""
        [run]
        name = "x"
        hardware = "h100_sxm"
        {body}
        region = "france"
        datacenter = "hyperscale"
    """)
    with pytest.raises(CarbonMCError, match=message):
        carbon_mc.load_scenario(path)


def test_bundled_measured_runs_say_when_they_were_published_and_what_they_are():
    runs = calib.measured_runs()
    assert all(isinstance(s.reported.published, int) for s in runs)
    moe = {s.name for s in runs if s.is_moe}
    assert moe == {"GShard-600B (MoE)", "Switch Transformer 1.5T (MoE)", "GLaM 64B/64E to 280B tokens (MoE)", "OLMoE 1B-7B 0924 (MoE)",
                   "OLMoE development runs (Morrison 2025)"}
    table = carbon_mc.load_priors()
    assert calib.run_groups(carbon_mc.load_scenario("palm_540b"), table) == {"era": "2020+ hardware", "architecture": "dense"}
    assert calib.run_groups(carbon_mc.load_scenario("gshard_600b"), table) == {"era": "pre-2020 hardware", "architecture": "moe"}


def test_split_by_year():
    runs = calib.measured_runs()
    before, after = calib.split_by_year(runs, 2024)
    years = {s.name: s.reported.published for s in runs}
    assert before and after and set(before) | set(after) == set(years)
    assert all(years[n] < 2024 for n in before) and all(years[n] >= 2024 for n in after)
    with pytest.raises(CarbonMCError, match="cut-off 2030 leaves no run on one side"):
        calib.split_by_year(runs, 2030)


def test_split_needs_publication_years(write_toml):
    path = write_toml(MOE_RUN.format(extra="", reported="").replace("published = 2025", ""))
    with pytest.raises(CarbonMCError, match="reported.published.*add published = <year>"):
        calib.split_by_year(calib.measured_runs([path]), 2024)


def _row(pct, era="2020+ hardware", architecture="dense"):
    pred = {"percentile": pct, "abs_log10_error": abs(pct - 50) / 500, "p95_over_p5": 2.0}
    return {"era": era, "architecture": architecture, "priors": pred}


def test_grouped_metrics_count_misses_by_side():
    rows = [_row(99.0), _row(97.0), _row(2.0, architecture="moe"), _row(50.0, era="pre-2020 hardware"), _row(60.0)]
    g = calib.grouped_metrics(rows, "priors", calib.MODERN_TARGETS)
    assert g["all"]["misses"] == {"under": 2, "over": 1}
    assert g["all"]["coverage90"] == pytest.approx(0.4)
    assert g["all"]["targets_met"]["no_systematic_sign"] is True  # 2 of 3 is not more than two thirds
    assert g["architecture"]["dense"]["misses"] == {"under": 2, "over": 0}
    assert g["architecture"]["dense"]["targets_met"]["no_systematic_sign"] is False
    assert g["era"]["pre-2020 hardware"]["num_runs"] == 1 and g["era"]["pre-2020 hardware"]["coverage90"] == 1.0


@pytest.mark.parametrize("under, over", [(0, 0), (1, 0), (0, 1), (2, 0), (1, 3), (0, 4), (3, 3), (7, 1), (0, 12)])
def test_sign_test_p_matches_scipy_binomtest(under, over):
    from scipy.stats import binomtest

    expected = 1.0 if under + over == 0 else binomtest(under, under + over, 0.5, alternative="two-sided").pvalue
    assert calib.sign_test_p(under, over) == pytest.approx(expected, rel=1e-12)


def test_sign_test_p_by_hand_and_in_metrics():
    assert calib.sign_test_p(1, 0) == 1.0  # one miss is always on one side
    assert calib.sign_test_p(1, 3) == pytest.approx(2 * (1 + 4) / 16)  # P(split at least 1/3) both ways
    assert calib.sign_test_p(0, 4) == pytest.approx(2 / 16)
    rows = [_row(99.0), _row(97.0), _row(98.0), _row(2.0), _row(50.0)]
    g = calib.grouped_metrics(rows, "priors", calib.MODERN_TARGETS)
    assert g["all"]["misses_sign_test_p"] == pytest.approx(calib.sign_test_p(3, 1)) == pytest.approx(0.625)


def test_forward_in_time_calibrates_only_on_earlier_runs():
    cal = calib.Calibrator(num_chains=1, num_warmup=100, num_samples=100)
    result = calib.forward_in_time([2025], calibrator=cal, num_chains=1, num_draws=2000)
    (cut,) = result["cutoffs"]
    years = {s.name: s.reported.published for s in cal.runs}
    assert cut["predicted"] == [n for n in cal.design.names if years[n] >= 2025]
    assert [r["name"] for r in cut["runs"]] == cut["predicted"]
    assert all(r["published"] >= 2025 for r in cut["runs"])
    for method in ("priors", "calibrated"):
        s = cut["summary"][method]["all"]
        assert s["coverage90"] == pytest.approx(np.mean([5 <= r[method]["percentile"] <= 95 for r in cut["runs"]]))
        assert s["median_abs_log10_error"] == pytest.approx(np.median([r[method]["abs_log10_error"] for r in cut["runs"]]))
        assert s["misses"]["under"] == sum(r[method]["percentile"] > 95 for r in cut["runs"])
        for r in cut["runs"]:
            assert r[method]["abs_log10_error"] == pytest.approx(abs(math.log10(r[method]["median"] / r["reported"])))
    assert result["targets"]["median_abs_log10_error_max"] == 0.10
