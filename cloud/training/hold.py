"""The sustained alarm's bar, chosen on validation runs (issue 14).

The alarm threshold is set so that no validation no-fire run alarms through the short
pre-alarm (``cloud.training.threshold``); a smoulder the model rates likely but under that
threshold for minutes on end is then left to the smoulder watch. The device's ``sustained``
alarm (``edge.detect.alarm``) raises one when the score has been held at or above a lower bar
for ``HOLD_S`` seconds. The bar is chosen here the way the threshold is: the highest score any
validation no-fire stream (a nuisance run whole, a fire run up to ignition) holds for that
long, plus a margin, and never under ``FLOOR`` ("more likely fire than not"). A bar that
would reach the alarm threshold is not written: the threshold's own path alarms first.

A stream *holds* score ``x`` for ``s`` seconds when some stretch of its samples spanning at
least ``s`` seconds scores ``x`` or more throughout: exactly when the device's hold timer,
started at the stretch's first sample, reaches ``s``. A NaN sample (no evidence) breaks a
stretch, as it restarts the device's timer.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from cloud.training.threshold import Stream

if TYPE_CHECKING:
    from cloud.training.data import Dataset

log = logging.getLogger(__name__)

#: How long the score must be held (s): a smoulder develops over tens of minutes, and a
#: nuisance's first minutes (an appliance coming up to temperature) are over in five.
HOLD_S = 300.0
#: Never under this: a score held under it says "more likely not fire", however long.
FLOOR = 0.5


def held_score(t: npt.ArrayLike, p: npt.ArrayLike, hold_s: float) -> float:
    """The highest score the stream ``(t, p)`` holds for ``hold_s`` seconds (module
    docstring); 0 when it spans less."""
    tt = np.asarray(t, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    pp = np.where(np.isfinite(pp), pp, -math.inf)
    best = 0.0
    window: deque[int] = deque()  # indices of the running minimum, scores increasing
    lo = 0  # the stretch's first sample: the latest one at least hold_s before sample j
    for j in range(tt.size):
        while window and pp[window[-1]] >= pp[j]:
            window.pop()
        window.append(j)
        if tt[j] - tt[0] < hold_s:
            continue
        while lo + 1 <= j and tt[lo + 1] <= tt[j] - hold_s:
            lo += 1
        while window[0] < lo:
            window.popleft()
        best = max(best, float(pp[window[0]]))
    return best


@dataclass(frozen=True)
class HoldBar:
    """The chosen bar (None: not written, see the module docstring) and what chose it."""

    bar: float | None
    seconds: float
    highest_nuisance: float
    streams: int
    fires: int
    fires_held: int

    def as_dict(self) -> dict[str, Any]:
        return {"bar": self.bar, "seconds": self.seconds,
                "highest_nuisance": self.highest_nuisance, "streams": self.streams,
                "fires": self.fires, "fires_held": self.fires_held}


def fire_streams(ds: Dataset, rows: npt.NDArray[np.intp], p: npt.NDArray[np.float64],
                 groups: Sequence[int]) -> list[Stream]:
    """The score streams of the fire runs among ``groups`` from their ignition on."""
    row_group, t = ds.group[rows], ds.t[rows]
    out = []
    for g in groups:
        info = ds.groups[g]
        if info.fire_start_s is None:
            continue
        sel = (row_group == g) & (t >= info.fire_start_s)
        if sel.any():
            out.append(Stream(t[sel], p[sel], name=info.name))
    return out


def choose_hold_bar(no_fire: Sequence[Stream], fires: Sequence[Stream], threshold: float,
                    margin: float = 0.05, hold_s: float = HOLD_S) -> HoldBar:
    """The sustained alarm's bar on these validation streams (module docstring).

    :raises ValueError: for no no-fire streams, a negative margin or a hold time ≤ 0.
    """
    if not no_fire:
        raise ValueError("no no-fire validation streams to choose the sustained alarm's bar on")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"hold margin {margin}; allowed: 0 ≤ margin < 1")
    if not (hold_s > 0.0 and math.isfinite(hold_s)):
        raise ValueError(f"hold time {hold_s} s; allowed: a positive number of seconds")
    top = max(held_score(s.t, s.p, hold_s) for s in no_fire)
    want = max(top + margin, FLOOR)
    bar = None if want >= threshold else want
    if bar is None:
        log.info("sustained alarm: a validation no-fire run holds %.3f for %g s; a bar of "
                 "%.3f would not be under the threshold %.3f: none", top, hold_s, want,
                 threshold)
    held = 0 if bar is None else sum(held_score(s.t, s.p, hold_s) >= bar for s in fires)
    log.info("sustained alarm: bar %s for %g s (no-fire runs hold up to %.3f; %d of %d fire "
             "runs reach it)", "none" if bar is None else f"{bar:.3f}", hold_s, top, held,
             len(fires))
    return HoldBar(bar, hold_s, top, len(no_fire), len(fires), held)
