"""Moved to `carbon_mc.io.tables`; this name stays for code that followed earlier READMEs."""

from .io.tables import write_csv

__all__ = ["write_csv"]
