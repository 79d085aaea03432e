"""CPU model names as /proc/cpuinfo, lscpu and CodeCarbon write them -> a CPU class (or CPU model) of the catalogue.

"Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "AMD EPYC 9654 96-Core Processor", "13th Gen Intel(R) Core(TM)
i9-13900K" are compared, in a normalised form ("xeon gold 6248"), with the ~1,400 server and desktop models
of CodeCarbon's CPU power table that priors/build/build_cpus.py sorted into classes (priors/cpu_aliases.toml).
The exact names of priors/hardware_aliases.toml (a CPU model the catalogue has on its own, the masked
"Intel(R) Xeon(R) CPU @ 2.20GHz" of cloud VMs, Arm server CPUs) are asked before this, by the caller.

Never a silent pick: a name of the table maps to its class with a note that names the model's own TDP;
a name outside the table whose text says its core count and family ("AMD EPYC 7B13 64-Core Processor")
maps to the class of that family and size with a warning; anything else is an `InputError` naming close
matches. Pure Python: importing this module does not import JAX.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, close_matches, shown
from .reading import read_toml_bytes

CPU_ALIAS_FILE = "cpu_aliases.toml"
_CPU_WORDS = re.compile(r"\b(xeon|epyc|ryzen|threadripper|core|graviton|neoverse|altra|grace|pentium|celeron|opteron|"
                        r"athlon|processor)\b|\bcpu\b", re.IGNORECASE)
_DROP = (r"\(r\)", r"\(tm\)", "®", "™", r"\b\d+(?:st|nd|rd|th) gen\b", r"\bintel\b", r"\bamd\b", r"\bprocessor\b",
         r"\bcpu\b", r"@\s*[\d.]+\s*ghz", r"\b\d+[- ]core\b", r"\bwith radeon graphics\b")
_CORES = re.compile(r"\b(\d+)[- ]core\b", re.IGNORECASE)
# family (in the normalised name) -> (class when cores <= 32, above; Ryzen: <= 8 cores, above); only names that state their cores
_BY_CORES = ((re.compile(r"^epyc [89]\w{3}"), ("cpu_epyc_2023_mid", "cpu_epyc_2023_large")),
             (re.compile(r"^epyc 7\w{3}"), ("cpu_server_2016_mid", "cpu_server_2016_large")),
             (re.compile(r"^ryzen [3579] "), ("cpu_desktop", "cpu_desktop_unlocked")))


@dataclass(frozen=True)
class CpuMatch:
    """A CPU name resolved: the catalogue key, the model's own TDP where the table has one, and what was done."""

    key: str
    tdp_w: float | None
    note: str


_GPU_WORDS = re.compile(r"nvidia|tesla|geforce|quadro|\brtx\b|instinct|radeon(?! graphics)|\bgpu\b|\btpu\b|gaudi|"
                        r"trainium|inferentia|tensor core", re.IGNORECASE)


def looks_like_cpu(text: str) -> bool:
    """True for a string that names a CPU (a family word such as Xeon, EPYC, Ryzen, Core, Graviton, or 'CPU')
    and no accelerator ("Tensor Core GPU" is not a CPU)."""
    return bool(_CPU_WORDS.search(str(text))) and not _GPU_WORDS.search(str(text))


def cores_in_name(text: str | None) -> int | None:
    """The cores per socket a CPU name states ("AMD EPYC 9354 32-Core Processor" -> 32), else None."""
    match = _CORES.search(str(text or ""))
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def normalize_cpu(text: str) -> str:
    """A comparable form of a CPU name: lower case, marks, vendor words, clock, core count and generation
    prefix removed, dashes as spaces ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz" -> "xeon gold 6248")."""
    text = str(text).lower()
    for pattern in _DROP:
        text = re.sub(pattern, " ", text)
    text = re.sub(r"[-_,()]", " ", text)
    return " ".join(text.split())


@functools.lru_cache(maxsize=2)
def cpu_table(path: str | None = None) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    """(normalised name -> key, normalised name -> the model's TDP in W, normalised name -> the name as written)."""
    from ..data import data_dir

    file = Path(path) if path is not None else data_dir("priors") / CPU_ALIAS_FILE
    doc = read_toml_bytes(file)[0]
    names, tdps = doc.get("names", {}), doc.get("tdp_w", {})
    keys = {normalize_cpu(n): k for n, k in names.items()}
    return keys, {normalize_cpu(n): float(t) for n, t in tdps.items()}, {normalize_cpu(n): n for n in names}


def resolve_cpu(text: str, hardware: Mapping[str, Mapping], *, file: str | None = None, key: str | None = None) -> CpuMatch:
    """The CPU class (or model) of the catalogue that CPU name `text` denotes.

    Raises:
      InputError: the name is neither in CodeCarbon's table nor says its family and cores (close matches are
        named), or it maps to a class the prior table lacks.
    """
    keys, tdps, written = cpu_table()
    form = normalize_cpu(text)
    if form in keys:
        target = _present(keys[form], text, hardware, file=file, key=key)
        spec = hardware[target]
        return CpuMatch(target, tdps.get(form), f"CPU {text.strip()!r} is {written[form]} ({tdps[form]:g} W TDP in "
                        f"CodeCarbon's table): counted as {target} ({spec['name']}, tdp_w {spec['tdp_w']:g} W per socket)")
    cores = _CORES.search(str(text))
    if cores:
        n = int(cores.group(1))
        for family, (small, large) in _BY_CORES:
            if family.search(form):
                target = _present(small if n <= (8 if small == "cpu_desktop" else 32) else large, text, hardware, file=file, key=key)
                return CpuMatch(target, None, f"CPU {text.strip()!r} is not in CodeCarbon's table: taken as class {target} "
                                f"by its family and its {n} cores ({hardware[target]['name']}); give --hardware KEY if "
                                "another class fits better")
    if not re.search(r"\d", form):  # "AMD EPYC", "Intel Xeon Processor (Icelake)": the VM hides the model
        raise InputError(f"CPU {shown(text)} names no model (cloud VMs often hide it), so no class can be told: give "
                         "--hardware with a CPU class or model (`carbon-mc list hardware --search cpu`)", file=file, key=key)
    choices = [*hardware, *keys]
    raise InputError(f"unknown CPU {shown(text)}; {close_matches(form or str(text), choices)} (`carbon-mc list hardware "
                     "--search cpu` shows the CPU classes; give --hardware KEY)", file=file, key=key)


def _present(target: str, text: str, hardware: Mapping[str, Mapping], *, file, key) -> str:
    if target not in hardware:
        raise InputError(f"CPU {shown(text)} maps to {target!r} ({CPU_ALIAS_FILE}), which this prior table does not have; "
                         f"{close_matches(target, hardware)}", file=file, key=key)
    return target


__all__ = ["CPU_ALIAS_FILE", "CpuMatch", "cores_in_name", "cpu_table", "looks_like_cpu", "normalize_cpu", "resolve_cpu"]
