"""The smoulder watch: a hot spot new to the scene that keeps heating, or keeps spreading,
minute after minute.

A smoulder's CO2 (0.5–15 ppm/min) hides in a room's breathing, so fire-science.md says the
thermal channel must catch it — but a spot at 150–250 °C is also a pan, a grate, a halogen
lamp or a heater, and on one frame the model cannot tell them apart. Their histories differ:

- **New**: the spot's pixels (≥ ``known_c``, 60 °C) began their warm episode after the
  start-up warm-up, within ``new_s`` (1 h). The watch keeps its own scene memory at that line
  (:class:`edge.detect.scene.SceneMemory`, as long as the flame watch's): a heater that was
  warm in the last 30 min, a fireplace burning at start-up are the scene. The line is the
  seed's hot-pixel line, not the flame watch's 100 °C: an overheating contact 3–6 m away
  fills a few pixels that mix it with what is around it, and reads 45 → 100 °C over a quarter
  of an hour of steady heating (held-out F5, session 31). Unset, the watch reads the flame
  watch's memory (``[flame] known_c``).
- **Heating steadily**: the hottest new pixel (the median over each ``step_s`` step, so
  flicker does not count) rose in each of the last ``steps`` steps (5 × 60 s) by at least
  ``min_heat_k``, and the smallest rise is at least ``steadiness`` × the largest. A smoulder
  or an overheating contact heats for tens of minutes at a near-steady rate; a hob, a pan or
  a grate comes up to temperature in a few minutes, its rise halving each minute or so.
- **or spreading**: the new area (median per step) grew in each step by at least
  ``min_spread_px`` and ``min_spread_frac`` of itself. A smoulder spreads through fabric at
  3–25 mm/min; a cooking object has the size it has. (Sizes in pixels, here and below, are a
  Lepton 3.x's; a Lepton 2.x counts the same share of its frame:
  :func:`edge.detect.flame.frame_px`.)
- **and its core spreads too**: a pan, a hob ring or a heater coming up to temperature also
  grows its area at the line, as more of its blurred edge and its warming surroundings
  cross 60 °C, while its own size stays. So either spreading rule also asks that the spot's
  core grew over the same steps, by ``min_spread_px`` and ``core_growth`` × itself (doubled);
  the slow rule, as it asks of the area, also that the core grew in one of the last three
  steps (a pan's core grows while it is put on and lit, then stays). The core is the new
  pixels at least halfway from the scene (the median of a sparse grid of the frame) to the
  hottest pixel of their own 8-connected region: the width at half height of a blurred
  spot, which heating it does not change and spreading does. Per region, so that a hob lit
  beside a smouldering chair does not hide the chair's spread. It is measured once a
  second, whatever the frame rate, and each step takes the median. On development seeds
  (both engines; 36 fires and 86 nuisance runs of 30–60 min) no fire was found later, and a
  CFAST oil pan whose core grew in its first minutes only (12 → 68 px) was no longer called
  spreading. Per region costs one nuisance that one core over all the new pixels would have
  caught: an electric hob whose cooktop, a region apart from its 380-°C ring, crossed the
  line at once (26 → 591 px) and then crept on.
- **or spreading slowly** (``slow_steps``, 10 × 60 s): seen from 3–6 m a front creeping at
  3–25 mm/min adds a pixel row now and then, so its area rises in jumps with flat steps
  between and the per-step rule above misses it. Over the longer window the area never
  fell under ``slow_keep`` (3/4) of its largest so far, grew past that largest in at least
  half of the steps and in one of the last three, and at least doubled by ``slow_min_px``
  or more. (A step's area is a median at a line; a small seat seen through drifting smoke
  or from metres away loses a pixel row for a minute now and then, and a rule that asked
  it never to shrink started its ten steps over.) A pan, a grate, a heater or an oven door
  heating up also grows its hot area, but only while it comes up to temperature (a few
  minutes); it then keeps the size it has. On training-seed replays (both engines, 126
  nuisance runs of 1200 s: cooking, gas, candles, fireplaces, heaters) no nuisance met it,
  while a 6-step window alarmed on 7 cooking runs. Letting the area dip to 3/4 found one
  more of 54 development fires (a seat, 11.5 min after its ignition, missed before) and
  called no more of 110 nuisance runs smouldering (development seeds, 30–60 min;
  docs/evaluation.md, "Issue 14, session 35").
- **and then it persists**: once found, a smoulder is not over when one step shows no rise
  (a seat that spreads in pixel-sized jumps, a front that pauses at a seam, a char at the
  camera's high-gain clip): smouldering does not put itself out in minutes. The watch keeps
  saying so (``persists``) until a whole step passes with the new spot gone from view
  (its median area 0) — the alarm is held while the fire is there, never cleared under it.
- **sooner, if the model firmly says fire**: the watch also says for how many of the last
  steps in a row the same rule holds (``steady_steps``, up to ``steps``). Over two to four
  minutes a hob or a pan coming up to temperature passes it too, so a spot seen for fewer
  steps than ``steps`` alarms only at a higher score (``edge.detect.evidence.SmoulderSource``):
  training chooses how many steps and the bar, the lowest no validation nuisance reaches
  (``cloud.training.smoulder_bar``). On session 21's suites overheats and CFAST smoulders were
  found one to four minutes sooner this way.
- **in a cooking zone, a warning**: a pan left on a hob heats steadily to its oil's
  ignition (340–380 °C), and to these sensors it is an electrical overheat (F5): a static spot
  heating for minutes, no flicker, little CO2 (the pan scored 0.9 as F5 did in session 15).
  Only the installer knows where food is cooked (``[lepton] cooking_zone``). The watch says
  whether every new hot pixel lies there (``in_zone``); the evidence source then warns
  (``pre_alarm``) instead of alarming. Flames in the zone are the flame watch's, and alarm.

:class:`SmoulderWatch` reads no clock; steps are counted from its first frame.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.config.flame import FlameConfig
from edge.config.smoulder import SmoulderConfig
from edge.detect.flame import REFERENCE_PX, frame_px
from edge.detect.scene import SceneMemory
from edge.featuresets.blobs import region_ids

log = logging.getLogger(__name__)

__all__ = ["SmoulderEvidence", "SmoulderWatch"]


@dataclass(frozen=True, slots=True)
class SmoulderEvidence:
    """What the watch sees: ``new_px`` new hot pixels, their hottest (°C, NaN if none),
    whether the last completed steps show steady heating or spreading (over ``steps``; for
    how many of them in a row, ``steady_steps``), and whether every new hot pixel lies in the
    cooking zone (``in_zone``: False when there are none)."""

    t: float
    new_px: int
    hottest_c: float
    heating: bool
    spreading: bool
    persists: bool = False
    in_zone: bool = False
    #: For how many of the last completed steps in a row the spot heated steadily or spread
    #: (0 or at least 2; ``steps`` when smouldering).
    steady_steps: int = 0

    @property
    def smouldering(self) -> bool:
        """Heating steadily or spreading."""
        return self.heating or self.spreading

    @property
    def holds(self) -> bool:
        """Smouldering now, or found before and its spot still in view (``persists``)."""
        return self.smouldering or self.persists


class SmoulderWatch:
    """Per step, the new hot spot's hottest pixel and area; says when it keeps heating or
    spreading."""

    def __init__(self, config: SmoulderConfig | None = None,
                 flame: FlameConfig | None = None) -> None:
        self.cfg = config or SmoulderConfig()
        flame = flame or FlameConfig()
        #: Its own scene memory at ``[smoulder] known_c``; None: the caller's onsets.
        self.memory: SceneMemory | None = None
        self.known_c = flame.known_c
        if self.cfg.known_c is not None:
            self.known_c = self.cfg.known_c
            self.memory = SceneMemory(flame.model_copy(update={"known_c": self.cfg.known_c}))
        self._start: float | None = None
        self._step = -1
        self._frame_size = REFERENCE_PX  # pixels in a frame: set by the first one
        self._hottest: list[float] = []  # this step's per-frame values
        self._areas: list[int] = []
        self._cores: list[int] = []  # this step's cores, sampled once a second
        self._core_next = -math.inf
        self._steps_t: list[float] = []  # completed steps: median hottest (NaN: mostly none)
        self._steps_n: list[float] = []  # completed steps: median area
        self._steps_c: list[float] = []  # completed steps: median core
        self._heating = False
        self._spreading = False
        self._steady_n = 0
        self._found = False  # a smoulder was found and its spot has not left the view since

    def update(self, t: float, celsius: npt.NDArray[np.floating],
               onset: npt.NDArray[np.float64] | None,
               zone: npt.NDArray[np.bool_] | None = None) -> SmoulderEvidence:
        """Feed one frame (°C) taken at ``t`` and the flame watch's per-pixel onsets (read
        only when the watch has no memory of its own: ``[smoulder] known_c`` unset);
        ``zone``, the frame's cooking-zone pixels (``[lepton] cooking_zone``), if any.

        :raises ValueError: ``t`` not finite, or ``onset`` not the frame's shape.
        """
        if not math.isfinite(t):
            raise ValueError(f"smoulder watch: frame time must be finite, got {t!r}")
        if self.memory is not None:
            self.memory.update(t, celsius)
            onset = self.memory.onset
        if onset is None or onset.shape != celsius.shape:
            shape = None if onset is None else onset.shape
            raise ValueError(f"smoulder watch: onsets of shape {shape}; allowed: the frame's "
                             f"{celsius.shape} (feed the flame watch first)")
        if zone is not None and zone.shape != celsius.shape:
            raise ValueError(f"smoulder watch: cooking zone of shape {zone.shape}; allowed: "
                             f"the frame's {celsius.shape}")
        if self._start is None:
            self._start = t
        self._frame_size = celsius.size
        step = int(max(t - self._start, 0.0) // self.cfg.step_s)
        if step != self._step:
            if self._step >= 0:
                self._close_step(missed=step - self._step - 1)
            self._step = step
        # The hot pixels first (a few hundred of a frame), then their onsets: the same pixels
        # as whole-frame masks, less work.
        hot = np.flatnonzero(celsius >= self.known_c)
        at = onset.reshape(-1)[hot]
        new = hot[(at > -math.inf) & (at >= t - self.cfg.new_s)]
        new_px = int(new.size)
        hottest = float(celsius.reshape(-1)[new].max()) if new_px else math.nan
        self._hottest.append(hottest)
        self._areas.append(new_px)
        if self.cfg.core_growth and t >= self._core_next:  # once a second is enough
            self._cores.append(_core_px(celsius, new) if new_px else 0)
            self._core_next = t + 1.0
        in_zone = bool(new_px and zone is not None and zone.reshape(-1)[new].all())
        return SmoulderEvidence(t, new_px, hottest, self._heating, self._spreading,
                                self._found, in_zone, self._steady_n)

    def confirm(self) -> None:
        """A spot seen for fewer than ``steps`` alarmed (the model firmly corroborated it):
        hold it as found, as the full watch's, while it stays in view."""
        self._found = True

    def _close_step(self, missed: int) -> None:
        values = np.asarray(self._hottest)
        seen = ~np.isnan(values)
        self._steps_t.append(float(np.median(values[seen])) if seen.mean() > 0.5 else math.nan)
        self._steps_n.append(float(np.median(self._areas)))
        self._steps_c.append(float(np.median(self._cores)) if self._cores else 0.0)
        if self._found and self._steps_n[-1] <= 0:  # a real step without the spot (not a gap)
            log.info("smoulder watch: the spot found smouldering has left the view")
            self._found = False
        self._hottest.clear()
        self._areas.clear()
        self._cores.clear()
        for _ in range(missed):  # a camera gap: steps without frames break the run
            self._steps_t.append(math.nan)
            self._steps_n.append(0.0)
            self._steps_c.append(0.0)
        keep = max(self.cfg.steps, self.cfg.slow_steps) + 1
        del self._steps_t[:-keep], self._steps_n[:-keep], self._steps_c[:-keep]
        self._judge()

    def _judge(self) -> None:
        cfg = self.cfg
        self._heating, spreading = self._steady(cfg.steps)
        self._spreading = spreading or self._spreading_slowly()
        self._steady_n = cfg.steps if self._heating or self._spreading else next(
            (n for n in range(cfg.steps - 1, 1, -1) if any(self._steady(n))), 0)
        if self._heating or self._spreading:
            self._found = True
            log.info("smoulder watch: new spot %s (hottest %.0f °C, %d px)",
                     "heating" if self._heating else "spreading", self._steps_t[-1],
                     self._steps_n[-1])

    def _steady(self, n: int) -> tuple[bool, bool]:
        """(heating, spreading) in each of the last ``n`` completed steps."""
        if len(self._steps_t) < n + 1:
            return False, False
        heating = False
        temps = np.asarray(self._steps_t[-(n + 1):])
        if not np.isnan(temps).any():
            rise = np.diff(temps)
            heating = bool(rise.min() >= self.cfg.min_heat_k
                           and rise.min() >= self.cfg.steadiness * rise.max())
        areas = np.asarray(self._steps_n[-(n + 1):])
        need = np.maximum(self._px(self.cfg.min_spread_px),
                          self.cfg.min_spread_frac * areas[:-1])
        return heating, bool(areas[0] > 0 and (np.diff(areas) >= need).all()
                             and self._core_grew(n))

    def _spreading_slowly(self) -> bool:
        """The slow-spreading rule over the last ``slow_steps`` steps (module docstring)."""
        n = self.cfg.slow_steps
        if n == 0 or len(self._steps_n) < n + 1:
            return False
        areas = np.asarray(self._steps_n[-(n + 1):])
        largest = np.maximum.accumulate(areas)
        grow = np.diff(largest)  # a recovery from a dip is not growth
        return bool(areas[0] > 0 and (areas >= self.cfg.slow_keep * largest).all()
                    and np.count_nonzero(grow) * 2 >= n and grow[-3:].sum() > 0
                    and areas[-1] - areas[0] >= max(self._px(self.cfg.slow_min_px), areas[0])
                    and self._core_grew(n, recent=3))

    def _px(self, px: int) -> int:
        """``px`` pixels of a Lepton 3.x frame on this camera's frames (:func:`frame_px`)."""
        return frame_px(px, self._frame_size)

    def _core_grew(self, n: int, recent: int = 0) -> bool:
        """Whether the core grew over the last ``n`` completed steps, and (``recent``) within
        the last ``recent`` of them (module docstring)."""
        if self.cfg.core_growth == 0:
            return True
        cores = self._steps_c[-(n + 1):]
        grew = cores[-1] - cores[0] >= max(self._px(self.cfg.min_spread_px),
                                           self.cfg.core_growth * cores[0])
        k = min(recent, n)
        return grew and (k == 0 or cores[-1] > cores[-(k + 1)])


def _core_px(celsius: npt.NDArray[np.floating], new: npt.NDArray[np.intp]) -> int:
    """How many of the new hot pixels at flat ``new`` (sorted, not empty) are at least halfway
    from the scene to the hottest pixel of their own 8-connected region. The scene is the
    median of every eighth row and column (300 of a Lepton 3's 19,200 pixels)."""
    values = celsius.reshape(-1)[new].astype(np.float64)
    ids = region_ids(new, celsius.shape[1])
    top = np.full(new.size, -math.inf)
    np.maximum.at(top, ids, values)
    scene = float(np.median(celsius[::8, ::8]))
    return int(np.count_nonzero(values >= scene + 0.5 * (top[ids] - scene)))
