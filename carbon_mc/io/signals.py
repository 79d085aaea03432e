"""Ctrl-C while the command line is still importing: one line and exit status 130, not a traceback.

Importing carbon_mc (JAX, NumPyro, xarray) takes seconds, before `carbon_mc.cli.main` can catch
anything. When the process is the ``carbon-mc`` console script, `guard_imports` installs a SIGINT
handler for that time; nothing has been written yet, so leaving at once is safe. `release` (called
by `carbon_mc.cli.main` once imports are done) restores Python's own handler, so later interrupts
raise KeyboardInterrupt and every pending output is removed on the way out. Library users
(``import carbon_mc``) keep Python's handler throughout.
"""

from __future__ import annotations

import contextlib
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
        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(signal.SIGINT, _leave)


def _discard_and_leave(signum, frame) -> None:
    from .files import discard_temporary  # loaded by the time a command runs

    discard_temporary()
    _leave(signum, frame)


def guard_command():
    """While a command runs, Ctrl-C removes its temporary outputs and exits 130 at once; returns the handler to restore.

    Leaving from the handler, not by a KeyboardInterrupt, because an exception raised while Python
    runs a garbage-collection callback (JAX's, for one) is printed and swallowed: the command
    would go on and finish. None when the handler cannot be set (not the main thread).
    """
    try:
        return signal.signal(signal.SIGINT, _discard_and_leave)
    except ValueError:  # not the main thread
        return None


def restore(previous) -> None:
    """Put back the SIGINT handler `guard_command` replaced."""
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def release() -> None:
    if signal.getsignal(signal.SIGINT) is _leave:
        signal.signal(signal.SIGINT, signal.default_int_handler)


guard_imports()
