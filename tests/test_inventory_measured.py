"""Many CodeCarbon files into an inventory at once: one entry per file with the batch's labels and
tags, its dates from the file, the measured energy as its input (the engine's numbers, draw for draw);
bad batches refused whole with nothing written."""

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from carbon_mc.cli import main
from carbon_mc.inventory import InventoryStore
from carbon_mc.inventory.measured import read_codecarbon_entries
from carbon_mc.inventory.sharing import shared_stream
from carbon_mc.inventory.totals import compute_cells, prepare_all
from carbon_mc.priors import load_priors

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "ingest"
FILES = [DATA / "codecarbon_two_nodes.csv", DATA / "codecarbon_cpu_only.csv"]


def test_each_file_is_an_entry_with_the_batch_labels_and_the_engine_numbers():
    from carbon_mc.sampling import build_simulator, draw

    table = load_priors()
    entries = read_codecarbon_entries(FILES, table=table, labels={"team": "alignment", "phase": "fine-tuning"},
                                      tags="cluster=onprem;sweep", datacenter="hyperscale")
    assert [e.id for e in entries] == ["codecarbon_two_nodes", "codecarbon_cpu_only"]
    two = entries[0]
    assert two.labels["team"] == "alignment" and two.labels["phase"] == "fine-tuning"
    assert two.tags == {"cluster": "onprem", "sweep": "yes", "source": "codecarbon", "file": "codecarbon_two_nodes.csv"}
    assert (two.start.isoformat(), two.end.isoformat()) == ("2024-03-04", "2024-03-05")
    assert "measured" in two.doc and two.doc["run"]["hardware"] == "a100_80gb" and two.doc["run"]["devices"] == 16
    # the entry's draws are the engine's for the same scenario and streams (Monte Carlo, seed 5)
    prep = prepare_all([two], table)[two.id]
    assert all(s is not None for s in prep.plan.values())  # nothing entry-specific drawn
    cells = compute_cells({(): [(prep, 1.0)]}, num_draws=4096, seed=5)
    sim = build_simulator(two.scenario(table), priors=table)
    sim = sim.with_streams({n: shared_stream(n, p) for n, p in sim.priors.items() if not p.is_fixed})
    _, out = draw(sim, num_draws=4096, seed=5, method="mc", variables=["operational_tco2e", "energy_mwh"])
    np.testing.assert_allclose(cells[()][0], out["energy_mwh"], rtol=2e-6)
    np.testing.assert_allclose(cells[()][1], out["operational_tco2e"], rtol=2e-6)


def test_command_line_adds_a_batch_and_refuses_a_bad_one_whole(tmp_path, capsys):
    db = tmp_path / "lab.sqlite"
    assert main(["inventory", "add", "--db", str(db), "--codecarbon", *map(str, FILES), "--team", "alignment",
                 "--tags", "cluster=onprem", "--datacenter", "hyperscale", "--json"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)["added"]) == ["codecarbon_cpu_only", "codecarbon_two_nodes"]
    with InventoryStore(db) as store:
        assert {e.id: e.tags["cluster"] for _, e in store.entries()} == {"codecarbon_two_nodes": "onprem",
                                                                         "codecarbon_cpu_only": "onprem"}
    before = db.read_bytes()
    # a folder with one good new file and one the import refuses: nothing is added
    folder = tmp_path / "batch"
    folder.mkdir()
    shutil.copy(FILES[0], folder / "node_b.csv")
    (folder / "broken.csv").write_text("timestamp,run_id,duration\n2024-01-01T00:00:00,x,10\n")
    cases = [
        (["--codecarbon", str(folder), "--datacenter", "hyperscale"], "energy_consumed"),
        (["--codecarbon", str(FILES[0]), "--tags", "source=mine", "--datacenter", "hyperscale"], "set by the import"),
        (["--codecarbon", str(FILES[0]), "--team", "x"], "data centre"),  # the file does not say which
        ([str(REPO / "examples" / "inventory" / "pretraining"), "--team", "x"], "apply to imported CodeCarbon files only"),
        (["--codecarbon", str(tmp_path / "missing.csv")], "no such file"),
    ]
    for extra, message in cases:
        assert main(["inventory", "add", "--db", str(db), *extra]) != 0, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)
        assert db.read_bytes() == before, extra
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 2


@pytest.mark.parametrize("labels,message", [({"owner": "x"}, "unknown label 'owner'")])
def test_unknown_label_is_refused(labels, message):
    from carbon_mc import InputError

    with pytest.raises(InputError, match=message):
        read_codecarbon_entries(FILES, labels=labels, datacenter="hyperscale")
