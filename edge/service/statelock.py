"""One daemon per state directory: an exclusive ``flock`` held for the daemon's life.

Two daemons on one state directory would share one outbox and one MQTT client id: they
steal each other's connection every second and the retained state flips. The lock is an
exclusive, non-blocking ``flock`` on the **state directory itself** (opened read-only), not
on a file in it: that works on a read-only file system too, where a lock file could not be
created — so a read-only SD card neither stops detection nor lets a second daemon in. The
kernel drops the lock when the process dies (no stale lock after a crash).

The holder's pid is written, best effort, to ``<state_dir>/firedetect.pid`` so a second
instance can name it. If even the directory cannot be opened, the daemon runs unlocked and
says so (detection beats exclusivity).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from pathlib import Path

from edge.errors import FiredetectError

__all__ = ["AlreadyRunning", "StateLock"]

log = logging.getLogger(__name__)

PID_FILE = "firedetect.pid"


class AlreadyRunning(FiredetectError):
    """Another daemon holds the state directory."""


class StateLock:
    """The exclusive lock on one state directory. :meth:`acquire`, then :meth:`release`."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self._fd: int | None = None
        #: Why the directory could not be locked (None when locked): shown in the health.
        self.fault: str | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> StateLock:
        """Lock the directory.

        :raises AlreadyRunning: another process holds it (the message names the directory
            and, if known, that process's pid).
        """
        try:
            fd = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            self.fault = f"{self.state_dir}: cannot lock the state directory: {exc.strerror}"
            log.error("%s; running without the single-instance lock", self.fault)
            return self
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                self.fault = f"{self.state_dir}: cannot lock the state directory: {exc}"
                log.error("%s; running without the single-instance lock", self.fault)
                return self
            pid = self._other_pid()
            who = f" (pid {pid})" if pid else ""
            raise AlreadyRunning(
                f"another firedetect daemon{who} is already running on the state directory "
                f"{self.state_dir}; stop it first, or give this one its own "
                f"device.state_dir / --state-dir"
            ) from None
        self._fd = fd
        self._write_pid()
        return self

    def release(self) -> None:
        """Drop the lock (idempotent). The pid file is left: it is only a hint."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write_pid(self) -> None:
        path = self.state_dir / PID_FILE
        tmp = path.with_name(f".{PID_FILE}.{os.getpid()}")
        try:
            tmp.write_text(f"{os.getpid()}\n", encoding="ascii")
            os.replace(tmp, path)
        except OSError as exc:
            log.debug("cannot write %s: %s", path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def _other_pid(self) -> int | None:
        try:
            text = (self.state_dir / PID_FILE).read_text(encoding="ascii").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None
