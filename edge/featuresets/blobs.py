"""The 8-connected regions of a boolean mask, in numpy: the largest one's size (feature 6,
``t_blob_frac``) and each hot pixel's region (the smoulder watch's regions).

Replaces ``scipy.ndimage.label``: importing ``scipy.ndimage`` costs the daemon ~31 MiB of
RSS (it loads ``scipy.special``) for this one call. The result is the same pixel count
(``tests/test_blobs.py`` checks it against scipy on thousands of masks).

Method: the mask's rows are cut into runs (maximal horizontal segments of ``True``). Two
runs on neighbouring rows touch under 8-connectivity when their column ranges overlap or
meet at a corner. The runs are joined into regions by union-find done as whole-array
steps: every root that is the larger end of an edge between two different regions is hooked
to the smallest root across such edges, then all paths are compressed; repeated until every
edge joins one region. Each round removes at least one root, and a hot spot of a few
hundred pixels needs one or two.

The last mask's answer is kept: a scene's hot pixels are usually the same from one frame to
the next (87 % of the frames of a 10-minute kitchen fire recording, whose hot pixels move only
when the fire grows), and comparing the hot pixels' indices costs a few µs against 30–50 µs
for the regions. The memo is one immutable tuple, replaced whole, so threads that compute
features side by side can only miss it, never read half of another's entry.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

_LOOP_EDGES = 64  # up to this many edges a Python loop beats whole-array steps


#: The last non-empty mask seen: (its width, its hot pixels' flat indices as bytes, answer).
_last: tuple[int, bytes, int] = (0, b"", 0)


def largest_blob_pixels(hot: Mask) -> int:
    """Pixels in the largest 8-connected region of ``hot`` (H, W)."""
    global _last
    idx = np.flatnonzero(hot)
    if idx.size == 0:
        return 0
    w = hot.shape[1]
    key = idx.tobytes()
    last_w, last_key, last_n = _last
    if last_w == w and last_key == key:  # the same pixels: the same regions
        return last_n
    n = _largest(idx, w)
    _last = (w, key, n)
    return n


def _largest(idx: IntArray, w: int) -> int:
    """Pixels in the largest 8-connected region of the hot pixels at flat ``idx`` (sorted,
    not empty) of a mask ``w`` pixels wide."""
    root, length = _run_regions(idx, w)
    return int(np.bincount(root, weights=length).max())


def region_ids(idx: IntArray, w: int) -> IntArray:
    """For each hot pixel at flat ``idx`` (sorted) of a mask ``w`` pixels wide, the id of its
    8-connected region (the same id for the same region; ids are below ``idx.size``)."""
    if idx.size == 0:
        return np.zeros(0, dtype=np.intp)
    root, length = _run_regions(idx, w)
    return np.repeat(root, length)


def _run_regions(idx: IntArray, w: int) -> tuple[IntArray, IntArray]:
    """The runs of the hot pixels at flat ``idx`` (sorted, not empty): each run's region root
    and each run's length, runs in ``idx`` order."""
    # Runs: the flat indices break where they skip a pixel or a new row begins.
    brk = np.flatnonzero((np.diff(idx) != 1) | (idx[1:] % w == 0))
    if brk.size == 0:
        return np.zeros(1, dtype=np.intp), np.array([idx.size])
    start = idx[np.concatenate(([0], brk + 1))]
    end = idx[np.concatenate((brk, [idx.size - 1]))] + 1  # exclusive
    row = start // w
    # Keys that sort runs by (row, column), a row's keys all below the next row's.
    stride = w + 2
    shift = row * 2
    start_key = start + shift
    end_key = end + shift
    # Run b on row r touches the runs a of row r−1 with a.end ≥ b.start and a.start ≤ b.end
    # (exclusive ends: columns that overlap or are diagonal neighbours); they are contiguous.
    first = np.searchsorted(end_key, start_key - stride, side="left")
    stop = np.searchsorted(start_key, end_key - stride, side="right")
    counts = stop - first
    np.maximum(counts, 0, out=counts)
    length = end - start
    n_runs = start.size
    tops = counts.size - int(np.count_nonzero(counts))
    if tops == 1:  # every run reaches the one run with none above it: a single region
        return np.zeros(n_runs, dtype=np.intp), length
    n_edges = int(counts.sum())
    if n_edges == 0:  # no run touches another: each run is its own region
        return np.arange(n_runs), length
    if n_edges <= _LOOP_EDGES:
        return _join_small(first.tolist(), counts.tolist(), n_runs), length
    b = np.repeat(np.arange(n_runs), counts)
    a = np.arange(n_edges) + np.repeat(first - (np.cumsum(counts) - counts), counts)
    return _join(a, b, n_runs), length


def _join_small(first: list[int], counts: list[int], n: int) -> IntArray:
    """The root of each of ``n`` runs, run ``b`` joined to runs ``first[b] …`` (a loop)."""
    parent = list(range(n))
    for b in range(n):
        for a in range(first[b], first[b] + counts[b]):
            ra = a
            while parent[ra] != ra:
                ra = parent[ra]
            rb = b
            while parent[rb] != rb:
                rb = parent[rb]
            if ra != rb:
                lo, hi = (ra, rb) if ra < rb else (rb, ra)
                parent[hi] = lo
            parent[a] = parent[b] = min(ra, rb)
    for i in range(n):  # parents precede their children: one pass resolves every root
        parent[i] = parent[parent[i]]
    return np.array(parent, dtype=np.intp)


def _join(a: IntArray, b: IntArray, n: int) -> IntArray:
    """The root of each of ``n`` nodes once the edges ``a[i]``–``b[i]`` are joined."""
    parent = np.arange(n)
    while True:
        ra = parent[a]
        rb = parent[b]
        differ = ra != rb
        if not differ.any():
            return parent
        lo = np.minimum(ra[differ], rb[differ])
        hi = np.maximum(ra[differ], rb[differ])
        np.minimum.at(parent, hi, lo)  # hi is a root: hook it below the smallest neighbour
        while True:  # compress every path to its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
