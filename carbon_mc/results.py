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
from .io import save_dataset
from .priors import Prior
from .sampling import DEFAULT_METHOD, STREAM_THRESHOLD, build_simulator, check_method, estimate, stream_summary, stream_to_precision
from .scenario import Scenario
from .scenarios import AnyScenario, load_any_scenario
from .serving_scenario import ServingScenario
from .summary import reported_percentiles, summarize

DEFAULT_DRAWS = 100_000
DEFAULT_MAX_DRAWS = 100_000_000  # the cap of a run to a target precision
JSON_STATS = ("median", "mean", "p5", "p95", "p2_5", "p97_5")


@dataclass
class RunResult:
    """A run's summaries (Dataset over ``stat``), its published figures placed among the draws, and how it was drawn."""

    scenario: AnyScenario
    summary: xr.Dataset
    reported: dict
    info: dict
    draws: xr.Dataset | None = None
    calibrated: dict | None = None
    variables: list[str] = field(default_factory=list)
    headline: tuple[str, ...] = ()  # the simulator's headline outputs (training: energy, operational, embodied, total)
    output_table: dict = field(default_factory=dict)  # output -> (units, long_name)

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
        """The JSON shape of ``carbon-mc run --json``: headline outputs, reported, run (streamed), other scopes, calibrated."""
        stats = {name: {k: float(self.summary[name].sel(stat=k)) for k in JSON_STATS} for name in self.variables}
        out = {name: stats[name] for name in self.headline}
        if self.reported:
            out["reported"] = self.reported
        if self.info["summary"] == "streaming_histogram":
            out["run"] = self.info
        out.update({name: stats[name] for name in self.variables if name not in self.headline})
        if self.calibrated is not None:
            out["calibrated"] = self.calibrated
        return out


def calibrated_inputs(scenario: AnyScenario, calibration: str | Path) -> tuple[dict[str, Prior], dict]:
    """(posterior priors, {"file", "inputs": status per calibrated quantity}) from a calibration file.

    Raises:
      CarbonMCError: not a calibration file, a posterior that did not converge, or one fitted with
        other priors (`carbon_mc.calibration.load_calibrated_priors`).
    """
    if isinstance(scenario, ServingScenario):
        raise CarbonMCError("--calibrated draws a training calibration's inputs; a serving scenario has none of them",
                            file=scenario.file)
    posterior, status = load_calibrated_priors(calibration, scenario)
    return posterior, {"file": str(calibration), "inputs": status}


def run_scenario(
    scenario: AnyScenario | str | Path,
    *,
    num_draws: int | None = None,
    seed: int = 0,
    method: str = DEFAULT_METHOD,
    rel_error: float | None = None,
    stream: bool = False,
    calibration: str | Path | None = None,
    out: str | Path | None = None,
    progress: Callable | None = None,
) -> RunResult:
    """Summaries of a scenario's headline outputs (and of any other scope its published figures use).

    A training run's headline is energy, operational, embodied and total CO2e; a deployment's
    (a serving scenario) energy and CO2e per request, per day and for the whole deployment.

    Args:
      scenario: a `Scenario` or `ServingScenario`, a scenario TOML path, or the name of a bundled one.
      num_draws: draws (default 100,000; with `rel_error`, the cap, default 10^8).
      seed, method: as for `carbon_mc.estimate` (same seed and method, same numbers).
      rel_error: draw until the 5%/95% quantiles have at most this relative standard error.
      stream: summarize on the fly without keeping draws (automatic above `STREAM_THRESHOLD`
        draws when no `out` is asked for).
      calibration: a calibration file (``carbon-mc calibrate --out``) to draw the calibrated inputs from.
      out: write every draw to this netCDF file (needs kept draws).
      progress: optional ``progress(done, total)``.

    Raises:
      CarbonMCError: an invalid scenario, method or calibration, or `out` with a streamed run.
    """
    check_method(method)
    if not isinstance(scenario, (Scenario, ServingScenario)):
        scenario = load_any_scenario(scenario)
    streaming = rel_error is not None or stream or ((num_draws or 0) > STREAM_THRESHOLD and out is None)
    if streaming and out is not None:
        raise CarbonMCError("--out keeps every draw, which --stream and --rel-error do not; drop one of them")
    posterior, calibrated = calibrated_inputs(scenario, calibration) if calibration else (None, None)
    sim = build_simulator(scenario, posterior=posterior)
    shown = {"headline": sim.headline, "output_table": sim.output_table}
    variables = list(sim.headline) + [k for k in scenario.reported.figures() if k not in sim.headline]
    if not streaming:
        num_draws = num_draws or DEFAULT_DRAWS
        ds = estimate(scenario, num_draws=num_draws, seed=seed, method=method, posterior=posterior, progress=progress)
        if out is not None:
            save_dataset(ds, out)
        info = {"num_draws": num_draws, "method": method, "summary": "exact"}
        return RunResult(scenario, summarize(ds, variables), reported_percentiles(ds, scenario.reported.figures()), info,
                         ds, calibrated, variables, **shown)
    if rel_error is not None:
        result = stream_to_precision(sim, rel_error=rel_error, max_draws=num_draws or DEFAULT_MAX_DRAWS, seed=seed,
                                     method=method, variables=variables, progress=progress)
    else:
        result = stream_summary(sim, num_draws=num_draws or DEFAULT_DRAWS, seed=seed, method=method, variables=variables, progress=progress)
    info = {"num_draws": int(result.attrs["num_draws"]), "method": method, "summary": "streaming_histogram"}
    if rel_error is not None:
        info.update(rel_error_target=rel_error, rel_error_achieved=float(result.attrs["rel_error_achieved"]))
    return RunResult(scenario, result.to_dataset(), result.reported_percentiles(scenario.reported.figures()), info,
                     None, calibrated, variables, **shown)
