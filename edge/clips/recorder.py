"""Triggers → pending clips → recordings in the queue (the daemon's one clip hook).

The processing thread calls :meth:`ClipRecorder.observe` after each pass with the reading, the
pipeline and the events it published (with their seqs). Triggers:

- ``alarm``: an ``alarm`` event (a pending near-miss clip is superseded by it);
- ``near_miss``: a score ≥ ``near_miss_fraction`` × the alarm threshold, or a flame/smoulder
  watch speaking up, while no alarm is raised; at most one per ``near_miss_cooldown_s``;
- ``fault``: a ``fault`` event;
- ``verdict``: a user verdict for a seq without a clip (:mod:`edge.clips.feedback`).

A clip spans [trigger − pre_s, trigger + post_s] on the device clock and is written once
``post_s`` has passed (or at shutdown, shorter). Its times are seconds from the clip's start;
``meta.clip.t0``/``t1`` are the start and end as unix seconds, ``meta.clip.trigger_t`` the
trigger in the recording's own time axis (seconds from the start, like ``frame_t``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.clips.queue import ClipQueue
from edge.clips.ring import Ring
from edge.config.clips import ClipsConfig
from edge.detect.pipeline import DetectionEvent, Pipeline
from edge.mqtt.payloads import event_payload, iso_utc
from edge.recording import save_recording
from edge.types import GasReading, ThermalFrame

log = logging.getLogger(__name__)

#: How many published seqs are remembered for verdicts.
MAX_SEQS = 1000
_WATCHES = frozenset({"flame_growth", "smoulder"})


@dataclass
class Pending:
    """A clip waiting for its ``post_s``."""

    reason: str
    seq: int | None
    trigger_t: float
    key: str
    events: list[dict[str, Any]] = field(default_factory=list)


class ClipRecorder:
    """Clip triggers and writing. ``observe``/``flush`` on the processing thread; ``verdict``
    from the MQTT thread (it only queues work under a lock)."""

    def __init__(
        self,
        config: ClipsConfig,
        device_id: str,
        queue: ClipQueue,
        prefix: str,
        *,
        model_version: Callable[[], str] = lambda: "unknown",
        wake: Callable[[], None] = lambda: None,
        unix_offset: Callable[[], float] | None = None,
        seqs_file: Path | None = None,
    ) -> None:
        self.config = config
        self.device_id = device_id
        self.queue = queue
        self.prefix = prefix
        self.model_version = model_version
        self.wake = wake
        self.ring = Ring(config.pre_s + config.post_s, config.frame_rate_hz)
        self.pending: list[Pending] = []
        self._unix_offset = unix_offset
        self._offset: float | None = None
        self._last_near_miss = -math.inf
        self._lock = threading.Lock()
        self._verdict_clips: list[tuple[int, float]] = []
        self.seqs_file = seqs_file
        self.seqs: OrderedDict[int, str | None] = self._load_seqs()
        self.last_alarm_seq: int | None = next(
            (s for s, k in reversed(self.seqs.items()) if k and "-alarm-" in k), None)
        self.now = -math.inf
        self.written: list[str] = []

    # ------------------------------------------------------------------ the daemon's hook

    def observe(self, reading: ThermalFrame | GasReading | None, pipeline: Pipeline,
                published: Sequence[tuple[DetectionEvent, int]], now: float) -> None:
        """One processing pass: feed the ring, fire triggers, write clips that are due."""
        if self._offset is None:
            self._offset = (self._unix_offset() if self._unix_offset is not None
                            else time.time() - now)
        self.now = max(self.now, now)
        if isinstance(reading, ThermalFrame):
            self.ring.add_frame(reading)
        elif isinstance(reading, GasReading):
            self.ring.add_gas(reading)
        score = pipeline.last_score
        t = reading.t if reading is not None else now
        if reading is not None and score is not None and pipeline.last_vector is not None:
            p = float(score.probability)
            if math.isfinite(p):
                self.ring.add_score(t, p)
        for ev, seq in published:
            body = event_payload(ev, seq, iso_utc(), pipeline.sensors(), pipeline.degraded,
                                 self.model_version(), pipeline.reasons())
            self._on_event(ev, seq, body)
        if reading is not None and pipeline.alarm.state != "alarm":
            self._near_miss(t, pipeline)
        with self._lock:
            verdicts, self._verdict_clips = self._verdict_clips, []
        for seq, vt in verdicts:
            self._start("verdict", seq, vt if math.isfinite(vt) else now)
        self._write_due(now)

    def flush(self) -> None:
        """Shutdown: write every pending clip now, with what the ring holds."""
        for p in list(self.pending):
            self._write(p)
        self.pending.clear()

    # ------------------------------------------------------------------ verdicts

    def clip_for(self, seq: int) -> tuple[bool, str | None]:
        """Is ``seq`` an event this device published, and which clip key has it (if any)?"""
        with self._lock:
            if seq not in self.seqs:
                return False, None
            return True, self.seqs[seq]

    def request_verdict_clip(self, seq: int) -> str:
        """Make a verdict clip for ``seq`` from the ring now; return its key."""
        t = self.now
        key = self._key(t, "verdict", seq)
        with self._lock:
            self.seqs[seq] = key
            self._verdict_clips.append((seq, t))
        self._save_seqs()
        return key

    # ------------------------------------------------------------------ internals

    def _key(self, trigger_t: float, reason: str, seq: int | None) -> str:
        t0_unix = trigger_t - self.config.pre_s + (self._offset or 0.0)
        if not math.isfinite(t0_unix):
            t0_unix = time.time() - self.config.pre_s
        day = time.strftime("%Y-%m-%d", time.gmtime(t0_unix))
        clip_id = f"{int(t0_unix * 1000)}-{reason}-{seq if seq is not None else 0}"
        return f"{self.prefix}{self.device_id}/{day}/{clip_id}.npz"

    def _on_event(self, ev: DetectionEvent, seq: int, body: dict[str, Any]) -> None:
        for p in self.pending:
            p.events.append(body)
        key: str | None = None
        if ev.kind == "alarm":
            self.pending = [p for p in self.pending if p.reason != "near_miss"]
            key = self._start("alarm", seq, ev.t, body)
            self.last_alarm_seq = seq
        elif ev.kind == "fault":
            key = self._start("fault", seq, ev.t, body)
        elif ev.kind == "clear":  # the clear judges the same episode as its alarm
            alarm = self.last_alarm_seq
            key = self.seqs.get(alarm) if alarm is not None else None
        with self._lock:
            self.seqs[seq] = key
            while len(self.seqs) > MAX_SEQS:
                self.seqs.popitem(last=False)
        self._save_seqs()

    def _near_miss(self, t: float, pipeline: Pipeline) -> None:
        if t - self._last_near_miss < self.config.near_miss_cooldown_s or any(
                p.reason in ("alarm", "near_miss") for p in self.pending):
            return
        score = pipeline.last_score
        p = math.nan if score is None else float(score.probability)
        watch = any(e.source in _WATCHES and (e.triggers or e.holds)
                    for e in pipeline.last_evidence)
        if watch or p >= self.config.near_miss_fraction * pipeline.alarm.threshold:
            self._last_near_miss = t
            log.info("clips: near-miss at %.1f (score %.2f, threshold %.2f%s)", t, p,
                     pipeline.alarm.threshold, ", a watch spoke" if watch else "")
            self._start("near_miss", None, t)

    def _start(self, reason: str, seq: int | None, t: float,
               body: dict[str, Any] | None = None) -> str:
        key = (self.seqs.get(seq) if reason == "verdict" and seq is not None else None) or (
            self._key(t, reason, seq))
        self.pending.append(Pending(reason, seq, t, key, [body] if body else []))
        return key

    def _write_due(self, now: float) -> None:
        due = [p for p in self.pending if now >= p.trigger_t + self.config.post_s]
        for p in due:
            self.pending.remove(p)
            self._write(p)

    def _write(self, p: Pending) -> None:
        t0 = p.trigger_t - self.config.pre_s
        t1 = min(p.trigger_t + self.config.post_s, max(self.now, p.trigger_t))
        part = self.ring.slice(t0, t1)
        off = self._offset or 0.0
        meta: dict[str, Any] = {
            "source": "firedetect clip", "device_id": self.device_id,
            "model_version": self.model_version(), "fire_start_s": None,
            "clip": {"reason": p.reason, "seq": p.seq, "t0": round(t0 + off, 3),
                     "t1": round(t1 + off, 3), "trigger_t": round(p.trigger_t - t0, 3),
                     "events": [_relative(e, t0) for e in p.events],
                     "scores": [[round(t - t0, 3), round(s, 4)] for t, s in part.scores]},
        }
        rec = part.recording(t0, meta)
        try:
            path = self.queue.new_path(p.key.rsplit("/", 1)[-1])
            save_recording(rec, path)
            self.queue.add(path, p.key, p.reason)
        except Exception:  # a clip that cannot be written must not stop detection
            log.exception("clips: could not write the %s clip %s", p.reason, p.key)
            return
        self.written.append(p.key)
        self.wake()

    def _load_seqs(self) -> OrderedDict[int, str | None]:
        out: OrderedDict[int, str | None] = OrderedDict()
        if self.seqs_file is not None and self.seqs_file.exists():
            try:
                for s, k in json.loads(self.seqs_file.read_text(encoding="utf-8")):
                    out[int(s)] = None if k is None else str(k)
            except (OSError, ValueError, TypeError) as exc:
                log.warning("clips: %s unreadable (%s); verdicts for older events will be "
                            "refused", self.seqs_file, exc)
        return out

    def _save_seqs(self) -> None:
        if self.seqs_file is None:
            return
        with self._lock:
            data = json.dumps(list(self.seqs.items()))
        tmp = self.seqs_file.with_name("." + self.seqs_file.name)
        try:
            tmp.write_text(data, encoding="utf-8")
            os.replace(tmp, self.seqs_file)
        except OSError as exc:
            log.warning("clips: cannot save %s: %s", self.seqs_file, exc)


def _relative(event: dict[str, Any], t0: float) -> dict[str, Any]:
    t = event.get("t")
    return {**event, "t": round(t - t0, 3)} if isinstance(t, int | float) else event
