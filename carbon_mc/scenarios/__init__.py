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
from ..priors import PriorTable
from .common import Accounting, Claim, Reported, read_scenario_file, scenario_path
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
    doc, _ = read_scenario_file(Path(path))
    return "serving" in doc


def load_any_scenario(path: str | Path, *, priors: PriorTable | None = None) -> AnyScenario:
    """A training `Scenario` or a `ServingScenario` from a TOML path or a bundled name.

    Raises:
      InputError: no such file or bundled name (with close matches), a directory, a file that is not
        UTF-8 TOML, or an invalid scenario.
    """
    path = scenario_path(path, _bundled)
    doc, sha = read_scenario_file(path)  # read once (a pipe cannot be read twice), then parsed as its kind
    parse = parse_serving_scenario if "serving" in doc else parse_scenario
    return parse(doc, file=str(path), table=priors, sha256=sha)


__all__ = [
    "Accounting", "AnyScenario", "Claim", "Reported", "Scenario", "ServingScenario", "bundled_names", "is_serving_file",
    "load_any_scenario", "load_scenario", "load_serving_scenario", "parse_scenario", "parse_serving_scenario",
]
