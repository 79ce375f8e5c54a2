"""The feature sets ``seed-v1``, ``fd-v2``, ``fd-v3``, ``fd-v4``, ``fd-v5`` and ``fd-v6``
(docs/features.md): registry and streaming path.

``FeatureExtractor`` is the streaming path the daemon runs frame by frame;
``featurize_recording`` (``edge.featuresets.batch``) is the batch path over a whole recording,
for training and replay. Both run the same per-frame code (``edge.featuresets.thermal``,
``.history``, ``.gas``) and give the same vectors (tested). The extractor computes the
richest set by default (``fd-v6``, whose first 47 columns are ``fd-v5``, first 45 ``fd-v4``,
first 41 ``fd-v3``, first 33 ``fd-v2`` and first 18 ``seed-v1``); a model scores the first
columns its manifest names.

Order of events: frames and readings are taken in time order; a reading and a frame at
the same time are taken reading first (a frame's features use the readings *at or before*
its time).

Staleness: a reading is fresh while ``t − t_reading < gas_stale_s`` (30 s); a frame while
``t − t_frame < frame_stale_s`` (5 s). Without a fresh reading the SCD41's features (13–18,
fd-v2's 27–33, fd-v3's 40–41) are NaN; without a fresh frame, ``add_gas`` returns a vector
whose camera features (1–12, fd-v2's 19–26, fd-v3's 34–39, fd-v4's 42–45, fd-v5's 46–47,
fd-v6's 48–51) are NaN.

Reference frame: the newest real frame at least ``reference_age_s`` (1 s) and at most
``REFERENCE_MAX_AGE_S`` (5 s) older; none → change, flow and heating rate are 0.

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
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge.featuresets.batch import column_layout, featurize_recording
from edge.featuresets.gas import (
    GAS_HISTORY_S,
    GAS_LONG_S,
    gas_features,
    gas_history_features,
    gas_long_features,
    window_indices,
)
from edge.featuresets.history import REFERENCE_MAX_AGE_S, ThermalHistory
from edge.featuresets.registry import (
    FEATURE_SETS,
    N_FD_V2,
    N_FD_V3,
    N_FD_V4,
    N_FD_V5,
    N_SEED,
    RICHEST_SET,
    SEED_NAMES,
    FeatureParams,
    camera_columns,
    check_feature_set,
    thermal_mask,
)
from edge.featuresets.thermal import frame_thermal_features
from edge.types import Vector

if TYPE_CHECKING:
    from edge.types import GasReading, ThermalFrame

log = logging.getLogger(__name__)

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_SET",
    "FEATURE_SETS",
    "REFERENCE_MAX_AGE_S",
    "RICHEST_SET",
    "FeatureExtractor",
    "FeatureParams",
    "camera_columns",
    "check_feature_set",
    "featurize_recording",
    "thermal_mask",
]

#: The seed set: what a manifest without history names, and the prefix of every set.
FEATURE_SET = "seed-v1"
FEATURE_NAMES: tuple[str, ...] = SEED_NAMES
N_FEATURES = N_SEED
THERMAL_FEATURES = FEATURE_NAMES[:12]
GAS_FEATURES = FEATURE_NAMES[12:]

F32Frame = npt.NDArray[np.float32]
# Frames kept as reference candidates: the last second of a Lepton (~9 Hz) needs about 10.
MAX_HISTORY_FRAMES = 128


class FeatureExtractor:
    """Streaming feature extraction: feed frames and SCD41 readings in time order.

    Memory is bounded: about one second of frames (the reference candidates), the readings
    of the longest gas window plus one, (fd-v2) the scene memory and a minute of
    per-frame values, and (fd-v3 and later) 30 minutes of one-a-second samples.
    """

    def __init__(self, params: FeatureParams | None = None, feature_set: str = RICHEST_SET
                 ) -> None:
        """:raises ValueError: an unknown ``feature_set``, naming the known ones."""
        self.params = params if params is not None else FeatureParams()
        self.feature_set = feature_set
        self.names = check_feature_set(feature_set)
        self._history = len(self.names) > N_SEED
        self._long = len(self.names) > N_FD_V2
        self._accel = len(self.names) > N_FD_V3
        self._sat = len(self.names) > N_FD_V4
        self._ratio = len(self.names) > N_FD_V5
        self._th_cols, self._gas_cols = column_layout(feature_set)
        self._gas_keep_s = max(self.params.window_s, GAS_HISTORY_S if self._history else 0.0,
                               GAS_LONG_S if self._long else 0.0)
        self.reset()

    def reset(self) -> None:
        """Forget every frame and reading (e.g. after the camera or the SCD41 was replaced)."""
        p = self.params
        self._refs: deque[tuple[float, float, F32Frame]] = deque(maxlen=MAX_HISTORY_FRAMES)
        self._last_frame_t: float | None = None
        self._last_thermal: Vector | None = None
        self._thermal_history = ThermalHistory(p.hot_threshold_c, p.scene_memory_s,
                                               p.scene_warmup_s, self._long, self._accel,
                                               self._sat, self._ratio)
        self._gas_t: list[float] = []
        self._gas_co2: list[float] = []
        self._gas_temp: list[float] = []
        self._gas_rh: list[float] = []
        self._gas_vec: Vector | None = None
        self._now: float | None = None

    # -- public API -------------------------------------------------------------------

    def add_frame(self, frame: ThermalFrame) -> Vector:
        """The feature vector at ``frame.t``: float64 (N,), NaN where a sensor is missing.

        :raises ValueError: pixels not a 2-D uint16 array of at least 2×2, a time that is not
            finite or goes back before the previous real frame, a bad ``resolution_k``.
        """
        t = _finite_time(frame.t, "frame")
        if frame.frozen:
            self._advance(t)
            vec = self._nan_vector()
            if self._last_thermal is not None and self._frames_fresh(t):
                vec[self._th_cols] = self._last_thermal
            vec[self._gas_cols] = self._gas_at(t)
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
        p = self.params
        seed = frame_thermal_features(
            pixels, f, ref, dt, res, p.hot_threshold_c, p.flow_min_grad_k_per_px,
            p.flow_min_diff_k,
        )
        if self._history:
            more = self._thermal_history.update(
                t, pixels, f, ref, dt, res, float(seed[2]), float(seed[4])
            )
            thermal = np.concatenate([seed, more])
        else:
            thermal = seed
        self._refs.append((t, res, f))
        self._last_frame_t = t
        self._last_thermal = thermal
        vec = np.empty(len(self.names), dtype=np.float64)
        vec[self._th_cols] = thermal
        vec[self._gas_cols] = self._gas_at(t)
        return vec

    def add_gas(self, reading: GasReading) -> Vector | None:
        """Take one SCD41 reading; a vector (camera features NaN) only when frames are stale.

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
        self._gas_rh.append(float(reading.humidity_pct))
        gt = np.array(self._gas_t)
        co2 = np.array(self._gas_co2)
        temp = np.array(self._gas_temp)
        earlier, start = window_indices(gt, self.params.window_s)
        seed = gas_features(gt[earlier:], co2[earlier:], temp[earlier:], 0, start - earlier)
        if self._history:
            more = gas_history_features(gt, co2, temp, np.array(self._gas_rh))
            parts = [seed, more]
            if self._long:
                parts.append(gas_long_features(gt, co2))
            self._gas_vec = np.concatenate(parts)
        else:
            self._gas_vec = seed
        first = window_indices(gt, self._gas_keep_s)[0]
        if first > 0:  # older readings can never be needed again
            del self._gas_t[:first], self._gas_co2[:first], self._gas_temp[:first]
            del self._gas_rh[:first]
        if self._frames_fresh(t):
            return None
        vec = self._nan_vector()
        vec[self._gas_cols] = self._gas_at(t)
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

    def _nan_vector(self) -> Vector:
        return np.full(len(self.names), np.nan, dtype=np.float64)

    def _advance(self, t: float) -> None:
        self._now = t if self._now is None else max(self._now, t)

    def _frames_fresh(self, t: float) -> bool:
        last = self._last_frame_t
        return last is not None and t - last < self.params.frame_stale_s

    def _gas_fresh(self, t: float) -> bool:
        return bool(self._gas_t) and t - self._gas_t[-1] < self.params.gas_stale_s

    def _gas_at(self, t: float) -> Vector:
        if self._gas_vec is None or not self._gas_fresh(t):
            return np.full(self._gas_cols.size, np.nan, dtype=np.float64)
        return self._gas_vec

    def _reference(
        self, t: float, res: float, shape: tuple[int, ...]
    ) -> tuple[F32Frame | None, float]:
        """The newest frame at least ``reference_age_s`` and at most ``REFERENCE_MAX_AGE_S``
        older than ``t``, in ``res`` units."""
        refs = self._refs
        if refs and refs[-1][2].shape != shape:
            log.warning("frame size changed to %s: the frame history starts again", shape)
            refs.clear()
        cutoff = t - self.params.reference_age_s
        while len(refs) >= 2 and refs[1][0] <= cutoff:
            refs.popleft()
        if not refs or refs[0][0] > cutoff or t - refs[0][0] > REFERENCE_MAX_AGE_S:
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

