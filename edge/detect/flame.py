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
  clip; or at the camera's ceiling, when a frame sits at one under ``hot_c``: :func:`hot_at`),
  at its peak within each step of ``step_s``, rose in each of the last ``steps`` steps
  (4 × 2 s), by ``min_growth_px`` (12) over the last ``growth_steps`` (5 × 2 s), and is at
  least ``min_px`` (12). A flame on a t² fire spreads pixel by pixel every few seconds, and
  flickers as it does (the step's peak is its envelope: :func:`step_peaks`); a hob, a grate
  or a heater crosses the line all at once and stops, a gas ring flickers in place, a glint
  or the sun is a few pixels that do not spread. Sizes are a Lepton 3.x's pixels; a Lepton
  2.x frame (80 × 60) counts the same share of its own (:func:`frame_px`: 12 are 3), as the
  features count shares of the frame. Counted in its own pixels, a Lepton 2.x saw the
  held-out flames up to 76 s later (docs/evaluation.md, "Issue 14, session 35").
- **or growing as a trend**: a slow flame, or one flickering by more than it grows in a step,
  fails "rose in each step" for as long as it lasts (a CFAST chair seen at 2.6 s and growing
  from 2 to 200 px in 45 s rose in each of four steps once, while the model's score was
  low). Over the last ``trend_steps`` (8 × 2 s) the region was there in every step, and its
  step peaks are larger in at least ``trend_share`` (0.8) of all pairs of steps, the later
  against the earlier; grew by ``min_growth_px``; and grew in the later half of the window
  at least as much as in the earlier: a fire's area grows faster as it grows (t²), while a
  hob, a grate or a heater coming up to temperature slows down as it nears its own (a ring
  that jumps to 22 px and then creeps to 27 px has grown 20 px and then 1).
- **Fast**: the pixels that join the region jump: the median rate at which they crossed
  ``hot_c`` over the window is ≥ ``min_rise_k_s`` (3 K/s). A heater, a grate or an oven
  whose edge pixels cross the line one after another as it warms rises well under that.
- **Sure**: the region rose in each of ``sure_steps`` steps (7 × 2 s): so long a steady
  spread is a flame whatever the model says, and the pipeline needs no score to alarm on it.
  A gas burner reaches its flow within seconds of the knob (CFAST's burners here ramp over
  10 s, five steps) and then flickers in place; a heater's, oven's or pan's edge crosses
  ``hot_c`` slower than ``min_rise_k_s``. The model can be unsure of a flame that reads
  moderately hot: a paper fire 1.5 m away, growing to 221 pixels that all read 142–143 °C
  in 14 s (the camera in low gain: not a clip), scored 0.15–0.31 (docs/evaluation.md,
  sessions 26 and 27).

:class:`FlameWatch` is fed °C frames in time order and reads no clock, so a replay gives the
same answers as living through it. The pipeline alarms on a growing flame when the model's
score corroborates it (``flame.min_score``); see ``edge/detect/evidence.py``. The per-pixel
memory of what is new is :class:`edge.detect.scene.SceneMemory`, shared with the known-scene
rule (the smoulder watch keeps its own at 60 °C).
Each growing frame also says for how long the region has grown (``growing_s``), so that a
flame that keeps spreading needs less of the model's score than one that has just begun
(``[flame] ladder``; ``edge.detect.evidence.flame_bar``).
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
from edge.detect.scene import SceneMemory

log = logging.getLogger(__name__)

__all__ = ["CEILING_MIN_PX", "REFERENCE_PX", "FlameEvidence", "FlameWatch", "frame_px",
           "hot_at"]

#: Pixels that must share a frame's hottest value for the frame to sit at its camera's
#: ceiling (as fd-v5's saturation reads it: ``edge.featuresets.history.SAT_MIN_PX``).
CEILING_MIN_PX = 2
#: The frame the watches' sizes in pixels are set for: a Lepton 3.x's 160 × 120.
REFERENCE_PX = 19_200


def frame_px(px: int, frame_size: int) -> int:
    """``px`` pixels of a Lepton 3.x frame (:data:`REFERENCE_PX`) as pixels of a frame of
    ``frame_size`` pixels: the same share of the view, rounded up, at least 1.

    The watches' sizes (``[flame] min_px``, ``min_growth_px``, ``[smoulder] min_spread_px``,
    ``slow_min_px``) are set for a Lepton 3.x; a Lepton 2.x (80 × 60) sees the same fire on
    a quarter of the pixels, as the features' shares of the frame already allow
    (docs/features.md). 12 pixels are 12 on a Lepton 3.x and 3 on a Lepton 2.x."""
    return max(1, math.ceil(px * frame_size / REFERENCE_PX))


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
    #: The line a pixel of this frame had to reach (°C): ``hot_c``, or the camera's ceiling
    #: under it (:func:`hot_at`); NaN: not judged.
    hot_c: float = math.nan
    #: Growing: for how many seconds (0 at the episode's first growing frame); NaN: not
    #: growing. An episode goes on across a pause of at most one step (``step_s``) between
    #: growing frames (:meth:`FlameWatch.growing_for`).
    growing_s: float = math.nan


class FlameWatch:
    """Says when a new hot region keeps growing, reading the scene memory
    (:class:`edge.detect.scene.SceneMemory`) for what is new.

    :param memory: the shared scene memory, updated by its owner before :meth:`observe`;
        None gives the watch its own, updated by :meth:`update` (a watch on its own).
    """

    def __init__(self, config: FlameConfig | None = None,
                 memory: SceneMemory | None = None) -> None:
        self.cfg = config or FlameConfig()
        self.memory = memory if memory is not None else SceneMemory(self.cfg)
        self._generation = -1
        self.reset()

    def reset(self) -> None:
        """Forget the watched window (the scene memory was reset)."""
        self._times: list[float] = []  # the new-pixel counts of the watched window
        self._counts: list[int] = []
        self._rises: list[float] = []  # per frame: median crossing rate, K/s (NaN: none)
        self._prev: tuple[float, npt.NDArray[np.floating]] | None = None
        self._episode: tuple[float, float] | None = None  # growing: (since, last frame)

    @property
    def onset(self) -> npt.NDArray[np.float64] | None:
        """The scene memory's per-pixel onsets (:attr:`SceneMemory.onset`)."""
        return self.memory.onset

    def update(self, t: float, celsius: npt.NDArray[np.floating]) -> FlameEvidence:
        """Feed one frame (°C, any 2-D shape) taken at ``t`` seconds to the memory, then
        :meth:`observe` it.

        :raises ValueError: ``t`` not finite, or a frame that is not 2-D.
        """
        self.memory.update(t, celsius)
        return self.observe(celsius)

    def observe(self, celsius: npt.NDArray[np.floating]) -> FlameEvidence:
        """Judge the frame the scene memory has just taken (``celsius``, at ``memory.t``)."""
        memory = self.memory
        if memory.generation != self._generation:
            self._generation = memory.generation
            self.reset()
        t = memory.t
        cfg = self.cfg
        recent = memory.recent(cfg.new_s)
        hot_c = hot_at(celsius, cfg)
        new = (celsius >= hot_c) & recent
        new_px = int(np.count_nonzero(new))
        scene_only = memory.scene_only(cfg.new_s)
        rise = math.nan
        if self._prev is not None and t > self._prev[0] and new_px:
            before = self._prev[1]
            crossed = new & (before < hot_c)
            if crossed.any():
                rate = (celsius[crossed] - before[crossed]) / (t - self._prev[0])
                rise = float(np.median(rate))
        self._prev = (t, celsius)
        return self._judge(t, new_px, rise, scene_only, hot_c, celsius.size)

    def _judge(self, t: float, new_px: int, rise: float, scene_only: bool, hot_c: float,
               frame_size: int) -> FlameEvidence:
        cfg = self.cfg
        min_growth = frame_px(cfg.min_growth_px, frame_size)
        over = max(cfg.steps, cfg.growth_steps)  # the steps min_growth_px is counted over
        last = max(over, cfg.sure_steps, cfg.trend_steps)
        span = cfg.step_s * (last + 1)
        times, counts_ = self._times, self._counts
        times.append(t)
        counts_.append(new_px)
        self._rises.append(rise)
        drop = bisect_right(times, t - span) - 1  # keep one sample at or before the start
        if drop > 0:
            del times[:drop], counts_[:drop], self._rises[:drop]
        if times[0] > t - span:
            return FlameEvidence(t, new_px, 0, False, scene_only=scene_only,
                                 hot_c=hot_c)  # too early
        counts = step_peaks(times, counts_, t, cfg.step_s, last)
        # How many steps back the peak has risen step after step.
        run = next((k - 1 for k in range(1, len(counts)) if counts[k - 1] <= counts[k]),
                   len(counts) - 1)
        growth = counts[0] - counts[over]
        first = bisect_right(times, t - cfg.step_s * cfg.steps)
        rises = [r for r in self._rises[first:] if not math.isnan(r)]
        rate = median(rises) if rises else math.nan
        stepwise = run >= cfg.steps and growth >= min_growth
        growing = (new_px >= frame_px(cfg.min_px, frame_size) and rate >= cfg.min_rise_k_s
                   and (stepwise or self._trend(counts, min_growth)))
        sure = growing and cfg.sure_steps > cfg.steps and run >= cfg.sure_steps
        return FlameEvidence(t, new_px, growth, growing, rate, scene_only, sure, hot_c,
                             self.growing_for(t) if growing else math.nan)

    def growing_for(self, t: float) -> float:
        """The frame at ``t`` grows: the seconds since its growing episode began. The episode
        goes on when the last growing frame was at most one step (``step_s``) before, so one
        frame the flicker leaves short of growing, or a frame rate of one per step, does not
        end it;
        the ladder of flame bars (``[flame] ladder``) reads it."""
        ep = self._episode
        since = ep[0] if ep is not None and t - ep[1] <= self.cfg.step_s else t
        self._episode = (since, t)
        return t - since

    def _trend(self, counts: list[int], min_growth: int) -> bool:
        """The step peaks (newest first) grew as a trend over ``trend_steps`` (module
        docstring): there in every step, larger in ``trend_share`` of the pairs of steps
        (later against earlier), by ``min_growth`` pixels, and not slowing down."""
        n = self.cfg.trend_steps
        if n == 0:
            return False
        w = counts[n::-1]  # oldest first
        if min(w) <= 0 or w[-1] - w[0] < min_growth:
            return False
        half = w[n // 2]
        if w[-1] - half < half - w[0]:
            return False
        later_larger = sum(1 for i in range(n) for j in range(i + 1, n + 1) if w[j] > w[i])
        return later_larger >= self.cfg.trend_share * n * (n + 1) / 2


def hot_at(celsius: npt.NDArray[np.floating], cfg: FlameConfig) -> float:
    """The apparent temperature (°C) at which a pixel of this frame is flame-hot: ``hot_c``,
    or the frame's hottest value when the frame sits at its camera's ceiling under ``hot_c``.

    A camera reports anything hotter than its gain's range as its ceiling, and the Lepton's
    high gain is specified to 140 °C with ±5 °C accuracy (sensors.md): a unit may top out
    at 136 °C, and at a 0.1 K resolution the highest count reads 139.95 °C. With ``hot_c`` at
    140 °C such a camera would show a flame as a plateau just under the line and the watch
    would never see it grow: re-recorded at a 138 °C ceiling, 14 of the 65 held-out fires
    (flaming, in high gain) alarmed on other evidence, a median 82 s after ignition
    instead of 14 s on the watch, and CFAST's fires at a median 63 s instead of 22 s
    (docs/evaluation.md, "Issue 14, session 29").
    The frame sits at a ceiling when its hottest value is shared by ``CEILING_MIN_PX`` pixels
    or more and is at least ``ceiling_min_c``: then its pixels at that value count as
    flame-hot. A camera whose ceiling is at or over ``hot_c`` sees no change.
    """
    floor = cfg.ceiling_min_c
    if floor >= cfg.hot_c:
        return cfg.hot_c
    top = float(celsius.max()) if celsius.size else -math.inf
    if floor <= top < cfg.hot_c and np.count_nonzero(celsius == top) >= CEILING_MIN_PX:
        return top
    return cfg.hot_c


def step_peaks(times: list[float], counts: list[int], t: float, step_s: float, last: int
               ) -> list[int]:
    """The peak count of each step back from ``t``: element ``k`` is the largest count in
    (t − (k+1)·step_s, t − k·step_s], for ``k`` = 0…``last``; a step holding no sample (a frame
    rate under one per step) reads the sample before it.

    A flame's visible area pulses (flames puff at ~1–7 Hz, fire-science.md §2.3), in its
    first seconds by a third of its size from one second to the next, so one sample a step
    reads the flicker rather than the growth; the step's peak is the flame's envelope. A gas
    ring or a grate flickering in place keeps a flat envelope, and a hob or heater that
    crosses the line at once and stops, a flat one after the jump.
    """
    out = []
    hi = len(times)
    for k in range(last + 1):
        lo = bisect_right(times, t - (k + 1) * step_s)
        out.append(max(counts[lo:hi]) if hi > lo else counts[max(hi - 1, 0)])
        hi = lo
    return out


def median(values: list[float]) -> float:
    """``numpy.median`` of a short list of numbers without NaN, to the bit (the middle value,
    or the two middle ones' sum halved), without building an array: ~1 against ~15 µs."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2.0
