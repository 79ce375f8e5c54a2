"""Thermal features 1–12 of ``seed-v1`` (../shared/specs/features.md), over a stack of frames.

One frame is a stack of one: the streaming extractor and the batch path over a recording
run this same code, so they agree to the bit on the thermal features.

Arithmetic: statistics of the pixel values (mean, std, max, 95th percentile, hot pixels)
are taken on the raw ``uint16`` values and converted exactly (``value × resolution_k −
273.15``); gradients and changes are taken on the raw values as float32 (integers, so the
differences are exact) and their statistics scaled by ``resolution_k`` into kelvin. The
thresholds (hot pixel, moving pixel) are compared in raw steps, so a pixel exactly at a
threshold is decided as the decimal definition says, not by float rounding.

- Gradient: central differences inside the frame, one-sided differences on its border
  (what ``numpy.gradient`` does), magnitude ``√(gx² + gy²)`` in K per pixel.
- ``t_diff_std`` is the standard deviation of the *absolute* change ``|ΔT|`` (the same
  quantity whose mean is ``t_diff_mean``), as ``t_grad_std`` is that of the gradient
  magnitude.
- ``t_p95`` interpolates linearly between the two nearest ranks (``numpy.percentile``'s
  default method).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import ndimage

KELVIN_OFFSET = 273.15
N_THERMAL = 12
_BLOB_STRUCTURE = np.ones((3, 3), dtype=bool)
_UINT16_MAX = 65535

RawStack = npt.NDArray[np.uint16]
F32Stack = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def hot_raw_threshold(resolution_k: float, hot_threshold_c: float) -> int:
    """The smallest raw value ``v`` with ``v × resolution_k − 273.15 > hot_threshold_c``.

    Compared in raw steps, rounded to 10⁻⁶ of a step, so that float rounding cannot make a
    pixel at exactly the threshold (60.00 °C = 33315 cK) count as hotter than it.
    """
    return math.floor(round((hot_threshold_c + KELVIN_OFFSET) / resolution_k, 6)) + 1


def doubled_gradient(f: F32Stack) -> F32Stack:
    """``2·|∇f|`` of each frame of ``f`` (C, H, W), in f's units per pixel.

    ``numpy.gradient``'s differences, doubled: ``f[x+1] − f[x−1]`` inside the frame,
    ``2·(f[1] − f[0])`` and ``2·(f[−1] − f[−2])`` on its border; integers stay exact.
    """
    gx = np.empty_like(f)
    gy = np.empty_like(f)
    np.subtract(f[:, :, 2:], f[:, :, :-2], out=gx[:, :, 1:-1])
    np.subtract(f[:, :, 1], f[:, :, 0], out=gx[:, :, 0])
    np.subtract(f[:, :, -1], f[:, :, -2], out=gx[:, :, -1])
    gx[:, :, 0] *= 2.0
    gx[:, :, -1] *= 2.0
    np.subtract(f[:, 2:, :], f[:, :-2, :], out=gy[:, 1:-1, :])
    np.subtract(f[:, 1, :], f[:, 0, :], out=gy[:, 0, :])
    np.subtract(f[:, -1, :], f[:, -2, :], out=gy[:, -1, :])
    gy[:, 0, :] *= 2.0
    gy[:, -1, :] *= 2.0
    np.multiply(gx, gx, out=gx)
    np.multiply(gy, gy, out=gy)
    gx += gy
    np.sqrt(gx, out=gx)
    return gx


def _raw_steps(value: float, resolution_k: float) -> float:
    """``value`` (K) in raw steps, rounded to 10⁻⁶ of a step (0.5 K at 0.01 → 50.0)."""
    return round(value / resolution_k, 6)


def largest_blob_pixels(hot: npt.NDArray[np.bool_]) -> int:
    """Pixels in the largest 8-connected region of ``hot`` (H, W).

    Labels only the bounding box of the hot pixels: a small hot spot costs little.
    """
    rows = np.flatnonzero(hot.any(axis=1))
    if rows.size == 0:
        return 0
    cols = np.flatnonzero(hot.any(axis=0))
    box = hot[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    labels, n = ndimage.label(box, structure=_BLOB_STRUCTURE)
    if n == 1:
        return int(np.count_nonzero(box))
    return int(np.bincount(labels.ravel())[1:].max())


def _mean_std_rows(x: npt.NDArray[np.float32]) -> tuple[F64, F64]:
    """Mean and (population) standard deviation of each row, two-pass in float64."""
    x64 = x.astype(np.float64)
    mean = np.add.reduce(x64, axis=1) / x.shape[1]
    x64 -= mean[:, None]
    var = np.einsum("ij,ij->i", x64, x64) / x.shape[1]
    return mean, np.sqrt(var)


def _raw_mean_std(flat: RawStack) -> tuple[F64, F64]:
    """Exact mean and standard deviation of each row of raw values (integer sums)."""
    n = flat.shape[1]
    x = flat.astype(np.int64)
    s1 = x.sum(axis=1)
    s2 = np.einsum("ij,ij->i", x, x)
    mean = s1 / n
    # n·Σx² − (Σx)² is exact in Python integers; int64 could overflow on huge frames.
    var = np.array([(n * int(b) - int(a) * int(a)) / (n * n) for a, b in zip(s1, s2, strict=True)])
    return mean, np.sqrt(var)


def _percentile95(flat: RawStack) -> npt.NDArray[np.float64]:
    n = flat.shape[1]
    k = 0.95 * (n - 1)
    lo = math.floor(k)
    frac = k - lo
    if lo + 1 >= n:
        return np.partition(flat, lo, axis=1)[:, lo].astype(np.float64)
    part = np.partition(flat, (lo, lo + 1), axis=1)
    a: F64 = part[:, lo].astype(np.float64)
    b: F64 = part[:, lo + 1].astype(np.float64)
    out: F64 = a + frac * (b - a)
    return out


def thermal_features(
    raw: RawStack,
    f: F32Stack,
    ref: F32Stack | None,
    dt: F64,
    resolution_k: float,
    hot_threshold_c: float,
    min_grad_k: float,
    min_diff_k: float,
) -> F64:
    """Features 1–12 for each frame of a stack.

    :param raw: the frames (C, H, W) uint16.
    :param f: the same values as float32.
    :param ref: each frame's reference frame, float32 in the same raw units, or ``None``.
    :param dt: seconds from each reference to its frame; a row with ``dt ≤ 0`` (or NaN) has
        no reference, and its features 9–12 are 0.
    :returns: (C, 12) float64.
    """
    c, h, w = raw.shape
    n = h * w
    out = np.zeros((c, N_THERMAL), dtype=np.float64)
    flat = raw.reshape(c, n)
    res = resolution_k
    raw_mean, raw_std = _raw_mean_std(flat)
    out[:, 0] = raw_mean * res - KELVIN_OFFSET
    out[:, 1] = raw_std * res
    out[:, 2] = flat.max(axis=1).astype(np.float64) * res - KELVIN_OFFSET
    out[:, 3] = _percentile95(flat) * res - KELVIN_OFFSET

    v_hot = hot_raw_threshold(res, hot_threshold_c)
    if v_hot <= _UINT16_MAX:
        hot_count = np.count_nonzero(flat >= v_hot, axis=1)
        out[:, 4] = hot_count * 100.0 / n
        for i in np.flatnonzero(hot_count):
            out[i, 5] = largest_blob_pixels(raw[i] >= v_hot) * 100.0 / n

    g2 = doubled_gradient(f).reshape(c, n)  # 2·|∇T| in raw steps per pixel
    g_mean, g_std = _mean_std_rows(g2)
    out[:, 6] = g_mean * (res / 2.0)
    out[:, 7] = g_std * (res / 2.0)

    if ref is None:
        return out
    rows = np.flatnonzero(dt > 0)
    if rows.size == 0:
        return out
    every = rows.size == c
    ad = np.subtract(f, ref) if every else np.subtract(f[rows], ref[rows])
    np.abs(ad, out=ad)  # |ΔT| in raw steps
    ad = ad.reshape(rows.size, n)
    g2r = g2 if every else g2[rows]
    d_mean, d_std = _mean_std_rows(ad)
    out[rows, 8] = d_mean * res
    out[rows, 9] = d_std * res
    moving = g2r >= np.float32(2.0 * _raw_steps(min_grad_k, res))
    moving &= ad >= np.float32(_raw_steps(min_diff_k, res))
    for k in np.flatnonzero(moving.any(axis=1)):
        idx = np.flatnonzero(moving[k])
        # |ΔT/Δt| / |∇T| = (|Δraw|·res/dt) / (g2·res/2) = 2·|Δraw| / (g2·dt)
        flow = 2.0 * ad[k, idx].astype(np.float64) / g2r[k, idx] / dt[rows[k]]
        mean = float(np.add.reduce(flow)) / idx.size
        flow -= mean
        out[rows[k], 10] = mean
        out[rows[k], 11] = math.sqrt(float(np.einsum("i,i->", flow, flow)) / idx.size)
    return out
