"""The `carbon-mc` command line: a thin layer, each command calling one public function.

Commands live in `carbon_mc.commands.<name>`, each with ``register(subparsers)`` and a handler;
this module only parses, checks what every command shares (seed, output paths), dispatches, and
turns user errors into one line and exit code 2. Each command's outputs are written all or none
(`carbon_mc.io.all_or_none`); Ctrl-C at any moment exits 130 with one line and leaves no output.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._version import __version__
from .errors import CarbonMCError, OutputError
from .io import signals
from .io.cache import enable_compilation_cache

# Subcommand -> (module under carbon_mc.commands, one-line help). Only the module of the command
# being run is imported, and each imports its library on demand, so `carbon-mc --help` and every
# `carbon-mc COMMAND --help` answer without loading JAX, xarray or NumPyro.
COMMANDS = {
    "run": ("run", "estimate a training run's energy and CO2e as a distribution"),
    "check": ("check", "place a published figure in the distribution: percentile, ratio, what it would take"),
    "compare": ("compare", "compare two scenarios: B/A, B-A and P(B < A), with common random numbers"),
    "lifecycle": ("lifecycle", "a model's whole life: training plus serving, each phase's share, the break-even point"),
    "sensitivity": ("sensitivity", "Sobol' indices: which uncertain input drives the spread"),
    "scaling": ("scaling", "CarbonScaling sweep: loss, accuracy and CO2e over model sizes and accelerators"),
    "bench": ("bench", "measure the engine's throughput against a NumPy reference, the floor and NumPyro"),
    "calibrate": ("calibrate", "fit the calibration on the measured runs (NumPyro NUTS)"),
    "validate": ("validate", "leave-one-out validation of the calibration on the measured runs"),
    "list": ("listing", "list accelerators, grid regions, data centres, bundled scenarios or every prior"),
    "import": ("ingest", "turn a CodeCarbon CSV or a GPU power log into a scenario, or hourly grid data into a prior"),
    "report": ("report", "write a self-contained HTML page: ranges, figures, claim checks, sensitivity, assumptions"),
    "cache": ("cache", "show or clear the compilation cache"),
}
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = signals.EXIT_INTERRUPTED
OUTPUT_ARGS = ("out", "plot", "model_card", "csv", "csv_draws", "html", "report")  # argument destinations that name files to write


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (``carbon-mc run: error: ...``), exit status 2."""

    def error(self, message: str):
        import re

        from .errors import close_matches, one_line

        text = " ".join(message.split())
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", text)
        if choice:
            word, options = choice.group(1), re.findall(r"'([^']*)'", choice.group(2))
            text = f"{text[:choice.start()]}invalid choice '{word[:40]}'; {close_matches(word, options)}"
        text = one_line(text, 300)
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, only that subcommand is registered in full (the others by name and help)."""
    parser = OneLineParser(
        prog="carbon-mc",
        description="Distributions, not point estimates, for the carbon footprint of training LLMs.",
    )
    parser.add_argument("--version", action="version", version=f"carbon-mc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if name == command:
            importlib.import_module(f"carbon_mc.commands.{module}").register(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named in `argv` (the first argument that is one), if any."""
    return next((a for a in argv if a in COMMANDS), None)


def check_shared(args: argparse.Namespace) -> None:
    """Checks every command shares, before any computation: the seed, and every output path."""
    from .sampling.args import check_seed

    if getattr(args, "seed", None) is not None:
        check_seed(args.seed)
    from .io.files import check_writable

    for dest in OUTPUT_ARGS:
        value = getattr(args, dest, None)
        if isinstance(value, str):
            check_writable(value, flag=f"--{dest.replace('_', '-')}")
    paths = [getattr(args, d) for d in OUTPUT_ARGS if isinstance(getattr(args, d, None), str)]
    if len(set(paths)) < len(paths):
        raise OutputError(f"two outputs name the same file: {', '.join(paths)}")


def show_notes() -> None:
    """Warnings of the library (a place that fell back to a wider grid, a year past the data) as
    one line each on stderr: ``carbon-mc: note: ...``."""
    import logging

    class ToStderr(logging.Handler):  # the stderr of the moment (a caller may have replaced it)
        def emit(self, record: logging.LogRecord) -> None:
            print(f"carbon-mc: note: {record.getMessage()}", file=sys.stderr)

    logger = logging.getLogger("carbon_mc")
    if not any(type(h).__name__ == "ToStderr" for h in logger.handlers):
        logger.addHandler(ToStderr())
        logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    signals.release()
    previous = signals.guard_command()
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(_command_of(argv)).parse_args(argv)
        from .io.files import all_or_none

        check_shared(args)
        show_notes()
        enable_compilation_cache()
        with all_or_none():
            return int(args.handler(args) or 0)
    except CarbonMCError as exc:
        print(f"carbon-mc: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("carbon-mc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # the user's files or system refused (a name too long, a disk full): one line, no traceback
        from .errors import one_line

        where = f"{one_line(str(exc.filename), 200)}: " if exc.filename else ""
        print(f"carbon-mc: error: {where}{one_line(str(exc.strerror or exc), 300)}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        if not signals.is_console_script():  # a caller in the same process gets its own Ctrl-C back
            signals.restore(previous)


if __name__ == "__main__":
    sys.exit(main())
