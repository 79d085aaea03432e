"""Add ML.ENERGY Leaderboard v2.0 chat configurations of large dense models to inference_measurements.csv.

Reads the leaderboard's per-configuration files `data/llm_text_generation/chat/<GPU>/<org>/<model>/
bs<B>+tp<T>+pp<P>.json` (repository ml-energy/leaderboard-v2, vLLM 0.5.4, ShareGPT prompts; Chung
et al. 2025, arXiv:2505.06371) and appends, for dense models of at least 60B parameters, every batch
from 64 up, the rule `extract_mlenergy_v3.py` applies to the v3.0 data, in the file's format, unless
a row for that configuration and batch is already there (the rows entered earlier by hand). With pipeline
parallelism (PP > 1) a file's `bs` is per pipeline stage and the replica runs PP x bs sequences (its
"Avg BS" is about that), so the row's max batch is PP x bs, as the hand-entered rows write it.
Running it twice adds nothing.

    python models/reference/extract_mlenergy_v2.py PATH/TO/leaderboard-v2/data/llm_text_generation/chat

Scope: GPU energy summed over all GPUs of the replica (TP x PP), per response, steady state.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CSV_PATH = HERE / "inference_measurements.csv"
HARDWARE = {"A100-SXM4-40GB": "NVIDIA A100-SXM4-40GB (400 W)", "H100 80GB HBM3": "NVIDIA H100 80GB HBM3 (SXM, 700 W)"}
# the dense models of the v2.0 chat task with at least LARGE_DENSE_MIN_B billion parameters (all active)
SIZES_B = {"Meta-Llama-3.1-70B-Instruct": 70.0, "Meta-Llama-3.1-405B-Instruct": 405.0}
LARGE_DENSE_MIN_B = 60.0
FROM_BATCH = 64
SOURCE = "Chung et al. ML.ENERGY Leaderboard v2.0 data; repo ml-energy/leaderboard-v2"
SOFTWARE = "vLLM 0.5.4 (ML.ENERGY Leaderboard v2.0)"
NAME = re.compile(r"bs(\d+)\+tp(\d+)\+pp(\d+)\.json$")


def configurations(chat_dir: Path) -> list[dict]:
    """Every large dense configuration file under `chat_dir` with max batch >= FROM_BATCH, in a fixed order."""
    out = []
    for gpu_dir in sorted(p for p in chat_dir.iterdir() if p.is_dir() and p.name in HARDWARE):
        for path in sorted(gpu_dir.glob("*/*/bs*.json")):
            m = NAME.search(path.name)
            model = path.parent.name
            if not m or SIZES_B.get(model, 0.0) < LARGE_DENSE_MIN_B:
                continue
            batch = int(m.group(1)) * int(m.group(3))  # sequences in flight over the PP stages
            if batch < FROM_BATCH:
                continue
            data = json.loads(path.read_text())
            out.append({"gpu": gpu_dir.name, "model": model, "batch": batch, "tp": int(m.group(2)),
                        "pp": int(m.group(3)), "data": data, "path": path.relative_to(chat_dir.parents[1]).as_posix()})
    return out


def row(c: dict) -> dict:
    """One configuration as a row of inference_measurements.csv (the hand-entered rows' format)."""
    d, size = c["data"], SIZES_B[c["model"]]
    notes = (f"TP{c['tp']} PP{c['pp']}; GPU energy summed over all GPUs; token throughput {d['Token tput (tok/s)']:.0f} tok/s; "
             f"mean TPOT {d['Avg TPOT (s)']:.3f} s; AWS p4d.24xlarge (A100) / p5.48xlarge (H100); "
             "maintainers note v2 power may be underestimated vs v3")
    return {
        "model": c["model"], "params_total_b": f"{size:g}", "params_active_b": f"{size:g}", "hardware": HARDWARE[c["gpu"]],
        "n_devices": str(c["tp"] * c["pp"]), "serving_software": SOFTWARE,
        "batch_or_load": f"max batch {c['batch']}; mean running batch {d['Avg BS (reqs)']:.1f}; steady state",
        "input_tokens": "ShareGPT prompts (500; lengths not in data file)", "output_tokens": f"{d['Avg Output Tokens']:.1f} (mean)",
        "energy_value": f"{d['Energy/req (J)']:.1f}", "energy_unit": "J", "per": "response", "scope": "gpu",
        "source": SOURCE, "location_in_source": c["path"], "notes": notes,
    }


def existing_keys(rows: list[dict]) -> set[tuple]:
    """(model, GPU, count, max batch) of the ML.ENERGY v2.0 rows already in the file."""
    keys = set()
    for r in rows:
        m = re.match(r"max batch (\d+);", r["batch_or_load"])
        gpu = next((g for g, text in HARDWARE.items() if text == r["hardware"]), None)
        if "v2.0" in r["serving_software"] and m and gpu:
            keys.add((r["model"], gpu, r["n_devices"], m.group(1)))
    return keys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[0] + "\nusage: extract_mlenergy_v2.py LEADERBOARD_V2/data/llm_text_generation/chat",
              file=sys.stderr)
        return 2
    text = CSV_PATH.read_text()
    header = next(line for line in text.splitlines() if not line.startswith("#"))
    fields = next(csv.reader([header]))
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    have = existing_keys(rows)
    new = [row(c) for c in configurations(Path(argv[0]))
           if (c["model"], c["gpu"], str(c["tp"] * c["pp"]), str(c["batch"])) not in have]
    with CSV_PATH.open("a", newline="") as fh:
        csv.DictWriter(fh, fieldnames=fields, lineterminator="\r\n").writerows(new)
    print(f"added {len(new)} rows ({len(rows)} before)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
