"""The feature sets this device computes, their names, and their parameters.

Every set starts with ``seed-v1``'s 18 features, in order; a richer set appends features
(docs/features.md). The streaming extractor computes the richest set it is asked for and a
model scores the first ``len(names)`` columns its manifest names, so a model of any known set
can be swapped in without losing the feature history.

Vector layout of ``fd-v2``: the 18 ``seed-v1`` features (thermal 1–12, gas 13–18), then the
thermal history features (``edge.featuresets.history``), then the gas history features
(``edge.featuresets.gas.gas_history_features``).

Vector layout of ``fd-v3``: the 33 ``fd-v2`` features, then the long thermal history
(``edge.featuresets.longhist``), then the long gas history
(``edge.featuresets.gas.gas_long_features``).

Vector layout of ``fd-v4``: the 41 ``fd-v3`` features, then the thermal acceleration
(``edge.featuresets.longhist``, from the same one-a-second samples).

Vector layout of ``fd-v5``: the 45 ``fd-v4`` features, then the saturation of the frame and of
its new hot region (``edge.featuresets.history``).

Vector layout of ``fd-v6``: the 47 ``fd-v5`` features, then the scale-free growth of the new hot
region (``edge.featuresets.longhist``, from the one-a-second samples).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.config.sensors import LEPTON_STALE_AFTER_S, SCD41_STALE_AFTER_S

SEED_NAMES: tuple[str, ...] = (
    "t_mean",
    "t_std",
    "t_max",
    "t_p95",
    "t_hot_area_pct",
    "t_hot_largest_blob_pct",
    "t_grad_mean",
    "t_grad_std",
    "t_diff_mean",
    "t_diff_std",
    "flow_mag_mean",
    "flow_mag_std",
    "tproxy_val",
    "tproxy_delta",
    "tproxy_vel",
    "gas_val",
    "gas_delta",
    "gas_vel",
)
THERMAL_HISTORY_NAMES: tuple[str, ...] = (
    "new_hot_area_pct",
    "new_hot_growth_10s",
    "new_hot_growth_60s",
    "new_hot_rise_steps",
    "new_hot_heat_rate",
    "t_max_rate_10s",
    "hot_area_flicker_pct",
    "t_max_flicker_k",
)
GAS_HISTORY_NAMES: tuple[str, ...] = (
    "co2_slope_30s",
    "co2_slope_120s",
    "co2_slope_300s",
    "co2_accel",
    "rh_delta_60s",
    "h2o_per_co2_120s",
    "temp_per_100ppm_co2_120s",
)
FD_V2_NAMES: tuple[str, ...] = SEED_NAMES + THERMAL_HISTORY_NAMES + GAS_HISTORY_NAMES
THERMAL_LONG_NAMES: tuple[str, ...] = (
    "new_hot_t_max_c",
    "new_hot_t_max_slope_300s",
    "new_hot_growth_300s",
    "new_hot_growth_600s",
    "new_hot_grown_share_120s",
    "new_hot_age_s",
)
GAS_LONG_NAMES: tuple[str, ...] = ("co2_slope_900s", "co2_rise_600s")
FD_V3_NAMES: tuple[str, ...] = FD_V2_NAMES + THERMAL_LONG_NAMES + GAS_LONG_NAMES
THERMAL_ACCEL_NAMES: tuple[str, ...] = (
    "new_hot_t_max_accel_20s",
    "new_hot_t_max_accel_60s",
    "new_hot_growth_accel_20s",
    "new_hot_growth_accel_60s",
)
FD_V4_NAMES: tuple[str, ...] = FD_V3_NAMES + THERMAL_ACCEL_NAMES
THERMAL_SAT_NAMES: tuple[str, ...] = ("sat_area_pct", "new_hot_sat_share")
FD_V5_NAMES: tuple[str, ...] = FD_V4_NAMES + THERMAL_SAT_NAMES
THERMAL_RATIO_NAMES: tuple[str, ...] = (
    "new_hot_peak_ratio_10s",
    "new_hot_peak_ratio_30s",
    "new_hot_peak_ratio_120s",
    "new_hot_spread_steps",
)
FD_V6_NAMES: tuple[str, ...] = FD_V5_NAMES + THERMAL_RATIO_NAMES

#: name → feature names, in vector order.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "seed-v1": SEED_NAMES,
    "fd-v2": FD_V2_NAMES,
    "fd-v3": FD_V3_NAMES,
    "fd-v4": FD_V4_NAMES,
    "fd-v5": FD_V5_NAMES,
    "fd-v6": FD_V6_NAMES,
}
#: The set the streaming extractor computes by default: the richest, which every other
#: known set is a prefix of.
RICHEST_SET = "fd-v6"

N_SEED_THERMAL = 12
N_SEED = len(SEED_NAMES)
N_THERMAL_HISTORY = len(THERMAL_HISTORY_NAMES)
N_GAS_HISTORY = len(GAS_HISTORY_NAMES)
N_FD_V2 = len(FD_V2_NAMES)
N_THERMAL_LONG = len(THERMAL_LONG_NAMES)
N_GAS_LONG = len(GAS_LONG_NAMES)
N_FD_V3 = len(FD_V3_NAMES)
N_THERMAL_ACCEL = len(THERMAL_ACCEL_NAMES)
N_FD_V4 = len(FD_V4_NAMES)
N_THERMAL_SAT = len(THERMAL_SAT_NAMES)
N_FD_V5 = len(FD_V5_NAMES)
N_THERMAL_RATIO = len(THERMAL_RATIO_NAMES)


def check_feature_set(name: str) -> tuple[str, ...]:
    """The feature names of set ``name``.

    :raises ValueError: an unknown set, naming it and the known ones.
    """
    try:
        return FEATURE_SETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"feature set {name!r} is unknown; allowed: {', '.join(sorted(FEATURE_SETS))}"
        ) from None


def thermal_mask(feature_set: str) -> npt.NDArray[np.bool_]:
    """True at the camera's columns (NaN when frames are stale) of ``feature_set``'s vector."""
    names = check_feature_set(feature_set)
    mask = np.zeros(len(names), dtype=bool)
    mask[:N_SEED_THERMAL] = True
    if len(names) > N_SEED:
        mask[N_SEED : N_SEED + N_THERMAL_HISTORY] = True
    if len(names) > N_FD_V2:
        mask[N_FD_V2 : N_FD_V2 + N_THERMAL_LONG] = True
    if len(names) > N_FD_V3:
        mask[N_FD_V3 : N_FD_V3 + N_THERMAL_ACCEL] = True
    if len(names) > N_FD_V4:
        mask[N_FD_V4 : N_FD_V4 + N_THERMAL_SAT] = True
    if len(names) > N_FD_V5:
        mask[N_FD_V5 : N_FD_V5 + N_THERMAL_RATIO] = True
    return mask


@cache
def camera_columns(n: int) -> npt.NDArray[np.bool_]:
    """The camera's columns of a vector of ``n`` features (of the known set that long), read
    only: built once per length (the pipeline asks on every frame the gas watch judges).

    :raises ValueError: no known set has ``n`` features.
    """
    for name, names in FEATURE_SETS.items():
        if len(names) == n:
            mask = thermal_mask(name)
            mask.setflags(write=False)
            return mask
    lengths = sorted(len(v) for v in FEATURE_SETS.values())
    raise ValueError(f"a feature vector of {n} numbers; allowed lengths: {lengths}")


#: The parameters each set records in its manifest (``seed-v1``'s keep their original list).
_SEED_PARAMS = (
    "hot_threshold_c",
    "reference_age_s",
    "window_s",
    "gas_stale_s",
    "frame_stale_s",
    "flow_min_grad_k_per_px",
    "flow_min_diff_k",
)
_FD_V2_PARAMS = (*_SEED_PARAMS, "scene_memory_s", "scene_warmup_s")
#: fd-v3's long windows, fd-v4's acceleration windows, fd-v5's saturation rule and fd-v6's
#: look-backs and floor are part of their definitions: no parameter of their own.
_SET_PARAMS: dict[str, tuple[str, ...]] = {
    "seed-v1": _SEED_PARAMS,
    "fd-v2": _FD_V2_PARAMS,
    "fd-v3": _FD_V2_PARAMS,
    "fd-v4": _FD_V2_PARAMS,
    "fd-v5": _FD_V2_PARAMS,
    "fd-v6": _FD_V2_PARAMS,
}


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """The parameters of the feature sets; a model's manifest records those of its set."""

    hot_threshold_c: float = 60.0
    reference_age_s: float = 1.0
    window_s: float = 60.0
    gas_stale_s: float = SCD41_STALE_AFTER_S
    frame_stale_s: float = LEPTON_STALE_AFTER_S
    flow_min_grad_k_per_px: float = 0.5
    flow_min_diff_k: float = 0.5
    #: fd-v2 scene memory: a hot pixel's episode begins when it was not hot within this long.
    scene_memory_s: float = 1800.0
    #: fd-v2 scene memory: episodes beginning this soon after the first frame are the scene.
    scene_warmup_s: float = 60.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value):
                raise ValueError(f"FeatureParams.{f.name} must be a finite number, is {value}")
            if f.name != "hot_threshold_c" and value <= 0:
                raise ValueError(f"FeatureParams.{f.name} must be > 0, is {value}")

    def as_dict(self, feature_set: str = "seed-v1") -> dict[str, Any]:
        """The parameters ``feature_set`` depends on (what its manifest records).

        :raises ValueError: an unknown set.
        """
        check_feature_set(feature_set)
        full = asdict(self)
        return {k: full[k] for k in _SET_PARAMS[feature_set]}
