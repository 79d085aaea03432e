"""An organisation's year: many training runs and deployments summed with honest intervals, kept in SQLite.

- `entries`: scenarios with the organisation's labels (team, project, model, phase, period, tags),
  read from folders of scenario files and from CSV tables (`read_entries`).
- `sharing`: which inputs entries share (same grid and year, data centre, hardware class, constants)
  and which are each run's own; an entry may opt out of any rule.
- `totals`: every draw evaluates every entry, streamed over draws and entries, summed into cells.
- `store`: the SQLite database (entries, tags, reports, cached cells; versioned schema).
- `report`: grouped totals with intervals, shares of the total and of the variance; stored,
  reused and reproduced (`inventory_report`, `reproduce_report`; `totals` without a database).
- `measured`: many CodeCarbon files at once, one entry each (`add_entries(..., codecarbon=[...])`).
- `html`: the report as an HTML page (`inventory_html`) and the shared inputs that drive the
  spread (`shared_input_shares`).

    >>> add_entries("examples/inventory", "lab.sqlite")                      # doctest: +SKIP
    >>> inventory_report("lab.sqlite", by="team,quarter").total()            # doctest: +SKIP
"""

from .entries import Entry, read_entries
from .report import InventoryReport, add_entries, inventory_report, reproduce_report, totals
from .sharing import RULES, RUN_SPECIFIC
from .store import SCHEMA_VERSION, InventoryStore

__all__ = [
    "RULES", "RUN_SPECIFIC", "SCHEMA_VERSION", "Entry", "InventoryReport", "InventoryStore", "add_entries",
    "inventory_html", "inventory_report", "read_codecarbon_entries", "read_entries", "reproduce_report",
    "shared_input_shares", "totals",
]

_LAZY = {"inventory_html": "html", "shared_input_shares": "html", "read_codecarbon_entries": "measured"}


def __getattr__(name: str):
    """The HTML page and the CodeCarbon reader, imported when first asked for (matplotlib, the importers)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
