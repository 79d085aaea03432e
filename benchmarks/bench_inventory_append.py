"""An inventory's year at scale through the command line, whole processes: 10,000 entries added and
reported at 100,000 draws, then this month's 100 runs appended and the year re-reported.

    python benchmarks/bench_inventory_append.py                  # 10,000 + 100 entries, 100,000 draws
    python benchmarks/bench_inventory_append.py --entries 1000 --draws 20000

Each step is one ``carbon-mc inventory`` process timed by ``/usr/bin/time -v`` (wall time and peak
resident memory of the whole process). The 10,000 entries are the fine-tunes and evaluations of
`bench_inventory.entries` spread over 2024 (a CSV table); the 100 appended ones all ran in December
2024, so a report by team and quarter recomputes the four Q4 cells and reuses the other twelve from
the database.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

COLUMNS = ["id", "kind", "team", "phase", "date", "hardware", "device_hours", "parameters", "tokens", "devices", "region",
           "datacenter", "year"]


def write_table(path: Path, entries) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for e in entries:
            run = e.doc["run"]
            w.writerow([e.id, "training", e.labels["team"], e.labels["phase"], e.start.isoformat(), run["hardware"],
                        run.get("device_hours", ""), run.get("parameters", ""), run.get("tokens", ""), run.get("devices", ""),
                        run["region"], run["datacenter"], run["year"]])


def timed(args: list[str]) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds (user + system), peak RSS MiB, stdout) of one whole process."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(p.stderr[-3000:])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", p.stderr).group(1)) for k in ("User", "System"))
    return wall, cpu, rss, p.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--append", type=int, default=100)
    p.add_argument("--draws", type=int, default=100_000)
    args = p.parse_args()
    import dataclasses
    import datetime as dt

    from bench_inventory import entries

    cli = str(Path(sys.executable).with_name("carbon-mc"))
    work = Path(tempfile.mkdtemp(prefix="inventory-bench-"))
    year = entries(args.entries)
    extra = [dataclasses.replace(e, id=f"dec-{i:05d}", start=dt.date(2024, 12, 1 + i % 31), end=dt.date(2024, 12, 1 + i % 31))
             for i, e in enumerate(entries(args.append))]
    write_table(work / "year.csv", year)
    write_table(work / "december.csv", extra)
    db = str(work / "lab.sqlite")
    report = [cli, "inventory", "report", "--db", db, "--by", "team,quarter", "--draws", str(args.draws), "--json"]
    steps = [("add the year", [cli, "inventory", "add", str(work / "year.csv"), "--db", db, "--json"]),
             ("report the year", report),
             (f"append {args.append}", [cli, "inventory", "add", str(work / "december.csv"), "--db", db, "--json"]),
             ("re-report", report)]
    for name, cmd in steps:
        wall, cpu, rss, out = timed(cmd)
        info = json.loads(out)
        extra_info = ""
        if "groups" in info:
            total = next(g for g in info["groups"] if g["group"] == [] and g["metric"] == "total_location_tco2e")
            extra_info = (f"; {info['entries']:,} entries, {info['cells_computed']} cells computed, {info['cells_reused']} "
                          f"reused; total {total['median']:.1f} t [{total['lower']:.1f}, {total['upper']:.1f}]")
        else:
            extra_info = f"; {len(info['added'])} added"
        print(f"{name}: {wall:.1f} s ({cpu:.1f} s CPU), peak RSS {rss:.0f} MiB{extra_info}", flush=True)
    print(f"database: {Path(db).stat().st_size / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
