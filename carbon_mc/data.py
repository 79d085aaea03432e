"""Where the bundled data lives: inside the installed wheel, or at the root of a source checkout."""

from __future__ import annotations

from pathlib import Path

from .errors import CarbonMCError, close_matches

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Directory of bundled TOML data, `name` being "priors" or "models".

    A wheel carries them in ``carbon_mc/_data/<name>``; an editable install or a checkout reads
    them from ``<repo>/<name>``.
    """
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir() and any(candidate.glob("*.toml")):
            return candidate
    raise FileNotFoundError(f"bundled {name}/ directory not found next to {_PACKAGE_DIR}")


def bundled_model(name: str) -> Path:
    """Path of a bundled scenario, e.g. ``bundled_model("gpt3_175b")``."""
    path = data_dir("models") / (name if name.endswith(".toml") else f"{name}.toml")
    if not path.exists():
        names = [p.stem for p in data_dir("models").glob("*.toml")]
        raise CarbonMCError(f"no bundled scenario {name[:80]!r}; {close_matches(name, names)}")
    return path
