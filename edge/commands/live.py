"""A live status line for ``firedetect run`` on a terminal.

Under systemd the daemon's state goes to sd_notify ``STATUS=`` and the journal; a person who
runs it in a terminal (``./bootstrap.sh run``) would otherwise see nothing between ``ready``
and the first event — twenty quiet minutes for a nuisance scenario. On a TTY this redraws one
line about once a second: the device clock (simulated seconds in a simulation), the alarm
state, the score, the sensors, the outbox and the broker link. A log record first erases the
line, so logs and the status never share a row; nothing is drawn when stderr is not a TTY.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TextIO

CLEAR = "\r\x1b[K"


class LiveStatus:
    """Redraw ``text()`` on ``stream`` every ``interval_s`` until :meth:`stop`.

    :param text: the line to show (called from this class's thread).
    """

    def __init__(self, text: Callable[[], str], stream: TextIO, interval_s: float = 1.0) -> None:
        self.text = text
        self.stream = stream
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._drawn = False
        self._thread = threading.Thread(target=self._run, name="live-status", daemon=True)
        self._filter = _EraseFirst(self)

    def start(self) -> None:
        """Draw from now on, and erase the line before every log record on the root logger."""
        for handler in logging.getLogger().handlers:
            handler.addFilter(self._filter)
        self._thread.start()

    def stop(self) -> None:
        """Stop drawing and leave the terminal on a clean line."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2 * self.interval_s)
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self._filter)
        self.erase()

    def draw(self) -> None:
        line = self.text()
        with self._lock:
            self.stream.write(CLEAR + line)
            self.stream.flush()
            self._drawn = True

    def erase(self) -> None:
        with self._lock:
            if self._drawn:
                self.stream.write(CLEAR)
                self.stream.flush()
                self._drawn = False

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.draw()
            except Exception:  # a status line must never take the daemon down
                logging.getLogger(__name__).debug("live status failed", exc_info=True)
                return


class _EraseFirst(logging.Filter):
    """Erase the status line before a record is written (the next tick redraws it)."""

    def __init__(self, live: LiveStatus) -> None:
        super().__init__()
        self.live = live

    def filter(self, record: logging.LogRecord) -> bool:
        self.live.erase()
        return True
