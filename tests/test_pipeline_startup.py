"""The pipeline's start-up guard: no alarm from ordinary scores while the windows fill."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import Config
from edge.config.alarm import AlarmConfig
from edge.detect.alarm import AlarmStateMachine
from edge.detect.pipeline import Pipeline
from edge.features import FeatureExtractor
from edge.types import ThermalFrame
from tests.fixedscore import FixedScorer


def pipeline(p: float, startup_s: float, start_t: float = 100.0) -> Pipeline:
    cfg = AlarmConfig(pre_alarm_s=3.0, clear_s=5.0, min_alarm_s=0.0, startup_s=startup_s)
    return Pipeline(FeatureExtractor(), FixedScorer(p), AlarmStateMachine(cfg, 0.5),
                    stale_after_s={"scd41": 1e6, "lepton": 1e6}, start_t=start_t,
                    startup_s=startup_s)


def frame(t: float) -> ThermalFrame:
    return ThermalFrame(t, np.full((60, 80), 29_500, np.uint16))


def alarm_times(pipe: Pipeline, times: np.ndarray) -> list[float]:
    return [ev.t for t in times for ev in pipe.frame(frame(float(t))).events
            if ev.kind == "alarm"]


class TestStartupGuard:
    def test_no_alarm_before_startup_ends(self) -> None:
        """A score over the threshold from the first frame alarms only once the guard ends."""
        times = alarm_times(pipeline(0.7, startup_s=30.0), 100.0 + np.arange(0.0, 60.0, 1.0))
        assert times == [133.0]  # guard ends at 130 s, then the 3-s pre-alarm

    def test_fast_path_not_guarded(self) -> None:
        """An overwhelming score alarms at once, guard or not."""
        times = alarm_times(pipeline(0.99, startup_s=30.0), 100.0 + np.arange(0.0, 10.0, 1.0))
        assert times[0] <= 101.0

    def test_zero_guard_alarms_after_pre_alarm(self) -> None:
        """With startup_s 0 the pre-alarm alone decides, as before the guard existed."""
        times = alarm_times(pipeline(0.7, startup_s=0.0), 100.0 + np.arange(0.0, 10.0, 1.0))
        assert times == [103.0]

    def test_alarm_clears_during_startup(self) -> None:
        """A fast-path alarm raised in the guard still clears on low scores inside it."""
        pipe = pipeline(0.99, startup_s=60.0)
        events = [ev for t in np.arange(0.0, 3.0) for ev in pipe.frame(frame(100.0 + t)).events]
        pipe.scorer = FixedScorer(0.0)
        events += [ev for t in np.arange(3.0, 20.0) for ev in pipe.frame(frame(100.0 + t)).events]
        assert [e.kind for e in events] == ["alarm", "clear"] and events[1].t < 160.0

    def test_default_config_no_guard(self) -> None:
        """The guard is off by default (it changed no alarm in the held-out evaluation)."""
        assert Config().alarm.startup_s == 0.0

    @pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
    def test_bad_startup_refused(self, bad: float) -> None:
        """A negative or non-finite guard is refused, naming it."""
        with pytest.raises(ValueError, match="startup_s"):
            pipeline(0.5, startup_s=bad)
