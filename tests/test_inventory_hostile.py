"""Bad input to `carbon-mc inventory` from the command line: one clear message each (file, what is
wrong), a non-zero exit, no traceback, and the database exactly as it was."""

import sqlite3
from pathlib import Path

import pytest

from carbon_mc.cli import main
from carbon_mc.inventory.store import SCHEMA_VERSION

HEADER = "id,team,date,hardware,device_hours,region,datacenter,tags"
GOOD = f"{HEADER}\nok,vision,2024-01-05,h100_sxm,100,us-east-1,aws,cloud=aws\n"


@pytest.fixture()
def db(tmp_path, capsys):
    path = tmp_path / "lab.sqlite"
    (tmp_path / "good.csv").write_text(GOOD)
    assert main(["inventory", "add", str(tmp_path / "good.csv"), "--db", str(path)]) == 0
    capsys.readouterr()
    return path


def _refused(args: list[str], message: str, capsys) -> str:
    assert main(args) != 0, args
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err and err.count("\n") <= 3, err  # one message
    return err


@pytest.mark.parametrize("text, message", [
    (f"{HEADER},colour\nb,vision,2024-01-05,h100_sxm,100,us-east-1,aws,,red\n", "unknown column 'colour'"),  # extra column
    ("id,team,date,device_hours,region,datacenter\nb,vision,2024-01-05,100,us-east-1,aws\n", "missing column(s) hardware"),
    (f"{HEADER}\nb,vision,2024-01-05,h100_sxm,100,us-east-1,aws,\nb,vision,2024-01-06,h100_sxm,5,us-east-1,aws,\n",
     "id 'b' is given twice"),
    (f"{HEADER}\nb,vision,2024-01-05,h100_sxm,100,us-east-1,aws,cloud=aws;cloud=gcp\n", "tag 'cloud' is given twice"),
    (f"{HEADER}\nb,vision,2024-01-05,h100_sxm,100,us-east-1,aws,team=x\n", "not a label column"),
    (f"{HEADER}\nok,vision,2024-01-05,h100_sxm,999,us-east-1,aws,cloud=aws\n", "already in the inventory"),
])
def test_bad_tables_change_nothing(db, tmp_path, capsys, text, message):
    before = db.read_bytes()
    (tmp_path / "bad.csv").write_text(text)
    _refused(["inventory", "add", str(tmp_path / "bad.csv"), "--db", str(db)], message, capsys)
    assert db.read_bytes() == before


def test_corrupt_newer_and_locked_databases(db, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"\x00garbage" * 512)
    for action in (["list"], ["report", "--draws", "64"]):
        _refused(["inventory", *action, "--db", str(corrupt)], "not a readable inventory database", capsys)
    assert corrupt.read_bytes() == b"\x00garbage" * 512
    (tmp_path / "more.csv").write_text(GOOD.replace("ok,", "more,"))
    # locked by another writer: the add waits, then says so; nothing is written
    holder = sqlite3.connect(db, isolation_level=None, timeout=0.1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        _refused(["inventory", "add", str(tmp_path / "more.csv"), "--db", str(db)], "locked", capsys)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 1
        con.execute("INSERT INTO schema_version VALUES (?, 'later')", (SCHEMA_VERSION + 1,))
    before = db.read_bytes()
    _refused(["inventory", "add", str(tmp_path / "more.csv"), "--db", str(db)], "newer than this carbon-mc", capsys)
    _refused(["inventory", "report", "--db", str(db), "--draws", "64"], "newer than this carbon-mc", capsys)
    assert db.read_bytes() == before
    _refused(["inventory", "report", "--db", str(tmp_path / "absent.sqlite")], "no such inventory", capsys)
    assert not (tmp_path / "absent.sqlite").exists()
    _refused(["inventory", "report", "--db", str(db), "--html", str(tmp_path / "r.pdf")], "--html must end in .html", capsys)
    assert not Path(tmp_path / "r.pdf").exists()
