import os
import tempfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Commands run in-process turn on the compilation cache: keep it out of the user's cache directory.
os.environ.setdefault("CARBON_MC_CACHE_DIR", tempfile.mkdtemp(prefix="carbon-mc-test-cache-"))
MODELS = REPO / "models"


@pytest.fixture(scope="session")
def table():
    import carbon_mc

    return carbon_mc.load_priors()


@pytest.fixture
def write_toml(tmp_path):
    """Write a TOML snippet to a temporary file and return its path."""

    def write(text: str, name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def cli_json(capsys):
    """Run ``carbon-mc ARGS --json`` in this process; assert exit 0 and return the parsed JSON."""
    import json

    from carbon_mc.cli import main

    def run(*args: str) -> dict:
        assert main([*args, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    return run


TOY_SCENARIO = """
[run]
name = "toy"
hardware = "a100_80gb"
devices = 64
days = 10
region = "france"
datacenter = "hyperscale"
"""


@pytest.fixture
def toy_scenario() -> str:
    """A small valid training scenario (TOML text) that tests extend or break."""
    return TOY_SCENARIO


@pytest.fixture
def scenario_error(write_toml):
    """The message of the CarbonMCError that loading a scenario TOML text raises (fails if none)."""

    def error(text: str) -> str:
        import carbon_mc

        with pytest.raises(carbon_mc.CarbonMCError) as info:
            carbon_mc.load_scenario(write_toml(text))
        return str(info.value)

    return error


@pytest.fixture(autouse=True)
def no_env_overlays(monkeypatch):
    """No priors overlay from the environment of whoever runs the tests."""
    monkeypatch.delenv("CARBON_MC_PRIORS", raising=False)
