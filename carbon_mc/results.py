"""What `carbon-mc run` computes, as a library call: `run_scenario` -> `RunResult`.

One function chooses between keeping the draws (`carbon_mc.estimate`, exact summaries) and
summarizing them on the fly (`carbon_mc.estimate_summary`: very large runs, ``stream=True`` or a
target precision), draws the calibrated inputs when a calibration is given, and places the
scenario's published figures among the draws. The command line only formats the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

from .calibration import load_calibrated_priors
from .errors import CarbonMCError
from .footprint import HEADLINE, OUTPUTS
from .io import save_dataset
from .priors import Prior, PriorTable
from .sampling import DEFAULT_METHOD, STREAM_THRESHOLD, build_simulator, check_method, estimate, stream_summary, stream_to_precision
from .scenario import Scenario, load_scenario
from .sampling import package_version
from .summary import reported_percentiles, summarize

DEFAULT_DRAWS = 100_000
DEFAULT_MAX_DRAWS = 100_000_000  # the cap of a run to a target precision
JSON_STATS = ("median", "mean", "sd", "p5", "p95", "p2_5", "p97_5", "hdi90_lower", "hdi90_upper")


@dataclass
class RunResult:
    """A run's summaries (Dataset over ``stat``), its published figures placed among the draws, and how it was drawn."""

    scenario: Scenario
    summary: xr.Dataset
    reported: dict
    info: dict
    draws: xr.Dataset | None = None
    calibrated: dict | None = None
    variables: list[str] = field(default_factory=list)
    seed: int = 0

    @property
    def note(self) -> str | None:
        """One line on how the summaries were computed, where it is not from kept draws."""
        if self.info["summary"] != "streaming_histogram":
            return None
        if "rel_error_target" not in self.info:
            return f"summaries computed on the fly from histograms ({self.info['method']})"
        i = self.info
        capped = "; stopped at the --draws cap" if i["rel_error_achieved"] > i["rel_error_target"] else ""
        return (f"{i['num_draws']:,} draws ({i['method']}) for a relative standard error of the 5%/95% quantiles of "
                f"{i['rel_error_achieved']:.2g} (target {i['rel_error_target']:g}{capped})")

    def to_json(self) -> dict:
        """The JSON shape of ``carbon-mc run --json``: headline outputs (each with its units, sd and 90% HDI),
        reported, run (streamed), other scopes, calibrated, and how it was drawn (``draws``)."""
        stats = {name: {k: float(self.summary[name].sel(stat=k)) for k in JSON_STATS} for name in self.variables}
        for name in self.variables:
            stats[name]["units"] = OUTPUTS[name].units
        out = {name: stats[name] for name in HEADLINE}
        if self.reported:
            out["reported"] = self.reported
        if self.info["summary"] == "streaming_histogram":
            out["run"] = self.info
        out.update({name: stats[name] for name in self.variables if name not in HEADLINE})
        if self.calibrated is not None:
            out["calibrated"] = self.calibrated
        out["draws"] = {"seed": self.seed, "num_draws": self.info["num_draws"], "method": self.info["method"],
                        "summary": self.info["summary"], "carbon_mc_version": package_version("carbon-mc"),
                        "scenario": self.scenario.name}
        return out


def calibrated_inputs(scenario: Scenario, calibration: str | Path) -> tuple[dict[str, Prior], dict]:
    """(posterior priors, {"file", "inputs": status per calibrated quantity}) from a calibration file.

    Raises:
      CarbonMCError: not a calibration file, a posterior that did not converge, or one fitted with
        other priors (`carbon_mc.calibration.load_calibrated_priors`).
    """
    posterior, status = load_calibrated_priors(calibration, scenario)
    return posterior, {"file": str(calibration), "inputs": status}


def run_scenario(
    scenario: Scenario | str | Path,
    *,
    num_draws: int | None = None,
    seed: int = 0,
    method: str = DEFAULT_METHOD,
    rel_error: float | None = None,
    stream: bool = False,
    calibration: str | Path | None = None,
    out: str | Path | None = None,
    progress: Callable | None = None,
    priors: PriorTable | None = None,
    keep_draws: bool = False,
) -> RunResult:
    """Summaries of a training run's headline outputs (and of any other scope its published figures use).

    Args:
      scenario: a `Scenario`, a scenario TOML path, or the name of a bundled one.
      num_draws: draws (default 100,000; with `rel_error`, the cap, default 10^8).
      seed, method: as for `carbon_mc.estimate` (same seed and method, same numbers).
      rel_error: draw until the 5%/95% quantiles have at most this relative standard error.
      stream: summarize on the fly without keeping draws (automatic above `STREAM_THRESHOLD`
        draws when no `out` is asked for).
      calibration: a calibration file (``carbon-mc calibrate --out``) to draw the calibrated inputs from.
      out: write every draw to this netCDF file (needs kept draws).
      progress: optional ``progress(done, total)``.
      keep_draws: keep the draws in ``RunResult.draws`` even above `STREAM_THRESHOLD` draws.
      priors: the prior table (default: the bundled priors with the ``CARBON_MC_PRIORS`` overlays).

    Raises:
      CarbonMCError: an invalid scenario, method or calibration, or `out` with a streamed run.
    """
    check_method(method)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, priors=priors)
    streaming = rel_error is not None or stream or ((num_draws or 0) > STREAM_THRESHOLD and out is None and not keep_draws)
    if streaming and keep_draws:
        raise CarbonMCError("keeping the draws is not possible with --stream or --rel-error; drop one of them")
    if streaming and out is not None:
        raise CarbonMCError("--out keeps every draw, which --stream and --rel-error do not; drop one of them")
    posterior, calibrated = calibrated_inputs(scenario, calibration) if calibration else (None, None)
    variables = list(HEADLINE) + [k for k in scenario.reported.figures() if k not in HEADLINE]
    if not streaming:
        num_draws = num_draws or DEFAULT_DRAWS
        ds = estimate(scenario, num_draws=num_draws, seed=seed, method=method, posterior=posterior, progress=progress,
                      priors=priors)
        if out is not None:
            save_dataset(ds, out)
        info = {"num_draws": num_draws, "method": method, "summary": "exact"}
        return RunResult(scenario, summarize(ds, variables), reported_percentiles(ds, scenario.reported.figures()), info,
                         ds, calibrated, variables, seed)
    sim = build_simulator(scenario, posterior=posterior, priors=priors)
    if rel_error is not None:
        result = stream_to_precision(sim, rel_error=rel_error, max_draws=num_draws or DEFAULT_MAX_DRAWS, seed=seed,
                                     method=method, variables=variables, progress=progress)
    else:
        result = stream_summary(sim, num_draws=num_draws or DEFAULT_DRAWS, seed=seed, method=method, variables=variables, progress=progress)
    info = {"num_draws": int(result.attrs["num_draws"]), "method": method, "summary": "streaming_histogram"}
    if rel_error is not None:
        info.update(rel_error_target=rel_error, rel_error_achieved=float(result.attrs["rel_error_achieved"]))
    return RunResult(scenario, result.to_dataset(), result.reported_percentiles(scenario.reported.figures()), info,
                     None, calibrated, variables, seed)
