"""Mixture-of-experts decode efficiency, and the measured serving points: what was added, where it comes from."""

import csv
import importlib.util
import tomllib
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from carbon_mc.footprint import serving as sv
from carbon_mc.sampling import build_simulator, draw
from carbon_mc.scenarios.deployment import parse_serving_scenario

REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"
BASE = {"name": "t", "hardware": "h100_sxm", "devices_per_replica": 8, "batch": 256, "days": 1, "replicas": 1,
        "region": "world", "datacenter": "hyperscale"}


def _extractor(version: str = "v3"):
    spec = importlib.util.spec_from_file_location(f"extract_mlenergy_{version}", REFERENCE / f"extract_mlenergy_{version}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_moe_mfu_scales_only_mixture_of_experts():
    mfu = sv.moe_decode_mfu_fraction(jnp.asarray([0.2, 0.2]), 0.25, jnp.asarray([70e9, 235e9]), jnp.asarray([70e9, 22e9]))
    assert mfu.tolist() == pytest.approx([0.2, 0.05])
    # 1 s of dense matrix work takes 4 s at a quarter of the MFU
    dense = sv.decode_compute_s_per_step(22e9, 256.0, 8.0, 989e12, 0.2)
    moe = sv.decode_compute_s_per_step(22e9, 256.0, 8.0, 989e12, float(mfu[1]))
    assert moe == pytest.approx(4.0 * dense)


def test_moe_ratio_drawn_for_moe_only(table):
    moe = parse_serving_scenario({"serving": {**BASE, "parameters": 235e9, "active_parameters": 22e9}}, file="m.toml", table=table)
    dense = parse_serving_scenario({"serving": {**BASE, "parameters": 70e9}}, file="d.toml", table=table)
    assert moe.may_be_moe and "serving_moe_mfu_ratio" in moe.needed_quantities()
    assert not dense.may_be_moe and "serving_moe_mfu_ratio" not in dense.needed_quantities()
    prior = table.quantity("serving_moe_mfu_ratio")
    assert prior.units == "1" and all(p.source.strip() for p in prior.variants.values())
    x, out = draw(build_simulator(moe, priors=table), num_draws=4096, seed=0, method="mc", variables=["decode_tokens_per_s", "serving_moe_mfu_ratio"])
    ratio = np.asarray(x["serving_moe_mfu_ratio"])
    assert np.all((ratio > 0) & (ratio <= 1)) and 0.2 < np.median(ratio) < 0.5
    # the slower MoE draws give fewer tokens/s: rank correlation of ratio and throughput is positive
    tps = np.asarray(out["decode_tokens_per_s"])
    assert np.all(np.isfinite(tps)) and np.corrcoef(np.argsort(np.argsort(ratio)), np.argsort(np.argsort(tps)))[0, 1] > 0.1


def test_extractor_picks_batch_8_nearest_64_and_largest():
    ex = _extractor()
    size = {"total_params_billions": 32.0, "activated_params_billions": 32.0}
    configs = [{"model_id": "org/M", "gpu_model": "H100", "num_gpus": 1, "max_num_seqs": b, **size} for b in (8, 16, 48, 96, 512)]
    configs.append({"model_id": "org/M", "gpu_model": "H100", "num_gpus": 1, "max_num_seqs": 512, "repeat": True, **size})
    picked = [c["max_num_seqs"] for c in ex.chosen(configs)]
    assert picked == [8, 48, 512]  # 48 is 16 from 64, 96 is 32 away
    assert not any(c.get("repeat") for c in ex.chosen(configs))
    # a dense model of at most 15B also gets 16 and 32 where measured; a 30B MoE with 3B active does not
    for total, active, expected in ((8.0, 8.0, [8, 16, 32, 64, 512]), (30.5, 3.3, [8, 64, 512])):
        sized = [{"model_id": "org/S", "gpu_model": "H100", "num_gpus": 1, "max_num_seqs": b,
                  "total_params_billions": total, "activated_params_billions": active} for b in (8, 16, 32, 64, 512)]
        assert [c["max_num_seqs"] for c in ex.chosen(sized)] == expected
    # a dense model of at least 60B gets every batch from 64 up (the large-dense batched regime)
    large = [{**c, "total_params_billions": 70.0, "activated_params_billions": 70.0} for c in configs[:5]]
    assert [c["max_num_seqs"] for c in ex.chosen(large)] == [8, 48, 96, 512]


def test_v2_extractor_takes_large_dense_batches_from_64_counting_pipeline_stages(tmp_path):
    """Every batch from 64 up of a dense model of at least 60B; with PP = 2 a file's bs is per stage, so bs32
    is 64 sequences in flight (the hand-entered rows write it so); an 8B model and batch 32 are left out; a
    configuration already in the file is not written again."""
    ex = _extractor("v2")
    chat = tmp_path / "data" / "llm_text_generation" / "chat"
    record = {"Energy/req (J)": 500.0, "Avg TPOT (s)": 0.1, "Token tput (tok/s)": 1000.0, "Avg Output Tokens": 450.0}
    files = {("H100 80GB HBM3", "Meta-Llama-3.1-70B-Instruct"): ["bs32+tp4+pp1", "bs64+tp4+pp1", "bs768+tp4+pp1"],
             ("H100 80GB HBM3", "Meta-Llama-3.1-405B-Instruct"): ["bs16+tp8+pp2", "bs32+tp8+pp2"],
             ("A100-SXM4-40GB", "Meta-Llama-3.1-8B-Instruct"): ["bs64+tp1+pp1"]}
    for (gpu, model), names in files.items():
        folder = chat / gpu / "meta-llama" / model
        folder.mkdir(parents=True)
        for name in names:
            bs, pp = int(name[2:name.index("+")]), int(name[-1])
            (folder / f"{name}.json").write_text(__import__("json").dumps({**record, "Avg BS (reqs)": bs * pp - 0.5}))
    got = [(c["model"], c["batch"], c["tp"] * c["pp"]) for c in ex.configurations(chat)]
    assert got == [("Meta-Llama-3.1-405B-Instruct", 64, 16), ("Meta-Llama-3.1-70B-Instruct", 64, 4),
                   ("Meta-Llama-3.1-70B-Instruct", 768, 4)]
    rows = [ex.row(c) for c in ex.configurations(chat)]
    assert rows[0]["batch_or_load"].startswith("max batch 64; mean running batch 63.5") and rows[0]["n_devices"] == "16"
    assert rows[1]["notes"].startswith("TP4 PP1;") and "throughput 1000 tok/s" in rows[1]["notes"]
    # the bundled file already has every such configuration of the v2.0 data: keys match the hand-entered rows
    with open(REFERENCE / "inference_measurements.csv", newline="") as fh:
        have = ex.existing_keys(list(csv.DictReader(line for line in fh if not line.startswith("#"))))
    assert ("Meta-Llama-3.1-405B-Instruct", "H100 80GB HBM3", "16", "1024") in have
    assert ("Meta-Llama-3.1-70B-Instruct", "A100-SXM4-40GB", "8", "768") in have


def test_every_measured_row_has_a_documented_source():
    sources = tomllib.loads((REFERENCE / "inference_measurements_sources.toml").read_text())["sources"]
    with open(REFERENCE / "inference_measurements.csv", newline="") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    for r in rows:
        hits = [k for k, s in sources.items() if r["source"].startswith(s["source_starts"])]
        assert len(hits) == 1, r["source"]
    assert all(s["year"] >= 2022 and s["licence"].strip() for s in sources.values())


def test_regimes_have_their_points():
    from carbon_mc.calibration import serving as sc

    d = sc.load_measurements()
    masks = sc.calibration_regimes(d)
    assert len(d.label) == 201
    assert masks["small at low batch, optimised server (<= 15B, batch <= 32)"].sum() == 36
    assert masks["mixture of experts"].sum() >= 30 and masks["large dense, batched (>= 60B, batch >= 64)"].sum() == 59
    with pytest.raises(ValueError, match="valid"):
        sc.validate_regimes(d, regimes=("moe",))
