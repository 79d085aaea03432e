"""Ctrl-C, SIGTERM and SIGHUP: one line on stderr, exit status 128 + the signal's number, nothing left behind.

Importing carbon_mc (JAX, NumPyro, xarray) takes seconds, before `carbon_mc.cli.main` can catch
anything. When the process is the command line (the ``carbon-mc`` console script, or ``python -m
carbon_mc.cli``), `guard_imports` installs handlers for that time; nothing has been written yet, so
leaving at once is safe. While a command runs, `guard_command` installs handlers that first remove
every temporary output (`discard_temporary`). A signal the parent process set to
be ignored (``nohup`` ignores SIGHUP) stays ignored. Library users (``import carbon_mc``) keep their
own handlers throughout.

The few steps that must not be cut in two (creating a temporary file and recording it; renaming the
outputs into place) run inside `deferred()`: a signal that arrives then takes effect when they are
done.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator

EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
HANDLED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_MODULES = ("carbon_mc.cli", "carbon_mc")  # python -m MODULE runs the command line
_state: dict = {"depth": 0, "pending": None, "written": []}


def exit_status(signum: int) -> int:
    """The exit status of a command ended by signal `signum`: 128 + its number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + int(signum)


def message(signum: int) -> str:
    """The one line printed when signal `signum` ends a command."""
    if signum == signal.SIGINT:
        return "carbon-mc: interrupted"
    return f"carbon-mc: terminated ({signal.Signals(signum).name})"


def _default(signum: int):
    return signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL


def _leave(signum, frame) -> None:
    written = _state["written"]
    sys.stderr.write(message(signum) + (f"; already written: {', '.join(written)}" if written else "") + "\n")
    sys.stderr.flush()
    os._exit(exit_status(signum))


def is_console_script() -> bool:
    """True when this process is the command line: the ``carbon-mc`` script or ``python -m carbon_mc.cli``."""
    if os.path.basename(sys.argv[0] if sys.argv else "") in ("carbon-mc", "carbon-mc.exe"):
        return True
    argv = list(getattr(sys, "orig_argv", ()))
    for i, arg in enumerate(argv[1:], 1):
        if arg == "-m":
            return i + 1 < len(argv) and argv[i + 1] in _MODULES
        if arg.startswith("-m"):
            return arg[2:] in _MODULES
        if not arg.startswith("-"):  # a script or a command (-c): not the module
            return False
    return False


def _install(handler: Callable, only_if_default: bool) -> dict:
    """Set `handler` for every handled signal not ignored by the parent; {signal: previous handler}."""
    previous = {}
    for signum in HANDLED:
        current = signal.getsignal(signum)
        if current == signal.SIG_IGN or (only_if_default and current != _default(signum)):
            continue
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread
            return previous
    return previous


# Temporary files that exist right now (being written or staged), so that a signal handler can
# remove them before the process leaves (`discard_temporary`); and outputs created (not replaced)
# by the command under way, which are removed with them.
TEMPORARY: set[str] = set()
CREATED: set[str] = set()


def discard_temporary() -> None:
    """Remove every temporary output file this process still holds, and the outputs the command
    under way created (called when a signal ends a command)."""
    for tmp in list(TEMPORARY) + list(CREATED):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        TEMPORARY.discard(tmp)
        CREATED.discard(tmp)



def guard_imports() -> None:
    if is_console_script():
        _install(_leave, only_if_default=True)


def _discard_and_leave(signum, frame) -> None:
    if _state["depth"]:  # in a step that must not be cut in two: take effect when it ends
        _state["pending"] = signum
        return
    discard_temporary()
    _leave(signum, frame)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Signals that arrive inside take effect when the block ends (it must be short)."""
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        pending = _state["pending"]
        if not _state["depth"] and pending is not None:
            _state["pending"] = None
            _discard_and_leave(pending, None)


def note_written(paths: list) -> None:
    """Record outputs renamed into place, so that a signal arriving during the renames can say so."""
    _state["written"].extend(str(p) for p in paths)


def guard_command() -> dict | None:
    """While a command runs, SIGINT, SIGTERM and SIGHUP remove its temporary outputs and end the
    process at once with 128 + the signal's number; returns the handlers to restore.

    Leaving from the handler, not by a KeyboardInterrupt, because an exception raised while Python
    runs a garbage-collection callback (JAX's, for one) is printed and swallowed: the command
    would go on and finish. None when the handlers cannot be set (not the main thread).
    """
    _state["written"] = []
    previous = _install(_discard_and_leave, only_if_default=False)
    if not previous:
        return None
    return {s: (_default(s) if h is _leave else h) for s, h in previous.items()}


def restore(previous) -> None:
    """Put back the handlers `guard_command` replaced."""
    for signum, handler in (previous or {}).items():
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signum, handler)


def release() -> None:
    """Give back the handlers `guard_imports` set (Python's own)."""
    for signum in HANDLED:
        if signal.getsignal(signum) is _leave:
            signal.signal(signum, _default(signum))


guard_imports()
