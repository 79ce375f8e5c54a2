"""Thermal features 1–12 of ``seed-v1`` (docs/features.md), one frame at a time.

The streaming extractor and the batch path over a recording both run this function, so they
agree to the bit on the thermal features. (A version vectorised over stacks of 64 frames
was slower — the stacks do not stay in cache — see BENCHMARKS.md.)

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

from edge.featuresets.blobs import largest_blob_pixels
from edge.types import ZERO_C_K

N_THERMAL = 12
_UINT16_MAX = 65535
_SAMPLE_STEP = 16  # the p95 cut is estimated on every 16th pixel
_SUBSET_MIN = 1024  # frames smaller than this are partitioned whole

RawFrame = npt.NDArray[np.uint16]
F32Frame = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def hot_raw_threshold(resolution_k: float, hot_threshold_c: float) -> int:
    """The smallest raw value ``v`` with ``v × resolution_k − 273.15 > hot_threshold_c``.

    Compared in raw steps, rounded to 10⁻⁶ of a step, so that float rounding cannot make a
    pixel at exactly the threshold (60.00 °C = 33315 cK) count as hotter than it.
    """
    return math.floor(round((hot_threshold_c + ZERO_C_K) / resolution_k, 6)) + 1


def doubled_gradient(f: F32Frame) -> F32Frame:
    """``2·|∇f|`` of a frame ``f`` (H, W), in f's units per pixel.

    ``numpy.gradient``'s differences, doubled: ``f[x+1] − f[x−1]`` inside the frame,
    ``2·(f[1] − f[0])`` and ``2·(f[−1] − f[−2])`` on its border; integers stay exact.
    """
    h, w = f.shape
    gx = np.empty(f.shape, dtype=f.dtype)
    gy = np.empty(f.shape, dtype=f.dtype)
    if f.flags.c_contiguous and w >= 3:
        # The rows end to end: one contiguous subtraction (~4× faster than 120 row slices)
        # gives every inside pixel its ``f[x+1] − f[x−1]``; the values it gives the first and
        # last column (differences across two rows) are replaced by ``_borders`` below.
        flat = f.reshape(f.size)
        np.subtract(flat[2:], flat[:-2], out=gx.reshape(f.size)[1:-1])
    else:
        np.subtract(f[:, 2:], f[:, :-2], out=gx[:, 1:-1])
    _borders(f, gx, w, axis=1)
    np.subtract(f[2:], f[:-2], out=gy[1:-1])
    _borders(f, gy, h, axis=0)
    np.multiply(gx, gx, out=gx)
    np.multiply(gy, gy, out=gy)
    gx += gy
    np.sqrt(gx, out=gx)
    return gx


def _borders(f: F32Frame, g: F32Frame, size: int, axis: int) -> None:
    """``g``'s first and last line along ``axis``: twice the one-sided difference."""
    if size >= 3:  # both borders in one call: lines (1, size−1) minus lines (0, size−2)
        step = size - 2
        a = f[:, 1:size:step] if axis == 1 else f[1:size:step]
        b = f[:, 0 : size - 1 : step] if axis == 1 else f[0 : size - 1 : step]
        out = g[:, 0 : size : size - 1] if axis == 1 else g[0 : size : size - 1]
        np.subtract(a, b, out=out)
        out *= 2.0
    else:  # two lines: both borders are the same difference
        d = (f[:, 1] - f[:, 0]) if axis == 1 else (f[1] - f[0])
        d *= 2.0
        if axis == 1:
            g[:, 0] = d
            g[:, 1] = d
        else:
            g[0] = d
            g[1] = d


def _raw_steps(value: float, resolution_k: float) -> float:
    """``value`` (K) in raw steps, rounded to 10⁻⁶ of a step (0.5 K at 0.01 → 50.0)."""
    return round(value / resolution_k, 6)


def _mean_std(x: F32Frame) -> tuple[float, float]:
    """Mean and (population) standard deviation, two-pass in float64."""
    x64 = x.astype(np.float64).reshape(x.size)
    n = x.size
    mean = float(np.add.reduce(x64)) / n
    x64 -= mean
    return mean, math.sqrt(float(np.dot(x64, x64)) / n)


def frame_thermal_features(
    raw: RawFrame,
    f: F32Frame,
    ref: F32Frame | None,
    dt: float,
    resolution_k: float,
    hot_threshold_c: float,
    min_grad_k: float,
    min_diff_k: float,
) -> F64:
    """Features 1–12 of one frame.

    :param raw: the frame (H, W) uint16.
    :param f: the same values as float32.
    :param ref: its reference frame, float32 in the same raw units, or ``None``.
    :param dt: seconds from the reference to the frame; with no reference (or ``dt ≤ 0``)
        features 9–12 are 0.
    :returns: (12,) float64.
    """
    out = np.zeros(N_THERMAL, dtype=np.float64)
    res = resolution_k
    n = raw.size
    # Exact integer sums: Σx < 2⁵³ and Σx² < 2⁵³ for any frame up to 2 Mpixel.
    x = raw.astype(np.float64).reshape(n)
    s1 = int(np.add.reduce(x))
    s2 = int(np.dot(x, x))  # exact in any order, so the same as any other sum of squares
    out[0] = s1 / n * res - ZERO_C_K
    out[1] = math.sqrt((n * s2 - s1 * s1) / (n * n)) * res
    out[2] = int(raw.max()) * res - ZERO_C_K
    out[3] = _percentile95(raw.reshape(n)) * res - ZERO_C_K

    v_hot = hot_raw_threshold(res, hot_threshold_c)
    if v_hot <= _UINT16_MAX:
        hot = raw >= v_hot
        hot_count = int(np.count_nonzero(hot))
        if hot_count:
            out[4] = hot_count * 100.0 / n
            out[5] = largest_blob_pixels(hot) * 100.0 / n

    g2 = doubled_gradient(f)  # 2·|∇T| in raw steps per pixel
    g_mean, g_std = _mean_std(g2)
    out[6] = g_mean * (res / 2.0)
    out[7] = g_std * (res / 2.0)

    if ref is None or not dt > 0:
        return out
    ad = np.subtract(f, ref)
    np.abs(ad, out=ad)  # |ΔT| in raw steps
    d_mean, d_std = _mean_std(ad)
    out[8] = d_mean * res
    out[9] = d_std * res
    moving = g2 >= np.float32(2.0 * _raw_steps(min_grad_k, res))
    moving &= ad >= np.float32(_raw_steps(min_diff_k, res))
    idx = np.flatnonzero(moving)
    if idx.size:
        # |ΔT/Δt| / |∇T| = (|Δraw|·res/dt) / (g2·res/2) = 2·|Δraw| / (g2·dt)
        flow = 2.0 * ad.reshape(n)[idx].astype(np.float64) / g2.reshape(n)[idx] / dt
        mean = float(np.add.reduce(flow)) / idx.size
        flow -= mean
        out[10] = mean
        out[11] = math.sqrt(float(np.dot(flow, flow)) / idx.size)
    return out


def _percentile95(flat: npt.NDArray[np.uint16]) -> float:
    """95th percentile, interpolated linearly between the two nearest ranks.

    The two ranks are selected among the pixels at or above a cut that every pixel of rank
    ≥ ``lo`` passes (a 90th percentile of every 16th pixel, checked by count): ~15 % of the
    frame to partition instead of all of it (25 against 64 µs on a 160×120 frame). When the
    cut turns out too high, the whole frame is partitioned: the same two values either way.
    """
    n = flat.size
    k = 0.95 * (n - 1)
    lo = math.floor(k)
    if lo + 1 >= n:
        return float(np.partition(flat, lo)[lo])
    part, first = flat, lo
    if n >= _SUBSET_MIN:
        sample = flat[::_SAMPLE_STEP]
        rank = int(0.9 * (sample.size - 1))
        cut = np.partition(sample, rank)[rank]
        top = flat[flat >= cut]
        below = n - top.size  # pixels under the cut: all of them rank below ``below``
        if below <= lo:  # ranks lo and lo + 1 are both among ``top``
            part, first = top, lo - below
    part = np.partition(part, (first, first + 1))
    a, b = int(part[first]), int(part[first + 1])
    return a + (k - lo) * (b - a)
