"""The batch path: every vector the streaming extractor would give over a whole recording.

For training and replay. It runs the streaming path's per-frame and per-reading code
(``edge.featuresets.thermal``, ``.history``, ``.gas``) on the same data in the same order, so
its vectors are bit-equal to ``edge.features.FeatureExtractor``'s (tested).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from edge.featuresets.gas import (
    GAS_HISTORY_S,
    GAS_LONG_S,
    N_GAS,
    gas_features,
    gas_history_features,
    gas_long_features,
    window_indices,
)
from edge.featuresets.history import REFERENCE_MAX_AGE_S, ThermalHistory
from edge.featuresets.registry import (
    N_FD_V2,
    N_FD_V3,
    N_FD_V4,
    N_FD_V5,
    N_GAS_HISTORY,
    N_GAS_LONG,
    N_SEED,
    N_THERMAL_ACCEL,
    N_THERMAL_HISTORY,
    N_THERMAL_LONG,
    N_THERMAL_RATIO,
    N_THERMAL_SAT,
    FeatureParams,
    check_feature_set,
)
from edge.featuresets.thermal import N_THERMAL, frame_thermal_features

if TYPE_CHECKING:
    from edge.recording import Recording

F64 = npt.NDArray[np.float64]
F32Frame = npt.NDArray[np.float32]


def column_layout(feature_set: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The vector columns of the camera part and of the SCD41 part of ``feature_set``.

    The camera part is seed features 1–12 then (fd-v2) the thermal history then (fd-v3) the
    long thermal history then (fd-v4) the thermal acceleration then (fd-v5) the saturation then
    (fd-v6) the scale-free growth;
    the SCD41 part is seed features 13–18 then (fd-v2) the gas history then (fd-v3) the long
    gas history.
    """
    n = len(check_feature_set(feature_set))
    th = [np.arange(N_THERMAL)]
    gas = [np.arange(N_THERMAL, N_SEED)]
    if n > N_SEED:
        th.append(np.arange(N_SEED, N_SEED + N_THERMAL_HISTORY))
        gas.append(np.arange(N_SEED + N_THERMAL_HISTORY, N_FD_V2))
    if n > N_FD_V2:
        th.append(np.arange(N_FD_V2, N_FD_V2 + N_THERMAL_LONG))
        gas.append(np.arange(N_FD_V2 + N_THERMAL_LONG, N_FD_V2 + N_THERMAL_LONG + N_GAS_LONG))
    if n > N_FD_V3:
        th.append(np.arange(N_FD_V3, N_FD_V3 + N_THERMAL_ACCEL))
    if n > N_FD_V4:
        th.append(np.arange(N_FD_V4, N_FD_V4 + N_THERMAL_SAT))
    if n > N_FD_V5:
        th.append(np.arange(N_FD_V5, N_FD_V5 + N_THERMAL_RATIO))
    return np.concatenate(th), np.concatenate(gas)


def featurize_recording(
    rec: Recording, params: FeatureParams | None = None, feature_set: str = "seed-v1"
) -> tuple[F64, F64]:
    """Every vector the streaming extractor (of ``feature_set``) would give over ``rec``.

    One row per frame, plus one row per SCD41 reading taken while the frames were stale
    (the camera's features NaN). Returns ``(t, X)``: times (K,) and features (K, N), float64.

    :raises ValueError: an unknown ``feature_set``.
    """
    p = params if params is not None else FeatureParams()
    n = len(check_feature_set(feature_set))
    history = n > N_SEED
    long = n > N_FD_V2
    accel = n > N_FD_V3
    sat = n > N_FD_V4
    ratio = n > N_FD_V5
    th_cols, gas_cols = column_layout(feature_set)
    ft = np.asarray(rec.frame_t, dtype=np.float64)
    gt = np.asarray(rec.gas_t, dtype=np.float64)
    table = _gas_table(rec, p, history, long)

    frame_x = np.empty((ft.size, n), dtype=np.float64)
    frame_x[:, th_cols] = _thermal_rows(rec, p, history, long, accel, sat, ratio)
    latest = np.searchsorted(gt, ft, side="right") - 1
    frame_x[:, gas_cols] = _gas_rows(table, gt, latest, ft, p)

    gas_idx = _stale_readings(ft, gt, p)
    gas_x = np.full((gas_idx.size, n), np.nan, dtype=np.float64)
    gas_x[:, gas_cols] = _gas_rows(table, gt, gas_idx, gt[gas_idx], p)

    order, t = _row_order(ft, gt, gas_idx)
    return t, np.concatenate([gas_x, frame_x])[order]


def row_frames(rec: Recording, params: FeatureParams | None = None) -> npt.NDArray[np.intp]:
    """For each row :func:`featurize_recording` gives over ``rec``, the index of the frame it
    is (-1: a row of an SCD41 reading taken while the frames were stale)."""
    p = params if params is not None else FeatureParams()
    ft = np.asarray(rec.frame_t, dtype=np.float64)
    gt = np.asarray(rec.gas_t, dtype=np.float64)
    gas_idx = _stale_readings(ft, gt, p)
    order, _ = _row_order(ft, gt, gas_idx)
    source = np.concatenate([np.full(gas_idx.size, -1, np.intp), np.arange(ft.size)])
    out: npt.NDArray[np.intp] = source[order]
    return out


def _stale_readings(ft: F64, gt: F64, p: FeatureParams) -> npt.NDArray[np.intp]:
    """The readings that find the frames stale: no frame before them (frames at the same
    time come after them) is less than ``frame_stale_s`` old."""
    before = np.searchsorted(ft, gt, side="left") - 1
    age = gt - ft[np.maximum(before, 0)] if ft.size else np.full(gt.size, np.inf)
    stale = (before < 0) | ~(age < p.frame_stale_s)
    return np.flatnonzero(stale)


def _row_order(ft: F64, gt: F64, gas_idx: npt.NDArray[np.intp]
               ) -> tuple[npt.NDArray[np.intp], F64]:
    """The order of the rows (stale readings', then frames') and their sorted times: by time,
    readings first, then input order."""
    t = np.concatenate([gt[gas_idx], ft])
    kind = np.concatenate([np.zeros(gas_idx.size), np.ones(ft.size)])
    order = np.lexsort((kind, t))
    return order, t[order]


def _gas_table(rec: Recording, p: FeatureParams, history: bool, long: bool) -> F64:
    """The SCD41 part at each reading (as the extractor computes it in ``add_gas``)."""
    gt = np.asarray(rec.gas_t, dtype=np.float64)
    co2 = np.asarray(rec.co2_ppm, dtype=np.float64)
    temp = np.asarray(rec.temperature_c, dtype=np.float64)
    rh = np.asarray(rec.humidity_pct, dtype=np.float64)
    width = N_GAS + (N_GAS_HISTORY if history else 0) + (N_GAS_LONG if long else 0)
    table = np.empty((gt.size, width), dtype=np.float64)
    for i in range(gt.size):
        earlier, start = window_indices(gt[: i + 1], p.window_s)
        sl = slice(earlier, i + 1)
        table[i, :N_GAS] = gas_features(gt[sl], co2[sl], temp[sl], 0, start - earlier)
        if history:
            first = window_indices(gt[: i + 1], GAS_HISTORY_S)[0]
            hs = slice(first, i + 1)
            table[i, N_GAS : N_GAS + N_GAS_HISTORY] = gas_history_features(
                gt[hs], co2[hs], temp[hs], rh[hs]
            )
        if long:
            ls = slice(window_indices(gt[: i + 1], GAS_LONG_S)[0], i + 1)
            table[i, N_GAS + N_GAS_HISTORY :] = gas_long_features(gt[ls], co2[ls])
    return table


def _gas_rows(
    table: F64,
    gt: F64,
    latest: npt.NDArray[np.intp],
    t: F64,
    p: FeatureParams,
) -> F64:
    """The SCD41 part at times ``t`` whose latest reading is ``latest`` (-1: none)."""
    out = np.full((t.size, table.shape[1]), np.nan, dtype=np.float64)
    if gt.size == 0:
        return out
    idx = np.maximum(latest, 0)
    fresh = (latest >= 0) & (t - gt[idx] < p.gas_stale_s)
    out[fresh] = table[idx[fresh]]
    return out


def _thermal_rows(rec: Recording, p: FeatureParams, history: bool, long: bool, accel: bool,
                  sat: bool, ratio: bool) -> F64:
    """The camera part of every frame; each frame's float32 values are reused as a reference."""
    ft = np.asarray(rec.frame_t, dtype=np.float64)
    width = (N_THERMAL + (N_THERMAL_HISTORY if history else 0) + (N_THERMAL_LONG if long else 0)
             + (N_THERMAL_ACCEL if accel else 0) + (N_THERMAL_SAT if sat else 0)
             + (N_THERMAL_RATIO if ratio else 0))
    out = np.empty((ft.size, width), dtype=np.float64)
    ref_idx = np.searchsorted(ft, ft - p.reference_age_s, side="right") - 1
    hist = ThermalHistory(p.hot_threshold_c, p.scene_memory_s, p.scene_warmup_s, long, accel,
                          sat, ratio)
    res = rec.frame_resolution_k
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
        ref = kept[r] if r >= 0 and ft[i] - ft[r] <= REFERENCE_MAX_AGE_S else None
        dt = float(ft[i] - ft[r]) if ref is not None else 0.0
        seed = frame_thermal_features(
            raw, f, ref, dt, res, p.hot_threshold_c, p.flow_min_grad_k_per_px, p.flow_min_diff_k
        )
        out[i, :N_THERMAL] = seed
        if history:
            out[i, N_THERMAL:] = hist.update(
                float(ft[i]), raw, f, ref, dt, res, float(seed[2]), float(seed[4])
            )
    return out
