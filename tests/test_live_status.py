"""The live status line of ``firedetect run`` on a terminal (edge/commands/live.py)."""

from __future__ import annotations

import io
import logging
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from edge.commands.live import CLEAR, LiveStatus


class TestLiveStatus:
    def test_draws_and_log_records_erase_it_first(self) -> None:
        """A draw writes the line after a clear; a log record erases it before it is written."""
        stream = io.StringIO()
        live = LiveStatus(lambda: "state=idle", stream, interval_s=3600.0)
        live.start()
        try:
            live.draw()
            assert stream.getvalue() == CLEAR + "state=idle"
            logging.getLogger("edge.test").warning("hello")
            assert stream.getvalue() == CLEAR + "state=idle" + CLEAR
        finally:
            live.stop()
        assert stream.getvalue().endswith(CLEAR)
        assert all(not any(isinstance(f, type(live._filter)) for f in h.filters)
                   for h in logging.getLogger().handlers)


def test_run_on_a_terminal_shows_the_live_line(tmp_path: Path) -> None:
    """On a TTY, a quiet simulated room shows the device clock and the state, not silence."""
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--simulate", "static", "--duration", "8",
         "--speed", "2", "--broker", "mqtt://127.0.0.1:9", "--state-dir", str(tmp_path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        os.close(master)
    text = out.decode(errors="replace")
    assert "\x1b[K" in text and "state=idle" in text and "lepton=" in text, text[-500:]
    assert "t=" in text and " s state=" in text
