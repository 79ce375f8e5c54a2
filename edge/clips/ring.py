"""The RAM ring: the last ``span_s`` seconds of frames (decimated), gas readings and scores.

Memory is bounded by time: at most ``span_s × frame_rate_hz + 2`` frames are held (160×120
uint16 = 38.4 kB each: 90 s at 2 Hz ≈ 7 MB), plus one small tuple per SCD41 reading (every
5 s) and per score.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.recording import Recording
from edge.types import FrameArray, GasReading, ThermalFrame


@dataclass(frozen=True, slots=True)
class Slice:
    """What the ring held over one window, times on the device clock."""

    frames: list[tuple[float, FrameArray, float]]
    gas: list[GasReading]
    scores: list[tuple[float, float]]

    def recording(self, t0: float, meta: dict[str, object]) -> Recording:
        """A recording of this slice with times relative to ``t0`` (the clip's start)."""
        res = self.frames[0][2] if self.frames else 0.01
        frames = [(t, px) for t, px, r in self.frames if r == res]
        shape = frames[0][1].shape if frames else (120, 160)
        return Recording(
            frame_t=np.array([t - t0 for t, _ in frames], dtype=np.float64),
            frames=(np.stack([px for _, px in frames]).astype(np.uint16) if frames
                    else np.zeros((0, *shape), dtype=np.uint16)),
            gas_t=np.array([g.t - t0 for g in self.gas], dtype=np.float64),
            co2_ppm=np.array([g.co2_ppm for g in self.gas], dtype=np.float32),
            temperature_c=np.array([g.temperature_c for g in self.gas], dtype=np.float32),
            humidity_pct=np.array([g.humidity_pct for g in self.gas], dtype=np.float32),
            frame_resolution_k=float(res),
            meta=dict(meta),
        )


class Ring:
    """Recent raw data, oldest dropped first. Not thread-safe: the processing thread owns it.

    :param span_s: how many seconds to keep (a clip's ``pre_s + post_s``).
    :param frame_rate_hz: frames kept per second; the others (and FFC repeats) are skipped.
    """

    def __init__(self, span_s: float, frame_rate_hz: float) -> None:
        if not span_s > 0 or not frame_rate_hz > 0:
            raise ValueError(f"span_s and frame_rate_hz must be > 0, got {span_s}, "
                             f"{frame_rate_hz}")
        self.span_s = span_s
        self.period_s = 1.0 / frame_rate_hz
        self.max_frames = int(span_s * frame_rate_hz) + 2
        self._frames: deque[tuple[float, FrameArray, float]] = deque(maxlen=self.max_frames)
        self._gas: deque[GasReading] = deque()
        self._scores: deque[tuple[float, float]] = deque()
        self._next_frame_t = -np.inf

    def add_frame(self, frame: ThermalFrame) -> bool:
        """Keep ``frame`` if it is new data and due at the reduced rate; True if kept."""
        if frame.frozen or frame.t < self._next_frame_t:
            return False
        self._next_frame_t = frame.t + self.period_s * 0.95  # tolerate a little jitter
        self._frames.append((frame.t, frame.pixels.copy(), frame.resolution_k))
        self._trim(frame.t)
        return True

    def add_gas(self, reading: GasReading) -> None:
        """Keep every SCD41 reading."""
        self._gas.append(reading)
        self._trim(reading.t)

    def add_score(self, t: float, p: float) -> None:
        """Keep one score (fire probability) at ``t``."""
        self._scores.append((t, p))
        self._trim(t)

    def slice(self, t0: float, t1: float) -> Slice:
        """Everything held in [t0, t1]."""
        return Slice(
            [f for f in self._frames if t0 <= f[0] <= t1],
            [g for g in self._gas if t0 <= g.t <= t1],
            [s for s in self._scores if t0 <= s[0] <= t1],
        )

    @property
    def frame_count(self) -> int:
        return len(self._frames)

    def _trim(self, now: float) -> None:
        cut = now - self.span_s
        while self._frames and self._frames[0][0] < cut:
            self._frames.popleft()
        while self._gas and self._gas[0].t < cut:
            self._gas.popleft()
        while self._scores and self._scores[0][0] < cut:
            self._scores.popleft()
