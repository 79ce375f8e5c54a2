"""Property tests of the features: the invariants of features.md on random frames and readings."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from edge.features import FEATURE_NAMES, FeatureExtractor, featurize_recording
from edge.featuresets.blobs import largest_blob_pixels
from edge.recording import Recording
from edge.types import GasReading, ThermalFrame
from tests.test_features import stream

IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}
PROPS = settings(max_examples=60, deadline=None)

# Raw values around the 60 °C threshold (33315 cK), with the extremes of the range.
raw_values = st.one_of(st.integers(28000, 36000), st.sampled_from([0, 33315, 33316, 65535]))
shapes = st.tuples(st.integers(2, 12), st.integers(2, 12))
frames_st = hnp.arrays(np.uint16, shapes, elements=raw_values)
# Times on a 1/64 s grid, so that shifting them by whole seconds is exact.
steps = st.integers(1, 64 * 8).map(lambda k: k / 64.0)


@st.composite
def recordings(draw: st.DrawFn) -> Recording:
    """A short recording with irregular frame and reading times, gaps included."""
    h, w = draw(shapes)
    n = draw(st.integers(0, 25))
    m = draw(st.integers(0, 12))
    ft = np.cumsum([draw(st.sampled_from([0.0, 1 / 64, 0.125, 0.5, 1.0, 6.0])) for _ in range(n)])
    gt = np.cumsum([draw(st.sampled_from([0.0, 5.0, 20.0, 31.0, 61.0])) for _ in range(m)])
    frames = draw(hnp.arrays(np.uint16, (n, h, w), elements=raw_values))
    gas = draw(
        hnp.arrays(np.float32, (3, m), elements=st.floats(0, 5000, width=32, allow_subnormal=False))
    )
    return Recording(
        frame_t=ft.astype(np.float64),
        frames=frames,
        gas_t=gt.astype(np.float64),
        co2_ppm=gas[0],
        temperature_c=gas[1],
        humidity_pct=gas[2],
        frame_resolution_k=draw(st.sampled_from([0.01, 0.1])),
    )


def _feed_frames(raws: list[npt.NDArray[np.uint16]], dts: list[float]) -> list[np.ndarray]:
    ex = FeatureExtractor()
    t = 0.0
    out = []
    for raw, dt in zip(raws, dts, strict=False):
        t += dt
        out.append(ex.add_frame(ThermalFrame(t=t, pixels=raw)))
    return out


class TestFrameInvariants:
    @PROPS
    @given(data=st.data(), shape=shapes)
    def test_order_and_range_invariants(self, data: st.DataObject, shape: tuple[int, int]) -> None:
        """t_max ≥ t_p95, t_max ≥ t_mean, 0 ≤ blob ≤ area ≤ 100, spreads ≥ 0, all finite."""
        raws = data.draw(st.lists(hnp.arrays(np.uint16, shape, elements=raw_values), min_size=1,
                                  max_size=6))
        dts = data.draw(st.lists(steps, min_size=len(raws), max_size=len(raws)))
        for vec in _feed_frames(raws, dts):
            th = vec[:12]
            assert np.isfinite(th).all()
            assert th[IDX["t_max"]] >= th[IDX["t_p95"]]
            assert th[IDX["t_max"]] >= th[IDX["t_mean"]] - 1e-9
            area, blob = th[IDX["t_hot_area_pct"]], th[IDX["t_hot_largest_blob_pct"]]
            assert 0.0 <= blob <= area <= 100.0
            assert (th[[1, 6, 7, 8, 9, 10, 11]] >= 0.0).all()

    @PROPS
    @given(
        raw=st.integers(0, 33315),
        shape=shapes,
        dts=st.lists(steps, min_size=1, max_size=12),
    )
    def test_uniform_cold_frame_is_quiet(
        self, raw: int, shape: tuple[int, int], dts: list[float]
    ) -> None:
        """An unchanging uniform frame at or below 60 °C: every thermal feature but three is 0."""
        raws = [np.full(shape, raw, dtype=np.uint16)] * len(dts)
        for vec in _feed_frames(raws, dts):
            quiet = [i for i in range(12) if FEATURE_NAMES[i] not in ("t_mean", "t_max", "t_p95")]
            assert (vec[quiet] == 0.0).all()
            assert vec[IDX["t_mean"]] == vec[IDX["t_max"]] == vec[IDX["t_p95"]]


class TestLargestBlob:
    @PROPS
    @given(hot=hnp.arrays(np.bool_, shapes, elements=st.booleans()))
    def test_equals_full_frame_labelling(self, hot: npt.NDArray[np.bool_]) -> None:
        """Labelling only the hot pixels' bounding box finds the full frame's largest region."""
        labels, n = ndimage.label(hot, structure=np.ones((3, 3), dtype=bool))
        expected = int(np.bincount(labels.ravel())[1:].max()) if n else 0
        assert largest_blob_pixels(hot) == expected


class TestGasProperties:
    @PROPS
    @given(
        gaps=st.lists(steps, min_size=1, max_size=20),
        co2=st.floats(0, 40000),
        temp=st.floats(-10, 60),
    )
    def test_constant_readings(self, gaps: list[float], co2: float, temp: float) -> None:
        """Constant readings at any times: deltas, slopes, ratios and rises are exactly 0 (fd-v2
        and fd-v3 too)."""
        ex = FeatureExtractor()
        t = 0.0
        for gap in gaps:
            t += gap
            vec = ex.add_gas(GasReading(t=t, co2_ppm=co2, temperature_c=temp, humidity_pct=50))
            assert vec is not None
            assert vec[12:18].tolist() == [temp, 0.0, 0.0, co2, 0.0, 0.0]
            assert vec[26:33].tolist() == [0.0] * 7  # the fd-v2 gas history
            assert vec[39:41].tolist() == [0.0] * 2  # the fd-v3 long gas history

    @PROPS
    @given(
        gaps=st.lists(st.integers(1, 30 * 64).map(lambda k: k / 64.0), min_size=2, max_size=20),
        rate=st.floats(-50, 50),
    )
    def test_linear_readings_give_their_rate(self, gaps: list[float], rate: float) -> None:
        """Readings on a line: the slope is its rate per minute whenever two share the window."""
        ex = FeatureExtractor()
        t = 0.0
        times: list[float] = []
        for gap in gaps:
            t += gap
            times.append(t)
            vec = ex.add_gas(GasReading(t=t, co2_ppm=400 + rate * t, temperature_c=20,
                                        humidity_pct=50))
            assert vec is not None
            in_window = [s for s in times if s > t - 60.0]
            expected = rate * 60.0 if len(in_window) >= 2 else 0.0
            assert abs(vec[IDX["gas_vel"]] - expected) <= 1e-6 * (1 + abs(expected))


class TestBatchProperties:
    @settings(max_examples=50, deadline=None)
    @given(rec=recordings())
    def test_batch_equals_streaming(self, rec: Recording) -> None:
        """On random recordings with gaps, the batch and streaming paths agree, NaNs included."""
        t_b, x_b = featurize_recording(rec)
        t_s, x_s = stream(rec)
        np.testing.assert_array_equal(t_b, t_s)
        np.testing.assert_array_equal(x_b, x_s)  # NaN positions included

    @settings(max_examples=30, deadline=None)
    @given(rec=recordings(), shift=st.integers(-1000, 10**6))
    def test_time_shift_invariance(self, rec: Recording, shift: int) -> None:
        """Shifting every timestamp by a constant changes no feature."""
        t0, x0 = featurize_recording(rec)
        rec.frame_t = rec.frame_t + shift
        rec.gas_t = rec.gas_t + shift
        t1, x1 = featurize_recording(rec)
        np.testing.assert_array_equal(t1, t0 + shift)
        np.testing.assert_allclose(x1, x0, rtol=1e-6, atol=1e-6, equal_nan=True)
