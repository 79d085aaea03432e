"""Writing a ``co2_eq_emissions`` block into a model card's README (its YAML front matter).

A Hugging Face model card is a Markdown file whose metadata sit in a YAML block between two ``---``
lines at the top. `merge_front_matter` replaces the card's top-level ``co2_eq_emissions`` entry
(or adds one) and keeps every other line of the card as it was, comments and key order included:
the edit is made on lines, not by re-serialising the YAML. A card without front matter gets one.
A UTF-8 BOM and the card's line endings (CRLF or LF) are kept. The card must be UTF-8 text, as the
Hub reads it: a Latin-1, UTF-16 or binary file is refused in one line and left untouched, as is a
read-only card.

An existing ``co2_eq_emissions`` entry that carbon-mc did not write (its ``source`` does not start
with "carbon-mc ") is kept unless the caller forces it (`check_card`): a card's own figure, and above
all a measured one (CodeCarbon's ``source: "code carbon"``, AutoTrain's), is evidence to check, not
a number to overwrite. `fill_environmental_section` fills the "[More Information Needed]" fields of
the Hub template's "Environmental Impact" section (Hardware Type, Hours used, Cloud Provider, Compute
Region, Carbon Emitted) and leaves every filled field as it was.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path

from ..errors import CarbonMCError, InputError, OutputError

__all__ = ["ENVIRONMENTAL_FIELDS", "KEY", "card_with_block", "check_card", "existing_entry", "fill_environmental_section",
           "merge_front_matter", "read_card", "split_front_matter"]

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


# The Hub's documented sources of a co2_eq_emissions figure that measured it (huggingface.co/docs/hub/model-cards-co2:
# 'source: "source of the information, either directly from AutoTrain, code carbon or from a scientific article"';
# AutoTrain reports CodeCarbon's measurement).
MEASURED_SOURCES = ("code carbon", "codecarbon", "autotrain")
OURS = "carbon-mc "  # the start of the source line carbon-mc writes (`carbon_mc.claims.model_card`)


def existing_entry(text: str, *, whole_yaml: bool = False) -> dict[str, str] | None:
    """The top-level ``co2_eq_emissions`` entry of a card's front matter (`whole_yaml`: of a YAML file's text), or None.

    Returns {"emissions": ..., "source": ...} as written (quotes removed; "" where absent), read from
    lines, not by a YAML parser: ``co2_eq_emissions: 1234`` (a bare number of grams) or the block form.
    """
    if whole_yaml:
        lines = [line.rstrip("\r\n") for line in _lines(text.removeprefix(BOM))]
    else:
        front, _ = split_front_matter(text)
        if front is None:
            return None
        lines = front
    found: dict[str, str] | None = None
    for line in lines:
        if found is None:
            m = re.match(rf"{KEY}\s*:\s*(.*)$", line)
            if m:
                found = {"emissions": _unquote(m.group(1)), "source": ""}
            continue
        if line and not line[0].isspace() and not line.startswith("#"):
            break
        m = re.match(r"\s+(emissions|source)\s*:\s*(.*)$", line)
        if m:
            found[m.group(1)] = _unquote(m.group(2))
    return found


def _unquote(value: str) -> str:
    value = re.sub(r"\s+#.*$", "", value.strip()) if not value.strip().startswith(('"', "'")) else value.strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value


def _refuse_existing(entry: dict[str, str], file: str) -> None:
    """The error for a card whose own co2_eq_emissions entry would be replaced without --force."""
    emissions, source = entry["emissions"], entry["source"]
    said = ", ".join(x for x in (f"emissions {emissions} g" if emissions else "", f"source {source!r}" if source else "") if x)
    check = (f"check it against this run with `carbon-mc check SCENARIO --claim {emissions} --unit g --quantity operational_tco2e`"
             if emissions and re.fullmatch(r"[0-9.eE+-]+", emissions) else "check its figure with `carbon-mc check SCENARIO --claim VALUE --unit g`")
    if any(m in source.lower() for m in MEASURED_SOURCES):
        raise InputError(f"the card already holds a measured co2_eq_emissions figure ({said}); it is kept. A measurement is "
                         f"evidence, not a number to overwrite: {check}, or use the measurement itself with "
                         "`carbon-mc import codecarbon emissions.csv`; --force replaces it", file=file, key=KEY)
    raise InputError(f"the card already has a co2_eq_emissions entry ({said or 'no emissions or source given'}) that carbon-mc "
                     f"did not write; it is kept: {check}, or pass --force to replace it", file=file, key=KEY)


def check_card(path: str | Path, *, force: bool = False) -> None:
    """Fail early, before any computation, if the model card at `path` exists and cannot be updated.

    Raises:
      OutputError: the card is read-only (its write permissions are off, even for a superuser).
      CarbonMCError: a README (.md) that is not UTF-8 text, or whose front matter is unreadable; a card (a
        README or a .yaml file) with a co2_eq_emissions entry carbon-mc did not write, unless `force`
        (a measured one named as such, with the check to run instead).
    """
    if not isinstance(force, bool):
        raise InputError(f"force must be True or False, got {type(force).__name__}")
    path = Path(path)
    if not path.exists():
        return
    if path.is_file() and (not os.access(path, os.W_OK) or not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)):
        raise OutputError("is read-only: make it writable (chmod u+w) or write the block to another file", file=str(path))
    if not path.is_file():
        return
    if path.suffix.lower() == ".md":
        text = read_card(path)
        split_front_matter(text, file=str(path))
    else:  # a .yaml file is written whole: only its co2_eq_emissions entry matters, in whatever encoding
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise CarbonMCError(f"cannot be read: {exc.strerror or exc}", file=str(path)) from None
    entry = None if force else existing_entry(text, whole_yaml=path.suffix.lower() != ".md")
    if entry is not None and not entry["source"].startswith(OURS):
        _refuse_existing(entry, str(path))


# The bullet fields of the Hub's model-card template, "Environmental Impact" section
# (huggingface_hub/templates/modelcard_template.md), as the template renders an unset field.
ENVIRONMENTAL_FIELDS = ("Hardware Type", "Hours used", "Cloud Provider", "Compute Region", "Carbon Emitted")
UNSET = "[More Information Needed]"


def fill_environmental_section(body: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """`body` (a card's Markdown) with the template's unset environmental fields filled from `values`.

    Only a line "- **Field:** [More Information Needed]" of a field in `values` changes (its line ending
    kept); a field already filled in is left as it was. Returns the text and the fields filled.
    """
    out, filled = [], []
    for line in _lines(body):
        ending = "\r\n" if line.endswith("\r\n") else "\n" if line.endswith("\n") else ""
        content = line[:len(line) - len(ending)]
        m = re.match(r"^(\s*[-*]\s*\*\*([^*:]+):\*\*\s*)" + re.escape(UNSET) + r"\s*$", content)
        if m and m.group(2).strip() in values and m.group(2).strip() not in filled:
            content = m.group(1) + values[m.group(2).strip()]
            filled.append(m.group(2).strip())
        out.append(content + ending)
    return "".join(out), filled


def card_with_block(path: str | Path, block_yaml: str, *, body_values: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """The text a model card at `path` (a README.md; may not exist yet) has once `block_yaml` is merged in,
    and, with `body_values`, its environmental section's unset fields filled; and the fields filled."""
    path = Path(path)
    text = read_card(path) if path.exists() else ""
    merged = merge_front_matter(text, block_yaml, file=str(path))
    if not body_values:
        return merged, []
    bom = BOM if merged.startswith(BOM) else ""
    lines = _lines(merged[len(bom):])
    close = next(i for i in range(1, len(lines)) if lines[i].rstrip("\r\n") == DELIMITER)
    head, body = "".join(lines[:close + 1]), "".join(lines[close + 1:])
    body, filled = fill_environmental_section(body, body_values)
    return bom + head + body, filled
