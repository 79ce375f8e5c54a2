"""The fd-v3 feature set: fd-v2 plus the long thermal history (one sample a second, minutes of
new hot area) and the long CO2 history (docs/features.md)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

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
from edge.recording import Recording
from edge.types import GasReading, ThermalFrame
from tests.test_features import frame, make_recording, raw_from_c, stream
from tests.test_features_fdv2 import FFC_AT_9_S, cfast_case, engine_case

NAMES = FEATURE_SETS["fd-v3"]
IDX = {name: i for i, name in enumerate(NAMES)}
THERMAL_LONG = slice(33, 39)
GAS_LONG = slice(39, 41)
SHAPE = (10, 12)  # 120 pixels: one pixel is 0.83 % of the frame
PCT = 100.0 / 120.0
EPS = 1e-6

#: A scene: the temperatures (°C, flat, 120 pixels) at time t.
Scene = Callable[[float], npt.NDArray[np.float64]]


def spot(pixels: int, temp_c: float, base: float = 20.0) -> npt.NDArray[np.float64]:
    """A ``base`` frame (flat) with its first ``pixels`` pixels at ``temp_c``."""
    temp = np.full(SHAPE[0] * SHAPE[1], base)
    temp[:pixels] = temp_c
    return temp


def run(scene: Scene, duration_s: float, rate_hz: float = 1.0,
        gap: tuple[float, float] | None = None, resolution_k: float = 0.01,
        feature_set: str = "fd-v3") -> npt.NDArray[np.float64]:
    """The ``feature_set`` vectors of ``scene`` filmed at ``rate_hz`` (frames at k/rate),
    without frames in ``gap``; warm-up 60 s (the default)."""
    ex = FeatureExtractor(feature_set=feature_set)
    rows = []
    for k in range(round(duration_s * rate_hz) + 1):
        t = k / rate_hz
        if gap is not None and gap[0] <= t < gap[1]:
            continue
        rows.append(ex.add_frame(frame(t, scene(t).reshape(SHAPE), resolution_k=resolution_k)))
    return np.array(rows)


def long_samples(scene: Scene, duration_s: float, rate_hz: float
                 ) -> list[tuple[float, float, float]]:
    """The long history's samples after filming ``scene`` at ``rate_hz``."""
    hist = ThermalHistory(60.0, 1800.0, 60.0, long=True)
    for k in range(round(duration_s * rate_hz) + 1):
        t = k / rate_hz
        raw = raw_from_c(scene(t).reshape(SHAPE))
        hist.update(t, raw, raw.astype(np.float32), None, 0.0, 0.01, 0.0, 0.0)
    assert hist.long is not None
    return hist.long.samples


def growing(t: float) -> npt.NDArray[np.float64]:
    """From 100 s a 150 °C region one pixel larger every 10 s (at whole seconds)."""
    whole = math.floor(t + EPS)
    return spot(0 if whole < 100 else 1 + (whole - 100) // 10, 150.0)


class TestThermalLong:
    def test_steady_appliance_since_warmup_reads_zero(self) -> None:
        """A hob hot at 200 °C from the first frame (the scene): every long thermal feature is 0
        for 11 minutes."""
        x = run(lambda t: spot(8, 200.0), 660.0)
        assert (x[:, THERMAL_LONG] == 0.0).all()

    def test_seat_heating_one_kelvin_a_second(self) -> None:
        """A seat appearing at 100 s at 61 °C and heating 1 K/s for 400 s: the hottest new pixel
        reads its temperature and its 300-s slope 1 K/s."""
        def seat(t: float) -> npt.NDArray[np.float64]:
            return spot(2, 61.0 + (t - 100.0)) if t >= 100.0 else spot(0, 0.0)

        x = run(seat, 500.0, resolution_k=0.1)  # deci-kelvin: 461 °C fits the raw range
        last = x[-1]
        assert last[IDX["new_hot_t_max_c"]] == pytest.approx(461.0, abs=0.1)  # to the 0.1 K step
        assert last[IDX["new_hot_t_max_slope_300s"]] == pytest.approx(1.0, abs=1e-3)
        assert last[IDX["new_hot_growth_300s"]] == 0.0  # 2 px at 200 s and now
        assert last[IDX["new_hot_growth_600s"]] == pytest.approx(2 * PCT)  # from the oldest: 0
        assert last[IDX["new_hot_age_s"]] == pytest.approx(401.0)  # last 0 sample: 99 s
        assert x[99, IDX["new_hot_t_max_c"]] == 0.0  # no new hot pixel: 0

    def test_slope_before_300_s_uses_the_oldest_sample(self) -> None:
        """Before 300 s of history the slope runs from the oldest sample: the hot threshold
        (60 °C) at 0 s to the seat's 160 °C at 200 s is 0.5 K/s."""
        x = run(lambda t: spot(1, 160.0) if t >= 100.0 else spot(0, 0.0), 200.0)
        assert x[-1][IDX["new_hot_t_max_slope_300s"]] == pytest.approx(0.5)

    def test_slope_is_zero_with_one_sample(self) -> None:
        """Within the first second (one sample) the slope is 0, even when a new hot pixel
        shows after a 0.1-s warm-up."""
        ex = FeatureExtractor(FeatureParams(scene_warmup_s=0.1), feature_set="fd-v3")
        ex.add_frame(frame(0.0, spot(0, 0.0).reshape(SHAPE)))
        vec = ex.add_frame(frame(0.5, spot(1, 150.0).reshape(SHAPE)))
        assert vec[IDX["new_hot_t_max_c"]] == pytest.approx(150.0)
        assert vec[IDX["new_hot_t_max_slope_300s"]] == 0.0

    def test_region_growing_every_ten_seconds(self) -> None:
        """A region growing by a pixel every 10 s: grown share 1.0, growth 30 and 60 pixels
        over 300 and 600 s (after 600 s of it)."""
        x = run(growing, 730.0)
        last = x[-1]
        assert last[IDX["new_hot_grown_share_120s"]] == 1.0
        assert last[IDX["new_hot_growth_300s"]] == pytest.approx(30 * PCT)
        assert last[IDX["new_hot_growth_600s"]] == pytest.approx(60 * PCT)

    def test_region_that_stopped_growing_has_no_share(self) -> None:
        """A region that grew until 200 s and then held: 2 minutes later its share is 0 and its
        300-s growth is what it grew inside the window."""
        x = run(lambda t: growing(min(t, 200.0)), 330.0)
        last = x[-1]
        assert last[IDX["new_hot_grown_share_120s"]] == 0.0
        assert last[IDX["new_hot_growth_300s"]] == pytest.approx(11 * PCT)  # 0 at 30 s → 11

    def test_share_counts_only_steps_with_history(self) -> None:
        """Five 10-s steps after the first frame, at most 5 of the 12 steps can have risen."""
        x = run(lambda t: spot(0 if t < 2 else 1 + math.floor(t + EPS) // 10, 150.0), 55.0)
        assert x[-1][IDX["new_hot_grown_share_120s"]] <= 5 / 12

    def test_age_resets_when_the_area_goes_back_to_zero(self) -> None:
        """A spot on from 100 to 200 s and again from 300 s: its age counts from 300 s; 0
        while it is off; capped at 1800 s."""
        def blink(t: float) -> npt.NDArray[np.float64]:
            return spot(3, 150.0) if 100 <= t < 200 or t >= 300 else spot(0, 0.0)

        x = run(blink, 400.0)
        assert x[250, IDX["new_hot_age_s"]] == 0.0
        assert x[199, IDX["new_hot_age_s"]] == pytest.approx(100.0)
        assert x[400, IDX["new_hot_age_s"]] == pytest.approx(101.0)  # last 0 sample at 299 s
        capped = run(lambda t: spot(1, 150.0) if t >= 100 else spot(0, 0.0), 2000.0, rate_hz=0.5)
        assert capped[-1][IDX["new_hot_age_s"]] == 1800.0

    def test_same_series_at_one_and_eight_point_seven_hz(self) -> None:
        """The same scene filmed at 1 Hz and at 8.7 Hz gives the same long history: one sample
        per whole second, of the same values, less than one 8.7-Hz frame apart."""
        slow = long_samples(growing, 400.0, 1.0)
        fast = long_samples(growing, 400.0, 8.7)
        assert len(slow) == len(fast) == 401
        assert [s[1:] for s in slow] == [s[1:] for s in fast]
        assert max(abs(a[0] - b[0]) for a, b in zip(slow, fast, strict=True)) < 1 / 8.7

    def test_camera_gap_keeps_the_long_history(self) -> None:
        """A 20-s camera gap: fd-v2's 60-s growth restarts at 0, fd-v3's 300-s growth still
        reads the growth since 300 s before."""
        x = run(growing, 520.0, gap=(480.0, 500.0))
        after = x[480]  # the first frame after the gap, at 500 s
        assert after[IDX["new_hot_growth_60s"]] == 0.0
        assert after[IDX["new_hot_growth_300s"]] == pytest.approx(30 * PCT)
        assert after[IDX["new_hot_grown_share_120s"]] == pytest.approx(10 / 12)  # 2 in the gap

    def test_frame_size_change_starts_again(self) -> None:
        """A change of frame size restarts the long history with the scene memory."""
        ex = FeatureExtractor(feature_set="fd-v3")
        for t in range(0, 400):
            ex.add_frame(frame(float(t), growing(float(t)).reshape(SHAPE)))
        vec = ex.add_frame(frame(400.0, np.full((8, 8), 150.0)))
        assert (vec[THERMAL_LONG] == 0.0).all()  # a hot scene seen first: not new

    def test_long_features_nan_when_frames_stale_and_held_over_ffc(self) -> None:
        """A reading with stale frames gives NaN long thermal features; an FFC frame holds
        them."""
        ex = FeatureExtractor(feature_set="fd-v3")
        for t in range(0, 130):
            real = ex.add_frame(frame(float(t), growing(float(t)).reshape(SHAPE)))
        frozen = ex.add_frame(ThermalFrame(t=129.5, pixels=raw_from_c(growing(129.0)
                                                                       .reshape(SHAPE)),
                                           frozen=True))
        np.testing.assert_array_equal(frozen[THERMAL_LONG], real[THERMAL_LONG])
        assert real[IDX["new_hot_age_s"]] > 0.0
        vec = ex.add_gas(GasReading(t=140.0, co2_ppm=420.0, temperature_c=21.0,
                                    humidity_pct=40.0))
        assert vec is not None
        assert np.isnan(vec[THERMAL_LONG]).all() and not np.isnan(vec[GAS_LONG]).any()
        assert camera_columns(41)[THERMAL_LONG].all() and not camera_columns(41)[GAS_LONG].any()


def gas_run(readings: list[tuple[float, float]]) -> npt.NDArray[np.float64]:
    """The gas-only fd-v3 vector after (t, co2) readings with no frames."""
    ex = FeatureExtractor(feature_set="fd-v3")
    vec = None
    for t, co2 in readings:
        vec = ex.add_gas(GasReading(t=t, co2_ppm=co2, temperature_c=21.0, humidity_pct=40.0))
    assert vec is not None
    return vec


class TestGasLong:
    def test_ramp_of_ten_ppm_a_minute(self) -> None:
        """CO2 rising 10 ppm/min for 20 min: the 900-s slope reads 10, the 600-s rise the
        ramp over the readings of the last 600 s (595 s: 99.2 ppm)."""
        vec = gas_run([(t, 420.0 + t / 6.0) for t in np.arange(0.0, 1200.0, 5.0)])
        assert vec[IDX["co2_slope_900s"]] == pytest.approx(10.0, rel=1e-9)
        assert vec[IDX["co2_rise_600s"]] == pytest.approx(595.0 / 6.0, rel=1e-6)

    def test_rise_is_from_the_minimum(self) -> None:
        """CO2 that dipped to 400 ppm 5 min ago and is at 700 now: the rise is 300 ppm, even
        though it was higher 10 min ago."""
        readings = [(0.0, 900.0), (300.0, 400.0), (600.0, 700.0)]
        assert gas_run(readings)[IDX["co2_rise_600s"]] == pytest.approx(300.0)

    def test_one_reading_reads_zero(self) -> None:
        """A single reading: slope 0 (fewer than two times), rise 0."""
        assert gas_run([(0.0, 800.0)])[GAS_LONG].tolist() == [0.0, 0.0]

    def test_old_readings_leave_the_windows(self) -> None:
        """A jump 1000 s ago is outside both windows: flat readings since read 0."""
        readings = [(0.0, 2000.0)] + [(t, 500.0) for t in np.arange(5.0, 1000.0, 5.0)]
        assert gas_run(readings)[GAS_LONG].tolist() == [0.0, 0.0]

    def test_nan_when_gas_stale(self) -> None:
        """Without a fresh reading the long gas features are NaN."""
        ex = FeatureExtractor(feature_set="fd-v3")
        ex.add_gas(GasReading(t=0.0, co2_ppm=420.0, temperature_c=21.0, humidity_pct=40.0))
        vec = ex.add_frame(frame(31.0, np.full(SHAPE, 20.0)))
        assert np.isnan(vec[GAS_LONG]).all() and not np.isnan(vec[THERMAL_LONG]).any()


def assert_same(rec: Recording, params: FeatureParams | None = None,
                feature_set: str = "fd-v3") -> npt.NDArray[np.float64]:
    """Batch and streaming vectors of ``rec`` equal bit for bit (NaN positions included)."""
    t_b, x_b = featurize_recording(rec, params, feature_set=feature_set)
    t_s, x_s = stream(rec, params, feature_set=feature_set)
    np.testing.assert_array_equal(t_b, t_s)
    np.testing.assert_array_equal(x_b, x_s)  # NaN positions included
    return x_b


class TestBatchEqualsStreaming:
    def test_long_synthetic_with_gaps(self) -> None:
        """11 minutes at 2 Hz with a 20-s camera gap and a 40-s SCD41 gap: featurize_recording
        (fd-v3) gives the streaming extractor's vectors, bit for bit."""
        rec = make_recording(seed=3, duration_s=660.0, rate_hz=2.0, shape=(12, 16),
                             frame_gap=(300.0, 320.0), gas_gap=(400.0, 440.0))
        x = assert_same(rec, FeatureParams(scene_warmup_s=5.0))
        assert np.nanmax(x[:, IDX["new_hot_growth_300s"]]) > 0.0
        assert np.nanmax(x[:, IDX["new_hot_age_s"]]) > 300.0
        assert np.nanmax(x[:, IDX["co2_rise_600s"]]) > 0.0

    def test_scenario_engine(self) -> None:
        """A smoulder of the scenario engine, 10 min with FFC repeats and an 8-s camera gap:
        batch = streaming."""
        from edge.sim.scenarios import render_recording

        rec = render_recording("smoulder_in_view", 3, 600.0, frame_rate_hz=1.0, **FFC_AT_9_S)
        x = assert_same(engine_case(rec))
        assert np.nanmax(x[:, IDX["new_hot_t_max_c"]]) > 0.0
        assert np.nanmax(x[:, IDX["co2_slope_900s"]]) > 0.0

    def test_cfast_engine(self) -> None:
        """A fire of the CFAST engine, 10 min with FFC repeats and an 8-s camera gap: batch =
        streaming."""
        x = assert_same(cfast_case(600.0, 1.0))
        assert np.nanmax(x[:, IDX["co2_rise_600s"]]) > 0.0


class TestRegistry:
    def test_fd_v3_extends_fd_v2(self) -> None:
        """fd-v3 is fd-v2's 33 names in order, then the 8 long ones, all distinct; the richest
        set (the extractor's default) starts with it."""
        assert NAMES[:33] == FEATURE_SETS["fd-v2"]
        assert len(NAMES) == 41 and len(set(NAMES)) == 41
        assert FeatureExtractor().names[:41] == NAMES
        assert FeatureExtractor(feature_set="fd-v3").names == NAMES
        assert FEATURE_SETS[RICHEST_SET][:41] == NAMES

    def test_params_same_as_fd_v2(self) -> None:
        """fd-v3 adds no parameter: its manifest records fd-v2's."""
        p = FeatureParams()
        assert p.as_dict("fd-v3") == p.as_dict("fd-v2")

    def test_prefix_is_fd_v2(self) -> None:
        """The first 33 columns of an fd-v3 vector are the fd-v2 vector, bit for bit."""
        rec = make_recording(seed=1, duration_s=120.0, rate_hz=2.0, shape=(12, 16))
        _, x2 = featurize_recording(rec, FeatureParams(scene_warmup_s=5.0), "fd-v2")
        _, x3 = featurize_recording(rec, FeatureParams(scene_warmup_s=5.0), "fd-v3")
        np.testing.assert_array_equal(x3[:, :33], x2)


def test_time_shift_invariance() -> None:
    """Shifting every timestamp by 1000 s changes no fd-v3 feature beyond rounding."""
    rec = make_recording(seed=2, duration_s=400.0, rate_hz=1.0, shape=(12, 16))
    shifted = dataclasses.replace(rec, frame_t=rec.frame_t + 1000.0, gas_t=rec.gas_t + 1000.0)
    _, x0 = featurize_recording(rec, FeatureParams(scene_warmup_s=5.0), "fd-v3")
    _, x1 = featurize_recording(shifted, FeatureParams(scene_warmup_s=5.0), "fd-v3")
    np.testing.assert_allclose(x1, x0, rtol=1e-9, atol=1e-9)
