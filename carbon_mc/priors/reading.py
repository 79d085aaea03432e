"""Reading TOML data files once: parsed documents kept by the SHA-256 of their bytes.

Every command reads the bundled priors (about 700 kB of TOML, most of it the generated places
table), and the place and device name tables read some of them again. Python's `tomllib` parses
them in about 110 ms on a 2-core CPU, JSON of the same documents in about 5 ms. So a parsed
document is kept as JSON text by the hash of the file's bytes: in memory for the process, and on
disk beside the compilation cache (``$CARBON_MC_CACHE_DIR``, see `carbon_mc.io.cache`) for files
large enough to pay for it. A changed file has another hash: nothing stale is ever read. The cache
is only ever faster; when it cannot be written, the file is parsed as usual. No JAX here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import tomllib
from pathlib import Path

from ..errors import InputError

DISK_MIN_BYTES = 32_000  # smaller files parse in a few ms: kept in memory only
DISK_DIR = "toml"  # under the cache directory (`carbon_mc.io.cache.PARSED_DIR`); `carbon-mc cache --clear` empties it
_MEMORY: dict[str, str] = {}  # sha256 -> the parsed document as JSON text


def read_toml_bytes(path: str | Path) -> tuple[dict, bytes]:
    """(the parsed TOML, the file's bytes), the file read once (it may be a pipe); a malformed,
    unreadable, non-UTF-8 or BOM-prefixed file is an `InputError` naming it."""
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise InputError("is a directory, not a TOML file", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    return parse_toml_bytes(data, str(path)), data


def parse_toml_bytes(data: bytes, file: str) -> dict:
    """Parse TOML bytes read from `file` (named in errors): UTF-8 without a byte-order mark."""
    sha = hashlib.sha256(data).hexdigest()
    text = _MEMORY.get(sha)
    if text is None and len(data) >= DISK_MIN_BYTES:
        text = _disk_get(sha)
    if text is not None:
        with contextlib.suppress(ValueError):  # a damaged cache file: parse the TOML instead
            return json.loads(text)
    doc = _parse(data, file)
    try:
        text = json.dumps(doc)
    except (TypeError, ValueError):  # TOML dates and times have no JSON form: such a file is parsed each time
        return doc
    _MEMORY[sha] = text
    if len(data) >= DISK_MIN_BYTES:
        _disk_put(sha, text)
    return doc


def _parse(data: bytes, file: str) -> dict:
    if data.startswith(b"\xef\xbb\xbf"):
        raise InputError("starts with a UTF-8 byte-order mark, which TOML does not allow: save it as UTF-8 without BOM",
                         file=file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): TOML files must be UTF-8",
                         file=file) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"malformed TOML: {exc}", file=file) from None


def disk_dir() -> Path | None:
    """Where parsed documents are kept on disk, or None when the cache is off."""
    from ..io.cache import cache_dir, cache_enabled

    return cache_dir() / DISK_DIR if cache_enabled() else None


def _disk_get(sha: str) -> str | None:
    folder = disk_dir()
    if folder is None:
        return None
    try:
        return (folder / f"{sha}.json").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _disk_put(sha: str, text: str) -> None:
    folder = disk_dir()
    if folder is None:
        return
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".carbon-mc-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, folder / f"{sha}.json")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


__all__ = ["DISK_DIR", "disk_dir", "parse_toml_bytes", "read_toml_bytes"]
