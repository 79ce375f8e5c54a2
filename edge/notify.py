"""systemd integration: ``sd_notify`` over ``$NOTIFY_SOCKET`` and a per-component progress monitor.

``Notifier`` speaks the sd_notify datagram protocol with the standard library's ``socket``
module (no libsystemd needed): ``READY=1`` once sensors and model are up, ``STATUS=...``
lines, ``WATCHDOG=1`` pings and ``STOPPING=1``. Outside systemd (no ``$NOTIFY_SOCKET``) every
call is a cheap no-op.

``ProgressMonitor`` keeps a last-progress time per component (the sensor loops, the scorer,
the outbox) on the wall clock. The daemon pings the watchdog only while no component is
stuck beyond its limit, so a wedged thread makes systemd restart us instead of leaving a
detector that looks alive and is not.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def _socket_address(raw: str) -> str:
    """``@name`` is Linux's abstract namespace (a leading NUL byte on the wire)."""
    if raw.startswith("@"):
        return "\0" + raw[1:]
    return raw


class Notifier:
    """Sends sd_notify messages to the service manager; a no-op when not under systemd.

    :param address: the socket path; ``$NOTIFY_SOCKET`` when None.
    """

    def __init__(self, address: str | None = None) -> None:
        raw = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self.address = raw or None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when a service manager listens."""
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; False if nobody listens or it failed.

        A failure is logged once and never raised: the service manager's absence must not
        stop the detector.
        """
        if self.address is None:
            return False
        for a in assignments:
            if "=" not in a or "\n" in a:
                raise ValueError(f"an sd_notify assignment is one KEY=VALUE line, not {a!r}")
        message = "\n".join(assignments).encode("utf-8")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._sock.setblocking(False)
                self._sock.sendto(message, _socket_address(self.address))
            except OSError as exc:
                if not self._warned:
                    log.warning("sd_notify to %s failed: %s", self.address, exc)
                    self._warned = True
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is complete (``Type=notify``)."""
        extra = [f"STATUS={status}"] if status else []
        return self.send("READY=1", *extra)

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.send(f"STATUS={text.replace(chr(10), ' ')}")

    def watchdog(self) -> bool:
        """Ping the watchdog: we are alive and making progress."""
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        """Tell systemd we are shutting down on purpose."""
        return self.send("STOPPING=1")

    def reloading(self) -> bool:
        """Tell systemd a configuration reload started (follow with ``ready``)."""
        return self.send("RELOADING=1")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def watchdog_interval_s(environ: dict[str, str] | None = None) -> float | None:
    """The watchdog period systemd asked for (``$WATCHDOG_USEC``), or None when not enabled.

    ``$WATCHDOG_PID``, when set, must be our pid (otherwise the setting is for someone else).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a number of microseconds", usec)
        return None
    return value / 1e6 if value > 0 else None


class ProgressMonitor:
    """Last-progress time per component, on a wall clock; says which are stuck.

    :param limits_s: component name → the longest it may go without progress.
    :param now: the clock (``time.monotonic`` by default; watchdogs run on real time).
    """

    def __init__(
        self,
        limits_s: dict[str, float],
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, limit in limits_s.items():
            if not limit > 0:
                raise ValueError(f"the progress limit of {name!r} must be > 0 s, got {limit}")
        self._limits = dict(limits_s)
        self._now = now
        start = now()
        self._last = dict.fromkeys(limits_s, start)
        self._lock = threading.Lock()

    def beat(self, component: str) -> None:
        """Record that ``component`` made progress just now."""
        if component not in self._limits:
            raise ValueError(f"unknown component {component!r}; known: {sorted(self._limits)}")
        t = self._now()
        with self._lock:
            self._last[component] = t

    def stalled(self) -> dict[str, float]:
        """Components past their limit → seconds since their last progress."""
        t = self._now()
        with self._lock:
            return {
                name: t - last
                for name, last in self._last.items()
                if t - last > self._limits[name]
            }

    def healthy(self) -> bool:
        """True when every component made progress within its limit."""
        return not self.stalled()
