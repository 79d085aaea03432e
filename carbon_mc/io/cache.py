"""JAX's persistent compilation cache for carbon-mc: a second run of any scenario does not compile.

A default run compiles a few dozen small XLA programs (uniforms, inverse CDFs, the model), which
takes longer than the drawing itself. `enable_compilation_cache` points JAX's persistent cache at a
per-user directory (``$CARBON_MC_CACHE_DIR``, else ``$XDG_CACHE_HOME/carbon-mc/jax``, else
``~/.cache/carbon-mc/jax``), with one subdirectory per jax version. The command line enables it;
``CARBON_MC_COMPILATION_CACHE=0`` turns it off, ``carbon-mc cache --clear`` empties it. If the user
already set ``JAX_COMPILATION_CACHE_DIR``, that directory is used as it is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV_SWITCH = "CARBON_MC_COMPILATION_CACHE"
ENV_DIR = "CARBON_MC_CACHE_DIR"


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
        jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def cache_size() -> tuple[int, int]:
    """(files, bytes) in the compilation cache."""
    files = [p for p in cache_dir().rglob("*") if p.is_file()] if cache_dir().exists() else []
    return len(files), sum(p.stat().st_size for p in files)


def clear_cache() -> int:
    """Delete the compilation cache; the number of files removed."""
    files, _ = cache_size()
    if cache_dir().exists():
        shutil.rmtree(cache_dir())
    return files
