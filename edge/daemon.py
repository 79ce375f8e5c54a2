"""The daemon: sensor threads → one processing thread (features → score → alarm) → outbox → MQTT.

Threads:

- one :class:`edge.sensors.loop.SensorLoop` per sensor (Lepton frames as they come, SCD41
  every 5 s), each with its own recovery, putting typed readings on a bounded queue;
- the processing thread (:meth:`Daemon.run`'s caller): the shared
  :class:`edge.detect.pipeline.Pipeline` on every reading, events appended to the crash-safe
  outbox (``MqttLink.publish_event``: synced to disk, never blocking on the network),
  retained state/health, telemetry, the ``cmd/test`` answer, sd_notify ``STATUS=`` lines and
  the watchdog;
- the MQTT link's own threads (paho's network loop and the outbox publisher).

The systemd watchdog is pinged only while every component makes progress (each sensor loop,
this processing loop, the outbox): a wedged thread stops the pings and systemd restarts us. A
sensor that *faults* (its read raises or returns nothing) still makes progress — the device
runs degraded on the other sensor and says so in the alarm payload and the retained health.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.config import Config
from edge.detect.pipeline import (
    DetectionEvent,
    Pipeline,
    build_pipeline,
    model_hold,
    model_threshold,
)
from edge.model.holder import ModelHolder
from edge.mqtt.base import Link
from edge.mqtt.payloads import (
    dumps,
    event_payload,
    iso_utc,
    last_event_brief,
    state_payload,
    test_payload,
)
from edge.notify import Notifier, ProgressMonitor, watchdog_interval_s
from edge.sensors.loop import Reading, SensorLoop
from edge.sensors.sources import Sources
from edge.service.malloc import release_free_heap
from edge.service.options import DaemonOptions
from edge.service.report import Reporter
from edge.service.storage import StorageWatch
from edge.snapshot.service import Snapshotter
from edge.types import ThermalFrame

if TYPE_CHECKING:
    from edge.clips.recorder import ClipRecorder

__all__ = ["Daemon", "DaemonOptions", "Link"]

log = logging.getLogger(__name__)

class Daemon:
    """One running device. Build it, then call :meth:`run` from the thread that should process.

    :param config: the validated config (``reload`` swaps the parts that can change live).
    :param sources: both sensors and the clock they run on.
    :param holder: the model holder (rule fallback when it has no model).
    :param link: the MQTT link, already built on the outbox (its test-command callback should
        call :meth:`request_test`).
    """

    def __init__(
        self,
        config: Config,
        sources: Sources,
        holder: ModelHolder,
        link: Link,
        *,
        notifier: Notifier | None = None,
        options: DaemonOptions | None = None,
        wall: Callable[[], float] = time.monotonic,
        lock_fault: str | None = None,
    ) -> None:
        self.config = config
        self.sources = sources
        self.clock = sources.clock
        self.holder = holder
        self.link = link
        self.notifier = notifier or Notifier()
        self.options = options or DaemonOptions()
        self.wall = wall
        self.stop_event = threading.Event()
        self.storage = StorageWatch(link, holder, lock_fault)
        self.queue: queue.Queue[Reading] = queue.Queue(maxsize=256)
        opt = self.options
        self.monitor = ProgressMonitor(
            {"lepton": opt.sensor_stall_s, "scd41": opt.sensor_stall_s,
             "scorer": opt.scorer_stall_s, "outbox": opt.outbox_stall_s},
            now=wall,
        )
        self.loops = [
            SensorLoop(sources.lepton, self.queue, self.monitor, self.stop_event),
            SensorLoop(sources.scd41, self.queue, self.monitor, self.stop_event),
        ]
        self.start_t = self.clock.monotonic()
        self.pipeline: Pipeline = build_pipeline(config, holder, start_t=self.start_t)
        self._model_in_alarm = holder.model  # the model whose threshold the alarm logic uses
        self.events_published = 0
        self.clips: ClipRecorder | None = None  # set by edge.app when [clips] is enabled
        self.ready = False
        self._test_requested = threading.Event()
        self._snapshot_requested = threading.Event()
        # Pictures of the decision (edge.snapshot), rendered and published off this thread.
        self.snapshots = Snapshotter(link, config.flame.new_s)
        self._pending_config: Config | None = None
        self._config_lock = threading.Lock()
        self._last_state: tuple[str, str | None] | None = None  # published (state, reason)
        self._last_event: dict[str, Any] | None = None  # the retained state's last_event
        self._state_stale = False
        self._last_health_key: Any = None
        self._next_health = -math.inf
        self._next_telemetry = -math.inf
        self._next_status = -math.inf
        self._last_status = ""
        self._next_ping = -math.inf
        self._next_outbox_check = -math.inf
        self._outbox_head: int | None = None
        self._stall_logged: frozenset[str] = frozenset()
        self._wall_start = wall()
        self.report = Reporter(self.pipeline, link, holder, self.storage,
                               lambda: self.wall() - self._wall_start)
        self.watchdog_s = opt.watchdog_s if opt.watchdog_s is not None else watchdog_interval_s()

    # ------------------------------------------------------------------ control (any thread)

    def request_stop(self) -> None:
        """Ask :meth:`run` to shut down (SIGTERM)."""
        self.stop_event.set()

    def request_test(self, payload: bytes = b"") -> None:
        """``<base>/cmd/test`` arrived: the processing thread will publish a ``test`` event."""
        self._test_requested.set()

    def request_snapshot(self, payload: bytes = b"") -> None:
        """``<base>/cmd/snapshot`` arrived: a snapshot of the current frame will be published."""
        self._snapshot_requested.set()

    def request_reload(self, config: Config) -> None:
        """Apply a new, already validated config at the next loop pass (SIGHUP)."""
        with self._config_lock:
            self._pending_config = config

    # ------------------------------------------------------------------------------ run

    def run(self) -> None:
        """Start everything, process until stopped, then shut down in reverse order."""
        self.link.start()
        self.snapshots.start()
        for loop in self.loops:
            loop.start()
        log.info("daemon: running (device %s)", self.config.device.id)
        try:
            while not self.stop_event.is_set():
                try:
                    self.step(timeout=0.1)
                except Exception:  # a bug in one pass must not end detection: log it, pause,
                    # go on; if it repeats, the watchdog (pinged at the end of a good pass)
                    # stops and systemd restarts us.
                    log.exception("daemon: processing pass failed; continuing")
                    self.stop_event.wait(0.5)
                if self.options.duration_s is not None and (
                    self.clock.monotonic() - self.start_t >= self.options.duration_s
                ):
                    log.info("daemon: --duration reached")
                    break
        finally:
            self.shutdown()

    def step(self, timeout: float = 0.1) -> None:
        """One pass of the processing loop: at most one reading, then the periodic duties."""
        try:
            reading: Reading | None = self.queue.get(timeout=timeout)
        except queue.Empty:
            reading = None
        events = self._process(reading) if reading is not None else []
        self.snapshots.observe(reading)
        now = self.clock.monotonic()
        for loop in self.loops:
            self.pipeline.driver_status(loop.name, loop.status())
        events += self.pipeline.check(now)
        published = [(ev, self.publish(ev)) for ev in events]
        if self.clips is not None:
            try:  # clips (edge.clips.recorder) only record; a fault there never stops detection
                self.clips.observe(reading, self.pipeline, published, now)
            except Exception:
                log.exception("daemon: the clip recorder failed on this pass")
        for ev, seq in published:  # in the outbox (and known to the clips): its picture,
            # rendered off-thread
            if ev.kind == "alarm":
                self._snapshot(ev.alarm.why or ev.alarm.reason if ev.alarm else "", seq, "alarm")
        self.monitor.beat("scorer")
        self._apply_pending_config()
        self._follow_model_threshold()
        if self._test_requested.is_set():
            self._test_requested.clear()
            self._publish_test()
        if self._snapshot_requested.is_set():
            self._snapshot_requested.clear()
            self._snapshot("on request", None, "snapshot")
        self._periodic(now)

    def _process(self, reading: Reading) -> list[DetectionEvent]:
        try:
            if isinstance(reading, ThermalFrame):
                return self.pipeline.frame(reading).events
            return self.pipeline.gas(reading).events
        except Exception:  # one bad reading (a malformed frame, a model bug the holder
            # could not roll back) must not end processing: log it fully and go on.
            log.exception("daemon: could not process a %s reading", type(reading).__name__)
            return []

    def shutdown(self) -> None:
        """Stop sensors, tell systemd, flush what the broker will take, say offline, close."""
        self.notifier.stopping()
        self.stop_event.set()
        log.info("daemon: stopping")
        for loop in self.loops:
            if not loop.join(timeout=5.0):
                log.warning("daemon: %s loop did not stop in time", loop.name)
        # Anything still queued is processed, so an alarm decided on it is not lost (no
        # staleness checks now: the sensors were stopped on purpose, that is no fault).
        while True:
            try:
                reading = self.queue.get_nowait()
            except queue.Empty:
                break
            for ev in self._process(reading):
                try:
                    self.publish(ev)
                except Exception:  # shutting down must finish even if one publish fails
                    log.exception("daemon: could not store an event during shutdown")
        self.snapshots.stop()
        if not self.link.drain(self.options.drain_timeout_s):
            log.warning("daemon: unsent events stay in the outbox for the next start")
        self.link.stop()
        self.sources.close()
        log.info("daemon: stopped")

    # -------------------------------------------------------------------------- publishing

    def publish(self, ev: DetectionEvent) -> int:
        """Append one event to the outbox (synced) and wake the publisher; return its seq."""
        body = event_payload(
            ev, 0, iso_utc(), self.pipeline.sensors(), self.pipeline.degraded,
            self._model_version(), self.pipeline.reasons(),
        )
        dumps(body)  # fails here, before a seq is used, if the payload is not valid JSON

        def make(seq: int) -> bytes:
            return dumps({**body, "seq": seq})

        seq = self.link.publish_event(make)
        self._last_event = last_event_brief(body, seq)
        self._state_stale = True  # the retained state says the last event: publish it again
        self.events_published += 1
        if self.report.fleet is not None:
            self.report.fleet.count(ev.kind)
        log.info("daemon: event %s seq=%d t=%.2f score=%s: %s", ev.kind, seq, ev.t,
                 body["score"], body.get("why", ""))
        return seq

    def _publish_test(self) -> None:
        last = self.pipeline.last_score
        body = test_payload(
            0, iso_utc(), self.pipeline.sensors(), self.pipeline.degraded, self._model_version(),
            None if last is None else last.probability, self.clock.monotonic() - self.start_t,
        )
        seq = self.link.publish_event(lambda s: dumps({**body, "seq": s}))
        log.info("daemon: test event seq=%d", seq)
        self._snapshot("test", seq, "test")

    def _snapshot(self, reason: str, after_seq: int | None, kind: str) -> None:
        """Queue a picture of the current frame, published once event ``after_seq`` is."""
        last = self.pipeline.last_score
        self.snapshots.take(kind, reason, None if last is None else float(last.probability),
                            self.pipeline.scene, after_seq)

    def _model_version(self) -> str:
        return self.report.model_version()

    # ----------------------------------------------------------------------- periodic duties

    def _periodic(self, now: float) -> None:
        alarm = self.pipeline.alarm
        last = self.pipeline.last_score
        score = None if last is None else float(last.probability)
        why = alarm.pre_alarm_reason
        state = (alarm.state, None if why is None else why[0])
        if state != self._last_state or self._state_stale:
            was = None if self._last_state is None else self._last_state[0]
            if alarm.state == "pre_alarm" and was != "pre_alarm" and self.report.fleet is not None:
                self.report.fleet.count("pre_alarm")
            self._last_state, self._state_stale = state, False
            self.link.set_state(state_payload(alarm.state, iso_utc(), alarm.since, score,
                                              self._last_event, why))
        key = (tuple(self.pipeline.reasons().items()), self._model_version(),
               tuple(self.storage.report().items()))
        if key != self._last_health_key or now >= self._next_health:
            self._last_health_key = key
            self._next_health = now + self.options.health_interval_s
            self.link.set_health(self.report.health())
        if now >= self._next_telemetry:
            self._next_telemetry = now + self.config.mqtt.telemetry_interval_s
            self.link.telemetry(self.report.telemetry(score))
        wall = self.wall()
        if wall >= self._next_outbox_check:
            self._next_outbox_check = wall + 1.0
            self.storage.retry(wall)
            self._check_outbox()
        if not self.ready and self._started(wall):
            self.ready = True
            release_free_heap()  # what the model load and start-up freed: ~12 MiB of RSS
            self.notifier.ready(self.status_line())
            log.info("daemon: ready (%s)", self.status_line())
        if wall >= self._next_status:
            self._next_status = wall + self.options.status_interval_s
            line = self.status_line()
            if line != self._last_status:
                self._last_status = line
                self.notifier.status(line)
        self._watchdog(wall)

    def _started(self, wall: float) -> bool:
        """Start-up is over once each sensor delivered or faulted, or after the timeout."""
        if wall - self._wall_start >= self.options.startup_timeout_s:
            return True
        return all(
            loop.readings > 0 or loop.status().startswith("fault") for loop in self.loops
        )

    def _watchdog(self, wall: float) -> None:
        if self.watchdog_s is None or wall < self._next_ping:
            return
        stalled = self.monitor.stalled()
        names = frozenset(stalled)
        if names != self._stall_logged:
            if names:
                log.error("daemon: no progress from %s; withholding the watchdog ping so "
                          "systemd restarts us", ", ".join(f"{k} ({v:.0f} s)"
                                                          for k, v in sorted(stalled.items())))
            else:
                log.info("daemon: every component makes progress again")
            self._stall_logged = names
        if names:
            return
        self._next_ping = wall + self.watchdog_s / 3.0
        self.notifier.watchdog()

    def _check_outbox(self) -> None:
        """Outbox progress: nothing pending, the broker away (not our stall), or the head moved."""
        st = self.link.status()
        depth = st.outbox_depth
        connected = st.state == "connected"
        head: int | None = None
        if depth > 0 and connected:
            items = self.link.outbox.pending(1)
            head = items[0].seq if items else None
        if depth <= 0 or not connected or head != self._outbox_head:
            self.monitor.beat("outbox")
        self._outbox_head = head

    def status_line(self) -> str:
        """The sd_notify ``STATUS=`` line (:meth:`edge.service.report.Reporter.status_line`)."""
        return self.report.status_line()

    # --------------------------------------------------------------------------- reload

    def _follow_model_threshold(self) -> None:
        """A model swapped in (S3 update, rollback) brings its own threshold: use it from the
        next idle moment (an alarm in progress keeps the logic it was raised with)."""
        model = self.holder.model
        if model is self._model_in_alarm:
            return
        if self.pipeline.retune(self.config.alarm, model_threshold(self.holder),
                                 model_hold(self.holder)):
            self._model_in_alarm = model
            release_free_heap()  # the previous model's session is gone

    def _apply_pending_config(self) -> None:
        with self._config_lock:
            new, self._pending_config = self._pending_config, None
        if new is None:
            return
        old = self.config
        for section in ("sensors", "mqtt", "device", "model", "flame", "smoulder", "gas",
                        "clips"):
            if getattr(new, section) != getattr(old, section):
                log.warning("reload: [%s] changed; it takes effect at the next restart "
                            "(systemctl restart firedetect)", section)
        if new.alarm != old.alarm:
            if self.pipeline.alarm.state == "idle":
                self.pipeline.retune(new.alarm, model_threshold(self.holder),
                                     model_hold(self.holder))
                log.info("reload: new alarm settings in use")
            else:
                log.warning("reload: alarm settings not changed during a %s; reload again "
                            "once idle", self.pipeline.alarm.state)
                new = new.model_copy(update={"alarm": old.alarm})
        self.config = new
        self.notifier.ready(self.status_line())
