"""Match a GPU name as drivers and trackers print it ("NVIDIA A100-SXM4-80GB") to an accelerator key.

The alias table (priors/hardware_aliases.toml, `carbon_mc.priors.hardware_names`) is asked first: the
strings nvidia-smi, DCGM, CodeCarbon, rocm-smi and torch print, and cloud instance types. A name it
does not know is then compared by their parts: the model ("a100", "h100", "mi300x"), the memory ("80gb") and the
form factor ("sxm", "pcie", "nvl"). A name matches an accelerator of the prior table (bundled or from
an overlay) when the models agree, the memory agrees where both give one, and the form factors agree
where both give one. No match, or more than one, is an error naming the close candidates: a PCIe
A100 (300 W) is not silently taken for the SXM part (400 W).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ..errors import CarbonMCError, InputError
from ..priors.cpu_names import looks_like_cpu, resolve_cpu
from ..priors.hardware_names import AmbiguousNameError, resolve

VENDOR_WORDS = {"nvidia", "tesla", "amd", "instinct", "google", "geforce", "grace", "hopper", "superchip", "oam"}
FORM_FACTORS = {"sxm": "sxm", "sxm2": "sxm", "sxm3": "sxm", "sxm4": "sxm", "sxm5": "sxm", "pcie": "pcie", "nvl": "nvl"}


@dataclass(frozen=True)
class GpuName:
    model: str
    memory_gb: frozenset[int]
    form_factor: str | None


def parse_gpu_name(name: str) -> GpuName:
    """Model, memory sizes and form factor of a GPU name ("NVIDIA H100 80GB HBM3" -> h100, {80}, None)."""
    text = name.lower().replace("-", " ").replace("_", " ").replace(",", " ")
    memory: set[int] = set()
    for group in re.findall(r"(\d+(?:\s*/\s*\d+)*)\s*gb\b", text):
        memory.update(int(m) for m in re.split(r"\s*/\s*", group))
    text = re.sub(r"(\d+(?:\s*/\s*\d+)*)\s*gb\b", " ", text)
    tokens = [t for t in re.split(r"[\s()]+", text) if t]
    form = next((FORM_FACTORS[t] for t in tokens if t in FORM_FACTORS), None)
    model = next((t for t in tokens if t not in VENDOR_WORDS and t not in FORM_FACTORS and not t.startswith("hbm")
                  and re.search(r"[a-z]", t) and re.search(r"\d", t)), None)
    if model is None:
        model = " ".join(t for t in tokens if t not in VENDOR_WORDS)
    if model.startswith("v") and "tpu" in tokens:
        model = "tpu" + model
    return GpuName(model, frozenset(memory), form)


def compatible(reported: GpuName, known: GpuName) -> bool:
    """Same model; memory and form factor agree wherever both names give them."""
    if reported.model != known.model:
        return False
    if reported.memory_gb and known.memory_gb and not reported.memory_gb & known.memory_gb:
        return False
    return not (reported.form_factor and known.form_factor and reported.form_factor != known.form_factor)


def match_hardware(name: str, hardware: dict[str, dict], *, file: str | None = None, key: str | None = None) -> str:
    """The accelerator key of `hardware` (the prior table's) that GPU `name` denotes; else an error."""
    if name in hardware:
        return name
    try:
        return resolve(name, hardware, file=file, key=key).key
    except AmbiguousNameError:
        raise
    except InputError:
        if looks_like_cpu(name):  # a CPU model (CodeCarbon's cpu_model): its CPU class, said as a warning
            match = resolve_cpu(name, hardware, file=file, key=key)
            logging.getLogger("carbon_mc").warning("%s", match.note)
            return match.key
        # not in the alias table: compare the name's parts
    reported = parse_gpu_name(name)
    hits = sorted(k for k, spec in hardware.items() if compatible(reported, parse_gpu_name(spec["name"])))
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise CarbonMCError(f"GPU {name!r} matches several accelerators ({', '.join(hits)}): choose one with --hardware",
                            file=file, key=key)
    near = sorted(k for k, spec in hardware.items() if parse_gpu_name(spec["name"]).model == reported.model)
    if near:
        hint = f"close: {', '.join(near)} (but memory or form factor differ)"
    else:
        hint = f"`carbon-mc list hardware` shows all {len(hardware)}"
    raise CarbonMCError(
        f"GPU {name!r} matches no accelerator of the prior table; {hint}. Pass --hardware KEY, or add it "
        "with a priors overlay (CARBON_MC_PRIORS, see priors/README.md)", file=file, key=key,
    )
