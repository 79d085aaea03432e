"""The inventory: correlated totals (shared inputs add up, independent ones shrink as 1/sqrt(N), a
mixed case against its hand-computed variance), the engine's numbers for one entry, the SQLite
store (reuse, reproduction, schema versions) and bad input refused with nothing written."""

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from carbon_mc import InputError
from carbon_mc.cli import main
from carbon_mc.inventory import Entry, InventoryStore, add_entries, inventory_report, read_entries, reproduce_report, totals
from carbon_mc.inventory.sharing import shared_stream
from carbon_mc.inventory.store import SCHEMA_VERSION
from carbon_mc.inventory.totals import cell_pieces, compute_cells, prepare_all
from carbon_mc.priors import load_priors

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "inventory"
DRAWS = 8192


def _entry(i: int, device_hours: float = 1000.0, independent=(), priors=None) -> Entry:
    doc = {"run": {"name": f"run {i}", "hardware": "h100_sxm", "device_hours": device_hours, "region": "us-east-1",
                   "datacenter": "aws", "year": 2024}}
    if priors:
        doc["priors"] = priors
    return Entry(id=f"run-{i:03d}", kind="training", doc=doc, labels={"team": "t", "project": "", "model": "", "phase": ""},
                 start=dt.date(2024, 3, 1), end=dt.date(2024, 3, 1), independent=tuple(independent))


def _total(report, metric="total_location_tco2e"):
    return report.total(metric)


def test_identical_entries_sharing_every_input_give_n_times_one():
    n = 8
    one = _total(totals([_entry(0)], num_draws=DRAWS))
    many = _total(totals([_entry(i) for i in range(n)], num_draws=DRAWS))
    for key in ("mean", "median", "lower", "upper", "sd"):
        assert many[key] == pytest.approx(n * one[key], rel=1e-5)


def test_independent_entries_relative_spread_shrinks_as_one_over_sqrt_n():
    n = 16
    one = _total(totals([_entry(0)], num_draws=DRAWS, sharing="none"))
    many = _total(totals([_entry(i) for i in range(n)], num_draws=DRAWS, sharing="none"))
    cv1, cvn = one["sd"] / one["mean"], many["sd"] / many["mean"]
    assert cvn * np.sqrt(n) / cv1 == pytest.approx(1.0, abs=0.06)  # sd of a sd estimate at 8192 draws: ~2%
    width1, widthn = (one["upper"] - one["lower"]) / one["mean"], (many["upper"] - many["lower"]) / many["mean"]
    assert widthn * np.sqrt(n) / width1 == pytest.approx(1.0, abs=0.15)  # the sum is nearer normal than one entry
    # an entry that opts out of every rule is independent even when the report shares
    opted = _total(totals([_entry(i, independent=("grid", "datacenter", "hardware", "constants")) for i in range(n)],
                          num_draws=DRAWS))
    assert opted["sd"] == pytest.approx(many["sd"], rel=1e-6)


def test_mixed_sharing_matches_the_hand_computed_variance():
    """Shared grid (a region's lognormal), each run's own PUE (its scenario's uniform), all else fixed:
    T = g * sum_i c_i p_i, so E[T^2] = E[g^2] (sum c_i^2 E[p^2] + sum_{i != j} c_i c_j E[p]^2)."""
    a, b = 1.05, 1.45
    fixed = {"accelerator_power_tdp_fraction": 0.7, "server_power_w_per_device": 150.0,
             "pue": {"distribution": "uniform", "params": {"low": a, "high": b}, "source": "test"}}
    hours = [500.0, 1000.0, 2000.0, 4000.0, 8000.0, 250.0]
    entries = [_entry(i, h, priors=fixed) for i, h in enumerate(hours)]
    report = totals(entries, num_draws=4 * DRAWS)
    table = load_priors()
    grid = entries[0].scenario(table).resolve_priors(table)["grid_gco2_per_kwh"]
    u = (np.arange(1_000_000) + 0.5) / 1_000_000
    g = np.asarray(grid.icdf(u), np.float64)
    eg, eg2 = g.mean(), (g * g).mean()
    ep, ep2 = (a + b) / 2, (a * a + a * b + b * b) / 3
    c = np.array(hours) * (700 * 0.7 + 150.0) / 1e6 / 1000  # MWh per unit PUE x t per (g/kWh)
    mean = eg * ep * c.sum()
    second = eg2 * ((c * c).sum() * ep2 + (c.sum() ** 2 - (c * c).sum()) * ep * ep)
    got = _total(report, "scope2_location_tco2e")
    assert got["mean"] == pytest.approx(mean, rel=0.01)
    assert got["sd"] ** 2 == pytest.approx(second - mean * mean, rel=0.05)


def test_one_entry_is_the_engine_draw_for_draw():
    """Nothing entry-specific (device-hours given): the inventory's draws are the engine's Monte Carlo
    draws with each input on its shared stream (`carbon_mc.sampling.draw`, method "mc")."""
    from carbon_mc.sampling import build_simulator, draw

    table = load_priors()
    entry = _entry(0)
    prep = prepare_all([entry], table)["run-000"]
    assert all(s is not None for s in prep.plan.values())
    cells = compute_cells({(): [(prep, 1.0)]}, num_draws=DRAWS, seed=3)
    sim = build_simulator(entry.scenario(table), priors=table)
    sim = sim.with_streams({n: shared_stream(n, p) for n, p in sim.priors.items() if not p.is_fixed})
    _, out = draw(sim, num_draws=DRAWS, seed=3, method="mc", variables=["operational_tco2e", "embodied_tco2e", "energy_mwh"])
    np.testing.assert_allclose(cells[()][1], out["operational_tco2e"], rtol=2e-6)
    np.testing.assert_allclose(cells[()][3], out["embodied_tco2e"], rtol=2e-6)
    np.testing.assert_allclose(cells[()][0], out["energy_mwh"], rtol=2e-6)


def test_example_inventory_store_reuse_and_reproduction(tmp_path):
    db = tmp_path / "lab.sqlite"
    src = tmp_path / "inv"
    shutil.copytree(EXAMPLE, src)
    later = src / "runs_2024.csv"
    lines = later.read_text().splitlines()
    (src / "runs_2024.csv").write_text("\n".join(lines[:-6]) + "\n")  # December's runs come later
    assert len(add_entries(src, db)["added"]) == 59
    first = inventory_report(db, by="team,quarter", num_draws=4096)
    assert first.cells_computed == len({tuple(r["group"]) for r in first.rows}) - 1
    again = inventory_report(db, by="team,quarter", num_draws=4096)
    assert again.reused and again.rows == first.rows
    (src / "runs_2024.csv").write_text("\n".join(lines) + "\n")
    out = add_entries(src, db)
    assert len(out["added"]) == 6 and len(out["unchanged"]) == 59
    year = inventory_report(db, by="team,quarter", num_draws=4096)
    assert year.cells_reused > 0 and year.cells_computed < len({tuple(r["group"]) for r in year.rows}) - 1
    total = year.total()
    shares = [r["share_of_variance"] for r in year.rows if r["group"] and r["metric"] == "total_location_tco2e"]
    assert sum(shares) == pytest.approx(1.0, abs=1e-9)
    assert total["lower"] < total["median"] < total["upper"]
    market = year.total("scope2_market_tco2e")
    assert market["mean"] < year.total("scope2_location_tco2e")["mean"]  # AWS entries carry a market factor of 0
    reproduced, identical = reproduce_report(db, first.report_id)
    assert identical and reproduced.rows == first.rows
    with sqlite3.connect(db) as con:  # queryable with plain SQL
        n_active = con.execute("SELECT COUNT(*) FROM entries WHERE retired_at IS NULL").fetchone()[0]
        teams = {r[0] for r in con.execute("SELECT DISTINCT team FROM entries")}
    assert n_active == 65 and {"foundation", "product", "evals"} <= teams


def _two_runs_added(tmp_path, capsys) -> Path:
    """A database holding two runs (teams x and y, clouds aws and gcp, Q1 and Q2 2024), added on the command line."""
    db, table = tmp_path / "lab.sqlite", tmp_path / "runs.csv"
    table.write_text("id,team,date,hardware,device_hours,region,datacenter,tags\n"
                     "a,x,2024-01-05,h100_sxm,100,us-east-1,aws,cloud=aws\n"
                     "b,y,2024-05,a100_80gb,300,europe-west4,google,cloud=gcp\n")
    assert main(["inventory", "add", str(table), "--db", str(db)]) == 0
    capsys.readouterr()
    return db


def test_command_line_json_and_csv(tmp_path, capsys):
    db = _two_runs_added(tmp_path, capsys)
    assert main(["inventory", "report", "--db", str(db), "--by", "cloud,quarter", "--draws", "4096", "--json",
                 "--csv", str(tmp_path / "r.csv")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["by"] == ["cloud", "quarter"] and {tuple(g["group"]) for g in out["groups"]} == {(), ("aws", "2024-Q1"), ("gcp", "2024-Q2")}
    assert (tmp_path / "r.csv").read_text().startswith("cloud,quarter,metric,units,mean")
    assert main(["inventory", "list", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema_version"] == SCHEMA_VERSION


def test_report_without_grouping_is_the_total_alone_and_is_stored(tmp_path, capsys):
    """Without --by the one cell is the total: one row per metric (it was stored twice under the same key,
    which the database refused as a UNIQUE violation), the same numbers as the sum over teams, and read back."""
    db = _two_runs_added(tmp_path, capsys)
    assert main(["inventory", "report", "--db", str(db), "--draws", "4096", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["by"] == [] and all(g["group"] == [] for g in plain["groups"])
    metrics = [g["metric"] for g in plain["groups"]]
    assert len(metrics) == len(set(metrics))
    assert main(["inventory", "report", "--db", str(db), "--draws", "4096", "--by", "team", "--json"]) == 0
    by_team = json.loads(capsys.readouterr().out)
    total = {g["metric"]: g for g in by_team["groups"] if g["group"] == []}
    for g in plain["groups"]:
        assert g["mean"] == pytest.approx(total[g["metric"]]["mean"], rel=1e-9)
    assert main(["inventory", "report", "--db", str(db), "--draws", "4096", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["reused"] and again["groups"] == plain["groups"]


@pytest.mark.parametrize("text, message", [
    ("id,team,date,hardware,device_hours,region,datacenter,colour\na,x,2024-01-05,h100_sxm,100,us-east-1,aws,red\n", "unknown column"),
    ("id,team,date,device_hours,region,datacenter\na,x,2024-01-05,100,us-east-1,aws\n", "missing column"),
    ("id,date,hardware,device_hours,region,datacenter\na,2024-01-05,h100_sxm,100,us-east-1,aws\n"
     "a,2024-01-06,h100_sxm,50,us-east-1,aws\n", "given twice"),
    ("id,date,hardware,device_hours,region,datacenter\na,2024-13-05,h100_sxm,100,us-east-1,aws\n", "must be a date"),
    ("id,date,hardware,device_hours,region,datacenter\na,2024-01-05,h100_sxm,-1,us-east-1,aws\n", "device_hours"),
])
def test_bad_tables_are_refused_and_nothing_is_written(tmp_path, text, message):
    db = tmp_path / "lab.sqlite"
    good = tmp_path / "good.csv"
    good.write_text("id,date,hardware,device_hours,region,datacenter\nok,2024-01-05,h100_sxm,100,us-east-1,aws\n")
    add_entries(good, db)
    before = db.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    with pytest.raises(InputError, match=message):
        add_entries(bad, db)
    assert db.read_bytes() == before


def test_conflicting_id_is_refused_whole_unless_replaced(tmp_path):
    db = tmp_path / "lab.sqlite"
    t1, t2 = tmp_path / "one.csv", tmp_path / "two.csv"
    t1.write_text("id,date,hardware,device_hours,region,datacenter\na,2024-01-05,h100_sxm,100,us-east-1,aws\n")
    t2.write_text("id,date,hardware,device_hours,region,datacenter\nb,2024-02-05,h100_sxm,10,us-east-1,aws\n"
                  "a,2024-01-05,h100_sxm,200,us-east-1,aws\n")
    add_entries(t1, db)
    with pytest.raises(InputError, match="already in the inventory"):
        add_entries(t2, db)
    with InventoryStore(db) as store:
        assert [e.id for _, e in store.entries()] == ["a"]  # b was not added either: one transaction
    assert add_entries(t2, db, replace=True) == {"added": ["b"], "unchanged": [], "replaced": ["a"]}
    with InventoryStore(db) as store:
        assert {e.id: e.doc["run"]["device_hours"] for _, e in store.entries()} == {"a": 200, "b": 10}


def test_corrupt_locked_and_newer_databases_are_refused(tmp_path):
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database" * 100)
    with pytest.raises(InputError, match="not a readable inventory database"):
        InventoryStore(corrupt)
    assert corrupt.read_bytes() == b"this is not a database" * 100
    db = tmp_path / "lab.sqlite"
    InventoryStore(db, create=True).close()
    newer = sqlite3.connect(db)
    newer.execute("INSERT INTO schema_version VALUES (?, 'later')", (SCHEMA_VERSION + 1,))
    newer.commit()
    newer.close()
    with pytest.raises(InputError, match="newer than this carbon-mc"):
        InventoryStore(db)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(InputError, match="not a carbon-mc inventory"):
        InventoryStore(other)
    locked_db = tmp_path / "locked.sqlite"
    InventoryStore(locked_db, create=True).close()
    holder = sqlite3.connect(locked_db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        table = tmp_path / "t.csv"
        table.write_text("id,date,hardware,device_hours,region,datacenter\na,2024-01-05,h100_sxm,100,us-east-1,aws\n")
        with pytest.raises(InputError, match="locked"):
            with InventoryStore(locked_db, timeout_s=0.2) as store:
                store.add_entries(read_entries(table))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with InventoryStore(locked_db) as store:
        assert store.entries() == []
    with pytest.raises(InputError, match="no such inventory"):
        inventory_report(tmp_path / "absent.sqlite")
