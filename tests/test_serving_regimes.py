"""Serving across regimes: step overhead, whole-node accounting, load and stack priors, drawn model
facts and precision, per-request figures without traffic, the bundled what-if, held-out regimes."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from carbon_mc import CarbonMCError
from carbon_mc.footprint import serving as sv
from carbon_mc.sampling import build_simulator, draw
from carbon_mc.scenarios.deployment import PRECISIONS, parse_serving_scenario

SERVING = Path(__file__).resolve().parents[1] / "models" / "serving"
BASE = {"name": "t", "parameters": 8e9, "hardware": "h100_sxm", "devices_per_replica": 1, "batch": 8, "days": 1,
        "replicas": 1, "region": "world", "datacenter": "hyperscale"}


def _parse(table, **changes):
    block = {k: v for k, v in {**BASE, **changes}.items() if v is not None}
    return parse_serving_scenario({"serving": block}, file="s.toml", table=table)


def _median(scenario, table, q, n=20_000):
    _, out = draw(build_simulator(scenario, priors=table), num_draws=n, seed=0, method="mc", variables=[q])
    return float(np.median(out[q]))


def test_step_overhead_and_whole_node_equations():
    assert float(sv.decode_tokens_per_s(1.0, 0.002, 0.0, 0.008)) == pytest.approx(100.0)  # 10 ms a step
    assert float(sv.decode_tokens_per_s(8.0, 0.004, 0.001)) == pytest.approx(1600.0)  # no overhead: as before
    assert float(sv.request_overhead_s(0.01, 4.0)) == pytest.approx(0.0025)
    assert float(sv.busy_replica_s_per_request(100.0, 10.0, 1e4, 100.0, 0.01)) == pytest.approx(0.12)
    assert sv.node_idle_accelerators(1, 8) == 7 and sv.node_idle_accelerators(16, 8) == 0 and sv.node_idle_accelerators(12, 8) == 4
    assert sv.whole_node_accelerator_power_w_per_device(400.0, 0.15, 1, 8) == pytest.approx(7 * 60.0)
    # 7 idle host slots at 100 W and 1,152 GB at 3 W per 8 GB, all charged to the one GPU used
    assert sv.whole_node_host_power_w_per_device(100.0, 1152.0, 0.375, 1, 8) == pytest.approx(700.0 + 432.0)
    assert float(sv.active_parameters_capped(5.0, 7.0)) == 5.0
    idx = sv.precision_index(jnp.asarray([0.1, 0.79, 0.8, 0.99]), [0.8, 1.0])
    assert idx.tolist() == [0, 0, 1, 1]


def test_precisions_have_bytes_and_peak():
    # the second entry is the factor on a device with no peak of its own at that precision (fp8 weight-only: BF16)
    assert PRECISIONS["fp32"] == (4.0, 1.0 / 16.0) and PRECISIONS["fp8"] == (1.0, 1.0)
    assert PRECISIONS["nf4"][0] == pytest.approx(0.53125) and PRECISIONS["mxfp4"][0] == pytest.approx(0.53125)


def test_stack_and_load_pick_their_priors(table):
    s = _parse(table, stack="plain_pipeline", load="fleet", requests_per_day=1000, replicas=None)
    resolved = s.resolve_priors(table)
    assert resolved["serving_step_overhead_s"].variant == "plain_pipeline"
    assert resolved["serving_busy_fraction"].variant == "fleet" and resolved["serving_over_provisioning_factor"].variant == "fleet"
    assert resolved["serving_busy_fraction"].quantity == "serving_busy_fraction"
    default = _parse(table, requests_per_day=1000, replicas=None).resolve_priors(table)
    assert default["serving_step_overhead_s"].variant == "default" and default["serving_busy_fraction"].variant == "default"
    # a fleet is busier than the default load priors: less energy per request for the same traffic
    q = "energy_wh_per_request"
    fleet = _median(_parse(table, load="fleet", requests_per_day=1e6, replicas=None), table, q)
    assert fleet < _median(_parse(table, requests_per_day=1e6, replicas=None), table, q) / 1.4
    for key, bad in (("stack", "vllm"), ("load", "steady"), ("boundary", "node")):
        with pytest.raises(CarbonMCError) as err:
            _parse(table, **{key: bad})
        assert err.value.key == f"serving.{key}"


def test_plain_pipeline_costs_more_than_an_optimised_server(table):
    q = "accelerator_energy_kwh_per_million_output_tokens"
    small = {"parameters": 1.3e9, "batch": 1, "load": "benchmark", "output_tokens": 100, "input_tokens": 100}
    plain = _median(_parse(table, stack="plain_pipeline", **small), table, q)
    assert plain > 3 * _median(_parse(table, stack="optimised_server", **small), table, q)


def test_whole_node_counts_idle_accelerators_ram_and_host(table):
    kw = {"parameters": 1.3e9, "batch": 1, "load": "benchmark", "output_tokens": 10, "input_tokens": 50,
          "hardware": "a100_80gb", "stack": "plain_pipeline"}
    replica = _median(_parse(table, **kw), table, "it_energy_wh_per_request")
    node = _median(_parse(table, boundary="whole_node", node_ram_gb=1152, **kw), table, "it_energy_wh_per_request")
    assert node > 3 * replica
    with pytest.raises(CarbonMCError, match="whole-node"):
        _parse(table, node_ram_gb=100)


def test_parameters_batch_and_precision_as_distributions(table):
    table_p = {"distribution": "lognormal", "params": {"p5": 1e9, "p95": 3e9}, "source": "test"}
    table_b = {"distribution": "lognormal", "params": {"p5": 4.0, "p95": 64.0}, "source": "test"}
    s = _parse(table, parameters=table_p, batch=table_b, load="benchmark",
               precision={"choices": ["bf16", "fp8"], "weights": [3, 1], "source": "test"})
    assert s.parameters is None and s.batch is None and s.active_is_total
    names = set(s.needed_quantities())
    assert {"serving_parameters", "serving_batch", "serving_precision_quantile"} <= names
    assert "serving_active_parameters" not in names
    sim = build_simulator(s, priors=table)
    drawn, out = draw(sim, num_draws=8192, seed=1, method="mc")
    np.testing.assert_allclose(out["parameters_read_per_step"], drawn["serving_parameters"], rtol=1e-5)  # dense: all read
    assert sim.run.precision_choices[0][0] == pytest.approx(0.75)
    moe = _parse(table, parameters=100e9, active_parameters={**table_p, "params": {"p5": 5e9, "p95": 2e11}}, devices_per_replica=4)
    _, out = draw(build_simulator(moe, priors=table), num_draws=4096, seed=1, method="mc", variables=["parameters_read_per_step"])
    assert np.all(out["parameters_read_per_step"] <= 100e9 * (1 + 1e-6))  # active capped at the total
    for bad in ({"choices": ["bf16", "fp9"], "source": "x"}, {"choices": ["bf16"], "weights": [1, 2], "source": "x"},
                {"choices": ["bf16"]}):
        with pytest.raises(CarbonMCError):
            _parse(table, precision=bad)
    with pytest.raises(CarbonMCError, match="do not fit"):
        _parse(table, parameters=30e9, precision="fp32")


def test_per_request_without_traffic_or_capacity(table):
    s = _parse(table, replicas=None, load="fleet")
    assert s.per_request_only and any("totals are omitted" in n for n in s.notes)
    assert s.headline == sv.PER_REQUEST_HEADLINE
    sim = build_simulator(s, priors=table)
    out = sim.outputs(sim.with_fixed({n: sim.icdf(n, jnp.full((4,), 0.5, jnp.float32)) for n in sim.stochastic}))
    assert not set(out) & sv.TRAFFIC_OUTPUTS and set(sv.PER_REQUEST_HEADLINE) <= set(out)
    # the same per-request figure as a deployment with traffic sized by the same load priors
    with_traffic = build_simulator(_parse(table, replicas=None, load="fleet", requests_per_day=12345.0), priors=table)
    ref = with_traffic.outputs(with_traffic.with_fixed({n: with_traffic.icdf(n, jnp.full((4,), 0.5, jnp.float32))
                                                        for n in with_traffic.stochastic}))
    np.testing.assert_allclose(out["energy_wh_per_request"], ref["energy_wh_per_request"], rtol=1e-5)


def test_bundled_what_if(table):
    def med(name):
        return _median(build_simulator(SERVING / f"{name}.toml", priors=table).scenario, table, "energy_wh_per_request")

    plain, server, cpu = (med(n) for n in ("whatif_1b_plain_pipeline_batch1_a100", "whatif_1b_vllm_batch32_a100",
                                            "whatif_1b_cpu_xeon_8480"))
    assert server < plain / 50 and server < cpu and cpu < plain


def test_regimes_name_their_points():
    from carbon_mc.calibration import serving as sc

    d = sc.load_measurements()
    masks = sc.calibration_regimes(d)
    assert masks["mixture of experts"].sum() >= 5 and "non-NVIDIA hardware" not in masks  # scored at the priors
    points = sc._plain_pipeline_points()
    assert len(points) == 9 and all(p[2] > 0 for p in points)
