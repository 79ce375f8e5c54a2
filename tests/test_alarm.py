"""The alarm state machine, driven by score sequences."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import AlarmConfig
from edge.detect.alarm import AlarmEvent, AlarmStateMachine, Hold


def _cfg(**kw: float) -> AlarmConfig:
    base: dict[str, float] = {
        "pre_alarm_s": 3.0, "clear_s": 30.0, "min_alarm_s": 60.0, "fast_path_score": 0.98,
    }
    base.update(kw)
    return AlarmConfig.model_validate(base)


def _run(sm: AlarmStateMachine, samples: Iterable[tuple[float, float]]) -> list[AlarmEvent]:
    events: list[AlarmEvent] = []
    for t, s in samples:
        events.extend(sm.update(t, s))
    return events


def _series(start: float, stop: float, step: float, score: float) -> list[tuple[float, float]]:
    n = round((stop - start) / step)
    return [(start + i * step, score) for i in range(n)]


class TestAlarmStateMachine:
    def test_clean_fire_alarms_after_pre_alarm_and_clears(self) -> None:
        """A fire held above threshold alarms after pre_alarm_s and clears once it is out."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        quiet = _series(0, 10, 1, 0.05)
        fire = _series(10, 100, 1, 0.8)
        out = _series(100, 200, 1, 0.1)
        events = _run(sm, quiet + fire + out)
        assert [e.kind for e in events] == ["alarm", "clear"]
        alarm, clear = events
        assert alarm.t == 13.0 and alarm.state == "alarm" and alarm.reason == "persistent"
        assert alarm.score == 0.8 and alarm.since == 13.0
        assert clear.t == 130.0 and clear.state == "idle" and clear.reason == "cleared"
        assert sm.state == "idle"

    def test_events_say_why_in_words(self) -> None:
        """Each event says in words what the score did: held past the threshold, past the
        fast path, or stayed low long enough to clear."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        alarm, clear = _run(sm, _series(0, 10, 1, 0.8) + _series(10, 100, 1, 0.1))
        assert alarm.why == ("the fire score stayed at or above the threshold 0.50 for 3 s "
                             "(now 0.80)")
        assert clear.why.startswith("the fire score stayed under 0.")
        fast = AlarmStateMachine(_cfg(), model_threshold=0.5).update(0.0, 0.99)[0]
        assert fast.reason == "fast_path" and "past the fast path (0.98)" in fast.why

    def test_trigger_says_what_the_source_saw(self, caplog: pytest.LogCaptureFixture) -> None:
        """A triggering source's words become the event's and the ALARM log line's why."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.9)
        with caplog.at_level("WARNING", logger="edge.detect.alarm"):
            (ev,) = sm.update(1.0, 0.1, trigger="flame_growth", why="a new hot region grew")
        assert (ev.reason, ev.why) == ("flame_growth", "a new hot region grew")
        assert "ALARM at t=1.000 (flame_growth): a new hot region grew" in caplog.text

    def test_states_visible_through_properties(self) -> None:
        """state, since and last_score follow the transitions."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        sm.update(0.0, 0.1)
        assert (sm.state, sm.since, sm.last_score) == ("idle", 0.0, 0.1)
        sm.update(1.0, 0.7)
        assert (sm.state, sm.since) == ("pre_alarm", 1.0)
        sm.update(4.0, 0.7)
        assert (sm.state, sm.since) == ("alarm", 4.0)

    def test_flicker_around_threshold_gives_one_alarm(self) -> None:
        """Scores alternating just above and below the threshold alarm once and never clear."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        flicker = [(float(t), 0.52 if t % 2 else 0.47) for t in range(0, 600)]
        events = _run(sm, flicker)
        assert [e.kind for e in events] == ["alarm"]
        assert sm.state == "alarm"

    def test_flicker_around_clear_threshold_does_not_storm(self) -> None:
        """After an alarm, scores flickering around the clear threshold do not clear it."""
        sm = AlarmStateMachine(_cfg(clear_s=10.0), model_threshold=0.5)
        _run(sm, _series(0, 5, 1, 0.9))
        flicker = [(float(t), 0.38 if t % 5 else 0.42) for t in range(5, 500)]
        events = _run(sm, flicker)
        assert events == []
        assert sm.state == "alarm"

    def test_fast_path_skips_pre_alarm(self) -> None:
        """A single overwhelming score alarms at once."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        events = _run(sm, [(0.0, 0.1), (1.0, 0.99)])
        assert len(events) == 1
        assert events[0].kind == "alarm" and events[0].t == 1.0
        assert events[0].reason == "fast_path"

    def test_fast_path_from_pre_alarm(self) -> None:
        """An overwhelming score during the pre-alarm alarms before pre_alarm_s is up."""
        sm = AlarmStateMachine(_cfg(pre_alarm_s=30.0), model_threshold=0.5)
        events = _run(sm, [(0.0, 0.6), (1.0, 0.6), (2.0, 0.985)])
        assert [(e.kind, e.t, e.reason) for e in events] == [("alarm", 2.0, "fast_path")]

    def test_min_alarm_duration_holds_a_short_alarm(self) -> None:
        """An alarm lasts min_alarm_s even when the score drops at once."""
        sm = AlarmStateMachine(_cfg(clear_s=5.0, min_alarm_s=60.0), model_threshold=0.5)
        events = _run(sm, [(0.0, 0.99), *_series(1, 120, 1, 0.0)])
        assert [(e.kind, e.t) for e in events] == [("alarm", 0.0), ("clear", 60.0)]

    def test_hysteresis_band_keeps_the_alarm(self) -> None:
        """Scores between clear_threshold and threshold keep an alarm on indefinitely."""
        sm = AlarmStateMachine(_cfg(clear_threshold=0.3, clear_s=5.0), model_threshold=0.5)
        events = _run(sm, _series(0, 10, 1, 0.9) + _series(10, 300, 1, 0.35))
        assert [e.kind for e in events] == ["alarm"]
        events = _run(sm, _series(300, 320, 1, 0.29))
        assert [(e.kind, e.t) for e in events] == [("clear", 305.0)]

    def test_default_clear_threshold_is_below_threshold(self) -> None:
        """Without a configured clear threshold it is a little below the threshold."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        assert sm.threshold == 0.5
        assert 0.3 < sm.clear_threshold < 0.5

    def test_config_threshold_overrides_model(self) -> None:
        """alarm.threshold in the config wins over the model's threshold."""
        sm = AlarmStateMachine(_cfg(threshold=0.7), model_threshold=0.5)
        assert _run(sm, _series(0, 20, 1, 0.6)) == []
        assert sm.threshold == 0.7

    def test_pre_alarm_falls_back_to_idle(self) -> None:
        """A short excursion above threshold returns to idle without any event."""
        sm = AlarmStateMachine(_cfg(pre_alarm_s=5.0), model_threshold=0.5)
        events = _run(sm, [(0.0, 0.6), (1.0, 0.6), (2.0, 0.1)])
        assert events == []
        assert sm.state == "idle"
        # A new excursion starts its own pre-alarm timer.
        assert _run(sm, [(3.0, 0.6), (7.0, 0.6)]) == []
        assert [e.t for e in _run(sm, [(8.0, 0.6)])] == [8.0]

    def test_nan_does_not_raise_an_alarm(self) -> None:
        """NaN scores alone never alarm, even over a long time."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        assert _run(sm, _series(0, 100, 1, math.nan)) == []
        assert sm.state == "idle"

    def test_nan_does_not_complete_a_pre_alarm(self) -> None:
        """The pre-alarm needs a real score above threshold to turn into an alarm."""
        sm = AlarmStateMachine(_cfg(pre_alarm_s=3.0), model_threshold=0.5)
        assert _run(sm, [(0.0, 0.6), *_series(1, 10, 1, math.nan)]) == []
        assert sm.state == "pre_alarm"
        assert [e.t for e in _run(sm, [(10.0, 0.6)])] == [10.0]

    def test_nan_does_not_clear_an_alarm(self) -> None:
        """A blind sensor (NaN) keeps the alarm on and restarts the clear timer."""
        sm = AlarmStateMachine(_cfg(clear_s=10.0, min_alarm_s=0.0), model_threshold=0.5)
        _run(sm, [(0.0, 0.99)])
        events = _run(sm, _series(1, 6, 1, 0.0) + _series(6, 500, 1, math.nan))
        assert events == [] and sm.state == "alarm"
        events = _run(sm, _series(500, 520, 1, 0.0))
        assert [(e.kind, e.t) for e in events] == [("clear", 510.0)]

    def test_equal_timestamps(self) -> None:
        """Several scores at the same time do not advance the timers."""
        sm = AlarmStateMachine(_cfg(pre_alarm_s=1.0), model_threshold=0.5)
        assert _run(sm, [(5.0, 0.6)] * 50) == []
        assert sm.state == "pre_alarm"
        assert len(_run(sm, [(6.0, 0.6)])) == 1

    def test_time_going_backwards_is_clamped(self, caplog: pytest.LogCaptureFixture) -> None:
        """An earlier timestamp counts as the last one: no early alarm, a warning logged."""
        sm = AlarmStateMachine(_cfg(pre_alarm_s=10.0), model_threshold=0.5)
        events = _run(sm, [(100.0, 0.6), (50.0, 0.6), (105.0, 0.6)])
        assert events == []
        assert "time went backwards" in caplog.text
        assert [e.t for e in _run(sm, [(110.0, 0.6)])] == [110.0]

    @pytest.mark.parametrize("score", [-0.1, 1.5, math.inf])
    def test_bad_score_raises(self, score: float) -> None:
        """A score outside [0, 1] is a ValueError naming the value."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        with pytest.raises(ValueError, match="fire score"):
            sm.update(0.0, score)

    def test_bad_time_raises(self) -> None:
        """A non-finite time is a ValueError."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        with pytest.raises(ValueError, match="time must be finite"):
            sm.update(math.nan, 0.1)

    def test_clear_threshold_above_model_threshold_rejected(self) -> None:
        """A configured clear threshold above the model's threshold is refused."""
        with pytest.raises(ValueError, match="clear_threshold"):
            AlarmStateMachine(_cfg(clear_threshold=0.6), model_threshold=0.5)

    def test_zero_pre_alarm_alarms_immediately(self) -> None:
        """With pre_alarm_s = 0 the first score above threshold alarms."""
        sm = AlarmStateMachine(_cfg(pre_alarm_s=0.0), model_threshold=0.5)
        events = _run(sm, [(0.0, 0.1), (1.0, 0.55)])
        assert [(e.kind, e.t, e.reason) for e in events] == [("alarm", 1.0, "persistent")]

    def test_realarm_after_clear(self) -> None:
        """After a clear, a new fire raises a new alarm."""
        sm = AlarmStateMachine(_cfg(clear_s=5.0, min_alarm_s=0.0), model_threshold=0.5)
        samples = _series(0, 10, 1, 0.9) + _series(10, 20, 1, 0.0) + _series(20, 30, 1, 0.9)
        assert [e.kind for e in _run(sm, samples)] == ["alarm", "clear", "alarm"]


_scores = st.one_of(st.floats(0.0, 1.0), st.just(math.nan))
_steps = st.lists(st.tuples(st.floats(-1.0, 20.0), _scores), max_size=200)


class TestAlarmInvariants:
    @settings(max_examples=100, deadline=None)
    @given(steps=_steps, pre=st.floats(0.0, 10.0), clear_s=st.floats(0.0, 30.0),
           min_s=st.floats(0.0, 60.0))
    def test_events_alternate_and_respect_durations(
        self, steps: list[tuple[float, float]], pre: float, clear_s: float, min_s: float
    ) -> None:
        """For any score stream: alarm/clear alternate starting with alarm, times never go
        back, a clear comes min_alarm_s after its alarm, and the state matches the events."""
        sm = AlarmStateMachine(
            _cfg(pre_alarm_s=pre, clear_s=clear_s, min_alarm_s=min_s), model_threshold=0.5
        )
        t = 0.0
        events: list[AlarmEvent] = []
        for dt, score in steps:
            t += dt  # dt < 0 exercises time going backwards
            events.extend(sm.update(t, score))
        kinds = [e.kind for e in events]
        assert kinds == ["alarm", "clear"] * (len(kinds) // 2) + ["alarm"] * (len(kinds) % 2)
        assert all(a.t <= b.t for a, b in itertools.pairwise(events))
        for alarm, clear in zip(events[::2], events[1::2], strict=False):
            assert clear.t - alarm.t >= min_s
            assert clear.score < sm.clear_threshold
        if events:
            assert (sm.state == "alarm") == (events[-1].kind == "alarm")
        else:
            assert sm.state in ("idle", "pre_alarm")

    @settings(max_examples=100, deadline=None)
    @given(steps=st.lists(st.tuples(st.floats(0.0, 5.0), st.floats(0.0, 0.4999)), max_size=100))
    def test_never_alarms_below_threshold(self, steps: list[tuple[float, float]]) -> None:
        """Scores that all stay below the threshold never raise an alarm."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        t = 0.0
        for dt, score in steps:
            t += dt
            assert sm.update(t, score) == []


class TestAlarmOtherEvidence:
    def test_trigger_alarms_at_once_with_its_reason(self) -> None:
        """A trigger raises the alarm at once whatever the score, named as the reason."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        sm.update(0.0, 0.1)
        events = sm.update(1.0, 0.1, trigger="flame_growth")
        assert [(e.kind, e.t, e.reason) for e in events] == [("alarm", 1.0, "flame_growth")]

    def test_hold_keeps_the_alarm(self) -> None:
        """While hold is given, low scores do not clear the alarm; after it they do."""
        sm = AlarmStateMachine(_cfg(clear_s=5.0, min_alarm_s=0.0), model_threshold=0.5)
        sm.update(0.0, 0.1, trigger="smoulder")
        held = [e for t in range(1, 60) for e in sm.update(float(t), 0.05, hold=True)]
        assert held == [] and sm.state == "alarm"
        after = [e for t in range(60, 80) for e in sm.update(float(t), 0.05)]
        assert [e.kind for e in after] == ["clear"]


PAN = ("cooking_zone", "a hot spot in the cooking zone keeps heating")


class TestWarnings:
    def test_a_warning_is_a_pre_alarm_with_its_reason_and_no_event(self) -> None:
        """A warning enters pre_alarm whatever the score, says why, raises no event, keeps
        the pre-alarm while it lasts (a low score does not end it) and ends with it."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        assert sm.update(0.0, 0.1) == [] and sm.pre_alarm_reason is None
        warned = [e for t in range(1, 300) for e in sm.update(float(t), 0.05, warning=PAN)]
        assert warned == [] and sm.state == "pre_alarm" and sm.since == 1.0
        assert sm.pre_alarm_reason == PAN
        assert sm.update(300.0, 0.05) == [] and sm.state == "idle"
        assert sm.pre_alarm_reason is None

    def test_a_warning_ending_on_a_blind_update_goes_idle(self) -> None:
        """A warning that ends while the score is NaN (no evidence) leaves no pre-alarm
        behind: there is nothing left to wait for."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        sm.update(0.0, 0.1, warning=PAN)
        assert sm.update(1.0, math.nan) == [] and sm.state == "idle"

    def test_the_score_pre_alarm_says_threshold(self) -> None:
        """A pre-alarm the score began names the threshold and the wait."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        sm.update(0.0, 0.6)
        reason = sm.pre_alarm_reason
        assert reason is not None and reason[0] == "threshold" and "3 s" in reason[1]

    def test_the_score_waits_pre_alarm_s_from_its_own_crossing(self) -> None:
        """Under a warning, a score that crosses the threshold still has to stay there for
        pre_alarm_s (counted from its crossing, not from the warning's start)."""
        sm = AlarmStateMachine(_cfg(pre_alarm_s=3.0), model_threshold=0.5)
        for t in range(0, 100):
            assert sm.update(float(t), 0.3, warning=PAN) == []
        assert sm.update(100.0, 0.6, warning=PAN) == []
        assert sm.update(102.0, 0.6, warning=PAN) == []
        events = sm.update(103.0, 0.6, warning=PAN)
        assert [(e.kind, e.t, e.reason) for e in events] == [("alarm", 103.0, "persistent")]

    def test_a_score_that_falls_back_leaves_the_warning_standing(self) -> None:
        """A score that crosses and falls under the clear threshold starts its wait again;
        the warning keeps the pre-alarm meanwhile."""
        sm = AlarmStateMachine(_cfg(pre_alarm_s=3.0), model_threshold=0.5)
        samples = [(0.0, 0.6), (1.0, 0.6), (2.0, 0.1), (3.0, 0.6), (4.0, 0.6), (5.0, 0.6)]
        assert [e for t, s in samples for e in sm.update(t, s, warning=PAN)] == []
        assert sm.state == "pre_alarm"
        assert [e.t for e in sm.update(6.0, 0.6, warning=PAN)] == [6.0]

    def test_a_trigger_or_the_fast_path_still_alarms_at_once(self) -> None:
        """Flames (a trigger) and an overwhelming score alarm during a warning as ever."""
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        sm.update(0.0, 0.1, warning=PAN)
        events = sm.update(1.0, 0.1, trigger="flame_growth", warning=PAN)
        assert [(e.kind, e.reason) for e in events] == [("alarm", "flame_growth")]
        assert sm.pre_alarm_reason is None
        sm = AlarmStateMachine(_cfg(), model_threshold=0.5)
        sm.update(0.0, 0.1, warning=PAN)
        assert [e.reason for e in sm.update(1.0, 0.99, warning=PAN)] == ["fast_path"]

    def test_a_warning_does_not_clear_or_hold_an_alarm(self) -> None:
        """During an alarm a warning changes nothing: low scores clear it as without."""
        sm = AlarmStateMachine(_cfg(clear_s=5.0, min_alarm_s=0.0), model_threshold=0.5)
        sm.update(0.0, 0.1, trigger="flame_growth")
        after = [e for t in range(1, 20) for e in sm.update(float(t), 0.05, warning=PAN)]
        assert [e.kind for e in after] == ["clear"]


class TestRetune:
    def test_retune_only_when_idle(self) -> None:
        """A new model's threshold is taken in place while idle and refused during an alarm."""
        from edge.config.alarm import AlarmConfig as Cfg

        sm = AlarmStateMachine(Cfg(pre_alarm_s=0.0), 0.5)
        assert sm.retune(Cfg(pre_alarm_s=0.0), 0.7) and sm.threshold == 0.7
        assert not sm.retune(Cfg(pre_alarm_s=0.0), 0.7)  # nothing changed
        sm.update(0.0, 0.9)
        assert sm.state == "alarm"
        with pytest.raises(RuntimeError, match="alarm"):
            sm.retune(Cfg(), 0.6)


class TestSustained:
    """A score held at the hold threshold for ``hold_s`` alarms (``sustained``)."""

    HOLD = Hold(0.7, 300.0)

    def test_a_score_held_for_the_hold_time_alarms(self) -> None:
        """0.8 (under the 0.95 threshold) from t = 100 alarms at t = 400, not before; the
        words say what was held and for how long."""
        sm = AlarmStateMachine(_cfg(), 0.95, self.HOLD)
        events = _run(sm, _series(0.0, 100.0, 1.0, 0.2) + _series(100.0, 399.0, 1.0, 0.8))
        assert events == [] and sm.state == "idle"
        ev = _run(sm, [(399.0, 0.8), (400.0, 0.8)])
        assert [(e.kind, e.t, e.reason) for e in ev] == [("alarm", 400.0, "sustained")]
        assert "0.70" in ev[0].why and "300 s" in ev[0].why

    @pytest.mark.parametrize("dip", [0.69, math.nan])
    def test_a_dip_or_no_evidence_restarts_the_hold(self, dip: float) -> None:
        """One sample under the bar (or NaN) at t = 250 restarts the 300 s from t = 251."""
        sm = AlarmStateMachine(_cfg(), 0.95, self.HOLD)
        samples = [*_series(0.0, 250.0, 1.0, 0.8), (250.0, dip),
                   *_series(251.0, 552.0, 1.0, 0.8)]
        alarms = [e for e in _run(sm, samples) if e.kind == "alarm"]
        assert [(e.t, e.reason) for e in alarms] == [(551.0, "sustained")]

    def test_without_a_hold_nothing_alarms(self) -> None:
        """No model hold and no [alarm] hold_threshold: the same hour at 0.8 never alarms;
        hold_s = 0 turns a model's hold off."""
        for sm in (AlarmStateMachine(_cfg(), 0.95),
                   AlarmStateMachine(_cfg(hold_s=0.0), 0.95, self.HOLD)):
            assert sm.hold is None
            assert _run(sm, _series(0.0, 3600.0, 1.0, 0.8)) == []

    def test_config_overrides_the_model(self) -> None:
        """[alarm] hold_threshold and hold_s replace the model's, each on its own."""
        sm = AlarmStateMachine(_cfg(hold_threshold=0.85), 0.95, self.HOLD)
        assert sm.hold == Hold(0.85, 300.0)
        assert _run(sm, _series(0.0, 1000.0, 1.0, 0.8)) == []
        sm = AlarmStateMachine(_cfg(hold_s=60.0), 0.95, self.HOLD)
        assert [e.t for e in _run(sm, _series(0.0, 100.0, 1.0, 0.8))] == [60.0]

    def test_a_held_score_keeps_the_alarm_up(self) -> None:
        """Raised by the hold, the alarm stays while the score stays at the hold threshold
        (under the clear threshold 0.76 for an hour), and clears once it falls away."""
        sm = AlarmStateMachine(_cfg(), 0.95, self.HOLD)
        events = _run(sm, _series(0.0, 3600.0, 1.0, 0.72))
        assert [e.kind for e in events] == ["alarm"] and sm.state == "alarm"
        events = _run(sm, _series(3600.0, 3700.0, 1.0, 0.3))
        assert [(e.kind, e.t) for e in events] == [("clear", 3630.0)]

    def test_retune_takes_a_new_models_hold(self) -> None:
        """A new model's hold replaces the old one while idle (retune says it changed), and
        its hold starts over: 200 s held under the old bar do not count toward the new."""
        sm = AlarmStateMachine(_cfg(), 0.95, self.HOLD)
        assert _run(sm, _series(0.0, 200.0, 1.0, 0.92)) == []
        assert sm.retune(_cfg(), 0.95, Hold(0.9, 300.0)) is True
        assert sm.retune(_cfg(), 0.95, Hold(0.9, 300.0)) is False
        assert [e.t for e in _run(sm, _series(200.0, 600.0, 1.0, 0.92))] == [500.0]
        sm = AlarmStateMachine(_cfg(), 0.95, self.HOLD)
        assert sm.retune(_cfg(), 0.95, Hold(0.9, 300.0)) is True
        assert _run(sm, _series(0.0, 1000.0, 1.0, 0.8)) == []

    def test_config_threshold_without_a_time_holds_300_s(self) -> None:
        """[alarm] hold_threshold with a model that has no hold (the rule fallback) holds
        for 300 s."""
        sm = AlarmStateMachine(_cfg(hold_threshold=0.7), 0.95)
        assert sm.hold == Hold(0.7, 300.0)
        assert [e.t for e in _run(sm, _series(0.0, 400.0, 1.0, 0.8))] == [300.0]

    def test_a_bad_hold_is_refused(self) -> None:
        """A model hold outside (0, 1) is refused by name."""
        with pytest.raises(ValueError, match="hold threshold"):
            AlarmStateMachine(_cfg(), 0.95, Hold(1.5, 300.0))

