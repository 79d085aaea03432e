"""Add ML.ENERGY Leaderboard v3.0 chat configurations to inference_measurements.csv.

Reads the leaderboard's task file `public/data/tasks/lm-arena-chat.json` (repository
ml-energy/leaderboard, data dated 2026-02-16; Chung et al. 2025, arXiv:2505.06371, and Chung et al.
2026, arXiv:2601.22076) and appends, for every model x accelerator x GPU count, the configurations at
max_num_seqs 8 (the low-batch end), the one nearest 64, and the largest batch, and for dense models of
at most 15B parameters also 16 and 32 (the low-batch regime measured more finely), and for dense
models of at least 60B every batch from 64 up (the large-dense batched regime, scored on its own in
the held-out check), in the file's format, unless a row for that configuration and batch is already there. Running it twice adds nothing.

    python models/reference/extract_mlenergy_v3.py PATH/TO/lm-arena-chat.json

Scope: GPU energy (all GPUs of the replica), steady state, output tokens only in the denominator.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CSV_PATH = HERE / "inference_measurements.csv"
HARDWARE = {"H100": "NVIDIA H100 80GB HBM3 (SXM, 700 W)", "B200": "NVIDIA B200 (1000 W)"}
SOURCE = ("Chung et al. ML.ENERGY Leaderboard v3.0 data; repo ml-energy/leaderboard "
          "(benchmark: arXiv:2505.06371; analysis: arXiv:2601.22076)")
SOFTWARE = "vLLM 0.11.1 (ML.ENERGY Benchmark v3.0)"
SMALL_DENSE_MAX_B = 15.0  # dense models up to this size (billions of parameters) ...
SMALL_DENSE_EXTRA_BATCHES = (16, 32)  # ... also get these max_num_seqs, where measured
LARGE_DENSE_MIN_B = 60.0  # dense models of at least this size (billions) ...
LARGE_DENSE_FROM_BATCH = 64  # ... get every max_num_seqs from this one up


def short_name(model_id: str) -> str:
    """The model name as the file writes it: the repository id without its organisation."""
    return model_id.split("/", 1)[-1]


def small_dense(c: dict) -> bool:
    """A dense model (all parameters active) of at most SMALL_DENSE_MAX_B billion parameters."""
    total, active = float(c["total_params_billions"]), float(c["activated_params_billions"])
    return active >= total and total <= SMALL_DENSE_MAX_B


def large_dense(c: dict) -> bool:
    """A dense model of at least LARGE_DENSE_MIN_B billion parameters."""
    total, active = float(c["total_params_billions"]), float(c["activated_params_billions"])
    return active >= total and total >= LARGE_DENSE_MIN_B


def chosen(configurations: list[dict]) -> list[dict]:
    """Per model x GPU x count: batch 8, the batch nearest 64 and the largest (one run per batch);
    small dense models also 16 and 32; large dense models every batch from 64 up."""
    groups: dict[tuple, dict[int, dict]] = {}
    for c in configurations:
        key = (c["model_id"], c["gpu_model"], c["num_gpus"])
        groups.setdefault(key, {}).setdefault(int(c["max_num_seqs"]), c)  # first run of a repeated batch
    out = []
    for _, by_batch in sorted(groups.items()):
        batches = sorted(by_batch)
        extra = SMALL_DENSE_EXTRA_BATCHES if small_dense(by_batch[batches[0]]) else ()
        picks = {b for b in batches if b == 8 or b in extra}
        if large_dense(by_batch[batches[0]]):
            picks |= {b for b in batches if b >= LARGE_DENSE_FROM_BATCH}
        picks.add(min(batches, key=lambda b: (abs(b - 64), b)))
        picks.add(batches[-1])
        out += [by_batch[b] for b in sorted(picks)]
    return out


def row(c: dict) -> dict:
    """One configuration as a row of inference_measurements.csv."""
    tp, ep, dp = c.get("tensor_parallel", 1), c.get("expert_parallel", 1), c.get("data_parallel", 1)
    notes = (f"task lm-arena-chat; weights {c['weight_precision']}; TP{tp} EP{ep} DP{dp}; architecture {c['architecture']}; "
             f"energy per response {c['energy_per_request_joules']:.1f} J; mean GPU power (all GPUs) {c['avg_power_watts']:.0f} W; "
             f"output throughput {c['output_throughput_tokens_per_sec']:.0f} tok/s; median ITL {c['median_itl_ms']:.1f} ms; "
             "output tokens only in denominator; input lengths not given in the data file")
    return {
        "model": short_name(c["model_id"]), "params_total_b": f"{float(c['total_params_billions']):.1f}",
        "params_active_b": f"{float(c['activated_params_billions']):.1f}", "hardware": HARDWARE[c["gpu_model"]],
        "n_devices": str(c["num_gpus"]), "serving_software": SOFTWARE,
        "batch_or_load": f"max_num_seqs={c['max_num_seqs']}; mean running batch {c['avg_batch_size']:.1f}; steady state",
        "input_tokens": "", "output_tokens": f"{c['avg_output_len']:.0f} (mean)",
        "energy_value": f"{c['energy_per_token_joules']:.4f}", "energy_unit": "J", "per": "token", "scope": "gpu",
        "source": SOURCE,
        "location_in_source": (f"public/data/tasks/lm-arena-chat.json (data dated 2026-02-16), entry {c['model_id']} / "
                               f"{c['gpu_model']} / num_gpus={c['num_gpus']} / max_num_seqs={c['max_num_seqs']}"),
        "notes": notes,
    }


def existing_keys(rows: list[dict]) -> set[tuple]:
    """(model, GPU, count, max_num_seqs) of the ML.ENERGY v3.0 rows already in the file."""
    keys = set()
    for r in rows:
        if "v3.0" not in r["serving_software"] or "max_num_seqs=" not in r["batch_or_load"]:
            continue
        gpu = next((g for g in HARDWARE if g in r["hardware"]), None)
        seqs = r["batch_or_load"].split("max_num_seqs=")[1].split(";")[0]
        keys.add((r["model"], gpu, r["n_devices"], seqs))
    return keys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[0] + "\nusage: extract_mlenergy_v3.py lm-arena-chat.json", file=sys.stderr)
        return 2
    configurations = json.loads(Path(argv[0]).read_text())["configurations"]
    text = CSV_PATH.read_text()
    header = next(line for line in text.splitlines() if not line.startswith("#"))
    fields = next(csv.reader([header]))
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    have = existing_keys(rows)
    new = [row(c) for c in chosen(configurations)
           if (short_name(c["model_id"]), c["gpu_model"], str(c["num_gpus"]), str(c["max_num_seqs"])) not in have]
    with CSV_PATH.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\r\n")
        writer.writerows(new)
    print(f"added {len(new)} rows ({len(rows)} before)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
