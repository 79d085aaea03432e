"""Ctrl-C while the command line is still importing: one line and exit status 130, not a traceback.

Importing carbon_mc (JAX, NumPyro, xarray) takes seconds, before `carbon_mc.cli.main` can catch
anything. When the process is the ``carbon-mc`` console script, `guard_imports` installs a SIGINT
handler for that time; nothing has been written yet, so leaving at once is safe. `release` (called
by `carbon_mc.cli.main` once imports are done) restores Python's own handler, so later interrupts
raise KeyboardInterrupt and every pending output is removed on the way out. Library users
(``import carbon_mc``) keep Python's handler throughout.
"""

from __future__ import annotations

import os
import signal
import sys

EXIT_INTERRUPTED = 130


def _leave(signum, frame) -> None:
    sys.stderr.write("carbon-mc: interrupted\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def is_console_script() -> bool:
    return os.path.basename(sys.argv[0] if sys.argv else "") in ("carbon-mc", "carbon-mc.exe")


def guard_imports() -> None:
    if is_console_script() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        try:
            signal.signal(signal.SIGINT, _leave)
        except ValueError:  # not the main thread
            pass


def release() -> None:
    if signal.getsignal(signal.SIGINT) is _leave:
        signal.signal(signal.SIGINT, signal.default_int_handler)


guard_imports()
