"""Calibration on measured runs: a converged fit, a posterior file that round-trips, calibrated runs
that keep posterior correlations and narrow, and a leave-one-out report with the promised fields.

One NUTS fit (the `carbon-mc calibrate` defaults, fixed seed) is shared by the whole file; the
leave-one-out test reuses its compiled chain program.
"""

import json
import math

import numpy as np
import pytest
import xarray as xr

import carbon_mc
from carbon_mc import CarbonMCError
from carbon_mc import calibration as calib
from carbon_mc.cli import main
from carbon_mc.sampling import build_simulator, draw

# Runs the bundled calibration must contain (measured energy), and estimates it must not use as data.
MEASURED = {
    "GPT-3 175B", "T5-11B", "Meena 2.6B", "GShard-600B (MoE)", "Switch Transformer 1.5T (MoE)",
    "Evolved Transformer NAS (actual, Patterson 2021)", "Transformer (Big) on P100, Google Iowa (Patterson Table 1)",
    "OLMo 7B (LUMI)", "OLMo 1B (3T tokens)", "ViT Huge on ImageNet (Dodge 2022)",
}
NOT_DATA = {"BLOOM 176B", "XLM 0.55B", "Transformer big (Strubell 2019 estimate)", "LLaMA-65B"}


@pytest.fixture(scope="session")
def calibration_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("calibration") / "calibration.nc"
    assert main(["calibrate", "--out", str(path), "--seed", "0", "--json"]) == 0
    return path


@pytest.fixture(scope="session")
def calibration(calibration_file):
    return calib.load_calibration(calibration_file)


def test_bundled_measured_runs_are_data_and_estimates_are_not():
    names = {s.name for s in calib.measured_runs()}
    assert MEASURED <= names
    assert not names & NOT_DATA
    assert all(s.reported.basis == "measured" and s.reported.energy_mwh for s in calib.measured_runs())


def test_every_latent_converged(calibration):
    diag = calib.diagnostics(calibration)
    latents = json.loads(diag.attrs["latents"])
    # class values, run-to-run spreads, each run's own value, the MFU and power size slopes, context lengths and vocabularies, reporting error
    for name in ("accelerator_power_tdp_fraction_class", "server_power_w_per_device_class", "pue_class", "mfu_fraction_class",
                 "between_run_sd_power_fraction_logit", "between_run_sd_mfu_logit", "accelerator_power_tdp_fraction_run_latent",
                 "accelerator_power_tdp_fraction_run_eta", "mfu_fraction_run_latent", "mfu_fraction_run_eta",
                 "mfu_scale_slope_logit_per_decade", "power_scale_slope_logit_per_decade", "context_length_tokens", "vocabulary_size", "reporting_error_sd_ln",
                 "device_time_overhead_factor", "moe_mfu_ratio", "mfu_fraction_hours_run_latent", "mfu_fraction_hours_run_eta"):
        assert name in latents
    for name in latents:
        assert float(diag[f"{name}_r_hat"].max()) <= 1.01, name
        assert float(diag[f"{name}_ess_bulk"].min()) >= 400, name
    g = calib.groups(calibration)
    assert g["posterior"].sizes["chain"] == 4
    reported = {s.name: s.reported.energy_mwh for s in calib.measured_runs()}
    observed = g["observed_data"]["reported_energy_mwh"]
    assert {str(r): float(observed.sel(run=r)) for r in observed.run.values} == pytest.approx(reported)


def test_posterior_file_round_trips(calibration_file, calibration, tmp_path):
    again = tmp_path / "again.nc"
    calib.save_calibration(calibration, again)
    back = calib.load_calibration(again)
    first, second = calib.groups(calibration), calib.groups(back)
    assert set(first) == {"posterior", "posterior_predictive", "observed_data", "constant_data", "sample_stats"} == set(second)
    for name in first:
        xr.testing.assert_identical(first[name], second[name])
    az = calib.import_arviz()
    assert {"posterior", "posterior_predictive"} <= set(az.from_netcdf(calibration_file).groups())


def test_not_a_calibration_file(tmp_path):
    path = tmp_path / "draws.nc"
    carbon_mc.save_dataset(carbon_mc.estimate("t5_11b", num_draws=100, seed=0), path)
    with pytest.raises(CarbonMCError, match="not a carbon-mc calibration"):
        calib.load_calibration(path)


def _run_json(capsys, *args):
    assert main(["run", "t5_11b", "--draws", "20000", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_run_calibrated_narrows_a_measured_run_and_is_reproducible(calibration_file, capsys):
    priors_only = _run_json(capsys)
    calibrated = _run_json(capsys, "--calibrated", str(calibration_file))
    again = _run_json(capsys, "--calibrated", str(calibration_file))
    other_seed = _run_json(capsys, "--calibrated", str(calibration_file), "--seed", "1")
    assert again == calibrated
    assert other_seed["energy_mwh"] != calibrated["energy_mwh"]
    width = {name: out["energy_mwh"]["p95"] / out["energy_mwh"]["p5"] for name, out in (("priors", priors_only), ("cal", calibrated))}
    assert width["cal"] < 0.9 * width["priors"]  # T5 is one of 7 TPU v2/v3 runs with measured energy
    assert set(calibrated["calibrated"]["inputs"]) == {"accelerator_power_tdp_fraction", "server_power_w_per_device", "pue"}
    assert all(v.startswith("calibrated (") for v in calibrated["calibrated"]["inputs"].values())
    assert 0 <= calibrated["reported"]["energy_mwh"]["percentile"] <= 100


@pytest.mark.parametrize("method", ["mc", "qmc"])
def test_calibrated_inputs_come_from_one_posterior_draw(calibration, method):
    scenario = carbon_mc.load_scenario("gpt3_175b")
    posterior, _ = calib.calibrated_priors(calibration, scenario)
    model = build_simulator(scenario, posterior=posterior)
    inputs, _ = draw(model, num_draws=5000, seed=3, method=method)
    names = sorted(posterior)
    rows = {tuple(np.float32(posterior[n].distribution.values[i]) for n in names) for i in range(posterior[names[0]].distribution.num_draws)}
    drawn = list(zip(*(inputs[n] for n in names)))
    assert all(tuple(np.float32(v) for v in row) in rows for row in drawn)  # a joint draw, not independent marginals
    assert len(set(drawn)) > 1000


def test_classes_without_measured_runs_keep_their_priors(calibration, write_toml):
    # TPU v5e: its server class (tpu_host) had TPU v2/v3 runs, its power class (google_tpu_v4_plus)
    # PaLM and GLaM with published chip-hours; the "hyperscale" data centre had no measured run.
    path = write_toml("""
        [run]
        name = "TPU v5e toy"
        hardware = "tpu_v5e"
        devices = 64
        days = 2
        region = "france"
        datacenter = "hyperscale"
    """)
    scenario = carbon_mc.load_scenario(path)
    posterior, status = calib.calibrated_priors(calibration, scenario)
    assert set(posterior) == {"server_power_w_per_device", "accelerator_power_tdp_fraction"}
    assert status["pue"].startswith("prior (no measured run")
    # GH200 (power class nvidia_modern, server class grace_hopper_node): no measured run of either.
    path = write_toml("""
        [run]
        name = "GH200 toy"
        hardware = "gh200"
        devices = 64
        days = 2
        region = "france"
        datacenter = "hyperscale"
    """)
    posterior, status = calib.calibrated_priors(calibration, carbon_mc.load_scenario(path))
    assert set(posterior) == set()
    assert status["accelerator_power_tdp_fraction"].startswith("prior (no measured run")
    assert status["server_power_w_per_device"].startswith("prior (no measured run")
    # H100: the OLMo development aggregates (Morrison et al. 2025, Table 1) publish GPU-hours beside
    # measured energy, so a Hopper run with published GPU-hours draws the calibrated power class with
    # its run-to-run spread.
    posterior, status = calib.calibrated_priors(calibration, carbon_mc.load_scenario("llama3_8b"))
    assert "accelerator_power_tdp_fraction" in posterior
    assert status["accelerator_power_tdp_fraction"].startswith("calibrated (nvidia_hopper_training")


def test_power_of_a_small_model_is_shifted_by_the_calibrated_size_term(calibration, write_toml):
    """Below power_reference_parameters a run's power is its class's new-run draws shifted by
    slope x log10(N / N_ref) on the class prior's unconstrained scale; without a parameter count, none."""
    from carbon_mc.calibration.model import support_link

    def run(parameters):
        size = f"parameters = {parameters}" if parameters else ""
        path = write_toml(f"""
            [run]
            name = "V100 toy"
            hardware = "v100"
            {size}
            devices = 4
            days = 2
            region = "france"
            datacenter = "hyperscale"
        """)
        return calib.calibrated_priors(calibration, carbon_mc.load_scenario(path))

    big, big_status = run(2e9)
    small, small_status = run(1e7)
    unsized, _ = run(None)
    assert "size term" in small_status["accelerator_power_tdp_fraction"] and "size term" not in big_status["accelerator_power_tdp_fraction"]
    base = big["accelerator_power_tdp_fraction"].distribution.values
    np.testing.assert_array_equal(base, unsized["accelerator_power_tdp_fraction"].distribution.values)
    g = calib.groups(calibration)
    slope = g["posterior"]["power_scale_slope_logit_per_decade"].values.ravel()
    assert np.all(slope >= 0) and np.median(slope) > 0
    table = carbon_mc.load_priors()
    link = support_link(table.quantity("accelerator_power_tdp_fraction").variants["nvidia_volta"])
    expected = np.asarray(link(link.inv(base.astype(np.float64)) + slope * -1.0), np.float32)  # 1e7 is one decade below power_reference_parameters (1e8)
    np.testing.assert_allclose(small["accelerator_power_tdp_fraction"].distribution.values, expected, rtol=2e-6)
    assert np.median(small["accelerator_power_tdp_fraction"].distribution.values) < np.median(base)


def test_derived_device_time_varies_in_mfu_only(calibration):
    posterior, status = calib.calibrated_priors(calibration, carbon_mc.load_scenario("olmo_1b"))
    assert "class value" in status["accelerator_power_tdp_fraction"]
    assert status["mfu_fraction"].startswith("calibrated (ampere_hopper")
    g = calib.groups(calibration)
    class_value = g["posterior"]["accelerator_power_tdp_fraction_class"].sel(power_class="nvidia_hopper_training").values.ravel()
    np.testing.assert_allclose(posterior["accelerator_power_tdp_fraction"].distribution.values, class_value.astype(np.float32))


def test_device_time_factors_are_calibrated_where_device_time_is_derived(calibration):
    # OLMoE: derived device time, mixture-of-experts: MFU, the overhead and the MoE ratio come from the fit.
    posterior, status = calib.calibrated_priors(calibration, carbon_mc.load_scenario("olmoe_0924"))
    assert {"mfu_fraction", "device_time_overhead_factor", "moe_mfu_ratio"} <= set(posterior)
    assert status["moe_mfu_ratio"] == "calibrated (one value, 4 runs)"  # GLaM, GShard, Switch (published hours), OLMoE
    g = calib.groups(calibration)
    np.testing.assert_array_equal(posterior["moe_mfu_ratio"].distribution.values, g["posterior"]["moe_mfu_ratio"].values.ravel().astype(np.float32))
    # a run with published device-hours needs neither
    posterior, status = calib.calibrated_priors(calibration, carbon_mc.load_scenario("palm_540b"))
    assert not {"device_time_overhead_factor", "moe_mfu_ratio", "mfu_fraction"} & set(status)
    shared = {r["quantity"]: r for r in calib.calibration_report(calibration)["shared"]}
    # runs with an MFU of their own: device time derived, or published beside the run's compute
    informing = [s for s in calib.measured_runs() if s.derives_device_time or s.train_flops is not None or s.derives_flop]
    assert shared["device_time_overhead_factor"]["measured_runs"] == len(informing)
    assert shared["moe_mfu_ratio"]["measured_runs"] == sum(s.is_moe for s in informing) == 4


def test_runs_with_published_hours_and_compute_inform_mfu_overhead_and_moe_ratio(calibration):
    """Published device time beside published compute measures MFU / overhead: such runs vary in MFU
    (their own latent) as well as in power, and inform the MFU classes, the overhead, the size slope
    and the MoE ratio."""
    runs = calib.measured_runs()
    table = carbon_mc.load_priors()
    design = calib.build_design(runs, table)
    hours = {s.name for s in runs if s.device_hours is not None and (s.train_flops is not None or s.derives_flop)}
    assert {design.names[i] for i in np.flatnonzero(design.hours_run >= 0)} == hours
    assert len(hours) == 12  # Evolved NAS, GLaM, GPT-3, GShard, Meena, PaLM, Patterson's four Iowa runs, Switch, T5
    everything = np.ones(design.num_runs, bool)
    moe = {design.names[i] for i in np.flatnonzero(design.mfu_drawn & design.moe_run)}
    assert moe == {"GLaM 64B/64E to 280B tokens (MoE)", "GShard-600B (MoE)", "Switch Transformer 1.5T (MoE)", "OLMoE 1B-7B 0924 (MoE)"}
    counts = design.shared_counts(everything)
    derived = sum(s.derives_device_time for s in runs)
    assert counts == {"device_time_overhead_factor": derived + len(hours), "moe_mfu_ratio": 4,
                      "mfu_scale_slope_logit_per_decade": int(np.sum(design.mfu_drawn & (design.scale_decades < 0)))}
    # the MFU classes of the hours runs' hardware are sampled although no derived run uses them
    assert {"tpu_v2_v3", "tpu_v4_plus", "volta", "pascal"} <= set(design.classes["mfu_fraction"])
    g = calib.groups(calibration)
    assert set(g["posterior"]["mfu_fraction_hours_run"].coords["run_hours"].values) == hours
    shared = {r["quantity"]: r for r in calib.calibration_report(calibration)["shared"]}
    assert shared["moe_mfu_ratio"]["measured_runs"] == 4
    assert shared["mfu_scale_slope_logit_per_decade"]["measured_runs"] == counts["mfu_scale_slope_logit_per_decade"]
    # the fit reproduces the published hours: posterior-predictive 90% intervals hold most of them
    replicated = g["posterior_predictive"]["published_device_hours"]
    lo, hi = replicated.quantile(0.05, dim=("chain", "draw")), replicated.quantile(0.95, dim=("chain", "draw"))
    published = g["observed_data"]["published_device_hours"]
    assert int(((published >= lo) & (published <= hi)).sum()) >= 10


def _hours_run_toml(name: str, flop: float, device_hours: float, energy_mwh: float) -> str:
    return f"""
        [run]
        name = "{name}"
        hardware = "tpu_v4"
        train_flops = {flop!r}
        device_hours = {device_hours!r}
        region = "france"
        datacenter = "google"
        [reported]
        energy_mwh = {energy_mwh!r}
        energy_scope = "accelerator"
        basis = "measured"
    """


def test_published_hours_recover_the_mfu_they_imply(write_toml, tmp_path):
    """Synthetic runs whose published hours imply MFU m* (given the overhead, nearly fixed here) and whose
    energies are consistent: the posterior MFU of a run recovers m*."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "overhead.toml").write_text(
        '[device_time_overhead_factor.variants.default]\ndistribution = "lognormal"\nparams = { p5 = 1.199, p95 = 1.201 }\n'
        'description = "test: overhead fixed near 1.2"\nsource = "test"\n')
    table = carbon_mc.load_priors(overlays=[overlay], use_env=False)
    spec = table.hardware_spec("tpu_v4")
    m_star, omega = 0.36, 1.2
    fraction = table.quantity("accelerator_power_tdp_fraction").variants[spec["power_class"]].params["loc"]
    paths = []
    for name, flop in (("synthetic A", 1e22), ("synthetic B", 3e21)):
        hours = flop * omega / (spec["peak_flop_per_s"] * m_star * 3600.0)
        energy = hours * spec["tdp_w"] * fraction / 1e6
        paths.append(write_toml(_hours_run_toml(name, flop, hours, energy), name=f"{name[-1]}.toml"))
    runs = calib.measured_runs(paths, priors=table)
    cal = calib.Calibrator(runs, priors=table, num_chains=2, num_warmup=500, num_samples=1000)
    assert list(cal.design.hours_run) == [0, 1] and list(cal.design.mfu_run) == [-1, -1]
    g = calib.groups(cal.fit(seed=0))
    mfu = g["posterior"]["mfu_fraction_hours_run"].sel(run_hours="synthetic A").values.ravel()
    sd = float(mfu.std())
    prior = table.quantity("mfu_fraction").variants["tpu_v4_plus"]
    assert abs(float(np.median(mfu)) - m_star) <= 2.0 * sd
    assert abs(prior.params["loc"] - m_star) > 4.0 * sd  # away from the class prior's centre: the hours moved it
    # held out, run A's MFU is its class's (learnt from B) plus a between-run deviation: its own hours no longer inform it
    held = calib.groups(cal.fit(seed=0, held_out=["synthetic A"]))
    assert float(held["posterior"]["mfu_fraction_hours_run"].sel(run_hours="synthetic A").values.std()) > 2.0 * sd
    assert int(held["constant_data"]["device_time_overhead_factor_runs"]) == 1


def test_held_out_runs_contribute_no_hours_likelihood():
    """The log density does not depend on a held-out run's published hours (energy and hours both dropped);
    it does where the run is observed."""
    from dataclasses import replace

    import jax
    import numpyro
    from numpyro.infer.util import log_density

    table = carbon_mc.load_priors()
    design = calib.build_design(calib.measured_runs(), table)
    name = "GLaM 64B/64E to 280B tokens (MoE)"
    i = design.names.index(name)
    assert design.hours_run[i] >= 0
    moved = replace(design, device_hours=np.where(np.arange(design.num_runs) == i, 2.0 * design.device_hours, design.device_hours))
    held_out = np.arange(design.num_runs) != i
    observed = np.ones(design.num_runs, bool)

    def latents(mask):
        tr = numpyro.handlers.trace(numpyro.handlers.seed(calib.calibration_model(design, table), jax.random.key(1))).get_trace(mask)
        return {k: v["value"] for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}

    def density(d, mask, params):
        return float(log_density(calib.calibration_model(d, table), (mask,), {}, params)[0])

    params = latents(held_out)
    assert density(design, held_out, params) == density(moved, held_out, params)
    params = latents(observed)
    assert density(design, observed, params) != density(moved, observed, params)


def test_calibration_fitted_with_other_priors_is_refused(calibration):
    g = calib.groups(calibration)
    g["posterior"].attrs["priors_sha256"] = json.dumps({"power.toml": "0" * 64})
    stale = calib.from_groups(g)
    with pytest.raises(CarbonMCError, match="other priors"):
        calib.calibrated_priors(stale, carbon_mc.load_scenario("t5_11b"))


def test_run_calibrated_refuses_a_posterior_that_did_not_converge(calibration, tmp_path, capsys):
    g = {name: ds.copy(deep=True) for name, ds in calib.groups(calibration).items()}
    g["posterior"]["reporting_error_sd_ln"][0] += 1.0  # one chain far from the others: r_hat >> 1.01
    path = tmp_path / "unconverged.nc"
    calib.save_calibration(calib.from_groups(g), path)
    assert main(["run", "t5_11b", "--draws", "1000", "--calibrated", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "did not converge" in err and "r_hat" in err and "\n" not in err


def test_validate_json_has_the_promised_fields(calibration_file, tmp_path, capsys):
    plot = tmp_path / "calibration.png"
    args = ["validate", "--runs", "Meena 2.6B", "OLMo 300M (internal)", "--chains", "1", "--draws", "4096", "--no-claims",
            "--json", "--plot", str(plot)]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert plot.stat().st_size > 10_000
    assert [r["name"] for r in result["runs"]] == ["Meena 2.6B", "OLMo 300M (internal)"]
    for row in result["runs"]:
        assert set(row) >= {"name", "file", "energy_scope", "variable", "reported", "priors", "calibrated", "calibrated_inputs"}
        for method in ("priors", "calibrated"):
            p = row[method]
            assert set(p) == {"median", "p5", "p95", "percentile", "abs_log10_error", "p95_over_p5"}
            assert p["p5"] <= p["median"] <= p["p95"] and 0 <= p["percentile"] <= 100
            assert p["abs_log10_error"] == pytest.approx(abs(math.log10(p["median"] / row["reported"])))
    assert result["runs"][1]["energy_scope"] == "accelerator_facility"
    for method in ("priors", "calibrated"):
        s = result["summary"][method]
        assert set(s) >= {"coverage90", "median_abs_log10_error", "median_p95_over_p5", "targets_met", "calibration_curve"}
        inside = [5 <= r[method]["percentile"] <= 95 for r in result["runs"]]
        assert s["coverage90"] == pytest.approx(np.mean(inside))
        nominal = [c["nominal"] for c in s["calibration_curve"]]
        observed = [c["observed"] for c in s["calibration_curve"]]
        assert nominal == sorted(nominal) and observed == sorted(observed)
    assert result["targets"] == {"coverage90_min": 0.8, "coverage90_max": 0.98, "median_abs_log10_error_max": 0.15}


def test_validate_tables_fit_an_80_column_terminal(calibration_file, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    args = ["validate", "--runs", "Meena 2.6B", "--chains", "1", "--draws", "4096", "--no-claims", "--cutoffs"]
    assert main(args) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("method"))
    assert header.split() == ["method", "group", "runs", "cover", "|log10|", "p95/p5", "misses", "sign", "p"]
    rows = [line for line in out.splitlines() if line.startswith(("priors ", "calibrated "))]
    assert rows and all("…" not in line and len(line) <= 80 for line in rows)
    assert any(line.split()[1:3] == ["pre-2020", "hardware"] for line in rows)  # group names whole, on one line


def test_calibration_curve_counts_central_intervals():
    from carbon_mc.calibration import calibration_curve

    curve = calibration_curve([50.0, 52.0, 80.0, 99.0], levels=(0.1, 0.6, 0.9))
    assert [c["observed"] for c in curve] == [0.5, 0.75, 0.75]


def test_rounding_of_printed_figures():
    assert calib.rounding_sd_ln(0.04) == pytest.approx(0.005 / math.sqrt(3) / 0.04)
    assert calib.rounding_sd_ln(7.5) == pytest.approx(0.05 / math.sqrt(3) / 7.5)
    assert calib.rounding_sd_ln(1287) == pytest.approx(0.5 / math.sqrt(3) / 1287)
    assert calib.rounding_sd_ln(30.0) == pytest.approx(0.5 / math.sqrt(3) / 30)  # whole numbers: to units


def test_energy_scope_picks_the_matching_output(write_toml):
    olmo = carbon_mc.load_scenario("olmo_300m")
    assert olmo.reported.figures() == {"accelerator_facility_energy_mwh": 5.0}
    ds = carbon_mc.estimate(olmo, num_draws=1000, seed=0)
    np.testing.assert_allclose(ds["accelerator_facility_energy_mwh"], ds["device_hours"] * ds["accelerator_power_w"] * 1.2 / 1e6, rtol=1e-5)
    assert (ds["accelerator_energy_mwh"] < ds["it_energy_mwh"]).all()
    bad = write_toml("""
        [run]
        name = "x"
        hardware = "v100"
        devices = 8
        days = 1
        region = "france"
        datacenter = "hyperscale"
        [reported]
        energy_mwh = 1.0
        energy_scope = "gpu_only"
    """)
    with pytest.raises(CarbonMCError, match="reported.energy_scope.*unknown energy scope 'gpu_only'"):
        carbon_mc.load_scenario(bad)


def test_a_calibration_run_may_not_replace_a_calibrated_prior(write_toml, tmp_path):
    path = write_toml("""
        [run]
        name = "x"
        hardware = "v100"
        devices = 8
        days = 1
        region = "france"
        datacenter = "hyperscale"
        [reported]
        energy_mwh = 1.0
        basis = "measured"
        [priors]
        pue = { distribution = "uniform", params = { low = 1.1, high = 1.3 }, source = "test" }
    """)
    with pytest.raises(CarbonMCError, match="may fix pue to a number but not replace its prior"):
        calib.Calibrator(calib.measured_runs([path]))
