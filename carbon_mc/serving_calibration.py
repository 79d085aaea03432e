"""Moved to `carbon_mc.calibration.serving`; this name stays for code that followed earlier READMEs."""

from .calibration.serving import (
    CALIBRATED,
    HARDWARE,
    WEIGHT_FORMATS,
    CalibrationFit,
    Measurements,
    Validation,
    fit,
    load_measurements,
    posterior_serving_draws,
    predict_energy_j_per_token,
    predicted_ln_tokens_per_s,
    serving_model,
    validate,
)

__all__ = ["CALIBRATED", "HARDWARE", "WEIGHT_FORMATS", "CalibrationFit", "Measurements", "Validation", "fit",
           "load_measurements", "posterior_serving_draws", "predict_energy_j_per_token", "predicted_ln_tokens_per_s",
           "serving_model", "validate"]
