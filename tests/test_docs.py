"""The API reference builds from the docstrings with `mkdocs build --strict` (CI installs the docs extra)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_api_reference_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml"), "-d", str(site)],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    page = (site / "api" / "ingest" / "index.html").read_text(encoding="utf-8")
    assert "read_codecarbon" in page and "read_power_log" in page
    assert "load_priors" in (site / "api" / "priors" / "index.html").read_text(encoding="utf-8")
    shutil.rmtree(site)


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    import carbon_mc

    assert carbon_mc.__version__ == version("carbon-mc") != "0+unknown"
    r = subprocess.run([sys.executable, "-m", "carbon_mc.cli", "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == f"carbon-mc {carbon_mc.__version__}"


def test_version_fallback_only_when_not_installed():
    from carbon_mc.version import installed_version

    assert installed_version("carbon-mc-no-such-distribution") == "0+unknown"


def test_citation_and_license_are_present():
    import yaml

    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT" and cff["authors"][0]["name"] == "carbon-mc contributors"
    assert cff["title"] and cff["message"] and cff["type"] == "software"
    assert "Copyright (c) 2026 carbon-mc contributors" in (REPO / "LICENSE").read_text(encoding="utf-8")
    assert (REPO / "carbon_mc" / "py.typed").exists()
