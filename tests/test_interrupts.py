"""Ctrl-C at any moment exits 130 with one line and leaves nothing half-written; files get the umask."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostile import invoke

SCRIPT = Path(sys.executable).with_name("carbon-mc")
needs_script = pytest.mark.skipif(not SCRIPT.exists() or os.name != "posix", reason="needs the installed console script")


def _interrupt_after(seconds: float, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([str(SCRIPT), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@needs_script
@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.5])
def test_ctrl_c_while_importing_or_computing_is_one_line_and_exit_130(tmp_path, seconds):
    # A command that takes far longer than the last delay (a default run now answers in about a second),
    # with an output file that must not appear.
    r = _interrupt_after(seconds, "sensitivity", "gpt3_175b", "--base-draws", "4194304", "--out", "s.nc", cwd=tmp_path)
    if r.returncode == 0:  # the whole run finished first: nothing to interrupt on this machine
        pytest.skip("the run finished before the signal")
    assert r.returncode == 130, r.stderr
    assert r.stderr.strip() == "carbon-mc: interrupted" and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


@needs_script
def test_ctrl_c_while_computing_is_one_line_and_exit_130(tmp_path):
    r = _interrupt_after(12.0, "run", "gpt3_175b", "--method", "mc", "--stream", "--draws", "100000000000", cwd=tmp_path)
    assert r.returncode == 130, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "carbon-mc: interrupted" and "Traceback" not in r.stderr


def test_interrupt_after_the_first_output_leaves_none(tmp_path, monkeypatch):
    """`check --plot P --model-card M`: Ctrl-C while the card is written leaves neither file."""
    import carbon_mc.commands.check as check_command

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(check_command, "save_text", interrupted)
    argv = ["check", "gpt3_175b", "--draws", "2000", "--plot", str(tmp_path / "p.png"), "--model-card", str(tmp_path / "m.yaml")]
    outcome = invoke(argv)
    assert outcome.code == 130 and outcome.err.strip() == "carbon-mc: interrupted"
    assert list(tmp_path.iterdir()) == []


def test_a_failing_last_output_removes_the_earlier_ones(tmp_path, monkeypatch):
    import carbon_mc.commands.check as check_command

    def fails(*args, **kwargs):
        from carbon_mc import OutputError

        raise OutputError("disk full (simulated)")

    monkeypatch.setattr(check_command, "save_text", fails)
    argv = ["check", "gpt3_175b", "--draws", "2000", "--plot", str(tmp_path / "p.png"), "--model-card", str(tmp_path / "m.yaml")]
    outcome = invoke(argv)
    assert outcome.code == 2 and "disk full" in outcome.err
    assert list(tmp_path.iterdir()) == []


def test_files_get_the_users_umask_also_when_overwriting(tmp_path):
    import carbon_mc

    target = tmp_path / "r.nc"
    ds = carbon_mc.estimate("gpt3_175b", num_draws=64)
    old = os.umask(0o022)
    try:
        carbon_mc.save_dataset(ds, target)
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        os.chmod(target, 0o600)
        carbon_mc.save_dataset(ds, target)
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        os.umask(0o077)
        carbon_mc.save_dataset(ds, target)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    finally:
        os.umask(old)
