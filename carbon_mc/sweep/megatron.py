"""The parallelism module against Megatron-LM's published throughput table."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from ..footprint import parallelism as par
from ..priors import PriorTable, load_priors
from ..sampling import BLOCK, uniforms
from ..sampling.args import check_num_draws, check_priors, check_seed
from .quantities import context, draws_of, median, priors_for


# ------------------------------------------------------------------------------------------------
# check of the parallelism module against Megatron-LM
# ------------------------------------------------------------------------------------------------
def megatron_check(*, num_draws: int = 4096, seed: int = 0, priors: PriorTable | None = None) -> xr.Dataset:
    """Predicted against published achieved TFLOP/s per GPU for the 10 rows of Megatron-LM's Table 1.

    Each row's own layout (t, p, GPUs, batch of 2048-token sequences, micro-batch of one sequence,
    full activation recomputation as in the paper) on `a100_80gb`, with the paper's FLOP count
    (`parallelism.megatron_flop_per_token`). The draws come from the same priors as the sweep
    (`kernel_peak_fraction` for the ampere_hopper class, `memory_bound_hidden_size`,
    `link_bandwidth_fraction`, `comm_overlap_fraction`); none was fitted to this table.

    Returns a Dataset over ``row`` with the observed value, the prediction at the prior medians,
    the 5th/50th/95th percentiles over draws, and attributes ``mape_percent`` (at the medians) and
    ``coverage_90`` (share of rows inside the 90% interval).

    Raises:
      InputError: a bad draw count or seed.
    """
    check_num_draws(num_draws), check_seed(seed), check_priors(priors)
    table = priors or load_priors()
    spec = table.hardware_spec("a100_80gb")
    hw = par.Hardware.from_spec(spec)
    ctx = context(table, "a100_80gb", "world", "hyperscale", "besiroglu_2024")
    names = ("kernel_peak_fraction", "memory_bound_hidden_size", "link_bandwidth_fraction", "comm_overlap_fraction")
    pri = priors_for(table, names, ctx)
    meg = par.load_megatron_table()
    s = float(par.MEGATRON_SEQUENCE_LENGTH)
    layers, hidden = meg["layers"], meg["hidden"]
    fpt = par.megatron_flop_per_token(layers, hidden, s, par.MEGATRON_VOCABULARY)
    t, p, n = meg["tensor_parallel"], meg["pipeline_parallel"], meg["gpus"]
    nblocks = math.ceil(num_draws / BLOCK)

    def predict(values):
        step = par.training_step(
            parameters=meg["parameters_billion"] * 1e9, layers=layers, hidden=hidden, sequence_length=s,
            batch_tokens=meg["batch_sequences"] * s, tensor_parallel=t, pipeline_parallel=p, data_parallel=n / (t * p),
            model_flop_per_token=fpt * 0.75, hardware_flop_per_token=fpt,
            allreduces_per_layer=par.TP_ALLREDUCES_PER_LAYER_FULL_RECOMPUTE, hardware=hw, **values,
        )
        return np.asarray(step.hardware_flop_fraction, np.float64) * hw.peak_flop_per_s / 1e12

    at_median = predict({k: median(v) for k, v in pri.items()})
    draws = {k: np.asarray(draws_of(v, uniforms(seed, k, 0, nblocks)), np.float64)[:num_draws, None] for k, v in pri.items()}
    sampled = predict(draws)  # (draw, row)
    observed = meg["tflop_per_s_per_gpu"]
    q = np.percentile(sampled, [5, 50, 95], axis=0)
    mape = float(np.mean(np.abs(at_median - observed) / observed) * 100)
    coverage = float(np.mean((observed >= q[0]) & (observed <= q[2])))
    units = {"units": "TFLOP s-1", "long_name": "achieved TFLOP/s per GPU (Megatron FLOP count, with recomputation)"}
    return xr.Dataset(
        {
            "observed": ("row", observed, units),
            "predicted_at_median": ("row", at_median, units),
            "predicted_p5": ("row", q[0], units),
            "predicted_median": ("row", q[1], units),
            "predicted_p95": ("row", q[2], units),
        },
        coords={"row": np.arange(observed.size), "parameters_billion": ("row", meg["parameters_billion"]),
                "tensor_parallel": ("row", t), "pipeline_parallel": ("row", p), "gpus": ("row", n)},
        attrs={"mape_percent": mape, "coverage_90": coverage, "num_draws": int(num_draws), "seed": int(seed),
               "source": "Narayanan et al. 2021, arXiv:2104.04473, Table 1"},
    )
