"""`carbon-mc scaling`: CO2e against loss and accuracy over model sizes and accelerator generations."""

from __future__ import annotations

import argparse
import math

from rich.table import Table

from ..errors import CarbonMCError
from ..io.files import check_writable
from ..options import (
    BATCH_POLICIES,
    CRITICAL_BATCH_LAWS,
    DEFAULT_HARDWARE,
    DEFAULT_PARAMETERS,
    SCALING_FITS,
    UTILIZATIONS,
)
from .common import (
    add_priors_flag,
    fmt,
    positive_float,
    positive_int,
    print_json,
    priors_table,
    require_suffix,
    save_plot,
    stdout,
)

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _numbers(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1e9,1e10, got {text[:60]!r}") from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text[:60]!r}")
    if any(v > 1e30 for v in values):
        raise argparse.ArgumentTypeError(f"{max(values):g} is beyond the range the float32 engine carries (at most 1e30)")
    return values


def _names(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated accelerator keys, e.g. v100,a100_80gb,h100_sxm,b200")
    return names


def register(sub) -> None:
    p = sub.add_parser(
        "scaling", help="CO2e against loss and accuracy over model sizes and accelerator generations",
        description="Sweep model sizes (or compute budgets) and accelerator generations: loss from the jointly drawn "
                    "scaling-law constants, data from the compute-optimal rule, a memory-feasible tensor/pipeline/data "
                    "layout with its bubble and communication, the critical batch size, then energy and CO2e. Prints "
                    "the fitted carbon-accuracy and carbon-loss exponents with 90% credible intervals.",
    )
    sizes = p.add_mutually_exclusive_group()
    sizes.add_argument("--parameters", type=_numbers, metavar="N,N,...",
                       help=f"model sizes (default {','.join(f'{n:.0e}' for n in DEFAULT_PARAMETERS)})")
    sizes.add_argument("--compute", type=_numbers, metavar="C,C,...", help="compute budgets in FLOP instead of sizes")
    p.add_argument("--hardware", type=_names, default=list(DEFAULT_HARDWARE),
                   help=f"accelerators, one curve each (default {','.join(DEFAULT_HARDWARE)})")
    p.add_argument("--draws", type=positive_int, default=4096, help="Monte Carlo draws (default 4096)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--utilization", choices=UTILIZATIONS, default="realistic",
                   help="realistic (parallelism overheads) or ideal (best kernel efficiency, no losses)")
    p.add_argument("--batch-policy", dest="batch_policy", choices=BATCH_POLICIES, default="critical",
                   help="critical (batch chosen up to the critical batch size; default) or fixed")
    p.add_argument("--critical-batch-law", dest="critical_batch_law", choices=CRITICAL_BATCH_LAWS, default="data_power_law",
                   help="critical batch size growing with data (default) or Kaplan's law in the loss")
    p.add_argument("--scaling-fit", dest="scaling_fit", choices=SCALING_FITS, default="besiroglu_2024",
                   help="loss-law constants (default besiroglu_2024)")
    p.add_argument("--tokens-per-parameter", dest="tokens_per_parameter", type=positive_float,
                   help="train D = ratio x N instead of the compute-optimal D")
    p.add_argument("--devices", type=positive_int,
                   help="devices for every size (a power of two); default: sized for --target-days on an A100 cluster")
    p.add_argument("--target-days", dest="target_days", type=positive_float, default=30.0,
                   help="wall-clock target used to size the clusters (default 30)")
    p.add_argument("--max-devices", dest="max_devices", type=positive_int, default=32768,
                   help="largest cluster, rounded down to a power of two (default 32768); a model whose states need "
                        "more devices gets more, with a note")
    moe = p.add_argument_group("mixture-of-experts", "with --parameters as the totals (experts included): compute, tokens "
                                "and loss follow the active parameters (the dense loss law at that size), memory the "
                                "total, with the experts sharded over an expert-parallel degree e the planner picks")
    moe.add_argument("--active-parameters", dest="active_parameters", type=_numbers, metavar="A,A,...",
                     help="parameters active per token, one per size or one for all")
    moe.add_argument("--experts", type=positive_int, metavar="E", help="experts per MoE layer")
    moe.add_argument("--experts-per-token", dest="experts_per_token", type=positive_int, metavar="K",
                     help="experts each token is routed to (top-k)")
    moe.add_argument("--moe-layer-fraction", dest="moe_layer_fraction", type=positive_float, default=1.0, metavar="F",
                     help="share of layers that are MoE layers (default 1; 0.5 for every other layer)")
    p.add_argument("--region", default="world", help="grid region, a key of priors/grid.toml (default world)")
    p.add_argument("--datacenter", default="hyperscale", help="PUE class, a key of priors/datacenter.toml (default hyperscale)")
    p.add_argument("--out", metavar="NC", help="write every draw to this netCDF file (.nc)")
    p.add_argument("--plot", metavar="PNG", help="write CO2e against loss and accuracy (.png, .pdf or .svg)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_priors_flag(p)
    p.set_defaults(handler=handle)


def _interval(values) -> dict[str, float]:
    import numpy as np

    lo, med, hi = np.percentile(values, [5, 50, 95])
    return {"median": float(med), "p5": float(lo), "p95": float(hi)}


def fits_exponents(ds) -> bool:
    """Whether the sweep has two or more distinct sizes: an exponent is a slope across sizes."""
    import numpy as np

    return int(np.unique(ds["size"].values).size) >= 2


def summary(ds) -> dict:
    """The JSON shape of `carbon-mc scaling --json`: exponents per accelerator with 90% intervals
    (null with fewer than two distinct sizes, which fit no slope), and the largest model's CO2e."""
    from ..sweep import carbon_exponents

    ex = carbon_exponents(ds) if fits_exponents(ds) else None
    out = {}
    for hw in ds["hardware"].values:
        e = None if ex is None else ex.sel(hardware=hw)
        out[str(hw)] = {
            "carbon_accuracy_exponent": None if e is None else _interval(e["carbon_accuracy_exponent"].values),
            "carbon_loss_exponent": None if e is None else _interval(e["carbon_loss_exponent"].values),
            "total_tco2e_largest": _interval(ds["total_tco2e"].sel(hardware=hw).isel(size=-1).values),
        }
    return out


def handle(args: argparse.Namespace) -> int:
    from ..io.files import save_dataset
    from ..sweep import scaling_sweep

    require_suffix(args.out, (".nc",), "--out")
    require_suffix(args.plot, PLOT_SUFFIXES, "--plot")
    for path in (args.out, args.plot):
        if path:
            check_writable(path)
    if args.target_days <= 0:
        raise CarbonMCError(f"--target-days must be > 0, got {args.target_days:g}")
    if args.devices is not None and args.devices & (args.devices - 1):
        raise CarbonMCError(f"--devices must be a power of two, got {args.devices}")
    ds = scaling_sweep(
        args.parameters, compute_budgets_flop=args.compute, hardware=args.hardware, num_draws=args.draws, seed=args.seed,
        utilization=args.utilization, batch_policy=args.batch_policy, scaling_fit=args.scaling_fit,
        critical_batch_law=args.critical_batch_law, tokens_per_parameter=args.tokens_per_parameter, devices=args.devices,
        target_days=args.target_days, max_devices=args.max_devices, region=args.region, datacenter=args.datacenter,
        active_parameters=args.active_parameters, experts=args.experts, experts_per_token=args.experts_per_token,
        moe_layer_fraction=args.moe_layer_fraction, priors=priors_table(args),
    )
    result = summary(ds)
    if args.out:
        save_dataset(ds, args.out)
    if args.plot:
        save_plot("scaling", "plot_carbon_curves", ds, path=args.plot)
    if args.json:
        print_json(result)
        return 0
    table = Table(title=f"CO2e scaling: {args.utilization} utilization, {args.batch_policy} batch, {args.draws:,} draws, seed {args.seed}")
    table.add_column("hardware")
    table.add_column("carbon-accuracy exponent (90% CI)", justify="right")
    table.add_column("carbon-loss exponent (90% CI)", justify="right")
    table.add_column("largest model: t CO2e (90% CI)", justify="right")
    for hw, r in result.items():
        cells = [f"{fmt(r[k]['median'])} ({fmt(r[k]['p5'])} – {fmt(r[k]['p95'])})" if r[k] is not None else "n/a"
                 for k in ("carbon_accuracy_exponent", "carbon_loss_exponent", "total_tco2e_largest")]
        table.add_row(hw, *cells)
    stdout.print(table)
    if fits_exponents(ds):
        stdout.print("exponents: slope of ln total CO2e against ln accuracy, and against ln reducible loss (L - E), fitted per draw")
    else:
        stdout.print("exponents: n/a, a slope needs two or more distinct sizes (give --parameters or --compute with several)")
    if "active_parameters" in ds.coords:
        for hw in ds["hardware"].values:
            lay = ds.sel(hardware=hw).isel(size=-1)
            stdout.print(f"layout of the largest model on {hw}: " + ", ".join(
                f"{k}={int(lay[v])}" for k, v in (("devices", "devices"), ("t", "tensor_parallel"), ("p", "pipeline_parallel"),
                                                  ("d", "data_parallel"), ("e", "expert_parallel")))
                         + f", {float(lay['memory_per_device_gb']):.1f} GB per device")
    for path, what in ((args.out, "draws"), (args.plot, "figure")):
        if path:
            stdout.print(f"{what} written to {path}")
    return 0
