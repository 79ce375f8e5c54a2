"""A daemon subprocess on a read-only or full state directory, for the storage fault cases.

As root with ``unshare`` the daemon runs in a private mount namespace in which the state
directory is bind-mounted read-only (the host keeps it writable, so a later run can use it
again) or replaced by a tiny tmpfs filled to the last byte. Otherwise a read-only directory
is approximated by one without write permission (which root would ignore: then we skip).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo"
SEED_V1 = REPO / "tests" / "data" / "seed-v1-model"  # the previous demo model (seed-v1)


def can_mount() -> bool:
    """Root with ``unshare``: a private mount namespace is possible."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def write_config(path: Path, broker_url: str, state_dir: Path, device: str) -> Path:
    """A config with the signed demo model (``model.path``) and ``state_dir``."""
    path.write_text(
        f'[device]\nid = "{device}"\nstate_dir = "{state_dir}"\n\n'
        f'[mqtt]\nurl = "{broker_url}"\nkeepalive_s = 5\n\n'
        f'[model]\npath = "{SEED_V1 / "20261129T000800Z-7e67e658.tar.gz"}"\n'
        f'public_key = "{SEED_V1 / "model-signing.pub.pem"}"\n', encoding="utf-8")
    return path


def start_daemon(config: Path, state_dir: Path, *, fs: str = "rw",
                 runtime_dir: Path | None = None) -> subprocess.Popen[str]:
    """``firedetect run --simulate static`` on ``state_dir`` seen as ``fs``:

    ``rw`` as it is; ``ro`` read-only (its files still readable); ``full`` a 64 KiB tmpfs
    with no byte free. Skips the test when the needed mount is impossible here.
    """
    cmd = [sys.executable, "-m", "edge.cli", "run", "--config", str(config),
           "--simulate", "static", "--speed", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RUNTIME_DIRECTORY", None)
    if runtime_dir is not None:
        env["RUNTIME_DIRECTORY"] = str(runtime_dir)
    if fs != "rw":
        if not can_mount():
            if fs == "ro" and os.geteuid() != 0:
                state_dir.chmod(0o555)  # the best a non-root run can do
            else:
                pytest.skip(f"a {fs} file system needs root and unshare (private mounts)")
        else:
            d = shlex.quote(str(state_dir))
            if fs == "ro":
                prep = f"mount --bind {d} {d} && mount -o remount,bind,ro {d}"
            else:
                prep = (f"mount -t tmpfs -o size=64k tmpfs {d} && "
                        f"(dd if=/dev/zero of={d}/fill bs=1k 2>/dev/null; true)")
            script = f"{prep} && exec {shlex.join(cmd)}"
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stop_daemon(proc: subprocess.Popen[str], timeout: float = 30.0) -> tuple[int, str]:
    """SIGTERM, wait; (exit code, stderr)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


def wait_exit(proc: subprocess.Popen[str], timeout: float = 60.0) -> tuple[int, str]:
    """Wait for a process that should exit by itself; (exit code, stderr)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return stop_daemon(proc)
