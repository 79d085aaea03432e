"""Scenarios: what a user describes in a TOML file, validated. One call loads either kind.

- `training`: a training run (`Scenario`, a ``[run]`` table; models/*.toml).
- `deployment`: a deployment that serves a model (`ServingScenario`, a ``[serving]`` table;
  models/serving/*.toml).
- `common`: what both kinds share, written once: published figures (`Reported`, ``[reported]``),
  `Claim` (``[[claims]]``), `Accounting` (``[accounting]``), ``[priors]`` overrides and the
  resolution of a scenario's priors, finding and reading the file.
- `fields`: readers of typed, bounded fields with errors that name the file and the key.
- `units`: units of published figures (CO2e masses and energies) and their conversion.

`load_any_scenario` reads a file with a ``[serving]`` table as a deployment and any other as a
training run; a bare name is looked up among the bundled training runs (models/), then among the
bundled deployments (models/serving/).
"""

from __future__ import annotations

from pathlib import Path

from ..data import data_dir
from ..errors import InputError, close_matches, shown
from ..priors import PriorTable, read_toml
from .common import Accounting, Claim, Reported, scenario_path
from .deployment import ServingScenario, load_serving_scenario, parse_serving_scenario
from .training import Scenario, load_scenario, parse_scenario

AnyScenario = Scenario | ServingScenario


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


__all__ = [
    "Accounting", "AnyScenario", "Claim", "Reported", "Scenario", "ServingScenario", "bundled_names", "is_serving_file",
    "load_any_scenario", "load_scenario", "load_serving_scenario", "parse_scenario", "parse_serving_scenario",
]
