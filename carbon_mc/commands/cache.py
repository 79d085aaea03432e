"""`carbon-mc cache`: where the compilation cache lives, how big it is, and how to empty it."""

from __future__ import annotations

import argparse

from ..io.cache import ENV_SWITCH, cache_dir, cache_enabled, cache_size, clear_cache
from .common import print_json, stdout


def register(sub) -> None:
    p = sub.add_parser("cache", help="show or clear the compilation cache (a second run does not compile)",
                       description="JAX's persistent compilation cache, which saves a second run of any scenario from "
                                   f"compiling. {ENV_SWITCH}=0 turns it off; CARBON_MC_CACHE_DIR moves it.")
    p.add_argument("--clear", action="store_true", help="delete every cached program")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    removed = clear_cache() if args.clear else None
    files, size = cache_size()
    info = {"directory": str(cache_dir()), "enabled": cache_enabled(), "files": files, "bytes": size}
    if removed is not None:
        info["removed_files"] = removed
    if args.json:
        print_json(info)
        return 0
    state = "on" if info["enabled"] else f"off ({ENV_SWITCH}=0)"
    stdout.print(f"compilation cache ({state}): {info['directory']}: {files} files, {size / 1e6:.1f} MB")
    if removed is not None:
        stdout.print(f"removed {removed} files")
    return 0
