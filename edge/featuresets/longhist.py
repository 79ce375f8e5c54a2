"""The long thermal history of ``fd-v3`` (docs/features.md): minutes of new hot area.

Slow fires (a smouldering seat, an overheating contact) keep heating and creeping for
minutes; an appliance comes up to temperature and holds. fd-v2's thermal look-backs reach
60 s; these reach 600 s, on a series that costs little and does not depend on the frame rate.

- *Long history*: one sample per whole second of the long history's clock (seconds since its
  first frame): the first real frame at or after each whole second, so a 1 Hz and an 8.7 Hz
  recording of the same scene give the same series. Each sample holds the frame's time, its
  new hot area (%) and ``s`` = the hottest new hot pixel's °C (the hot threshold when there is
  none). Kept ``LONG_KEEP_S`` (1800 s). It survives camera gaps (the samples of a gap are
  simply missing, so a 300 s difference across a 20 s gap is still a difference over ~300 s,
  not a jump) and starts again when the scene memory does (a frame-size change).
- *The sample W s earlier*: the newest sample at least W s older than the current frame
  (decided to ``TIME_EPS_S``); for the growth and slope, where none exists yet, the oldest
  sample.

Features are computed at every real frame, from that frame's values ("now") and the samples.

fd-v4's *thermal acceleration* reads the same samples: for a window of W s (20 and 60), the
means ``m0``, ``m1``, ``m2`` of a series over the samples in ``(t − W, t]``, ``(t − 2W, t − W]``
and ``(t − 3W, t − 2W]``, and ``(m0 − 2·m1 + m2) / W²`` in units per minute per minute: how
much faster the series rose over the last window than over the one before. A thing heating
towards a steady temperature (a hob, a pan, a heater: Newtonian heating) slows down, which
reads negative; a fire, whose heat feeds its own growth, holds its pace or speeds up. Means
over a window, not single samples, so a flame's flicker averages out. 0 until a sample at
least 3W old exists, or while a window holds no sample (a camera gap).

fd-v6's *scale-free growth* reads them too. A region's size in pixels depends on how far the
camera is, how much of it is hidden and how another renderer paints it; how many times larger
it got does not. The *peak* of a window ``(t − L − 5, t − L]`` is the largest new hot area
among its samples (for ``L`` = 0, and the current frame's), so a flame's flicker does not read
as shrinking. With ``F`` = ``RATIO_FLOOR_PCT`` (0.02 % of the frame, about 4 pixels of a
160 × 120 frame), the ratio over ``L`` = 10, 30 and 120 s is ``log2((peak_0 + F) /
(peak_L + F))``, 0 while the earlier window holds no sample; and the *spread steps* count the
5-s windows, going back from now (at most 12: a minute), whose peak is larger than the
window's before it. A burner or a pan has its size seconds after it lit (ratio near 0, few
steps); a fire doubles it again and again (ratio 1–3 over 30 s, many steps).
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np
import numpy.typing as npt

from edge.featuresets.registry import N_THERMAL_ACCEL, N_THERMAL_LONG, N_THERMAL_RATIO

#: Seconds of long history kept.
LONG_KEEP_S = 1800.0
SLOPE_S = 300.0
GROWTH_SHORT_S = 300.0
GROWTH_LONG_S = 600.0
SHARE_STEP_S = 10.0
SHARE_STEPS = 12
AGE_CAP_S = 1800.0
#: fd-v4's acceleration windows, seconds (``THERMAL_ACCEL_NAMES``: t_max's, then the area's).
ACCEL_WINDOWS_S = (20.0, 60.0)
#: fd-v6's look-backs (s), the window each peak is taken over (s), the floor added to both
#: peaks (% of the frame) and the most 5-s windows the spread steps count back.
RATIO_LAGS_S = (10.0, 30.0, 120.0)
PEAK_WINDOW_S = 5.0
RATIO_FLOOR_PCT = 0.02
SPREAD_MAX_STEPS = 12
TIME_EPS_S = 1e-6
_TRIM_CHUNK = 64  # list deletion is O(n): trim in chunks

F64 = npt.NDArray[np.float64]


class LongHistory:
    """One sample a second of the new hot area and its hottest pixel, and fd-v3's features."""

    def __init__(self, hot_threshold_c: float, accel: bool = False) -> None:
        """:param accel: also compute fd-v4's thermal acceleration and append it."""
        self.hot_threshold_c = hot_threshold_c
        self.accel = accel
        self.reset()

    def reset(self) -> None:
        """Forget every sample (the scene memory started again)."""
        self._origin: float | None = None
        self._slot = -1  # the whole second of the newest sample
        self._t: list[float] = []
        self._new: list[float] = []  # new hot area, %
        self._s: list[float] = []  # hottest new hot pixel, °C (the threshold when none)
        # Running sums before each sample (one more entry than samples), for window means.
        self._sum_new: list[float] = [0.0]
        self._sum_s: list[float] = [0.0]
        self._last_zero_t = -math.inf  # the newest sample whose new hot area was 0

    @property
    def samples(self) -> list[tuple[float, float, float]]:
        """The kept samples ``(t, new hot area %, s °C)``, oldest first (for tests and plots)."""
        return list(zip(self._t, self._new, self._s, strict=True))

    def update(self, t: float, new_pct: float, new_t_max_c: float | None) -> F64:
        """fd-v3's long thermal features at real frame ``t`` (times never decrease).

        :param new_pct: this frame's new hot area, % of the frame.
        :param new_t_max_c: its hottest new hot pixel, °C; ``None`` with no new hot pixel.
        :returns: (6,) float64, or (10,) with fd-v4's acceleration after them.
        """
        s_now = self.hot_threshold_c if new_t_max_c is None else new_t_max_c
        if self._origin is None:
            self._origin = t
        slot = math.floor(t - self._origin + TIME_EPS_S)
        if slot > self._slot:
            self._push(slot, t, new_pct, s_now)
        out = np.zeros(N_THERMAL_LONG, dtype=np.float64)
        if new_t_max_c is not None:
            out[0] = new_t_max_c
        i = self._then(t, SLOPE_S)
        if len(self._t) > 1 and t - self._t[i] > 0:  # 0 with one sample
            out[1] = (s_now - self._s[i]) / (t - self._t[i])
        out[2] = new_pct - self._new[self._then(t, GROWTH_SHORT_S)]
        out[3] = new_pct - self._new[self._then(t, GROWTH_LONG_S)]
        out[4] = self._grown_share(t, new_pct)
        if new_pct > 0 and self._last_zero_t > -math.inf:
            out[5] = min(t - self._last_zero_t, AGE_CAP_S)
        if self.accel:
            return np.concatenate([out, self._accelerations(t)])
        return out

    # -- internals --------------------------------------------------------------------

    def _push(self, slot: int, t: float, new_pct: float, s: float) -> None:
        self._slot = slot
        self._t.append(t)
        self._new.append(new_pct)
        self._s.append(s)
        self._sum_new.append(self._sum_new[-1] + new_pct)
        self._sum_s.append(self._sum_s[-1] + s)
        if new_pct == 0.0:
            self._last_zero_t = t
        # Keep the newest sample at least LONG_KEEP_S old and everything after it.
        cut = bisect_right(self._t, t - LONG_KEEP_S) - 1
        if cut > _TRIM_CHUNK:
            del self._t[:cut], self._new[:cut], self._s[:cut]
            del self._sum_new[:cut], self._sum_s[:cut]

    def _earlier(self, t: float, age_s: float) -> int:
        """Index of the newest sample at least ``age_s`` older than ``t``; -1: none."""
        return bisect_right(self._t, t - age_s + TIME_EPS_S) - 1

    def _then(self, t: float, age_s: float) -> int:
        """The sample ``age_s`` earlier, or the oldest one while none is that old."""
        return max(self._earlier(t, age_s), 0)

    def _accelerations(self, t: float) -> F64:
        """fd-v4's thermal acceleration at ``t``: t_max's for each window, then the area's."""
        out = np.zeros(N_THERMAL_ACCEL, dtype=np.float64)
        n = len(ACCEL_WINDOWS_S)
        for j, w in enumerate(ACCEL_WINDOWS_S):
            # Sample index bounds of the three windows, newest first: (t − (k+1)W, t − kW].
            ends = [bisect_right(self._t, t - k * w + TIME_EPS_S) for k in range(4)]
            if ends[3] < 1 or any(ends[k] <= ends[k + 1] for k in range(3)):
                continue  # no sample 3W old yet, or a window without a sample
            for i, sums in enumerate((self._sum_s, self._sum_new)):
                m0, m1, m2 = ((sums[ends[k]] - sums[ends[k + 1]]) / (ends[k] - ends[k + 1])
                              for k in range(3))
                out[i * n + j] = (m0 - 2.0 * m1 + m2) * 3600.0 / (w * w)
        return out

    def ratios(self, t: float, new_pct: float) -> F64:
        """fd-v6's scale-free growth at real frame ``t``, called after :meth:`update` at ``t``
        with the same ``new_pct``: the ratios over ``RATIO_LAGS_S``, then the spread steps.

        :returns: (4,) float64.
        """
        out = np.zeros(N_THERMAL_RATIO, dtype=np.float64)
        now = max(self._peak(t, 0.0, 0.0), new_pct)  # the current frame counts, sample or not
        for j, lag in enumerate(RATIO_LAGS_S):
            then = self._peak(t, lag, -1.0)
            if then >= 0.0:
                out[j] = math.log2((now + RATIO_FLOOR_PCT) / (then + RATIO_FLOOR_PCT))
        later = now
        for k in range(1, SPREAD_MAX_STEPS + 1):
            earlier = self._peak(t, k * PEAK_WINDOW_S, -1.0)
            if earlier < 0.0 or not later > earlier:
                break
            out[-1] = k
            later = earlier
        return out

    def _peak(self, t: float, lag_s: float, empty: float) -> float:
        """The largest new hot area among the samples with ``t − lag_s − PEAK_WINDOW_S <
        t_i ≤ t − lag_s``; ``empty`` when there is none."""
        hi = bisect_right(self._t, t - lag_s + TIME_EPS_S)
        lo = bisect_right(self._t, t - lag_s - PEAK_WINDOW_S + TIME_EPS_S)
        return max(self._new[lo:hi]) if hi > lo else empty

    def _grown_share(self, t: float, new_pct: float) -> float:
        """Share of the last 12 10-s steps in which the new hot area rose strictly; a step
        whose start has no sample counts as not risen."""
        rose = 0
        later = new_pct
        for k in range(1, SHARE_STEPS + 1):
            i = self._earlier(t, k * SHARE_STEP_S)
            if i < 0:
                break  # no sample for this step's start, nor for any older one
            if later > self._new[i]:
                rose += 1
            later = self._new[i]
        return rose / SHARE_STEPS
