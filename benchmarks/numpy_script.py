"""The plain-NumPy contestant of the latency benchmark, run as a whole process.

What a careful analyst would write without carbon-mc: the scenario's priors (written to a JSON spec
by bench_latency.py beforehand, not timed), NumPy's ``default_rng``, float64 whole arrays, the same
equations (carbon-mc's footprint functions are plain arithmetic, imported without JAX) and exact
summaries (one sort, partition quantiles, the 90% HDI). Prints one JSON object of the headline
summaries.

    python benchmarks/numpy_script.py SPEC.json DRAWS [SEED]
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
from scipy.special import ndtr, ndtri

from carbon_mc.footprint import compute, emissions, energy

CHUNK = 1 << 22
QUANTILES = {"median": 0.5, "p5": 0.05, "p95": 0.95, "p2_5": 0.025, "p97_5": 0.975}


def draw_inputs(priors: dict, rng: np.random.Generator, n: int) -> dict:
    x = {}
    for name, (family, s) in priors.items():
        if family == "uniform":
            x[name] = rng.uniform(s["low"], s["high"], n)
        elif family == "normal":
            x[name] = rng.normal(s["loc"], s["scale"], n)
        elif family == "lognormal":
            x[name] = rng.lognormal(math.log(s["median"]), s["sigma"], n)
        elif family == "triangular":
            x[name] = rng.triangular(s["low"], s["mode"], s["high"], n)
        elif family == "truncated_normal":
            a = -math.inf if s["low"] is None else (s["low"] - s["loc"]) / s["scale"]
            b = math.inf if s["high"] is None else (s["high"] - s["loc"]) / s["scale"]
            pa, pb = ndtr(a), ndtr(b)
            x[name] = s["loc"] + s["scale"] * ndtri(pa + rng.random(n) * (pb - pa))
        else:
            raise SystemExit(f"no NumPy contestant for family {family!r}")
    return x


def headline(run: dict, x: dict) -> dict:
    if run["device_hours"] is not None:
        hours = run["device_hours"]
    else:
        flop = run["train_flops"] or compute.train_flop_from_params_tokens(run["parameters"], run["tokens"], x["flops_overhead_fraction"])
        hours = compute.device_hours_from_flop(flop, run["peak_flop_per_s"], x["mfu_fraction"])
    power = energy.accelerator_power_w(run["tdp_w"], x["accelerator_power_tdp_fraction"])
    it = energy.it_energy_mwh(hours, power, x["server_power_w_per_device"])
    e = energy.facility_energy_mwh(it, x["pue"]) if run["pue_included"] else it
    op = emissions.operational_tco2e(e, x["grid_gco2_per_kwh"])
    slot = emissions.embodied_kgco2e_per_device_total(x["embodied_kgco2e_per_device"], x["embodied_kgco2e_per_server"], run["devices_per_server"])
    emb = emissions.embodied_tco2e(hours, slot, x["service_life_years"], x["lifetime_utilization_fraction"])
    return {"energy_mwh": e, "operational_tco2e": op, "embodied_tco2e": emb, "total_tco2e": op + emb}


def describe(v: np.ndarray) -> dict:
    x = np.sort(v)
    out = {"mean": float(x.mean()), "sd": float(x.std(ddof=1))}
    out.update({k: float(np.quantile(x, q)) for k, q in QUANTILES.items()})
    k = int(0.9 * x.size)
    i = int(np.argmin(x[k:] - x[: x.size - k]))
    out["hdi90_lower"], out["hdi90_upper"] = float(x[i]), float(x[i + k])
    return out


def main(spec_path: str, num_draws: int, seed: int = 0) -> dict:
    with open(spec_path) as fh:
        spec = json.load(fh)
    rng = np.random.default_rng(seed)
    keep = {k: np.empty(num_draws) for k in ("energy_mwh", "operational_tco2e", "embodied_tco2e", "total_tco2e")}
    for start in range(0, num_draws, CHUNK):
        n = min(CHUNK, num_draws - start)
        x = {**spec["fixed"], **draw_inputs(spec["priors"], rng, n)}
        for k, v in headline(spec["run"], x).items():
            keep[k][start : start + n] = v
    return {k: describe(v) for k, v in keep.items()}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(float(sys.argv[2])), int(sys.argv[3]) if len(sys.argv) > 3 else 0)))
