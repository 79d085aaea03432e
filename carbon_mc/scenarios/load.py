"""Loading scenarios: one call for either kind (`load_any_scenario`), the readers of each kind with
their arguments checked, and the bundled names."""


from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

from ..data import data_dir
from ..errors import InputError, close_matches, shown
from ..priors import PriorTable
from . import deployment, training
from .common import Accounting, Claim, Reported, read_scenario_file, scenario_path
from .deployment import ServingScenario
from .training import Scenario

AnyScenario = Scenario | ServingScenario


# The public readers check their arguments' types first (as `carbon_mc.sampling.args` does; written here
# because scenarios load without JAX), then call the readers of `training` and `deployment`.
def _check_path(path, name: str = "path"):
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"{name} must be a scenario file (a path) or a bundled scenario name, got {shown(path)} "
                         f"({type(path).__name__})")
    return path


def _check_priors(priors, name: str = "priors"):
    if priors is not None and not isinstance(priors, PriorTable):
        raise InputError(f"{name} must be a PriorTable (carbon_mc.load_priors) or None, got {shown(priors)} ({type(priors).__name__})")
    return priors


def _checked_load(load):
    @functools.wraps(load)
    def checked(path, *, priors=None):
        _check_path(path), _check_priors(priors)
        return load(path, priors=priors)

    return checked


def _checked_parse(parse):
    @functools.wraps(parse)
    def checked(doc, *, file=parse.__kwdefaults__["file"], table=None, sha256=None):
        if not isinstance(doc, Mapping):
            raise InputError(f"doc must be a dict (a parsed scenario TOML), got {shown(doc)} ({type(doc).__name__})")
        if not isinstance(file, str):
            raise InputError(f"file must be a string (the file name shown in messages), got {shown(file)}")
        _check_priors(table, "table")
        if sha256 is not None and not isinstance(sha256, str):
            raise InputError(f"sha256 must be a string or None, got {shown(sha256)}")
        return parse(doc, file=file, table=table, sha256=sha256)

    return checked


load_scenario = _checked_load(training.load_scenario)
load_serving_scenario = _checked_load(deployment.load_serving_scenario)
parse_scenario = _checked_parse(training.parse_scenario)
parse_serving_scenario = _checked_parse(deployment.parse_serving_scenario)


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
    _check_path(path)
    doc, _ = read_scenario_file(Path(path))
    return "serving" in doc


def load_any_scenario(path: str | Path | Mapping, *, priors: PriorTable | None = None) -> AnyScenario:
    """A training `Scenario` or a `ServingScenario` from a TOML path, a bundled name, or a dict.

    A dict is the scenario's TOML as Python data, validated exactly as the file would be:
    ``{"run": {"hardware": "h100_sxm", "devices": 64, "days": 10, "region": "france", "datacenter": "hyperscale"}}``
    (the fields of models/README.md; a ``"serving"`` table makes it a deployment).

    Raises:
      InputError: no such file or bundled name (with close matches), a directory, a file that is not
        UTF-8 TOML, or an invalid scenario.
    """
    _check_priors(priors)
    if isinstance(path, Mapping):
        doc = dict(path)
        parse_doc = deployment.parse_serving_scenario if "serving" in doc else training.parse_scenario
        return parse_doc(doc, file="<dict>", table=priors)
    _check_path(path)
    path = scenario_path(path, _bundled)
    doc, sha = read_scenario_file(path)  # read once (a pipe cannot be read twice), then parsed as its kind
    parse = deployment.parse_serving_scenario if "serving" in doc else training.parse_scenario
    return parse(doc, file=str(path), table=priors, sha256=sha)


__all__ = [
    "Accounting", "AnyScenario", "Claim", "Reported", "Scenario", "ServingScenario", "bundled_names", "is_serving_file",
    "load_any_scenario", "load_scenario", "load_serving_scenario", "parse_scenario", "parse_serving_scenario",
]
