"""ArviZ-native results: draws in a `prior` group on (chain, draw), constants as scalars, provenance kept."""

import numpy as np
import pytest

import carbon_mc
from carbon_mc.sampling.inference_data import arviz_major_version, split_constants

az = pytest.importorskip("arviz")
HEADLINE = ["energy_mwh", "operational_tco2e", "embodied_tco2e", "total_tco2e"]
V1 = arviz_major_version() >= 1  # ArviZ 1.x (Python >= 3.12) names the interval argument `prob` / `ci_prob`


@pytest.fixture(scope="module")
def gpt3():
    return carbon_mc.estimate("gpt3_175b", num_draws=20_000, seed=0)


@pytest.fixture(scope="module")
def idata(gpt3):
    return carbon_mc.to_inference_data(gpt3)


def test_draws_are_a_prior_group_on_chain_and_draw_bit_identical(gpt3, idata):
    prior = idata["prior"]
    assert prior["total_tco2e"].dims == ("chain", "draw") and prior.sizes == {"chain": 1, "draw": 20_000}
    for name in HEADLINE + ["pue", "grid_gco2_per_kwh"]:
        assert prior[name].dtype == np.float32
        assert np.array_equal(prior[name].values[0], gpt3[name].values), name  # the same bits
        human = prior[name].attrs.get("units_human", prior[name].attrs["units"])  # CF units in the ArviZ object's files
        assert human == gpt3[name].attrs["units"]


def test_estimate_offers_it_directly(gpt3):
    direct = carbon_mc.estimate("gpt3_175b", num_draws=20_000, seed=0, as_inference_data=True)
    assert np.array_equal(direct["prior"]["total_tco2e"].values[0], gpt3["total_tco2e"].values)


def test_constants_are_scalars_not_copies(gpt3, idata):
    # GPT-3's scenario gives device-hours: a constant output, stored once
    const = idata["constant_data"]
    assert const["device_hours"].dims == () and float(const["device_hours"]) == float(gpt3["device_hours"].values[0])
    assert "device_hours" not in idata["prior"]
    drawn, constants = split_constants(gpt3)
    assert set(drawn.data_vars) | set(constants.data_vars) == set(gpt3.data_vars)
    assert all(np.ptp(drawn[v].values) > 0 for v in drawn.data_vars)


def test_arviz_functions_work_on_it(idata, gpt3):
    prob = {"ci_prob": 0.9} if V1 else {"hdi_prob": 0.9}
    summary = az.summary(idata, group="prior", var_names=HEADLINE, kind="stats", **prob)
    assert list(summary.index) == HEADLINE
    x = gpt3["total_tco2e"].values.astype(np.float64)
    assert summary.loc["total_tco2e", "mean"] == pytest.approx(x.mean(), rel=1e-4)
    lo, hi = carbon_mc.hdi(gpt3["total_tco2e"].values, 0.9)
    hdi = az.hdi(idata, group="prior", **({"prob": 0.9} if V1 else {"hdi_prob": 0.9}))["total_tco2e"].values
    assert hdi == pytest.approx([lo, hi], rel=1e-6)  # carbon-mc's summaries use ArviZ's HDI


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # matplotlib 3.11 deprecations raised inside ArviZ 0.x plots
def test_arviz_plots_draw_it(idata):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if V1:  # ArviZ 1.x: plot_dist on the tree's prior group (plot_posterior is gone)
        plot = az.plot_dist(idata, group="prior", var_names=["total_tco2e"])
        assert plot is not None and plt.get_fignums()
        plt.close("all")
        return
    axes = az.plot_posterior(idata, group="prior", var_names=["total_tco2e"], hdi_prob=0.9)
    assert np.ravel(axes)[0].get_title() == "total_tco2e"
    ax = az.plot_dist(idata["prior"]["total_tco2e"].values)
    assert len(ax.lines) >= 1
    plt.close("all")


def test_netcdf_round_trip_keeps_provenance(idata, gpt3, tmp_path):
    path = tmp_path / "gpt3.nc"
    idata.to_netcdf(str(path))
    back = az.from_netcdf(str(path)) if arviz_major_version() == 0 else __import__("xarray").open_datatree(path)
    attrs = back["prior"].attrs
    assert attrs["source"].startswith(f"carbon-mc {carbon_mc.__version__} ")
    assert "carbon-mc" in attrs["history"] and "seed 0" in attrs["history"] and attrs["date_created"]
    assert attrs.get("institution") != "carbon-mc"
    assert "[run]" in attrs["scenario_toml"] and 'name = "GPT-3 175B"' in attrs["scenario_toml"]
    assert "grid_gco2_per_kwh" in attrs["priors"]
    assert np.array_equal(back["prior"]["total_tco2e"].values[0], gpt3["total_tco2e"].values)


def test_dataset_attributes_follow_cf_and_acdd(gpt3):
    a = gpt3.attrs
    assert "ACDD" in a["Conventions"] and "institution" not in a
    assert {"source", "history", "date_created", "scenario_toml", "priors"} <= set(a)


def test_a_summary_is_not_draws(gpt3):
    with pytest.raises(ValueError, match="draw"):
        carbon_mc.to_inference_data(carbon_mc.summarize(gpt3))


def test_arviz_1_path_builds_a_datatree(gpt3, tmp_path, monkeypatch):
    # ArviZ 1.x objects are xarray DataTrees; the path is taken by version, so it is exercised here
    # on whatever ArviZ is installed by asking for it (ArviZ's own 1.x functions need Python >= 3.12).
    import xarray as xr

    from carbon_mc.sampling import inference_data

    monkeypatch.setattr(inference_data, "arviz_major_version", lambda: 1)
    tree = inference_data.to_inference_data(gpt3)
    assert isinstance(tree, xr.DataTree) and set(tree.children) == {"prior", "constant_data"}
    assert tree["prior"]["total_tco2e"].dims == ("chain", "draw")
    assert np.array_equal(tree["prior"]["total_tco2e"].values[0], gpt3["total_tco2e"].values)
    assert tree["constant_data"]["device_hours"].dims == () and tree.attrs["source"] == gpt3.attrs["source"]
    path = tmp_path / "tree.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    back = xr.open_datatree(path, engine="h5netcdf")
    assert np.array_equal(back["prior"]["total_tco2e"].values[0], gpt3["total_tco2e"].values)
    assert back.attrs["scenario_toml"] == gpt3.attrs["scenario_toml"]


def test_scenario_text_is_the_file_that_was_loaded(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[run]\nname = "small"\nhardware = "a100_80gb"\ndevice_hours = 100\nregion = "france"\ndatacenter = "hyperscale"\n')
    scenario = carbon_mc.load_scenario(path)
    loaded = path.read_text()
    assert carbon_mc.estimate(scenario, num_draws=64).attrs["scenario_toml"] == loaded
    path.write_text(loaded.replace("100", "200"))  # changed after loading: the draws keep the text that was drawn
    assert carbon_mc.estimate(scenario, num_draws=64).attrs["scenario_toml"] == loaded
    built = carbon_mc.parse_scenario({"run": {"name": "in Python", "hardware": "a100_80gb", "device_hours": 100,
                                              "region": "france", "datacenter": "hyperscale"}})
    assert carbon_mc.estimate(built, num_draws=64).attrs["scenario_toml"] == ""
