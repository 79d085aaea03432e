"""Expert parallelism: the shared/expert split, memory over e, the token all-to-alls, the expert
gradient all-reduce over d/e, the planner and the sweep with experts, and published layouts."""

import numpy as np
import pytest
import carbon_mc
from carbon_mc import CarbonMCError
from carbon_mc.cli import main
from carbon_mc.footprint import experts as moe
from carbon_mc.footprint import parallelism as par
from carbon_mc.footprint.layout import plan_layout
from carbon_mc.sweep import scaling_sweep

A100 = par.Hardware(312e12, 80.0, 8, 600.0, 25.0)
NOMINAL = {"kernel_peak_fraction": 0.6, "memory_bound_hidden_size": 300.0, "link_bandwidth_fraction": 0.75,
           "comm_overlap_fraction": 0.6, "selective_recompute_overhead_fraction": 0.03,
           "expert_all_to_all_overlap_fraction": 0.0}


def _plan(parameters, devices, active_parameters=None, **moe_args):
    return plan_layout(parameters=np.atleast_1d(parameters), devices=np.atleast_1d(devices), hardware=A100,
                           sequence_length=4096.0, batch_candidates=np.full((np.size(parameters), 1), 2.0**22),
                           token_factor=lambda b: np.ones_like(b), nominal=NOMINAL, hidden_per_layer_ratio=128.0,
                           usable_memory_fraction=0.9, active_parameters=active_parameters, **moe_args)


def _step(experts=None, **kw):
    args = dict(parameters=10e9, layers=24.0, hidden=2048.0, sequence_length=4096.0, batch_tokens=4096.0 * 256,
                tensor_parallel=1.0, pipeline_parallel=1.0, data_parallel=64.0, model_flop_per_token=6e9,
                hardware_flop_per_token=6e9, allreduces_per_layer=4.0, hardware=A100, kernel_peak_fraction=0.6,
                memory_bound_hidden_size=300.0, link_bandwidth_fraction=0.75, comm_overlap_fraction=0.5)
    args.update(kw)
    return par.training_step(experts=experts, **args)


def test_expert_parameters_of_deepseek_v3_match_its_shapes():
    # 671B in all, 37B active, 8 of 256 routed experts (DeepSeek-AI 2024, arXiv:2412.19437, §4.2):
    # (671 - 37) * 256/248 = 654.5B, against 58 MoE layers x 256 experts x 3 x 7168 x 2048 = 653.9B.
    n_exp = float(moe.expert_parameters(671e9, 37e9, 256, 8))
    assert n_exp == pytest.approx(634e9 * 256 / 248, rel=1e-12)
    assert n_exp == pytest.approx(58 * 256 * 3 * 7168 * 2048, rel=2e-3)
    # the active count is the shared part plus k/E of the experts
    assert 671e9 - n_exp + 8 / 256 * n_exp == pytest.approx(37e9, rel=1e-12)


def test_expert_memory_falls_as_one_over_e():
    n, n_exp, t, p, d = 47e9, 45e9, 2, 4, 16
    args = (n, 32, 4096, 4096, t, p, d, 8, False)
    mem = {e: float(par.memory_per_device_gb(*args, expert_parameters=n_exp, expert_parallel=e)) for e in (1, 2, 4, 8, 16)}
    for e in (2, 4, 8, 16):  # only the experts' bf16 weights and gradients shard over e
        assert mem[1] - mem[e] == pytest.approx(4 * n_exp / (t * p) * (1 - 1 / e) / 1e9, rel=1e-4)
    # at e = 1 the split changes nothing: every device holds its t·p shard of all experts
    assert mem[1] == pytest.approx(float(par.memory_per_device_gb(*args)), rel=1e-6)


def test_all_to_all_time_is_zero_at_e1_and_matches_the_formula():
    bw = 1e11
    args = dict(moe_layers=24.0, hidden=2048.0, sequence_length=4096.0, tensor_parallel=2.0, pipeline_parallel=4.0,
                experts_per_token=2.0, all_to_alls_per_layer=4.0, bandwidth_bytes_per_s=bw)
    assert float(moe.expert_all_to_all_time_per_microbatch_s(expert_parallel=1.0, **args)) == 0.0
    by_hand = 24 / 4 * 4 * (7 / 8) * (2 * 2 * 4096 * 2048 / 2) / bw  # (l/p) x 4 x (e-1)/e x 2 k s h / t bytes
    assert float(moe.expert_all_to_all_time_per_microbatch_s(expert_parallel=8.0, **args)) == pytest.approx(by_hand, rel=1e-6)


def test_step_adds_the_all_to_alls_over_the_expert_group_bandwidth():
    ex = moe.Experts(parameters=8e9, parallel=8.0, layers=24.0, per_token=2.0, all_to_alls_per_layer=4.0, all_to_all_overlap_fraction=0.0)
    inside = _step(ex)  # t·e = 8 devices: one server, NVLink at 300 GB/s one way x 0.75
    message = 2 * 2 * 4096 * 2048
    assert float(inside.expert_all_to_all_s) == pytest.approx(24 * 4 * 7 / 8 * message / (300e9 * 0.75), rel=1e-5)
    across = _step(ex, tensor_parallel=2.0, data_parallel=32.0)  # t·e = 16 devices: across servers, 25 GB/s x 0.75
    assert float(across.expert_all_to_all_s) == pytest.approx(24 * 4 * 7 / 8 * message / 2 / (25e9 * 0.75), rel=1e-5)
    m = 256 / 64  # micro-batches per pipeline
    busy = inside.compute_s + inside.tensor_parallel_s + inside.pipeline_send_s + inside.expert_all_to_all_s
    assert float(inside.step_s) == pytest.approx(float(m * busy + 0.5 * inside.data_parallel_s), rel=1e-6)
    assert float(_step().expert_all_to_all_s) == 0.0


def test_only_the_all_to_alls_not_hidden_behind_compute_lengthen_the_step():
    ex = moe.Experts(parameters=8e9, parallel=8.0, layers=24.0, per_token=2.0, all_to_alls_per_layer=4.0,
                     all_to_all_overlap_fraction=0.0)
    m = 256 / 64
    base = _step(ex._replace(parameters=8e9, parallel=1.0))  # e = 1: no all-to-all, the same gradient split
    exposed = _step(ex)
    for o in (0.25, 0.6, 1.0):
        step = _step(ex._replace(all_to_all_overlap_fraction=o))
        assert float(step.expert_all_to_all_s) == float(exposed.expert_all_to_all_s)  # the traffic is the same
        busy = step.compute_s + step.tensor_parallel_s + step.pipeline_send_s + (1 - o) * step.expert_all_to_all_s
        assert float(step.step_s) == pytest.approx(float(m * busy + 0.5 * step.data_parallel_s), rel=1e-6)
    hidden = _step(ex._replace(all_to_all_overlap_fraction=1.0))
    # all of it hidden: the step is that of e = 8 without all-to-alls (its gradients still all-reduce over d/e)
    no_a2a = m * (hidden.compute_s + hidden.tensor_parallel_s + hidden.pipeline_send_s) + 0.5 * hidden.data_parallel_s
    assert float(hidden.step_s) == pytest.approx(float(no_a2a), rel=1e-6)
    assert float(exposed.step_s) > float(hidden.step_s)
    assert float(base.expert_all_to_all_s) == 0.0


def test_hidden_all_to_alls_let_the_planner_shard_experts_it_kept_whole():
    # OLMoE's shape (6.9B in all, 1.3B active, 8 of 64 experts; Muennighoff et al. 2024, arXiv:2409.02060)
    # on 256 A100s: with every all-to-all exposed, the planner shards the model over tensor and pipeline
    # ranks and keeps every expert on every rank (e = 1); with them hidden, sharding experts costs no
    # time and removes the tensor and pipeline traffic, so it spreads the 64 experts over 64 ranks.
    kw = dict(active_parameters=1.3e9, experts=64, experts_per_token=8)
    plans = {}
    for o in (0.0, 1.0):
        plans[o] = plan_layout(parameters=np.atleast_1d(6.9e9), devices=np.atleast_1d(256.0), hardware=A100,
                                   sequence_length=4096.0, batch_candidates=np.full((1, 1), 2.0**22),
                                   token_factor=lambda b: np.ones_like(b), hidden_per_layer_ratio=128.0,
                                   nominal=NOMINAL | {"expert_all_to_all_overlap_fraction": o}, usable_memory_fraction=0.9, **kw)
    exposed, hidden = plans[0.0], plans[1.0]
    assert float(exposed.expert_parallel[0]) == 1.0 and float(exposed.tensor_parallel[0] * exposed.pipeline_parallel[0]) > 1
    assert float(hidden.expert_parallel[0]) == 64.0 and float(hidden.tensor_parallel[0] * hidden.pipeline_parallel[0]) == 1


def test_expert_gradients_are_all_reduced_over_d_over_e():
    bw = 25e9 * 0.75  # 64 devices span servers
    ring = lambda nbytes, k: 2 * (k - 1) / k * nbytes / bw  # noqa: E731
    ex = moe.Experts(parameters=8e9, parallel=8.0, layers=24.0, per_token=2.0, all_to_alls_per_layer=4.0, all_to_all_overlap_fraction=0.0)
    step = _step(ex)
    assert float(step.data_parallel_s) == pytest.approx(ring(2 * 2e9, 64) + ring(2 * 8e9 / 8, 8), rel=1e-5)
    # e = d: each expert lives on one rank of the stage, its gradients need no all-reduce
    alone = _step(ex._replace(parallel=64.0))
    assert float(alone.data_parallel_s) == pytest.approx(ring(2 * 2e9, 64), rel=1e-5)
    # no experts given: the dense all-reduce of all 10B gradients over 64 ranks, as before
    assert float(_step().data_parallel_s) == pytest.approx(ring(2 * 10e9, 64), rel=1e-5)


def test_experts_held_whole_on_every_rank_give_the_dense_step_bit_for_bit():
    dense = _step()
    same = _step(moe.Experts(parameters=0.0, parallel=1.0, layers=24.0, per_token=2.0, all_to_alls_per_layer=4.0, all_to_all_overlap_fraction=0.0))
    assert float(same.step_s) == float(dense.step_s) and float(same.data_parallel_s) == float(dense.data_parallel_s)


def test_dense_layouts_report_no_expert_parallelism():
    plan = _plan(np.array([1e9, 7e10]), np.array([8.0, 1024.0]))
    np.testing.assert_array_equal(plan.expert_parallel, [1.0, 1.0])
    np.testing.assert_array_equal(plan.expert_parameters, [0.0, 0.0])


def test_a_moe_that_fits_only_with_expert_parallelism():
    # 2.5T parameters, 1.3B active, top-1 of 2048 experts (a Switch-like shape) on 4,096 A100s. The
    # active size gives 19 layers, so p <= 16 and t·p <= 128: 4 x 2.5T / 128 = 78 GB of bf16 weights
    # and gradients per device is more than 0.9 x 80 GB on any tensor/pipeline layout.
    n, active, e_count, devices = 2.5e12, 1.3e9, 2048, 4096.0
    with pytest.raises(CarbonMCError, match="does not fit"):
        _plan(n, devices, active_parameters=active)
    plan = _plan(n, devices, active_parameters=active, experts=e_count, experts_per_token=1)
    t, p, d, e = (float(v[0]) for v in (plan.tensor_parallel, plan.pipeline_parallel, plan.data_parallel, plan.expert_parallel))
    assert e > 1 and d % e == 0 and e_count % e == 0 and t * p * d == devices
    assert plan.memory_gb[0] <= 0.9 * 80
    n_exp = (n - active) * e_count / (e_count - 1)
    assert plan.expert_parameters[0] == pytest.approx(n_exp, rel=1e-12)
    # the same (t, p, d) without expert sharding holds 4·N_exp/(t·p)·(1 - 1/e) bytes more
    full = bool(plan.full_recompute[0])
    at = lambda e_: float(par.memory_per_device_gb(n, plan.layers[0], plan.hidden[0], 4096.0, t, p, d,  # noqa: E731
                                                   2.0**22 / (4096 * d), full, expert_parameters=n_exp, expert_parallel=e_))
    assert at(e) == pytest.approx(plan.memory_gb[0], rel=1e-5)
    assert at(1.0) - at(e) == pytest.approx(4 * n_exp / (t * p) * (1 - 1 / e) / 1e9, rel=1e-4)
    assert at(1.0) > 0.9 * 80


def test_planner_refuses_incomplete_or_impossible_routing():
    with pytest.raises(CarbonMCError, match="together"):
        _plan(47e9, 64.0, experts=8, experts_per_token=2)  # no active count
    with pytest.raises(CarbonMCError, match="together"):
        _plan(47e9, 64.0, active_parameters=13e9, experts=8)
    with pytest.raises(CarbonMCError, match="experts_per_token < experts"):
        _plan(47e9, 64.0, active_parameters=13e9, experts=8, experts_per_token=8)
    with pytest.raises(CarbonMCError, match="at least experts_per_token/experts"):
        _plan(47e9, 64.0, active_parameters=5e9, experts=8, experts_per_token=2)  # 5B < 2/8 of 47B
    with pytest.raises(CarbonMCError, match="moe_layer_fraction"):
        _plan(47e9, 64.0, active_parameters=13e9, experts=8, experts_per_token=2, moe_layer_fraction=1.5)


def _states_gb(n, n_exp, t, p, d, e):
    """Weights, gradients and optimizer states per device: memory less the activations (those of N = 0)."""
    args = (1, 1024, 1024, t, p, d, 1, True)
    return float(par.memory_per_device_gb(n, *args, expert_parameters=n_exp, expert_parallel=e)
                 - par.memory_per_device_gb(0.0, *args))


def test_deepseek_v3_published_layout_fits_only_with_expert_parallelism():
    # 2,048 H800 (80 GB): 16-way pipeline, 64-way expert parallelism, ZeRO-1 data parallelism, no
    # tensor parallelism (DeepSeek-AI 2024, arXiv:2412.19437, §3.2), so d = 128.
    n, n_exp, t, p, d = 671e9, float(moe.expert_parameters(671e9, 37e9, 256, 8)), 1, 16, 128
    shared = n - n_exp
    published = _states_gb(n, n_exp, t, p, d, 64)
    assert published == pytest.approx((4 * shared / 16 + 4 * n_exp / (16 * 64) + 12 * n / 2048) / 1e9, rel=1e-5)
    assert published < 11.0  # 4.1 + 2.6 + 3.9 GB: room for activations on an 80 GB device
    assert _states_gb(n, n_exp, t, p, d, 1) > 160.0  # every expert's weights on every stage: 2x the device


def test_gshard_600b_published_layout_fits_only_with_expert_parallelism():
    # 2,048 experts, top-2, one expert per TPU v3 core: 2 per chip on 1,024 chips of 32 GB
    # (Lepikhin et al. 2020, arXiv:2006.16668); 619B parameters, 0.25% active (Patterson et al.
    # 2021, arXiv:2104.10350, Table 4). Adam's 12 bytes per parameter is an upper bound: GShard used
    # the factored Adafactor.
    n, active = 619e9, 0.0025 * 619e9
    n_exp = float(moe.expert_parameters(n, active, 2048, 2))
    published = _states_gb(n, n_exp, 1, 1, 1024, 1024)
    assert published == pytest.approx((4 * (n - n_exp) + 4 * n_exp / 1024 + 12 * n / 1024) / 1e9, rel=1e-5)
    assert published < 0.5 * 32  # 3.8 + 2.4 + 7.3 GB
    assert _states_gb(n, n_exp, 1, 1, 1024, 1) > 70 * 32  # 4 bytes x 619B = 2.5 TB on every chip


def test_scaling_sweep_with_experts_end_to_end(tmp_path, capsys):
    out = tmp_path / "moe.nc"
    code = main(["scaling", "--parameters", "2.5e12", "--active-parameters", "1.3e9", "--experts", "2048",
                 "--experts-per-token", "1", "--devices", "4096", "--hardware", "a100_80gb", "--draws", "16",
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "layout of the largest model on a100_80gb" in printed and "e=" in printed
    ds = carbon_mc.load_dataset(out)
    e, d = float(ds["expert_parallel"].values[0, 0]), float(ds["data_parallel"].values[0, 0])
    assert e > 1 and d % e == 0
    assert ds["expert_parallel"].attrs["role"] == "layout"
    np.testing.assert_array_equal(ds["devices"].values, ds["tensor_parallel"] * ds["pipeline_parallel"] * ds["data_parallel"])
    assert float(ds["parameters"].values[0]) == 2.5e12 and float(ds["active_parameters"].values[0]) == 1.3e9
    assert float(ds["memory_per_device_gb"].values[0, 0]) <= 80
    # compute follows the active parameters: 6 x 1.3e9 x tokens x (1 + delta)
    flop = ds["train_flop"].isel(size=0, hardware=0).values
    delta = ds["flops_overhead_fraction"].isel(hardware=0)
    delta = (delta.isel(size=0) if "size" in delta.dims else delta).values  # a drawn input, or an output per size
    np.testing.assert_allclose(flop, 6 * 1.3e9 * ds["tokens"].isel(size=0, hardware=0).values * (1 + delta), rtol=1e-4)


@pytest.mark.parametrize("flags, message", [
    (["--experts", "64"], "needs active_parameters, experts and experts_per_token together"),
    (["--active-parameters", "1e9", "--experts", "64", "--experts-per-token", "2"], "at least experts_per_token/experts"),
    (["--active-parameters", "2e12", "--experts", "64", "--experts-per-token", "2"], "at most parameters"),
])
def test_scaling_cli_refuses_bad_expert_settings(flags, message, capsys):
    assert main(["scaling", "--parameters", "1e12", "--draws", "16", *flags]) == 2
    assert message in capsys.readouterr().err


def test_dense_sweep_reports_expert_parallel_one():
    ds = scaling_sweep([1e9, 1e11], hardware=["h100_sxm"], num_draws=16, seed=0)
    np.testing.assert_array_equal(ds["expert_parallel"].values, 1.0)
    np.testing.assert_array_equal(ds["expert_parameters"].values, 0.0)
    assert "active_parameters" not in ds.coords and "mixture_of_experts" not in ds.attrs


def test_bundled_moe_runs_carry_their_expert_counts():
    got = {name: (s.experts, s.experts_per_token) for name in ("glam_64b64e", "gshard_600b", "switch_transformer", "olmoe_0924")
           for s in [carbon_mc.load_scenario(name)]}
    assert got == {"glam_64b64e": (64, 2), "gshard_600b": (2048, 2), "switch_transformer": (2048, 1), "olmoe_0924": (64, 8)}
    dense = carbon_mc.load_scenario("gpt3_175b")
    assert (dense.experts, dense.experts_per_token) == (None, None)


def test_a_scenario_s_experts_drive_the_planner():
    s = carbon_mc.load_scenario("olmoe_0924")  # 6.9B in all, 1.3B active, 8 of 64 experts
    plan = _plan(s.parameters, 64.0, active_parameters=s.active_parameters, experts=s.experts,
                 experts_per_token=s.experts_per_token)
    assert plan.expert_parameters[0] == pytest.approx((6.9e9 - 1.3e9) * 64 / 56, rel=1e-12)
    assert plan.memory_gb[0] <= 0.9 * 80


MOE_RUN = """
    [run]
    name = "x"
    hardware = "h100_sxm"
    device_hours = 10
    {body}
"""


@pytest.mark.parametrize("body, message", [
    ('parameters = 2e9\nexperts = 8\nexperts_per_token = 2', "run.experts: a dense run has no 'experts'"),
    ('parameters = 2e9\nactive_parameters = 1e9\nexperts = 8',
     "run.experts_per_token: 'experts' and 'experts_per_token' go together"),
    ('architecture = "moe"\nexperts_per_token = 2', "run.experts: 'experts' and 'experts_per_token' go together"),
    ('architecture = "moe"\nexperts = 8\nexperts_per_token = 8', "experts_per_token = 8 must be less than experts = 8"),
    ('architecture = "moe"\nexperts = 8.5\nexperts_per_token = 2', "run.experts: must be a whole number"),
    ('architecture = "moe"\nexperts = 0\nexperts_per_token = 2', "run.experts: must be a finite number > 0"),
    ('parameters = 8e9\nactive_parameters = 1e9\nexperts = 8\nexperts_per_token = 2', "shared part would be negative"),
])
def test_bad_expert_fields(write_toml, body, message):
    with pytest.raises(CarbonMCError, match=message):
        carbon_mc.load_scenario(write_toml(MOE_RUN.format(body=body)))
