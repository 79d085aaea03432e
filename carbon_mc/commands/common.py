"""Pieces shared by CLI commands: consoles, progress bars, number formatting, argument types."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys

from ..errors import CarbonMCError, InputError, NumericError


class _LazyConsole:
    """A rich Console made on first use: a command that prints only JSON never imports rich."""

    def __init__(self, **options):
        self._options, self._console = options, None

    def get(self):
        """The Console itself (made now if not yet)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name):
        return getattr(self.get(), name)


stdout = _LazyConsole(highlight=False)
stderr = _LazyConsole(stderr=True, highlight=False)
PROGRESS_MIN_DRAWS = 2_000_000


def positive_int(text: str) -> int:
    """A whole number >= 1, written plainly or in exponent form ("1e6"); "1.5e0" or "1e400" is an error."""
    from decimal import Decimal, InvalidOperation

    from ..sampling.args import MAX_DRAWS

    try:
        number = Decimal(text.strip().replace("_", ""))
    except (InvalidOperation, ValueError):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}")
    if not 1 <= number <= MAX_DRAWS:
        raise argparse.ArgumentTypeError(f"must lie between 1 and {MAX_DRAWS:.0e}, got {text[:40]}")
    return int(number)


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text[:40]!r}")
    if abs(value) > 1e30 or (value != 0 and abs(value) < 1e-30):
        raise argparse.ArgumentTypeError(f"{value:g} is outside the range the float32 engine carries (1e-30 to 1e30, or 0)")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 inside float32's usable range."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text[:40]}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 inside float32's usable range."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text[:40]}")
    return value


def probability(text: str) -> float:
    """A number strictly between 0 and 1."""
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {text[:40]}")
    return value


def fmt(x: float) -> str:
    """Three significant figures, thousands separated, no scientific notation for everyday sizes."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    digits = max(0, 2 - math.floor(math.log10(abs(x))))
    if abs(x) >= 1e9 or abs(x) < 1e-4:
        return f"{x:.3g}"
    return f"{round(x, digits):,.{digits}f}"


@contextlib.contextmanager
def progress_bar(total: int | None, label: str, enabled: bool = True):
    """A rich progress bar on stderr for long runs; yields a ``callback(done, total)``.

    With `total` None the bar takes its total from the callback's (the library knows it).
    """
    if not enabled or (total is not None and total < PROGRESS_MIN_DRAWS):
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    count = TextColumn("{task.completed:,}/{task.total:,}" if total is not None else "{task.completed:,}")
    with Progress(TextColumn(label), BarColumn(), count,
                  TimeRemainingColumn(), console=stderr.get(), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done, of: bar.update(task, completed=done, total=of)


def _nonfinite_path(obj, path: str = "") -> str | None:
    """Where in a JSON-ready object the first NaN or infinity sits ("total_tco2e.median"), or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return path or "(top level)"
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for key, value in items:
        found = _nonfinite_path(value, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def print_json(obj) -> None:
    """Print `obj` as strict JSON; a NaN or infinity anywhere is a `NumericError` naming it (JSON has neither)."""
    where = _nonfinite_path(obj)
    if where:
        raise NumericError(f"--json: {where} is not finite (NaN or inf), which JSON cannot hold; nothing was printed")
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def require_suffix(path: str | None, suffixes: tuple[str, ...], flag: str) -> None:
    if path is not None and not path.lower().endswith(suffixes):
        raise CarbonMCError(f"{flag} must end in {' or '.join(suffixes)}, got {path!r}")


def save_plot(module: str, function: str, *args, **kwargs) -> None:
    """Draw with ``carbon_mc.plots.<module>.<function>(*args, path=..., ...)`` on the Agg backend and close it."""
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close(getattr(importlib.import_module(f"carbon_mc.plots.{module}"), function)(*args, **kwargs))


def add_priors_flag(p: argparse.ArgumentParser) -> None:
    """--priors DIR (repeatable): the user's overlay directories, applied after CARBON_MC_PRIORS."""
    p.add_argument("--priors", action="append", default=[], metavar="DIR",
                   help="overlay directory of the user's own priors (*.toml in the bundled format), applied after "
                        "CARBON_MC_PRIORS (repeatable; later wins)")


def priors_table(args: argparse.Namespace):
    """The prior table `--priors` asks for, or None (the bundled table with CARBON_MC_PRIORS)."""
    if not getattr(args, "priors", None):
        return None
    from ..priors import load_priors

    return load_priors(overlays=args.priors)


# A run described by flags instead of a file: flag -> [run] key (the same fields, validated as the TOML is).
RUN_FLAGS = {
    "hardware": (str, "accelerator key or name as tools print it (`carbon-mc list hardware`)"),
    "devices": (float, "number of accelerators"),
    "days": (float, "wall-clock days (with --devices)"),
    "hours": (float, "wall-clock hours (with --devices)"),
    "device_hours": (float, "accelerator-hours (instead of --devices and --days)"),
    "region": (str, "where it ran: a country, state or cloud region (`carbon-mc list regions`)"),
    "grid": (float, "grid intensity in gCO2e/kWh (instead of --region)"),
    "datacenter": (str, "data-centre class (`carbon-mc list datacenters`)"),
    "pue": (float, "power usage effectiveness (instead of --datacenter)"),
    "parameters": (float, "model parameters"),
    "tokens": (float, "training tokens"),
    "year": (int, "year it ran (picks the grid's year)"),
    "name": (str, "a name for the run (default: from the flags)"),
}


def add_scenario_flags(p: argparse.ArgumentParser, file_help: str) -> None:
    """FILE (optional) and the flags that describe a training run instead of a file, with --save."""
    p.add_argument("file", nargs="?", help=file_help + "; or describe the run with the flags below instead")
    group = p.add_argument_group("a run from flags (when no FILE is given)")
    for flag, (kind, text) in RUN_FLAGS.items():
        option = f"--{flag.replace('_', '-')}"
        if option in p._option_string_actions:  # the command's own flag of that name wins (check --pue included|excluded)
            continue
        dest = "run_name" if flag == "name" else f"run_{flag}"
        group.add_argument(option, dest=dest, type=_flag_type(kind), default=None, help=text)
    group.add_argument("--save", metavar="TOML", help="also write the run the flags describe as a scenario file")


def _flag_type(kind):
    if kind is str:
        return str
    if kind is int:
        return int
    return _float


def run_from_flags(args: argparse.Namespace) -> dict | None:
    """The scenario document the flags describe ({"run": {...}}), or None when none of them is given."""
    values = {flag: getattr(args, "run_name" if flag == "name" else f"run_{flag}", None) for flag in RUN_FLAGS}
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        return None
    run: dict = {}
    for flag, value in given.items():
        if flag == "hours":
            continue
        key = {"grid": "grid_gco2_per_kwh"}.get(flag, flag)
        run[key] = int(value) if flag == "devices" and float(value).is_integer() else value
    if "hours" in given:
        if "days" in given:
            raise InputError("give --days or --hours, not both", key="--hours")
        run["days"] = given["hours"] / 24.0
    run.setdefault("name", f"{run.get('hardware', 'run')} run from flags")
    return {"run": run}


def scenario_argument(args: argparse.Namespace, table=None):
    """What a command runs on: FILE, or the scenario the flags describe (validated exactly as its TOML,
    and written with --save); never both."""
    from ..scenarios import parse_scenario

    doc = run_from_flags(args)
    if args.file is not None:
        if doc is not None or getattr(args, "save", None):
            raise InputError("give a scenario FILE or describe the run with flags (--hardware ...), not both")
        return args.file
    if doc is None:
        raise InputError("give a scenario FILE (or a bundled name), or describe the run with --hardware, --devices, "
                         "--days, --region, --datacenter (see --help)")
    name = args.save or "<flags>"
    scenario = parse_scenario(doc, file=name, table=table)
    if args.save:
        from ..io.files import save_text

        require_suffix(args.save, (".toml",), "--save")
        save_text(scenario_toml(doc), args.save)
    return scenario


def scenario_toml(doc: dict) -> str:
    """A flat scenario document ({"run": {...}} of strings and numbers) as TOML text."""
    lines = ["# written by carbon-mc from command-line flags", ""]
    for section, table in doc.items():
        lines.append(f"[{section}]")
        for key, value in table.items():
            lines.append(f"{key} = {json.dumps(value) if isinstance(value, str) else repr(value)}")
        lines.append("")
    return "\n".join(lines)
