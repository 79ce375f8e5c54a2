"""Feature 4 (``t_p95``): the subset selection against a whole-frame sort."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from edge.featuresets.thermal import _percentile95

Flat = npt.NDArray[np.uint16]


def sorted_p95(flat: Flat) -> float:
    """The 95th percentile from the whole frame sorted (the former whole-frame partition)."""
    s = np.sort(flat)
    k = 0.95 * (flat.size - 1)
    lo = math.floor(k)
    if lo + 1 >= flat.size:
        return float(s[lo])
    a, b = int(s[lo]), int(s[lo + 1])
    return a + (k - lo) * (b - a)


def frames(rng: np.random.Generator) -> list[Flat]:
    """Frames of many sizes and value spreads: flat, noisy, a few hot spots, ordered."""
    out: list[Flat] = []
    for i in range(800):
        n = int(rng.integers(1, 20000))
        kind = i % 4
        if kind == 0:
            a = rng.integers(0, 65536, n)
        elif kind == 1:
            a = rng.integers(29000, 29010, n)  # many ties
        elif kind == 2:
            a = np.full(n, 30000)
            hot = max(1, n // int(rng.integers(5, 400)))
            a[rng.integers(0, n, hot)] = rng.integers(30000, 65536, hot)
        else:
            a = np.sort(rng.integers(0, 65536, n))[:: 1 if i % 8 == 3 else -1]
        out.append(a.astype(np.uint16))
    return out


class TestPercentile95:
    def test_equals_whole_frame_selection(self) -> None:
        """On 800 frames of every size and spread the subset selection gives the same value."""
        for flat in frames(np.random.default_rng(7)):
            assert _percentile95(flat) == sorted_p95(flat), flat.size

    def test_cut_too_high_falls_back(self) -> None:
        """A frame whose sampled pixels are hot but whose others are cold still gets its p95."""
        flat = np.zeros(160 * 120, dtype=np.uint16)
        flat[::16][:200] = 50000  # 10 % of the sample, 1 % of the frame
        assert sorted_p95(flat) == 0.0
        assert _percentile95(flat) == 0.0

    @pytest.mark.parametrize("n", [1, 2, 20, 21, 1023, 1024, 19200])
    def test_small_and_edge_sizes(self, n: int) -> None:
        """Sizes around the rank and subset limits agree with the sort."""
        flat = np.random.default_rng(n).integers(0, 65536, n).astype(np.uint16)
        assert _percentile95(flat) == sorted_p95(flat)
