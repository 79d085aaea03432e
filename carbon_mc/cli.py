"""The `carbon-mc` command line: a thin layer, each command calling one public function.

Commands live in `carbon_mc.commands.<name>`, each with ``register(subparsers)`` and a handler;
this module only parses, checks what every command shares (seed, output paths), dispatches, and
turns user errors into one line and exit code 2. Each command's outputs are written all or none
(`carbon_mc.io.all_or_none`); Ctrl-C, SIGTERM or SIGHUP at any moment exits 128 + the signal's
number (130, 143, 129) with one line and leaves no output. When the reader of stdout goes away
(``carbon-mc ... | head``), the command still finishes and writes its files, and exits quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from .errors import CarbonMCError, OutputError
from .io import signals
from .io.cache import enable_compilation_cache
from .version import __version__

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
    "inventory": ("inventory", "an organisation's year: runs and deployments summed with correlated intervals, kept in SQLite"),
}
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = signals.EXIT_INTERRUPTED
OUTPUT_ARGS = ("out", "plot", "model_card", "csv", "csv_draws", "html", "report")  # argument destinations that name files to write
INPUT_ARGS = ("file", "files", "a", "b", "grid", "calibrated")  # argument destinations that name files to read
CREATE_ONLY_COMMANDS = ("import",)  # commands whose --force means "overwrite": without it, outputs are created, never replaced
QUIET_WARNINGS = (  # (category, message regex) of warnings that are noise on the command line
    # NumPy/JAX float32 arithmetic out of range: the finiteness checks report it as one line
    (RuntimeWarning, r".*(overflow|underflow|invalid value|divide by zero) encountered"),
    (UserWarning, r".*persistent compilation cache"),  # JAX's cache could not be read or written: the run is only slower
)


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
    from .io.files import check_writable, same_file_key

    for dest in OUTPUT_ARGS:
        value = getattr(args, dest, None)
        if isinstance(value, str):
            check_writable(value, flag=f"--{dest.replace('_', '-')}")
    outputs = [getattr(args, d) for d in OUTPUT_ARGS if isinstance(getattr(args, d, None), str)]
    seen: dict[tuple, str] = {}
    for path in outputs:  # compared as files (resolved, through links), not as strings
        key = same_file_key(path)
        if key in seen:
            raise OutputError(f"two outputs name the same file: {seen[key]} and {path}")
        seen[key] = path
    for dest in INPUT_ARGS:
        value = getattr(args, dest, None)
        for path in value if isinstance(value, list) else [value]:
            if isinstance(path, str) and same_file_key(path) in seen:
                raise OutputError(f"the output {seen[same_file_key(path)]} is the input {path}: "
                                  "writing it would destroy what is being read; give another name")


def create_only_outputs(args: argparse.Namespace) -> list[str]:
    """The outputs that must be created, never replaced: those of a command whose --force means
    "overwrite", run without it (two such commands at once: one fails instead of one being lost)."""
    if args.command not in CREATE_ONLY_COMMANDS or getattr(args, "force", False):
        return []
    return [getattr(args, d) for d in OUTPUT_ARGS if isinstance(getattr(args, d, None), str)]


@contextlib.contextmanager
def quiet_warnings():
    """Inside, the warnings that are noise on the command line (`QUIET_WARNINGS`) are left out."""
    import warnings

    with warnings.catch_warnings():
        for category, pattern in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern, category=category)
        yield


class PipeSafe:
    """A text stream that swallows a broken pipe: when the reader goes away (``| head``), the rest
    of what the command prints goes nowhere and the command finishes its work (and its files)."""

    def __init__(self, stream):
        self.stream, self.broken = stream, False

    def _quiet(self) -> None:
        self.broken = True
        try:  # what is still buffered goes nowhere, also at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._quiet()
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._quiet()

    def __getattr__(self, name):
        return getattr(self.stream, name)


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
    previous = signals.guard_command()  # replaces guard_imports' handlers, or Python's
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PipeSafe(sys.stdout), PipeSafe(sys.stderr)
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(_command_of(argv)).parse_args(argv)
        from .io.files import all_or_none, create_only

        check_shared(args)
        show_notes()
        with quiet_warnings():
            enable_compilation_cache()
            with all_or_none(), create_only(create_only_outputs(args)):
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
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        sys.stdout, sys.stderr = streams
        if not signals.is_console_script():  # a caller in the same process gets its own handlers back
            signals.restore(previous)


if __name__ == "__main__":
    sys.exit(main())
