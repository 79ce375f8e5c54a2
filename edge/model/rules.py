"""The rule-based fallback used when the device has NO usable model (always ``degraded``).

Three rules from ../shared/reference/fire-science.md, combined as a noisy-OR
``p = 1 − (1 − thermal)·(1 − gas)`` so either channel alone can alarm:

* **Hot spot** ``t_max`` (°C): ramps from 0 at 120 °C to 1 at 300 °C. 120 °C is above the
  everyday warm things (oven doors, toasters, kettles 40–120 °C, radiators 35–80 °C, people,
  sun patches ≤ 55 °C); 300 °C is where "≥ 4 px at ≥ 300 °C is unambiguous" for flaming fires
  and inside the smoulder-char range (150–500 °C).
* **Hot blob** ``t_hot_largest_blob_pct`` (% of the frame hotter than 60 °C): the hot-spot term
  is scaled by ``0.6 + 0.4·ramp(blob, 0, 0.05 %)``. A single hot pixel (a sub-pixel flame,
  ≈ 0.005 % of a 160×120 frame) still counts for 60 %; a region of ≈ 10 px or more (a developed
  flame core is ≥ 2×2 px and grows) for all of it.
* **CO2 rate of rise** ``gas_vel`` (ppm/min): ramps from 0 at 150 ppm/min to 1 at 600 ppm/min.
  Occupancy adds 4–40 ppm/min and a gas hob 40–150 ppm/min (the main CO2 confuser); flaming
  fires above ~10 kW add hundreds to thousands of ppm/min.

With the usual alarm threshold 0.5 this alarms on a single pixel at ≥ ~270 °C, a hot region at
≥ 210 °C, or CO2 rising ≥ 375 ppm/min. Known gaps (why it is only a fallback): a coil hob on high
(300–700 °C) alarms, and smoulders out of view (F4, 0.5–15 ppm/min) are not caught. A missing
sensor's term is 0. It is deliberately sensitive: with no model, a missed fire is the worse error.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from edge.features import FEATURE_NAMES
from edge.model.runtime import Score

__all__ = ["RULES_THRESHOLD", "RULES_VERSION", "rule_score"]

RULES_VERSION = "rules-v1"
RULES_THRESHOLD = 0.5

T_MAX_LOW_C = 120.0
T_MAX_HIGH_C = 300.0
BLOB_FULL_PCT = 0.05
BLOB_FLOOR = 0.6
GAS_VEL_LOW = 150.0
GAS_VEL_HIGH = 600.0

_I_TMAX = FEATURE_NAMES.index("t_max")
_I_BLOB = FEATURE_NAMES.index("t_hot_largest_blob_pct")
_I_GASVEL = FEATURE_NAMES.index("gas_vel")


def _ramp(value: float, low: float, high: float) -> float:
    if math.isnan(value):
        return 0.0
    return min(max((value - low) / (high - low), 0.0), 1.0)


def rule_score(x: npt.ArrayLike) -> Score:
    """Score one feature vector by the rules above (its first 18 numbers, the ``seed-v1``
    features every set starts with); always ``degraded``.

    :raises ValueError: when ``x`` is not a vector of at least 18 numbers.
    """
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.shape[0] < len(FEATURE_NAMES):
        raise ValueError(f"x: shape {v.shape}; allowed: (≥ {len(FEATURE_NAMES)},)")
    hot = _ramp(float(v[_I_TMAX]), T_MAX_LOW_C, T_MAX_HIGH_C)
    blob = _ramp(float(v[_I_BLOB]), 0.0, BLOB_FULL_PCT)
    thermal = hot * (BLOB_FLOOR + (1.0 - BLOB_FLOOR) * blob)
    gas = _ramp(float(v[_I_GASVEL]), GAS_VEL_LOW, GAS_VEL_HIGH)
    p = 1.0 - (1.0 - thermal) * (1.0 - gas)
    contributions = [
        ("t_max", round(hot * BLOB_FLOOR, 4)),
        ("t_hot_largest_blob_pct", round(hot * (1.0 - BLOB_FLOOR) * blob, 4)),
        ("gas_vel", round(gas, 4)),
    ]
    contributions.sort(key=lambda kv: -abs(kv[1]))
    return Score(
        probability=p,
        members={"rules": p},
        top_features=contributions,
        degraded=True,
        model_version=RULES_VERSION,
        threshold=RULES_THRESHOLD,
    )
