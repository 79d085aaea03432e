"""JAX's persistent compilation cache for carbon-mc: a second run of any scenario does not compile.

A default run compiles a few dozen small XLA programs (uniforms, inverse CDFs, the model), which
takes longer than the drawing itself. `enable_compilation_cache` points JAX's persistent cache at a
per-user directory (``$CARBON_MC_CACHE_DIR``, else ``$XDG_CACHE_HOME/carbon-mc/jax``, else
``~/.cache/carbon-mc/jax``), with one subdirectory per jax version. The command line enables it;
``CARBON_MC_COMPILATION_CACHE=0`` turns it off, ``carbon-mc cache --clear`` empties it. If the user
already set ``JAX_COMPILATION_CACHE_DIR``, that directory is used as it is. A directory that cannot
be written (read-only, or a file in the way) turns the cache off for the run: it is only slower.

The cache owns only what JAX writes in the ``jax-<version>`` subdirectories (``*-cache`` and
``*-atime`` entries, ``.lockfile``): `cache_size` counts those and `clear_cache` removes those,
never another file the user keeps in ``$CARBON_MC_CACHE_DIR``.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

ENV_SWITCH = "CARBON_MC_COMPILATION_CACHE"
ENV_DIR = "CARBON_MC_CACHE_DIR"
ENTRY_SUFFIXES = ("-cache", "-atime")  # what JAX's persistent cache writes (jax._src.lru_cache), and its lock file
LOCK_FILE = ".lockfile"
PARSED_DIR = "toml"  # carbon_mc.priors.reading keeps parsed TOML documents here
PARSED_NAME = re.compile(r"[0-9a-f]{64}\.json")


def cache_dir() -> Path:
    """The directory of carbon-mc's compilation cache (whether or not it exists yet)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "carbon-mc" / "jax"


def cache_enabled() -> bool:
    """False when ``CARBON_MC_COMPILATION_CACHE`` is 0, off, false or no."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "off", "false", "no")


def enable_compilation_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache (every program, however quick to compile); the directory used, or None if off."""
    if not cache_enabled():
        return None
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        path = Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    else:
        path = cache_dir() / f"jax-{jax.__version__}"
        if not _writable(path):
            return None
        jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def _writable(path: Path) -> bool:
    """Whether the cache can live in `path` (made if missing): a file can be created there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".carbon-mc-probe-", dir=path)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def cache_files() -> list[Path]:
    """The files the compilation cache wrote: JAX's entries in the ``jax-*`` subdirectories of `cache_dir`."""
    root = cache_dir()
    if not root.is_dir():
        return []
    files = []
    for sub in sorted(root.glob("jax-*")):
        if sub.is_dir() and not sub.is_symlink():
            files += [p for p in sorted(sub.iterdir())
                      if p.is_file() and not p.is_symlink() and (p.name.endswith(ENTRY_SUFFIXES) or p.name == LOCK_FILE)]
    parsed = root / PARSED_DIR  # parsed TOML documents (carbon_mc.priors.reading): <sha256>.json
    if parsed.is_dir() and not parsed.is_symlink():
        files += [p for p in sorted(parsed.iterdir()) if p.is_file() and not p.is_symlink() and PARSED_NAME.fullmatch(p.name)]
    return files


def cache_size() -> tuple[int, int]:
    """(files, bytes) in the compilation cache (its entries only, see `cache_files`)."""
    files = cache_files()
    sizes = []
    for p in files:
        with contextlib.suppress(OSError):  # removed meanwhile by another process
            sizes.append(p.stat().st_size)
    return len(files), sum(sizes)


def clear_cache() -> int:
    """Delete the compilation cache's entries (and its ``jax-*`` subdirectories, when that empties
    them); any other file in the directory stays. The number of files removed."""
    removed = 0
    for p in cache_files():
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed += 1
    for sub in [*cache_dir().glob("jax-*"), cache_dir() / PARSED_DIR] if cache_dir().is_dir() else ():
        with contextlib.suppress(OSError):  # not empty (the user's files), or not a directory
            sub.rmdir()
    return removed
