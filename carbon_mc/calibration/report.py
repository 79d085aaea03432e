"""What a calibration says, and whether to trust it: the convergence thresholds and the calibration report.

`CONVERGENCE` holds the thresholds every sampled latent must meet (split r_hat at most 1.01, bulk
ESS at least 400; Vehtari et al. 2021, "Rank-normalization, folding, and localization", §4).
``carbon-mc calibrate`` reports a fit against them (`calibrate_and_save`), and
``carbon-mc run --calibrated`` refuses a posterior that fails them
(`carbon_mc.calibration.posterior.check_converged`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..priors import PriorTable, load_priors
from .design import CALIBRATED, GLOBAL, MFU_SLOPE, measured_runs
from .fit import DEFAULTS, Calibrator
from .inference_data import diagnostics, groups, save_calibration

__all__ = ["CONVERGENCE", "calibrate_and_save", "calibration_report", "convergence", "convergence_problem"]

CONVERGENCE = {"max_r_hat": 1.01, "min_ess_bulk": 400}


def convergence(idata) -> dict:
    """The worst r_hat and bulk ESS over every sampled latent, the divergent transitions and the draws."""
    g = groups(idata)
    diag = diagnostics(idata)
    return {
        "max_r_hat": max(float(diag[v].max()) for v in diag.data_vars if str(v).endswith("_r_hat")),
        "min_ess_bulk": min(float(diag[v].min()) for v in diag.data_vars if str(v).endswith("_ess_bulk")),
        "divergences": int(diag.attrs["divergences"]),
        "draws": int(g["posterior"].sizes["chain"] * g["posterior"].sizes["draw"]),
    }


def convergence_problem(summary: dict) -> str | None:
    """None if `summary` (from `convergence`) meets `CONVERGENCE`; else what fails, in words.

    A NaN r_hat or ESS (a latent stuck, or a single draw) fails.
    """
    r_hat, ess = summary["max_r_hat"], summary["min_ess_bulk"]
    if r_hat <= CONVERGENCE["max_r_hat"] and ess >= CONVERGENCE["min_ess_bulk"]:
        return None
    return (f"max r_hat {r_hat:.4f}, min bulk ESS {ess:.0f}; needs r_hat <= {CONVERGENCE['max_r_hat']} "
            f"and ESS >= {CONVERGENCE['min_ess_bulk']}")


def _interval(values: np.ndarray) -> dict:
    p5, p50, p95 = np.quantile(np.asarray(values, np.float64).ravel(), [0.05, 0.5, 0.95])
    return {"median": float(p50), "p5": float(p5), "p95": float(p95)}


def _classes(g: dict, table: PriorTable) -> list[dict]:
    """Per calibrated class with a new-run predictive: prior, class value and new run (median and 90%)."""
    u = (np.arange(20_000) + 0.5) / 20_000
    classes = []
    for q in CALIBRATED:
        var = f"{q}_new_run"
        if var not in g["posterior_predictive"]:
            continue
        dim = table.quantity(q).selected_by
        for cls in g["posterior_predictive"][var].coords[dim].values:
            cls = str(cls)
            classes.append({
                "quantity": q, "selector": dim, "class": cls, "units": table.quantity(q).units,
                "measured_runs": int(g["constant_data"][f"{q}_class_runs"].sel({dim: cls})),
                "prior": _interval(np.asarray(table.quantity(q).variants[cls].icdf(u))),
                "class_value": _interval(g["posterior"][f"{q}_class"].sel({dim: cls}).values),
                "new_run": _interval(g["posterior_predictive"][var].sel({dim: cls}).values),
            })
    return classes


def _shared(g: dict, table: PriorTable) -> list[dict]:
    """Per one-value quantity (device-time overhead, MoE MFU ratio, MFU size slope) the fit sampled: prior and
    posterior (median and 90%), and how many observed runs inform it (runs with an MFU of their own: device
    time derived, or published beside the run's compute; the MoE ones for the ratio, those below the
    reference size for the slope)."""
    u = (np.arange(20_000) + 0.5) / 20_000
    out = []
    for q in (*GLOBAL, MFU_SLOPE):
        if q not in g["posterior"] or f"{q}_runs" not in g["constant_data"]:
            continue
        meta = table.quantity(q)
        out.append({"quantity": q, "units": meta.units, "measured_runs": int(g["constant_data"][f"{q}_runs"]),
                    "prior": _interval(np.asarray(meta.variants["default"].icdf(u))), "posterior": _interval(g["posterior"][q].values)})
    return out


def calibration_report(idata, table: PriorTable | None = None) -> dict:
    """JSON-ready summary of a calibration: diagnostics, and per calibrated class prior vs posterior.

    Keys: ``runs``, ``settings``, ``diagnostics`` (`convergence`), ``classes`` and ``shared`` (the
    one-value quantities: whole-run device-time overhead, MoE MFU ratio, MFU size slope).
    """
    table = table or load_priors()
    g = groups(idata)
    attrs = g["posterior"].attrs
    return {
        "runs": len(g["observed_data"]["run"]),
        "settings": {k: attrs[k] for k in ("seed", "num_chains", "num_warmup", "num_samples", "target_accept_prob")},
        "diagnostics": convergence(idata),
        "classes": _classes(g, table),
        "shared": _shared(g, table),
    }


def calibrate_and_save(
    out: str | Path,
    *,
    models: str | Path | None = None,
    seed: int = DEFAULTS["seed"],
    num_chains: int = DEFAULTS["num_chains"],
    num_warmup: int = DEFAULTS["num_warmup"],
    num_samples: int = DEFAULTS["num_samples"],
    priors: PriorTable | None = None,
    on_start: Callable[[int], None] | None = None,
) -> dict:
    """Fit the calibration on the measured runs of `models`, write it to `out`, and report it.

    What ``carbon-mc calibrate`` does. `on_start(num_runs)` is called before sampling. The file is
    written whether or not the fit converged; check ``convergence_problem(report["diagnostics"])``.

    Returns:
      `calibration_report` of the fit.

    Raises:
      CarbonMCError: no measured run in `models`, a run the model cannot take, or `out` not writable.
    """
    table = priors or load_priors()
    runs = measured_runs(models, priors=table)
    cal = Calibrator(runs, priors=table, num_chains=num_chains, num_warmup=num_warmup, num_samples=num_samples)
    if on_start is not None:
        on_start(len(runs))
    idata = cal.fit(seed=seed)
    save_calibration(idata, out)
    return calibration_report(idata, table)
