"""The sustained alarm's bar chosen on validation streams (cloud.training.hold)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cloud.training.hold import FLOOR, choose_hold_bar, held_score
from cloud.training.threshold import Stream
from edge.config import AlarmConfig
from edge.detect.alarm import AlarmStateMachine, Hold


def brute_held(t: np.ndarray, p: np.ndarray, hold_s: float) -> float:
    """Every stretch spanning ≥ hold_s, its lowest score; the best of them (NaN breaks)."""
    q = np.where(np.isfinite(p), p, -math.inf)
    best = 0.0
    for i in range(t.size):
        for j in range(i, t.size):
            if t[j] - t[i] >= hold_s:
                best = max(best, float(q[i:j + 1].min()))
                break  # longer stretches from i only lower the minimum
    return best


def device_alarms(t: np.ndarray, p: np.ndarray, bar: float, hold_s: float) -> bool:
    """Whether the device's alarm logic raises a sustained alarm on the stream."""
    sm = AlarmStateMachine(AlarmConfig(), 0.999, Hold(bar, hold_s))
    return any(e.reason == "sustained" for tt, pp in zip(t.tolist(), p.tolist(), strict=True)
               for e in sm.update(tt, pp))


def random_stream(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.cumsum(rng.uniform(0.1, 3.0, n))
    p = np.clip(np.cumsum(rng.normal(0.0, 0.05, n)) + rng.uniform(0.2, 0.8), 0.0, 0.99)
    p[rng.random(n) < 0.01] = np.nan
    return t, p


class TestHeldScore:
    def test_equals_every_stretch_checked(self) -> None:
        """The sliding minimum equals checking every stretch, on random irregular streams."""
        rng = np.random.default_rng(1)
        for _ in range(40):
            t, p = random_stream(rng, 300)
            for hold_s in (5.0, 60.0, 200.0):
                assert held_score(t, p, hold_s) == pytest.approx(brute_held(t, p, hold_s))

    def test_is_what_the_device_holds(self) -> None:
        """A stream holds x for s seconds exactly when the device's alarm logic, with the
        bar at x, raises a sustained alarm on it (just above it: none)."""
        rng = np.random.default_rng(2)
        for _ in range(30):
            t, p = random_stream(rng, 400)
            top = held_score(t, p, 60.0)
            if top <= 0.0:
                continue
            assert device_alarms(t, p, top, 60.0)
            assert not device_alarms(t, p, top + 1e-9, 60.0)

    def test_a_short_stream_holds_nothing(self) -> None:
        """A stream spanning less than the hold time holds 0."""
        assert held_score([0.0, 10.0, 20.0], [0.9, 0.9, 0.9], 30.0) == 0.0
        assert held_score([0.0, 10.0, 30.0], [0.9, 0.8, 0.9], 30.0) == pytest.approx(0.8)


class TestChoose:
    @staticmethod
    def flat(score: float, seconds: float = 600.0) -> Stream:
        t = np.arange(0.0, seconds, 1.0)
        return Stream(t, np.full(t.size, score))

    def test_bar_over_every_no_fire_stream(self) -> None:
        """The bar is the highest held no-fire score plus the margin; the fires that hold it
        are counted."""
        hb = choose_hold_bar([self.flat(0.3), self.flat(0.62)],
                             [self.flat(0.9), self.flat(0.66), self.flat(0.99, 100.0)],
                             threshold=0.95, margin=0.05)
        assert hb.bar == pytest.approx(0.67) and hb.highest_nuisance == pytest.approx(0.62)
        assert (hb.streams, hb.fires, hb.fires_held) == (2, 3, 1)

    def test_never_under_the_floor_nor_at_the_threshold(self) -> None:
        """Quiet no-fire streams give the floor; one that holds near the threshold gives no
        bar at all (the threshold's own path alarms first)."""
        assert choose_hold_bar([self.flat(0.1)], [], 0.95).bar == FLOOR
        hb = choose_hold_bar([self.flat(0.92)], [self.flat(0.99)], 0.95)
        assert hb.bar is None and hb.fires_held == 0

    def test_bad_input_is_refused(self) -> None:
        """No no-fire streams, a negative margin or a hold time ≤ 0 are refused by name."""
        with pytest.raises(ValueError, match="no no-fire"):
            choose_hold_bar([], [], 0.95)
        with pytest.raises(ValueError, match="margin"):
            choose_hold_bar([self.flat(0.1)], [], 0.95, margin=-0.1)
        with pytest.raises(ValueError, match="hold time"):
            choose_hold_bar([self.flat(0.1)], [], 0.95, hold_s=0.0)
