"""Thermal history features of ``fd-v2`` (docs/features.md), one real frame at a time.

The streaming extractor and the batch path both feed every real (not frozen) frame, in time
order, to one :class:`ThermalHistory` and take its vector, so they agree to the bit.

- *Scene memory* (as ``edge.detect.scene.SceneMemory``, at the feature set's hot threshold):
  a pixel is *hot* above ``hot_threshold_c``; its hot episode *begins* when it was not hot
  within ``scene_memory_s``; an episode beginning within ``scene_warmup_s`` of the first
  frame is the scene. *New hot* pixels are hot pixels whose episode began after the warm-up.
  The memory survives camera gaps; a change of frame size starts it again.
- *Run*: the frames since the last camera gap (two real frames more than
  ``REFERENCE_MAX_AGE_S`` apart) or size change. The windows below look back within the run
  only, so after a gap growth, rates, steps and flicker read 0 instead of jumping.
- *The frame W s earlier*: the newest frame of the run at least W s older than the current one.
  "At least W s older" is decided to ``TIME_EPS_S`` (1 µs), so that float rounding of the
  timestamps (``1000 + k/8.7``) cannot move a frame exactly W s older in or out of a window.

With ``long=True`` (``fd-v3``) the same update also feeds a
:class:`edge.featuresets.longhist.LongHistory` with the frame's new hot area and hottest new
hot pixel, and appends its 6 features; with ``accel=True`` too (``fd-v4``), the long
history's 4 acceleration features after them; with ``sat=True`` too (``fd-v5``), the frame's
saturation after those; with ``ratio=True`` too (``fd-v6``), the long history's 4 scale-free
growth features after those.

*Saturation* (``fd-v5``): a camera sends a pixel that is hotter than its gain's range at its
ceiling (a Lepton near 140–180 °C in high gain, 400–450 °C in low), so a flame in high gain
reads as a plateau at one value, whatever its real temperature. The frame is *saturated* when
its highest value is hot (at or above ``hot_threshold_c``) and at least ``SAT_MIN_PX`` pixels
share it exactly; then ``sat_area_pct`` is the share of the frame at that value, %, and
``new_hot_sat_share`` the share of the new hot pixels at it (0–1; 0 with no new hot pixel).
Both read 0 when the frame is not saturated. No window: they are the frame's own.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np
import numpy.typing as npt

from edge.featuresets.longhist import LongHistory
from edge.featuresets.registry import N_THERMAL_HISTORY, N_THERMAL_SAT
from edge.featuresets.thermal import hot_raw_threshold
from edge.types import ZERO_C_K

#: The oldest a reference frame (change, flow, heating rate) may be, seconds (features.md).
REFERENCE_MAX_AGE_S = 5.0
GROWTH_SHORT_S = 10.0
GROWTH_LONG_S = 60.0
RISE_STEP_S = 2.0
RISE_MAX_STEPS = 15
T_MAX_RATE_S = 10.0
FLICKER_WINDOW_S = 3.0
TIME_EPS_S = 1e-6
#: Pixels that must share a hot frame's highest value exactly for it to count as saturated.
SAT_MIN_PX = 2
#: History kept: the longest look-back, plus one frame before it.
_KEEP_S = max(GROWTH_LONG_S, RISE_STEP_S * RISE_MAX_STEPS, T_MAX_RATE_S, FLICKER_WINDOW_S)

RawFrame = npt.NDArray[np.uint16]
F32Frame = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


class ThermalHistory:
    """Scene memory and the per-frame history behind the thermal history features."""

    def __init__(self, hot_threshold_c: float, memory_s: float, warmup_s: float,
                 long: bool = False, accel: bool = False, sat: bool = False,
                 ratio: bool = False) -> None:
        """:param long: also keep fd-v3's long history and append its features.
        :param accel: (with ``long``) also append fd-v4's thermal acceleration.
        :param sat: (with ``long`` and ``accel``) also append fd-v5's saturation.
        :param ratio: (with all three) also append fd-v6's scale-free growth."""
        if sat and not (long and accel):
            raise ValueError("fd-v5's saturation follows fd-v4's features: "
                             "sat needs long and accel")
        if ratio and not sat:
            raise ValueError("fd-v6's growth ratios follow fd-v5's features: ratio needs sat")
        self.hot_threshold_c = hot_threshold_c
        self.sat = sat
        self.ratio = ratio
        #: fd-v3's long history (read-only for callers), None unless ``long``.
        self.long = LongHistory(hot_threshold_c, accel) if long else None
        self.memory_s = memory_s
        self.warmup_s = warmup_s
        self._shape: tuple[int, ...] | None = None
        self._start = 0.0
        self._onset: F64 = np.empty((0, 0))
        self._last_hot: F64 = np.empty((0, 0))
        self._t: list[float] = []  # the run's frame times, oldest first
        self._new: list[float] = []  # new hot area, %
        self._tmax: list[float] = []  # t_max, °C
        self._hot: list[float] = []  # hot area, %

    def update(
        self,
        t: float,
        raw: RawFrame,
        f: F32Frame,
        ref: F32Frame | None,
        dt: float,
        resolution_k: float,
        t_max_c: float,
        hot_area_pct: float,
    ) -> F64:
        """The thermal history features at real frame ``t`` (times never decrease).

        :param ref: the reference frame (float32, in ``resolution_k`` units) or ``None``.
        :param dt: seconds from the reference to the frame.
        :param t_max_c: / :param hot_area_pct: this frame's seed features 3 and 5.
        :returns: (8,) float64, or (14,) with the long history's 6 after them, or (18,) with
            fd-v4's 4 after those, or (20,) with fd-v5's 2 after those, or (24,) with
            fd-v6's 4 after those.
        """
        if raw.shape != self._shape:
            self._shape = raw.shape
            self._start = t
            self._onset = np.full(raw.shape, math.inf)
            self._last_hot = np.full(raw.shape, -math.inf)
            self._clear_run()
            if self.long is not None:
                self.long.reset()
        elif self._t and t - self._t[-1] > REFERENCE_MAX_AGE_S:
            self._clear_run()
        out = np.zeros(N_THERMAL_HISTORY, dtype=np.float64)
        v_hot = hot_raw_threshold(resolution_k, self.hot_threshold_c)
        new_pct = 0.0
        new_t_max_c: float | None = None
        sat = np.zeros(N_THERMAL_SAT, dtype=np.float64)
        if v_hot <= 65535:
            # The scene memory is read and written at the hot pixels only (a few hundred of a
            # frame's 19,200): the same values as whole-frame masks, ~10× less work.
            hot = np.flatnonzero(raw.reshape(-1) >= v_hot)
            if hot.size:
                onset = self._onset.reshape(-1)  # views: the writes below land in the memory
                last_hot = self._last_hot.reshape(-1)
                begins = hot[t - last_hot[hot] > self.memory_s]
                if begins.size:
                    onset[begins] = -math.inf if t - self._start < self.warmup_s else t
                last_hot[hot] = t
                is_new = onset[hot] > -math.inf
                idx = hot[is_new]  # the new hot pixels, in frame order
                if self.sat:
                    # A hot frame's highest value is a hot pixel's: read at those only.
                    hot_raw = raw.reshape(-1)[hot]
                    at_top = hot_raw == hot_raw.max()
                    n_top = int(np.count_nonzero(at_top))
                    if n_top >= SAT_MIN_PX:
                        sat[0] = n_top * 100.0 / raw.size
                        if idx.size:
                            sat[1] = np.count_nonzero(at_top[is_new]) / idx.size
                if idx.size:
                    new_pct = idx.size * 100.0 / raw.size
                    values = f.reshape(-1)[idx]  # ``f`` is ``raw`` as float32: exact
                    k = int(np.argmax(values))
                    if self.long is not None:
                        new_t_max_c = float(values[k]) * resolution_k - ZERO_C_K
                    if ref is not None and dt > 0:
                        p = idx[k]
                        out[4] = float(values[k] - ref.reshape(-1)[p]) * resolution_k / dt
        self._push(t, new_pct, t_max_c, hot_area_pct)
        out[0] = new_pct
        out[1] = self._growth(self._new, t, GROWTH_SHORT_S)
        out[2] = self._growth(self._new, t, GROWTH_LONG_S)
        out[3] = self._rise_steps(t)
        i = self._earlier(t, T_MAX_RATE_S)
        if i >= 0:
            out[5] = (t_max_c - self._tmax[i]) / (t - self._t[i])
        out[6], out[7] = self._flickers(t)
        if self.long is not None:
            parts = [out, self.long.update(t, new_pct, new_t_max_c)]
            if self.sat:
                parts.append(sat)
            if self.ratio:
                parts.append(self.long.ratios(t, new_pct))
            return np.concatenate(parts)
        return out

    # -- internals --------------------------------------------------------------------

    def _clear_run(self) -> None:
        self._t, self._new, self._tmax, self._hot = [], [], [], []

    def _push(self, t: float, new_pct: float, t_max_c: float, hot_pct: float) -> None:
        self._t.append(t)
        self._new.append(new_pct)
        self._tmax.append(t_max_c)
        self._hot.append(hot_pct)
        # Keep the newest frame at least _KEEP_S old and everything after it.
        cut = bisect_right(self._t, t - _KEEP_S) - 1
        if cut > 64:  # trim in chunks: list deletion is O(n)
            del self._t[:cut], self._new[:cut], self._tmax[:cut], self._hot[:cut]

    def _earlier(self, t: float, age_s: float) -> int:
        """Index of the newest frame of the run at least ``age_s`` older than ``t``; -1: none."""
        return bisect_right(self._t, t - age_s + TIME_EPS_S) - 1

    def _growth(self, values: list[float], t: float, age_s: float) -> float:
        i = self._earlier(t, age_s)
        return values[-1] - values[i] if i >= 0 else 0.0

    def _rise_steps(self, t: float) -> int:
        steps = 0
        later = self._new[-1]
        for k in range(1, RISE_MAX_STEPS + 1):
            i = self._earlier(t, k * RISE_STEP_S)
            if i < 0 or not later > self._new[i]:
                break
            later = self._new[i]
            steps += 1
        return steps

    def _flickers(self, t: float) -> tuple[float, float]:
        """The flicker of the hot area and of ``t_max``: each one's RMS residual about its
        least-squares line over the last ``FLICKER_WINDOW_S`` (the frames less than 3 s
        older); 0 with fewer than 3 frames. The centred times are computed once for both."""
        i = self._earlier(t, FLICKER_WINDOW_S) + 1
        n = len(self._t) - i
        if n < 3:
            return 0.0, 0.0
        x = np.asarray(self._t[i:], dtype=np.float64)
        x -= x.mean()
        den = float(np.dot(x, x))
        return _residual(x, den, self._hot[i:], n), _residual(x, den, self._tmax[i:], n)


def _residual(x: F64, den: float, values: list[float], n: int) -> float:
    """RMS residual of ``values`` about their least-squares line against the centred times
    ``x`` (``den`` = x·x)."""
    y = np.asarray(values, dtype=np.float64)
    y -= y.mean()
    if den > 0:
        y -= (float(np.dot(x, y)) / den) * x
    return math.sqrt(float(np.dot(y, y)) / n)

