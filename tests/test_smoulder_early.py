"""The smoulder watch's early verdict: three steps of heating or spreading alarm when the
model firmly says fire (edge.detect.smoulder, edge.detect.evidence), at a bar training
chooses as the lowest no validation nuisance reaches (cloud.training.smoulder_bar)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from pydantic import ValidationError

from cloud.training.corroborate import watches
from cloud.training.data import Dataset, recording_rows
from cloud.training.fleet import subset
from cloud.training.smoulder_bar import EARLY_CEILING, EARLY_FLOOR, EarlyBar
from edge.config import Config
from edge.config.smoulder import SmoulderConfig
from edge.detect.evidence import ModelBars
from edge.detect.smoulder import SmoulderWatch
from edge.features import FeatureParams
from edge.recording import Recording
from tests.test_cooking_zone import pan
from tests.test_smoulder_bar import F, T, choose, dataset, overheat, smoulder_alarms

__all__ = ["overheat"]  # the fixture, shared


def alarm_times(score: float, bars: ModelBars,
                settings: dict[str, object] | None = None) -> list[float]:
    """When a pan put on at 60 s, heating a steady 8 K/min, alarms as a smoulder."""
    found = smoulder_alarms(pan(60.0), 700.0, score, bars, settings)
    assert all(reason == "smoulder" for _, reason in found)
    return [t for t, _ in found]


class TestWatch:
    def test_early_after_three_steps_smouldering_after_five(self) -> None:
        """A spot heating 10 K a step: early from the close of its third rise, two steps
        before the full verdict; with ``early_steps = 0``, early only when smouldering."""
        on = np.zeros((60, 80), np.float64)
        on[30, 40] = 10.0  # the pixel got hot at 10 s: new to the scene
        watch = SmoulderWatch()
        off = SmoulderWatch(SmoulderConfig(early_steps=0))
        first_early = first_smoulder = None
        for t in np.arange(0.0, 480.0, 5.0):
            frame = np.full((60, 80), 20.0)
            frame[30, 40] = 200.0 + 10.0 * (t // 60.0)
            seen = watch.update(float(t), frame, on)
            alone = off.update(float(t), frame, on)
            assert alone.early == alone.smouldering == seen.smouldering
            if seen.early and first_early is None:
                first_early = t
            if seen.smouldering and first_smoulder is None:
                first_smoulder = t
        # Step k is [60k, 60k + 60); three rises need four closed steps, five need six.
        assert first_early == 240.0 and first_smoulder == 360.0

    def test_confirmed_spot_persists(self) -> None:
        """Once the early verdict alarmed (``confirm``), the spot is held as found while it
        stays in view, as a spot the full watch found; unconfirmed, it is not."""
        on = np.zeros((60, 80), np.float64)
        for confirm in (True, False):
            watch = SmoulderWatch()
            seen = None
            for t in np.arange(0.0, 420.0, 5.0):
                frame = np.full((60, 80), 20.0)
                frame[30, 40] = 200.0 + 10.0 * min(t // 60.0, 3.0)  # stops heating at 180 s
                seen = watch.update(float(t), frame, on)
                if seen.early and confirm:
                    watch.confirm()
            assert seen is not None and not seen.smouldering and not seen.early
            assert seen.persists is confirm and seen.holds is confirm

    def test_config(self) -> None:
        """``early_steps`` defaults to 3, must be fewer than ``steps``; ``early_min_score``
        defaults to the model's, and must be a score."""
        assert Config().smoulder.early_steps == 3 and Config().smoulder.early_min_score is None
        with pytest.raises(ValidationError, match="early_steps 5 with steps 5"):
            SmoulderConfig(early_steps=5)
        with pytest.raises(ValidationError, match="early_min_score"):
            Config.model_validate({"smoulder": {"early_min_score": 1.2}})


class TestDevice:
    def test_a_firm_score_alarms_two_steps_sooner(self) -> None:
        """Scored 0.7 (alarm threshold 0.8): at the model's smoulder bar 0.1 the full watch
        alarms; at 0.75 it cannot, and the early bar 0.6 alarms two steps (120 s) sooner."""
        full = alarm_times(0.7, ModelBars(smoulder=0.1))
        early = alarm_times(0.7, ModelBars(smoulder=0.75, smoulder_early=0.6))
        assert len(full) == len(early) == 1
        assert early[0] == pytest.approx(full[0] - 120.0, abs=1.0)

    def test_without_a_firm_score_or_a_bar_no_early_alarm(self) -> None:
        """Under the early bar, without one (the model says none), or with the early watch
        off: no alarm before the full watch's."""
        assert alarm_times(0.55, ModelBars(smoulder=0.75, smoulder_early=0.6)) == []
        assert alarm_times(0.7, ModelBars(smoulder=0.75)) == []
        assert alarm_times(0.7, ModelBars(smoulder=0.75, smoulder_early=0.6),
                           {"early_steps": 0}) == []

    def test_config_overrides_the_model(self) -> None:
        """``[smoulder] early_min_score`` wins over the model's early bar, both ways."""
        full = alarm_times(0.7, ModelBars(smoulder=0.1))
        assert alarm_times(0.7, ModelBars(smoulder=0.75),
                           {"early_min_score": 0.65}) == pytest.approx([full[0] - 120.0],
                                                                       abs=1.0)
        assert alarm_times(0.7, ModelBars(smoulder=0.75, smoulder_early=0.6),
                           {"early_min_score": 0.72}) == []


class TestTrainingRows:
    def test_early_rows_lead_the_full_verdict(self, overheat: Recording) -> None:
        """On a rendered overheat, every smouldering row is early, and the early verdict comes
        at least a step sooner; training rows carry it through concatenation and a subset."""
        seen = watches(overheat)
        assert seen.early.shape == seen.smoulder.shape
        assert seen.smoulder.any() and not (seen.smoulder & ~seen.early).any()
        ds = Dataset.concat([recording_rows(overheat, "a", FeatureParams(), labels="observable"),
                             recording_rows(overheat, "b", FeatureParams(), watch=False)])
        t = ds.t[: len(ds) // 2]
        half = len(ds) // 2
        assert ds.smoulder_early[:half].tolist() == seen.early.tolist()
        assert not ds.smoulder_early[half:].any()
        assert t[seen.early].min() <= t[seen.smoulder].min() - 60.0
        keep = np.zeros(len(ds), bool)
        keep[:half] = True
        assert subset(ds, keep).smoulder_early.tolist() == seen.early.tolist()


def early_data(runs: list[tuple[float | None, list[float], list[bool], list[bool]]]
               ) -> Dataset:
    """As ``tests.test_smoulder_bar.dataset``, each run with its early verdicts too."""
    ds = dataset([(t0, p, s) for t0, p, s, _ in runs])
    ds.smoulder_early = np.concatenate([np.asarray(e, bool) for *_, e in runs])
    return ds


def early(ds: Dataset, **kw: float) -> EarlyBar:
    """The early bar on every run of ``ds``."""
    out = choose(ds, **kw).early
    assert out is not None
    return out


class TestChoice:
    def test_bar_is_over_the_highest_nuisance(self) -> None:
        """The bar is the highest score of a no-fire stream on an early row, plus the margin;
        scores on rows the verdict does not hold, or after ignition, do not count. A fire it
        alarms on before the full watch (bar 0.25 from its weakest fire) is counted, with
        its gain."""
        fire = (0.0, [0.4, 0.9, 0.9, 0.4, 0.4, 0.4], [F, F, F, T, T, T],
                [F, T, T, T, T, T])  # early at 10 s at 0.9; the full watch at 30 s
        hob = (None, [0.99, 0.7, 0.72], [F, F, F], [F, T, T])
        oven = (None, [0.6, 0.6], [F, F], [T, T])
        before = (50.0, [0.8] * 5 + [0.96], [F] * 6, [F] * 5 + [T])  # early only once burning
        ds = early_data([fire, hob, oven, before])
        assert choose(ds).bar == pytest.approx(0.25)
        eb = early(ds)
        assert eb.highest_nuisance == pytest.approx(0.72) and eb.streams == 2
        assert eb.bar == pytest.approx(0.77)
        # ``before`` alarms early and never by the full watch: sooner, but no gain to count.
        assert (eb.fires, eb.sooner, eb.median_gain_s) == (2, 2, 20.0)
        assert early(ds, margin=0.1).bar == pytest.approx(0.82)

    def test_floors(self) -> None:
        """Never under ``EARLY_FLOOR`` nor the full watch's own bar."""
        fire = (0.0, [0.9, 0.9], [T, T], [T, T])  # weakest 0.9: full bar 0.818
        low = (None, [0.1], [F], [T])
        assert early(early_data([fire, low])).bar == pytest.approx(
            max(EARLY_FLOOR, 0.9 / (0.9 + 2 * 0.1)))
        fire = (0.0, [0.3, 0.3], [T, T], [T, T])
        assert early(early_data([fire, low])).bar == EARLY_FLOOR

    def test_no_bar_without_nuisances_or_over_the_ceiling(
            self, caplog: pytest.LogCaptureFixture) -> None:
        """No no-fire stream meets the early verdict (nothing to choose on), or the highest
        reaches the ceiling less the margin: no bar, logged, and no fire counted sooner."""
        fire = (0.0, [0.9, 0.9], [T, T], [T, T])
        with caplog.at_level(logging.WARNING, "cloud.training.smoulder_bar"):
            none = early(early_data([fire, (None, [0.99], [F], [F])]))
            high = early(early_data([fire, (None, [EARLY_CEILING - 0.04], [F], [T])]))
        assert none.bar is None and none.highest_nuisance is None and none.fires == 1
        assert high.bar is None and high.sooner == 0 and high.streams == 1
        assert "nothing to choose on" in caplog.text and "none written (over" in caplog.text

    def test_bad_margin_refused(self) -> None:
        """A margin outside [0, 1) is refused, saying what is allowed."""
        with pytest.raises(ValueError, match=r"margin 1\.0; allowed"):
            choose(early_data([(0.0, [0.5], [T], [T])]), margin=1.0)
