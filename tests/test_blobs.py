"""The numpy connected components (feature 6's largest region, the smoulder watch's region of
each pixel) against scipy's 8-connected labelling."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage  # only here: the edge package must not need it

from edge.featuresets.blobs import largest_blob_pixels, region_ids

Mask = npt.NDArray[np.bool_]
EIGHT = np.ones((3, 3), dtype=bool)


def scipy_largest(hot: Mask) -> int:
    """The largest 8-connected region by ``scipy.ndimage.label`` (the former implementation)."""
    labels, n = ndimage.label(hot, structure=EIGHT)
    return int(np.bincount(labels.ravel())[1:].max()) if n else 0


def random_masks(rng: np.random.Generator, count: int) -> list[Mask]:
    """Masks of random shape and density, from nearly empty to nearly full."""
    out = []
    for _ in range(count):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        out.append(rng.random((h, w)) < rng.random())
    return out


def structured_masks(rng: np.random.Generator, count: int) -> list[Mask]:
    """Lepton-sized masks: discs, rings, diagonal chains, combs, spirals and speckle."""
    yy, xx = np.mgrid[:120, :160]
    out = []
    for i in range(count):
        cy, cx = int(rng.integers(0, 120)), int(rng.integers(0, 160))
        r = float(rng.integers(1, 60))
        kind = i % 6
        if kind == 0:  # a disc with speckle
            m = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            m |= rng.random((120, 160)) < 0.01
        elif kind == 1:  # a ring: one region whose runs split and join again
            d = (yy - cy) ** 2 + (xx - cx) ** 2
            m = (d < r * r) & (d >= (r * 0.6) ** 2)
        elif kind == 2:  # diagonal lines, joined only at the corners of pixels
            m = (xx - yy + cx) % int(rng.integers(2, 9)) == 0
        elif kind == 3:  # a comb whose teeth join at the top row only
            m = (xx % 2 == 0) & (yy >= cy)
            m[cy % 120, :] = True
        elif kind == 4:  # a square spiral, one long path
            m = np.zeros((120, 160), dtype=bool)
            top, left, bottom, right = 0, 0, 119, 159
            while top <= bottom and left <= right:
                m[top, left : right + 1] = True
                m[top : bottom + 1, right] = True
                m[bottom, left : right + 1] = True
                m[top + 2 : bottom + 1, left] = True
                if top + 2 <= bottom:
                    m[top + 2, left : right - 1] = True
                top, left, bottom, right = top + 4, left + 2, bottom - 2, right - 4
        else:  # dense speckle near the percolation threshold
            m = rng.random((120, 160)) < 0.45 + 0.2 * rng.random()
        out.append(m)
    return out


class TestLargestBlob:
    def test_equals_scipy_on_random_masks(self) -> None:
        """On 3000 random masks the largest region has scipy's 8-connected size."""
        rng = np.random.default_rng(13)
        for mask in random_masks(rng, 3000):
            assert largest_blob_pixels(mask) == scipy_largest(mask), mask.astype(int)

    def test_equals_scipy_on_structured_masks(self) -> None:
        """On 600 frame-sized masks (rings, spirals, combs, diagonals) the size equals scipy's."""
        rng = np.random.default_rng(7)
        for mask in structured_masks(rng, 600):
            assert largest_blob_pixels(mask) == scipy_largest(mask)

    @pytest.mark.parametrize(
        ("rows", "expected"),
        [
            (["#.", ".#"], 2),  # diagonal neighbours are one region
            (["#.#", "...", "#.#"], 1),
            (["#..#", "#..#", "####"], 8),  # a U: two runs join below
            (["####", "....", "####"], 4),
            (["#" * 5 + "." + "#" * 3], 5),
            ([".", "#", "#"], 2),  # one column
            (["...", "..."], 0),
        ],
    )
    def test_small_cases(self, rows: list[str], expected: int) -> None:
        """Hand-checked masks, one pixel per character (``#`` hot)."""
        mask = np.array([[c == "#" for c in row] for row in rows], dtype=bool)
        assert largest_blob_pixels(mask) == expected == scipy_largest(mask)

    def test_run_wrapping_rows_is_two_regions(self) -> None:
        """A run ending at the right edge and one starting at the left edge below are apart."""
        mask = np.zeros((2, 6), dtype=bool)
        mask[0, 3:] = True
        mask[1, :2] = True
        assert largest_blob_pixels(mask) == 3


def same_partition(mask: Mask) -> bool:
    """Whether ``region_ids`` groups the hot pixels exactly as scipy's labels do."""
    idx = np.flatnonzero(mask)
    ours = region_ids(idx, mask.shape[1])
    labels, _ = ndimage.label(mask, structure=EIGHT)
    theirs = labels.reshape(-1)[idx]
    if ours.shape != idx.shape or (ours.size and (ours.min() < 0 or ours.max() >= idx.size)):
        return False
    # One to one: each of our ids is one scipy label, and each scipy label one of our ids.
    pairs = set(zip(ours.tolist(), theirs.tolist(), strict=True))
    return len(pairs) == len(set(ours.tolist())) == len(set(theirs.tolist()))


class TestRegionIds:
    def test_same_regions_as_scipy(self) -> None:
        """On 2000 random and 300 frame-sized masks each hot pixel's region is scipy's."""
        rng = np.random.default_rng(23)
        for mask in random_masks(rng, 2000) + structured_masks(rng, 300):
            assert same_partition(mask), mask.astype(int)

    def test_small_cases(self) -> None:
        """Two discs apart are two regions; a diagonal touch is one; no hot pixel, no id."""
        mask = np.array([[c == "#" for c in row] for row in ("##...#", "##...#", "....#.")])
        ids = region_ids(np.flatnonzero(mask), mask.shape[1])
        assert ids.tolist() == [ids[0], ids[0], ids[2], ids[0], ids[0], ids[2], ids[2]]
        assert ids[0] != ids[2]
        assert region_ids(np.zeros(0, dtype=np.intp), 6).size == 0


def test_repeated_and_alternating_masks_keep_their_own_answers() -> None:
    """The memo of the last mask answers only for the same hot pixels at the same width: a
    mask repeated, alternated with another, or with the same flat indices on another width
    (other rows, other neighbours) each gets scipy's size."""
    rng = np.random.default_rng(17)
    a, b = structured_masks(rng, 2)
    wide = np.zeros((4, 6), dtype=bool)
    wide.reshape(-1)[[0, 7]] = True  # (0, 0) and (1, 1): diagonal neighbours
    narrow = np.zeros((4, 5), dtype=bool)
    narrow.reshape(-1)[[0, 7]] = True  # the same flat indices: (0, 0) and (1, 2), apart
    for mask in (a, a, b, a, b, b, wide, narrow, wide, a):
        assert largest_blob_pixels(mask) == scipy_largest(mask)
    assert largest_blob_pixels(wide) == 2
    assert largest_blob_pixels(narrow) == 1


def test_features_do_not_import_scipy() -> None:
    """Computing the thermal features imports neither scipy nor scipy.ndimage."""
    code = (
        "import sys, numpy as np\n"
        "from edge.featuresets.thermal import frame_thermal_features\n"
        "raw = np.full((120, 160), 34000, dtype=np.uint16)\n"
        "frame_thermal_features(raw, raw.astype(np.float32), None, 0.0, 0.01, 60.0, 0.5, 0.5)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
