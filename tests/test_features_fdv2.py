"""Feature set fd-v2: the reference frame's maximum age, the history features' definitions and
invariants, streaming = batch on recordings of both engines, and the registry."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import numpy.typing as npt
import pytest

from edge.features import (
    FEATURE_SETS,
    FeatureExtractor,
    FeatureParams,
    featurize_recording,
)
from edge.featuresets.gas import h2o_ppm
from edge.recording import Recording
from edge.types import GasReading, ThermalFrame
from tests.test_features import feed, frame, make_recording, ramp, raw_from_c, stream

NAMES = FEATURE_SETS["fd-v2"]
IDX = {name: i for i, name in enumerate(NAMES)}
THERMAL_HISTORY = slice(18, 26)
GAS_HISTORY = slice(26, 33)
SHAPE = (60, 80)


def cold(t: float, level: float = 20.0) -> ThermalFrame:
    return frame(t, np.full(SHAPE, level))


def with_spot(t: float, pixels: int, temp_c: float = 150.0, base: float = 20.0) -> ThermalFrame:
    """A 20 °C frame with the first ``pixels`` pixels (row-major) at ``temp_c``."""
    temp = np.full(SHAPE[0] * SHAPE[1], base)
    temp[:pixels] = temp_c
    return frame(t, temp.reshape(SHAPE))


def run(frames: list[ThermalFrame], params: FeatureParams | None = None) -> npt.NDArray[np.float64]:
    """The fd-v2 vectors of ``frames`` fed in order, one row each."""
    ex = FeatureExtractor(params)
    return np.array([ex.add_frame(f) for f in frames])


def quick_params() -> FeatureParams:
    """A 2-s warm-up, so tests need not wait a minute for the scene to be learnt."""
    return FeatureParams(scene_warmup_s=2.0)


class TestReferenceMaxAge:
    @pytest.mark.parametrize("feature_set", ["seed-v1", "fd-v2"])
    def test_camera_gap_gives_no_change(self, feature_set: str) -> None:
        """After an 8-s camera gap, change and flow read 0, not a jump, in every set."""
        ex = FeatureExtractor(feature_set=feature_set)
        ex.add_frame(frame(0.0, ramp(0.0, 0.0)))
        vec = ex.add_frame(frame(8.0, ramp(0.0, 0.0) + 10.0))
        assert vec[8:12].tolist() == [0.0] * 4

    def test_gap_in_a_recording(self) -> None:
        """In a recording with an 8-s camera gap the first frame after it has no change."""
        rec = make_recording(frame_gap=(10.0, 18.0), duration_s=25.0)
        t, x = featurize_recording(rec)
        frames = ~np.isnan(x[:, 0])
        first_after = int(np.flatnonzero(frames & (t >= 18.0))[0])
        last_before = int(np.flatnonzero(frames & (t < 10.0))[-1])
        assert x[first_after, 8:12].tolist() == [0.0] * 4
        assert x[last_before, 8] > 0.0  # the frame before the gap did change

    def test_five_seconds_is_still_a_reference(self) -> None:
        """A frame exactly 5 s older is still the reference (at most 5.0 s)."""
        ex = FeatureExtractor()
        ex.add_frame(cold(0.0))
        vec = ex.add_frame(cold(5.0, 23.0))
        assert vec[IDX["t_diff_mean"]] == pytest.approx(3.0)


class TestNewHotArea:
    def test_scene_hot_in_warmup_is_not_new(self) -> None:
        """A hot spot there from the first frame is the scene: no new hot area, ever."""
        x = run([with_spot(float(t), 50) for t in range(0, 120, 2)])
        assert x[:, IDX["new_hot_area_pct"]].max() == 0.0
        assert x[-1, IDX["t_hot_area_pct"]] > 0.0

    def test_spot_appearing_after_warmup_is_new(self) -> None:
        """A spot that appears after the warm-up counts as new, in % of the frame."""
        frames = [cold(float(t)) for t in range(0, 70, 2)] + [with_spot(70.0, 48)]
        x = run(frames)
        assert x[-1, IDX["new_hot_area_pct"]] == pytest.approx(48 * 100 / 4800)

    def test_growth_and_rise_steps(self) -> None:
        """A spot growing by 10 px every 2 s: growth over 10 s and 60 s, steps counted."""
        p = quick_params()
        frames = [cold(0.0), cold(2.0)] + [with_spot(2.0 + 2.0 * k, 10 * k) for k in range(1, 21)]
        x = run(frames, p)
        pct = 100.0 / 4800
        last = x[-1]
        assert last[IDX["new_hot_area_pct"]] == pytest.approx(200 * pct)
        assert last[IDX["new_hot_growth_10s"]] == pytest.approx(50 * pct)
        assert last[IDX["new_hot_growth_60s"]] == 0.0  # no frame 60 s older
        assert last[IDX["new_hot_rise_steps"]] == 15  # capped
        assert x[4, IDX["new_hot_rise_steps"]] == 3  # 30 px at 8 s: rose from 6, 4, 2 s

    def test_rise_steps_stop_at_a_pause(self) -> None:
        """A step without growth ends the count."""
        p = quick_params()
        sizes = [10, 20, 20, 30, 40]
        x = run([cold(0.0), cold(2.0)] + [with_spot(4.0 + 2 * k, n) for k, n in enumerate(sizes)],
                p)
        assert x[-1, IDX["new_hot_rise_steps"]] == 2

    def test_heat_rate_of_hottest_new_pixel(self) -> None:
        """The hottest new pixel heating from 100 to 130 °C in 1 s reads 30 K/s."""
        p = quick_params()
        x = run([cold(0.0), cold(3.0), with_spot(4.0, 5, 100.0), with_spot(5.0, 5, 130.0)], p)
        assert x[-1, IDX["new_hot_heat_rate"]] == pytest.approx(30.0, rel=1e-6)
        assert x[-2, IDX["new_hot_heat_rate"]] == pytest.approx(80.0, rel=1e-6)  # from 20 °C

    def test_growth_and_rates_zero_after_a_gap(self) -> None:
        """After a camera gap > 5 s growth, steps, rates and flicker read 0, not a jump."""
        p = quick_params()
        frames = [cold(float(t)) for t in range(0, 6)] + [with_spot(14.0, 400, 300.0)]
        last = run(frames, p)[-1]
        assert last[IDX["new_hot_area_pct"]] > 0.0
        for name in NAMES[19:26]:
            assert last[IDX[name]] == 0.0, name

    def test_heater_cycling_within_memory_continues_its_episode(self) -> None:
        """A scene heater that switches off and on within 30 min stays the scene."""
        frames = [with_spot(float(t), 30) for t in range(0, 70, 2)]
        frames += [cold(float(t)) for t in range(70, 600, 10)]
        frames += [with_spot(600.0, 30)]
        assert run(frames)[-1, IDX["new_hot_area_pct"]] == 0.0


class TestTmaxRateAndFlicker:
    def test_t_max_rate(self) -> None:
        """t_max rising 2 K/s reads 2 K/s against the frame 10 s older."""
        x = run([frame(float(t), np.full(SHAPE, 20.0 + 2.0 * t)) for t in range(0, 13)])
        assert x[-1, IDX["t_max_rate_10s"]] == pytest.approx(2.0, rel=1e-6)
        assert x[9, IDX["t_max_rate_10s"]] == 0.0  # no frame 10 s older yet

    def test_steady_ramp_has_no_flicker(self) -> None:
        """A linear rise is trend, not flicker: about 0."""
        x = run([frame(t, np.full(SHAPE, 20.0 + 2.0 * t)) for t in np.arange(0, 5, 0.25)])
        assert x[-1, IDX["t_max_flicker_k"]] == pytest.approx(0.0, abs=1e-3)

    def test_alternating_peak_flickers(self) -> None:
        """A hottest pixel alternating ±5 K about its trend reads a 5 K flicker."""
        frames = [frame(t, np.full(SHAPE, 20.0)) for t in np.arange(0, 10, 0.25)]
        for i, f in enumerate(frames):
            pix = f.pixels.copy()
            pix[0, 0] += 1000 if i % 2 else 0  # +10 K every other frame
            frames[i] = ThermalFrame(t=f.t, pixels=pix, resolution_k=0.01)
        x = run(frames)
        assert x[-1, IDX["t_max_flicker_k"]] == pytest.approx(5.0, rel=0.05)


class TestInvariants:
    def test_uniform_cold_frames_all_history_zero(self) -> None:
        """An unchanging uniform frame colder than the hot threshold: thermal history all 0."""
        x = run([cold(float(t)) for t in range(0, 100, 3)])
        assert (x[:, THERMAL_HISTORY] == 0.0).all()

    def test_bounds_on_a_recording(self) -> None:
        """0 ≤ new hot area ≤ hot area ≤ 100; rise steps an integer in 0–15; flicker ≥ 0."""
        rec = make_recording(duration_s=90.0, rate_hz=4.0)
        _, x = featurize_recording(rec, FeatureParams(scene_warmup_s=5.0), "fd-v2")
        x = x[~np.isnan(x[:, 0])]
        new, hot = x[:, IDX["new_hot_area_pct"]], x[:, IDX["t_hot_area_pct"]]
        assert (new >= 0.0).all() and (new <= hot).all() and (hot <= 100.0).all()
        assert new.max() > 0.0  # the spot heats past 60 °C after the warm-up
        steps = x[:, IDX["new_hot_rise_steps"]]
        assert set(np.unique(steps)) <= set(range(16))
        assert (x[:, IDX["hot_area_flicker_pct"]] >= 0).all()
        assert (x[:, IDX["t_max_flicker_k"]] >= 0).all()

    def test_time_shift_invariance(self) -> None:
        """Adding a constant to every timestamp changes no fd-v2 feature."""
        rec = make_recording(frame_gap=(8.0, 21.0), duration_s=40.0)
        _, x0 = featurize_recording(rec, feature_set="fd-v2")
        rec.frame_t = rec.frame_t + 1000.0
        rec.gas_t = rec.gas_t + 1000.0
        _, x1 = featurize_recording(rec, feature_set="fd-v2")
        np.testing.assert_allclose(x1, x0, rtol=1e-7, atol=1e-7, equal_nan=True)

    def test_prefix_is_seed_v1(self) -> None:
        """The first 18 fd-v2 columns are the seed-v1 vectors, bit for bit."""
        rec = make_recording(duration_s=30.0)
        t0, x0 = featurize_recording(rec)
        t1, x1 = featurize_recording(rec, feature_set="fd-v2")
        np.testing.assert_array_equal(t0, t1)
        np.testing.assert_array_equal(x1[:, :18], x0)


def gas_run(readings: list[tuple[float, float, float, float]]) -> npt.NDArray[np.float64]:
    """The gas-only fd-v2 vector after (t, co2, temp, rh) readings with no frames."""
    ex = FeatureExtractor()
    vec = None
    for t, co2, temp, rh in readings:
        vec = ex.add_gas(GasReading(t=t, co2_ppm=co2, temperature_c=temp, humidity_pct=rh))
    assert vec is not None
    return vec


class TestGasHistory:
    def test_slopes_of_a_linear_ramp(self) -> None:
        """CO2 rising 12 ppm/min: every slope reads 12, acceleration 0."""
        vec = gas_run([(t, 400.0 + 0.2 * t, 21.0, 40.0) for t in np.arange(0, 400, 5.0)])
        for name in ("co2_slope_30s", "co2_slope_120s", "co2_slope_300s"):
            assert vec[IDX[name]] == pytest.approx(12.0, rel=1e-9)
        assert vec[IDX["co2_accel"]] == pytest.approx(0.0, abs=1e-9)

    def test_acceleration_of_a_parabola(self) -> None:
        """CO2 = a·t² (t in min) has slope 2·a·t: acceleration 2·a ppm/min per min."""
        vec = gas_run([(t, 400.0 + 3.0 * (t / 60) ** 2, 21.0, 40.0)
                       for t in np.arange(0, 300, 5.0)])
        assert vec[IDX["co2_accel"]] == pytest.approx(6.0, rel=1e-6)

    def test_slopes_need_two_readings(self) -> None:
        """With one reading in the 30-s window its slope is 0; acceleration needs both halves."""
        vec = gas_run([(0.0, 400.0, 21.0, 40.0), (40.0, 500.0, 21.0, 40.0)])
        assert vec[IDX["co2_slope_30s"]] == 0.0
        assert vec[IDX["co2_slope_120s"]] == pytest.approx(150.0)
        assert vec[IDX["co2_accel"]] == 0.0

    def test_rh_delta(self) -> None:
        """RH minus RH 60 s earlier, in % points."""
        vec = gas_run([(t, 420.0, 21.0, 40.0 + 0.1 * t) for t in np.arange(0, 100, 10.0)])
        assert vec[IDX["rh_delta_60s"]] == pytest.approx(6.0)

    def test_water_per_co2_and_temperature_per_co2(self) -> None:
        """Known rises over 120 s give the Magnus water-vapour ratio and K per 100 ppm."""
        vec = gas_run([(0.0, 500.0, 20.0, 40.0), (120.0, 700.0, 22.0, 50.0)])
        water = h2o_ppm(22.0, 50.0) - h2o_ppm(20.0, 40.0)
        assert vec[IDX["h2o_per_co2_120s"]] == pytest.approx(water / 200.0)
        assert vec[IDX["temp_per_100ppm_co2_120s"]] == pytest.approx(1.0)

    def test_magnus_known_value(self) -> None:
        """At 20 °C and 100 % RH, water vapour is 23.37 hPa of 1013.25: about 23 070 ppm."""
        assert h2o_ppm(20.0, 100.0) == pytest.approx(2.337e3 / 1013.25 * 1e4, rel=2e-3)

    def test_small_co2_rise_gives_no_ratio(self) -> None:
        """A CO2 rise under 20 ppm gives ratios of 0 (noise would dominate them)."""
        vec = gas_run([(0.0, 500.0, 20.0, 40.0), (120.0, 519.0, 25.0, 80.0)])
        assert vec[IDX["h2o_per_co2_120s"]] == 0.0
        assert vec[IDX["temp_per_100ppm_co2_120s"]] == 0.0

    def test_ratios_clipped(self) -> None:
        """Steam (a large water rise on a small CO2 rise) is clipped to 20."""
        vec = gas_run([(0.0, 500.0, 20.0, 30.0), (120.0, 521.0, 20.0, 95.0)])
        assert vec[IDX["h2o_per_co2_120s"]] == 20.0


class TestMissingSensors:
    def test_gas_history_nan_when_gas_stale(self) -> None:
        """Without a fresh reading the gas history is NaN; the thermal history is not."""
        ex = FeatureExtractor()
        ex.add_gas(GasReading(t=0.0, co2_ppm=420.0, temperature_c=21.0, humidity_pct=40.0))
        vec = ex.add_frame(cold(31.0))
        assert np.isnan(vec[GAS_HISTORY]).all() and np.isnan(vec[12:18]).all()
        assert not np.isnan(vec[THERMAL_HISTORY]).any()

    def test_thermal_history_nan_when_frames_stale(self) -> None:
        """A reading with stale frames gives NaN camera features, history included."""
        ex = FeatureExtractor()
        ex.add_frame(cold(0.0))
        vec = ex.add_gas(GasReading(t=6.0, co2_ppm=420.0, temperature_c=21.0, humidity_pct=40.0))
        assert vec is not None
        assert np.isnan(vec[:12]).all() and np.isnan(vec[THERMAL_HISTORY]).all()
        assert not np.isnan(vec[GAS_HISTORY]).any()

    def test_ffc_holds_history(self) -> None:
        """A frozen (FFC) frame holds the last real frame's thermal history features."""
        p = quick_params()
        ex = FeatureExtractor(p)
        feed(ex, [cold(0.0), cold(3.0), with_spot(4.0, 10), with_spot(5.0, 20)])
        real = ex.add_frame(with_spot(6.0, 30))
        frozen = ex.add_frame(ThermalFrame(t=6.2, pixels=with_spot(6.2, 30).pixels, frozen=True))
        np.testing.assert_array_equal(frozen[THERMAL_HISTORY], real[THERMAL_HISTORY])

    def test_gain_switch_heat_rate_in_kelvin(self) -> None:
        """A reference in centi-kelvin and a frame in deci-kelvin: the heat rate in K/s."""
        ex = FeatureExtractor(quick_params())
        feed(ex, [cold(0.0), cold(3.0), with_spot(4.0, 5, 100.0)])
        temp = np.full(SHAPE[0] * SHAPE[1], 20.0)
        temp[:5] = 130.0
        vec = ex.add_frame(frame(5.0, temp.reshape(SHAPE), resolution_k=0.1))
        assert vec[IDX["new_hot_heat_rate"]] == pytest.approx(30.0, abs=0.1)
        assert vec[IDX["new_hot_area_pct"]] == pytest.approx(5 * 100 / 4800)


RECORDINGS: dict[str, dict[str, object]] = {
    "plain": {"duration_s": 80.0, "rate_hz": 4.0},
    "frame_gap": {"frame_gap": (20.0, 29.0), "duration_s": 70.0, "rate_hz": 4.0},
    "gas_gap": {"gas_gap": (10.0, 50.0), "duration_s": 70.0, "rate_hz": 4.0},
    "decikelvin": {"shape": (120, 160), "resolution_k": 0.1, "duration_s": 20.0},
}


def assert_same(rec: Recording, params: FeatureParams | None = None) -> npt.NDArray[np.float64]:
    t_b, x_b = featurize_recording(rec, params, feature_set="fd-v2")
    t_s, x_s = stream(rec, params, feature_set="fd-v2")
    np.testing.assert_array_equal(t_b, t_s)
    np.testing.assert_array_equal(x_b, x_s)  # NaN positions included
    return x_b


class TestBatchEqualsStreaming:
    @pytest.mark.parametrize("name", sorted(RECORDINGS))
    def test_synthetic(self, name: str) -> None:
        """featurize_recording(fd-v2) gives the streaming extractor's vectors, bit for bit."""
        rec = make_recording(seed=len(name), **RECORDINGS[name])  # type: ignore[arg-type]
        x = assert_same(rec, FeatureParams(scene_warmup_s=5.0))
        assert np.nanmax(np.abs(x[:, 18:])) > 0.0  # the history is exercised

    def test_scenario_engine(self) -> None:
        """A fire of the scenario engine, with FFC repeats and an 8-s camera gap cut into it:
        batch = streaming."""
        from edge.sim.scenarios import render_recording

        rec = render_recording("fast_flaming", 3, 240.0, frame_rate_hz=2.0, **FFC_AT_9_S)
        x = assert_same(engine_case(rec))
        assert np.nanmax(x[:, IDX["new_hot_area_pct"]]) > 0.0
        assert np.nanmax(x[:, IDX["co2_slope_120s"]]) > 0.0

    def test_cfast_engine(self) -> None:
        """A fire of the CFAST engine, with FFC repeats and an 8-s camera gap: batch =
        streaming."""
        x = assert_same(cfast_case(240.0, 2.0))
        assert np.nanmax(x[:, IDX["co2_slope_120s"]]) > 0.0


#: Flat-field corrections at 9 s and 189 s (the engines repeat the frame while it lasts).
FFC_AT_9_S = {"camera_ffc_period_s": 180.0, "camera_ffc_phase": 0.05}


def engine_case(rec: Recording) -> Recording:
    """``rec`` with its frames from 100 s to 108 s cut out (a camera gap), after checking it
    holds FFC repeats (identical consecutive frames)."""
    repeats = [i for i in range(1, len(rec.frames))
               if np.array_equal(rec.frames[i], rec.frames[i - 1])]
    assert repeats, "no FFC in the recording"
    keep = (rec.frame_t < 100.0) | (rec.frame_t >= 108.0)
    return dataclasses.replace(rec, frame_t=rec.frame_t[keep], frames=rec.frames[keep])


@functools.cache
def cfast_case(duration_s: float, rate_hz: float) -> Recording:
    """A CFAST waste basket (seed 11) with FFC repeats, as :func:`engine_case` cuts it (one
    render for the feature-set tests that ask for the same); skips without the CFAST binary."""
    from edge.sim.cfast import find_cfast, render_cfast_recording

    if find_cfast() is None:
        pytest.skip("the CFAST binary is not installed")
    return engine_case(render_cfast_recording("cfast_waste_basket", 11, duration_s,
                                              frame_rate_hz=rate_hz, **FFC_AT_9_S))


class TestRegistry:
    def test_fd_v2_starts_with_seed_v1(self) -> None:
        """fd-v2 is seed-v1's 18 names in order, then 15 more, all distinct."""
        assert NAMES[:18] == FEATURE_SETS["seed-v1"]
        assert len(NAMES) == 33 and len(set(NAMES)) == 33

    def test_unknown_set_is_refused_by_name(self) -> None:
        """An unknown set is a ValueError naming it and the known ones."""
        with pytest.raises(ValueError,
                           match=r"'fd-v9'.*allowed: fd-v2, fd-v3, fd-v4, fd-v5, fd-v6, seed-v1"):
            FeatureExtractor(feature_set="fd-v9")
        with pytest.raises(ValueError, match="fd-v9"):
            featurize_recording(make_recording(duration_s=1.0), feature_set="fd-v9")

    def test_params_per_set(self) -> None:
        """seed-v1 records its original 7 parameters; fd-v2 adds the scene memory's."""
        p = FeatureParams()
        assert set(p.as_dict("fd-v2")) - set(p.as_dict()) == {"scene_memory_s",
                                                              "scene_warmup_s"}
        assert len(p.as_dict("seed-v1")) == 7
        with pytest.raises(ValueError, match="scene_memory_s"):
            FeatureParams(scene_memory_s=0.0)


def test_static_scene_same_at_two_rates() -> None:
    """A static warm scene gives the same fd-v2 features at 2 Hz and at 8.7 Hz."""
    still = raw_from_c(ramp(0.0, 0.0))
    out = []
    for rate in (2.0, 8.7):
        ft = np.arange(0.0, 80.0, 1.0 / rate)
        gt = np.arange(0.0, 80.0, 5.0)
        rec = Recording(
            frame_t=ft,
            frames=np.repeat(still[None], ft.size, axis=0),
            gas_t=gt,
            co2_ppm=np.full(gt.size, 420.0, dtype=np.float32),
            temperature_c=np.full(gt.size, 21.0, dtype=np.float32),
            humidity_pct=np.full(gt.size, 40.0, dtype=np.float32),
        )
        out.append(featurize_recording(rec, feature_set="fd-v2")[1][-1])
    np.testing.assert_allclose(out[0], out[1])
    assert not math.isnan(out[0][IDX["t_max_flicker_k"]])
