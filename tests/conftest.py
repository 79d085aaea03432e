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
