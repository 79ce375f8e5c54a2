"""``./bootstrap.sh``: usage before any install, no reinstall when nothing changed, and a stop
(Ctrl-C, ``timeout``, ``kill``) that stops the daemon before its broker.

Each test runs the real script on a scratch copy with a stand-in ``.venv``: its ``python`` is
this interpreter on this checkout, its ``pip`` only notes what it was asked to do, so nothing
is installed; the broker is the real Mosquitto and the daemon the real ``firedetect run``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.sim.sources import make_scene

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists())
    or not shutil.which("systemd-analyze") or not shutil.which("setsid"),
    reason="bootstrap.sh would install Debian packages here",
)


def checkout(tmp_path: Path) -> Path:
    """bootstrap.sh, pyproject.toml and demo/ in a scratch folder with a stand-in .venv."""
    repo = tmp_path / "repo"
    bin_dir = repo / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("bootstrap.sh", "pyproject.toml"):
        shutil.copy2(ROOT / name, repo / name)
    (repo / "demo").symlink_to(ROOT / "demo")
    run_here = f'PYTHONPATH="{ROOT}" exec "{sys.executable}"'
    (bin_dir / "python").write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = -m ] && [ "$2" = pip ]; then echo "$*" >> "{tmp_path}/pip.log"; exit 0; fi\n'
        f'{run_here} "$@"\n'
    )
    (bin_dir / "firedetect").write_text(f'#!/bin/sh\n{run_here} -m edge.cli "$@"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return repo


def bootstrap(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(repo / "bootstrap.sh"), *args], capture_output=True,
                          text=True, timeout=120, check=False)


def pip_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "pip.log"
    return log.read_text().splitlines() if log.exists() else []


def processes_naming(text: str) -> list[int]:
    """Pids of the processes whose command line contains ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if proc.name.isdigit() and text in cmdline:
            found.append(int(proc.name))
    return found


class TestInstall:
    def test_usage_before_any_install(self, tmp_path: Path) -> None:
        """Without run|test the usage is printed, exit 2, and nothing is installed."""
        repo = checkout(tmp_path)
        for args in ((), ("help",)):
            done = bootstrap(repo, *args)
            assert done.returncode == 2 and "usage:" in done.stderr
        assert pip_calls(tmp_path) == []

    @pytest.mark.slow
    def test_installs_again_only_when_pyproject_changes(self, tmp_path: Path) -> None:
        """The first call installs; the next one does not; an edited pyproject.toml does."""
        repo = checkout(tmp_path)
        assert bootstrap(repo, "run", "--help").returncode == 0
        first = pip_calls(tmp_path)
        assert any("install -q -e .[" in call for call in first), first
        assert bootstrap(repo, "run", "--help").returncode == 0
        assert pip_calls(tmp_path) == first
        with (repo / "pyproject.toml").open("a") as f:
            f.write("\n# a new dependency would go here\n")
        assert bootstrap(repo, "run", "--help").returncode == 0
        assert len(pip_calls(tmp_path)) == 2 * len(first)


class Run:
    """``./bootstrap.sh run ARGS`` in its own process group, stderr to a file."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.tmp_path = tmp_path
        self.log = tmp_path / "stderr.log"
        scratch = tmp_path / "tmp"  # mktemp's folder: the broker's and daemon's files
        scratch.mkdir()
        repo = checkout(tmp_path)
        assert bootstrap(repo, "run", "--help").returncode == 0  # install once, up front
        with self.log.open("w") as err:
            self.proc = subprocess.Popen(
                ["bash", str(repo / "bootstrap.sh"), "run", *args], stdout=subprocess.DEVNULL,
                stderr=err, env=dict(os.environ, TMPDIR=str(scratch)), start_new_session=True)

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, marker: str, within_s: float) -> None:
        deadline = time.monotonic() + within_s
        while marker not in self.text():
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, f"no {marker!r} in:\n{self.text()}"
            time.sleep(0.2)

    def finish(self) -> tuple[int, list[int]]:
        """The script's exit code and any process it left behind (ended here)."""
        try:
            code = self.proc.wait(timeout=60)
        finally:
            left = processes_naming(str(self.tmp_path))
            for pid in left:
                os.kill(pid, signal.SIGKILL)
        return code, left


@pytest.mark.slow
class TestStop:
    @pytest.mark.parametrize(("how", "sig"), [
        ("group", signal.SIGTERM),  # `timeout -s TERM`: the script and its process group
        ("script", signal.SIGTERM),  # `kill PID`: the script alone
    ])
    def test_daemon_stops_before_the_broker(
        self, tmp_path: Path, how: str, sig: signal.Signals
    ) -> None:
        """TERM stops the daemon cleanly (broker still up), then the broker; nothing is left."""
        run = Run(tmp_path)
        run.wait_for("daemon: ready", 120)
        if how == "group":
            os.killpg(run.proc.pid, sig)
        else:
            run.proc.send_signal(sig)
        code, left = run.finish()
        log = run.text()
        assert code == 0 and left == [], log
        assert "daemon: stopped" in log
        assert " ERROR " not in log, log

    def test_another_scenario_keeps_the_demo_duration(self, tmp_path: Path) -> None:
        """``run --simulate static`` keeps the demo's 150 s: it ends by itself, cleanly."""
        run = Run(tmp_path, "--simulate", "static", "--speed", "30")
        code, left = run.finish()
        log = run.text()
        assert code == 0 and left == [], log
        assert "daemon: stopped" in log and " ERROR " not in log, log

    def test_demo_shows_the_fire_then_ctrl_c_stops_cleanly(self, tmp_path: Path) -> None:
        """The default demo alarms after its fire ignites; Ctrl-C then stops it cleanly."""
        _, truth = make_scene("flaming_upholstery", 2, 300.0)
        run = Run(tmp_path)
        run.wait_for("alarm: ALARM", 240)
        os.killpg(run.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        code, left = run.finish()
        log = run.text()
        assert code == 0 and left == [], log
        alarm = next(line for line in log.splitlines() if "alarm: ALARM" in line)
        t = float(alarm.split("ALARM at t=")[1].split()[0])
        assert truth["fire_start_s"] <= t <= truth["fire_start_s"] + 60.0, alarm
        assert "daemon: stopped" in log and " ERROR " not in log, log
