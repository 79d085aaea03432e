"""Writing a ``co2_eq_emissions`` block into a model card's README (its YAML front matter).

A Hugging Face model card is a Markdown file whose metadata sit in a YAML block between two ``---``
lines at the top. `merge_front_matter` replaces the card's top-level ``co2_eq_emissions`` entry
(or adds one) and keeps every other line of the card as it was, comments and key order included:
the edit is made on lines, not by re-serialising the YAML. A card without front matter gets one.
A UTF-8 BOM and the card's line endings (CRLF or LF) are kept. The card must be UTF-8 text, as the
Hub reads it: a Latin-1, UTF-16 or binary file is refused in one line and left untouched, as is a
read-only card.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path

from ..errors import CarbonMCError, InputError, OutputError

__all__ = ["KEY", "card_with_block", "check_card", "merge_front_matter", "read_card", "split_front_matter"]

KEY = "co2_eq_emissions"
DELIMITER = "---"
BOM = "\ufeff"


def _lines(text: str) -> list[str]:
    """`text` cut after each "\n" (each line keeps its own ending, "\n" or "\r\n"); no other character splits."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def split_front_matter(text: str, *, file: str = "<model card>") -> tuple[list[str] | None, str]:
    """(the front matter's lines, or None when the card has none; the rest of the card, verbatim)."""
    lines = _lines(text.removeprefix(BOM))
    if not lines or lines[0].rstrip("\r\n") != DELIMITER:
        return None, text
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n") == DELIMITER:
            return [line.rstrip("\r\n") for line in lines[1:i]], "".join(lines[i + 1:])
    raise CarbonMCError("the YAML front matter opened by '---' on line 1 is never closed by a '---' line", file=file)


def _without_key(front: list[str]) -> tuple[list[str], int]:
    """`front` (lines with their endings) without its top-level `KEY` entry, and where it was.

    The entry is the key's line and the indented lines under it. A comment or blank line at the left
    margin after it belongs to what follows (kept) unless the entry goes on below it (then it is the
    entry's, and goes with it).
    """
    out: list[str] = []
    pending: list[str] = []
    where, skipping = len(front), False
    for line in front:
        content = line.rstrip("\r\n")
        if skipping:
            if not content.strip() or content.startswith("#"):
                pending.append(line)
                continue
            if content[0].isspace():  # still inside the entry
                pending = []
                continue
            skipping = False
            out.extend(pending)
            pending = []
        if re.match(rf"{KEY}\s*:", content):
            skipping, where = True, len(out)
            continue
        out.append(line)
    out.extend(pending)
    return out, where


def merge_front_matter(card_text: str, block_yaml: str, *, file: str = "<model card>") -> str:
    """The model card `card_text` with `block_yaml` (a ``co2_eq_emissions:`` block) as its emissions entry.

    Every other line of the card is kept byte for byte (comments, key order, a UTF-8 BOM, CRLF line
    endings); the block is written with the card's line ending.

    Raises:
      CarbonMCError: the card's front matter is not closed, or `block_yaml` is not a ``co2_eq_emissions`` block.
    """
    for name, value in (("card_text", card_text), ("block_yaml", block_yaml)):
        if not isinstance(value, str):
            raise InputError(f"{name} must be text (a str), got {type(value).__name__}")
    if not block_yaml.lstrip().startswith("co2_eq_emissions:"):
        raise InputError("block_yaml must be a co2_eq_emissions: block (as model_card_block writes it)")
    if not block_yaml.startswith(f"{KEY}:"):
        raise CarbonMCError(f"expected a '{KEY}:' block to write into the model card", file=file)
    bom = BOM if card_text.startswith(BOM) else ""
    text = card_text[len(bom):]
    lines = _lines(text)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    block = [line + newline for line in block_yaml.rstrip("\n").split("\n")]
    split_front_matter(text, file=file)  # an unclosed front matter is an error
    if not lines or lines[0].rstrip("\r\n") != DELIMITER:
        return bom + DELIMITER + newline + "".join(block) + DELIMITER + newline + text
    close = next(i for i in range(1, len(lines)) if lines[i].rstrip("\r\n") == DELIMITER)
    kept, where = _without_key(lines[1:close])
    merged = kept[:where] + block + kept[where:]
    return bom + lines[0] + "".join(merged) + "".join(lines[close:])


def read_card(path: str | Path) -> str:
    """The text of the model card at `path`: UTF-8, with or without a BOM (kept in the text).

    Raises:
      CarbonMCError: a binary file, UTF-16/32, or bytes that are not UTF-8 (a Latin-1 file), in one line.
    """
    path = Path(path)
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CarbonMCError(f"cannot be read: {exc.strerror or exc}", file=file) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CarbonMCError("a UTF-16 file: a model card is UTF-8, as the Hub reads it; save it as UTF-8", file=file)
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise CarbonMCError(f"a binary file, not a Markdown model card: a NUL byte on line {line}", file=file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CarbonMCError(f"not UTF-8 text: byte {data[exc.start]:#04x} on line {line} cannot be decoded (a Latin-1 or "
                            "Windows-1252 file?); the Hub reads model cards as UTF-8: save it as UTF-8", file=file) from None


def check_card(path: str | Path) -> None:
    """Fail early, before any computation, if the model card at `path` exists and cannot be updated.

    Raises:
      OutputError: the card is read-only (its write permissions are off, even for a superuser).
      CarbonMCError: a README (.md) that is not UTF-8 text, or whose front matter is unreadable.
    """
    path = Path(path)
    if not path.exists():
        return
    if path.is_file() and (not os.access(path, os.W_OK) or not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)):
        raise OutputError("is read-only: make it writable (chmod u+w) or write the block to another file", file=str(path))
    if path.suffix.lower() == ".md":
        split_front_matter(read_card(path), file=str(path))


def card_with_block(path: str | Path, block_yaml: str) -> str:
    """The text a model card at `path` (a README.md; may not exist yet) has once `block_yaml` is merged in."""
    path = Path(path)
    text = read_card(path) if path.exists() else ""
    return merge_front_matter(text, block_yaml, file=str(path))
