"""The fd-v6 feature set: fd-v5 plus the scale-free growth of the new hot region (how many
times larger it got over 10, 30 and 120 s, and for how many 5-s windows in a row it grew), which
the camera's distance, an occlusion or another renderer's flame size do not change
(docs/features.md)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from edge.features import (
    FEATURE_SETS,
    RICHEST_SET,
    FeatureExtractor,
    FeatureParams,
    camera_columns,
    featurize_recording,
)
from edge.featuresets.history import ThermalHistory
from edge.featuresets.longhist import RATIO_FLOOR_PCT
from edge.recording import Recording
from edge.types import GasReading
from tests.test_features import frame, make_recording
from tests.test_features_fdv2 import FFC_AT_9_S, cfast_case, engine_case
from tests.test_features_fdv3 import EPS, PCT, SHAPE, Scene, spot
from tests.test_features_fdv3 import assert_same as assert_same_v3
from tests.test_features_fdv3 import run as run_v3
from tests.test_features_fdv5 import at

NAMES = FEATURE_SETS["fd-v6"]
IDX = {name: i for i, name in enumerate(NAMES)}
RATIO = slice(47, 51)


def run(scene: Scene, duration_s: float, rate_hz: float = 1.0,
        gap: tuple[float, float] | None = None) -> tuple[list[float], npt.NDArray[np.float64]]:
    """The frame times and fd-v6 vectors of ``scene`` filmed at ``rate_hz``; warm-up 60 s."""
    times = [k / rate_hz for k in range(round(duration_s * rate_hz) + 1)
             if gap is None or not gap[0] <= k / rate_hz < gap[1]]
    return times, run_v3(scene, duration_s, rate_hz, gap, feature_set="fd-v6")


def ratio(now_px: float, then_px: float, pct: float = PCT) -> float:
    return math.log2((now_px * pct + RATIO_FLOOR_PCT) / (then_px * pct + RATIO_FLOOR_PCT))


def spreading(t: float) -> npt.NDArray[np.float64]:
    """From 100 s a 300 °C region one pixel larger every whole second (a fire spreading)."""
    whole = math.floor(t + EPS)
    return spot(0 if whole < 100 else whole - 99, 300.0)


def spreading_twice(t: float) -> npt.NDArray[np.float64]:
    """The same fire nearer the camera: two pixels for each of ``spreading``'s."""
    whole = math.floor(t + EPS)
    return spot(0 if whole < 100 else 2 * (whole - 99), 300.0)


def burner(t: float) -> npt.NDArray[np.float64]:
    """From 100 s a 300 °C region of 30 pixels that keeps its size (a burner lit)."""
    return spot(30 if t >= 100.0 - EPS else 0, 300.0)


def flickering(t: float) -> npt.NDArray[np.float64]:
    """From 100 s a region of 30 pixels on whole even seconds, 15 on odd ones (a flame's
    flicker at a steady size)."""
    whole = math.floor(t + EPS)
    return spot(0 if whole < 100 else (30 if whole % 2 == 0 else 15), 300.0)


class TestScaleFreeGrowth:
    def test_a_spreading_region(self) -> None:
        """One pixel more a second from 100 s: at 150 s the region is 51 px, the peak 10 s
        earlier (its window 135–140 s) 41 px, 30 s earlier 21 px; 120 s earlier there was
        nothing. The spread steps count back to the 5-s window before it appeared: 11."""
        times, x = run(spreading, 150.0)
        row = at(times, x, 150.0)
        assert row[IDX["new_hot_peak_ratio_10s"]] == pytest.approx(ratio(51, 41))
        assert row[IDX["new_hot_peak_ratio_30s"]] == pytest.approx(ratio(51, 21))
        assert row[IDX["new_hot_peak_ratio_120s"]] == pytest.approx(ratio(51, 0))
        assert row[IDX["new_hot_spread_steps"]] == 11
        assert row[IDX["new_hot_area_pct"]] == pytest.approx(51 * PCT)

    def test_the_same_fire_nearer_reads_the_same(self) -> None:
        """Twice the pixels, the same growth: the ratios agree to the floor's share (a pixel
        is 0.83 % of these frames, the floor 0.02 %), the steps exactly; the area does not.
        Growth from nothing (120 s back) reads the size against the floor: one more."""
        times, near = run(spreading_twice, 150.0)
        _, far = run(spreading, 150.0)
        a, b = at(times, near, 150.0), at(times, far, 150.0)
        np.testing.assert_allclose(a[47:49], b[47:49], atol=0.03)
        assert a[IDX["new_hot_peak_ratio_120s"]] == pytest.approx(ratio(102, 0))
        assert a[IDX["new_hot_spread_steps"]] == b[IDX["new_hot_spread_steps"]]
        assert a[IDX["new_hot_area_pct"]] == pytest.approx(2 * b[IDX["new_hot_area_pct"]])

    def test_a_burner_has_its_size_at_once(self) -> None:
        """A region lit at its full size: 20 s on, its ratio over 10 s reads 0 and it spreads
        for no window; 4 s after it lit, its 10-s ratio reads the jump from nothing, and one
        window (the one it lit in) grew."""
        times, x = run(burner, 130.0)
        row = at(times, x, 120.0)
        assert row[IDX["new_hot_peak_ratio_10s"]] == 0.0
        assert row[IDX["new_hot_spread_steps"]] == 0
        early = at(times, x, 104.0)
        assert early[IDX["new_hot_peak_ratio_10s"]] == pytest.approx(ratio(30, 0))
        assert early[IDX["new_hot_spread_steps"]] == 1

    def test_flicker_is_not_growth(self) -> None:
        """30 px and 15 px in turn: each 5-s window's peak is 30 px, so the 10-s and 30-s
        ratios read 0 and no window grew, while the frame-to-frame area jumps by half."""
        times, x = run(flickering, 160.0)
        for t in (130.0, 145.0, 160.0):
            row = at(times, x, t)
            assert row[47:49].tolist() == [0.0, 0.0]
            assert row[IDX["new_hot_spread_steps"]] == 0
            assert row[IDX["new_hot_peak_ratio_120s"]] == pytest.approx(ratio(30, 0))

    def test_any_frame_rate(self) -> None:
        """At 8.7 Hz the one-a-second samples are the 1 Hz ones: the same values at 150 s."""
        times_1, x1 = run(spreading, 150.0, 1.0)
        times_8, x8 = run(spreading, 150.0, 8.7)
        np.testing.assert_allclose(at(times_8, x8, 150.0)[RATIO], at(times_1, x1, 150.0)[RATIO],
                                   atol=0.05)

    def test_a_camera_gap_reads_0_not_a_jump(self) -> None:
        """No frames from 125 to 145 s: at 150 s the window 10 s back (135–140 s) holds no
        sample, so that ratio reads 0, not the growth across the gap; 30 s back (115–120 s)
        is before the gap; the spread steps stop at the first empty window."""
        times, x = run(spreading, 150.0, gap=(125.0, 145.0))
        row = at(times, x, 150.0)
        assert row[IDX["new_hot_peak_ratio_10s"]] == 0.0
        assert row[IDX["new_hot_peak_ratio_30s"]] == pytest.approx(ratio(51, 21))
        assert row[IDX["new_hot_peak_ratio_120s"]] == pytest.approx(ratio(51, 0))
        assert row[IDX["new_hot_spread_steps"]] == 1  # (145, 150] over (140, 145]: empty

    def test_nan_when_frames_stale(self) -> None:
        """The growth is the camera's: NaN in a vector given without a fresh frame."""
        assert camera_columns(len(NAMES))[RATIO].all()
        ex = FeatureExtractor(feature_set="fd-v6")
        for t in range(150):
            ex.add_frame(frame(float(t), spreading(float(t)).reshape(SHAPE)))
        vec = ex.add_gas(GasReading(t=160.0, co2_ppm=450.0, temperature_c=21.0,
                                    humidity_pct=40.0))
        assert vec is not None and np.isnan(vec[RATIO]).all()
        assert not np.isnan(vec[IDX["gas_val"]])

    def test_needs_the_saturation(self) -> None:
        """The growth columns follow fd-v5's: a history without them is refused."""
        with pytest.raises(ValueError, match="ratio needs sat"):
            ThermalHistory(60.0, 1800.0, 60.0, long=True, accel=True, ratio=True)


def assert_same(rec: Recording, params: FeatureParams | None = None) -> npt.NDArray[np.float64]:
    return assert_same_v3(rec, params, feature_set="fd-v6")


class TestBatchEqualsStreaming:
    def test_synthetic_with_gaps(self) -> None:
        """5 minutes at 2 Hz with a 20-s camera gap and a 40-s SCD41 gap: batch = streaming."""
        rec = make_recording(seed=3, duration_s=300.0, rate_hz=2.0, shape=(12, 16),
                             frame_gap=(100.0, 120.0), gas_gap=(200.0, 240.0))
        x = assert_same(rec, FeatureParams(scene_warmup_s=5.0))
        assert np.nanmax(x[:, IDX["new_hot_spread_steps"]]) > 0

    def test_scenario_engine(self) -> None:
        """A grease fire of the scenario engine with FFC repeats and an 8-s camera gap: batch =
        streaming, and its flames read as spreading."""
        from edge.sim.scenarios import render_recording

        rec = render_recording("kitchen_grease_fire", 11, 300.0, frame_rate_hz=1.0, **FFC_AT_9_S)
        x = assert_same(engine_case(rec))
        assert np.nanmax(x[:, IDX["new_hot_peak_ratio_30s"]]) > 1.0

    def test_cfast_engine(self) -> None:
        """A fire of the CFAST engine, 10 min with FFC repeats and an 8-s camera gap."""
        assert_same(cfast_case(600.0, 1.0))


class TestRegistry:
    def test_fd_v6_extends_fd_v5(self) -> None:
        """fd-v6 is fd-v5's 47 names in order, then the 4 growth features, all distinct; it is
        the set the extractor computes by default, and records fd-v5's parameters."""
        assert NAMES[:47] == FEATURE_SETS["fd-v5"]
        assert len(NAMES) == 51 and len(set(NAMES)) == 51
        assert RICHEST_SET == "fd-v6" and FeatureExtractor().names == NAMES
        p = FeatureParams()
        assert p.as_dict("fd-v6") == p.as_dict("fd-v5")

    def test_prefix_is_fd_v5(self) -> None:
        """The first 47 columns of an fd-v6 vector are the fd-v5 vector, bit for bit."""
        rec = make_recording(seed=1, duration_s=300.0, rate_hz=2.0, shape=(12, 16))
        _, x5 = featurize_recording(rec, FeatureParams(scene_warmup_s=5.0), "fd-v5")
        _, x6 = featurize_recording(rec, FeatureParams(scene_warmup_s=5.0), "fd-v6")
        np.testing.assert_array_equal(x6[:, :47], x5)
