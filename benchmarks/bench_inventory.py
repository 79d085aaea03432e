"""Scale of the inventory's correlated totals: N entries at D draws, time and peak memory.

    python benchmarks/bench_inventory.py                      # 10,000 entries, 100,000 draws
    python benchmarks/bench_inventory.py --entries 1000 --draws 20000

Entries are fine-tunes and evaluations of a plausible lab (two regions, two clouds, device-hours or
parameters + tokens, so half of them draw their own MFU and overhead), grouped by team and quarter.
Prints wall time, the time to read and bind the entries, the time to draw and sum, and the peak
resident memory (ru_maxrss) of the process. No entries x draws array is ever held.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time


def entries(n: int):
    import numpy as np

    from carbon_mc.inventory import Entry

    rng = np.random.default_rng(0)
    clouds = [("us-east-1", "aws", "h100_sxm"), ("europe-west4", "google", "a100_80gb")]
    out = []
    for i in range(n):
        region, dc, hw = clouds[int(rng.integers(2))]
        run = {"name": f"run {i}", "hardware": hw, "region": region, "datacenter": dc, "year": 2024}
        if rng.random() < 0.5:
            run["device_hours"] = float(np.round(rng.uniform(20, 6000)))
        else:
            run.update(parameters=float(rng.choice([1.2e9, 7e9])), tokens=float(np.round(rng.uniform(2e8, 5e9), -6)), devices=16)
        day = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(366)))
        out.append(Entry(id=f"run-{i:06d}", kind="training", doc={"run": run},
                         labels={"team": ["alignment", "vision", "evals", "foundation"][i % 4], "project": "", "model": "",
                                 "phase": "fine-tuning"}, start=day, end=day))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--draws", type=int, default=100_000)
    args = p.parse_args()
    from carbon_mc.inventory.report import summarize_cells
    from carbon_mc.inventory.totals import cell_pieces, compute_cells, prepare_all
    from carbon_mc.priors import load_priors

    t0 = time.perf_counter()
    es = entries(args.entries)
    prepared = prepare_all(es, load_priors())
    t1 = time.perf_counter()
    pieces = cell_pieces(es, ("team", "quarter"))
    cells = compute_cells({c: [(prepared[e.id], w) for e, w in p] for c, p in pieces.items()}, num_draws=args.draws, seed=0)
    rows = summarize_cells(cells, {c: [e.id for e, _ in p] for c, p in pieces.items()})
    t2 = time.perf_counter()
    total = next(r for r in rows if r["group"] == [] and r["metric"] == "total_location_tco2e")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.entries:,} entries x {args.draws:,} draws, {len(cells)} cells: bind {t1 - t0:.1f} s, draw and sum "
          f"{t2 - t1:.1f} s, total {t2 - t0:.1f} s; {args.entries * args.draws / (t2 - t1) / 1e6:.0f} M entry-draws/s; "
          f"peak RSS {peak_mib:.0f} MiB")
    print(f"total (location + embodied): median {total['median']:.1f} t, 90% [{total['lower']:.1f}, {total['upper']:.1f}]")


if __name__ == "__main__":
    main()
