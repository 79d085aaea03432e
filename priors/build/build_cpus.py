"""Build the CPU classes (priors/accelerators_cpu.toml), their priors (priors/socket_classes.toml) and the
CPU names that map to them (priors/cpu_aliases.toml) from CodeCarbon's CPU power table.

Run from anywhere:  python priors/build/build_cpus.py [OUTPUT_DIR]
(OUTPUT_DIR defaults to priors/). Standard library only; the output is a pure function of
priors/sources/codecarbon_cpu_power.csv and of the class facts below, so two runs give
byte-identical files. priors/sources/SOURCES.md says where the table came from (CodeCarbon,
mlco2/codecarbon, MIT licence).

Why classes
-----------
CodeCarbon's table has ~4,900 CPU models with one number each (TDP in W) and nothing else: no
cores, no vector or matrix units, no memory channels. A CPU-only run needs those, so the models are
grouped into a few classes by generation (read from the model number) and by TDP band (which, inside
one generation, tracks the core count):

  cpu_server_2016_mid    Xeon E5 v3/v4, Xeon Scalable 1st-3rd gen (x1xx-x3xx), EPYC 7001-7003; TDP <= 205 W
  cpu_server_2016_large  the same generations above 205 W (about 32-64 cores)
  cpu_xeon_amx_mid       Xeon Scalable 4th-5th gen (x4xx, x5xx) and Xeon 6 P-core (65xxP-69xxP), AMX; <= 250 W
  cpu_xeon_amx_large     the same above 250 W (about 40-128 cores)
  cpu_epyc_2023_mid      EPYC 9004/9005 (Genoa, Bergamo, Turin) and 8004 (Siena); <= 250 W
  cpu_epyc_2023_large    the same above 250 W (about 48-192 cores)
  cpu_desktop            Core i5/i7/i9 10th-14th gen desktop parts, Core Ultra 200S, Ryzen 5/7/9 5000-9000; <= 95 W
  cpu_desktop_unlocked   the same above 95 W (K and X parts)
  cpu_arm_server         Arm server CPUs (AWS Graviton2-4, Ampere Altra, NVIDIA Grace): not in CodeCarbon's
                         table; named through priors/hardware_aliases.toml

Each class's tdp_w is the median TDP of its members in the table (cpu_arm_server: an estimate, [I]);
its power prior (accelerator_power_tdp_fraction, power_class = the class key) is the cpu_socket prior
of priors/power.toml (truncated normal, centre 0.80, scale 0.12) widened by the spread of its members'
TDPs around that median: scale = sqrt(0.12^2 + (0.80 x s)^2), s = sample sd of ln(TDP) over the
members (n-1), and upper bound 1.05 x exp(1.645 s), so a member at the class's 95th-percentile TDP
still fits. Desktop classes run above their TDP under load (AMD PPT, Intel PL2): centre 1.0 and an extra
sd(ln) of 0.35 added to s. Peaks, memory bandwidth and cores are per class, written in CLASSES with their arithmetic.

Models the catalogue has on their own (xeon_8480, amd_epyc_7763) map to their own keys.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PRIORS = HERE.parent
TABLE = PRIORS / "sources" / "codecarbon_cpu_power.csv"
SOURCE = ("CodeCarbon CPU power table (mlco2/codecarbon, codecarbon/data/hardware/cpu_power.csv, commit "
          "b05965e43b690cdc53787c7577adbe6e2caf4ed9, file last changed 2026-04-13; MIT licence)")
MODELS = {"AMD EPYC 7763": "amd_epyc_7763", "Intel Xeon Platinum 8480+": "xeon_8480"}  # catalogue models of their own
BASE_LOC, BASE_SCALE, LOW = 0.80, 0.12, 0.15  # priors/power.toml accelerator_power_tdp_fraction.cpu_socket
# Desktop CPUs draw above TDP when loaded (AMD PPT 1.35 x TDP, Intel PL2 up to ~2 x): centre and extra spread [I]
DESKTOP_LOC, DESKTOP_BOOST_SD_LN = 1.0, 0.35

# key: facts [I] per class. peak = the matrix (AMX) or BF16 dot-product rate where the class has one, else the
# FP32 vector rate; fp32 = FP32 vector rate; int8 = VNNI/AMX INT8 rate where present. Arithmetic in `notes`.
CLASSES: dict[str, dict] = {
    "cpu_server_2016_mid": {
        "name": "Server CPU 2016-2021 (Xeon E5 v3/v4, Xeon Scalable 1st-3rd gen, EPYC 7001-7003), up to 205 W, ~8-32 cores",
        "vendor": "Intel/AMD", "year": 2019, "cores": 20, "peak": 2.1e12, "fp32": 2.1e12, "int8": None, "bandwidth": 140.8, "memory_gb": 192,
        "per_server": 2, "server_class": "cpu_only", "embodied": 30.0,
        "notes": "Peak = FP32 vector rate: 20 cores x ~2.2 GHz all-core x 48 FLOP per cycle (between AVX2's 32 and two "
              "AVX-512 FMA units' 64) = 2.1e12 [I]. No INT8 field: only Cascade/Ice Lake have VNNI. Memory bandwidth: "
              "6 channels DDR4-2933 = 140.8 GB/s per socket [I]. cores = 20 is a typical member (Xeon Gold 6248); "
              "give --devices or sockets when the machine's differ."},
    "cpu_server_2016_large": {
        "name": "Server CPU 2016-2021 (Xeon Scalable 2nd-3rd gen, EPYC 7002-7003), over 205 W, ~32-64 cores",
        "vendor": "Intel/AMD", "year": 2020, "cores": 48, "peak": 5.0e12, "fp32": 5.0e12, "int8": None, "bandwidth": 204.8, "memory_gb": 512,
        "per_server": 2, "server_class": "cpu_only", "embodied": 35.0,
        "notes": "Peak = FP32 vector rate as the amd_epyc_7763 entry (64 x 2.45 GHz x 32 = 5.0e12) and Xeon Platinum 8380 "
              "(40 x ~2.0 GHz x 64 = 5.1e12) [I]. Memory bandwidth: 8 channels DDR4-3200 = 204.8 GB/s [I]."},
    "cpu_xeon_amx_mid": {
        "name": "Intel Xeon 4th-6th gen with AMX (Sapphire/Emerald/Granite Rapids), up to 250 W, ~8-32 cores",
        "vendor": "Intel", "year": 2023, "cores": 24, "peak": 4.2e13, "fp32": 3.1e12, "int8": 8.4e13, "bandwidth": 307.2, "memory_gb": 256,
        "per_server": 2, "server_class": "cpu_only", "embodied": 30.0,
        "notes": "Peak = AMX BF16: 24 cores x 1,024 FLOP per cycle x ~1.7 GHz = 4.2e13 [I]; INT8 twice that; FP32 "
              "AVX-512: 24 x 64 x ~2.0 GHz = 3.1e12 [I]. Memory: 8 channels DDR5-4800 = 307.2 GB/s [I]."},
    "cpu_xeon_amx_large": {
        "name": "Intel Xeon 4th-6th gen with AMX (Sapphire/Emerald/Granite Rapids), over 250 W, ~40-128 cores",
        "vendor": "Intel", "year": 2023, "cores": 56, "peak": 1.0e14, "fp32": 7.2e12, "int8": 2.0e14, "bandwidth": 307.2, "memory_gb": 512,
        "per_server": 2, "server_class": "cpu_only", "embodied": 40.0,
        "notes": "As the xeon_8480 entry (56 cores x 1,024 AMX BF16 FLOP per cycle x ~1.75 GHz = 1.0e14) [I]; Emerald "
              "Rapids (8 x DDR5-5600) and Granite Rapids (12 x DDR5-6400) have more bandwidth than the 307.2 GB/s "
              "used here."},
    "cpu_epyc_2023_mid": {
        "name": "AMD EPYC 9004/9005/8004 (Genoa, Bergamo, Turin, Siena), up to 250 W, ~8-32 cores",
        "vendor": "AMD", "year": 2023, "cores": 24, "peak": 5.2e12, "fp32": 2.6e12, "int8": 1.04e13, "bandwidth": 460.8, "memory_gb": 384,
        "per_server": 2, "server_class": "cpu_only", "embodied": 30.0,
        "notes": "No matrix engine. FP32: 24 cores x 32 FLOP per cycle (AVX-512 on 256-bit units) x ~3.4 GHz = 2.6e12 [I]; "
              "peak = AVX512_BF16 dot products at twice that, INT8 (VNNI) four times [I]. Memory: 12 channels "
              "DDR5-4800 = 460.8 GB/s [I] (Siena has 6)."},
    "cpu_epyc_2023_large": {
        "name": "AMD EPYC 9004/9005 (Genoa, Bergamo, Turin), over 250 W, ~48-192 cores",
        "vendor": "AMD", "year": 2023, "cores": 96, "peak": 1.6e13, "fp32": 8.0e12, "int8": 3.2e13, "bandwidth": 460.8, "memory_gb": 768,
        "per_server": 2, "server_class": "cpu_only", "embodied": 45.0,
        "notes": "FP32: 96 cores x 32 x ~2.6 GHz = 8.0e12 (EPYC 9654) [I]; BF16 twice, INT8 four times [I]; Turin (Zen 5) "
              "has full 512-bit units, so up to twice these. Memory: 12 x DDR5-4800 = 460.8 GB/s [I]."},
    "cpu_desktop": {
        "name": "Desktop CPU (Core i5/i7/i9 10th-14th gen, Core Ultra 200S, Ryzen 5000-9000), up to 95 W, ~6-16 cores",
        "vendor": "Intel/AMD", "year": 2022, "cores": 16, "peak": 2.3e12, "fp32": 2.3e12, "int8": 9.2e12, "bandwidth": 89.6, "memory_gb": 64,
        "per_server": 1, "server_class": "workstation", "embodied": 15.0, "boost": True,
        "notes": "Peak = FP32 vector rate: 16 cores x 32 FLOP per cycle x ~4.5 GHz = 2.3e12 (Ryzen 9 7950X) [I]; INT8 "
              "(VNNI / AVX-VNNI) four times [I]. Memory: 2 channels DDR5-5600 = 89.6 GB/s [I]. One socket per machine "
              "(server_class workstation). tdp_w is the base TDP; Intel K parts boost to PL2 (~250 W) in bursts."},
    "cpu_desktop_unlocked": {
        "name": "Desktop CPU, high-power (Core i7/i9 K parts, Ryzen 7/9 X parts: 10th-14th gen, 5000-9000), over 95 W, ~8-24 cores",
        "vendor": "Intel/AMD", "year": 2022, "cores": 16, "peak": 2.3e12, "fp32": 2.3e12, "int8": 9.2e12, "bandwidth": 89.6, "memory_gb": 64,
        "per_server": 1, "server_class": "workstation", "embodied": 15.0, "boost": True,
        "notes": "As cpu_desktop (16 cores x 32 FLOP per cycle x ~4.5 GHz = 2.3e12, Ryzen 9 7950X) [I]; the unlocked parts "
              "whose base TDP is over 95 W (105-170 W). Intel K parts boost to PL2 (~250 W) in bursts."},
    "cpu_arm_server": {
        "name": "Arm server CPU (AWS Graviton2-4, Ampere Altra, NVIDIA Grace), ~64-144 cores",
        "vendor": "Arm (AWS/Ampere/NVIDIA)", "year": 2022, "cores": 64, "peak": 1.06e13, "fp32": 5.3e12, "int8": 2.1e13, "bandwidth": 307.2,
        "memory_gb": 256, "per_server": 1, "server_class": "cpu_only", "embodied": 30.0, "tdp": 180.0, "tdp_sd_ln": 0.35,
        "notes": "tdp_w = 180 W is an ESTIMATE [I]: AWS publishes no Graviton power (Graviton3 is put near 100 W), "
              "Ampere Altra Max is 250 W, a Grace CPU with its LPDDR5X ~250 W of the 500 W Grace superchip [R]; "
              "the power prior is widened as if members spread sd(ln) = 0.35. FP32: 64 cores x 2.6 GHz x 32 "
              "(4 x 128-bit FMA) = 5.3e12 (Graviton3) [I]; BF16 (BFMMLA) twice, INT8 (I8MM) four times [I]. "
              "Memory: 8 x DDR5-4800 = 307.2 GB/s [I]. Arm cores run one thread each: give sockets with --devices."},
}


def classify(name: str, tdp: float) -> str | None:
    """The class key of a CodeCarbon CPU name, or None for a CPU outside the classes (laptop, old, embedded)."""
    if name in MODELS:
        return MODELS[name]
    m = re.fullmatch(r"Intel Xeon (?:Platinum|Gold|Silver|Bronze) \d(\d)\d\d[A-Z+]*", name)
    if m:
        gen = int(m.group(1))
        if 1 <= gen <= 3:
            return "cpu_server_2016_" + ("mid" if tdp <= 205 else "large")
        if gen in (4, 5):
            return "cpu_xeon_amx_" + ("mid" if tdp <= 250 else "large")
        return None
    if re.fullmatch(r"Intel Xeon 6[5-9]\d\dP(?:-\w+)?", name):
        return "cpu_xeon_amx_" + ("mid" if tdp <= 250 else "large")
    if re.fullmatch(r"Intel Xeon E5-\d{4}[A-Z]? v[34]", name):
        return "cpu_server_2016_mid"
    m = re.fullmatch(r"AMD EPYC ([789])\d\d(\d)[A-Z]*", name)
    if m:
        first, last = m.group(1), int(m.group(2))
        if first == "7" and last in (1, 2, 3):
            return "cpu_server_2016_" + ("mid" if tdp <= 205 else "large")
        if (first == "9" and last in (4, 5)) or (first == "8" and last == 4):
            return "cpu_epyc_2023_" + ("mid" if tdp <= 250 else "large")
        return None
    if re.fullmatch(r"Intel Core i[579]-1[0-4]\d{3}(?:K|KF|KS|F)?", name):
        return "cpu_desktop" if tdp <= 95 else "cpu_desktop_unlocked"
    if re.fullmatch(r"Intel Core Ultra [579] 2\d\dK?F?", name):
        return "cpu_desktop" if tdp <= 95 else "cpu_desktop_unlocked"
    if re.fullmatch(r"AMD Ryzen [579] [5789]\d\d0(?:X|X3D|G)?", name):
        return "cpu_desktop" if tdp <= 95 else "cpu_desktop_unlocked"
    return None


def read_table(path: Path = TABLE) -> list[tuple[str, float]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:  # a few rows of the table carry malformed TDPs ("27.29.5"): left out, as no class needs them
        if re.fullmatch(r"\d+(?:\.\d+)?", (r.get("TDP") or "").strip()):
            out.append((r["Name"].strip(), float(r["TDP"])))
    return out


def members(rows: list[tuple[str, float]]) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {key: [] for key in CLASSES}
    for name, tdp in rows:
        key = classify(name, tdp)
        if key in out:
            out[key].append((name, tdp))
    return out


def tdp_stats(tdps: list[float]) -> tuple[float, float, float, float]:
    """(median, p5, p95, sd of ln) of a class's TDPs (percentiles by the nearest-rank rule)."""
    s = sorted(tdps)
    rank = lambda q: s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]  # noqa: E731
    return statistics.median(s), rank(0.05), rank(0.95), statistics.stdev(math.log(t) for t in s)


def fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1e6 else f"{x:.3e}".replace("e+", "e")


def q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build(out_dir: Path) -> None:
    rows = read_table()
    groups = members(rows)
    hw = ["# CPU classes: one 'device' = one CPU socket of a CPU-only training run or deployment.",
          "# GENERATED by priors/build/build_cpus.py from priors/sources/codecarbon_cpu_power.csv: do not edit by hand.",
          "# Conventions as accelerators.toml; peaks and bandwidths are our arithmetic [I] (see each class's notes),",
          "# tdp_w the median TDP of the class's members in CodeCarbon's table.", "",
          "[fields]", 'peak_flop_per_s = "FLOP/s"', 'peak_int8_op_per_s = "op/s"', 'peak_fp32_flop_per_s = "FLOP/s"',
          'tdp_w = "W"', 'memory_gb = "GB"', 'devices_per_server = "1"', 'year = "year"', ""]
    pri = ["# Priors of the CPU classes of accelerators_cpu.toml (power, memory bandwidth, embodied carbon per socket).",
           "# GENERATED by priors/build/build_cpus.py: do not edit by hand. Variants added to the quantities of",
           "# power.toml, serving.toml and embodied.toml (units, name and bounds as there).", "",
           "[accelerator_power_tdp_fraction]", "support = { above = 0.0 }", ""]
    bw, emb = [], []
    for key, c in CLASSES.items():
        group = groups[key]
        if group:
            tdp, p5, p95, sd = tdp_stats([t for _, t in group])
            examples = ", ".join(n for n, _ in sorted(group, key=lambda g: g[1])[:: max(1, len(group) // 4)][:5])
            how = (f"{len(group)} models of the class in CodeCarbon's table: TDP median {tdp:g} W, 5th-95th percentile "
                   f"{p5:g}-{p95:g} W, sd(ln) {sd:.3f} (e.g. {examples})")
            source = f"{SOURCE}: class median TDP; class facts per the build script (priors/build/build_cpus.py) [I]"
        else:
            tdp, sd = c["tdp"], c["tdp_sd_ln"]
            how = "no member in CodeCarbon's table; TDP estimated (see notes)"
            source = "Estimate [I]: AWS Graviton, Ampere Altra and NVIDIA Grace product pages (cores, memory) [R]; see notes"
        hw += [f"[hardware.{key}]", f"name = {q(c['name'])}", f"vendor = {q(c['vendor'])}", f"year = {c['year']}",
               f"peak_flop_per_s = {fmt(c['peak'])}"]
        if c["int8"]:
            hw.append(f"peak_int8_op_per_s = {fmt(c['int8'])}")
        hw += [f"peak_fp32_flop_per_s = {fmt(c['fp32'])}", f"tdp_w = {tdp:g}", f"memory_gb = {c['memory_gb']}",
               f"devices_per_server = {c['per_server']}", f'power_class = "{key}"', 'mfu_class = "cpu_amx"',
               f'server_class = "{c["server_class"]}"', f"cores = {c['cores']}", f"source = {q(source)}",
               f"notes = {q(how + '. ' + c['notes'] + ' The MFU class cpu_amx is borrowed from the AMX part [I].')}", ""]
        loc, spread = (DESKTOP_LOC, math.hypot(sd, DESKTOP_BOOST_SD_LN)) if c.get("boost") else (BASE_LOC, sd)
        scale = math.sqrt(BASE_SCALE**2 + (loc * spread) ** 2)
        high = round(1.05 * loc / BASE_LOC * math.exp(1.645 * spread), 2)
        boost = (f" Desktop parts run above their TDP under sustained load (AMD PPT = 1.35 x TDP; Intel PL1 = PL2 = 253 W "
                 f"on a 125 W Core i9-13900K as boards ship) [R]: centre {loc}, and their spread sd(ln) {DESKTOP_BOOST_SD_LN} "
                 f"added to the TDP spread: sd(ln) {spread:.3f} in all." if c.get("boost") else "")
        pri += [f"[accelerator_power_tdp_fraction.variants.{key}]", 'distribution = "truncated_normal"',
                f"params = {{ loc = {loc}, scale = {scale:.3f}, low = {LOW}, high = {high} }}",
                "description = " + q(f"Package average of a {key} socket over the class TDP ({tdp:g} W): the cpu_socket prior "
                                     f"(centre 0.80, scale 0.12) widened by the spread of the TDPs of the class, sd(ln) {sd:.3f}.{boost} "
                                     f"Scale sqrt(0.12^2 + ({loc} x {spread:.3f})^2) = {scale:.3f}, upper bound 1.05 x "
                                     f"{loc / BASE_LOC:g} x exp(1.645 x {spread:.3f}) = {high} [I]."),
                f"source = {q(SOURCE + '; construction of priors/power.toml accelerator_power_tdp_fraction.cpu_socket [I]')}",
                "year = 2024", ""]
        bw += [f"[memory_bandwidth_gb_per_s.variants.{key}]", 'distribution = "fixed"',
               f"params = {{ value = {c['bandwidth']} }}",
               "description = " + q(f"Peak DRAM bandwidth per socket of {key}: {c['name']} (channels x transfer rate x 8 bytes) [I]."),
               "source = " + q("Memory channels and speeds from Intel ARK, AMD EPYC/Ryzen and Arm vendor product pages [R]; "
                               "arithmetic [I] in priors/build/build_cpus.py"),
               ""]
        lo, hi = c["embodied"] * math.exp(-1.645 * 0.6), c["embodied"] * math.exp(1.645 * 0.6)
        emb += [f"[embodied_kgco2e_per_device.variants.{key}]", 'distribution = "lognormal"',
                f"params = {{ median = {c['embodied']}, sigma = 0.6 }}",
                "description = " + q(f"One CPU package of {key}. The die-area arithmetic of the xeon_8480 entry (about 2 kgCO2e per cm2 "
                                     f"of die plus ~9 kg per package) scaled to the class's typical die area [I]; sigma 0.6 as there. "
                                     f"DRAM is counted in the server. Prior: median {c['embodied']:g} kg, 90% interval {lo:.0f}-{hi:.0f} kg."),
                "source = " + q("Boavizta CPU manufacture model (die-area based; constants recalled [R]) as "
                                "embodied_kgco2e_per_device.xeon_8480 (priors/embodied.toml)"),
                "year = 2024", ""]
    pri += ["[memory_bandwidth_gb_per_s]", "support = { above = 0.0 }", "", *bw,
            "[embodied_kgco2e_per_device]", "support = { low = 0.0 }", "", *emb]
    names = ["# CPU model names (CodeCarbon's table, as written there) -> CPU class or catalogue model.",
             "# GENERATED by priors/build/build_cpus.py from priors/sources/codecarbon_cpu_power.csv: do not edit by hand.",
             "# carbon_mc.priors.cpu_names compares names in a normalised form ('Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz'",
             "# -> 'xeon gold 6248'); [tdp_w] keeps each model's own TDP for the note a mapping prints.", "", "[names]"]
    tdps = ["", "[tdp_w]"]
    for name, tdp in sorted(rows):
        key = classify(name, tdp)
        if key:
            names.append(f"{q(name)} = \"{key}\"")
            tdps.append(f"{q(name)} = {tdp:g}")
    (out_dir / "accelerators_cpu.toml").write_text("\n".join(hw).rstrip() + "\n")
    (out_dir / "socket_classes.toml").write_text("\n".join(pri).rstrip() + "\n")
    (out_dir / "cpu_aliases.toml").write_text("\n".join(names + tdps) + "\n")


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else PRIORS)
