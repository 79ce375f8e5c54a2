"""Reasons in words (edge/detect/words.py), on constructed evidence and through the pipeline."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

from edge.config.alarm import AlarmConfig
from edge.detect.alarm import AlarmEvent, AlarmStateMachine, Hold
from edge.detect.evidence import Evidence
from edge.detect.pipeline import Pipeline
from edge.detect.words import (
    explain_alarm,
    explain_fault,
    feature_values,
    gas_words,
    sensor_words,
)
from edge.features import FeatureExtractor
from edge.featuresets.registry import FD_V2_NAMES, SEED_NAMES, camera_columns
from edge.mqtt.payloads import dumps, event_payload
from edge.types import ThermalFrame
from tests.fixedscore import FixedScore

OK = {"scd41": None, "lepton": None}


def persistent(score: float = 0.97) -> AlarmEvent:
    why = f"the fire score stayed at or above the threshold 0.50 for 8 s (now {score:.2f})"
    return AlarmEvent("alarm", 10.0, score, "alarm", 10.0, "persistent", why)


def fdv2(**values: float) -> dict[str, float]:
    out = dict.fromkeys(FD_V2_NAMES, 0.0)
    out.update(values)
    return out


class TestGasWords:
    def test_fire_like_rise(self) -> None:
        """A CO2 rise without the water a person breathes out says so, rounded to 2 figures."""
        said = gas_words(fdv2(co2_slope_120s=91.7, h2o_per_co2_120s=0.4))
        assert said == "CO2 rose 180 ppm in 120 s with no person-like humidity rise"

    def test_person_like_rise(self) -> None:
        """A rise with as much water as breath carries is called person-like."""
        said = gas_words(fdv2(co2_slope_120s=15.0, h2o_per_co2_120s=1.6))
        assert said == ("CO2 rose 30 ppm in 120 s with a person-like humidity rise "
                        "(1.6 ppm water per ppm CO2)")

    def test_flat_or_absent(self) -> None:
        """A rise under 20 ppm, or a vector without the fd-v2 gas history, says nothing."""
        assert gas_words(fdv2(co2_slope_120s=5.0)) == ""
        assert gas_words(dict.fromkeys(SEED_NAMES, 1.0)) == ""


class TestSensorWords:
    def test_camera_fault(self) -> None:
        """A faulted camera leaves the gas to decide."""
        assert sensor_words({"scd41": None, "lepton": "no data"}) == (
            "camera faulted; deciding on gas alone")

    def test_both_faulted(self) -> None:
        """Both sensors faulted leaves nothing to decide on, and it says so."""
        assert sensor_words({"scd41": "x", "lepton": "y"}).startswith("both sensors faulted")

    def test_fault_event(self) -> None:
        """A fault event names the sensor, its reason and the consequence."""
        assert explain_fault("scd41", "no data for 12.3 s (limit 10 s)", {"lepton": None}) == (
            "gas sensor faulted (no data for 12.3 s (limit 10 s)); deciding on the camera alone")


class TestExplainAlarm:
    def test_score_alarm_names_top_features_gas_and_faults(self) -> None:
        """A score alarm says what the score did, its top features, the gas and the faults."""
        said = explain_alarm(
            persistent(), [("new_hot_growth_10s", 2.1), ("co2_slope_30s", 1.2), ("t_max", 0.3)],
            fdv2(co2_slope_120s=90.0, h2o_per_co2_120s=0.2),
            {"scd41": None, "lepton": "no data for 12 s"})
        assert said == ("the fire score stayed at or above the threshold 0.50 for 8 s (now 0.97)"
                        "; top features: new_hot_growth_10s, co2_slope_30s"
                        "; CO2 rose 180 ppm in 120 s with no person-like humidity rise"
                        "; camera faulted; deciding on gas alone")

    def test_score_alarm_says_what_each_sensor_alone_scores(self) -> None:
        """A score alarm says what the gas alone and the camera alone score; a watch's alarm
        and an unknown (NaN) score say nothing of it."""
        said = explain_alarm(persistent(), [("t_max", 0.2)], {}, OK, (), (0.93, 0.04))
        assert said.endswith("; top features: t_max; the gas alone scores 0.93, the camera "
                             "alone 0.04")
        assert "alone" not in explain_alarm(persistent(), [], {}, OK, (), (math.nan, 0.5))
        ev = AlarmEvent("alarm", 5.0, 0.4, "alarm", 5.0, "flame_growth", "grew")
        assert explain_alarm(ev, [], {}, OK, (), (0.9, 0.9)) == "grew"

    def test_watch_alarm_keeps_watch_words(self) -> None:
        """A flame-watch alarm keeps the watch's words and names no model features."""
        ev = AlarmEvent("alarm", 5.0, 0.4, "alarm", 5.0, "flame_growth",
                        "a new hot region grew by 26 px to 0.14 % of the view")
        said = explain_alarm(ev, [("t_max", 1.0)], {}, OK)
        assert said == "a new hot region grew by 26 px to 0.14 % of the view"

    def test_known_scene_cap_is_said(self) -> None:
        """A score alarm under the known-scene rule says the gas alone decided it."""
        cap = Evidence("known_scene", "only the known scene is hot; the gas alone scores 0.93",
                       cap=0.93)
        held = Evidence("flame_growth", "12 px newly ≥ 140 °C", holds=True)
        said = explain_alarm(persistent(0.93), [], {}, OK, [held, cap])
        assert said.endswith("(now 0.93); only the known scene is hot; the gas alone scores "
                             "0.93")

    def test_clear_says_no_gas(self) -> None:
        """A clear says why it cleared, without the gas history of an alarm."""
        ev = AlarmEvent("clear", 5.0, 0.1, "idle", 5.0, "cleared", "the fire score stayed under")
        assert explain_alarm(ev, [], fdv2(co2_slope_120s=90.0), OK) == (
            "the fire score stayed under")

    def test_feature_values_by_length(self) -> None:
        """A vector is named by the feature set of its length; an unknown length names none."""
        assert list(feature_values(np.zeros(len(FD_V2_NAMES)))) == list(FD_V2_NAMES)
        assert feature_values(np.zeros(5)) == {}


class _TopScorer:
    """0.9 with both sensors' features; 0.2 on the gas alone (camera columns blanked), 0.8 on
    the camera alone."""

    def score(self, x: np.ndarray) -> FixedScore:
        cam = camera_columns(x.shape[0])
        p = 0.2 if np.isnan(x[cam]).all() else 0.8 if np.isnan(x[~cam]).all() else 0.9
        return FixedScore(p, top_features=[("t_max", 3.0), ("gas_vel", 1.0)])


class TestInEvents:
    def test_pipeline_events_carry_words_into_payload(self) -> None:
        """The alarm and the camera fault published by the pipeline carry their words."""
        cfg = AlarmConfig(pre_alarm_s=2.0, clear_s=5.0, min_alarm_s=0.0)
        pipe = Pipeline(FeatureExtractor(), _TopScorer(), AlarmStateMachine(cfg, 0.5),
                        stale_after_s={"scd41": 1e6, "lepton": 5.0})
        events = []
        for t in range(4):
            frame = ThermalFrame(float(t), np.full((60, 80), 29_500, np.uint16))
            events += pipe.frame(frame).events
        events += pipe.check(20.0)
        alarm, fault = events
        body = json.loads(dumps(event_payload(alarm, 1, "ts", pipe.sensors(), False, "m")))
        assert body["reason"] == "persistent"
        assert body["why"].startswith("the fire score stayed at or above the threshold 0.50")
        assert body["why"].endswith("; top features: t_max, gas_vel; the gas alone scores "
                                    "0.20, the camera alone 0.80")
        body = json.loads(dumps(event_payload(fault, 2, "ts", pipe.sensors(), True, "m")))
        assert body["why"] == ("camera faulted (no data for 17.0 s (limit 5 s)); "
                               "deciding on gas alone")


    def test_sustained_alarm_through_the_pipeline(self) -> None:
        """A model whose score (0.9) sits under the alarm threshold (0.95) but over its hold
        (0.7 for 300 s) alarms as ``sustained`` 300 s after its first frame, saying what was
        held, with the per-sensor words of a score alarm, into the MQTT payload."""
        cfg = AlarmConfig(pre_alarm_s=2.0, clear_s=5.0, min_alarm_s=0.0)
        pipe = Pipeline(FeatureExtractor(), _TopScorer(),
                        AlarmStateMachine(cfg, 0.95, Hold(0.7, 300.0)),
                        stale_after_s={"scd41": 1e6, "lepton": 1e6})
        events = []
        for t in range(0, 320, 2):
            frame = ThermalFrame(float(t), np.full((60, 80), 29_500, np.uint16))
            events += pipe.frame(frame).events
        (alarm,) = events
        assert alarm.t == 300.0
        body = json.loads(dumps(event_payload(alarm, 1, "ts", pipe.sensors(), False, "m")))
        assert body["reason"] == "sustained"
        assert body["why"].startswith("the fire score stayed at or above 0.70 for 300 s")
        assert body["why"].endswith("the gas alone scores 0.20, the camera alone 0.80")


class _BrokenExplainer:
    """Scores 0.9, but fails to explain, and fails on a vector with the camera blanked."""

    def score(self, x: np.ndarray) -> FixedScore:
        if np.isnan(x[camera_columns(x.shape[0])]).all():
            raise RuntimeError("blanked")
        return FixedScore(0.9, top_features=[("t_max", 3.0)])

    def explain(self, x: np.ndarray) -> FixedScore:
        raise RuntimeError("no explanation")


def test_alarm_published_when_its_explanation_fails(caplog: pytest.LogCaptureFixture) -> None:
    """An explanation that fails (the scorer's explain, the sensors scored alone) is logged
    and left out; the alarm is published all the same: explaining never costs an alarm."""
    cfg = AlarmConfig(pre_alarm_s=2.0, clear_s=5.0, min_alarm_s=0.0)
    pipe = Pipeline(FeatureExtractor(), _BrokenExplainer(), AlarmStateMachine(cfg, 0.5),
                    stale_after_s={"scd41": 1e6, "lepton": 1e6})
    events = []
    with caplog.at_level(logging.ERROR, logger="edge.detect.pipeline"):
        for t in range(4):
            frame = ThermalFrame(float(t), np.full((60, 80), 29_500, np.uint16))
            events += pipe.frame(frame).events
    (alarm,) = events
    assert alarm.kind == "alarm" and alarm.alarm is not None and alarm.alarm.reason == "persistent"
    assert alarm.why.endswith("; top features: t_max") and "alone" not in alarm.why
    assert "explaining an event's score failed" in caplog.text
    assert "scoring each sensor alone failed" in caplog.text
