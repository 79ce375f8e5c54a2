"""The 18 features of feature set ``seed-v1`` (../shared/specs/features.md).

One streaming implementation, used by the daemon frame by frame and by training over whole
recordings. (Contract constants below; the implementation follows.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

FEATURE_SET = "seed-v1"

FEATURE_NAMES: tuple[str, ...] = (
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
N_FEATURES = len(FEATURE_NAMES)
THERMAL_FEATURES = FEATURE_NAMES[:12]
GAS_FEATURES = FEATURE_NAMES[12:]


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """The parameters of the feature set; recorded in every model manifest."""

    hot_threshold_c: float = 60.0
    reference_age_s: float = 1.0
    window_s: float = 60.0
    gas_stale_s: float = 30.0
    frame_stale_s: float = 5.0
    flow_min_grad_k_per_px: float = 0.5
    flow_min_diff_k: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
