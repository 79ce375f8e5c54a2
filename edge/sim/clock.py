"""Simulated clocks: tests run simulated minutes in milliseconds.

``ManualClock`` advances only when something sleeps or calls ``advance`` (single-threaded
tests: a 5 s SCD41 interval costs nothing). ``ScaledClock`` runs ``speed`` times faster than
the wall clock, for ``firedetect run --simulate --speed X`` where several threads share it.
"""

from __future__ import annotations

import threading
import time


class ManualClock:
    """A clock that moves only when told to; ``sleep`` advances it instantly."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._t

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"a clock only moves forward, not by {seconds} s")
        with self._lock:
            self._t += seconds


class ScaledClock:
    """Wall-clock time scaled by ``speed`` (2.0 = twice as fast), starting at ``start``."""

    def __init__(self, speed: float = 1.0, start: float = 0.0) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = float(speed)
        self._start = float(start)
        self._origin = time.monotonic()

    def monotonic(self) -> float:
        return self._start + (time.monotonic() - self._origin) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)
