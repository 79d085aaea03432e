"""One error type for everything a user can get wrong, so the CLI prints one clear line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CarbonMCError(Exception):
    """A problem with the user's input: which file, which key, what is wrong, what would be valid."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.file = file
        self.key = key
        self.message = message
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ": ".join(str(part) for part in (self.file, self.key) if part)
        return f"{where}: {self.message}" if where else self.message


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> str:
    """A phrase naming the closest valid choices to `word`, for error messages."""
    choices = sorted(set(choices))
    matches = difflib.get_close_matches(word.lower(), choices, n=n, cutoff=0.5)
    if not matches:
        matches = [c for c in choices if word.lower() in c or c in word.lower()][:n]
    if matches:
        return "did you mean " + " or ".join(repr(m) for m in matches) + "?"
    shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
    return f"valid: {shown}"
