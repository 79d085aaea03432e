"""Signals and files: SIGINT, SIGTERM and SIGHUP leave nothing behind and exit 128 + the signal's
number with one line; outputs compared as files; symbolic links written through; concurrent
writers; inputs from a pipe; a reader of stdout that goes away; no noise on stderr."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from hostile import invoke

REPO = Path(__file__).resolve().parents[1]
CODECARBON = REPO / "examples" / "codecarbon" / "emissions.csv"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and pipes")

# Each command writes one output; the signal lands while importing (0.3 s), while computing (1 s) or
# while writing (2.5 s: a 2,000,000-draw run writes about 190 MB).
COMMANDS = {
    "run": (["run", "gpt3_175b", "--out", "x.nc", "--draws", "2000000"], "x.nc"),
    "import": (["import", "codecarbon", str(CODECARBON), "--merge", "--datacenter", "hpc", "-o", "s.toml"], "s.toml"),
    "report": (["report", "gpt3_175b", "--html", "r.html"], "r.html"),
}
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}


def _cli(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "carbon_mc.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


@posix_only
@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("name", list(SIGNALS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_signal_leaves_nothing_and_exits_128_plus_its_number(tmp_path, command, name, seconds):
    argv, output = COMMANDS[command]
    proc = _cli(*argv, cwd=tmp_path)
    time.sleep(seconds)
    proc.send_signal(SIGNALS[name])
    _, err = proc.communicate(timeout=120)
    left = sorted(p.name for p in tmp_path.iterdir())
    if proc.returncode == 0:  # it finished before the signal (import takes about a second): its output, whole
        assert left == [output] and "Traceback" not in err
        return
    assert proc.returncode == 128 + SIGNALS[name], err
    assert len(err.strip().splitlines()) == 1 and err.startswith("carbon-mc: ") and "Traceback" not in err, err
    assert left == [], left


@posix_only
def test_a_signal_ignored_by_the_parent_stays_ignored(tmp_path):
    """nohup: SIGHUP ignored, so the command goes on and writes its output."""
    argv, output = COMMANDS["import"]
    # the shell ignores SIGHUP and execs the command, which inherits that (no preexec_fn: forking a process
    # that runs JAX's threads with Python code in the child is unsafe)
    shell = f"trap '' HUP; exec {sys.executable} -m carbon_mc.cli " + " ".join(f"'{a}'" for a in argv)
    proc = subprocess.Popen(["sh", "-c", shell], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=120)
    assert proc.returncode == 0 and (tmp_path / output).exists()


def test_a_signal_during_the_renames_waits_for_the_last(tmp_path):
    """The renames into place are one step: a signal then ends the command after them, saying so."""
    code = (
        "import os, signal, carbon_mc.io.files as f, carbon_mc.io.signals as s\n"
        "s.guard_command()\n"
        "real = os.replace\n"
        "def replace(a, b):\n"
        "    real(a, b)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "os.replace = replace\n"
        "with f.all_or_none():\n"
        "    f.save_text('a', 'a.txt')\n"
        "    f.save_text('b', 'b.txt')\n"
        "print('went on')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 143 and "went on" not in r.stdout
    assert r.stderr.strip() == "carbon-mc: terminated (SIGTERM); already written: a.txt, b.txt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
def test_cache_clear_removes_only_the_cache_files(tmp_path, monkeypatch):
    monkeypatch.setenv("CARBON_MC_CACHE_DIR", str(tmp_path))
    entries = tmp_path / "jax-0.0.1"
    entries.mkdir()
    for name in ("jit_add-abc-cache", "jit_add-abc-atime", ".lockfile"):
        (entries / name).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("mine")
    (entries / "mine.txt").write_text("mine too")
    outcome = invoke(["cache", "--clear", "--json"])
    assert outcome.code == 0, outcome.err
    info = json.loads(outcome.out)
    assert info["removed_files"] == 3 and info["files"] == 0
    assert (tmp_path / "notes.txt").read_text() == "mine" and (entries / "mine.txt").exists()
    assert sorted(p.name for p in entries.iterdir()) == ["mine.txt"]


def test_an_unwritable_cache_directory_turns_the_cache_off_quietly(tmp_path):
    (tmp_path / "afile").write_text("")
    env = {**os.environ, "CARBON_MC_CACHE_DIR": str(tmp_path / "afile" / "cache")}
    r = subprocess.run([sys.executable, "-m", "carbon_mc.cli", "run", "gpt3_175b", "--draws", "1000", "--json"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("second", ["./x.csv", "{dir}/x.csv", "link.csv"])
def test_two_outputs_naming_one_file_are_refused(tmp_path, monkeypatch, second):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("old")
    (tmp_path / "link.csv").symlink_to("x.csv")
    outcome = invoke(["run", "gpt3_175b", "--draws", "1000", "--csv", "x.csv", "--csv-draws", second.format(dir=tmp_path)])
    assert outcome.code == 2 and "two outputs name the same file" in outcome.err and "written" not in outcome.out
    assert (tmp_path / "x.csv").read_text() == "old"


def test_an_output_that_is_the_input_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = CODECARBON.read_bytes()
    (tmp_path / "in.csv").write_bytes(data)
    outcome = invoke(["import", "codecarbon", "in.csv", "--datacenter", "hpc", "-o", "./in.csv", "--force"])
    assert outcome.code == 2 and "is the input" in outcome.err
    assert (tmp_path / "in.csv").read_bytes() == data


def test_an_output_that_is_a_symlink_is_written_through(tmp_path):
    """The file the link points to is replaced (atomically); the link stays a link."""
    from carbon_mc.io.files import save_text

    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "card.yaml"
    target.write_text("old")
    link = tmp_path / "card.yaml"
    link.symlink_to(target)
    save_text("new", link)
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.yaml", "data"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["card.yaml"]
    dangling = tmp_path / "new.yaml"
    dangling.symlink_to(tmp_path / "data" / "fresh.yaml")
    save_text("fresh", dangling)
    assert dangling.is_symlink() and (tmp_path / "data" / "fresh.yaml").read_text() == "fresh"


def test_concurrent_writers_without_force_cannot_both_succeed(tmp_path):
    argv = ["import", "codecarbon", str(CODECARBON), "--merge", "--datacenter", "hpc", "-o", "same.toml"]
    procs = [_cli(*argv, "--name", f"writer {i}", cwd=tmp_path) for i in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    winner = next(i for i, (code, _, _) in enumerate(results) if code == 0)
    loser = results[1 - winner]
    assert "wrote" not in loser[1] and "exists" in loser[2] and len(loser[2].strip().splitlines()) == 1
    assert f'"writer {winner}"' in (tmp_path / "same.toml").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.toml"]


def test_create_only_refuses_a_file_that_appeared(tmp_path):
    """The race itself, made certain: the file appears after the early check, before the write."""
    from carbon_mc import OutputError
    from carbon_mc.io.files import all_or_none, create_only, save_text

    path = tmp_path / "s.toml"
    with pytest.raises(OutputError, match="exists"), all_or_none(), create_only([path]):
        path.write_text("the other writer's")
        save_text("mine", path)
    assert path.read_text() == "the other writer's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


@posix_only
@pytest.mark.parametrize("how", ["stdin", "process substitution"])
def test_a_scenario_from_a_pipe(tmp_path, how):
    scenario = REPO / "models" / "gpt3_175b.toml"
    if how == "stdin":  # a pipe, not a file redirected
        r = subprocess.run([sys.executable, "-m", "carbon_mc.cli", "run", "/dev/stdin", "--draws", "1000"],
                           input=scenario.read_text(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    else:
        r = subprocess.run(["bash", "-c", f'"{sys.executable}" -m carbon_mc.cli run <(cat "{scenario}") --draws 1000'],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "GPT-3 175B" in r.stdout


def test_a_scenario_file_is_read_once(tmp_path, monkeypatch):
    from carbon_mc.scenarios import load_any_scenario

    reads = []
    real = Path.read_bytes

    def counted(self):
        reads.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", counted)
    scenario = load_any_scenario(REPO / "models" / "gpt3_175b.toml")
    assert scenario.name == "GPT-3 175B" and reads.count("gpt3_175b.toml") == 1


@posix_only
def test_a_reader_that_goes_away_leaves_the_file_and_no_noise(tmp_path):
    cmd = f'"{sys.executable}" -m carbon_mc.cli import codecarbon "{CODECARBON}" --merge --datacenter hpc -o t.toml | head -c 20'
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout == "wrote t.toml from em"
    assert "[run]" in (tmp_path / "t.toml").read_text()


@pytest.mark.parametrize("merge", [True, False])
def test_a_failure_before_writing_claims_no_write(tmp_path, monkeypatch, merge):
    # Merged: one file, its write fails. Apart: two files, the second write fails and the first is removed.
    import carbon_mc.ingest.measured as measured

    real = measured.save_text
    calls = []

    def fails_last(text, path):
        from carbon_mc import OutputError

        calls.append(path)
        if len(calls) == (1 if merge else 2):
            raise OutputError("disk full (simulated)")
        return real(text, path)

    monkeypatch.setattr(measured, "save_text", fails_last)
    argv = ["import", "codecarbon", str(CODECARBON), *(["--merge"] if merge else []), "--datacenter", "hpc", "-o", str(tmp_path / "t.toml")]
    outcome = invoke(argv)
    assert outcome.code == 2 and "disk full" in outcome.err and "wrote" not in outcome.out
    assert len(calls) == (1 if merge else 2)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# noise
# ---------------------------------------------------------------------------------------------
def test_float_and_cache_warnings_stay_off_stderr(monkeypatch):
    import carbon_mc.commands.cache as cache_command

    real = cache_command.handle

    def noisy(args):
        warnings.warn("overflow encountered in cast", RuntimeWarning, stacklevel=1)
        warnings.warn("Error writing persistent compilation cache entry for 'jit_stage'", UserWarning, stacklevel=1)
        return real(args)

    monkeypatch.setattr(cache_command, "handle", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        outcome = invoke(["cache", "--json"])
    assert outcome.code == 0 and outcome.err == ""


def test_scaling_with_one_size_reports_no_exponent_instead_of_nan():
    outcome = invoke(["scaling", "--parameters", "1e9", "--hardware", "a100_80gb", "--draws", "64", "--json"])
    assert outcome.code == 0, outcome.err
    row = json.loads(outcome.out)["a100_80gb"]
    assert row["carbon_accuracy_exponent"] is None and row["carbon_loss_exponent"] is None
    assert row["total_tco2e_largest"]["median"] > 0
    table = invoke(["scaling", "--parameters", "1e9", "--hardware", "a100_80gb", "--draws", "64"])
    assert table.code == 0 and "nan" not in table.out and "two or more distinct sizes" in " ".join(table.out.split())


def test_max_devices_below_eight_is_honoured_and_memory_said(caplog):
    import carbon_mc

    ds = carbon_mc.scaling_sweep([1e9], hardware=["a100_80gb"], num_draws=64, max_devices=4)
    assert int(ds["devices"].max()) == 4
    with caplog.at_level("WARNING", logger="carbon_mc"):
        ds = carbon_mc.scaling_sweep([1e9, 1e10], hardware=["a100_80gb"], num_draws=64, max_devices=4)
    assert int(ds["devices"].max()) == 8 and "need more devices" in caplog.text
