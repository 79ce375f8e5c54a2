"""The fd-v4 feature set: fd-v3 plus the thermal acceleration of the new hot region (how much
faster its hottest pixel heats and its area grows over the last window than over the one
before; docs/features.md)."""

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
from edge.featuresets.longhist import LongHistory
from edge.recording import Recording
from edge.types import GasReading
from tests.test_features import frame, make_recording
from tests.test_features_fdv2 import FFC_AT_9_S, cfast_case, engine_case
from tests.test_features_fdv3 import EPS, PCT, SHAPE, Scene, spot
from tests.test_features_fdv3 import assert_same as assert_same_v3
from tests.test_features_fdv3 import run as run_v3

NAMES = FEATURE_SETS["fd-v4"]
IDX = {name: i for i, name in enumerate(NAMES)}
ACCEL = slice(41, 45)


def run(scene: Scene, duration_s: float, rate_hz: float = 1.0,
        gap: tuple[float, float] | None = None) -> tuple[list[float], npt.NDArray[np.float64]]:
    """The frame times and fd-v4 vectors of ``scene`` filmed at ``rate_hz`` (frames at
    k/rate), without frames in ``gap``; warm-up 60 s (the default)."""
    times = [k / rate_hz for k in range(round(duration_s * rate_hz) + 1)
             if gap is None or not gap[0] <= k / rate_hz < gap[1]]
    return times, run_v3(scene, duration_s, rate_hz, gap, feature_set="fd-v4")


def at(times: list[float], x: npt.NDArray[np.float64], t: float) -> npt.NDArray[np.float64]:
    """The vector of the first frame at or after ``t``."""
    return x[next(i for i, ti in enumerate(times) if ti >= t - EPS)]


def accelerating(t: float) -> npt.NDArray[np.float64]:
    """From 100 s one pixel at 100 + 0.001·(t − 100)² °C: 7.2 K/min² (2·0.001 K/s²)."""
    return spot(0 if t < 100 else 1, 100.0 + 0.001 * max(t - 100.0, 0.0) ** 2)


def ramp(t: float) -> npt.NDArray[np.float64]:
    """From 100 s one pixel heating 0.5 K/s from 100 °C: no acceleration."""
    return spot(0 if t < 100 else 1, 100.0 + 0.5 * max(t - 100.0, 0.0))


def approach(t: float) -> npt.NDArray[np.float64]:
    """From 100 s one pixel heating towards 300 °C with a time constant of 120 s (a pan on a
    hob): it slows down."""
    return spot(0 if t < 100 else 1, 300.0 - 200.0 * math.exp(-max(t - 100.0, 0.0) / 120.0))


def spreading(t: float) -> npt.NDArray[np.float64]:
    """From 100 s a 150 °C region one pixel larger every 10 s, until 300 s; then it stays."""
    whole = math.floor(min(t, 300.0) + EPS)
    return spot(0 if whole < 100 else 1 + (whole - 100) // 10, 150.0)


class TestAcceleration:
    def test_constant_acceleration_reads_it_in_both_windows(self) -> None:
        """T = 100 + a·t²: the second difference of window means is 2a·W², so both windows
        read 2a = 7.2 K/min² (to the camera's 0.01-K steps)."""
        times, x = run(accelerating, 400.0)
        row = at(times, x, 400.0)
        assert row[IDX["new_hot_t_max_accel_20s"]] == pytest.approx(7.2, rel=0.01)
        assert row[IDX["new_hot_t_max_accel_60s"]] == pytest.approx(7.2, rel=0.01)

    def test_steady_ramp_reads_zero(self) -> None:
        """A spot heating at a steady 0.5 K/s neither speeds up nor slows down."""
        times, x = run(ramp, 400.0)
        row = at(times, x, 400.0)
        assert row[IDX["new_hot_t_max_accel_20s"]] == pytest.approx(0.0, abs=0.01)
        assert row[IDX["new_hot_t_max_accel_60s"]] == pytest.approx(0.0, abs=0.01)

    def test_heating_towards_a_steady_temperature_reads_negative(self) -> None:
        """A pan approaching 300 °C (τ 120 s) slows down: at 300 s the 60-s windows' means
        give the exponential's second difference, −(1 − e^(−W/τ))²/W²·(its distance), K/min²."""
        times, x = run(approach, 300.0)
        row = at(times, x, 300.0)
        tau, w = 120.0, 60.0

        def mean(a: float, b: float) -> float:  # of the samples at whole seconds in (a, b]
            ks = np.arange(math.floor(a) + 1, math.floor(b) + 1, dtype=np.float64)
            return float(np.mean(300.0 - 200.0 * np.exp(-(ks - 100.0) / tau)))

        want = (mean(240, 300) - 2 * mean(180, 240) + mean(120, 180)) * 3600.0 / w**2
        assert want < -5.0
        assert row[IDX["new_hot_t_max_accel_60s"]] == pytest.approx(want, rel=0.01)
        assert row[IDX["new_hot_t_max_accel_20s"]] < 0.0

    def test_growth_that_stops_reads_negative(self) -> None:
        """A region growing one pixel every 10 s: 0 while it grows steadily, negative once it
        has stopped (the last window flat, the earlier ones rising)."""
        times, x = run(spreading, 360.0)
        growing = at(times, x, 280.0)
        assert growing[IDX["new_hot_growth_accel_20s"]] == pytest.approx(0.0, abs=1e-9)
        assert growing[IDX["new_hot_growth_accel_60s"]] == pytest.approx(0.0, abs=1e-9)
        stopped = at(times, x, 360.0)
        # The 60-s windows' means: 21, 17.6 and 11.6 px → −2.6 px a minute a minute.
        assert stopped[IDX["new_hot_growth_accel_60s"]] == pytest.approx(-2.6 * PCT)
        assert stopped[IDX["new_hot_growth_accel_20s"]] == pytest.approx(0.0, abs=1e-9)

    def test_zero_until_three_windows_of_samples(self) -> None:
        """The 20-s window needs a sample 60 s old, the 60-s one a sample 180 s old (the long
        history fed directly: a spot heating as 100 + 0.001·t² °C from its first second)."""
        hist = LongHistory(60.0, accel=True)
        out = {t: hist.update(float(t), 1.0, 100.0 + 0.001 * t * t) for t in range(200)}
        assert out[59][6] == 0.0 and out[60][6] == pytest.approx(7.2, rel=1e-6)
        assert out[179][7] == 0.0 and out[180][7] == pytest.approx(7.2, rel=1e-6)
        assert out[199][8] == out[199][9] == 0.0  # the area did not change

    def test_same_at_eight_point_seven_hz(self) -> None:
        """Filmed at 8.7 Hz, the accelerating spot reads what it reads at 1 Hz to 2 % (the
        samples are the first frame of each whole second; window edges move by < 1 frame)."""
        slow_t, slow = run(accelerating, 400.0, 1.0)
        fast_t, fast = run(accelerating, 400.0, 8.7)
        for name in ("new_hot_t_max_accel_20s", "new_hot_t_max_accel_60s"):
            assert at(fast_t, fast, 400.0)[IDX[name]] == pytest.approx(
                at(slow_t, slow, 400.0)[IDX[name]], rel=0.02)

    def test_camera_gap_leaves_a_window_empty(self) -> None:
        """A 25-s camera gap: while one 20-s window holds no sample the 20-s features read 0;
        the 60-s windows still hold samples and read on."""
        times, x = run(accelerating, 400.0, gap=(340.0, 365.0))
        row = at(times, x, 384.0)  # window (344, 364] is empty
        assert row[IDX["new_hot_t_max_accel_20s"]] == 0.0
        assert row[IDX["new_hot_t_max_accel_60s"]] > 0.0

    def test_nan_when_frames_stale(self) -> None:
        """The acceleration is the camera's: NaN in a vector given without a fresh frame."""
        assert camera_columns(len(NAMES))[ACCEL].all()
        ex = FeatureExtractor(feature_set="fd-v4")
        for t in range(200):
            ex.add_frame(frame(float(t), accelerating(float(t)).reshape(SHAPE)))
        vec = ex.add_gas(GasReading(t=210.0, co2_ppm=450.0, temperature_c=21.0,
                                    humidity_pct=40.0))
        assert vec is not None and np.isnan(vec[ACCEL]).all()
        assert not np.isnan(vec[IDX["gas_val"]])


def assert_same(rec: Recording, params: FeatureParams | None = None) -> npt.NDArray[np.float64]:
    return assert_same_v3(rec, params, feature_set="fd-v4")


class TestBatchEqualsStreaming:
    def test_long_synthetic_with_gaps(self) -> None:
        """11 minutes at 2 Hz with a 20-s camera gap and a 40-s SCD41 gap: batch = streaming,
        bit for bit, and the acceleration is not all zero."""
        rec = make_recording(seed=3, duration_s=660.0, rate_hz=2.0, shape=(12, 16),
                             frame_gap=(300.0, 320.0), gas_gap=(400.0, 440.0))
        x = assert_same(rec, FeatureParams(scene_warmup_s=5.0))
        assert np.nanmax(np.abs(x[:, ACCEL])) > 0.0

    def test_scenario_engine(self) -> None:
        """A smoulder of the scenario engine, 10 min with FFC repeats and an 8-s camera gap."""
        from edge.sim.scenarios import render_recording

        rec = render_recording("smoulder_in_view", 3, 600.0, frame_rate_hz=1.0, **FFC_AT_9_S)
        x = assert_same(engine_case(rec))
        assert np.nanmax(np.abs(x[:, IDX["new_hot_t_max_accel_60s"]])) > 0.0

    def test_cfast_engine(self) -> None:
        """A fire of the CFAST engine, 10 min with FFC repeats and an 8-s camera gap."""
        x = assert_same(cfast_case(600.0, 1.0))
        assert np.nanmax(np.abs(x[:, IDX["new_hot_growth_accel_20s"]])) > 0.0


class TestRegistry:
    def test_fd_v4_extends_fd_v3(self) -> None:
        """fd-v4 is fd-v3's 41 names in order, then the 4 accelerations, all distinct; the
        set the extractor computes by default starts with it; it records fd-v3's parameters."""
        assert NAMES[:41] == FEATURE_SETS["fd-v3"]
        assert len(NAMES) == 45 and len(set(NAMES)) == 45
        assert FEATURE_SETS[RICHEST_SET][:45] == NAMES
        p = FeatureParams()
        assert p.as_dict("fd-v4") == p.as_dict("fd-v3")

    def test_prefix_is_fd_v3(self) -> None:
        """The first 41 columns of an fd-v4 vector are the fd-v3 vector, bit for bit."""
        rec = make_recording(seed=1, duration_s=300.0, rate_hz=2.0, shape=(12, 16))
        _, x3 = featurize_recording(rec, FeatureParams(scene_warmup_s=5.0), "fd-v3")
        _, x4 = featurize_recording(rec, FeatureParams(scene_warmup_s=5.0), "fd-v4")
        np.testing.assert_array_equal(x4[:, :41], x3)
