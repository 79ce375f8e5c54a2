"""CFAST does not outlive the process that runs it (edge.sim.cfast.run._run_once).

A corpus worker killed by a signal it cannot catch used to leave its CFAST child running as
an orphan, for as long as the solver crawled. The stand-in for CFAST here is a script that
records its pid and sleeps: what is under test is the process's lifetime, not CFAST's output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the parent-death signal is Linux's prctl")

ROOT = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie awaiting its reaper has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(path: Path, seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written within {seconds} s")


def _parent_and_child(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A Python process running ``_run_once`` on a stand-in CFAST, and the stand-in's pid."""
    pidfile = tmp_path / "child.pid"
    fake = tmp_path / "cfast"
    fake.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 60\n")
    fake.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    code = ("import sys; from pathlib import Path; from edge.sim.cfast.run import _run_once; "
            f"_run_once({str(fake)!r}, Path({str(work)!r}), 'x', 120.0)")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    return parent, int(_wait_for(pidfile, 20.0))


def test_cfast_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    parent, child = _parent_and_child(tmp_path)
    try:
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        end = time.monotonic() + 10.0
        while _alive(child) and time.monotonic() < end:
            time.sleep(0.05)
        assert not _alive(child), "the CFAST stand-in outlived the process that ran it"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_cfast_runs_on_while_its_parent_lives(tmp_path: Path) -> None:
    """The control: the signal is the parent's death, not anything else."""
    parent, child = _parent_and_child(tmp_path)
    try:
        time.sleep(1.0)
        assert _alive(child)
        assert parent.poll() is None
    finally:
        parent.kill()
        parent.wait(10)
        end = time.monotonic() + 10.0
        while _alive(child) and time.monotonic() < end:
            time.sleep(0.05)
        if _alive(child):
            os.kill(child, signal.SIGKILL)
