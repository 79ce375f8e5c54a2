"""The growing-flame watch: a hot region that is *new* to the scene and *keeps spreading*.

The 18 features describe one frame (and a few seconds of change), so to the model a fire's
first visible seconds look like a candle, a fireplace, a glowing hob or a grate: all hot,
some flickering. What they cannot say is the history of the scene. This watch keeps it, per
pixel, and looks for the one thing the everyday hot objects do not do:

- **New**: a pixel is *hot* at ``known_c`` (100 °C). It is *new* when its hot episode began
  after the start-up warm-up and within ``new_s``; a pixel that was hot at any time in the last
  ``memory_s`` (30 min) continues its old episode. So a fireplace burning since boot, a candle,
  or a heater cycling on its thermostat are the scene, not news.
- **Growing**: the number of new pixels at ≥ ``hot_c`` (140 °C apparent, the lowest high-gain
  clip) rose in each of the last ``steps`` steps of ``step_s`` (5 × 2 s), by ``min_growth_px`` (12)
  in all, and is at least ``min_px`` (12). A flame on a t² fire spreads pixel by pixel every few
  seconds; a hob, a grate or a heater crosses the line all at once and stops, a gas ring
  flickers in place, a glint or the sun is a few pixels that do not spread.
- **Fast**: the pixels that join the region jump: the median rate at which they crossed
  ``hot_c`` over the window is ≥ ``min_rise_k_s`` (3 K/s). A heater, a grate or an oven
  whose edge pixels cross the line one after another as it warms rises well under that.
- **Sure**: the region rose in each of ``sure_steps`` steps (10 × 2 s): so long a steady
  spread is a flame whatever the model says, and the pipeline needs no score to alarm on it.

:class:`FlameWatch` is fed °C frames in time order and reads no clock, so a replay gives the
same answers as living through it. The pipeline alarms on a growing flame when the model's
score corroborates it (``flame.min_score``); see ``edge/detect/pipeline.py``.
Tuned on scenario runs disjoint from the held-out evaluation (docs/evaluation.md).
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.config.flame import FlameConfig

log = logging.getLogger(__name__)

__all__ = ["FlameEvidence", "FlameWatch"]


@dataclass(frozen=True, slots=True)
class FlameEvidence:
    """What the watch sees in one frame: ``new_px`` new pixels at ≥ ``hot_c``, their
    growth over the watched steps, and whether that is a growing flame."""

    t: float
    new_px: int
    growth_px: int
    growing: bool
    rise_k_s: float = math.nan
    scene_only: bool = False  # hot pixels in view, every one of them known to the scene
    sure: bool = False  # growing, and rose in each of ``sure_steps`` steps: needs no score


class FlameWatch:
    """Per-pixel memory of hot objects; says when a new hot region keeps growing."""

    def __init__(self, config: FlameConfig | None = None) -> None:
        self.cfg = config or FlameConfig()
        self.reset()

    def reset(self) -> None:
        """Forget the scene (a new camera, a new resolution)."""
        self._start: float | None = None
        self._onset: npt.NDArray[np.float64] | None = None  # when each hot episode began
        self._last_hot: npt.NDArray[np.float64] | None = None  # when last seen hot
        self._times: list[float] = []  # the new-pixel counts of the watched window
        self._counts: list[int] = []
        self._rises: list[float] = []  # per frame: median crossing rate, K/s (NaN: none)
        self._prev: tuple[float, npt.NDArray[np.floating]] | None = None
        self._last_t = -math.inf

    @property
    def onset(self) -> npt.NDArray[np.float64] | None:
        """Per pixel, when its current hot episode began (s): −∞ for what was hot in the
        warm-up (the scene), +∞ for never hot; None before the first frame. Read-only: the
        smoulder watch (``edge.detect.smoulder``) shares this memory."""
        if self._onset is None:
            return None
        view = self._onset.view()
        view.flags.writeable = False
        return view

    def update(self, t: float, celsius: npt.NDArray[np.floating]) -> FlameEvidence:
        """Feed one frame (°C, any 2-D shape) taken at ``t`` seconds.

        :raises ValueError: ``t`` not finite, or a frame that is not 2-D.
        """
        if not math.isfinite(t):
            raise ValueError(f"flame watch: frame time must be finite, got {t!r}")
        if celsius.ndim != 2:
            raise ValueError(f"flame watch: frame shape {celsius.shape}; allowed: 2-D")
        if self._onset is None or self._onset.shape != celsius.shape:
            if self._onset is not None:
                log.info("flame watch: frame shape changed to %s; forgetting the scene",
                         celsius.shape)
            self.reset()
            self._start = t
            self._onset = np.full(celsius.shape, math.inf)
            self._last_hot = np.full(celsius.shape, -math.inf)
        assert self._onset is not None and self._last_hot is not None and self._start is not None
        t = max(t, self._last_t)  # time never runs backwards here
        self._last_t = t
        cfg = self.cfg
        hot = celsius >= cfg.known_c
        begins = hot & (t - self._last_hot > cfg.memory_s)
        # Hot during the warm-up: part of the scene from before we looked (onset −∞).
        self._onset[begins] = -math.inf if t - self._start < cfg.warmup_s else t
        self._last_hot[hot] = t
        recent = self._onset >= t - cfg.new_s
        new = (celsius >= cfg.hot_c) & recent
        new_px = int(np.count_nonzero(new))
        scene_only = bool(hot.any()) and not bool((hot & recent).any())
        rise = math.nan
        if self._prev is not None and t > self._prev[0] and new_px:
            before = self._prev[1]
            crossed = new & (before < cfg.hot_c)
            if crossed.any():
                rate = (celsius[crossed] - before[crossed]) / (t - self._prev[0])
                rise = float(np.median(rate))
        self._prev = (t, celsius)
        return self._judge(t, new_px, rise, scene_only)

    def _judge(self, t: float, new_px: int, rise: float, scene_only: bool) -> FlameEvidence:
        cfg = self.cfg
        span = cfg.step_s * max(cfg.steps, cfg.sure_steps)
        times, counts_ = self._times, self._counts
        times.append(t)
        counts_.append(new_px)
        self._rises.append(rise)
        drop = bisect_right(times, t - span) - 1  # keep one sample at or before the start
        if drop > 0:
            del times[:drop], counts_[:drop], self._rises[:drop]
        if times[0] > t - span:
            return FlameEvidence(t, new_px, 0, False, scene_only=scene_only)  # too early
        counts = [counts_[bisect_right(times, t - k * cfg.step_s) - 1]
                  for k in range(max(cfg.steps, cfg.sure_steps) + 1)]
        # How many steps back the count has risen step after step.
        run = next((k - 1 for k in range(1, len(counts)) if counts[k - 1] <= counts[k]),
                   len(counts) - 1)
        growth = counts[0] - counts[cfg.steps]
        first = bisect_right(times, t - cfg.step_s * cfg.steps)
        rises = [r for r in self._rises[first:] if not math.isnan(r)]
        rate = float(np.median(rises)) if rises else math.nan
        growing = (run >= cfg.steps and growth >= cfg.min_growth_px and new_px >= cfg.min_px
                   and rate >= cfg.min_rise_k_s)
        sure = growing and cfg.sure_steps > cfg.steps and run >= cfg.sure_steps
        return FlameEvidence(t, new_px, growth, growing, rate, scene_only, sure)
