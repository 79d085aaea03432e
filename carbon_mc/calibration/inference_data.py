"""The samples of a fit as ArviZ InferenceData, on disk as netCDF, and their convergence diagnostics.

`build_inference_data` turns the samples of one fit into the groups posterior,
posterior_predictive, observed_data, constant_data and sample_stats; the runs whose published
device-hours are observed against their compute (dimension ``run_hours``) have their MFU
(``mfu_fraction_hours_run``), their predicted and replicated device-hours and the published ones. ``posterior_predictive`` holds,
for each calibrated quantity and class with data, ``<quantity>_new_run``: the value for a *new* run
of that class (class value plus a fresh run-to-run deviation, for the varying factors only where
some run of the class varied in it), which `carbon_mc.calibration.calibrated_priors` hands to the
engine. `save_calibration` writes one netCDF group per InferenceData group through xarray's
DataTree, which both ArviZ 0.x (InferenceData) and ArviZ 1.x (DataTree) read; `load_calibration`
returns the one the installed ArviZ uses.

ArviZ is imported lazily (`import_arviz`): it is slow to import and only the diagnostics and the
InferenceData container need it.
"""

from __future__ import annotations

import datetime
import json
import warnings
from collections.abc import Mapping
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import xarray as xr

from ..errors import CarbonMCError, shown
from ..io.files import ENGINE, atomic_write
from ..priors import PriorTable
from ..sampling import package_version
from ..sampling.args import check_path
from ..scenarios.training import FLOP_SHAPE_QUANTITIES
from .design import (
    CALIBRATED,
    GLOBAL,
    MFU_REFERENCE,
    MFU_SLOPE,
    POWER_REFERENCE,
    POWER_SLOPE,
    REPORTING_ERROR,
    RUN_SPREAD,
    Design,
    class_selector,
)
from .model import class_site, support_link

__all__ = [
    "CALIBRATION_PRIOR_FILES",
    "build_inference_data",
    "diagnostics",
    "from_groups",
    "groups",
    "import_arviz",
    "load_calibration",
    "save_calibration",
]

# The prior files a calibration depends on; their hashes are stored with it.
CALIBRATION_PRIOR_FILES = ("accelerators.toml", "calibration.toml", "datacenter.toml", "power.toml", "utilization.toml")


def import_arviz():
    """The arviz module, imported on first use (a heavy, slow import that most commands never need)."""
    with warnings.catch_warnings():  # ArviZ 0.2x announces its 1.x refactor with a FutureWarning on import
        warnings.filterwarnings("ignore", category=FutureWarning)
        import arviz

    return arviz


# ------------------------------------------------------------------------------------------------
# Samples -> groups
# ------------------------------------------------------------------------------------------------
def _var(dims, values, units, long_name) -> xr.Variable:
    return xr.Variable(("chain", "draw", *dims), np.asarray(values), {"units": units, "long_name": long_name})


def _run_subsets(d: Design) -> dict[str, list[str]]:
    """The runs of each run-level dimension."""
    return {
        "run": list(d.names),
        "run_power": [d.names[i] for i in np.flatnonzero(d.mfu_run < 0)],
        "run_mfu": [d.names[i] for i in np.flatnonzero(d.mfu_run >= 0)],
        "run_flops": [d.names[i] for i in np.flatnonzero(d.flops_run >= 0)],
        **{f"run_{q}": [d.names[i] for i in np.flatnonzero((d.flops_run >= 0) & np.isnan(d.flop_shape[q]))]
           for q in FLOP_SHAPE_QUANTITIES},
        "run_hours": [d.names[i] for i in np.flatnonzero(d.hours_run >= 0)],
    }


def _class_coords(d: Design, table: PriorTable) -> dict[str, list[str]]:
    return {class_selector(table, q): list(d.classes[q]) for q in CALIBRATED if d.classes[q]}


def _posterior(d: Design, table: PriorTable, samples: dict, base: dict) -> xr.Dataset:
    post = {}
    for q in CALIBRATED:
        if not d.classes[q]:
            continue
        meta, dim = table.quantity(q), class_selector(table, q)
        post[f"{q}_class"] = _var((dim,), np.stack([samples[class_site(q, c)] for c in d.classes[q]], axis=-1),
                                  meta.units, f"{meta.long_name}: typical value of the {dim}")
        if q in RUN_SPREAD and f"{RUN_SPREAD[q]}[{q}]" in samples:
            hyper = table.quantity(RUN_SPREAD[q])
            post[RUN_SPREAD[q]] = _var((dim,), samples[f"{RUN_SPREAD[q]}[{q}]"], hyper.units, hyper.long_name)
    for q, run, dim in (("accelerator_power_tdp_fraction", "run", "run_power"), ("mfu_fraction", "run", "run_mfu"),
                        ("mfu_fraction", "hours_run", "run_hours")):
        if f"{q}_{run}_eta" in samples:
            post[f"{q}_{run}_eta"] = _var((dim,), samples[f"{q}_{run}_eta"], "1", f"sampling coordinate of {q}_{run}_latent (standardised)")
            post[f"{q}_{run}_latent"] = _var((dim,), samples[f"{q}_{run}_latent"], "1",
                                             f"{q} of each run that varies in it ({dim}), on its class prior's unconstrained scale")
    for name in (MFU_SLOPE, POWER_SLOPE, REPORTING_ERROR, *GLOBAL):
        if name in samples:
            meta = table.quantity(name)
            post[name] = _var((), samples[name], meta.units, meta.long_name)
    for q in FLOP_SHAPE_QUANTITIES:  # drawn where a run does not fix them
        if q in samples:
            meta = table.quantity(q)
            post[q] = _var((f"run_{q}",), samples[q], meta.units, meta.long_name)
    if "flops_overhead_fraction" in samples:
        post["flops_overhead_fraction_run"] = _var(("run_flops",), samples["flops_overhead_fraction"], "1",
                                                   "training FLOPs per token beyond 6N (attention and logits), as a fraction of 6N, of each run")
    post["accelerator_power_tdp_fraction_run"] = _var(("run",), samples["accelerator_power_tdp_fraction_run"], "1",
                                                      "accelerator power fraction of each run")
    if "mfu_fraction_run" in samples:
        post["mfu_fraction_run"] = _var(("run_mfu",), samples["mfu_fraction_run"], "1", "MFU of each run whose device time is derived")
    if "mfu_fraction_hours_run" in samples:
        post["mfu_fraction_hours_run"] = _var(("run_hours",), samples["mfu_fraction_hours_run"], "1",
                                              "MFU (dense, before the MoE ratio) of each run whose published device time "
                                              "is observed against its compute")
        post["predicted_device_hours"] = _var(("run_hours",), samples["predicted_device_hours"], "h",
                                              "device-hours of each such run from its compute, its MFU, the MoE ratio and the overhead")
    post["predicted_energy_mwh"] = _var(("run",), samples["predicted_energy_mwh"], "MWh", "energy of each run on the scope of its reported figure")
    used = {dim for v in post.values() for dim in v.dims}
    coords = {k: v for k, v in {**_run_subsets(d), **_class_coords(d, table)}.items() if k in used}
    return xr.Dataset(post, coords={**base, **coords})


def _posterior_predictive(d: Design, table: PriorTable, samples: dict, base: dict, observed: np.ndarray, seed: int) -> xr.Dataset:
    """Replicated figures, and each calibrated quantity for a new run of each class that had data
    (class value plus a fresh run-to-run deviation)."""
    counts = d.class_counts(observed)
    varying = d.varying_counts(observed)  # a new run's spread is learnt only from runs that varied in the quantity
    rng = np.random.default_rng([seed, 1])
    sd = np.sqrt(samples[REPORTING_ERROR][..., None] ** 2 + d.rounding_sd_ln**2)
    replicated = samples["predicted_energy_mwh"] * np.exp(sd * rng.standard_normal(sd.shape))
    pp = {"reported_energy_mwh": xr.DataArray(_var(("run",), replicated, "MWh", "replicated reported energy (reporting and rounding error included)"),
                                              coords={**base, "run": list(d.names)})}
    hours = d.hours_run >= 0
    for q in CALIBRATED:
        keep = [i for i, n in enumerate(varying[q] if q in RUN_SPREAD else counts[q]) if n > 0]
        if not keep:
            continue
        meta, dim = table.quantity(q), class_selector(table, q)
        cols = []
        for i in keep:
            value = samples[class_site(q, d.classes[q][i])]
            if q in RUN_SPREAD:
                link = support_link(meta.variants[d.classes[q][i]])
                spread = samples[f"{RUN_SPREAD[q]}[{q}]"][..., i]
                value = np.asarray(link(link.inv(jnp.asarray(value)) + spread * rng.standard_normal(value.shape)))
            cols.append(value)
        reference = {"mfu_fraction": MFU_REFERENCE, "accelerator_power_tdp_fraction": POWER_REFERENCE}.get(q)
        note = f" (model size at or above {reference})" if reference else ""
        pp[f"{q}_new_run"] = xr.DataArray(_var((dim,), np.stack(cols, axis=-1), meta.units, f"{meta.long_name}: a new run of the {dim}{note}"),
                                          coords={**base, dim: [d.classes[q][i] for i in keep]})
    if "predicted_device_hours" in samples:  # drawn last, so that the draws above do not depend on it
        sd_h = np.sqrt(samples[REPORTING_ERROR][..., None] ** 2 + d.hours_rounding_sd_ln[hours] ** 2)
        replicated_h = samples["predicted_device_hours"] * np.exp(sd_h * rng.standard_normal(sd_h.shape))
        pp["published_device_hours"] = xr.DataArray(_var(("run_hours",), replicated_h, "h",
                                                         "replicated published device-hours (reporting and rounding error included)"),
                                                    coords={**base, "run_hours": [d.names[i] for i in np.flatnonzero(hours)]})
    return xr.Dataset(pp)


def _observed_data(d: Design) -> xr.Dataset:
    hours = d.hours_run >= 0
    return xr.Dataset(
        {"reported_energy_mwh": (("run",), np.exp(d.log_reported),
                                 {"units": "MWh", "long_name": "published energy, on the scope in constant_data.energy_scope"}),
         "published_device_hours": (("run_hours",), d.device_hours[hours],
                                    {"units": "h", "long_name": "published device-hours of the runs whose compute is known too"})},
        coords={"run": list(d.names), "run_hours": [d.names[i] for i in np.flatnonzero(hours)]},
    )


def _constant_data(d: Design, table: PriorTable, observed: np.ndarray) -> xr.Dataset:
    constant: dict[str, tuple] = {  # xarray's (dims, values[, attrs]) form of each variable
        "energy_scope": (("run",), np.array(d.scopes, dtype=object)),
        "scenario_file": (("run",), np.array([Path(s.file).name for s in d.runs], dtype=object)),
        "hardware": (("run",), np.array([s.hardware for s in d.runs], dtype=object)),
        "observed": (("run",), observed.astype(np.int8), {"long_name": "1 if the run's figure was used, 0 if held out"}),
        "rounding_sd_ln": (("run",), d.rounding_sd_ln, {"units": "1", "long_name": "rounding error of the printed figure (natural-log sd)"}),
        "device_hours": (("run",), d.device_hours, {"units": "h", "long_name": "published device-hours (NaN where derived)"}),
        "parameters_scale_decades": (("run",), d.scale_decades, {"units": "1", "long_name": "min(0, log10(parameters / mfu_reference_parameters))"}),
        "parameters_power_decades": (("run",), d.power_decades,
                                     {"units": "1", "long_name": "min(0, log10(parameters / power_reference_parameters))"}),
        "hours_rounding_sd_ln": (("run_hours",), d.hours_rounding_sd_ln[d.hours_run >= 0],
                                 {"units": "1", "long_name": "rounding error of the published device-hours (natural-log sd)"}),
    }
    counts, varying = d.class_counts(observed), d.varying_counts(observed)
    for q, n in d.shared_counts(observed).items():
        constant[f"{q}_runs"] = ((), n, {"long_name": f"observed runs informing {q} (device time derived, or published with the run's compute)"})
    for q in CALIBRATED:
        if d.classes[q]:
            dim = class_selector(table, q)
            constant[f"{q}_class_runs"] = ((dim,), counts[q], {"long_name": f"observed runs informing each {dim}"})
            if q in RUN_SPREAD:
                constant[f"{q}_class_varying_runs"] = ((dim,), varying[q], {"long_name": f"observed runs of each {dim} that vary in {q}"})
    return xr.Dataset(constant, coords={"run": list(d.names), "run_hours": [d.names[i] for i in np.flatnonzero(d.hours_run >= 0)],
                                        **_class_coords(d, table)})


def _attrs(d: Design, table: PriorTable, settings: Mapping[str, object], observed: np.ndarray, seed: int, chains: int) -> dict:
    """Provenance of a fit: versions, sampler settings, runs held out, hashes of the priors and scenarios."""
    return {
        "title": "carbon-mc calibration: posterior of the uncertain factors given measured training runs",
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "carbon_mc_version": package_version("carbon-mc"),
        "numpyro_version": numpyro.__version__,
        "jax_version": jax.__version__,
        "inference_library": "numpyro",
        "sampler": "NUTS",
        "seed": int(seed),
        **dict(settings),
        "num_chains": int(chains),
        "chain_method": "one compiled chain program, chains run one after another",
        "runs": json.dumps({s.name: Path(s.file).name for s in d.runs}),
        "held_out": json.dumps([n for n, o in zip(d.names, observed) if not o]),
        "priors_sha256": json.dumps({f: h for f, h in table.files.items() if f in CALIBRATION_PRIOR_FILES}, sort_keys=True),
        "scenarios_sha256": json.dumps({Path(s.file).name: s.sha256 or "" for s in d.runs}, sort_keys=True),
    }


def build_inference_data(design: Design, table: PriorTable, settings: Mapping[str, object], samples: dict, extra: dict, observed: np.ndarray,
                         seed: int):
    """Samples of one fit -> InferenceData (ArviZ 0.x) or DataTree (ArviZ 1.x).

    Args:
      design, table: the runs and priors of the fit.
      settings: the sampler settings, stored as attributes.
      samples: {site: (chains, draws, ...)} constrained samples of the calibration model.
      extra: ``diverging`` and ``num_steps``, (chains, draws) each.
      observed: (R,) bool, the runs whose figures the fit used.
      seed: the fit's seed; it also seeds the posterior predictive draws.
    """
    chains, draws = next(iter(samples.values())).shape[:2]
    base = {"chain": np.arange(chains), "draw": np.arange(draws)}
    sample_stats = xr.Dataset(
        {"diverging": (("chain", "draw"), extra["diverging"].astype(np.int8)), "n_steps": (("chain", "draw"), extra["num_steps"].astype(np.int32))},
        coords=base,
    )
    found = {
        "posterior": _posterior(design, table, samples, base),
        "posterior_predictive": _posterior_predictive(design, table, samples, base, observed, seed),
        "observed_data": _observed_data(design),
        "constant_data": _constant_data(design, table, observed),
        "sample_stats": sample_stats,
    }
    attrs = _attrs(design, table, settings, observed, seed, chains)
    for ds in found.values():
        ds.attrs.update(attrs)
    return from_groups(found)


# ------------------------------------------------------------------------------------------------
# InferenceData in and out (ArviZ 0.x InferenceData or ArviZ 1.x DataTree)
# ------------------------------------------------------------------------------------------------
def from_groups(found: dict[str, xr.Dataset]):
    """InferenceData (ArviZ 0.x) or DataTree (ArviZ 1.x) from {group name: Dataset}, whichever ArviZ is installed."""
    az = import_arviz()
    if int(az.__version__.split(".")[0]) >= 1:
        return xr.DataTree.from_dict({f"/{name}": ds for name, ds in found.items()})
    return az.InferenceData(**found)


def groups(idata) -> dict[str, xr.Dataset]:
    """{group name: Dataset} of an InferenceData (ArviZ 0.x) or a DataTree (ArviZ 1.x)."""
    if isinstance(idata, xr.DataTree):
        return {name: node.to_dataset() for name, node in idata.children.items()}
    return {name: idata[name] for name in idata.groups()}


def check_idata(idata, *, posterior: bool = True):
    """`idata` an InferenceData (ArviZ 0.x) or a DataTree (ArviZ 1.x), with a posterior group when `posterior`."""
    if not isinstance(idata, xr.DataTree) and not callable(getattr(idata, "groups", None)):
        raise CarbonMCError(f"idata must be a calibration (carbon_mc.fit_calibration or load_calibration), got {shown(idata)} "
                            f"({type(idata).__name__})")
    if posterior and "posterior" not in groups(idata):
        raise CarbonMCError("idata must be a calibration with a posterior group (carbon_mc.fit_calibration)")
    return idata


def save_calibration(idata, path: str | Path) -> Path:
    """Write a calibration to netCDF (one group per InferenceData group), atomically; returns the path.

    Raises:
      CarbonMCError: `idata` is not a calibration, or the file cannot be written.
    """
    check_idata(idata, posterior=False), check_path(path)
    tree = xr.DataTree.from_dict({f"/{name}": ds for name, ds in groups(idata).items()})
    return atomic_write(path, lambda tmp: tree.to_netcdf(tmp, engine=ENGINE))


def load_calibration(path: str | Path):
    """Read a calibration written by `save_calibration` (or by ``carbon-mc calibrate``).

    Raises:
      CarbonMCError: no such file, not a readable netCDF file, or no posterior / posterior_predictive group.
    """
    path = Path(check_path(path))
    try:
        if not path.is_file():
            raise CarbonMCError("no such file" if not path.exists() else "not a file", file=str(path))
    except OSError as exc:  # a name too long, a loop of links
        raise CarbonMCError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    try:
        with xr.open_datatree(path, engine=ENGINE) as tree:
            found = {name: node.to_dataset().load() for name, node in tree.children.items()}
    except (OSError, ValueError) as exc:
        raise CarbonMCError(f"not a readable calibration file: {exc}", file=str(path)) from None
    if "posterior" not in found or "posterior_predictive" not in found:
        raise CarbonMCError("not a carbon-mc calibration (no posterior / posterior_predictive groups)", file=str(path))
    return from_groups(found)


def diagnostics(idata) -> xr.Dataset:
    """r_hat and bulk ESS (ArviZ) of every sampled latent, plus the number of divergent transitions.

    Variables ``<latent>_r_hat`` and ``<latent>_ess_bulk``; attributes ``divergences`` and
    ``latents`` (a JSON list of the latents' names).
    """
    az = import_arviz()
    post = groups(idata)["posterior"]
    latents = [str(v) for v in post.data_vars if not str(v).endswith("_run") and v not in ("predicted_energy_mwh", "predicted_device_hours")]
    rhat = az.rhat(post[latents])
    ess = az.ess(post[latents], method="bulk")
    out = xr.Dataset({f"{v}_r_hat": rhat[v] for v in latents} | {f"{v}_ess_bulk": ess[v] for v in latents})
    out.attrs["divergences"] = int(groups(idata)["sample_stats"]["diverging"].sum())
    out.attrs["latents"] = json.dumps(latents)
    return out
