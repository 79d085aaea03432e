import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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
