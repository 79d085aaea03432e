"""The Python API takes a scenario as a dict (the TOML as Python data), validated as the file is."""

import numpy as np
import pytest

import carbon_mc
from carbon_mc import InputError

RUN = {"name": "dict run", "hardware": "h100_sxm", "devices": 64, "days": 10, "region": "france", "datacenter": "hyperscale"}
TOML = """[run]
name = "dict run"
hardware = "h100_sxm"
devices = 64
days = 10
region = "france"
datacenter = "hyperscale"
"""


def test_a_dict_gives_the_numbers_of_the_same_toml(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(TOML, encoding="utf-8")
    from_dict = carbon_mc.estimate({"run": RUN}, num_draws=2048, seed=3)
    from_file = carbon_mc.estimate(path, num_draws=2048, seed=3)
    for name in ("energy_mwh", "operational_tco2e", "total_tco2e"):
        np.testing.assert_array_equal(from_dict[name].values, from_file[name].values)
    result = carbon_mc.run_scenario({"run": RUN}, num_draws=2048, seed=3)
    median = float(result.summary["energy_mwh"].sel(stat="median"))
    assert median == pytest.approx(float(np.median(from_file["energy_mwh"].values)), rel=1e-6)


def test_a_dict_is_validated_as_the_toml():
    with pytest.raises(InputError, match="devices"):
        carbon_mc.estimate({"run": {**RUN, "devices": -4}}, num_draws=64)
    with pytest.raises(InputError, match="hardware"):
        carbon_mc.estimate({"run": {**RUN, "hardware": "h100 sxmm"}}, num_draws=64)


def test_a_dict_with_a_serving_table_is_a_deployment():
    scenario = carbon_mc.load_any_scenario({"serving": {"name": "l4 api", "hardware": "l4", "devices_per_replica": 1, "replicas": 2,
                                                        "parameters": 8e9, "batch": 8, "days": 1, "region": "france",
                                                        "datacenter": "hyperscale"}})
    assert isinstance(scenario, carbon_mc.ServingScenario)
