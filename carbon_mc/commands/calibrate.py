"""`carbon-mc calibrate`: condition the priors on the published runs whose energy was measured."""

from __future__ import annotations

import argparse

import numpy as np
from rich.table import Table

from ..errors import CarbonMCError
from ..io import check_writable
from ._common import fmt, positive_int, print_json, require_suffix, stdout


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="calibrate the priors on measured training runs (NumPyro, NUTS)",
        description="Fit the hierarchical calibration model to every scenario whose [reported] energy was measured "
                    "(basis = \"measured\") with NUTS, check r_hat and bulk ESS, and write the posterior as "
                    "InferenceData (netCDF) for `carbon-mc run FILE --calibrated`.",
    )
    p.add_argument("--out", default="calibration.nc", help="posterior file to write (.nc; default calibration.nc)")
    p.add_argument("--models", metavar="DIR", help="directory of scenario files (default: the bundled models/)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--chains", type=positive_int, default=4, help="NUTS chains (default 4)")
    p.add_argument("--warmup", type=positive_int, default=500, help="warm-up iterations per chain (default 500)")
    p.add_argument("--samples", type=positive_int, default=1000, help="kept iterations per chain (default 1000)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.set_defaults(handler=handle)


def _interval(values: np.ndarray) -> dict:
    p5, p50, p95 = np.quantile(np.asarray(values, np.float64).ravel(), [0.05, 0.5, 0.95])
    return {"median": float(p50), "p5": float(p5), "p95": float(p95)}


def report(idata, table) -> dict:
    """JSON-ready summary of a calibration: diagnostics, and per calibrated class prior vs posterior."""
    from ..calibrate import CALIBRATED, diagnostics, groups

    g = groups(idata)
    diag = diagnostics(idata)
    r_hat = max(float(diag[v].max()) for v in diag.data_vars if v.endswith("_r_hat"))
    ess = min(float(diag[v].min()) for v in diag.data_vars if v.endswith("_ess_bulk"))
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
    attrs = g["posterior"].attrs
    return {
        "runs": len(g["observed_data"]["run"]),
        "settings": {k: attrs[k] for k in ("seed", "num_chains", "num_warmup", "num_samples", "target_accept_prob")},
        "diagnostics": {"max_r_hat": r_hat, "min_ess_bulk": ess, "divergences": int(diag.attrs["divergences"]),
                        "draws": int(g["posterior"].sizes["chain"] * g["posterior"].sizes["draw"])},
        "classes": classes,
    }


def handle(args: argparse.Namespace) -> int:
    from .. import load_priors
    from ..calibrate import Calibrator, measured_runs, save_calibration

    require_suffix(args.out, (".nc",), "--out")
    check_writable(args.out)
    table = load_priors()
    runs = measured_runs(args.models, priors=table)
    cal = Calibrator(runs, priors=table, num_chains=args.chains, num_warmup=args.warmup, num_samples=args.samples)
    if not args.json:
        stdout.print(f"calibrating on {len(runs)} measured runs: {args.chains} chains x ({args.warmup} warm-up + {args.samples}) NUTS iterations")
    idata = cal.fit(seed=args.seed)
    save_calibration(idata, args.out)
    rep = report(idata, table)
    if args.json:
        print_json({**rep, "out": args.out})
        return 0
    d = rep["diagnostics"]
    table_out = Table(title=f"Calibrated factors ({rep['runs']} measured runs; new run of the class vs prior, median and 90%)")
    for col in ("quantity", "class", "runs", "prior", "class value", "new run"):
        table_out.add_column(col, justify="right" if col == "runs" else "left")
    for c in rep["classes"]:
        def show(s):
            return f"{fmt(s['median'])} ({fmt(s['p5'])} – {fmt(s['p95'])})"
        table_out.add_row(c["quantity"], c["class"], str(c["measured_runs"]), show(c["prior"]), show(c["class_value"]), show(c["new_run"]))
    stdout.print(table_out)
    ok = d["max_r_hat"] <= 1.01 and d["min_ess_bulk"] >= 400
    stdout.print(f"diagnostics: max r_hat {d['max_r_hat']:.4f}, min bulk ESS {d['min_ess_bulk']:.0f} of {d['draws']} draws, "
                 f"{d['divergences']} divergent transitions" + ("" if ok else "  [below r_hat <= 1.01 / ESS >= 400: draw more samples]"))
    stdout.print(f"posterior written to {args.out}")
    if not ok:
        raise CarbonMCError(f"the fit did not converge well enough (max r_hat {d['max_r_hat']:.4f}, min bulk ESS {d['min_ess_bulk']:.0f}); "
                            f"{args.out} was written, but try more --samples or --warmup")
    return 0
