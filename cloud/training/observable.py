"""When a simulated fire first shows to a sensor: the ``observable`` training labels."""

from __future__ import annotations

import numpy as np

from edge.recording import Recording
from edge.types import ZERO_C_K

#: A fire is observable once a pixel that was not this hot before the onset is (the features'
#: hot threshold, FeatureParams.hot_threshold_c) ...
OBSERVABLE_HOT_C = 60.0
#: ... or the CO2 reading exceeds its pre-onset baseline (median of the last 60 s) by this.
OBSERVABLE_CO2_PPM = 100.0

def observable_time(rec: Recording, hot_c: float = OBSERVABLE_HOT_C,
                    co2_excess_ppm: float = OBSERVABLE_CO2_PPM) -> float | None:
    """When a fire first shows to either sensor, from the recording itself: the first frame
    at/after ``fire_start_s`` with a *new* pixel ≥ ``hot_c`` (not that hot in the last frame
    before the onset), or the first SCD41 reading ``co2_excess_ppm`` above the median of the
    readings in the 60 s before the onset — whichever comes first. None when the recording
    has no fire or the fire never shows."""
    t0 = rec.fire_start_s
    if t0 is None:
        return None
    found: list[float] = []
    if rec.frame_t.size:
        limit = (hot_c + ZERO_C_K) / rec.frame_resolution_k
        first = int(np.searchsorted(rec.frame_t, t0))
        base = (rec.frames[first - 1] >= limit if first > 0
                else np.zeros(rec.frames.shape[1:], bool))
        new_hot = ((rec.frames[first:] >= limit) & ~base).any(axis=(1, 2))
        if new_hot.any():
            found.append(float(rec.frame_t[first + int(np.argmax(new_hot))]))
    if rec.gas_t.size:
        before = (rec.gas_t < t0) & (rec.gas_t >= t0 - 60.0)
        after = rec.gas_t >= t0
        if before.any() and after.any():
            baseline = float(np.median(rec.co2_ppm[before]))
            high = rec.co2_ppm[after] >= baseline + co2_excess_ppm
            if high.any():
                found.append(float(rec.gas_t[after][int(np.argmax(high))]))
    return min(found) if found else None
