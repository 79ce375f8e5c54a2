"""Snapshots off the detection path: capture at the decision, render and publish on a worker.

The processing thread calls :meth:`Snapshotter.observe` with every reading (it keeps the
latest camera frame and a minute of CO2) and, once an event is *already in the outbox*,
:meth:`Snapshotter.capture` (a copy of the frame and the new hot region: microseconds). The
worker thread renders the PNG (:func:`edge.snapshot.render.render`) and hands it to the link
only once the broker has acknowledged the event it belongs to, so on ``<base>/snapshot`` the
picture always comes *after* its event, and rendering never delays an alarm. Only the latest
picture matters: a newer one replaces one still waiting (for the broker, say).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from edge.detect.scene import SceneMemory
from edge.snapshot.render import Shot, render
from edge.types import ZERO_C_K, GasReading, ThermalFrame

__all__ = ["SnapshotSink", "Snapshotter"]

log = logging.getLogger(__name__)

#: The CO2 rise on the caption is over this many seconds.
RISE_S = 60.0


class SnapshotSink(Protocol):
    """Where pictures go: the MQTT link (``<base>/snapshot``, retained)."""

    def is_delivered(self, seq: int) -> bool: ...

    def set_snapshot(self, png: bytes) -> None: ...


class Snapshotter:
    """Keeps what a snapshot needs, and renders and publishes them on its own thread.

    :param sink: the link.
    :param new_s: a hot pixel is *new* (outlined) this long after its hot episode began.
    :param on_png: also called with each rendered picture (e.g. to keep it with a clip).
    """

    def __init__(self, sink: SnapshotSink, new_s: float, *,
                 wall: Callable[[], float] = time.time,
                 on_png: Callable[[Shot, bytes], None] | None = None) -> None:
        self.sink = sink
        self.new_s = new_s
        self.wall = wall
        self.on_png = on_png
        self.published = 0
        self.last_render_s = math.nan
        self._frame: ThermalFrame | None = None
        self._gas: deque[GasReading] = deque()
        self._queue: queue.Queue[Shot] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ processing thread

    def observe(self, reading: ThermalFrame | GasReading | None) -> None:
        """Take one reading: the latest good frame, a minute of CO2."""
        if isinstance(reading, ThermalFrame):
            if not reading.frozen:
                self._frame = reading
        elif isinstance(reading, GasReading):
            self._gas.append(reading)
            while self._gas and self._gas[0].t < reading.t - RISE_S - 10.0:
                self._gas.popleft()

    def capture(self, kind: str, reason: str, score: float | None, scene: SceneMemory | None,
                after_seq: int | None) -> Shot:
        """What the picture will show, copied now (cheap); rendered later by the worker."""
        celsius = None
        region = None
        frame = self._frame
        if frame is not None:
            celsius = (frame.pixels * np.float32(frame.resolution_k)
                       - np.float32(ZERO_C_K)).astype(np.float32)
            if scene is not None and scene.hot is not None and scene.hot.shape == celsius.shape:
                region = scene.hot & scene.recent(self.new_s)
        co2 = rise = None
        if self._gas:
            last = self._gas[-1]
            co2 = last.co2_ppm
            past = [g for g in self._gas if g.t <= last.t - RISE_S]
            if past:
                rise = last.co2_ppm - past[-1].co2_ppm
        return Shot(celsius, region, self.wall(), kind, reason, score, co2, rise, after_seq)

    def take(self, kind: str, reason: str, score: float | None, scene: SceneMemory | None,
             after_seq: int | None) -> None:
        """:meth:`capture` and :meth:`submit`; a failure is logged, never raised (a picture
        must not stop detection)."""
        try:
            self.submit(self.capture(kind, reason, score, scene, after_seq))
        except Exception:  # a picture is a nicety: it must never stop detection
            log.exception("snapshot: could not take a %s snapshot", kind)

    def submit(self, shot: Shot) -> None:
        """Queue a picture for the worker (never blocks)."""
        self._queue.put(shot)

    # ------------------------------------------------------------------- worker

    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="snapshot", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the worker (a picture still waiting for its event is dropped; the event is
        not: it stays in the outbox)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _latest(self) -> Shot | None:
        """The newest picture queued (older ones are dropped), or None."""
        shot = None
        while True:
            try:
                shot = self._queue.get_nowait()
            except queue.Empty:
                return shot

    def _run(self) -> None:
        shot: Shot | None = None
        png = b""
        while not self._stop.is_set():
            newer = self._latest()
            if newer is not None:
                shot = newer
                try:
                    t0 = time.perf_counter()
                    png = render(shot)
                    self.last_render_s = time.perf_counter() - t0
                except Exception:  # a picture must never take the worker down; log, go on
                    log.exception("snapshot: could not render the %s snapshot", shot.kind)
                    shot = None
                    continue
                if self.on_png is not None:
                    try:
                        self.on_png(shot, png)
                    except Exception:  # keeping a copy is optional; publishing goes on
                        log.exception("snapshot: could not keep the %s snapshot", shot.kind)
            if shot is None:
                self._stop.wait(0.05)
                continue
            try:
                ready = shot.after_seq is None or self.sink.is_delivered(shot.after_seq)
            except Exception:  # a bug, not a transient state (the link reports those as
                # "not yet"): drop this picture rather than ask again in a tight loop
                log.exception("snapshot: could not ask the link about event %s; the %s "
                              "snapshot is dropped", shot.after_seq, shot.kind)
                shot = None
                continue
            if not ready:
                self._stop.wait(0.05)
                continue
            try:
                self.sink.set_snapshot(png)
                self.published += 1
                log.info("snapshot: %s snapshot published (%d bytes, rendered in %.1f ms)",
                         shot.kind, len(png), self.last_render_s * 1000)
            except Exception:  # the link refused it; the next picture will try again
                log.exception("snapshot: could not publish the %s snapshot", shot.kind)
            shot = None
