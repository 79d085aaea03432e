"""A measured energy taken as input ([measured]): known answers on each scope, what it replaces, refusals."""

import functools
import json
import math

import numpy as np
import pytest
from scipy import stats

from carbon_mc import estimate, load_scenario
from carbon_mc.cli import main
from carbon_mc.errors import InputError
from carbon_mc.priors import load_priors
from carbon_mc.scenarios.training import parse_scenario

N = 20_000
RUN = {"name": "measured", "hardware": "a100_80gb", "devices": 16, "days": 1, "region": "CA-QC", "datacenter": "hpc"}
# The repository's CodeCarbon example (examples/codecarbon/emissions.csv): two 8 x A100 runs of 24 h.
CODECARBON = {"scope": "codecarbon", "cpu_kwh": 10.08, "gpu_kwh": 118.68, "ram_kwh": 18.1344, "modelled": ["ram"],
              "source": "examples/codecarbon/emissions.csv"}


def draws(measured=None, **run):
    """The draws of RUN (with `run` changed) and `measured`, computed once per module (tests only read them)."""
    return _draws(json.dumps([measured, run], sort_keys=True))


@functools.cache
def _draws(key: str):
    measured, run = json.loads(key)
    doc = {"run": {**RUN, **run}}
    if measured is not None:
        doc["measured"] = measured
    return estimate(parse_scenario(doc), num_draws=N, seed=3, method="mc")


def sigma(name):
    return load_priors().select(name, {}, file="t").params["sigma"]


def assert_lognormal_quantiles(values, median, sd_log):
    """Quantiles 5/50/95 of `values` against median x exp(sd_log z_p), within 4 Monte Carlo standard errors."""
    logs = np.log(np.asarray(values, dtype=np.float64) / median)
    for p in (0.05, 0.5, 0.95):
        z = stats.norm.ppf(p)
        se = sd_log * math.sqrt(p * (1 - p) / N) / stats.norm.pdf(z)
        assert abs(np.quantile(logs, p) - sd_log * z) < 4 * se, p


def test_accelerator_scope_gives_back_the_measurement_with_the_board_meter_error():
    ds = draws({"scope": "accelerator", "energy_kwh": 120.0, "source": "nvidia-smi"})
    assert_lognormal_quantiles(ds["accelerator_energy_mwh"], 0.120, sigma("meter_error_board_factor"))
    plain = draws()  # the host, PUE and grid are still drawn: IT energy is above the accelerators' alone
    assert float(np.min(ds["it_energy_mwh"] - ds["accelerator_energy_mwh"])) > 0
    assert np.std(np.log(ds["accelerator_energy_mwh"])) < np.std(np.log(plain["accelerator_energy_mwh"])) / 3


def test_it_and_facility_scopes_take_the_node_meter_error():
    m_sigma = sigma("meter_error_node_factor")
    it = draws({"scope": "node", "energy_kwh": 180.0, "source": "PDU"})
    assert_lognormal_quantiles(it["it_energy_mwh"], 0.180, m_sigma)
    assert float(np.max(it["accelerator_energy_mwh"] / it["it_energy_mwh"])) < 1.0
    facility = draws({"scope": "facility", "energy_kwh": 200.0, "source": "sub-meter"})
    assert_lognormal_quantiles(facility["energy_mwh"], 0.200, m_sigma)


def test_codecarbon_scope_keeps_its_parts_and_draws_the_host_beyond_them():
    ds = draws(CODECARBON)
    total = 10.08 + 118.68 + 18.1344
    cc = np.asarray(ds["codecarbon_energy_mwh"]) * 1000
    assert np.quantile(cc, 0.05) < total < np.quantile(cc, 0.95)  # the interval on its own scope holds the measurement
    assert_lognormal_quantiles(ds["accelerator_energy_mwh"], 0.11868, sigma("meter_error_board_factor"))
    ratio = np.asarray(ds["it_energy_mwh"]) / np.asarray(ds["codecarbon_energy_mwh"])
    assert ratio.min() >= 1.10 and ratio.max() <= 1.65  # 1 + host_beyond_codecarbon_fraction, triangular 0.10-0.65


def test_facility_and_co2e_widen_only_by_what_the_measurement_leaves_out():
    """With the energy measured, facility energy spreads by PUE (and the meter) only, and CO2e by the grid
    and embodied carbon: its interval is narrower than a plain run's."""
    plain, measured = draws(), draws({"scope": "facility", "energy_kwh": 200.0, "source": "sub-meter"})
    width = {name: [np.subtract(*np.quantile(ds[name], [0.95, 0.05])) / np.median(ds[name]) for ds in (plain, measured)]
             for name in ("energy_mwh", "total_tco2e")}
    assert width["energy_mwh"][1] < width["energy_mwh"][0] / 3
    assert width["total_tco2e"][1] < width["total_tco2e"][0]


def test_run_says_which_inputs_the_measurement_replaced(tmp_path, capsys):
    path = tmp_path / "m.toml"
    path.write_text('[run]\nname = "m"\nhardware = "a100_80gb"\ndevices = 16\ndays = 1\nregion = "CA-QC"\ndatacenter = "hpc"\n'
                    '[measured]\nscope = "codecarbon"\ncpu_kwh = 10.08\ngpu_kwh = 118.68\nram_kwh = 18.1344\nmodelled = ["ram"]\n'
                    'source = "example"\n')
    assert main(["run", str(path), "--draws", "2000", "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)["measured"]
    assert measured["scope"] == "codecarbon" and measured["coverage"] == "the whole run"
    assert any(line.startswith("accelerator_power_tdp_fraction") for line in measured["replaced"])
    assert any(line.startswith("server_power_w_per_device") for line in measured["replaced"])
    assert "host_beyond_codecarbon_fraction" in measured["drawn"] and "meter_error_modelled_factor" in measured["drawn"]
    assert not {"accelerator_power_tdp_fraction", "server_power_w_per_device"} & set(load_scenario(path).needed_quantities())
    assert main(["run", str(path), "--draws", "2000"]) == 0
    assert "replaces:" in capsys.readouterr().out


@pytest.mark.parametrize("measured, run, needles", [
    ({"scope": "wall", "energy_kwh": 1.0, "source": "s"}, {}, ["measured.scope", "accelerator"]),
    ({"scope": "it", "source": "s"}, {}, ["measured.energy_kwh", "missing"]),
    ({"scope": "it", "energy_kwh": 1.0, "mean_power_w": 5.0, "hours": 1.0, "source": "s"}, {}, ["not both"]),
    ({"scope": "it", "mean_power_w": 5.0, "source": "s"}, {}, ["measured.hours"]),
    ({"scope": "codecarbon", "gpu_kwh": 1.0, "source": "s"}, {}, ["cpu_kwh", "ram_kwh"]),
    ({"scope": "codecarbon", "cpu_kwh": 1.0, "gpu_kwh": 1.0, "ram_kwh": 1.0, "energy_kwh": 9.0, "source": "s"}, {},
     ["1% apart"]),
    ({**CODECARBON, "modelled": ["gpu"]}, {}, ["measured.modelled"]),
    ({"scope": "it", "energy_kwh": 1.0, "gpu_kwh": 1.0, "source": "s"}, {}, ["codecarbon scope"]),
    ({"scope": "it", "energy_kwh": 1.0, "measured_devices": 2, "source": "s"}, {}, ["accelerator or codecarbon scope"]),
    ({**CODECARBON, "gpu_kwh": 0.0, "measured_devices": 2}, {}, ["measured.gpu_kwh", "GPU energy"]),
    ({"scope": "accelerator", "energy_kwh": 1.0, "measured_devices": 32, "source": "s"}, {}, ["exceeds", "16"]),
    ({"scope": "accelerator", "energy_kwh": 1.0, "measured_hours": 48, "source": "s"}, {}, ["exceeds", "24"]),
    ({"scope": "accelerator", "energy_kwh": 400.0, "source": "s"}, {}, ["TDP", "measured.energy_kwh"]),
    ({"scope": "accelerator", "energy_kwh": -1.0, "source": "s"}, {}, ["measured.energy_kwh"]),
    ({"scope": "accelerator", "energy_kwh": 1.0}, {}, ["measured.source"]),
    ({"scope": "accelerator", "energy_kwh": 1.0, "source": "s"}, {"devices": None, "days": None, "parameters": 1e9,
                                                                   "tokens": 1e10}, ["device time"]),
])
def test_a_bad_measured_table_is_one_error_naming_the_key(measured, run, needles):
    doc = {"run": {k: v for k, v in {**RUN, **run}.items() if v is not None}, "measured": measured}
    with pytest.raises(InputError) as info:
        parse_scenario(doc, file="m.toml")
    text = str(info.value)
    assert "m.toml" in text
    for needle in needles:
        assert needle in text, (needle, text)


def test_a_bad_measured_table_exits_non_zero_with_one_line(tmp_path, capsys):
    path = tmp_path / "m.toml"
    path.write_text('[run]\nname = "m"\nhardware = "a100_80gb"\ndevices = 16\ndays = 1\nregion = "CA-QC"\ndatacenter = "hpc"\n'
                    '[measured]\nscope = "accelerator"\nenergy_kwh = "a lot"\nsource = "s"\n')
    assert main(["run", str(path), "--draws", "1000"]) != 0
    err = capsys.readouterr().err
    assert "measured.energy_kwh" in err and "Traceback" not in err
