"""Measurements in: CodeCarbon's emissions.csv, GPU power logs and hourly grid intensity, as scenarios.

Pure Python and NumPy, no network. Each reader returns a `MeasuredRun` (or a grid series); the
scenario written from it has the schema of models/*.toml with ``[reported] basis = "measured"`` on
the energy scope the measurement covers, ready for ``carbon-mc run`` and ``carbon-mc check``.
"""

from .codecarbon import read_codecarbon, read_codecarbon_runs
from .gpus import match_hardware, parse_gpu_name
from .grid import GridSeries, annual_prior, read_grid_csv, run_prior
from .measured import MeasuredRun, check_power, scenario_sections, scenario_text, toml_document, write_all, write_scenario
from .power_log import read_power_log

__all__ = [
    "GridSeries",
    "MeasuredRun",
    "annual_prior",
    "check_power",
    "match_hardware",
    "parse_gpu_name",
    "read_codecarbon",
    "read_codecarbon_runs",
    "read_grid_csv",
    "read_power_log",
    "run_prior",
    "scenario_sections",
    "scenario_text",
    "toml_document",
    "write_all",
    "write_scenario",
]
