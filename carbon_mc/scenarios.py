"""Either kind of scenario from a file or a bundled name: a training run or a deployment.

A file with a ``[serving]`` table is a deployment (`carbon_mc.serving_scenario`), any other a
training run (`carbon_mc.scenario`). A bare name is looked up among the bundled training runs
(models/), then among the bundled deployments (models/serving/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

from .data import data_dir
from .errors import InputError, close_matches, shown
from .priors import PriorTable, read_toml
from .scenario import Scenario, load_scenario, scenario_path
from .serving_scenario import ServingScenario, load_serving_scenario

AnyScenario = Union[Scenario, ServingScenario]


def bundled_names() -> dict[str, Path]:
    """{name: path} of every bundled scenario, training runs first."""
    models = data_dir("models")
    return {p.stem: p for p in [*sorted((models / "serving").glob("*.toml")), *sorted(models.glob("*.toml"))][::-1]}


def _bundled(name: str) -> Path:
    names = bundled_names()
    if name not in names:
        raise InputError(f"no bundled scenario {shown(name)}; {close_matches(name, names)}")
    return names[name]


def is_serving_file(path: str | Path) -> bool:
    """True when the TOML file at `path` describes a deployment (has a ``[serving]`` table)."""
    return "serving" in read_toml(Path(path))


def load_any_scenario(path: str | Path, *, priors: PriorTable | None = None) -> AnyScenario:
    """A training `Scenario` or a `ServingScenario` from a TOML path or a bundled name.

    Raises:
      InputError: no such file or bundled name (with close matches), a directory, a file that is not
        UTF-8 TOML, or an invalid scenario.
    """
    path = scenario_path(path, _bundled)
    if is_serving_file(path):
        return load_serving_scenario(path, priors=priors)
    return load_scenario(path, priors=priors)
