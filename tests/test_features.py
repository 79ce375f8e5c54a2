"""The 18 features of seed-v1: known values, sensor-gap rules, FFC, batch = streaming, CLI."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from edge.cli import main
from edge.features import (
    FEATURE_NAMES,
    FeatureExtractor,
    FeatureParams,
    featurize_recording,
)
from edge.featuresets.thermal import doubled_gradient
from edge.recording import Recording, save_recording
from edge.types import GasReading, ThermalFrame

IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}
THERMAL = slice(0, 12)
GAS = slice(12, 18)


# -- helpers shared with test_features_props.py -------------------------------------------


def raw_from_c(temp_c: npt.ArrayLike, resolution_k: float = 0.01) -> npt.NDArray[np.uint16]:
    """Radiometric values for temperatures in °C (rounded to the camera's resolution)."""
    return np.rint((np.asarray(temp_c, dtype=np.float64) + 273.15) / resolution_k).astype(
        np.uint16
    )


def frame(t: float, temp_c: npt.ArrayLike, **kw: object) -> ThermalFrame:
    res = float(kw.pop("resolution_k", 0.01))  # type: ignore[arg-type]
    return ThermalFrame(t=t, pixels=raw_from_c(temp_c, res), resolution_k=res, **kw)  # type: ignore[arg-type]


def make_recording(
    seed: int = 0,
    duration_s: float = 30.0,
    rate_hz: float = 8.7,
    shape: tuple[int, int] = (60, 80),
    frame_gap: tuple[float, float] | None = None,
    gas_gap: tuple[float, float] | None = None,
    resolution_k: float = 0.01,
    gas_start_s: float = 0.0,
) -> Recording:
    """A warm room with a hot spot moving and heating up, and SCD41 readings every 5 s."""
    rng = np.random.default_rng(seed)
    ft = np.arange(0.0, duration_s, 1.0 / rate_hz)
    if frame_gap is not None:
        ft = ft[(ft < frame_gap[0]) | (ft >= frame_gap[1])]
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.empty((ft.size, h, w), dtype=np.uint16)
    for i, t in enumerate(ft):
        cx, cy = 10 + 1.5 * t % (w - 20), h / 2
        spot = (20.0 + 3.0 * t) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 18.0)
        temp = 22.0 + 0.05 * xx + spot + rng.normal(0.0, 0.08, (h, w))
        frames[i] = raw_from_c(temp, resolution_k)
    gt = np.arange(gas_start_s, duration_s, 5.0)
    if gas_gap is not None:
        gt = gt[(gt < gas_gap[0]) | (gt >= gas_gap[1])]
    return Recording(
        frame_t=ft,
        frames=frames,
        gas_t=gt,
        co2_ppm=(450.0 + 2.0 * gt + rng.normal(0.0, 5.0, gt.size)).astype(np.float32),
        temperature_c=(21.0 + 0.02 * gt + rng.normal(0.0, 0.05, gt.size)).astype(np.float32),
        humidity_pct=np.full(gt.size, 40.0, dtype=np.float32),
        frame_resolution_k=resolution_k,
    )


def stream(
    rec: Recording, params: FeatureParams | None = None, feature_set: str = "seed-v1"
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Feed a recording to the streaming extractor in event order; collect its vectors."""
    ex = FeatureExtractor(params, feature_set)
    events = [(float(t), 0, i) for i, t in enumerate(rec.gas_t)]
    events += [(float(t), 1, i) for i, t in enumerate(rec.frame_t)]
    events.sort()
    ts: list[float] = []
    rows: list[npt.NDArray[np.float64]] = []
    for t, kind, i in events:
        if kind == 0:
            vec = ex.add_gas(
                GasReading(
                    t=t,
                    co2_ppm=float(rec.co2_ppm[i]),
                    temperature_c=float(rec.temperature_c[i]),
                    humidity_pct=float(rec.humidity_pct[i]),
                )
            )
        else:
            vec = ex.add_frame(
                ThermalFrame(t=t, pixels=rec.frames[i], resolution_k=rec.frame_resolution_k)
            )
        if vec is not None:
            ts.append(t)
            rows.append(vec)
    return np.array(ts), np.array(rows).reshape(-1, len(ex.names))


def feed(ex: FeatureExtractor, frames: list[ThermalFrame]) -> npt.NDArray[np.float64]:
    """The vector of the last of ``frames``."""
    vec = np.empty(0)
    for f in frames:
        vec = ex.add_frame(f)
    return vec


def ramp(t: float, v_px_s: float, g_k_px: float = 1.0, shape: tuple[int, int] = (60, 80)) -> (
    npt.NDArray[np.float64]
):
    """A temperature ramp of ``g`` K/pixel along x, moving at ``v`` pixels/s."""
    xx = np.arange(shape[1])[None, :].repeat(shape[0], axis=0)
    return 20.0 + g_k_px * (xx - v_px_s * t)


# -- thermal features ---------------------------------------------------------------------


class TestThermalStatistics:
    def test_uniform_cold_frame(self) -> None:
        """An unchanging uniform frame below the threshold: only mean, max and p95 non-zero."""
        ex = FeatureExtractor()
        vec = feed(ex, [frame(t, np.full((60, 80), 21.5)) for t in np.arange(0, 3, 0.25)])
        assert vec[IDX["t_mean"]] == pytest.approx(21.5)
        assert vec[IDX["t_max"]] == pytest.approx(21.5)
        assert vec[IDX["t_p95"]] == pytest.approx(21.5)
        others = [n for n in FEATURE_NAMES[:12] if n not in ("t_mean", "t_max", "t_p95")]
        assert all(vec[IDX[n]] == 0.0 for n in others)

    def test_pixel_statistics_match_numpy(self) -> None:
        """Mean, std, max and 95th percentile equal numpy's on the °C frame."""
        rng = np.random.default_rng(3)
        raw = rng.integers(28000, 40000, (120, 160)).astype(np.uint16)
        vec = FeatureExtractor().add_frame(ThermalFrame(t=0.0, pixels=raw))
        temp = raw * 0.01 - 273.15
        assert vec[IDX["t_mean"]] == pytest.approx(temp.mean(), abs=1e-9)
        assert vec[IDX["t_std"]] == pytest.approx(temp.std(), abs=1e-9)
        assert vec[IDX["t_max"]] == pytest.approx(temp.max(), abs=1e-9)
        assert vec[IDX["t_p95"]] == pytest.approx(np.percentile(temp, 95), abs=1e-9)

    def test_deci_kelvin_resolution(self) -> None:
        """A frame in deci-kelvin converts with its own resolution."""
        raw = np.full((60, 80), 6000, dtype=np.uint16)  # 600.0 K = 326.85 °C
        vec = FeatureExtractor().add_frame(ThermalFrame(t=0.0, pixels=raw, resolution_k=0.1))
        assert vec[IDX["t_max"]] == pytest.approx(326.85)
        assert vec[IDX["t_hot_area_pct"]] == 100.0


class TestHotPixels:
    def test_area_and_largest_blob(self) -> None:
        """Two hot squares of 20 and 9 pixels: area counts both, the blob the larger."""
        temp = np.full((60, 80), 25.0)
        temp[10:14, 10:15] = 300.0
        temp[40:43, 60:63] = 80.0
        vec = FeatureExtractor().add_frame(frame(0.0, temp))
        assert vec[IDX["t_hot_area_pct"]] == pytest.approx(29 / 4800 * 100)
        assert vec[IDX["t_hot_largest_blob_pct"]] == pytest.approx(20 / 4800 * 100)

    def test_diagonal_neighbours_are_connected(self) -> None:
        """Pixels touching only at a corner form one region (8-connectivity)."""
        temp = np.full((60, 80), 25.0)
        for k in range(6):
            temp[5 + k, 5 + k] = 100.0
        vec = FeatureExtractor().add_frame(frame(0.0, temp))
        assert vec[IDX["t_hot_largest_blob_pct"]] == pytest.approx(6 / 4800 * 100)

    def test_threshold_is_strict(self) -> None:
        """A pixel at exactly the threshold is not hot; one 0.01 K above is."""
        temp = np.full((60, 80), 25.0)
        temp[0, 0] = 60.0
        assert FeatureExtractor().add_frame(frame(0.0, temp))[IDX["t_hot_area_pct"]] == 0.0
        temp[0, 0] = 60.01
        vec = FeatureExtractor().add_frame(frame(0.0, temp))
        assert vec[IDX["t_hot_area_pct"]] == pytest.approx(100 / 4800)

    def test_threshold_is_a_parameter(self) -> None:
        """A lower hot threshold makes a warm pixel hot."""
        temp = np.full((60, 80), 25.0)
        temp[3, 3] = 45.0
        ex = FeatureExtractor(FeatureParams(hot_threshold_c=40.0))
        assert ex.add_frame(frame(0.0, temp))[IDX["t_hot_area_pct"]] == pytest.approx(100 / 4800)

    def test_saturated_frame(self) -> None:
        """A fully saturated frame is all hot and one blob."""
        raw = np.full((60, 80), 65535, dtype=np.uint16)
        vec = FeatureExtractor().add_frame(ThermalFrame(t=0.0, pixels=raw))
        assert vec[IDX["t_hot_area_pct"]] == 100.0
        assert vec[IDX["t_hot_largest_blob_pct"]] == 100.0


class TestGradient:
    def test_step_edge(self) -> None:
        """A 10 K step between two columns gives 5 K/px on both: known mean and std."""
        temp = np.full((60, 80), 20.0)
        temp[:, 40:] = 30.0
        vec = FeatureExtractor().add_frame(frame(0.0, temp))
        g = np.zeros((60, 80))
        g[:, 39:41] = 5.0
        assert vec[IDX["t_grad_mean"]] == pytest.approx(0.125)
        assert vec[IDX["t_grad_mean"]] == pytest.approx(g.mean())
        assert vec[IDX["t_grad_std"]] == pytest.approx(g.std())

    @pytest.mark.parametrize("shape", [(120, 160), (60, 80), (2, 2), (2, 5), (5, 2), (3, 3)])
    def test_matches_numpy_gradient(self, shape: tuple[int, int]) -> None:
        """The magnitude equals numpy.gradient's central/one-sided differences, any size."""
        rng = np.random.default_rng(5)
        raw = rng.integers(29000, 31000, shape).astype(np.uint16)
        vec = FeatureExtractor().add_frame(ThermalFrame(t=0.0, pixels=raw))
        gy, gx = np.gradient(raw * 0.01)
        mag = np.hypot(gx, gy)
        assert vec[IDX["t_grad_mean"]] == pytest.approx(mag.mean(), rel=1e-5)
        assert vec[IDX["t_grad_std"]] == pytest.approx(mag.std(), rel=1e-5)

    @pytest.mark.parametrize("shape", [(120, 160), (60, 80), (2, 2), (2, 5), (5, 2), (3, 3),
                                       (7, 3), (3, 7)])
    def test_exactly_twice_numpy_gradient_contiguous_or_not(self, shape: tuple[int, int]
                                                            ) -> None:
        """``doubled_gradient`` is bit for bit the float32 magnitude of twice numpy.gradient's
        differences, whether the frame is C-contiguous (one subtraction over the rows end to
        end) or a strided view (row by row)."""
        rng = np.random.default_rng(6)
        f = rng.integers(0, 65536, (shape[0], 2 * shape[1])).astype(np.float32)
        for frame32 in (np.ascontiguousarray(f[:, ::2]), f[:, ::2]):
            gy, gx = np.gradient(frame32.astype(np.float64))  # halves of exact integers
            gx32, gy32 = (2.0 * gx).astype(np.float32), (2.0 * gy).astype(np.float32)
            want = np.sqrt(gx32 * gx32 + gy32 * gy32)
            got = doubled_gradient(frame32)
            assert got.dtype == np.float32
            assert np.array_equal(got, want)


class TestChangeAndFlow:
    def test_no_reference_in_first_second(self) -> None:
        """Until a frame 1 s older exists, change and flow are 0."""
        ex = FeatureExtractor()
        ex.add_frame(frame(0.0, ramp(0.0, 0.0)))
        vec = ex.add_frame(frame(0.9, ramp(0.0, 0.0) + 5.0))
        assert all(vec[IDX[n]] == 0.0 for n in FEATURE_NAMES[8:12])

    def test_reference_is_newest_frame_one_second_older(self) -> None:
        """With frames at 0, 0.5, 1.0, 1.5 s, the frame at 1.5 s compares with the one at 0.5."""
        ex = FeatureExtractor()
        levels = {0.0: 20.0, 0.5: 21.0, 1.0: 23.0, 1.5: 26.0}
        vec = feed(ex, [frame(t, np.full((60, 80), c)) for t, c in levels.items()])
        assert vec[IDX["t_diff_mean"]] == pytest.approx(5.0)
        assert vec[IDX["t_diff_std"]] == pytest.approx(0.0, abs=1e-6)

    def test_block_change(self) -> None:
        """A 2 K change on a quarter of the frame: mean 0.5 K, std of |ΔT| √(0.75)."""
        ex = FeatureExtractor()
        cold = np.full((60, 80), 20.0)
        warm = cold.copy()
        warm[:30, :40] = 22.0
        vec = feed(ex, [frame(0.0, cold), frame(1.0, warm)])
        assert vec[IDX["t_diff_mean"]] == pytest.approx(0.5, rel=1e-5)
        assert vec[IDX["t_diff_std"]] == pytest.approx(math.sqrt(0.75), rel=1e-5)

    @pytest.mark.parametrize("rate_hz", [2.0, 8.7])
    def test_moving_ramp_flow_speed(self, rate_hz: float) -> None:
        """A 1 K/px ramp moving at 2 px/s has a normal flow of 2 px/s everywhere, at any rate."""
        ex = FeatureExtractor()
        times = np.arange(0.0, 3.0, 1.0 / rate_hz)
        vec = feed(ex, [frame(float(t), ramp(float(t), 2.0)) for t in times])
        assert vec[IDX["flow_mag_mean"]] == pytest.approx(2.0, rel=1e-2)
        assert vec[IDX["flow_mag_std"]] == pytest.approx(0.0, abs=2e-2)
        assert vec[IDX["t_grad_mean"]] == pytest.approx(1.0, rel=1e-3)

    def test_flow_only_over_moving_pixels(self) -> None:
        """Pixels whose gradient or change is below 0.5 do not count as moving."""
        ex = FeatureExtractor()
        base = np.full((60, 80), 20.0)
        base[:, 40:] = ramp(0.0, 0.0)[:, 40:] - 20.0  # a 1 K/px ramp on the right half
        moved = base.copy()
        moved[:, 40:] -= 1.0  # the ramp moves by 1 px in 1 s
        moved[:, :10] += 0.3  # a small change on a flat area: not moving
        vec = feed(ex, [frame(0.0, base), frame(1.0, moved)])
        # Moving: columns 41–79 (|∇T| = 1 K/px, flow 1 px/s) and column 40, on the 20 → 39 °C
        # step (|∇T| = (40 − 20)/2 = 10 K/px, flow 0.1 px/s); not the 0.3 K change.
        assert vec[IDX["flow_mag_mean"]] == pytest.approx((39 * 1.0 + 0.1) / 40, rel=1e-4)
        assert vec[IDX["flow_mag_std"]] == pytest.approx(0.9 * math.sqrt(39) / 40, rel=1e-4)

    def test_no_moving_pixel_gives_zero_flow(self) -> None:
        """A uniform frame warming by 3 K has change but no gradient: flow is 0."""
        ex = FeatureExtractor()
        vec = feed(ex, [frame(0.0, np.full((60, 80), 20.0)), frame(1.0, np.full((60, 80), 23.0))])
        assert vec[IDX["t_diff_mean"]] == pytest.approx(3.0)
        assert vec[IDX["flow_mag_mean"]] == 0.0
        assert vec[IDX["flow_mag_std"]] == 0.0

    def test_gain_switch_keeps_change_in_kelvin(self) -> None:
        """A reference in centi-kelvin and a frame in deci-kelvin compare in kelvin."""
        ex = FeatureExtractor()
        ex.add_frame(frame(0.0, np.full((60, 80), 20.0)))
        vec = ex.add_frame(frame(1.0, np.full((60, 80), 24.0), resolution_k=0.1))
        assert vec[IDX["t_diff_mean"]] == pytest.approx(4.0, abs=0.06)


# -- gas features -------------------------------------------------------------------------


def gas_vec(readings: list[tuple[float, float, float]]) -> npt.NDArray[np.float64]:
    """The vector after feeding (t, co2, temp) readings with no frames (gas-only vectors)."""
    ex = FeatureExtractor()
    vec = None
    for t, co2, temp in readings:
        vec = ex.add_gas(GasReading(t=t, co2_ppm=co2, temperature_c=temp, humidity_pct=40.0))
    assert vec is not None
    return vec


class TestGasFeatures:
    def test_linear_ramp_exact_slope_and_delta(self) -> None:
        """CO2 rising 3 ppm/s and T 0.01 K/s: slopes 180 ppm/min and 0.6 K/min, 60 s deltas."""
        readings = [(t, 400.0 + 3.0 * t, 20.0 + 0.01 * t) for t in np.arange(0.0, 125.0, 5.0)]
        vec = gas_vec(readings)
        assert vec[IDX["gas_val"]] == pytest.approx(400.0 + 3.0 * 120.0)
        assert vec[IDX["gas_delta"]] == pytest.approx(180.0)
        assert vec[IDX["gas_vel"]] == pytest.approx(180.0)
        assert vec[IDX["tproxy_val"]] == pytest.approx(21.2)
        assert vec[IDX["tproxy_delta"]] == pytest.approx(0.6)
        assert vec[IDX["tproxy_vel"]] == pytest.approx(0.6)

    def test_early_delta_uses_oldest_reading(self) -> None:
        """Before 60 s of readings exist, the delta is against the oldest reading."""
        vec = gas_vec([(t, 400.0 + 3.0 * t, 20.0) for t in (0.0, 5.0, 10.0, 20.0)])
        assert vec[IDX["gas_delta"]] == pytest.approx(60.0)
        assert vec[IDX["gas_vel"]] == pytest.approx(180.0)

    def test_irregular_readings_pick_newest_sixty_seconds_older(self) -> None:
        """At t=100 the reading 60 s earlier is the newest at or before 40 s (t=30)."""
        data = {0.0: 400.0, 30.0: 430.0, 50.0: 470.0, 70.0: 500.0, 100.0: 520.0}
        vec = gas_vec([(t, c, 20.0) for t, c in data.items()])
        assert vec[IDX["gas_delta"]] == pytest.approx(520.0 - 430.0)
        # The slope uses 50, 70, 100 (40 < t ≤ 100).
        t = np.array([50.0, 70.0, 100.0])
        y = np.array([470.0, 500.0, 520.0])
        assert vec[IDX["gas_vel"]] == pytest.approx(np.polyfit(t, y, 1)[0] * 60.0)

    def test_constant_readings(self) -> None:
        """Constant readings give zero deltas and slopes."""
        vec = gas_vec([(float(t), 612.0, 23.4) for t in range(0, 200, 5)])
        assert vec[GAS].tolist() == [23.4, 0.0, 0.0, 612.0, 0.0, 0.0]

    def test_single_reading_has_no_slope(self) -> None:
        """One reading: the value, a zero delta and a zero slope."""
        vec = gas_vec([(7.0, 800.0, 30.0)])
        assert vec[GAS].tolist() == [30.0, 0.0, 0.0, 800.0, 0.0, 0.0]


class TestMissingSensors:
    def test_gas_nan_without_fresh_reading(self) -> None:
        """Gas features hold for under 30 s after a reading and are NaN from 30 s on."""
        ex = FeatureExtractor()
        ex.add_gas(GasReading(t=0.0, co2_ppm=500.0, temperature_c=20.0, humidity_pct=40.0))
        cold = np.full((60, 80), 20.0)
        assert ex.add_frame(frame(29.9, cold))[IDX["gas_val"]] == 500.0
        assert np.isnan(ex.add_frame(frame(30.0, cold))[GAS]).all()
        assert ex.missing() == {"scd41"}

    def test_no_reading_yet(self) -> None:
        """A frame before any reading has NaN gas features and finite thermal ones."""
        vec = FeatureExtractor().add_frame(frame(0.0, np.full((60, 80), 20.0)))
        assert np.isnan(vec[GAS]).all()
        assert np.isfinite(vec[THERMAL]).all()

    def test_gas_only_vectors_when_frames_stale(self) -> None:
        """add_gas returns a vector (thermal NaN) only from 5 s after the last frame."""
        ex = FeatureExtractor()
        assert ex.missing() == {"lepton", "scd41"}
        ex.add_frame(frame(10.0, np.full((60, 80), 20.0)))
        reading = GasReading(t=14.9, co2_ppm=500.0, temperature_c=20.0, humidity_pct=40.0)
        assert ex.add_gas(reading) is None
        assert ex.missing() == set()
        vec = ex.add_gas(GasReading(t=15.0, co2_ppm=510.0, temperature_c=20.0, humidity_pct=40.0))
        assert vec is not None
        assert np.isnan(vec[THERMAL]).all()
        assert vec[IDX["gas_val"]] == 510.0
        assert ex.missing() == {"lepton"}
        assert ex.missing(now=100.0) == {"lepton", "scd41"}

    def test_reset_forgets_everything(self) -> None:
        """After reset the extractor behaves as new."""
        ex = FeatureExtractor()
        ex.add_frame(frame(0.0, np.full((60, 80), 20.0)))
        ex.add_gas(GasReading(t=0.5, co2_ppm=500.0, temperature_c=20.0, humidity_pct=40.0))
        ex.reset()
        assert ex.missing() == {"lepton", "scd41"}
        vec = ex.add_frame(frame(0.0, np.full((60, 80), 25.0)))
        assert np.isnan(vec[GAS]).all()
        assert vec[IDX["t_diff_mean"]] == 0.0


class TestFrozenFrames:
    def test_ffc_holds_features(self) -> None:
        """Frozen frames return the last real thermal features, whatever their pixels."""
        ex = FeatureExtractor()
        times = np.arange(0.0, 3.0, 0.115)
        before = feed(ex, [frame(float(t), ramp(float(t), 2.0)) for t in times])
        shutter = np.full((60, 80), 35.0)
        for t in (3.0, 3.1, 3.2):
            held = ex.add_frame(frame(t, shutter, frozen=True))
            np.testing.assert_array_equal(held[THERMAL], before[THERMAL])

    def test_no_spike_after_ffc(self) -> None:
        """The first real frame after an FFC compares with a real frame, not the shutter."""
        ex = FeatureExtractor()
        still = np.full((60, 80), 20.0)
        still[:, 40:] = 30.0
        feed(ex, [frame(t, still) for t in np.arange(0.0, 2.0, 0.25)])
        for t in np.arange(2.0, 3.0, 0.25):
            ex.add_frame(frame(float(t), np.full((60, 80), 33.0), frozen=True))
        vec = ex.add_frame(frame(3.0, still))
        assert vec[IDX["t_diff_mean"]] == 0.0
        assert vec[IDX["flow_mag_mean"]] == 0.0

    def test_frozen_without_real_frame(self) -> None:
        """A frozen frame before any real frame has NaN thermal features."""
        vec = FeatureExtractor().add_frame(frame(0.0, np.full((60, 80), 20.0), frozen=True))
        assert np.isnan(vec[THERMAL]).all()

    def test_long_ffc_makes_camera_stale(self) -> None:
        """Frozen frames do not keep the camera fresh: after 5 s, thermal features are NaN."""
        ex = FeatureExtractor()
        ex.add_frame(frame(0.0, np.full((60, 80), 20.0)))
        vec = ex.add_frame(frame(5.0, np.full((60, 80), 20.0), frozen=True))
        assert np.isnan(vec[THERMAL]).all()
        assert "lepton" in ex.missing()


class TestExtractorInput:
    def test_rejects_wrong_dtype(self) -> None:
        """Float pixels are refused with a message naming the dtype."""
        with pytest.raises(ValueError, match="uint16"):
            FeatureExtractor().add_frame(
                ThermalFrame(t=0.0, pixels=np.zeros((60, 80)))  # type: ignore[arg-type]
            )

    def test_rejects_time_going_back(self) -> None:
        """A frame older than the previous one is refused."""
        ex = FeatureExtractor()
        ex.add_frame(frame(2.0, np.full((60, 80), 20.0)))
        with pytest.raises(ValueError, match="time order"):
            ex.add_frame(frame(1.0, np.full((60, 80), 20.0)))

    def test_rejects_nan_reading_time(self) -> None:
        """A reading stamped NaN is refused."""
        with pytest.raises(ValueError, match="finite"):
            FeatureExtractor().add_gas(
                GasReading(t=math.nan, co2_ppm=1.0, temperature_c=1.0, humidity_pct=1.0)
            )

    def test_rejects_bad_params(self) -> None:
        """A non-positive window is refused with its name."""
        with pytest.raises(ValueError, match="window_s"):
            FeatureParams(window_s=0.0)


# -- batch path ---------------------------------------------------------------------------


RECORDINGS = {
    "plain": {},
    "frame_gap": {"frame_gap": (8.0, 21.0), "duration_s": 40.0},
    "gas_gap": {"gas_gap": (5.0, 50.0), "duration_s": 70.0, "rate_hz": 3.0},
    "gas_late": {"gas_start_s": 12.5},
    "lepton3_decikelvin": {"shape": (120, 160), "resolution_k": 0.1, "duration_s": 8.0},
    "two_hz": {"rate_hz": 2.0, "duration_s": 90.0},
}


class TestBatchEqualsStreaming:
    @pytest.mark.parametrize("name", sorted(RECORDINGS))
    def test_same_vectors(self, name: str) -> None:
        """featurize_recording gives the streaming extractor's vectors, NaNs included."""
        rec = make_recording(seed=len(name), **RECORDINGS[name])  # type: ignore[arg-type]
        t_b, x_b = featurize_recording(rec)
        t_s, x_s = stream(rec)
        np.testing.assert_array_equal(t_b, t_s)
        np.testing.assert_array_equal(np.isnan(x_b), np.isnan(x_s))
        np.testing.assert_array_equal(x_b, x_s)  # the same code on the same data: bit-equal

    def test_gap_rows(self) -> None:
        """A frame gap gives gas-only rows; a gas gap gives NaN gas features on frames."""
        rec = make_recording(frame_gap=(8.0, 21.0), duration_s=40.0)
        t, x = featurize_recording(rec)
        gas_only = np.isnan(x[:, 0])
        assert t[gas_only].tolist() == [0.0, 15.0, 20.0]  # 10 s is < 5 s after the last frame
        rec = make_recording(gas_gap=(5.0, 50.0), duration_s=70.0)
        t, x = featurize_recording(rec)
        nan_gas = np.isnan(x[:, 12])
        assert t[nan_gas].min() >= 30.0
        assert t[nan_gas].max() < 50.0

    def test_time_shift_invariance(self) -> None:
        """Adding a constant to every timestamp changes no feature."""
        rec = make_recording(frame_gap=(8.0, 21.0), duration_s=40.0)
        t0, x0 = featurize_recording(rec)
        rec.frame_t = rec.frame_t + 1000.0
        rec.gas_t = rec.gas_t + 1000.0
        t1, x1 = featurize_recording(rec)
        np.testing.assert_allclose(t1, t0 + 1000.0)
        np.testing.assert_allclose(x1, x0, rtol=1e-7, atol=1e-7, equal_nan=True)

    def test_static_scene_same_at_two_rates(self) -> None:
        """A static scene gives the same features at 2 Hz and at 8.7 Hz."""
        still = raw_from_c(ramp(0.0, 0.0))
        out = []
        for rate in (2.0, 8.7):
            ft = np.arange(0.0, 20.0, 1.0 / rate)
            gt = np.arange(0.0, 20.0, 5.0)
            rec = Recording(
                frame_t=ft,
                frames=np.repeat(still[None], ft.size, axis=0),
                gas_t=gt,
                co2_ppm=np.full(gt.size, 420.0, dtype=np.float32),
                temperature_c=np.full(gt.size, 21.0, dtype=np.float32),
                humidity_pct=np.full(gt.size, 40.0, dtype=np.float32),
            )
            out.append(featurize_recording(rec)[1][-1])
        np.testing.assert_allclose(out[0], out[1])

    def test_empty_recording(self) -> None:
        """A recording with no frames and no readings has no vectors."""
        rec = make_recording(duration_s=0.0)
        t, x = featurize_recording(rec)
        assert t.shape == (0,)
        assert x.shape == (0, 18)


# -- firedetect features ------------------------------------------------------------------


class TestFeaturesCommand:
    def test_writes_csv(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The CSV has the header, one row per vector, and the batch values (NaN empty)."""
        rec = make_recording(duration_s=6.0, frame_gap=(0.0, 0.5))
        path = save_recording(rec, tmp_path / "r.npz")
        assert main(["features", str(path)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split(",") == ["t", *FEATURE_NAMES]
        t, x = featurize_recording(rec)
        assert len(lines) == 1 + t.size
        first = lines[1].split(",")
        assert first[1:13] == [""] * 12  # the reading at 0 s comes before any frame
        assert float(first[13]) == pytest.approx(x[0, 12])
        last = [float(v) for v in lines[-1].split(",")]
        np.testing.assert_array_equal(last, [t[-1], *x[-1]])

    def test_broken_recording(self, tmp_path: Path) -> None:
        """A broken file: the RecordingError message on stderr, exit 2, no traceback."""
        bad = tmp_path / "bad.npz"
        bad.write_bytes(b"not a recording at all")
        proc = subprocess.run(
            [sys.executable, "-m", "edge.cli", "features", str(bad)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 2
        assert proc.stdout == ""
        assert "bad.npz" in proc.stderr
        assert "Traceback" not in proc.stderr
