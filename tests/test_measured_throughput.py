"""A measured training throughput (tokens/s per device) replaces the MFU prior of a run whose device-hours
derive from its tokens: device-hours = tokens / throughput x the overhead factor, still drawn."""

import numpy as np
import pytest

from carbon_mc import estimate
from carbon_mc.errors import InputError
from carbon_mc.scenarios.training import parse_scenario

RUN = {"name": "tp", "hardware": "h100_sxm", "parameters": 7e9, "tokens": 2e12, "devices": 256, "region": "france",
       "datacenter": "hyperscale"}
TPS = 3500.0  # tokens/s per device: MFU = 6 x 7e9 x 3500 / 989.4e12 = 0.149 on an H100 SXM (dense BF16 peak)
MEASURED = {"scope": "throughput", "tokens_per_s_per_device": TPS, "source": "training log"}


def test_device_hours_are_tokens_over_the_throughput_times_the_overhead():
    scenario = parse_scenario({"run": RUN, "measured": MEASURED})
    assert "mfu_fraction" not in scenario.needed_quantities() and "device_time_overhead_factor" in scenario.needed_quantities()
    ds = estimate(scenario, num_draws=2000, seed=1, method="mc")
    ideal = RUN["tokens"] / TPS / 3600.0  # 158,730 device-hours at the measured throughput
    ratio = np.asarray(ds["device_hours"], np.float64) / (ideal * np.asarray(ds["device_time_overhead_factor"], np.float64))
    assert np.max(np.abs(ratio - 1.0)) < 1e-5  # float32 arithmetic: exact up to rounding
    assert "mfu_fraction" not in ds
    assert any("tokens/s per device" in line for line in scenario.measured.replaced)


@pytest.mark.parametrize("run, measured, needle", [
    ({"device_hours": 1000.0, "parameters": None, "tokens": None}, {}, "gives its device time"),
    ({"tokens": None, "train_flops": 8.4e22}, {}, "needs the run's tokens"),
    ({}, {"tokens_per_s_per_device": 3500.0 * 256}, "MFU above 1"),  # the whole run's throughput given per device
    ({}, {"energy_kwh": 100.0}, "'energy_kwh' does not go with a throughput"),
    ({}, {"scope": "accelerator"}, "not 'accelerator'"),
])
def test_a_throughput_that_cannot_be_used_is_one_error(run, measured, needle):
    doc_run = {k: v for k, v in {**RUN, **run}.items() if v is not None}
    with pytest.raises(InputError) as err:
        parse_scenario({"run": doc_run, "measured": {**MEASURED, **measured}}, file="t.toml")
    assert needle in str(err.value) and "measured" in str(err.value)
