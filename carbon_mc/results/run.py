"""What `carbon-mc run` computes, as a library call: `run_scenario` -> `RunResult`.

One function chooses between keeping the draws (`carbon_mc.estimate`, exact summaries) and
summarizing them on the fly (`carbon_mc.estimate_summary`: very large runs, ``stream=True`` or a
target precision), draws the calibrated inputs when a calibration is given, and places the
scenario's published figures among the draws. The command line only formats the result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CarbonMCError, InputError, OutputError
from ..footprint import HEADLINE, OUTPUTS
from ..io.files import save_dataset
from ..options import DEFAULT_DRAWS, DEFAULT_MAX_DRAWS
from ..priors import Prior, PriorTable
from ..sampling import (
    DEFAULT_METHOD,
    STREAM_THRESHOLD,
    build_simulator,
    check_method,
    kept_draws,
    output_shapes,
    package_version,
    stream_summary,
    stream_to_precision,
    to_dataset,
)
from ..sampling.args import check_callable, check_flag, check_num_draws, check_path, check_priors, check_scenario, check_seed
from ..sampling.histograms import summary_dataset
from ..scenarios import AnyScenario, load_any_scenario
from ..scenarios.deployment import ServingScenario
from ..scenarios.training import Scenario
from .finite import check_policy, check_values
from .statistics import describe_all, percentile_of

if TYPE_CHECKING:
    import xarray as xr

JSON_STATS = ("median", "mean", "sd", "p5", "p95", "p2_5", "p97_5", "hdi90_lower", "hdi90_upper")
OUT_LIMIT_BYTES = 4 * 10**9  # a netCDF of every draw beyond this needs force=True (--force)


@dataclass
class RunResult:
    """A run's summaries, its published figures placed among the draws, and how it was drawn.

    `stats` maps each summarized variable to its `carbon_mc.summary.STATS`; `summary` is the same
    as a Dataset over ``stat`` (with units and provenance), built on first use.
    """

    scenario: AnyScenario
    stats: dict[str, dict[str, float]]
    reported: dict
    info: dict
    dataset: Callable[[], xr.Dataset]
    calibrated: dict | None = None
    variables: list[str] = field(default_factory=list)
    seed: int = 0
    draws_dataset: Callable[[], xr.Dataset] | None = None
    headline: tuple[str, ...] = HEADLINE  # the simulator's headline outputs (a deployment's are per request, per day, ...)
    output_table: dict = field(default_factory=lambda: dict(OUTPUTS))  # output -> (units, long_name)

    @functools.cached_property
    def draws(self) -> xr.Dataset | None:
        """Every draw as a Dataset (as `carbon_mc.estimate` returns), where the run kept them; else None."""
        return None if self.draws_dataset is None else self.draws_dataset()

    @functools.cached_property
    def summary(self) -> xr.Dataset:
        """The summaries as a Dataset over ``stat``, shaped like `carbon_mc.summarize`'s."""
        return self.dataset()

    @property
    def note(self) -> str | None:
        """How the summaries were computed (streamed, or with non-finite draws dropped), and for a
        deployment the share of draws whose traffic exceeds its capacity; None when there is nothing to say."""
        lines = [line for line in (self._drawn_note(), self._capacity_note()) if line]
        return "\n".join(lines) or None

    def _capacity_note(self) -> str | None:
        share = self.info.get(OVER_CAPACITY_KEY)
        if not share:
            return None
        return (f"in {100 * share:.1f}% of draws the stated traffic needs more accelerator time than was provisioned "
                f"(utilization above {OVER_CAPACITY_UTILIZATION:g}): those draws are kept with the accelerators at full-load "
                "power; the throughput priors may be pessimistic for this deployment, or requests queued")

    def _drawn_note(self) -> str | None:
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
        """The JSON shape of ``carbon-mc run --json``: headline outputs (each with its units, sd and 90% HDI),
        reported, run (streamed), other scopes, calibrated, and how it was drawn (``draws``)."""
        stats = {name: {k: float(self.stats[name][k]) for k in JSON_STATS} for name in self.variables}
        for name in self.variables:
            stats[name]["units"] = self.output_table[name].units
        out: dict[str, Any] = {name: stats[name] for name in self.headline}
        if self.reported:
            out["reported"] = self.reported
        if self.info["summary"] == "streaming_histogram":
            out["run"] = self.info
        out.update({name: stats[name] for name in self.variables if name not in self.headline})
        if self.calibrated is not None:
            out["calibrated"] = self.calibrated
        if self.scenario.notes:
            out["notes"] = list(self.scenario.notes)
        if self.info.get("nonfinite_draws_dropped"):
            out["nonfinite_draws_dropped"] = self.info["nonfinite_draws_dropped"]
        if OVER_CAPACITY_KEY in self.info:
            out[OVER_CAPACITY_KEY] = self.info[OVER_CAPACITY_KEY]
        out["draws"] = {"seed": self.seed, "num_draws": self.info["num_draws"], "method": self.info["method"],
                        "summary": self.info["summary"], "carbon_mc_version": package_version("carbon-mc"),
                        "scenario": self.scenario.name}
        return out


# A deployment's utilization (busy / provisioned accelerator time) and the run's share of draws above 1.
# "Above" means by more than 0.1%: a deployment given as fully busy has a utilization of 1 up to float32
# rounding, and that is not over capacity.
UTILIZATION = "utilization_fraction"
OVER_CAPACITY_KEY = "over_capacity_share"
OVER_CAPACITY_UTILIZATION = 1.001


def calibrated_inputs(scenario: AnyScenario, calibration: str | Path) -> tuple[dict[str, Prior], dict]:
    """(posterior priors, {"file", "inputs": status per calibrated quantity}) from a calibration file.

    Raises:
      CarbonMCError: not a calibration file, a posterior that did not converge, or one fitted with
        other priors (`carbon_mc.calibration.load_calibrated_priors`).
    """
    if isinstance(scenario, ServingScenario):
        raise CarbonMCError("--calibrated draws a training calibration's inputs; a serving scenario has none of them",
                            file=scenario.file)
    # The calibration needs ArviZ and NumPyro (about 1.5 s to import): only a calibrated run pays for them.
    from ..calibration import load_calibrated_priors

    posterior, status = load_calibrated_priors(calibration, scenario)
    return posterior, {"file": str(calibration), "inputs": status}


def run_figures(scenario: AnyScenario, output_table) -> dict[str, float]:
    """The published figures a run's table places: [reported], then each [[claims]] figure on an output
    no reported figure is on, made on the scenario's own accounting (a claim on another basis is
    `carbon-mc check`'s to place), in the output's units."""
    figures = scenario.reported.figures()
    for claim in scenario.claims:
        own = (claim.grid_basis in (None, scenario.accounting.grid_basis)
               and claim.pue_included in (None, scenario.accounting.pue_included))
        if own and claim.quantity in output_table and claim.quantity not in figures:
            figures[claim.quantity] = claim.value_in_quantity_units
    return figures


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
    priors: PriorTable | None = None,
    keep_draws: bool = False,
    nonfinite: str = "refuse",
    force: bool = False,
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
      keep_draws: keep the draws in ``RunResult.draws`` even above `STREAM_THRESHOLD` draws.
      priors: the prior table (default: the bundled priors with the ``CARBON_MC_PRIORS`` overlays).
      nonfinite: "refuse" (default) or "drop" draws that are not finite (`carbon_mc.finite`); the
        number dropped is in ``info["nonfinite_draws_dropped"]`` and the result's `note`.
      force: write `out` even when it would exceed `OUT_LIMIT_BYTES`.

    Raises:
      InputError: an invalid scenario, method, seed, draw count or calibration, or `out` with a streamed run.
      NumericError: draws or summaries that are not finite (unless ``nonfinite="drop"``).
      OutputError: `out` would exceed `OUT_LIMIT_BYTES` without `force`.
    """
    check_scenario(scenario), check_method(method), check_seed(seed), check_policy(nonfinite), check_priors(priors)
    check_flag(stream, "stream"), check_flag(keep_draws, "keep_draws"), check_flag(force, "force"), check_callable(progress)
    check_path(calibration, "calibration", optional=True), check_path(out, "out", optional=True)
    if num_draws is not None:
        check_num_draws(num_draws)
    if rel_error is not None and (isinstance(rel_error, bool) or not isinstance(rel_error, (int, float)) or not 0 < rel_error < 1):
        raise InputError(f"rel_error must lie in (0, 1), got {rel_error!r}")
    if not isinstance(scenario, (Scenario, ServingScenario)):
        scenario = load_any_scenario(scenario, priors=priors)
    streaming = rel_error is not None or stream or ((num_draws or 0) > STREAM_THRESHOLD and out is None and not keep_draws)
    if streaming and keep_draws:
        raise InputError("keeping the draws is not possible with --stream or --rel-error; drop one of them")
    if streaming and out is not None:
        raise InputError("--out keeps every draw, which --stream and --rel-error do not; drop one of them")
    if out is not None and not force:
        check_out_size(scenario, num_draws or DEFAULT_DRAWS)
    posterior, calibrated = calibrated_inputs(scenario, calibration) if calibration else (None, None)
    sim = build_simulator(scenario, posterior=posterior, priors=priors)
    variables = list(sim.headline) + [k for k in run_figures(scenario, sim.output_table) if k not in sim.headline]
    if not streaming:
        return _exact(sim, variables, calibrated, num_draws=num_draws or DEFAULT_DRAWS, seed=seed, method=method, out=out,
                      keep_draws=keep_draws, progress=progress, nonfinite=nonfinite)
    if rel_error is not None:
        result = stream_to_precision(sim, rel_error=rel_error, max_draws=num_draws or DEFAULT_MAX_DRAWS, seed=seed,
                                     method=method, variables=variables, progress=progress, nonfinite=nonfinite)
    else:
        streamed = variables + ([UTILIZATION] if UTILIZATION in sim.output_table and UTILIZATION not in variables else [])
        result = stream_summary(sim, num_draws=num_draws or DEFAULT_DRAWS, seed=seed, method=method, variables=streamed,
                                progress=progress, nonfinite=nonfinite)
    info = {"num_draws": int(result.attrs["num_draws"]), "method": method, "summary": "streaming_histogram"}
    if UTILIZATION in sim.output_table and UTILIZATION in result.histograms | result.constants:
        info[OVER_CAPACITY_KEY] = round(1.0 - result.percentile_of(UTILIZATION, OVER_CAPACITY_UTILIZATION) / 100.0, 9)
    if result.attrs.get("nonfinite_draws_dropped"):
        info["nonfinite_draws_dropped"] = int(result.attrs["nonfinite_draws_dropped"])
    if rel_error is not None:
        info.update(rel_error_target=rel_error, rel_error_achieved=float(result.attrs["rel_error_achieved"]))
    summary = result.to_dataset()
    check_values({k: summary[k].values for k in variables}, "summary")
    stats = {name: {k: float(summary[name].sel(stat=k)) for k in summary["stat"].values} for name in variables}
    return RunResult(scenario, stats, result.reported_percentiles(run_figures(scenario, sim.output_table)), info, lambda: summary,
                     calibrated, variables, seed, headline=sim.headline, output_table=sim.output_table)


def _exact(sim, variables: list[str], calibrated, *, num_draws: int, seed, method: str, out, keep_draws: bool, progress,
           nonfinite: str) -> RunResult:
    """Summaries from kept draws: the numbers of ``summarize(estimate(...))``, with no Dataset unless one is asked for."""
    figures = run_figures(sim.scenario, sim.output_table)
    # Without --out or kept draws, only what is reported is computed and kept (the same draws of those variables).
    over_capacity = [UTILIZATION] if UTILIZATION in sim.output_table else []
    needed = None if (keep_draws or out is not None) else list(dict.fromkeys([*variables, *figures, *over_capacity]))
    inputs, outputs, attrs, draw_index = kept_draws(sim, num_draws=num_draws, seed=seed, method=method, progress=progress,
                                                    nonfinite=nonfinite, variables=needed)
    dropped = int(attrs.get("nonfinite_draws_dropped", 0))
    draws = functools.cache(lambda: to_dataset(sim, inputs, outputs, attrs, draw_index=draw_index))
    if out is not None:
        save_dataset(draws(), out)
    stats = describe_all({name: outputs[name] for name in variables})
    check_values({k: [v[s] for s in ("mean", "median", "p5", "p95")] for k, v in stats.items()}, "summary")
    reported = {name: {"value": float(v), "percentile": percentile_of(outputs[name], v)} for name, v in figures.items()}
    info = {"num_draws": num_draws, "method": method, "summary": "exact"}
    if dropped:
        info["nonfinite_draws_dropped"] = dropped
    if over_capacity:
        info[OVER_CAPACITY_KEY] = float(np.mean(outputs[UTILIZATION] > OVER_CAPACITY_UTILIZATION))

    def dataset():
        table = sim.output_table
        var_attrs = {name: {"units": table[name].units, "long_name": table[name].long_name, "role": "output"} for name in variables}
        for name in variables:
            nonfinite = int(np.count_nonzero(~np.isfinite(outputs[name])))
            if nonfinite:
                var_attrs[name]["nonfinite_draws"] = nonfinite  # left out of every statistic, as in `summarize`
        return summary_dataset(stats, var_attrs, attrs)

    return RunResult(sim.scenario, stats, reported, info, dataset, calibrated, variables, seed,
                     draws if (keep_draws or out is not None) else None, headline=sim.headline, output_table=sim.output_table)


def out_bytes(scenario: AnyScenario, num_draws: int) -> int:
    """About how many bytes `estimate` keeps (and `--out` writes) for `num_draws` draws of `scenario`."""
    sim = build_simulator(scenario)
    columns = sum(k for _, k in sim.columns) + sum(1 for shape in output_shapes(sim).values() if shape != ())
    return 4 * num_draws * (columns + 2)  # float32 values, plus the draw coordinate (int64)


def check_out_size(scenario: AnyScenario, num_draws: int) -> None:
    """Refuse, before any draw, an `out` file beyond `OUT_LIMIT_BYTES` (suggesting ``--force`` or ``--stream``)."""
    size = out_bytes(scenario, num_draws)
    if size > OUT_LIMIT_BYTES:
        raise OutputError(
            f"--out would write about {size / 1e9:.1f} GB ({num_draws:,} draws; the limit without --force is "
            f"{OUT_LIMIT_BYTES / 1e9:g} GB): pass --force to write it, or drop --out (or use --stream) for summaries only"
        )
