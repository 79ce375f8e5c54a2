"""The event-level threshold: the device's alarm logic on validation no-fire streams."""

from __future__ import annotations

import numpy as np
import pytest

from cloud.training.threshold import CEILING, FLOOR, Stream, count_alarms, event_threshold
from edge.config.alarm import AlarmConfig


def stream(level: float, hold_s: float, at: float = 100.0, base: float = 0.1,
           n: int = 300) -> Stream:
    """1-Hz scores at ``base`` with ``level`` for ``hold_s`` seconds from ``at``."""
    t = np.arange(0.0, float(n))
    p = np.full(n, base)
    p[(t >= at) & (t < at + hold_s)] = level
    return Stream(t, p)


class TestCountAlarms:
    def test_held_score_alarms(self) -> None:
        """A nuisance held over the threshold through the pre-alarm is one alarm."""
        assert count_alarms([stream(0.7, 10.0)], 0.6) == 1
        assert count_alarms([stream(0.7, 10.0)], 0.71) == 0

    def test_blip_does_not_alarm(self) -> None:
        """One frame over the threshold is not an alarm (pre-alarm 3 s)."""
        assert count_alarms([stream(0.9, 1.0)], 0.5) == 0

    def test_startup_guard_applies(self) -> None:
        """With a 30-s start-up guard, high scores in the first 30 s only are ignored."""
        guarded = AlarmConfig(startup_s=30.0)
        assert count_alarms([stream(0.8, 20.0, at=0.0)], 0.5, guarded) == 0
        assert count_alarms([stream(0.8, 20.0, at=40.0)], 0.5, guarded) == 1
        assert count_alarms([stream(0.8, 20.0, at=0.0)], 0.5) == 1


class TestEventThreshold:
    def test_just_above_the_worst_nuisance(self) -> None:
        """The threshold clears the highest held nuisance score by the margin."""
        thr = event_threshold([stream(0.62, 10.0), stream(0.4, 50.0)], margin=0.05)
        assert thr == pytest.approx(0.67, abs=0.002)
        assert count_alarms([stream(0.62, 10.0)], thr) == 0

    def test_floor_and_ceiling(self) -> None:
        """Quiet streams give the floor; streams alarming at any threshold the ceiling."""
        assert event_threshold([stream(0.1, 0.0)], margin=0.0) == FLOOR
        assert event_threshold([stream(0.97, 100.0)]) == CEILING

    def test_capped_names_the_alarming_recordings(self, caplog: pytest.LogCaptureFixture
                                                  ) -> None:
        """When streams alarm even at the ceiling, the warning names those recordings (and
        only those), so the report says what the model cannot part from a fire."""
        loud = stream(0.97, 100.0)
        quiet = stream(0.3, 100.0)
        streams = [Stream(loud.t, loud.p, name="sim:gas_cooking:7"),
                   Stream(quiet.t, quiet.p, name="sim:candles:8")]
        with caplog.at_level("WARNING", logger="cloud.training.threshold"):
            assert event_threshold(streams) == CEILING
        assert "sim:gas_cooking:7" in caplog.text and "candles" not in caplog.text

    def test_bad_input(self) -> None:
        """No streams or a negative margin are refused, saying what is allowed."""
        with pytest.raises(ValueError, match="no no-fire validation streams"):
            event_threshold([])
        with pytest.raises(ValueError, match="allowed: 0 ≤ margin < 1"):
            event_threshold([stream(0.5, 10.0)], margin=-0.1)
