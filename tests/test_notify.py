"""sd_notify messages on a real AF_UNIX datagram socket, and the progress monitor."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.notify import Notifier, ProgressMonitor, watchdog_interval_s


class NotifySocket:
    """A datagram socket standing in for systemd's notify socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(2.0)

    def receive(self) -> list[str]:
        data = self.sock.recv(4096)
        return data.decode().split("\n")

    def drain(self) -> list[list[str]]:
        self.sock.settimeout(0.05)
        out = []
        try:
            while True:
                out.append(self.receive())
        except TimeoutError:
            pass
        self.sock.settimeout(2.0)
        return out


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    # AF_UNIX paths are limited to 108 bytes: keep it short, not under pytest's tmp_path.
    d = tempfile.mkdtemp(prefix="fdn", dir="/tmp")
    s = NotifySocket(os.path.join(d, "notify"))
    yield s
    s.sock.close()
    Path(s.path).unlink(missing_ok=True)
    os.rmdir(d)


class TestNotifier:
    def test_ready_with_status_in_one_datagram(self, notify_socket: NotifySocket) -> None:
        """READY=1 and its STATUS line arrive together as one datagram."""
        n = Notifier(notify_socket.path)
        assert n.ready("state=idle")
        assert notify_socket.receive() == ["READY=1", "STATUS=state=idle"]

    def test_watchdog_status_stopping(self, notify_socket: NotifySocket) -> None:
        """Each helper sends the exact sd_notify assignment."""
        n = Notifier(notify_socket.path)
        n.watchdog()
        n.status("state=alarm score=0.97")
        n.stopping()
        assert notify_socket.receive() == ["WATCHDOG=1"]
        assert notify_socket.receive() == ["STATUS=state=alarm score=0.97"]
        assert notify_socket.receive() == ["STOPPING=1"]

    def test_status_newlines_flattened(self, notify_socket: NotifySocket) -> None:
        """A status with a newline cannot inject a second assignment."""
        Notifier(notify_socket.path).status("a\nREADY=1")
        assert notify_socket.receive() == ["STATUS=a READY=1"]

    def test_reads_notify_socket_from_environment(
        self, notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without an explicit address the notifier uses $NOTIFY_SOCKET."""
        monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.path)
        n = Notifier()
        assert n.enabled
        n.watchdog()
        assert notify_socket.receive() == ["WATCHDOG=1"]

    def test_abstract_namespace_address(self) -> None:
        """An address starting with @ reaches an abstract-namespace socket."""
        name = f"fdtest-{os.getpid()}"
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        srv.bind("\0" + name)
        srv.settimeout(2.0)
        try:
            assert Notifier("@" + name).ready()
            assert srv.recv(100) == b"READY=1"
        finally:
            srv.close()

    def test_no_socket_is_a_no_op(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Outside systemd nothing is sent and nothing fails."""
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
        n = Notifier()
        assert not n.enabled
        assert n.ready() is False

    def test_dead_socket_logs_once_and_never_raises(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A vanished notify socket is logged once; the daemon keeps running."""
        n = Notifier("/tmp/fd-no-such-notify-socket")
        assert n.watchdog() is False
        assert n.watchdog() is False
        assert len([r for r in caplog.records if "sd_notify" in r.getMessage()]) == 1

    def test_malformed_assignment_is_refused(self, notify_socket: NotifySocket) -> None:
        """An assignment without '=' is a programming error."""
        with pytest.raises(ValueError, match="KEY=VALUE"):
            Notifier(notify_socket.path).send("READY")


class TestWatchdogInterval:
    def test_reads_usec(self) -> None:
        """WATCHDOG_USEC is converted to seconds."""
        assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0

    def test_other_pid_ignored(self) -> None:
        """A watchdog meant for another process is not ours."""
        env = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}
        assert watchdog_interval_s(env) is None

    def test_own_pid_and_absent(self) -> None:
        """Our own pid keeps the setting; no variable means no watchdog."""
        assert watchdog_interval_s({"WATCHDOG_USEC": "5", "WATCHDOG_PID": str(os.getpid())})
        assert watchdog_interval_s({}) is None
        assert watchdog_interval_s({"WATCHDOG_USEC": "x"}) is None


class TestProgressMonitor:
    def test_stalled_component_reported(self) -> None:
        """A component silent past its limit is stalled; the others are not."""
        now = [0.0]
        m = ProgressMonitor({"lepton": 10.0, "scorer": 5.0}, now=lambda: now[0])
        now[0] = 4.0
        m.beat("scorer")
        now[0] = 11.0
        assert m.stalled() == {"lepton": 11.0, "scorer": 7.0}
        m.beat("lepton")
        m.beat("scorer")
        assert m.healthy()

    def test_unknown_component_and_bad_limit(self) -> None:
        """Misuse raises ValueError naming the problem."""
        m = ProgressMonitor({"a": 1.0})
        with pytest.raises(ValueError, match="unknown component"):
            m.beat("b")
        with pytest.raises(ValueError, match="must be > 0"):
            ProgressMonitor({"a": 0.0})
