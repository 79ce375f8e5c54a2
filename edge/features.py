"""The 18 features of feature set ``seed-v1`` (docs/features.md).

``FeatureExtractor`` is the streaming path the daemon runs frame by frame;
``featurize_recording`` is the batch path over a whole recording, for training and replay.
Both run the same per-frame code (``edge.featuresets.thermal``, ``edge.featuresets.gas``) and
give the same vectors (tested).

Order of events: frames and readings are taken in time order; a reading and a frame at
the same time are taken reading first (a frame's features use the readings *at or before*
its time).

Staleness: a reading is fresh while ``t − t_reading < gas_stale_s`` (30 s); a frame while
``t − t_frame < frame_stale_s`` (5 s). Without a fresh reading features 13–18 are NaN;
without a fresh frame, ``add_gas`` returns a vector whose features 1–12 are NaN.

Frozen frames (flat-field correction, ``ThermalFrame.frozen``) are not new data: they do not
enter the frame history, are never a reference frame and do not make the camera fresh.
``add_frame`` returns for them the thermal features of the last real frame (NaN if that one
is stale or there is none) with the gas features at the frozen frame's time, so features
hold across an FFC instead of spiking.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge.config.sensors import LEPTON_STALE_AFTER_S, SCD41_STALE_AFTER_S
from edge.featuresets.gas import N_GAS, gas_features, window_indices
from edge.featuresets.thermal import N_THERMAL, frame_thermal_features
from edge.types import Vector

if TYPE_CHECKING:
    from edge.recording import Recording
    from edge.types import GasReading, ThermalFrame

log = logging.getLogger(__name__)

FEATURE_SET = "seed-v1"

FEATURE_NAMES: tuple[str, ...] = (
    "t_mean",
    "t_std",
    "t_max",
    "t_p95",
    "t_hot_area_pct",
    "t_hot_largest_blob_pct",
    "t_grad_mean",
    "t_grad_std",
    "t_diff_mean",
    "t_diff_std",
    "flow_mag_mean",
    "flow_mag_std",
    "tproxy_val",
    "tproxy_delta",
    "tproxy_vel",
    "gas_val",
    "gas_delta",
    "gas_vel",
)
N_FEATURES = len(FEATURE_NAMES)
THERMAL_FEATURES = FEATURE_NAMES[:12]
GAS_FEATURES = FEATURE_NAMES[12:]


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """The parameters of the feature set; recorded in every model manifest."""

    hot_threshold_c: float = 60.0
    reference_age_s: float = 1.0
    window_s: float = 60.0
    gas_stale_s: float = SCD41_STALE_AFTER_S
    frame_stale_s: float = LEPTON_STALE_AFTER_S
    flow_min_grad_k_per_px: float = 0.5
    flow_min_diff_k: float = 0.5

    def __post_init__(self) -> None:
        for name, value in self.as_dict().items():
            if not math.isfinite(value):
                raise ValueError(f"FeatureParams.{name} must be a finite number, is {value}")
            if name != "hot_threshold_c" and value <= 0:
                raise ValueError(f"FeatureParams.{name} must be > 0, is {value}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


F32Frame = npt.NDArray[np.float32]
# Frames kept as reference candidates: the last second of a Lepton (~9 Hz) needs about 10.
MAX_HISTORY_FRAMES = 128


def _nan_vector() -> Vector:
    return np.full(N_FEATURES, np.nan, dtype=np.float64)


class FeatureExtractor:
    """Streaming feature extraction: feed frames and SCD41 readings in time order.

    Memory is bounded: about one second of frames (the reference candidates) and the
    readings of the last 60 s plus one.
    """

    def __init__(self, params: FeatureParams | None = None) -> None:
        self.params = params if params is not None else FeatureParams()
        self.reset()

    def reset(self) -> None:
        """Forget every frame and reading (e.g. after the camera or the SCD41 was replaced)."""
        self._refs: deque[tuple[float, float, F32Frame]] = deque(maxlen=MAX_HISTORY_FRAMES)
        self._last_frame_t: float | None = None
        self._last_thermal: Vector | None = None
        self._gas_t: list[float] = []
        self._gas_co2: list[float] = []
        self._gas_temp: list[float] = []
        self._gas_vec: Vector | None = None
        self._now: float | None = None

    # -- public API -------------------------------------------------------------------

    def add_frame(self, frame: ThermalFrame) -> Vector:
        """The feature vector at ``frame.t``: float64 (18,), NaN where a sensor is missing.

        :raises ValueError: pixels not a 2-D uint16 array of at least 2×2, a time that is not
            finite or goes back before the previous real frame, a bad ``resolution_k``.
        """
        t = _finite_time(frame.t, "frame")
        if frame.frozen:
            self._advance(t)
            vec = _nan_vector()
            if self._last_thermal is not None and self._frames_fresh(t):
                vec[:N_THERMAL] = self._last_thermal
            vec[N_THERMAL:] = self._gas_at(t)
            return vec
        pixels = _check_pixels(frame.pixels)
        res = float(frame.resolution_k)
        if not (math.isfinite(res) and res > 0):
            raise ValueError(f"frame resolution_k must be a positive number, is {res}")
        if self._last_frame_t is not None and t < self._last_frame_t:
            raise ValueError(
                f"frames must arrive in time order: t={t} is before the previous frame "
                f"(t={self._last_frame_t})"
            )
        self._advance(t)
        f = pixels.astype(np.float32)
        ref, dt = self._reference(t, res, f.shape)
        thermal = frame_thermal_features(
            pixels,
            f,
            ref,
            dt,
            res,
            self.params.hot_threshold_c,
            self.params.flow_min_grad_k_per_px,
            self.params.flow_min_diff_k,
        )
        self._refs.append((t, res, f))
        self._last_frame_t = t
        self._last_thermal = thermal
        vec = np.empty(N_FEATURES, dtype=np.float64)
        vec[:N_THERMAL] = thermal
        vec[N_THERMAL:] = self._gas_at(t)
        return vec

    def add_gas(self, reading: GasReading) -> Vector | None:
        """Take one SCD41 reading; a vector (features 1–12 NaN) only when frames are stale.

        :raises ValueError: a time that is not finite or goes back before the previous reading.
        """
        t = _finite_time(reading.t, "SCD41 reading")
        if self._gas_t and t < self._gas_t[-1]:
            raise ValueError(
                f"SCD41 readings must arrive in time order: t={t} is before the previous "
                f"reading (t={self._gas_t[-1]})"
            )
        self._advance(t)
        self._gas_t.append(t)
        self._gas_co2.append(float(reading.co2_ppm))
        self._gas_temp.append(float(reading.temperature_c))
        gt = np.array(self._gas_t)
        earlier, start = window_indices(gt, self.params.window_s)
        self._gas_vec = gas_features(
            gt, np.array(self._gas_co2), np.array(self._gas_temp), earlier, start
        )
        if earlier > 0:  # older readings can never be needed again
            del self._gas_t[:earlier], self._gas_co2[:earlier], self._gas_temp[:earlier]
        if self._frames_fresh(t):
            return None
        vec = _nan_vector()
        vec[N_THERMAL:] = self._gas_at(t)
        return vec

    def missing(self, now: float | None = None) -> set[str]:
        """The sensors without fresh data at ``now`` (default: the latest time seen):
        ``"scd41"`` and/or ``"lepton"``."""
        t = self._now if now is None else now
        out: set[str] = set()
        if t is None or not self._frames_fresh(t):
            out.add("lepton")
        if t is None or not self._gas_fresh(t):
            out.add("scd41")
        return out

    # -- internals --------------------------------------------------------------------

    def _advance(self, t: float) -> None:
        self._now = t if self._now is None else max(self._now, t)

    def _frames_fresh(self, t: float) -> bool:
        last = self._last_frame_t
        return last is not None and t - last < self.params.frame_stale_s

    def _gas_fresh(self, t: float) -> bool:
        return bool(self._gas_t) and t - self._gas_t[-1] < self.params.gas_stale_s

    def _gas_at(self, t: float) -> Vector:
        if self._gas_vec is None or not self._gas_fresh(t):
            return np.full(N_GAS, np.nan, dtype=np.float64)
        return self._gas_vec

    def _reference(
        self, t: float, res: float, shape: tuple[int, ...]
    ) -> tuple[F32Frame | None, float]:
        """The newest frame at least ``reference_age_s`` older than ``t``, in ``res`` units."""
        refs = self._refs
        if refs and refs[-1][2].shape != shape:
            log.warning("frame size changed to %s: the frame history starts again", shape)
            refs.clear()
        cutoff = t - self.params.reference_age_s
        while len(refs) >= 2 and refs[1][0] <= cutoff:
            refs.popleft()
        if not refs or refs[0][0] > cutoff:
            return None, 0.0
        t_ref, ref_res, ref = refs[0]
        if ref_res != res:  # the camera switched gain: express the reference in our units
            ref = (ref * np.float32(ref_res / res)).astype(np.float32)
        return ref, t - t_ref


def _finite_time(t: float, what: str) -> float:
    value = float(t)
    if not math.isfinite(value):
        raise ValueError(f"{what} time must be a finite number of seconds, is {t!r}")
    return value


def _check_pixels(pixels: Any) -> npt.NDArray[np.uint16]:
    arr = np.asarray(pixels)
    if arr.dtype != np.uint16 or arr.ndim != 2 or min(arr.shape) < 2:
        raise ValueError(
            f"frame pixels must be a uint16 array of shape (H, W) with H, W ≥ 2, is "
            f"{arr.dtype} {arr.shape}"
        )
    return arr


def featurize_recording(
    rec: Recording, params: FeatureParams | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Every vector the streaming extractor would give over ``rec``, in the same order.

    One row per frame, plus one row per SCD41 reading taken while the frames were stale
    (features 1–12 NaN). Returns ``(t, X)``: times (K,) and features (K, 18), float64.
    """
    p = params if params is not None else FeatureParams()
    ft = np.asarray(rec.frame_t, dtype=np.float64)
    gt = np.asarray(rec.gas_t, dtype=np.float64)
    table = _gas_table(rec, p)

    frame_x = np.empty((ft.size, N_FEATURES), dtype=np.float64)
    frame_x[:, :N_THERMAL] = _thermal_rows(rec, p)
    latest = np.searchsorted(gt, ft, side="right") - 1
    frame_x[:, N_THERMAL:] = _gas_rows(table, gt, latest, ft, p)

    # A reading finds the frames stale when no frame before it (frames at the same time
    # come after it) is less than frame_stale_s old.
    before = np.searchsorted(ft, gt, side="left") - 1
    age = gt - ft[np.maximum(before, 0)] if ft.size else np.full(gt.size, np.inf)
    stale = (before < 0) | ~(age < p.frame_stale_s)
    gas_idx = np.flatnonzero(stale)
    gas_x = np.full((gas_idx.size, N_FEATURES), np.nan, dtype=np.float64)
    gas_x[:, N_THERMAL:] = _gas_rows(table, gt, gas_idx, gt[gas_idx], p)

    t = np.concatenate([gt[gas_idx], ft])
    kind = np.concatenate([np.zeros(gas_idx.size), np.ones(ft.size)])
    order = np.lexsort((kind, t))  # stable: by time, readings first, then input order
    return t[order], np.concatenate([gas_x, frame_x])[order]


def _gas_table(rec: Recording, p: FeatureParams) -> npt.NDArray[np.float64]:
    """Features 13–18 at each reading (as the extractor computes them in ``add_gas``)."""
    gt = np.asarray(rec.gas_t, dtype=np.float64)
    co2 = np.asarray(rec.co2_ppm, dtype=np.float64)
    temp = np.asarray(rec.temperature_c, dtype=np.float64)
    table = np.empty((gt.size, N_GAS), dtype=np.float64)
    for i in range(gt.size):
        earlier, start = window_indices(gt[: i + 1], p.window_s)
        sl = slice(earlier, i + 1)
        table[i] = gas_features(gt[sl], co2[sl], temp[sl], 0, start - earlier)
    return table


def _gas_rows(
    table: npt.NDArray[np.float64],
    gt: npt.NDArray[np.float64],
    latest: npt.NDArray[np.intp],
    t: npt.NDArray[np.float64],
    p: FeatureParams,
) -> npt.NDArray[np.float64]:
    """Features 13–18 at times ``t`` whose latest reading is ``latest`` (-1: none)."""
    out = np.full((t.size, N_GAS), np.nan, dtype=np.float64)
    if gt.size == 0:
        return out
    idx = np.maximum(latest, 0)
    fresh = (latest >= 0) & (t - gt[idx] < p.gas_stale_s)
    out[fresh] = table[idx[fresh]]
    return out


def _thermal_rows(rec: Recording, p: FeatureParams) -> npt.NDArray[np.float64]:
    """Features 1–12 of every frame; each frame's float32 values are reused as a reference."""
    ft = np.asarray(rec.frame_t, dtype=np.float64)
    out = np.empty((ft.size, N_THERMAL), dtype=np.float64)
    ref_idx = np.searchsorted(ft, ft - p.reference_age_s, side="right") - 1
    kept: dict[int, F32Frame] = {}  # float32 frames still to serve as a reference
    oldest = 0
    for i in range(ft.size):
        raw = rec.frames[i]
        f = raw.astype(np.float32)
        kept[i] = f
        r = int(ref_idx[i])
        while oldest < r:  # reference indices never decrease
            kept.pop(oldest, None)
            oldest += 1
        out[i] = frame_thermal_features(
            raw,
            f,
            kept[r] if r >= 0 else None,
            float(ft[i] - ft[r]) if r >= 0 else 0.0,
            rec.frame_resolution_k,
            p.hot_threshold_c,
            p.flow_min_grad_k_per_px,
            p.flow_min_diff_k,
        )
    return out
