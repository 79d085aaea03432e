"""The `carbon-mc` command line: a thin layer, each command calling one public function.

Commands live in `carbon_mc.commands.<name>`, each with ``register(subparsers)`` and a handler;
this module only parses, dispatches and turns user errors into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._version import __version__
from .errors import CarbonMCError

# Module names under carbon_mc.commands; each module's register() names its own subcommand
# ("listing" registers `list`, "ingest" registers `import`).
COMMANDS = ["run", "check", "compare", "lifecycle", "sensitivity", "scaling", "bench", "calibrate", "validate", "listing", "ingest"]
EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carbon-mc",
        description="Distributions, not point estimates, for the carbon footprint of training LLMs.",
    )
    parser.add_argument("--version", action="version", version=f"carbon-mc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"carbon_mc.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CarbonMCError as exc:
        print(f"carbon-mc: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("carbon-mc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
