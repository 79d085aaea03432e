#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: install JAX for CUDA, run the GPU-relevant tests and the
# throughput benchmarks, and append the figures to BENCHMARKS.md under the GPU's name.
#
#   bash benchmarks/gpu.sh            # from the repository root, in a fresh or existing venv
#
# Needs: an NVIDIA driver (nvidia-smi), Python >= 3.11, network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nvidia-smi >/dev/null || { echo "gpu.sh: no nvidia-smi: this machine has no NVIDIA GPU" >&2; exit 1; }
[ -d .venv ] || python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
pip install --quiet -e '.[test]' 'jax[cuda12]'

gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n 1)
platform=$(python -c "import jax; print(jax.devices()[0].platform, len(jax.devices()))")
case "$platform" in gpu*|cuda*) ;; *) echo "gpu.sh: JAX sees '$platform', not the GPU" >&2; exit 1 ;; esac

out=$(mktemp -d)
# The tests that exercise the device path: sharding (same numbers on every device count), the
# engine's draws and summaries, QMC, streaming. They run on the GPU as JAX's default device.
python -m pytest -q tests/test_sharding.py tests/test_engine.py tests/test_qmc.py tests/test_streaming.py | tee "$out/tests.txt"
carbon-mc bench --draws 1e9 --json > "$out/bench_mc.json"
carbon-mc bench --draws 1e9 --method qmc --json > "$out/bench_qmc.json"
python benchmarks/bench_stream_1e9.py > "$out/stream_1e9.txt"
python benchmarks/bench_sensitivity.py > "$out/sensitivity.txt"

python - "$out" "$gpu" >> BENCHMARKS.md <<'PY'
import datetime, json, pathlib, sys
out, gpu = pathlib.Path(sys.argv[1]), sys.argv[2]
mc, qmc = (json.loads((out / f"bench_{m}.json").read_text()) for m in ("mc", "qmc"))
print(f"\n## GPU: {gpu} ({datetime.date.today().isoformat()}, `bash benchmarks/gpu.sh`)\n")
print("| contestant | draws/s (mc) | draws/s (qmc) |\n|---|---:|---:|")
for k in mc["draws_per_s"]:
    print(f"| {k} | {mc['draws_per_s'][k]:.3g} | {qmc['draws_per_s'].get(k, float('nan')):.3g} |")
print(f"\nTests: {(out / 'tests.txt').read_text().strip().splitlines()[-1]}\n")
print("10^9 draws streamed:\n\n```\n" + (out / "stream_1e9.txt").read_text().strip() + "\n```\n")
print("Sensitivity:\n\n```\n" + (out / "sensitivity.txt").read_text().strip() + "\n```")
PY
echo "gpu.sh: figures appended to BENCHMARKS.md (from $out)"
