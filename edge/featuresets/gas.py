"""Gas features 13–18 of ``seed-v1`` (docs/features.md) from the SCD41 readings.

They depend only on the latest reading and the readings before it, so both the streaming
extractor and the batch path compute them once per reading, with this same function, and
reuse them for every frame until the next reading (or until the reading is 30 s old, when
they become NaN).

Windows, relative to the latest reading's time ``t_L``:
- *the reading 60 s earlier*: the newest reading with ``t ≤ t_L − 60``; where none exists
  yet, the oldest reading available;
- *the last 60 s* (for the slopes): the readings with ``t_L − 60 < t ≤ t_L``; a slope needs
  two of them at distinct times, else it is 0. Slopes are per minute.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

N_GAS = 6
F64 = npt.NDArray[np.float64]


def slope_per_min(t: F64, y: F64) -> float:
    """Least-squares slope of ``y`` over ``t`` (seconds), per minute; 0 with < 2 distinct times."""
    if t.size < 2:
        return 0.0
    tc = t - t.mean()
    den = float(np.sum(tc * tc))
    if den <= 0.0:
        return 0.0
    # Centring y on its last value (any constant works) makes constant readings exactly 0.
    return float(np.sum(tc * (y - y[-1]))) / den * 60.0


def gas_features(t: F64, co2: F64, temp: F64, earlier: int, start: int) -> F64:
    """Features 13–18 at the last reading of ``t``/``co2``/``temp`` (float64, oldest first).

    :param earlier: index of the reading 60 s earlier.
    :param start: index of the first reading of the slope window.
    """
    latest = t.size - 1
    wt = t[start:]
    out = np.empty(N_GAS, dtype=np.float64)
    out[0] = temp[latest]
    out[1] = temp[latest] - temp[earlier]
    out[2] = slope_per_min(wt, temp[start:])
    out[3] = co2[latest]
    out[4] = co2[latest] - co2[earlier]
    out[5] = slope_per_min(wt, co2[start:])
    return out


def window_indices(t: F64, window_s: float) -> tuple[int, int]:
    """(earlier, start) for the last reading of ``t``, as defined above."""
    start = int(np.searchsorted(t, t[-1] - window_s, side="right"))
    return max(start - 1, 0), start
