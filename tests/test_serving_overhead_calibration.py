"""The per-step overhead is a fitted latent of the serving calibration: the same model as the engine's."""

import jax.numpy as jnp
import numpy as np
import pytest

from carbon_mc.calibration import serving as sc
from carbon_mc.footprint import serving as sv
from carbon_mc.scenarios.deployment import parse_serving_scenario

BASE = {"name": "t", "parameters": 8e9, "hardware": "h100_sxm", "devices_per_replica": 1, "batch": 8, "days": 1,
        "replicas": 1, "region": "world", "datacenter": "hyperscale"}


def _one_point(**changes):
    """A Measurements of one dense point (8B, BF16, 1 H100, batch 8) with the fields the forward model reads."""
    d = sc.load_measurements()
    one = d.subset([0])
    fields = {"parameters": 8e9, "active_parameters": 8e9, "bytes_per_parameter": 2.0, "devices": 1.0, "batch": 8.0,
              "peak_flop_per_s": 989e12, "memory_bandwidth_gb_per_s": 3350.0, **changes}
    return one._replace(**{k: np.array([v]) for k, v in fields.items()})


def test_forward_model_adds_the_step_overhead_as_the_engine_does():
    d = _one_point()
    # hand arithmetic: weights 2 x 8e9 B / (3,350 GB/s x 0.6) = 7.960 ms; matrix work 2 x 8e9 x 8 / (989 TFLOP/s x 0.2)
    # = 0.647 ms; plus 1 ms of overhead: 9.607 ms a step, 8 tokens a step -> 832.7 tokens/s
    mem_s = 2.0 * 8e9 / (3350e9 * 0.6)
    cmp_s = 2.0 * 8e9 * 8.0 / (989e12 * 0.2)
    expected = 8.0 / (mem_s + cmp_s + 1e-3)
    assert expected == pytest.approx(832.7, rel=1e-3)
    got = float(jnp.exp(sc.predicted_ln_tokens_per_s(d, 0.6, 0.2, 1.0, 1e-3))[0])
    assert got == pytest.approx(expected, rel=1e-5)
    # the engine's function, with the same inputs
    engine = float(sv.decode_tokens_per_s(8.0, sv.decode_memory_s_per_step(8e9, 2.0, 1.0, 3350.0, 0.6),
                                           sv.decode_compute_s_per_step(8e9, 8.0, 1.0, 989e12, 0.2), 1e-3))
    assert got == pytest.approx(engine, rel=1e-5)
    # without overhead, the earlier model: 8 / 8.607 ms
    assert float(jnp.exp(sc.predicted_ln_tokens_per_s(d, 0.6, 0.2))[0]) == pytest.approx(8.0 / (mem_s + cmp_s), rel=1e-5)


def test_overhead_prior_is_the_engines_for_an_optimised_server(table):
    priors = sc.calibration_priors(table)
    assert set(priors) == set(sc.CALIBRATED + sc.POOLED) and "serving_step_overhead_s" in sc.POOLED
    assert sc.CALIBRATION_STACK == "optimised_server"
    for stack in (None, "optimised_server"):
        block = {**BASE, **({"stack": stack} if stack else {})}
        resolved = parse_serving_scenario({"serving": block}, file="t.toml", table=table).resolve_priors(table)
        assert resolved["serving_step_overhead_s"] == priors["serving_step_overhead_s"]
    plain = parse_serving_scenario({"serving": {**BASE, "stack": "plain_pipeline"}}, file="t.toml", table=table)
    assert plain.resolve_priors(table)["serving_step_overhead_s"] != priors["serving_step_overhead_s"]
