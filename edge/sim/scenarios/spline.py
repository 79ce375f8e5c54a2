"""Cubic B-spline upsampling of a coarse grid, in numpy (the simulated room's background).

What ``scipy.ndimage.map_coordinates(coarse, grid, order=3, mode="nearest")`` computes on a
separable grid, without importing ``scipy.ndimage`` (~31 MiB of RSS in a daemon that runs the
simulator in-process). As scipy does, the coarse values are padded with 12 copies of the edge
value on each side, turned into spline coefficients (the inverse of the ``[1, 4, 1] / 6``
B-spline filter, whole-sample mirror boundary at the ends of the padding), and evaluated with
the four cubic B-spline weights around each coordinate. The interpolation is linear and
separable, so it is one matrix per axis: ``img = A_y · coarse · A_xᵀ``. It agrees with scipy
to ~1e-15 of the values (``tests/test_scenarios.py``).
"""

from __future__ import annotations

import numpy as np

from edge.types import FloatArray

_PAD = 12  # scipy's padding for mode "nearest" before the spline filter


def cubic_spline_matrix(coords: FloatArray, n: int) -> FloatArray:
    """(len(coords), n): row i holds the weights of the ``n`` samples at position coords[i].

    Positions are in sample units (0 … n−1 are the samples; outside, the edge values extend).
    """
    m = n + 2 * _PAD
    # The B-spline filter on the padded samples, whole-sample mirror boundary (c[−1] = c[1]).
    filt = np.zeros((m, m))
    idx = np.arange(m)
    filt[idx, idx] = 4.0 / 6.0
    filt[idx[1:], idx[:-1]] = 1.0 / 6.0
    filt[idx[:-1], idx[1:]] = 1.0 / 6.0
    filt[0, 1] = filt[m - 1, m - 2] = 2.0 / 6.0
    edge = np.clip(idx - _PAD, 0, n - 1)  # padded sample j copies coarse sample edge[j]
    pad = np.zeros((m, n))
    pad[idx, edge] = 1.0
    coef = np.linalg.solve(filt, pad)  # spline coefficients per coarse sample, (m, n)
    x = np.clip(np.asarray(coords, dtype=np.float64) + _PAD, 0.0, m - 1.0)
    base = np.floor(x)
    t = x - base
    weights = np.stack(
        [
            (1.0 - t) ** 3 / 6.0,
            (4.0 - 6.0 * t**2 + 3.0 * t**3) / 6.0,
            (1.0 + 3.0 * t + 3.0 * t**2 - 3.0 * t**3) / 6.0,
            t**3 / 6.0,
        ],
        axis=1,
    )
    taps = np.clip(base.astype(np.intp)[:, None] + np.arange(-1, 3), 0, m - 1)
    out = np.zeros((x.size, n))
    for k in range(4):
        out += weights[:, k : k + 1] * coef[taps[:, k]]
    return out


def upsample_cubic(coarse: FloatArray, yy: FloatArray, xx: FloatArray) -> FloatArray:
    """``coarse`` (h, w) interpolated at rows ``yy`` × columns ``xx`` (sample units)."""
    a_y = cubic_spline_matrix(yy, coarse.shape[0])
    a_x = cubic_spline_matrix(xx, coarse.shape[1])
    return np.asarray(a_y @ coarse @ a_x.T, dtype=np.float64)
