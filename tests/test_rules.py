"""The rule-based fallback scoring used when the device has no model (edge/model/rules.py)."""

from __future__ import annotations

import numpy as np

from edge.features import FEATURE_NAMES
from edge.model.rules import RULES_VERSION, rule_score
from tests.modelkit import IDX


class TestRules:
    def _x(self, **values: float) -> np.ndarray:
        x = np.zeros(len(FEATURE_NAMES))
        x[IDX["t_max"]] = 25.0
        for k, v in values.items():
            x[IDX[k]] = v
        return x

    def test_quiet_room_is_low(self) -> None:
        """A quiet room scores 0 and is degraded, under the rules version."""
        s = rule_score(self._x(gas_vel=10.0))
        assert s.probability == 0.0 and s.degraded and s.model_version == RULES_VERSION

    def test_hot_region_alarms(self) -> None:
        """A 400 °C region of ≥ 10 px (0.05 % of the frame) scores 1."""
        assert rule_score(self._x(t_max=400.0, t_hot_largest_blob_pct=0.1)).probability == 1.0

    def test_single_hot_pixel_alarms_above_270(self) -> None:
        """One hot pixel crosses 0.5 near 270 °C, not at a 120 °C kettle."""
        assert rule_score(self._x(t_max=280.0, t_hot_largest_blob_pct=0.005)).probability > 0.5
        assert rule_score(self._x(t_max=120.0, t_hot_largest_blob_pct=0.005)).probability == 0.0

    def test_fast_co2_rise_alarms_alone(self) -> None:
        """With the camera missing, CO2 rising 600 ppm/min is enough."""
        x = self._x(gas_vel=600.0)
        x[:12] = np.nan
        s = rule_score(x)
        assert s.probability == 1.0 and s.top_features[0] == ("gas_vel", 1.0)

    def test_gas_hob_rate_does_not_alarm(self) -> None:
        """150 ppm/min (a gas hob) is below the CO2 rule's onset."""
        assert rule_score(self._x(gas_vel=150.0)).probability == 0.0

    def test_all_missing_is_zero(self) -> None:
        """With every feature missing the rules score 0 (nothing to go on)."""
        assert rule_score(np.full(18, np.nan)).probability == 0.0
