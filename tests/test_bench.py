"""The benchmark's contestants compute what the engine computes (timings live in BENCHMARKS.md, not here)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from carbon_mc.sampling.benchmark import numpy_headline, numpy_inputs, numpy_model_check, numpy_reference
from carbon_mc.cli import main
from carbon_mc.sampling import build_simulator, stream_summary
from carbon_mc.footprint import HEADLINE

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.mark.parametrize("scenario", sorted(p.stem for p in MODELS.glob("*.toml")))
def test_numpy_reference_model_is_the_engines_model(scenario):
    # the same inputs through both models, for every bundled scenario: float64 against float32 arithmetic
    assert numpy_model_check(build_simulator(scenario), num_draws=1024) < 1e-5


def test_numpy_reference_draws_the_same_distributions_as_the_engine():
    model = build_simulator("llama_65b")
    n = 1 << 18
    ref = numpy_reference(model, n, seed=3)
    eng = stream_summary(model, num_draws=n, seed=3, variables=list(HEADLINE)).to_dataset()
    sample = numpy_headline(model, numpy_inputs(model, np.random.default_rng(4), n))
    for k in HEADLINE:
        sd = float(np.std(sample[k]))
        se = sd * math.sqrt(2.0 / n)  # two independent means of n draws
        assert abs(float(eng[k].sel(stat="mean")) - ref[k]["mean"]) < 5 * se, k
        # a sample sd of n draws has a standard error of about sd * sqrt((kurtosis - 1) / 4n)
        kurtosis = float(np.mean((sample[k] - np.mean(sample[k])) ** 4)) / sd**4
        se_sd = sd * math.sqrt(2 * (kurtosis - 1) / (4 * n))
        assert abs(float(eng[k].sel(stat="sd")) - ref[k]["sd"]) < 5 * se_sd, k


def test_bench_cli_reports_every_contestant_and_ratio(capsys):
    code = main(["bench", "--draws", "131072", "--numpyro-draws", "256", "--repeats", "1", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    contestants = {"engine", "floor", "uniforms_only", "jax_random_uniform", "numpy_uniform_f64", "numpy", "numpyro_predictive"}
    assert set(result["draws_per_s"]) == contestants
    assert all(v > 0 and math.isfinite(v) for v in result["draws_per_s"].values())
    r, rate = result["ratios"], result["draws_per_s"]
    assert math.isclose(r["engine_over_floor"], rate["engine"] / rate["floor"])
    assert math.isclose(r["engine_over_uniforms_only"], rate["engine"] / rate["uniforms_only"])
    assert result["targets"] == {"engine_over_numpy": 2.0, "engine_over_floor": 0.6, "engine_over_numpyro_predictive": 100.0}
    assert result["machine"]["device"].startswith("1 x cpu")
