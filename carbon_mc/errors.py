"""The errors a user can get: `CarbonMCError` and its three kinds, so the CLI prints one clear line.

- `InputError`: a scenario, priors file, argument or value that is wrong (type, range, key, encoding).
- `NumericError`: valid inputs whose draws leave float32's range or are not finite (NaN, inf).
- `OutputError`: a result that cannot be written where it was asked for.

All three are `CarbonMCError`s, so ``except CarbonMCError`` catches every user mistake; the command
line prints ``carbon-mc: error: <message>`` and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_SHOWN = 80  # characters of a user's value echoed back in a message
MAX_MESSAGE = 600  # characters of a whole message


def shown(value) -> str:
    """``repr(value)``, cut to `MAX_SHOWN` characters: a 200 KB string is not echoed back whole."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}... ({len(text):,} characters)"


def one_line(text: str, limit: int) -> str:
    """`text` on one printable line (control characters escaped, as repr does), cut to `limit` characters."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


class CarbonMCError(Exception):
    """A problem with the user's input: which file, which key, what is wrong, what would be valid.

    Raised without a kind (``CarbonMCError(...)``) it is an `InputError`: every user mistake that is
    not about numbers (`NumericError`) or outputs (`OutputError`) is one about input.
    """

    def __new__(cls, *args, **kwargs):
        return super().__new__(InputError if cls is CarbonMCError else cls, *args)

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.file = None if file is None else one_line(str(file), 200)
        self.key = None if key is None else one_line(str(key), 120)
        self.message = one_line(" ".join(str(message).splitlines()), MAX_MESSAGE)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ": ".join(str(part) for part in (self.file, self.key) if part)
        return f"{where}: {self.message}" if where else self.message


class InputError(CarbonMCError, ValueError):
    """A scenario, priors file, argument or value that is wrong: its type, range, key or encoding."""


class NumericError(CarbonMCError, ArithmeticError):
    """Draws that are not finite, or inputs that would leave float32's range in the chain."""


class OutputError(CarbonMCError, OSError):
    """A result that cannot be written: a directory, an unwritable place, a wrong suffix, too large."""


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> str:
    """A phrase naming the closest valid choices to `word`, for error messages."""
    choices = sorted(set(choices))
    word = str(word)[:MAX_SHOWN]
    matches = difflib.get_close_matches(word.lower(), choices, n=n, cutoff=0.5)
    if not matches:
        matches = [c for c in choices if word.lower() in c or c in word.lower()][:n]
    if matches:
        return "did you mean " + " or ".join(repr(m) for m in matches) + "?"
    shown_choices = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
    return f"valid: {shown_choices}"
