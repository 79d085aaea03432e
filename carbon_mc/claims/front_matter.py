"""Writing a ``co2_eq_emissions`` block into a model card's README (its YAML front matter).

A Hugging Face model card is a Markdown file whose metadata sit in a YAML block between two ``---``
lines at the top. `merge_front_matter` replaces the card's top-level ``co2_eq_emissions`` entry
(or adds one) and keeps every other line of the card as it was, comments and key order included:
the edit is made on lines, not by re-serialising the YAML. A card without front matter gets one.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import CarbonMCError

__all__ = ["KEY", "card_with_block", "check_card", "merge_front_matter", "split_front_matter"]

KEY = "co2_eq_emissions"
DELIMITER = "---"


def split_front_matter(text: str, *, file: str = "<model card>") -> tuple[list[str] | None, str]:
    """(the front matter's lines, or None when the card has none; the rest of the card, verbatim)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != DELIMITER:
        return None, text
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n") == DELIMITER:
            return [line.rstrip("\r\n") for line in lines[1:i]], "".join(lines[i + 1:])
    raise CarbonMCError("the YAML front matter opened by '---' on line 1 is never closed by a '---' line", file=file)


def _without_key(front: list[str]) -> tuple[list[str], int]:
    """`front` without its top-level `KEY` entry (the key's line and the indented lines under it), and where it was."""
    out: list[str] = []
    where, skipping = len(front), False
    for line in front:
        top_level = bool(line) and not line[0].isspace() and not line.startswith("#")
        if skipping and top_level:
            skipping = False
        if re.match(rf"{KEY}\s*:", line):
            skipping, where = True, len(out)
            continue
        if not skipping:
            out.append(line)
    return out, where


def merge_front_matter(card_text: str, block_yaml: str, *, file: str = "<model card>") -> str:
    """The model card `card_text` with `block_yaml` (a ``co2_eq_emissions:`` block) as its emissions entry.

    Raises:
      CarbonMCError: the card's front matter is not closed, or `block_yaml` is not a ``co2_eq_emissions`` block.
    """
    if not block_yaml.startswith(f"{KEY}:"):
        raise CarbonMCError(f"expected a '{KEY}:' block to write into the model card", file=file)
    block = block_yaml.rstrip("\n").split("\n")
    front, body = split_front_matter(card_text, file=file)
    if front is None:
        return "\n".join([DELIMITER, *block, DELIMITER]) + "\n" + card_text
    kept, where = _without_key(front)
    merged = kept[:where] + block + kept[where:]
    return "\n".join([DELIMITER, *merged, DELIMITER]) + "\n" + body


def check_card(path: str | Path) -> None:
    """Fail early, before any computation, if the model card at `path` exists and its front matter is unreadable."""
    path = Path(path)
    if path.exists():
        split_front_matter(path.read_text(encoding="utf-8"), file=str(path))


def card_with_block(path: str | Path, block_yaml: str) -> str:
    """The text a model card at `path` (a README.md; may not exist yet) has once `block_yaml` is merged in."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return merge_front_matter(text, block_yaml, file=str(path))
