"""Figures, one module per feature; matplotlib only, imported lazily by the CLI."""

from __future__ import annotations

from pathlib import Path

from ..io import atomic_write


def save_figure(fig, path: str | Path) -> Path:
    """Write `fig` to `path` (format from the suffix) through a temporary file and an atomic rename."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or None))
