"""Figures, one module per feature; matplotlib only, imported lazily by the CLI."""
