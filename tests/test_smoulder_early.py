"""The smoulder watch's early rule: a spot seen heating or spreading for fewer steps than the
watch's five alarms when the model firmly says fire (edge.detect.smoulder,
edge.detect.evidence); training chooses how many steps and the bar, the lowest no validation
nuisance reaches (cloud.training.smoulder_bar)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from pydantic import ValidationError

from cloud.training.corroborate import watches
from cloud.training.data import Dataset, recording_rows
from cloud.training.fleet import subset
from cloud.training.smoulder_bar import (
    EARLY_CEILING,
    EARLY_FLOOR,
    MIN_STREAMS,
    EarlyBar,
    EarlyCandidate,
)
from edge.config import Config
from edge.config.alarm import AlarmConfig
from edge.config.smoulder import SmoulderConfig
from edge.detect.alarm import AlarmStateMachine
from edge.detect.evidence import Evidence, ModelBars, build_sources
from edge.detect.pipeline import Pipeline
from edge.detect.scene import SceneMemory
from edge.detect.smoulder import SmoulderWatch
from edge.features import FeatureExtractor, FeatureParams
from edge.recording import Recording
from edge.types import ThermalFrame
from tests.fixedscore import FixedScorer
from tests.test_cooking_zone import pan
from tests.test_smoulder_bar import F, T, choose, dataset, overheat, smoulder_alarms

__all__ = ["overheat"]  # the fixture, shared


def alarm_times(score: float, bars: ModelBars,
                settings: dict[str, object] | None = None) -> list[float]:
    """When a pan put on at 60 s, heating a steady 8 K/min, alarms as a smoulder."""
    found = smoulder_alarms(pan(60.0), 700.0, score, bars, settings)
    assert all(reason == "smoulder" for _, reason in found)
    return [t for t, _ in found]


#: The watch reading the onsets these tests hand it (no memory of its own).
HANDED = SmoulderConfig(known_c=None)


class TestWatch:
    def test_steps_in_a_row(self) -> None:
        """A spot heating 10 K a step: at each step's start, for how many closed steps in a
        row it heated (two rises need three closed steps), up to the watch's five, when it is
        smouldering."""
        on = np.zeros((60, 80), np.float64)
        on[30, 40] = 10.0  # the pixel got hot at 10 s: new to the scene
        watch = SmoulderWatch(HANDED)
        counts, smouldering = [], []
        for t in np.arange(0.0, 480.0, 5.0):
            frame = np.full((60, 80), 20.0)
            frame[30, 40] = 200.0 + 10.0 * (t // 60.0)
            seen = watch.update(float(t), frame, on)
            if t % 60.0 == 0.0:
                counts.append(seen.steady_steps)
                smouldering.append(seen.smouldering)
        assert counts == [0, 0, 0, 2, 3, 4, 5, 5]
        assert smouldering == [F, F, F, F, F, F, T, T]

    def test_confirmed_spot_persists(self) -> None:
        """Once a spot seen for fewer steps alarmed (``confirm``), it is held as found while
        it stays in view, as a spot the full watch found; unconfirmed, it is not."""
        on = np.zeros((60, 80), np.float64)
        for confirm in (True, False):
            watch = SmoulderWatch(HANDED)
            seen = None
            for t in np.arange(0.0, 420.0, 5.0):
                frame = np.full((60, 80), 20.0)
                frame[30, 40] = 200.0 + 10.0 * min(t // 60.0, 3.0)  # stops heating at 180 s
                seen = watch.update(float(t), frame, on)
                if seen.steady_steps >= 3 and confirm:
                    watch.confirm()
            assert seen is not None and not seen.smouldering and seen.steady_steps == 0
            assert seen.persists is confirm and seen.holds is confirm

    def test_config(self) -> None:
        """``early_steps`` and ``early_min_score`` default to the model's; set, both or
        neither, steps from 2 to ``steps`` - 1; 0 turns it off, alone."""
        assert Config().smoulder.early_steps is None
        assert Config().smoulder.early_min_score is None
        assert SmoulderConfig(early_steps=0).early_steps == 0
        assert SmoulderConfig(early_steps=4, early_min_score=0.8).early_steps == 4
        for bad, match in (({"early_steps": 5, "early_min_score": 0.8}, "early_steps 5 with"),
                           ({"early_steps": 1, "early_min_score": 0.8}, "from 2 to steps"),
                           ({"early_steps": 3}, "both or neither"),
                           ({"early_min_score": 0.8}, "both or neither"),
                           ({"early_steps": 0, "early_min_score": 0.8}, "early_steps is 0"),
                           ({"early_steps": 3, "early_min_score": 1.2}, "early_min_score")):
            with pytest.raises(ValidationError, match=match):
                Config.model_validate({"smoulder": bad})


class TestDevice:
    def test_a_firm_score_alarms_sooner(self) -> None:
        """Scored 0.7 (alarm threshold 0.8): at the model's smoulder bar 0.1 the full watch
        alarms; at 0.75 it cannot, and an early rule at 0.6 alarms as many steps sooner as it
        saves (2, 3 or 4 steps of the watch's 5)."""
        full = alarm_times(0.7, ModelBars(smoulder=0.1))
        assert len(full) == 1
        for steps in (2, 3, 4):
            early = alarm_times(0.7, ModelBars(smoulder=0.75, smoulder_early=(steps, 0.6)))
            assert early == pytest.approx([full[0] - 60.0 * (5 - steps)], abs=1.0)

    def test_without_a_firm_score_or_a_rule_no_early_alarm(self) -> None:
        """Under the early bar, without a rule (the model says none), or with it off: no
        alarm before the full watch's."""
        bars = ModelBars(smoulder=0.75, smoulder_early=(3, 0.6))
        assert alarm_times(0.55, bars) == []
        assert alarm_times(0.7, ModelBars(smoulder=0.75)) == []
        assert alarm_times(0.7, bars, {"early_steps": 0}) == []

    def test_config_overrides_the_model(self) -> None:
        """``[smoulder] early_steps`` / ``early_min_score`` win over the model's, both ways."""
        full = alarm_times(0.7, ModelBars(smoulder=0.1))
        assert alarm_times(0.7, ModelBars(smoulder=0.75),
                           {"early_steps": 3, "early_min_score": 0.65}
                           ) == pytest.approx([full[0] - 120.0], abs=1.0)
        assert alarm_times(0.7, ModelBars(smoulder=0.75, smoulder_early=(3, 0.6)),
                           {"early_steps": 3, "early_min_score": 0.72}) == []


def evidence_over(seconds: float, score: float, bars: ModelBars,
                  zone: tuple[tuple[int, int, int, int], ...] = ()
                  ) -> tuple[list[tuple[float, Evidence]], list[tuple[float, str]], set[str]]:
    """The smoulder and cooking-zone evidence (t, evidence) per frame, the alarms (t, reason)
    and the pre-alarm reasons of the daemon's sources over a pan put on at 60 s (8 K/min),
    at one frame a second, the model scoring ``score`` (threshold 0.8) and saying ``bars``;
    ``zone``: ``[lepton] cooking_zone``."""
    cfg = Config.model_validate({"sensors": {"lepton": {"cooking_zone": [list(z)
                                                                         for z in zone]}}})
    memory = SceneMemory(cfg.flame)
    pipe = Pipeline(FeatureExtractor(), FixedScorer(score),
                    AlarmStateMachine(AlarmConfig(pre_alarm_s=3.0), 0.8),
                    stale_after_s={"scd41": 1e6, "lepton": 1e6},
                    sources=build_sources(cfg, memory), scene=memory, model_bars=lambda: bars)
    scene = pan(60.0)
    found, alarms, warned = [], [], set()
    for t in np.arange(0.0, seconds, 1.0):
        pixels = np.round((scene(float(t)) + 273.15) / 0.1).astype(np.uint16)
        step = pipe.frame(ThermalFrame(float(t), pixels, 0.1))
        found += [(float(t), ev) for ev in step.evidence
                  if ev.source in ("smoulder", "cooking_zone")]
        alarms += [(ev.t, ev.alarm.reason) for ev in step.events
                   if ev.kind == "alarm" and ev.alarm is not None]
        if pipe.alarm.pre_alarm_reason is not None:
            warned.add(pipe.alarm.pre_alarm_reason[0])
    return found, alarms, warned


class TestEvidence:
    def test_seen_a_few_steps_without_a_firm_score_says_nothing(self) -> None:
        """Under the early bar, a spot seen for three or four steps gives no evidence at all
        (nothing to hold, nothing to say); the full watch's verdict is the first."""
        found, alarms, _ = evidence_over(700.0, 0.5,
                                         ModelBars(smoulder=0.75, smoulder_early=(3, 0.6)))
        assert alarms == [] and found
        assert all(ev.holds and not ev.triggers for _, ev in found)
        assert "heating:" in found[0][1].why  # the full verdict ("keeps heating")
        assert found[0][0] >= 60.0 + 5 * 60.0

    def test_a_pan_in_the_cooking_zone_only_warns_however_sure(self) -> None:
        """In the cooking zone a sure score and an early rule still only warn."""
        hob = ((30, 20, 50, 40),)
        found, alarms, warned = evidence_over(
            700.0, 0.7, ModelBars(smoulder=0.1, smoulder_early=(2, 0.5)), hob)
        assert alarms == [] and warned == {"cooking_zone"}
        assert found and all(ev.source == "cooking_zone" and not ev.triggers
                             for _, ev in found)


class TestTrainingRows:
    def test_rows_count_the_steps(self, overheat: Recording) -> None:
        """On a rendered overheat, every smouldering row counts the watch's five steps, three
        in a row come at least a step sooner; training rows carry the counts through
        concatenation and a subset."""
        seen = watches(overheat)
        assert seen.steady.shape == seen.smoulder.shape
        assert seen.smoulder.any() and (seen.steady[seen.smoulder] == 5).all()
        ds = Dataset.concat([recording_rows(overheat, "a", FeatureParams(), labels="observable"),
                             recording_rows(overheat, "b", FeatureParams(), watch=False)])
        half = len(ds) // 2
        t = ds.t[:half]
        assert ds.smoulder_steps[:half].tolist() == seen.steady.tolist()
        assert not ds.smoulder_steps[half:].any()
        assert t[seen.steady >= 3].min() <= t[seen.smoulder].min() - 60.0
        keep = np.zeros(len(ds), bool)
        keep[:half] = True
        assert subset(ds, keep).smoulder_steps.tolist() == seen.steady.tolist()


def early_data(runs: list[tuple[float | None, list[float], list[bool], list[int]]]
               ) -> Dataset:
    """As ``tests.test_smoulder_bar.dataset``, each run with its steps in a row too."""
    ds = dataset([(t0, p, s) for t0, p, s, _ in runs])
    ds.smoulder_steps = np.concatenate([np.asarray(n, np.int8) for *_, n in runs])
    return ds


def early(ds: Dataset, **kw: float) -> EarlyBar:
    """The early rule on every run of ``ds`` (one no-fire stream suffices to write it)."""
    out = choose(ds, **{"min_streams": 1, **kw}).early
    assert out is not None
    return out


def of(eb: EarlyBar, steps: int) -> EarlyCandidate:
    return next(c for c in eb.candidates if c.steps == steps)


class TestChoice:
    def test_bar_per_step_count_over_the_highest_nuisance(self) -> None:
        """Per step count, the bar is the highest score of a no-fire stream on a row seen that
        long, plus the margin; rows seen less long, or after ignition, do not count. The count
        that gains the most seconds over the full watch (bar 0.25 from its weakest fire) is
        written; a fire only it finds counts the steps it saves."""
        fire = (0.0, [0.4, 0.9, 0.9, 0.4, 0.4, 0.4], [F, F, F, T, T, T],
                [0, 2, 3, 5, 5, 5])  # 2 steps at 10 s, 3 at 20 s (0.9); the full watch 30 s
        hob = (None, [0.99, 0.7, 0.72, 0.5], [F, F, F, F], [0, 2, 2, 3])
        oven = (None, [0.6, 0.6], [F, F], [4, 4])
        before = (50.0, [0.8] * 5 + [0.96], [F] * 6, [0] * 5 + [4])  # seen only once burning
        ds = early_data([fire, hob, oven, before])
        assert choose(ds).bar == pytest.approx(0.25)
        eb = early(ds)
        two, three, four = of(eb, 2), of(eb, 3), of(eb, 4)
        assert (two.highest_nuisance, two.streams, two.bar) == (
            pytest.approx(0.72), 2, pytest.approx(0.77))
        assert (three.highest_nuisance, three.streams, three.bar) == (
            pytest.approx(0.6), 2, pytest.approx(0.65))
        assert (four.highest_nuisance, four.streams, four.bar) == (
            pytest.approx(0.6), 1, pytest.approx(0.65))
        # 2 steps: the fire 20 s sooner; ``before`` (4 steps, 0.96) found by it alone: +180 s.
        assert (two.fires, two.sooner, two.gain_s, two.median_gain_s) == (2, 2, 200.0, 20.0)
        assert (three.fires, three.sooner, three.gain_s) == (2, 2, 10.0 + 120.0)
        assert (four.fires, four.sooner, four.gain_s) == (2, 1, 60.0)
        assert eb.rule == (2, pytest.approx(0.77))
        assert early(ds, margin=0.1).rule == (2, pytest.approx(0.82))

    def test_floors(self) -> None:
        """Never under ``EARLY_FLOOR`` nor the full watch's own bar."""
        fire = (0.0, [0.95, 0.95], [F, T], [3, 5])  # weakest 0.95: full bar 0.905
        low = (None, [0.1], [F], [4])
        assert of(early(early_data([fire, low])), 3).bar == pytest.approx(0.95 / 1.05)
        fire = (0.0, [0.3, 0.3], [T, T], [5, 5])
        assert of(early(early_data([fire, low])), 3).bar == EARLY_FLOOR

    def test_no_rule_without_nuisances_over_the_ceiling_or_a_gain(
            self, caplog: pytest.LogCaptureFixture) -> None:
        """A step count no no-fire stream reaches (nothing to choose on), or whose nuisances
        reach the ceiling less the margin, has no bar; with no count alarming a fire sooner,
        no rule is written, and that is logged."""
        fire = (0.0, [0.9, 0.9], [T, T], [5, 5])
        with caplog.at_level(logging.WARNING, "cloud.training.smoulder_bar"):
            none = early(early_data([fire, (None, [0.99], [F], [0])]))
            high = early(early_data([(0.0, [0.99, 0.2], [F, T], [4, 5]),
                                     (None, [EARLY_CEILING - 0.04], [F], [4])]))
        assert none.rule is None and of(none, 3).highest_nuisance is None
        assert of(none, 3).fires == 1 and of(none, 3).bar is None
        assert high.rule is None and of(high, 4).bar is None and of(high, 4).streams == 1
        assert caplog.text.count("none written") == 2

    def test_too_few_no_fire_streams_no_rule(self, caplog: pytest.LogCaptureFixture
                                              ) -> None:
        """Under ``min_streams`` validation no-fire streams (300 by default: none of 300
        alarming bounds the rate under 1 % by the rule of three) the rule is not written, and
        what it would be is logged; the candidates are still reported."""
        assert 3 / MIN_STREAMS <= 0.01
        fire = (0.0, [0.4, 0.9, 0.9, 0.4], [F, F, F, T], [0, 2, 3, 5])
        quiet = [(None, [0.1, 0.3], [F, F], [0, 2]), (None, [0.2], [F], [0])]
        ds = early_data([fire, *quiet])
        assert early(ds, min_streams=2).rule == (2, pytest.approx(0.5))
        with caplog.at_level(logging.WARNING, "cloud.training.smoulder_bar"):
            out = early(ds, min_streams=3)
        assert out.rule is None and out.streams == 2 and of(out, 2).bar == pytest.approx(0.5)
        assert "fewer than 3; none written (it would be 2 steps at 0.500)" in caplog.text
        default = choose(ds).early  # at least 300
        assert default is not None and default.rule is None and default.min_streams == 300

    def test_bad_margin_refused(self) -> None:
        """A margin outside [0, 1) is refused, saying what is allowed."""
        with pytest.raises(ValueError, match=r"margin 1\.0; allowed"):
            choose(early_data([(0.0, [0.5], [T], [5])]), margin=1.0)
