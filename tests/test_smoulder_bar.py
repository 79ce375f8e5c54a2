"""The smoulder watch's corroboration bar: chosen on validation runs
(cloud.training.smoulder_bar), carried by the model, used by the device unless configured."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from cloud.training.corroborate import watch_rows, watches
from cloud.training.data import Dataset, Group, recording_rows
from cloud.training.fleet import subset
from cloud.training.smoulder_bar import (
    CURVE_BARS,
    MIN_FIRES,
    ODDS_FACTOR,
    SmoulderBar,
    choose_smoulder_bar,
    odds_scaled,
)
from edge.config import Config
from edge.config.alarm import AlarmConfig
from edge.detect.alarm import AlarmStateMachine
from edge.detect.evidence import ModelBars, build_sources
from edge.detect.pipeline import Pipeline
from edge.detect.scene import SceneMemory
from edge.features import FeatureExtractor, FeatureParams, featurize_recording
from edge.recording import Recording
from edge.sim.scenarios import render_recording
from edge.types import ThermalFrame
from tests.fixedscore import FixedScorer
from tests.test_cooking_zone import Scene, pan


def smoulder_alarms(scene: Scene, seconds: float, score: float, bars: ModelBars,
                    settings: dict[str, object] | None = None) -> list[tuple[float, str]]:
    """(t, reason) of each alarm of the daemon's sources over ``scene`` at one frame a second,
    the model scoring ``score`` (threshold 0.8) and saying ``bars``; ``settings``: the
    ``[smoulder]`` section."""
    cfg = Config.model_validate({"smoulder": settings or {}})
    memory = SceneMemory(cfg.flame)
    pipe = Pipeline(FeatureExtractor(), FixedScorer(score),
                    AlarmStateMachine(AlarmConfig(pre_alarm_s=3.0), 0.8),
                    stale_after_s={"scd41": 1e6, "lepton": 1e6},
                    sources=build_sources(cfg, memory), scene=memory,
                    model_bars=lambda: bars)
    out = []
    for t in np.arange(0.0, seconds, 1.0):
        pixels = np.round((scene(float(t)) + 273.15) / 0.1).astype(np.uint16)
        out += [(ev.t, ev.alarm.reason) for ev in pipe.frame(ThermalFrame(float(t), pixels, 0.1))
                .events if ev.kind == "alarm" and ev.alarm is not None]
    return out


class TestDevice:
    def test_model_bar_silences_a_spot_the_model_rules_out(self) -> None:
        """A pan heating steadily (no cooking zone) alarms as a smoulder when the model's
        score reaches its smoulder bar, and not when it stays under it."""
        assert smoulder_alarms(pan(60.0), 700.0, 0.05, ModelBars(smoulder=0.1)) == []
        found = smoulder_alarms(pan(60.0), 700.0, 0.12, ModelBars(smoulder=0.1))
        assert [r for _, r in found] == ["smoulder"] and 360.0 <= found[0][0] <= 560.0

    def test_without_a_bar_the_watch_alone_alarms(self) -> None:
        """No bar from the model nor the config: the watch alone decides (bar 0), and the
        flame bar is not the smoulder bar."""
        assert [r for _, r in smoulder_alarms(pan(60.0), 700.0, 0.01, ModelBars())] == [
            "smoulder"]
        assert [r for _, r in smoulder_alarms(pan(60.0), 700.0, 0.01, ModelBars(flame=0.9))
                ] == ["smoulder"]

    def test_config_overrides_the_model(self) -> None:
        """``[smoulder] min_score`` wins over the model's bar, both ways."""
        assert [r for _, r in smoulder_alarms(pan(60.0), 700.0, 0.05, ModelBars(smoulder=0.1),
                                              {"min_score": 0.0})] == ["smoulder"]
        assert smoulder_alarms(pan(60.0), 700.0, 0.5, ModelBars(smoulder=0.1),
                               {"min_score": 0.6}) == []

    def test_config_default_is_the_model_bar(self) -> None:
        """Unset, ``[smoulder] min_score`` is None (the model's); out of range is refused."""
        assert Config().smoulder.min_score is None
        with pytest.raises(ValueError, match="min_score"):
            Config.model_validate({"smoulder": {"min_score": 1.5}})


@pytest.fixture(scope="module")
def overheat() -> Recording:
    """An electrical overheat in full view, 1200 s at 1 Hz: the smoulder watch finds it."""
    return render_recording("electrical_overheat", 5, 1200.0, frame_rate_hz=1.0,
                            camera_occlusion=0.0, camera_distance_m=2.0)


def pipeline_smoulders(rec: Recording) -> list[bool]:
    """Per frame, whether the pipeline's smoulder source triggers at a bar of 0 (so exactly
    when the watch says smouldering)."""
    cfg = Config.model_validate({"smoulder": {"min_score": 0.0}, "flame": {"enabled": False}})
    memory = SceneMemory(cfg.flame)
    pipe = Pipeline(FeatureExtractor(), FixedScorer(0.0), AlarmStateMachine(AlarmConfig(), 0.8),
                    stale_after_s={"scd41": 1e6, "lepton": 1e6},
                    sources=build_sources(cfg, memory), scene=memory)
    out = []
    for t, pixels in zip(rec.frame_t.tolist(), rec.frames, strict=True):
        found = pipe.frame(ThermalFrame(t, pixels, rec.frame_resolution_k)).evidence
        out.append(any(e.source == "smoulder" and e.triggers for e in found))
    return out


class TestWatchRows:
    def test_rows_say_what_the_device_pipeline_says(self, overheat: Recording) -> None:
        """Per frame row, the training rows' smoulder verdict is the pipeline's smoulder
        source's, the flame verdict is unchanged, and the watch does find this fire."""
        seen = watches(overheat)
        t, _ = featurize_recording(overheat, FeatureParams())
        assert seen.smoulder.shape == seen.flame.shape == t.shape
        frame_rows = np.isin(t, overheat.frame_t)
        assert seen.smoulder[frame_rows].tolist() == pipeline_smoulders(overheat)
        assert seen.smoulder.any() and not seen.smoulder[~frame_rows].any()
        assert overheat.fire_start_s is not None
        assert not seen.smoulder[t < overheat.fire_start_s].any()
        assert seen.flame.tolist() == watch_rows(overheat).tolist()

    def test_training_rows_carry_it(self, overheat: Recording) -> None:
        """recording_rows keeps the verdict beside each row through concatenation and a
        fleet-style subset."""
        ds = Dataset.concat([recording_rows(overheat, "a", FeatureParams(), labels="observable"),
                             recording_rows(overheat, "b", FeatureParams(), watch=False)])
        half = len(ds) // 2
        assert ds.smoulder[:half].tolist() == watches(overheat).smoulder.tolist()
        assert not ds.smoulder[half:].any()
        keep = np.zeros(len(ds), bool)
        keep[:half] = True
        assert subset(ds, keep).smoulder.tolist() == ds.smoulder[:half].tolist()


def dataset(runs: list[tuple[float | None, list[float], list[bool]]]) -> Dataset:
    """Runs of (fire start, scores, smoulder verdicts), one row every 10 s; the scores go
    in the first feature column (the tests pass them as ``p``)."""
    X, y, group, t, smoulder, groups = [], [], [], [], [], []
    for g, (t0, p, s) in enumerate(runs):
        n = len(p)
        tt = np.arange(n, dtype=np.float64) * 10.0
        X.append(np.asarray(p, np.float32)[:, None])
        y.append((tt >= (np.inf if t0 is None else t0)).astype(np.int8))
        group.append(np.full(n, g, np.int32))
        t.append(tt)
        smoulder.append(np.asarray(s, bool))
        groups.append(Group(f"r{g}", "F3" if t0 is not None else "N2", t0, 10.0 * n,
                            "recording"))
    return Dataset(np.concatenate(X), np.concatenate(y), np.concatenate(group),
                   np.concatenate(t), np.ones(sum(len(r[1]) for r in runs), bool), groups,
                   smoulder=np.concatenate(smoulder))


def choose(ds: Dataset, min_fires: int = 1, **kw: float) -> SmoulderBar:
    """The bar on every run of ``ds`` (one fire found suffices unless ``min_fires`` says)."""
    rows = np.arange(len(ds))
    return choose_smoulder_bar(ds, ds.X[:, 0].astype(np.float64), rows,
                               range(len(ds.groups)), min_fires=min_fires, **kw)


F, T = False, True


class TestChoice:
    def test_odds(self) -> None:
        """Half the odds: 0.2 (odds 1/4) → 1/9; 0.5 → 1/3; 0 stays 0; bad input refused."""
        assert odds_scaled(0.2, 0.5) == pytest.approx(1 / 9)
        assert odds_scaled(0.5, 0.5) == pytest.approx(1 / 3)
        assert odds_scaled(0.0, 0.5) == 0.0
        for p, f in ((1.0, 0.5), (-0.1, 0.5), (0.3, 0.0), (0.3, float("nan"))):
            with pytest.raises(ValueError, match="allowed"):
                odds_scaled(p, f)

    def test_weakest_fire_within_a_step_sets_the_bar(self) -> None:
        """Each fire's score when found is its highest within one step (60 s) of the first
        smouldering row; the bar is the weakest of them at half its odds. A higher score
        later in the fire does not count; rows before ignition are the no-fire stream."""
        fire_a = (20.0, [0.9, 0.9, 0.1, 0.1, 0.3, 0.25, 0.2, 0.2, 0.2, 0.2, 0.9, 0.9],
                  [T, T, F, F, T, T, T, T, T, T, T, T])  # found at 40 s: 0.3 by 90 s
        fire_b = (0.0, [0.6, 0.6, 0.6], [F, T, T])
        ds = dataset([fire_a, fire_b])
        out = choose(ds)
        assert out.weakest_fire == pytest.approx(0.3) and out.fires == 2
        assert out.bar == pytest.approx(odds_scaled(0.3, ODDS_FACTOR))
        # fire_a's rows before 20 s smoulder at 0.9: a no-fire stream over the bar.
        assert out.streams == 1 and out.smouldering_streams == 1 and out.silenced == 0

    def test_nuisances_under_the_bar_are_silenced(self) -> None:
        """No-fire streams the watch smoulders in are silenced when their highest score while
        smouldering is under the bar; a stream that never smoulders is counted, not silenced;
        the curve counts streams alarming and fires found per bar."""
        fire = (0.0, [0.4, 0.4, 0.4], [T, T, T])  # weakest 0.4 → bar 0.25
        pan_ = (None, [0.9, 0.05, 0.08, 0.06], [F, T, T, T])  # 0.9 while not smouldering
        oil = (None, [0.3, 0.35], [T, T])
        quiet = (None, [0.99, 0.99], [F, F])
        out = choose(dataset([fire, pan_, oil, quiet]))
        assert out.bar == pytest.approx(0.25)
        assert (out.streams, out.smouldering_streams, out.silenced) == (3, 2, 1)
        curve = {b: rest for b, *rest in out.curve}
        assert tuple(curve) == CURVE_BARS
        assert curve[0.05] == [2, 1, 1] and curve[0.1] == [1, 1, 1]
        assert curve[0.4] == [0, 1, 1] and curve[0.5] == [0, 0, 0]

    def test_too_few_fires_no_bar(self, caplog: pytest.LogCaptureFixture) -> None:
        """Fewer fires found than ``min_fires``: no bar, what it would be is reported and
        logged, and nothing is silenced. The default asks for 59 (the weakest of 59 is under
        the 5th percentile with 95 % confidence)."""
        assert 0.95 ** MIN_FIRES < 0.05 <= 0.95 ** (MIN_FIRES - 1)
        ds = dataset([(0.0, [0.4, 0.4], [T, T]), (0.0, [0.6], [T]),
                      (None, [0.05, 0.05], [T, T])])
        with caplog.at_level(logging.WARNING, "cloud.training.smoulder_bar"):
            out = choose(ds, min_fires=3)
        assert out.bar is None and out.bar_if_chosen == pytest.approx(0.25)
        assert out.fires == 2 and out.silenced == 0 and "fewer than 3" in caplog.text
        assert choose(ds, min_fires=2).bar == pytest.approx(0.25)
        assert choose(ds, min_fires=2).silenced == 1
        rows = np.arange(len(ds))
        assert choose_smoulder_bar(ds, ds.X[:, 0].astype(np.float64), rows, [0, 1, 2]
                                   ).bar is None
        with pytest.raises(ValueError, match="min_fires 0"):
            choose(ds, min_fires=0)

    def test_no_fire_found_no_bar(self) -> None:
        """No fire the watch finds (none smoulders, or only before ignition): no bar."""
        out = choose(dataset([(50.0, [0.5] * 10, [T] * 5 + [F] * 5),
                              (None, [0.2, 0.2], [T, T])]))
        assert out.bar is None and out.fires == 0 and out.silenced == 0
        assert out.smouldering_streams == 2

    def test_a_fire_without_scores_is_left_out(self, caplog: pytest.LogCaptureFixture
                                               ) -> None:
        """A fire whose scores are all NaN in its first step is not counted, and is logged."""
        ds = dataset([(0.0, [float("nan")] * 3, [T, T, T]), (0.0, [0.5, 0.5], [T, T])])
        with caplog.at_level(logging.WARNING, "cloud.training.smoulder_bar"):
            out = choose(ds)
        assert out.fires == 1 and out.weakest_fire == pytest.approx(0.5)
        assert "r0" in caplog.text

    def test_bad_input_is_refused(self) -> None:
        """Scores not one per row, a step or factor ≤ 0: refused, saying what is allowed."""
        ds = dataset([(0.0, [0.5, 0.5], [T, T])])
        with pytest.raises(ValueError, match="1 scores for 2 rows"):
            choose_smoulder_bar(ds, np.zeros(1), np.arange(2), [0])
        with pytest.raises(ValueError, match="step"):
            choose(ds, step_s=0.0)
        with pytest.raises(ValueError, match="odds factor"):
            choose(ds, odds_factor=-1.0)
