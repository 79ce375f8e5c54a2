"""One thread per sensor: read on the sensor's own cadence, hand readings to the processing thread.

Each :class:`SensorLoop` opens its source (retrying a missing device with backoff), reads it
for as long as the daemon runs and puts every reading (a ``ThermalFrame`` or ``GasReading``)
on the shared queue. A fault never ends the loop: the driver heals what it can, the loop backs
off and tries again, and :meth:`SensorLoop.status` tells the processing thread what is wrong.
Every pass beats the :class:`edge.notify.ProgressMonitor`, so only a read that hangs stops
the systemd watchdog.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Protocol

from edge.errors import SensorError
from edge.notify import ProgressMonitor
from edge.types import GasReading, ThermalFrame

log = logging.getLogger(__name__)

Reading = ThermalFrame | GasReading
QUICK_RETRIES = 3  # typed sensor errors retried almost at once before the backoff starts
QUICK_RETRY_S = 0.05


class Source(Protocol):
    """What a sensor loop reads: see :mod:`edge.sensors.sources`."""

    name: str

    def open(self) -> object: ...

    def read(self) -> Reading | None: ...

    def status(self) -> str: ...


class SensorLoop:
    """Reads one source in its own thread until ``stop`` is set.

    :param source: the sensor.
    :param out: where readings go (bounded; a full queue drops the reading and counts it).
    :param monitor: beaten with the source's name on every pass.
    :param stop: ends the loop.
    :param backoff_s: the first wait (wall seconds) after repeated failures; doubles up to
        ``max_backoff_s`` (the first ``QUICK_RETRIES`` typed sensor errors in a row are
        retried after ``QUICK_RETRY_S``). Waits are on ``stop``: shutdown never waits.
    """

    def __init__(
        self,
        source: Source,
        out: queue.Queue[Reading],
        monitor: ProgressMonitor,
        stop: threading.Event,
        backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
    ) -> None:
        if not 0 < backoff_s <= max_backoff_s:
            raise ValueError("backoff_s must be > 0 and ≤ max_backoff_s")
        self.source = source
        self.name = source.name
        self.out = out
        self.monitor = monitor
        self.stop = stop
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.error: str | None = None
        self.readings = 0
        self.dropped = 0
        self.failures = 0
        self._backoff = backoff_s
        self._consecutive = 0
        self._thread = threading.Thread(target=self.run, name=f"sensor-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; False if it is still stuck in a read."""
        if self._thread.ident is None:
            return True  # never started
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def status(self) -> str:
        """``fault: <reason>`` while the loop's last attempt failed, else the source's own."""
        if self.error is not None:
            return f"fault: {self.error}"
        return self.source.status()

    def run(self) -> None:
        while not self.stop.is_set():
            self.monitor.beat(self.name)
            try:
                reading = self.source.read()
            except SensorError as err:
                # A typed condition of the world (missing device, bus fault, timeout): the
                # driver has logged the detail and heals what it can on the next read; back
                # off (briefly at first: a dropped frame is not worth seconds of blindness).
                self._failed(str(err), exc=None)
                continue
            except Exception as err:  # a driver bug must not end this sensor's loop:
                # the other sensor and the alarm path need the daemon alive; log it in full,
                # report the sensor faulted and retry after a backoff.
                self._failed(f"{type(err).__name__}: {err}", exc=err)
                continue
            if self.error is not None:
                log.info("%s: reading again after %d failures", self.name, self.failures)
            self.error = None
            self._consecutive = 0
            self._backoff = self.backoff_s
            if reading is None:
                continue
            self.readings += 1
            try:
                self.out.put(reading, timeout=0.5)
            except queue.Full:
                self.dropped += 1
                if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                    log.warning("%s: processing is behind; %d readings dropped",
                                self.name, self.dropped)
        log.debug("%s: loop stopped", self.name)

    def _failed(self, reason: str, exc: BaseException | None) -> None:
        self.failures += 1
        if exc is not None:
            log.exception("%s: unexpected error; retrying in %.1f s", self.name, self._backoff,
                          exc_info=exc)
        elif reason != self.error:
            log.warning("%s: %s; retrying in %.1f s", self.name, reason, self._backoff)
        self.error = reason
        self._consecutive += 1
        if exc is None and self._consecutive <= QUICK_RETRIES:
            self.stop.wait(QUICK_RETRY_S)
            return
        self.stop.wait(self._backoff)
        self._backoff = min(self._backoff * 2, self.max_backoff_s)
