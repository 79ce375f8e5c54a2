"""The fd-v5 feature set: fd-v4 plus the saturation of the frame and of its new hot region (a
camera sends a pixel hotter than its gain's range at its ceiling, so a flame in high gain reads
as a plateau at one value; docs/features.md)."""

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
from edge.recording import Recording
from edge.types import GasReading
from tests.test_features import frame, make_recording
from tests.test_features_fdv2 import FFC_AT_9_S, cfast_case, engine_case
from tests.test_features_fdv3 import EPS, PCT, SHAPE, Scene
from tests.test_features_fdv3 import assert_same as assert_same_v3
from tests.test_features_fdv3 import run as run_v3

NAMES = FEATURE_SETS["fd-v5"]
IDX = {name: i for i, name in enumerate(NAMES)}
SAT = slice(45, 47)
CEILING_C = 160.0  # a high-gain unit's clip, °C


def run(scene: Scene, duration_s: float, resolution_k: float = 0.01
        ) -> tuple[list[float], npt.NDArray[np.float64]]:
    """The frame times and fd-v5 vectors of ``scene`` filmed at 1 Hz; warm-up 60 s."""
    times = [float(k) for k in range(round(duration_s) + 1)]
    return times, run_v3(scene, duration_s, 1.0, None, resolution_k, feature_set="fd-v5")


def at(times: list[float], x: npt.NDArray[np.float64], t: float) -> npt.NDArray[np.float64]:
    return x[next(i for i, ti in enumerate(times) if ti >= t - EPS)]


def grown(t: float) -> int:
    """Pixels of a region that appears at 100 s and gains one every 5 s."""
    return 0 if t < 100.0 else 1 + math.floor((t - 100.0) / 5.0 + EPS)


def clipped_flame(t: float) -> npt.NDArray[np.float64]:
    """A 20 °C room; from 100 s a growing region every pixel of which is at the ceiling."""
    temp = np.full(SHAPE[0] * SHAPE[1], 20.0)
    temp[:grown(t)] = CEILING_C
    return temp


def graded_flame(t: float) -> npt.NDArray[np.float64]:
    """The same region in range: each pixel 1 K hotter than the one before, from 300 °C."""
    temp = np.full(SHAPE[0] * SHAPE[1], 20.0)
    n = grown(t)
    temp[:n] = 300.0 + np.arange(n)
    return temp


def hob_then_flame(t: float) -> npt.NDArray[np.float64]:
    """A hob of 10 pixels at the ceiling from the start (the scene); from 100 s a growing
    region at the ceiling beside it."""
    temp = np.full(SHAPE[0] * SHAPE[1], 20.0)
    temp[-10:] = CEILING_C
    temp[:grown(t)] = CEILING_C
    return temp


def hob_then_dim_flame(t: float) -> npt.NDArray[np.float64]:
    """The hob at the ceiling, and from 100 s a growing region at 120 °C, under it."""
    temp = hob_then_flame(t)
    temp[:grown(t)] = 120.0
    return temp


class TestSaturation:
    def test_a_region_at_the_ceiling_is_saturated(self) -> None:
        """Every pixel of the new region at one value: the frame's share at its top is the
        region's size, and all of the new hot region is at the top."""
        times, x = run(clipped_flame, 200.0)
        for t in (110.0, 150.0, 200.0):
            row = at(times, x, t)
            assert row[IDX["sat_area_pct"]] == pytest.approx(grown(t) * PCT)
            assert row[IDX["new_hot_sat_share"]] == 1.0

    def test_one_pixel_at_the_top_is_not_saturation(self) -> None:
        """The region's first 5 s is one pixel: a frame always has a highest pixel, so one
        alone says nothing (``SAT_MIN_PX`` = 2)."""
        times, x = run(clipped_flame, 110.0)
        assert at(times, x, 102.0)[SAT].tolist() == [0.0, 0.0]
        assert at(times, x, 106.0)[IDX["sat_area_pct"]] == pytest.approx(2 * PCT)

    def test_a_region_in_range_is_not_saturated(self) -> None:
        """The same growth with every pixel at its own temperature: no plateau, both 0."""
        times, x = run(graded_flame, 200.0)
        assert not np.any(x[:, SAT])
        assert at(times, x, 200.0)[IDX["new_hot_area_pct"]] == pytest.approx(21 * PCT)

    def test_a_cool_plateau_is_not_saturation(self) -> None:
        """A flat 20 °C frame has all its pixels at the top, but the top is not hot."""
        _, x = run(lambda t: np.full(SHAPE[0] * SHAPE[1], 20.0), 30.0)
        assert not np.any(x[:, SAT])

    def test_the_scene_at_the_ceiling_counts_in_the_frame_not_in_the_new_share(self) -> None:
        """A hob at the ceiling since the start: the frame is saturated (its 10 px) with no
        new hot pixel; a new region joins it at the ceiling (share 1), or below it (share 0,
        the frame's area still the hob's)."""
        times, x = run(hob_then_flame, 150.0)
        before = at(times, x, 90.0)
        assert before[IDX["sat_area_pct"]] == pytest.approx(10 * PCT)
        assert before[IDX["new_hot_sat_share"]] == 0.0
        after = at(times, x, 150.0)
        assert after[IDX["sat_area_pct"]] == pytest.approx((10 + grown(150.0)) * PCT)
        assert after[IDX["new_hot_sat_share"]] == 1.0
        times, x = run(hob_then_dim_flame, 150.0)
        dim = at(times, x, 150.0)
        assert dim[IDX["sat_area_pct"]] == pytest.approx(10 * PCT)
        assert dim[IDX["new_hot_sat_share"]] == 0.0
        assert dim[IDX["new_hot_area_pct"]] == pytest.approx(grown(150.0) * PCT)

    def test_any_resolution(self) -> None:
        """In 0.1-K frames (low gain) the ceiling is one value as well."""
        times, x = run(clipped_flame, 150.0, resolution_k=0.1)
        assert at(times, x, 150.0)[IDX["new_hot_sat_share"]] == 1.0

    def test_nan_when_frames_stale(self) -> None:
        """Saturation is the camera's: NaN in a vector given without a fresh frame."""
        assert camera_columns(len(NAMES))[SAT].all()
        ex = FeatureExtractor(feature_set="fd-v5")
        for t in range(150):
            ex.add_frame(frame(float(t), clipped_flame(float(t)).reshape(SHAPE)))
        vec = ex.add_gas(GasReading(t=160.0, co2_ppm=450.0, temperature_c=21.0,
                                    humidity_pct=40.0))
        assert vec is not None and np.isnan(vec[SAT]).all()
        assert not np.isnan(vec[IDX["gas_val"]])

    def test_needs_the_long_history(self) -> None:
        """The saturation columns follow fd-v4's: a history without them is refused."""
        with pytest.raises(ValueError, match="sat needs long and accel"):
            ThermalHistory(60.0, 1800.0, 60.0, long=True, sat=True)


def assert_same(rec: Recording, params: FeatureParams | None = None) -> npt.NDArray[np.float64]:
    return assert_same_v3(rec, params, feature_set="fd-v5")


class TestBatchEqualsStreaming:
    def test_synthetic_with_gaps(self) -> None:
        """5 minutes at 2 Hz with a 20-s camera gap and a 40-s SCD41 gap: batch = streaming."""
        rec = make_recording(seed=3, duration_s=300.0, rate_hz=2.0, shape=(12, 16),
                             frame_gap=(100.0, 120.0), gas_gap=(200.0, 240.0))
        assert_same(rec, FeatureParams(scene_warmup_s=5.0))

    def test_a_fire_clipped_in_high_gain(self) -> None:
        """A grease fire of the scenario engine in high gain (its hob, then its flames, at the
        unit's 159.6 °C clip), with FFC repeats and an 8-s camera gap: batch = streaming, and
        the new hot region reads saturated once the flames show."""
        from edge.sim.scenarios import render_recording

        rec = render_recording("kitchen_grease_fire", 11, 300.0, frame_rate_hz=1.0, **FFC_AT_9_S)
        assert rec.meta["params"]["camera_low_gain"] is False
        x = assert_same(engine_case(rec))
        assert np.nanmax(x[:, IDX["new_hot_sat_share"]]) > 0.5
        assert np.nanmax(x[:, IDX["sat_area_pct"]]) > 1.0

    def test_cfast_engine(self) -> None:
        """A fire of the CFAST engine, 10 min with FFC repeats and an 8-s camera gap."""
        assert_same(cfast_case(600.0, 1.0))


class TestRegistry:
    def test_fd_v5_extends_fd_v4(self) -> None:
        """fd-v5 is fd-v4's 45 names in order, then the 2 saturation features, all distinct,
        and records fd-v4's parameters; the extractor's default set (fd-v6) begins with it."""
        assert NAMES[:45] == FEATURE_SETS["fd-v4"]
        assert len(NAMES) == 47 and len(set(NAMES)) == 47
        assert FEATURE_SETS[RICHEST_SET][:47] == NAMES
        assert FeatureExtractor().names[:47] == NAMES
        p = FeatureParams()
        assert p.as_dict("fd-v5") == p.as_dict("fd-v4")

    def test_prefix_is_fd_v4(self) -> None:
        """The first 45 columns of an fd-v5 vector are the fd-v4 vector, bit for bit."""
        rec = make_recording(seed=1, duration_s=300.0, rate_hz=2.0, shape=(12, 16))
        _, x4 = featurize_recording(rec, FeatureParams(scene_warmup_s=5.0), "fd-v4")
        _, x5 = featurize_recording(rec, FeatureParams(scene_warmup_s=5.0), "fd-v5")
        np.testing.assert_array_equal(x5[:, :45], x4)
