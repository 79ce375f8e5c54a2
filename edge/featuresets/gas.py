"""Gas features 13–18 of ``seed-v1``, the fd-v2 gas history and fd-v3's long gas history
(docs/features.md).

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

import math

import numpy as np
import numpy.typing as npt

from edge.featuresets.registry import N_GAS_HISTORY, N_GAS_LONG

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


# -- fd-v2 gas history (docs/features.md) --------------------------------------------------

#: Readings kept for the gas history: the longest window.
GAS_HISTORY_S = 300.0
#: Standard pressure for the water-vapour mole fraction (the SCD41 measures no pressure), hPa.
PRESSURE_HPA = 1013.25
#: A CO2 rise below this (ppm over 120 s) gives no ratio: noise would dominate it.
MIN_CO2_RISE_PPM = 20.0
RATIO_CLIP = 20.0


def h2o_ppm(temp_c: float, rh_pct: float) -> float:
    """Water vapour, ppm by mole, from temperature and relative humidity.

    Magnus formula (WMO 2008, over water): ``e_s = 6.112 · exp(17.62 T / (243.12 + T))`` hPa;
    ``e = RH/100 · e_s``; mole fraction ``e / p`` at ``p`` = 1013.25 hPa.
    """
    e_s = 6.112 * math.exp(17.62 * temp_c / (243.12 + temp_c))
    return rh_pct / 100.0 * e_s / PRESSURE_HPA * 1e6


def _slope_over(t: F64, y: F64, lo: float, hi: float) -> tuple[float, int]:
    """Slope (per minute) of the readings with ``lo < t ≤ hi``, and how many there are."""
    a = int(np.searchsorted(t, lo, side="right"))
    b = int(np.searchsorted(t, hi, side="right"))
    return slope_per_min(t[a:b], y[a:b]), b - a


def _earlier(t: F64, age_s: float) -> int:
    """The newest reading at least ``age_s`` older than the last; else the oldest (0)."""
    return max(int(np.searchsorted(t, t[-1] - age_s, side="right")) - 1, 0)


def _ratio(num: float, co2_rise: float, per: float) -> float:
    if not co2_rise >= MIN_CO2_RISE_PPM:
        return 0.0
    return min(max(num / co2_rise * per, -RATIO_CLIP), RATIO_CLIP)


def gas_history_features(t: F64, co2: F64, temp: F64, rh: F64) -> F64:
    """The fd-v2 gas history features at the last reading (float64 arrays, oldest first).

    Only readings within ``GAS_HISTORY_S`` (and the one before) matter: older ones may be
    passed or not, with the same result.
    """
    out = np.zeros(N_GAS_HISTORY, dtype=np.float64)
    t_l = float(t[-1])
    out[0] = _slope_over(t, co2, t_l - 30.0, t_l)[0]
    out[1] = _slope_over(t, co2, t_l - 120.0, t_l)[0]
    out[2] = _slope_over(t, co2, t_l - 300.0, t_l)[0]
    recent, n_recent = _slope_over(t, co2, t_l - 60.0, t_l)
    before, n_before = _slope_over(t, co2, t_l - 120.0, t_l - 60.0)
    if n_recent >= 2 and n_before >= 2:
        out[3] = recent - before  # ppm/min per min: the windows' centres are 1 min apart
    e60 = _earlier(t, 60.0)
    out[4] = rh[-1] - rh[e60]
    e120 = _earlier(t, 120.0)
    co2_rise = float(co2[-1] - co2[e120])
    water_rise = h2o_ppm(float(temp[-1]), float(rh[-1])) - h2o_ppm(float(temp[e120]),
                                                                     float(rh[e120]))
    out[5] = _ratio(water_rise, co2_rise, 1.0)
    out[6] = _ratio(float(temp[-1] - temp[e120]), co2_rise, 100.0)
    return out


# -- fd-v3 long gas history (docs/features.md) ---------------------------------------------

#: Readings kept for the long gas history: the longest window.
GAS_LONG_S = 900.0
CO2_SLOPE_LONG_S = 900.0
CO2_RISE_S = 600.0


def gas_long_features(t: F64, co2: F64) -> F64:
    """fd-v3's long gas features at the last reading (float64 arrays, oldest first):
    the CO2 slope over ``(t_L − 900, t_L]`` (ppm/min) and the latest CO2 minus the minimum over
    ``(t_L − 600, t_L]`` (ppm). Readings older than 900 s may be passed or not, alike."""
    out = np.zeros(N_GAS_LONG, dtype=np.float64)
    t_l = float(t[-1])
    out[0] = _slope_over(t, co2, t_l - CO2_SLOPE_LONG_S, t_l)[0]
    a = int(np.searchsorted(t, t_l - CO2_RISE_S, side="right"))
    out[1] = float(co2[-1] - np.min(co2[a:]))
    return out
