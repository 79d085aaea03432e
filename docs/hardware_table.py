"""Print the hardware table of docs/hardware.md (markdown) from the accelerator TOMLs and the bandwidth priors.

    python docs/hardware_table.py [--all]

Without --all: the devices of priors/accelerators_more.toml and priors/accelerators_cpu.toml (those added
after the first 16); with --all: every device. Columns: key, TDP (W), dense peaks (BF16/FP16, FP8, INT8; a
dash where the device has no such matrix units), memory bandwidth, and the first clause of each source.
TDPs that are estimates (no vendor figure) are marked "est.", a CPU class's median TDP over its members "med.".
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRIORS = ROOT / "priors"


def short(source: str, limit: int = 110) -> str:
    """The first clause of a source (up to ';'), cut at `limit` characters, with '|' escaped for markdown."""
    first = source.split(";")[0].strip()
    if len(first) > limit:
        first = first[: limit - 1].rstrip() + "…"
    return first.replace("|", "\\|")


def tera(value: float | None) -> str:
    return "–" if value is None else f"{value / 1e12:,.4g}"


def rows(include_all: bool = False) -> list[dict]:
    files = ["accelerators_more.toml", "accelerators_cpu.toml"]
    if include_all:
        files.insert(0, "accelerators.toml")
    bandwidth: dict[str, dict] = {}
    for path in sorted(PRIORS.glob("*.toml")):
        if path.name.endswith("_aliases.toml"):
            continue
        doc = tomllib.loads(path.read_text())
        bandwidth.update(doc.get("memory_bandwidth_gb_per_s", {}).get("variants", {}))
    out = []
    for name in files:
        for key, spec in tomllib.loads((PRIORS / name).read_text())["hardware"].items():
            bw = bandwidth.get(key, {})
            estimate = "ESTIMATE" in spec.get("notes", "")
            out.append({
                "key": key, "tdp_w": spec["tdp_w"], "estimate": estimate, "median": "class median TDP" in spec["source"],
                "bf16": spec["peak_flop_per_s"],
                "fp8": spec.get("peak_fp8_flop_per_s"), "int8": spec.get("peak_int8_op_per_s"),
                "bandwidth": bw.get("params", {}).get("value"), "source": spec["source"], "bandwidth_source": bw.get("source", ""),
            })
    return out


def markdown(table: list[dict]) -> str:
    lines = ["| key | TDP (W) | BF16 (TFLOP/s) | FP8 (TFLOP/s) | INT8 (TOPS) | memory BW (GB/s) | datasheet source | bandwidth source |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for r in table:
        tdp = f"{r['tdp_w']:g}" + (" est." if r["estimate"] else " med." if r["median"] else "")
        bw = "–" if r["bandwidth"] is None else f"{r['bandwidth']:,.4g}"
        lines.append(f"| `{r['key']}` | {tdp} | {tera(r['bf16'])} | {tera(r['fp8'])} | {tera(r['int8'])} | {bw} | "
                     f"{short(r['source'])} | {short(r['bandwidth_source'], 70)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(rows(include_all="--all" in sys.argv[1:])))
