"""The scene memory: per pixel, when its current hot episode began.

The evidence sources that ask "is this hot thing *new*?" (the flame watch and the known-scene
rule; ``edge.detect.evidence``) read this one memory, which the pipeline updates once per
camera frame before asking them. The smoulder watch keeps one of its own at its own, lower
line (``[smoulder] known_c``; ``edge.detect.smoulder``), unless told to read this one:

- a pixel is *hot* at ``known_c`` (``[flame] known_c``, 100 °C);
- its hot episode *begins* when it was not hot within ``memory_s`` (30 min): a heater cycling
  on its thermostat continues its old episode;
- an episode that began within ``warmup_s`` of the first frame is the scene from before we
  looked (onset −∞): a fireplace burning since boot is never news.

It reads no clock, and time never runs backwards in it (an earlier frame time is taken as the
last one), so a replay gives the same memory as living through it.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import numpy.typing as npt

from edge.config.flame import FlameConfig

log = logging.getLogger(__name__)

__all__ = ["SceneMemory"]


class SceneMemory:
    """Per-pixel onsets of hot episodes, shared by every evidence source."""

    def __init__(self, config: FlameConfig | None = None) -> None:
        cfg = config or FlameConfig()
        self.known_c = cfg.known_c
        self.memory_s = cfg.memory_s
        self.warmup_s = cfg.warmup_s
        #: Counts resets: a source keeping its own history starts again when it changes.
        self.generation = 0
        self.t = -math.inf  # the time of the latest frame (never decreasing)
        self.hot: npt.NDArray[np.bool_] | None = None  # the latest frame's hot pixels
        self._start: float | None = None
        self._onset: npt.NDArray[np.float64] | None = None  # when each hot episode began
        self._last_hot: npt.NDArray[np.float64] | None = None  # when last seen hot

    def reset(self) -> None:
        """Forget the scene (a new camera, a new resolution)."""
        self.generation += 1
        self.t = -math.inf
        self.hot = None
        self._start = None
        self._onset = None
        self._last_hot = None

    @property
    def onset(self) -> npt.NDArray[np.float64] | None:
        """Per pixel, when its current hot episode began (s): −∞ for what was hot in the
        warm-up (the scene), +∞ for never hot; None before the first frame. Read-only."""
        if self._onset is None:
            return None
        view = self._onset.view()
        view.flags.writeable = False
        return view

    def update(self, t: float, celsius: npt.NDArray[np.floating]) -> float:
        """Take one frame (°C, any 2-D shape) taken at ``t`` seconds; return the time it is
        remembered at (``t``, or the latest time if ``t`` is earlier).

        :raises ValueError: ``t`` not finite, or a frame that is not 2-D.
        """
        if not math.isfinite(t):
            raise ValueError(f"scene memory (flame watch): frame time must be finite, got {t!r}")
        if celsius.ndim != 2:
            raise ValueError(f"scene memory (flame watch): frame shape {celsius.shape}; "
                             "allowed: 2-D")
        if self._onset is None or self._onset.shape != celsius.shape:
            if self._onset is not None:
                log.info("scene memory: frame shape changed to %s; forgetting the scene",
                         celsius.shape)
            self.reset()
            self._start = t
            self._onset = np.full(celsius.shape, math.inf)
            self._last_hot = np.full(celsius.shape, -math.inf)
        assert self._onset is not None and self._last_hot is not None and self._start is not None
        t = max(t, self.t)
        self.t = t
        hot = celsius >= self.known_c
        # Read and written at the hot pixels only (a few hundred of 19,200): the same values
        # as whole-frame masks, less work.
        idx = np.flatnonzero(hot)
        onset = self._onset.reshape(-1)  # views: the writes land in the memory
        last_hot = self._last_hot.reshape(-1)
        begins = idx[t - last_hot[idx] > self.memory_s]
        # Hot during the warm-up: part of the scene from before we looked (onset −∞).
        onset[begins] = -math.inf if t - self._start < self.warmup_s else t
        last_hot[idx] = t
        self.hot = hot
        return t

    def recent(self, new_s: float) -> npt.NDArray[np.bool_]:
        """Pixels whose hot episode began within ``new_s`` of the latest frame (after the
        warm-up). Empty before the first frame."""
        if self._onset is None:
            return np.zeros((0, 0), dtype=bool)
        out: npt.NDArray[np.bool_] = self._onset >= self.t - new_s
        return out

    def scene_only(self, new_s: float) -> bool:
        """Something hot is in view, and every hot pixel is the known scene (none new within
        ``new_s``)."""
        if self.hot is None:
            return False
        return bool(self.hot.any()) and not bool((self.hot & self.recent(new_s)).any())
