"""A report people can publish: one self-contained HTML page, one section per scenario.

``carbon-mc report FILE [FILE ...] --html report.html`` calls `write_report`. Each scenario's
section (`content.scenario_report`) holds its ranges, the distribution figure with the published
figures marked only on their own scope, the claim checks, the sensitivity ranking, the assumptions
with their units and sources, and the model-card block; a training run and a deployment of that
model (its ``model`` link) on one page add the model's life cycle (`content.lifecycle_report`); `html.render_page` lays them out with
inline CSS and inline SVG figures, so the page needs no network and no script.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..io.files import save_text
from ..priors import PriorTable
from ..scenarios import load_any_scenario
from ..scenarios.deployment import ServingScenario
from ..scenarios.training import Scenario
from .content import DEFAULT_BASE_DRAWS, DEFAULT_DRAWS, LifecycleReport, ScenarioReport, lifecycle_pairs, lifecycle_report, scenario_report
from .html import render_page

__all__ = [
    "DEFAULT_BASE_DRAWS",
    "DEFAULT_DRAWS",
    "LifecycleReport",
    "ScenarioReport",
    "build_report",
    "lifecycle_report",
    "render_page",
    "scenario_report",
    "write_report",
]


def build_report(
    scenarios: Sequence,
    *,
    num_draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    base_draws: int = DEFAULT_BASE_DRAWS,
    priors: PriorTable | None = None,
    title: str | None = None,
) -> str:
    """The report's HTML text for `scenarios` (each a `Scenario`, a scenario TOML path or a bundled name).

    A deployment whose ``model`` link names a training run on the same page adds that model's life
    cycle (training plus serving over the deployment's period) after the scenarios' sections.
    """
    loaded = [s if isinstance(s, (Scenario, ServingScenario)) else load_any_scenario(s, priors=priors) for s in scenarios]
    reports = [scenario_report(s, num_draws=num_draws, seed=seed, base_draws=base_draws, priors=priors) for s in loaded]
    lifecycles = [lifecycle_report(tr, sv, num_draws=num_draws, seed=seed, priors=priors)
                  for tr, sv in lifecycle_pairs(loaded, priors=priors)]
    return render_page(reports, title=title, lifecycles=lifecycles)


def write_report(scenarios: Sequence, path: str | Path, **kwargs) -> Path:
    """`build_report` written to `path` atomically (nothing is written if any scenario fails)."""
    return save_text(build_report(scenarios, **kwargs), path)
