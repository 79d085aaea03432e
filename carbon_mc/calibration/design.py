"""The measured runs of a calibration, as arrays for the NumPyro model.

- `scenario_files` and `measured_runs`: the scenarios whose ``[reported]`` figure is a measurement
  (``basis = "measured"``), read from ``models/`` or a given directory or list of files;
- `rounding_sd_ln`: the rounding error of a printed figure, from its last written digit;
- `Design` and `build_design`: per run the class of each calibrated quantity, its device time (or
  what derives it: FLOPs, peak throughput, MFU), the scope of its figure, and, where a run
  publishes its device time and its compute both, what the published device time says about MFU.

The names of the calibrated quantities and of the hyperpriors (``priors/calibration.toml``) are
defined here, once, for every module of the package.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from ..data import data_dir
from ..errors import CarbonMCError, shown
from ..priors import PriorTable, load_priors, read_toml
from ..sampling.args import check_priors
from ..scenarios.training import FLOP_SHAPE_QUANTITIES, Scenario, load_scenario

__all__ = [
    "CALIBRATED",
    "GLOBAL",
    "MFU_REFERENCE",
    "MFU_SLOPE",
    "MOE_RATIO",
    "OVERHEAD",
    "POWER_REFERENCE",
    "POWER_SLOPE",
    "REPORTING_ERROR",
    "RUN_SPREAD",
    "Design",
    "build_design",
    "class_selector",
    "measured_runs",
    "observes_hours",
    "published_hours_rounding_sd_ln",
    "rounding_sd_ln",
    "scenario_files",
]

# Quantities the calibration conditions, and the hyperprior of the run-to-run spread of each that
# varies from run to run (the others are one value per class).
CALIBRATED = ("accelerator_power_tdp_fraction", "server_power_w_per_device", "pue", "mfu_fraction")
RUN_SPREAD = {
    "accelerator_power_tdp_fraction": "between_run_sd_power_fraction_logit",
    "mfu_fraction": "between_run_sd_mfu_logit",
}
# One value for every run that needs them (no classes): the whole-run device-time overhead (runs
# whose device time is derived from FLOPs) and the MFU ratio of mixture-of-experts to dense runs
# (those runs, when they are MoE).
OVERHEAD = "device_time_overhead_factor"
MOE_RATIO = "moe_mfu_ratio"
GLOBAL = (OVERHEAD, MOE_RATIO)
MFU_SLOPE = "mfu_scale_slope_logit_per_decade"
MFU_REFERENCE = "mfu_reference_parameters"
# Board power falls for models too small to keep the accelerator busy (the same size term as MFU's,
# on the power fraction, with its own slope and reference size).
POWER_SLOPE = "power_scale_slope_logit_per_decade"
POWER_REFERENCE = "power_reference_parameters"
REPORTING_ERROR = "reporting_error_sd_ln"
# Whether each reported energy scope counts the host servers, and the PUE.
_SCOPE_TERMS = {"facility": (True, True), "it": (True, False), "accelerator": (False, False), "accelerator_facility": (False, True)}


def _is_dir(path) -> bool:
    """Whether `path` is a directory; a name the system cannot look up (too long, a loop) is not one."""
    try:
        return Path(path).is_dir()
    except OSError:
        return False


def check_models(models):
    """`models` None, a directory (a string or a path), or a list of scenario files."""
    if models is None or isinstance(models, (str, os.PathLike)):
        return models
    if not isinstance(models, (list, tuple)) or not all(isinstance(p, (str, os.PathLike)) for p in models):
        raise CarbonMCError(f"models must be a directory or a list of scenario files (paths), got {shown(models)} "
                            f"({type(models).__name__})")
    return models


def check_runs(runs):
    """`runs` None or a list of training `Scenario`s (`measured_runs`)."""
    if runs is not None and (not isinstance(runs, (list, tuple)) or not all(isinstance(s, Scenario) for s in runs)):
        raise CarbonMCError(f"runs must be a list of Scenario (carbon_mc.measured_runs) or None, got {shown(runs)} ({type(runs).__name__})")
    return runs


def measured_runs(models: str | Path | Iterable[str | Path] | None = None, *, priors: PriorTable | None = None) -> list[Scenario]:
    """Scenarios whose ``[reported]`` energy was measured (``basis = "measured"``), sorted by file name.

    Args:
      models: a directory of scenario TOML files, or an iterable of files (default: the bundled models/).
      priors: a `PriorTable` (default: the bundled priors/).

    Raises:
      CarbonMCError: `models` is a path but not a directory, a measured scenario is invalid, or no
        scenario has a measured energy.
    """
    check_models(models), check_priors(priors)
    table = priors or load_priors()
    runs = [s for s in (load_scenario(p, priors=table) for p in scenario_files(models, basis="measured")) if s.reported.energy_mwh is not None]
    if not runs:
        raise CarbonMCError("no scenario with a measured energy ([reported] basis = \"measured\" and energy_mwh)", file=str(models or "models/"))
    return runs


def scenario_files(models: str | Path | Iterable[str | Path] | None = None, *, basis: str | None = None) -> list[Path]:
    """Scenario files (default: the bundled models/), those whose ``[reported] basis`` is `basis` if given.

    The basis is read from the TOML before a scenario is validated, so an unrelated broken file
    does not stop a calibration.

    Raises:
      CarbonMCError: `models` is a path but not a directory, or a file is not readable TOML.
    """
    if models is None:
        paths = sorted(data_dir("models").glob("*.toml"))
    elif isinstance(models, (str, Path)) and _is_dir(models):
        paths = sorted(Path(models).glob("*.toml"))
    elif isinstance(models, (str, Path)):
        raise CarbonMCError("not a directory of scenario files", file=str(models))
    else:
        paths = [Path(p) for p in models]
    if basis is None:
        return paths
    return [p for p in paths if read_toml(p).get("reported", {}).get("basis") == basis]


def rounding_sd_ln(value: float) -> float:
    """Standard deviation (natural-log scale) of the rounding of a printed figure.

    The figure is taken as rounded to its last written decimal place (to units for whole numbers):
    an error uniform on ± half a unit of that place, sd = half-unit / √3, relative to the value.
    """
    written = Decimal(repr(float(value))).normalize().as_tuple().exponent
    if not isinstance(written, int):  # 'n', 'N' or 'F': a NaN or an infinity has no last written digit
        raise CarbonMCError(f"a printed figure must be a finite number, got {value!r}")
    exponent = min(0, written)
    return 0.5 * 10.0**exponent / math.sqrt(3.0) / float(value)


@dataclass(frozen=True)
class Design:
    """The measured runs as arrays, and which class of each calibrated quantity each run uses.

    Per quantity q: ``classes[q]`` (sorted class names that some run needs), ``index[q]`` (R,)
    the run's class index or -1 where the run uses a fixed value (``fixed[q]``) or does not need q.
    """

    runs: tuple[Scenario, ...]
    names: tuple[str, ...]
    classes: dict[str, tuple[str, ...]]
    index: dict[str, np.ndarray]
    fixed: dict[str, np.ndarray]
    device_hours: np.ndarray  # (R,), NaN where derived from FLOPs and MFU
    # FLOPs wherever the model needs them: runs whose device time is derived, and runs whose published
    # device time is observed against their compute (`hours_run`).
    train_flop: np.ndarray  # (R,) published FLOPs of such a run; NaN otherwise
    parameters: np.ndarray  # (R,) N and D where FLOPs come from 6·N·D·(1 + δ); NaN otherwise
    tokens: np.ndarray
    flop_shape: dict[str, np.ndarray]  # (R,) per FLOP_SHAPE_QUANTITIES: the number a run fixes, NaN where drawn
    flops_run: np.ndarray  # (R,) index into the runs whose FLOPs come from 6·N·D·(1 + δ), -1 if none
    moe_run: np.ndarray  # (R,) bool: a mixture-of-experts run whose MFU the model draws (derived or hours run; takes moe_mfu_ratio)
    mfu_run: np.ndarray  # (R,) index into the MFU run deviations, -1 if the run's device time is known
    hours_run: np.ndarray  # (R,) index into the published-device-time observations, -1 if none
    hours_rounding_sd_ln: np.ndarray  # (R,) rounding error of the published device time (natural-log sd); NaN if not observed
    scale_decades: np.ndarray  # (R,) min(0, log10(N / N_ref)); 0 without a parameter count
    power_decades: np.ndarray  # (R,) min(0, log10(N / N_ref_power)); 0 without a parameter count
    tdp_w: np.ndarray
    peak_flop_per_s: np.ndarray
    host: np.ndarray  # (R,) bool: figure includes host power
    with_pue: np.ndarray  # (R,) bool: figure includes PUE
    log_reported: np.ndarray  # (R,) natural log of the reported energy (MWh)
    rounding_sd_ln: np.ndarray
    scopes: tuple[str, ...]

    @property
    def num_runs(self) -> int:
        return len(self.names)

    @property
    def mfu_drawn(self) -> np.ndarray:
        """(R,) bool: runs with an MFU of their own in the model (device time derived, or published and observed against compute)."""
        return (self.mfu_run >= 0) | (self.hours_run >= 0)

    def class_counts(self, observed: np.ndarray) -> dict[str, np.ndarray]:
        """Per quantity, how many observed runs inform each class."""
        return {q: np.array([int(np.sum((self.index[q] == i) & observed)) for i in range(len(c))]) for q, c in self.classes.items()}

    def varying_counts(self, observed: np.ndarray) -> dict[str, np.ndarray]:
        """Per quantity with run-to-run spread, how many observed runs of each class vary in it.

        A run whose device time was published varies in its power fraction (its energy) and, where its
        compute is known too, in its MFU (its device time); a run whose device time is derived, in its MFU.
        """
        varies = {"accelerator_power_tdp_fraction": self.mfu_run < 0, "mfu_fraction": self.mfu_drawn}
        return {q: np.array([int(np.sum((self.index[q] == i) & observed & varies[q])) for i in range(len(self.classes[q]))])
                for q in RUN_SPREAD}

    def shared_counts(self, observed: np.ndarray) -> dict[str, int]:
        """How many observed runs inform each one-value quantity: the device-time overhead and the MFU
        size slope (runs with an MFU of their own; the slope only those below the reference size), and
        the MoE ratio (such runs that are mixture-of-experts)."""
        drawn = self.mfu_drawn & observed
        return {OVERHEAD: int(drawn.sum()), MOE_RATIO: int((drawn & self.moe_run).sum()),
                MFU_SLOPE: int((drawn & (self.scale_decades < 0)).sum())}


def class_selector(table: PriorTable, q: str) -> str:
    """The run key (``power_class``, ``datacenter``, ...) that selects the class of calibrated quantity `q`.

    Raises:
      CarbonMCError: `table` gives `q` no ``selected_by`` (a calibrated quantity is calibrated per class).
    """
    meta = table.quantity(q)
    if meta.selected_by is None:
        raise CarbonMCError(f"the calibrated quantity {q} needs a selected_by key (its classes)", file=meta.file, key=f"{q}.selected_by")
    return meta.selected_by


def observes_hours(s: Scenario) -> bool:
    """True when run `s` publishes its device time and its compute both (``train_flops``, or
    parameters and tokens), so that its device time measures its MFU, and it leaves the MFU prior alone
    (a run that fixes or replaces ``mfu_fraction`` takes no such observation)."""
    has_compute = s.train_flops is not None or s.derives_flop
    return not s.derives_device_time and has_compute and "mfu_fraction" not in s.overrides


def published_hours_rounding_sd_ln(s: Scenario) -> float:
    """Rounding error (natural-log sd) of a run's published device time.

    The device-hours may have been printed as they are, per device, or as days of ``devices``
    devices; the coarsest of these that reads as a short decimal (the hours themselves always, the
    others where they have at most six significant digits) is taken as the printed figure, and
    `rounding_sd_ln` of it (the device count being exact).
    """
    if s.device_hours is None:
        raise CarbonMCError("the run's device time is derived, not published", file=s.file, key="run.device_hours")
    hours = float(s.device_hours)
    per_device = [hours / s.devices, hours / s.devices / 24.0] if s.devices else []
    printed = [hours] + [float(f"{v:.6g}") for v in per_device if math.isclose(float(f"{v:.6g}"), v, rel_tol=1e-9)]
    return max(rounding_sd_ln(v) for v in printed)


def _calibrated_needs(s: Scenario, table: PriorTable) -> dict[str, str | float | None]:
    """Per calibrated quantity, what run `s` uses: its class name, a number it fixes, or None (unused).

    A run whose published device time is observed against its compute (`observes_hours`) uses the
    MFU class of its hardware, although the engine draws no MFU for it.
    """
    has_host, has_pue = _SCOPE_TERMS[s.reported.energy_scope]
    used = {"accelerator_power_tdp_fraction": True, "server_power_w_per_device": has_host, "pue": has_pue,
            "mfu_fraction": s.derives_device_time}
    needed = set(s.needed_quantities())
    ctx = s.context(table)
    out: dict[str, str | float | None] = {}
    for q in CALIBRATED:
        if q == "mfu_fraction" and observes_hours(s):
            out[q] = ctx[class_selector(table, q)]
            continue
        if not used[q]:
            out[q] = None
            continue
        if q not in needed:
            raise CarbonMCError(f"the reported energy scope {s.reported.energy_scope!r} needs {q}, which this run does not draw",
                                file=s.file, key="reported.energy_scope")
        if q in s.overrides:
            prior = s.resolve_priors(table)[q]
            if not prior.is_fixed:
                raise CarbonMCError(f"a calibration run may fix {q} to a number but not replace its prior", file=s.file, key=f"priors.{q}")
            out[q] = prior.fixed_value
        else:
            out[q] = ctx[class_selector(table, q)]
    return out


def _run_columns(runs: Sequence[Scenario], table: PriorTable) -> dict[str, list]:
    """Per-run columns of `Design` (device time or what derives it, hardware, scope), as lists."""
    n_ref = table.quantity(MFU_REFERENCE).variants["default"].fixed_value
    n_ref_power = table.quantity(POWER_REFERENCE).variants["default"].fixed_value
    cols: dict[str, list] = {k: [] for k in ("device_hours", "train_flop", "parameters", "tokens", "flops_run", "mfu_run", "hours_run",
                                             "hours_rounding_sd_ln", "scale_decades", "power_decades", "tdp_w", "peak_flop_per_s",
                                             "host", "with_pue")}
    n_flops = n_mfu = n_hours = 0
    for s in runs:
        spec = table.hardware_spec(s.hardware, file=s.file)
        hours = observes_hours(s)
        needs_flop = s.derives_device_time or hours
        from_nd = needs_flop and s.derives_flop
        cols["device_hours"].append(np.nan if s.derives_device_time else s.device_hours)
        cols["train_flop"].append((s.train_flops if s.train_flops is not None else np.nan) if needs_flop else np.nan)
        cols["flops_run"].append(n_flops if from_nd else -1)
        cols["mfu_run"].append(n_mfu if s.derives_device_time else -1)
        cols["hours_run"].append(n_hours if hours else -1)
        cols["hours_rounding_sd_ln"].append(published_hours_rounding_sd_ln(s) if hours else np.nan)
        n_flops += bool(from_nd)
        n_mfu += bool(s.derives_device_time)
        n_hours += bool(hours)
        cols["parameters"].append(s.compute_parameters if from_nd else np.nan)
        cols["tokens"].append(s.tokens if from_nd else np.nan)
        n = s.compute_parameters  # given wherever s.parameters is
        cols["scale_decades"].append(min(0.0, math.log10(n / n_ref)) if s.parameters and n is not None else 0.0)
        cols["power_decades"].append(min(0.0, math.log10(n / n_ref_power)) if s.parameters and n is not None else 0.0)
        cols["tdp_w"].append(float(spec["tdp_w"]))
        cols["peak_flop_per_s"].append(float(spec["peak_flop_per_s"]))
        has_host, has_pue = _SCOPE_TERMS[s.reported.energy_scope]
        cols["host"].append(has_host)
        cols["with_pue"].append(has_pue)
    return cols


def _flop_shape(runs: Sequence[Scenario], table: PriorTable) -> dict[str, np.ndarray]:
    """Per quantity of the attention and logit FLOPs, each run's fixed number (NaN: drawn, or not needed)."""
    out = {q: np.full(len(runs), np.nan) for q in FLOP_SHAPE_QUANTITIES}
    for i, s in enumerate(runs):
        if not ((s.derives_device_time or observes_hours(s)) and s.derives_flop):
            continue
        resolved = s.resolve_priors(table)
        for q in FLOP_SHAPE_QUANTITIES:
            if resolved[q].is_fixed:
                out[q][i] = resolved[q].fixed_value
    return out


def build_design(runs: Sequence[Scenario], table: PriorTable) -> Design:
    """Arrays for the NumPyro model from measured scenarios (see `Design`).

    Raises:
      CarbonMCError: two runs share a name, a run's energy scope needs a calibrated quantity the run
        does not draw, or a run replaces a calibrated prior by another distribution.
    """
    names = tuple(s.name for s in runs)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[0]
        raise CarbonMCError(f"two measured runs share the name {dup!r}; names must be unique")
    for s in runs:
        if s.reported.counts != "final_run":
            raise CarbonMCError("the calibration compares final-run figures: a figure that counts the whole project "
                                "(experiments included) is not calibration data; set [reported] basis = \"estimated\"",
                                file=s.file, key="reported.counts")
    per_run = [_calibrated_needs(s, table) for s in runs]
    classes, index, fixed = {}, {}, {}
    for q in CALIBRATED:
        needs = [r[q] for r in per_run]
        cls = tuple(sorted({v for v in needs if isinstance(v, str)}))
        classes[q] = cls
        index[q] = np.array([cls.index(v) if isinstance(v, str) else -1 for v in needs], dtype=np.int32)
        fixed[q] = np.array([v if isinstance(v, float) else np.nan for v in needs], dtype=np.float64)
    cols = _run_columns(runs, table)
    reported = np.array([s.reported.energy_mwh for s in runs], dtype=np.float64)
    floats = {k: np.array(cols[k], dtype=np.float64) for k in ("device_hours", "train_flop", "parameters", "tokens", "scale_decades",
                                                                "power_decades", "hours_rounding_sd_ln")}
    return Design(
        runs=tuple(runs), names=names, classes=classes, index=index, fixed=fixed, **floats,
        flop_shape=_flop_shape(runs, table), flops_run=np.array(cols["flops_run"], dtype=np.int32),
        hours_run=np.array(cols["hours_run"], dtype=np.int32),
        moe_run=np.array([s.is_moe and (s.derives_device_time or observes_hours(s)) for s in runs], dtype=bool),
        mfu_run=np.array(cols["mfu_run"], dtype=np.int32),
        tdp_w=np.array(cols["tdp_w"]), peak_flop_per_s=np.array(cols["peak_flop_per_s"]),
        host=np.array(cols["host"], dtype=bool), with_pue=np.array(cols["with_pue"], dtype=bool), log_reported=np.log(reported),
        rounding_sd_ln=np.array([rounding_sd_ln(v) for v in reported]), scopes=tuple(s.reported.energy_scope for s in runs),
    )
