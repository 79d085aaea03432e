"""An inventory's totals split across 1, 2 and 4 real processes (jax.distributed on loopback) are
bitwise the numbers of one process.

Why bitwise: draw ``i`` of every entry depends only on the seed, the streams and ``i``; the draws are
cut into chunks of 16,384 and each chunk is computed whole by exactly one process (every
``process_count``-th chunk), by the same jitted kernel on the same inputs; the cells are then
gathered and summed across processes in float64, where every other process holds zeros for that
chunk (x + 0 is exact). So each process ends with the very float64 arrays one process computes,
and the summaries (quantiles, shares) are computed from them the same way.

The database is written by process 0 only: the test checks that the report is stored once.
"""

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from carbon_mc.inventory import add_entries

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "inventory"
DRAWS = 4 * 16_384 + 1_000  # 5 chunks: with 4 processes, process 0 computes two, the last one partial

WORKER = textwrap.dedent(
    """
    import json, sys
    from carbon_mc.sampling import initialize_distributed
    pid, n, port, db, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    if n > 1:
        initialize_distributed(f"127.0.0.1:{port}", n, pid)
    import jax
    from carbon_mc.inventory import inventory_report
    report = inventory_report(db, by="team,quarter", num_draws=DRAWS, seed=11)
    with open(out + f".{pid}", "w") as fh:
        json.dump({"processes": jax.process_count(), "report_id": report.report_id, "rows": report.rows}, fh)
    """
).replace("DRAWS", str(DRAWS))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A small inventory from the example table: every fourth run given in device-hours (two clouds,
    two accelerators, several teams and quarters) and two given in parameters and tokens, which draw
    their own MFU and overheads (run-specific streams). Few kernel structures, so the seven
    processes spend their time on the draws rather than on compiling."""
    folder = tmp_path_factory.mktemp("inv")
    lines = (EXAMPLE / "runs_2024.csv").read_text().splitlines()
    column = lines[0].split(",").index("device_hours")
    hours = [r for r in lines[1:] if r.split(",")[column]]
    tokens = [r for r in lines[1:] if not r.split(",")[column]]
    (folder / "runs.csv").write_text("\n".join([lines[0], *hours[::4], *tokens[:2]]) + "\n")
    db = folder / "template.sqlite"
    add_entries([folder / "runs.csv"], db)
    return db


def _run(template: Path, tmp_path: Path, processes: int) -> list[dict]:
    db = tmp_path / f"inv_{processes}.sqlite"
    shutil.copy(template, db)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / f"result_{processes}.json"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1", "CARBON_MC_COMPILATION_CACHE": "0"}
    port = str(_free_port())
    children = [subprocess.Popen([sys.executable, str(script), str(i), str(processes), port, str(db), str(out)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(processes)]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err[-3000:]
    got = [json.loads(Path(f"{out}.{i}").read_text()) for i in range(processes)]
    with sqlite3.connect(db) as con:
        stored = con.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
    assert stored == 1  # process 0 alone wrote the report
    assert all(g["processes"] == processes for g in got)
    return got


def test_one_two_and_four_processes_give_bitwise_the_same_inventory(template, tmp_path):
    one = _run(template, tmp_path, 1)[0]
    assert len(one["rows"]) >= 6 * 6  # the total and several team-quarter groups, six metrics each
    for processes in (2, 4):
        got = _run(template, tmp_path, processes)
        for pid, g in enumerate(got):  # every process holds the numbers, not process 0 alone
            assert g["rows"] == one["rows"], f"{processes} processes, process {pid}"
        assert got[0]["report_id"] == 1 and all(g["report_id"] is None for g in got[1:])
