"""Calibrate the uncertain factors on published training runs whose energy was measured.

A prior is a guess with a source; a measured run is evidence. This package conditions the class
priors of the carbon model on the runs of ``models/`` whose ``[reported] basis = "measured"``
with a hierarchical NumPyro model, samples it with NUTS, and turns the posterior into inputs the
engine draws instead of the priors. One module per concern:

- `design`: the measured runs (`measured_runs`, `scenario_files`) and their arrays (`build_design`);
- `model`: the NumPyro calibration model (`calibration_model`), on the footprint's energy equations;
- `fit`: the NUTS driver (`Calibrator`, `fit_calibration`, `fit_many`);
- `inference_data`: the fit as ArviZ InferenceData, on disk (`save_calibration`, `load_calibration`)
  and its `diagnostics`;
- `report`: the convergence thresholds and the calibration report (``carbon-mc calibrate``);
- `posterior`: the posterior as engine inputs (`calibrated_priors`, ``carbon-mc run --calibrated``);
- `metrics`: predictions of a measured run's figure and the validation metrics over many runs;
- `loo`: leave-one-out validation and published claims;
- `forward`: forward-in-time validation (calibrate on runs published before a year, predict the rest);
- `validation`: what ``carbon-mc validate`` reports (all three);
- `serving`: the serving model's throughput and power relations fitted to measured deployments.

>>> idata = fit_calibration(seed=0)
>>> posterior, status = calibrated_priors(idata, carbon_mc.load_scenario("t5_11b"))
"""

from .design import CALIBRATED, Design, build_design, measured_runs, rounding_sd_ln, scenario_files
from .fit import DEFAULTS, Calibrator, fit_calibration, fit_many
from .forward import CUTOFFS, forward_in_time, split_by_year
from .inference_data import diagnostics, from_groups, groups, import_arviz, load_calibration, save_calibration
from .loo import claims, leave_one_out
from .metrics import MODERN_TARGETS, calibration_curve, grouped_metrics, metrics, predict, run_groups, sign_test_p
from .model import calibration_model
from .posterior import STREAM, calibrated_priors, check_converged, check_priors_match, load_calibrated_priors
from .report import CONVERGENCE, calibrate_and_save, calibration_report, convergence, convergence_problem
from .validation import validation_report

__all__ = [
    "CALIBRATED",
    "CONVERGENCE",
    "CUTOFFS",
    "DEFAULTS",
    "MODERN_TARGETS",
    "STREAM",
    "Calibrator",
    "Design",
    "build_design",
    "calibrate_and_save",
    "calibrated_priors",
    "calibration_curve",
    "calibration_model",
    "calibration_report",
    "check_converged",
    "check_priors_match",
    "claims",
    "convergence",
    "convergence_problem",
    "diagnostics",
    "fit_calibration",
    "fit_many",
    "forward_in_time",
    "from_groups",
    "grouped_metrics",
    "groups",
    "import_arviz",
    "leave_one_out",
    "load_calibrated_priors",
    "load_calibration",
    "measured_runs",
    "metrics",
    "predict",
    "rounding_sd_ln",
    "run_groups",
    "save_calibration",
    "scenario_files",
    "sign_test_p",
    "split_by_year",
    "validation_report",
]
