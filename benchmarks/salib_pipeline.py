"""The SALib contestant of the sensitivity benchmark, run as a whole process.

SALib's own pipeline on the scenario's model: ``sobol.sample`` (Saltelli design, first and total
order), each column through its prior's inverse CDF (SciPy), the model in NumPy
(benchmarks/numpy_script.py), ``sobol.analyze`` with the same number of bootstrap resamples as
carbon-mc. Prints the total-order indices as JSON.

    python benchmarks/salib_pipeline.py SPEC.json BASE_DRAWS [RESAMPLES]
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import scipy.stats as st
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import sobol as sobol_sample

from numpy_script import headline


def ppf(family: str, s: dict, u: np.ndarray) -> np.ndarray:
    if family == "uniform":
        return st.uniform(s["low"], s["high"] - s["low"]).ppf(u)
    if family == "normal":
        return st.norm(s["loc"], s["scale"]).ppf(u)
    if family == "lognormal":
        return st.lognorm(s=s["sigma"], scale=s["median"]).ppf(u)
    if family == "triangular":
        width = s["high"] - s["low"]
        return st.triang((s["mode"] - s["low"]) / width, loc=s["low"], scale=width).ppf(u)
    if family == "truncated_normal":
        a = -math.inf if s["low"] is None else (s["low"] - s["loc"]) / s["scale"]
        b = math.inf if s["high"] is None else (s["high"] - s["loc"]) / s["scale"]
        return st.truncnorm(a, b, loc=s["loc"], scale=s["scale"]).ppf(u)
    raise SystemExit(f"no SALib contestant for family {family!r}")


def main(spec_path: str, num_base: int, resamples: int = 1000, output: str = "total_tco2e") -> dict:
    with open(spec_path) as fh:
        spec = json.load(fh)
    names = list(spec["priors"])
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    u = sobol_sample.sample(problem, num_base, calc_second_order=False, seed=0)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    x = {**spec["fixed"], **{n: ppf(*spec["priors"][n], u[:, i]) for i, n in enumerate(names)}}
    y = np.asarray(headline(spec["run"], x)[output], np.float64)
    si = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=resamples, seed=0)
    return dict(zip(names, map(float, si["ST"])))


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(float(sys.argv[2])), int(sys.argv[3]) if len(sys.argv) > 3 else 1000)))
