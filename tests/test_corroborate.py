"""The flame watch's corroboration bar, chosen on validation runs (cloud.training.corroborate)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from cloud.training.corroborate import (
    CEILING,
    FLOOR,
    LADDER_MIN_STREAMS,
    LADDER_S,
    WATCH_GROWING,
    WATCH_SURE,
    choose_flame_bar,
    watch_rows,
)
from cloud.training.data import Dataset, Group, recording_rows
from edge.config import FlameConfig
from edge.config.alarm import AlarmConfig
from edge.detect.alarm import AlarmStateMachine
from edge.detect.evidence import FlameSource
from edge.detect.flame import FlameWatch
from edge.detect.pipeline import Pipeline
from edge.detect.scene import SceneMemory
from edge.features import FeatureExtractor, FeatureParams, featurize_recording
from edge.recording import Recording
from edge.sim.scenarios import render_recording
from edge.types import ThermalFrame
from tests.fixedscore import FixedScorer


@pytest.fixture(scope="module")
def fire() -> Recording:
    """A flaming fire in full view, 400 s at 2 Hz."""
    return render_recording("fast_flaming", 3, 400.0, frame_rate_hz=2.0,
                            camera_occlusion=0.0, camera_distance_m=2.5)


def pipeline_watch(rec: Recording) -> list[int]:
    """Per frame, what the pipeline's flame source says (0 none, 1 growing, 2 sure), with a
    bar of 0 so that it triggers exactly when the flame grows."""
    memory = SceneMemory()
    pipe = Pipeline(FeatureExtractor(), FixedScorer(0.0),
                    AlarmStateMachine(AlarmConfig(), 0.8),
                    stale_after_s={"scd41": 1e6, "lepton": 1e6},
                    sources=[FlameSource(FlameConfig(min_score=0.0), memory)], scene=memory)
    out = []
    for t, pixels in zip(rec.frame_t.tolist(), rec.frames, strict=True):
        found = pipe.frame(ThermalFrame(t, pixels, rec.frame_resolution_k)).evidence
        flame = [e for e in found if e.source == "flame_growth" and e.triggers]
        out.append(0 if not flame else 2 if "step after step" in flame[0].why else 1)
    return out


class TestWatchRows:
    def test_rows_say_what_the_device_pipeline_says(self, fire: Recording) -> None:
        """Per frame row, watch_rows gives what the device's flame source says of that frame
        in the pipeline (growing, sure or nothing), and the watch does see this fire grow."""
        rows = watch_rows(fire)
        t, _ = featurize_recording(fire, FeatureParams())
        assert rows.shape == t.shape
        frame_rows = np.isin(t, fire.frame_t)
        assert frame_rows.sum() == fire.frame_t.size
        assert rows[frame_rows].tolist() == pipeline_watch(fire)
        assert (rows == WATCH_GROWING).any() and (rows == WATCH_SURE).any()
        assert not rows[t < fire.fire_start_s].any()

    def test_gas_rows_say_nothing(self, fire: Recording) -> None:
        """Rows of SCD41 readings taken while the frames were stale carry no watch verdict."""
        cut = fire.frame_t < 150.0
        gap = Recording(fire.frame_t[cut], fire.frames[cut], fire.gas_t, fire.co2_ppm,
                        fire.temperature_c, fire.humidity_pct, fire.frame_resolution_k,
                        dict(fire.meta))
        rows = watch_rows(gap)
        t, _ = featurize_recording(gap, FeatureParams())
        assert rows.shape == t.shape and (t > 200.0).any()
        assert not rows[t > 200.0].any()

    def test_training_rows_carry_it(self, fire: Recording) -> None:
        """recording_rows keeps the watch's verdict and growing time beside each row, so the
        training data carries them through concatenation."""
        ds = Dataset.concat([recording_rows(fire, "a", FeatureParams(), labels="observable"),
                             recording_rows(fire, "b", FeatureParams(), watch=False)])
        half = len(ds) // 2
        assert ds.watch[:half].tolist() == watch_rows(fire).tolist()
        assert not ds.watch[half:].any()
        grown = ds.watch_s[:half]
        assert (np.isnan(grown) == (ds.watch[:half] == 0)).all()
        assert np.nanmin(grown) == 0.0 and np.nanmax(grown) >= 10.0
        assert np.isnan(ds.watch_s[half:]).all()


def dataset(runs: list[tuple[float | None, list[float], list[int]]]) -> Dataset:
    """Runs of (fire start, scores, watch verdicts), one row a second; the scores go in the
    first feature column (the tests pass them as ``p``); growing times as the device's watch
    counts them (``FlameWatch.growing_for``)."""
    X, y, group, t, watch, groups, grown = [], [], [], [], [], [], []
    for g, (t0, p, w) in enumerate(runs):
        counter = FlameWatch()
        grown.append(np.array([counter.growing_for(float(i)) if v else np.nan
                               for i, v in enumerate(w)], np.float32))
        n = len(p)
        tt = np.arange(n, dtype=np.float64)
        X.append(np.asarray(p, np.float32)[:, None])
        y.append((tt >= (np.inf if t0 is None else t0)).astype(np.int8))
        group.append(np.full(n, g, np.int32))
        t.append(tt)
        watch.append(np.asarray(w, np.int8))
        groups.append(Group(f"r{g}", "F1" if t0 is not None else "N1", t0, float(n),
                            "recording"))
    return Dataset(np.concatenate(X), np.concatenate(y), np.concatenate(group),
                   np.concatenate(t), np.ones(sum(len(r[1]) for r in runs), bool), groups,
                   watch=np.concatenate(watch), watch_s=np.concatenate(grown))


def bar_of(ds: Dataset, margin: float = 0.05) -> float:
    rows = np.arange(len(ds))
    return choose_flame_bar(ds, ds.X[:, 0].astype(np.float64), rows, range(len(ds.groups)),
                            margin).bar


class TestChooseFlameBar:
    def test_the_highest_corroborated_nuisance_growth_plus_the_margin(self) -> None:
        """The bar clears every growing frame of every no-fire stream: the highest such score
        plus the margin; scores where the watch saw no growth do not count."""
        ds = dataset([(None, [0.9, 0.4, 0.6, 0.1], [0, 1, 1, 0]),
                      (None, [0.5, 0.55], [1, 0])])
        assert bar_of(ds) == pytest.approx(0.65)

    def test_a_fire_run_before_ignition_is_a_nuisance(self) -> None:
        """An oil pan growing hot before it ignites counts against the bar; the same run's
        growth after ignition does not, and is reported as a corroborated fire."""
        ds = dataset([(3.0, [0.5, 0.7, 0.1, 0.8, 0.9], [0, 1, 0, 1, 1])])
        fb = choose_flame_bar(ds, ds.X[:, 0].astype(np.float64), np.arange(len(ds)), [0])
        assert fb.bar == pytest.approx(0.75)
        assert (fb.fires, fb.fires_corroborated, fb.median_wait_s) == (1, 1, 0.0)

    def test_fire_waits_and_misses_are_reported(self) -> None:
        """A fire whose growth is corroborated only later waits that long; one never
        corroborated (and never sure) counts as a growing fire but not a corroborated one."""
        ds = dataset([(None, [0.6], [1]),
                      (0.0, [0.3, 0.5, 0.7, 0.9], [1, 1, 1, 1]),
                      (0.0, [0.3, 0.3, 0.3], [1, 1, 1]),
                      (0.0, [0.1, 0.1], [1, 2])])
        fb = choose_flame_bar(ds, ds.X[:, 0].astype(np.float64), np.arange(len(ds)),
                              range(4))
        assert fb.bar == pytest.approx(0.65)
        assert (fb.fires, fb.fires_corroborated) == (3, 2)
        assert fb.median_wait_s == pytest.approx(1.5)  # 2 s and 1 s (the sure one)

    def test_the_trade_off_curve(self) -> None:
        """The report's curve says, per bar, how many no-fire streams would alarm (a sure one
        at every bar), how many growing fires alarm and after how long."""
        ds = dataset([(None, [0.65], [1]), (None, [0.1, 0.1], [2, 0]),
                      (0.0, [0.3, 0.5, 0.9], [1, 1, 1])])
        fb = choose_flame_bar(ds, ds.X[:, 0].astype(np.float64), np.arange(len(ds)),
                              range(3))
        curve = {b: rest for b, *rest in fb.curve}
        assert curve[0.3] == [2, 1, 0.0]
        assert curve[0.6] == [2, 1, 2.0]
        assert curve[0.7] == [1, 1, 2.0]
        assert curve[0.95] == [1, 0, None]

    def test_sure_growth_is_counted_not_barred(self) -> None:
        """A no-fire stream the watch is sure of alarms whatever the score: it does not raise
        the bar (no bar removes it) and is counted."""
        ds = dataset([(None, [0.99, 0.3], [2, 1])])
        fb = choose_flame_bar(ds, ds.X[:, 0].astype(np.float64), np.arange(len(ds)), [0])
        assert fb.bar == pytest.approx(0.35) and fb.sure_streams == 1

    def test_floor_and_ceiling(self, caplog: pytest.LogCaptureFixture) -> None:
        """No nuisance growth gives the floor; growth corroborated near 1 is capped at the
        ceiling, with a warning naming the score."""
        assert bar_of(dataset([(None, [0.9, 0.95], [0, 0])])) == FLOOR
        assert bar_of(dataset([(None, [0.01], [1])])) == FLOOR
        with caplog.at_level(logging.WARNING, logger="cloud.training.corroborate"):
            assert bar_of(dataset([(None, [0.97], [1])])) == CEILING
        assert "0.970" in caplog.text and "capped" in caplog.text

    def test_bad_arguments_are_named(self) -> None:
        """A margin outside [0, 1) or scores not one per row are refused, naming them."""
        ds = dataset([(None, [0.5], [1])])
        with pytest.raises(ValueError, match="margin"):
            choose_flame_bar(ds, np.array([0.5]), np.arange(1), [0], margin=1.0)
        with pytest.raises(ValueError, match="2 scores for 1 rows"):
            choose_flame_bar(ds, np.array([0.5, 0.5]), np.arange(1), [0])


def nuisance(peak_at: float, peak: float, grows_s: int, rest: float = 0.1
             ) -> tuple[None, list[float], list[int]]:
    """A no-fire run growing for ``grows_s`` + 1 rows, scoring ``rest`` except ``peak`` when it
    has grown ``peak_at`` seconds."""
    p = [peak if i == peak_at else rest for i in range(grows_s + 1)]
    return None, p, [1] * (grows_s + 1)


A, B, C = LADDER_S[:3]  # the ladder's first three times


class TestFlameLadder:
    def test_rungs_are_set_by_the_streams_that_grow_that_long(self) -> None:
        """Each rung is the highest score of a no-fire frame grown at least that long, plus
        the margin; a nuisance whose high score came in its first seconds sets the first bar
        only, and the ladder keeps the rungs that lower the bar."""
        n = int(C) + 2
        ds = dataset([nuisance(1, 0.9, n), nuisance(A, 0.5, n), nuisance(B, 0.3, n)])
        fb = choose_flame_bar(ds, ds.X[:, 0].astype(np.float64), np.arange(len(ds)), range(3))
        assert fb.bar == pytest.approx(0.95)
        rungs = {sec: (bar, k, who) for sec, bar, k, who in fb.ladder_rungs}
        assert set(rungs) == set(LADDER_S)
        assert rungs[A] == (pytest.approx(0.55), 3, "r1")
        assert rungs[B] == (pytest.approx(0.35), 3, "r2")
        assert rungs[C][:2] == (pytest.approx(FLOOR), 3)  # 0.1 + 0.05 under the floor
        assert fb.ladder == (pytest.approx((A, 0.55)), pytest.approx((B, 0.35)),
                             pytest.approx((C, FLOOR)))

    def test_too_few_streams_growing_that_long_set_no_rung(self) -> None:
        """With fewer than LADDER_MIN_STREAMS no-fire streams growing that long there is no
        evidence of what the nuisances that keep growing score: no rung (the one stream
        growing longest scores 0.1 after its first seconds)."""
        runs = ([nuisance(1, 0.9, int(C) + 2)]
                + [nuisance(A, 0.4, int(A) + 1)] * (LADDER_MIN_STREAMS - 1))
        ds = dataset(runs)
        fb = choose_flame_bar(ds, ds.X[:, 0].astype(np.float64), np.arange(len(ds)),
                              range(len(runs)))
        rungs = {sec: (bar, k) for sec, bar, k, _ in fb.ladder_rungs}
        assert rungs[A] == (pytest.approx(0.45), LADDER_MIN_STREAMS)
        assert rungs[B] == (None, 1) and rungs[C] == (None, 1)
        assert fb.ladder == (pytest.approx((A, 0.45)),)

    def test_fires_alarm_sooner_on_the_ladder(self) -> None:
        """A fire growing at 0.5 under the first bar (0.95) alarms once it has grown for the
        rung's seconds; its wait is reported with the ladder."""
        n = int(C) + 2
        runs = [nuisance(1, 0.9, n), nuisance(A, 0.45, n), nuisance(B, 0.3, n),
                (0.0, [0.5] * n, [1] * n)]
        ds = dataset(runs)
        fb = choose_flame_bar(ds, ds.X[:, 0].astype(np.float64), np.arange(len(ds)), range(4))
        assert fb.ladder[0] == pytest.approx((A, 0.5))
        assert (fb.fires, fb.fires_corroborated, fb.median_wait_s) == (1, 1, A)

    def test_a_pause_longer_than_a_step_starts_the_count_again(self) -> None:
        """Growth that stops for more than one step is a new episode: its frames count from 0,
        so a nuisance growing twice for just under the first rung's time never sets it."""
        half = int(A)  # frames 0 … A−1: grown up to A − 1 s
        w = [1] * half + [0] * 3 + [1] * half
        ds = dataset([(None, [0.6] * len(w), w)] * LADDER_MIN_STREAMS)
        fb = choose_flame_bar(ds, ds.X[:, 0].astype(np.float64), np.arange(len(ds)),
                              range(LADDER_MIN_STREAMS))
        rungs = {sec: k for sec, _, k, _ in fb.ladder_rungs}
        assert rungs[A] == 0
        w = [1] * half + [0] * 1 + [1] * half  # a one-frame pause: the same episode
        ds = dataset([(None, [0.6] * len(w), w)] * LADDER_MIN_STREAMS)
        fb = choose_flame_bar(ds, ds.X[:, 0].astype(np.float64), np.arange(len(ds)),
                              range(LADDER_MIN_STREAMS))
        assert {sec: k for sec, _, k, _ in fb.ladder_rungs}[A] == LADDER_MIN_STREAMS
