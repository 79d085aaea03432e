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
from .errors import CarbonMCError, InputError, OutputError
from .finite import check_policy, check_values
from .footprint import HEADLINE
from .io import save_dataset
from .priors import Prior
from .sampling import DEFAULT_METHOD, STREAM_THRESHOLD, build_simulator, check_method, estimate, output_shapes, stream_summary, stream_to_precision
from .sampling.args import check_num_draws, check_seed
from .scenario import Scenario, load_scenario
from .summary import reported_percentiles, summarize

DEFAULT_DRAWS = 100_000
DEFAULT_MAX_DRAWS = 100_000_000  # the cap of a run to a target precision
JSON_STATS = ("median", "mean", "p5", "p95", "p2_5", "p97_5")
OUT_LIMIT_BYTES = 4 * 10**9  # a netCDF of every draw beyond this needs force=True (--force)


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

    @property
    def note(self) -> str | None:
        """One line on how the summaries were computed (streamed, or with non-finite draws dropped)."""
        dropped = self.info.get("nonfinite_draws_dropped")
        if dropped:
            return (f"{dropped:,} of {self.info['num_draws']:,} draws were not finite and were left out "
                    "(--drop-nonfinite); every statistic is over the rest")
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
        out = {name: stats[name] for name in HEADLINE}
        if self.reported:
            out["reported"] = self.reported
        if self.info["summary"] == "streaming_histogram":
            out["run"] = self.info
        out.update({name: stats[name] for name in self.variables if name not in HEADLINE})
        if self.calibrated is not None:
            out["calibrated"] = self.calibrated
        if self.info.get("nonfinite_draws_dropped"):
            out["nonfinite_draws_dropped"] = self.info["nonfinite_draws_dropped"]
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
    nonfinite: str = "refuse",
    force: bool = False,
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
      nonfinite: "refuse" (default) or "drop" draws that are not finite (`carbon_mc.finite`); the
        number dropped is in ``info["nonfinite_draws_dropped"]`` and the result's `note`.
      force: write `out` even when it would exceed `OUT_LIMIT_BYTES`.

    Raises:
      InputError: an invalid scenario, method, seed, draw count or calibration, or `out` with a streamed run.
      NumericError: draws or summaries that are not finite (unless ``nonfinite="drop"``).
      OutputError: `out` would exceed `OUT_LIMIT_BYTES` without `force`.
    """
    check_method(method), check_seed(seed), check_policy(nonfinite)
    if num_draws is not None:
        check_num_draws(num_draws)
    if rel_error is not None and (isinstance(rel_error, bool) or not isinstance(rel_error, (int, float)) or not 0 < rel_error < 1):
        raise InputError(f"rel_error must lie in (0, 1), got {rel_error!r}")
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    streaming = rel_error is not None or stream or ((num_draws or 0) > STREAM_THRESHOLD and out is None)
    if streaming and out is not None:
        raise InputError("--out keeps every draw, which --stream and --rel-error do not; drop one of them")
    if out is not None and not force:
        check_out_size(scenario, num_draws or DEFAULT_DRAWS)
    posterior, calibrated = calibrated_inputs(scenario, calibration) if calibration else (None, None)
    variables = list(HEADLINE) + [k for k in scenario.reported.figures() if k not in HEADLINE]
    if not streaming:
        num_draws = num_draws or DEFAULT_DRAWS
        ds = estimate(scenario, num_draws=num_draws, seed=seed, method=method, posterior=posterior, progress=progress,
                      nonfinite=nonfinite)
        info = {"num_draws": num_draws, "method": method, "summary": "exact"}
        if "nonfinite_draws_dropped" in ds.attrs:
            info["nonfinite_draws_dropped"] = int(ds.attrs["nonfinite_draws_dropped"])
        summary = summarize(ds, variables)
        check_values({k: summary[k].values for k in variables}, "summary")
        if out is not None:
            save_dataset(ds, out)
        return RunResult(scenario, summary, reported_percentiles(ds, scenario.reported.figures()), info,
                         ds, calibrated, variables)
    sim = build_simulator(scenario, posterior=posterior)
    if rel_error is not None:
        result = stream_to_precision(sim, rel_error=rel_error, max_draws=num_draws or DEFAULT_MAX_DRAWS, seed=seed,
                                     method=method, variables=variables, progress=progress, nonfinite=nonfinite)
    else:
        result = stream_summary(sim, num_draws=num_draws or DEFAULT_DRAWS, seed=seed, method=method, variables=variables,
                                progress=progress, nonfinite=nonfinite)
    info = {"num_draws": int(result.attrs["num_draws"]), "method": method, "summary": "streaming_histogram"}
    if result.attrs.get("nonfinite_draws_dropped"):
        info["nonfinite_draws_dropped"] = int(result.attrs["nonfinite_draws_dropped"])
    if rel_error is not None:
        info.update(rel_error_target=rel_error, rel_error_achieved=float(result.attrs["rel_error_achieved"]))
    summary = result.to_dataset()
    check_values({k: summary[k].values for k in variables}, "summary")
    return RunResult(scenario, summary, result.reported_percentiles(scenario.reported.figures()), info,
                     None, calibrated, variables)


def out_bytes(scenario: Scenario, num_draws: int) -> int:
    """About how many bytes `estimate` keeps (and `--out` writes) for `num_draws` draws of `scenario`."""
    sim = build_simulator(scenario)
    columns = sum(k for _, k in sim.columns) + sum(1 for shape in output_shapes(sim).values() if shape != ())
    return 4 * num_draws * (columns + 2)  # float32 values, plus the draw coordinate (int64)


def check_out_size(scenario: Scenario, num_draws: int) -> None:
    """Refuse, before any draw, an `out` file beyond `OUT_LIMIT_BYTES` (suggesting ``--force`` or ``--stream``)."""
    size = out_bytes(scenario, num_draws)
    if size > OUT_LIMIT_BYTES:
        raise OutputError(
            f"--out would write about {size / 1e9:.1f} GB ({num_draws:,} draws; the limit without --force is "
            f"{OUT_LIMIT_BYTES / 1e9:g} GB): pass --force to write it, or drop --out (or use --stream) for summaries only"
        )
