"""The flame bar with the score taken over a window (issue 14, session 35; measured, not built).

At 1 Hz a young CFAST flame's score flickers from frame to frame (0.35–0.74 on a chair) and
the flame watch's growing frames rarely meet the flame bar (0.770). Would corroborating with
the highest (or the mean) score of the last W seconds help? The bar must then be chosen the
same way, so this re-chooses it on the demo model's own validation runs (``choice.npz``,
written by ``cloud/train.py`` beside its report) with
``cloud.training.corroborate.choose_flame_bar``, the function training calls, for each
variant, and prints the bar, the stream that sets it, the ladder, the validation fires
corroborated and their median wait from their first growing frame.

    PYTHONPATH=. python docs/evaluation/issue14/s35/window.py REPORT/choice.npz
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cloud.training.choice import ChoiceRuns, load_choice
from cloud.training.corroborate import choose_flame_bar


def windowed(runs: ChoiceRuns, kind: str, seconds: float) -> npt.NDArray[np.float64]:
    """Each row's score as the max (or mean) of its run's finite scores in the last
    ``seconds`` (0: the row's own)."""
    ds, p = runs.ds, runs.p
    out = p.copy()
    if seconds == 0:
        return out
    for g in runs.watched:
        idx = np.flatnonzero(ds.group == g)
        t, pp = ds.t[idx], p[idx]
        start = np.searchsorted(t, t - seconds, side="left")
        for k in range(idx.size):
            seg = pp[start[k]:k + 1]
            seg = seg[np.isfinite(seg)]
            out[idx[k]] = (seg.max() if kind == "max" else seg.mean()) if seg.size else math.nan
    return out


def main(path: Path) -> None:
    runs = load_choice(path)
    for kind, seconds in (("max", 0.0), ("max", 2.0), ("max", 4.0), ("max", 6.0),
                          ("mean", 4.0), ("mean", 8.0)):
        fb = choose_flame_bar(runs.ds, windowed(runs, kind, seconds), runs.rows,
                              runs.watched)
        print(f"{kind} over {seconds:g} s: bar {fb.bar:.3f} (set by {fb.highest_stream}), "
              f"ladder {[(s, round(b, 3)) for s, b in fb.ladder]}, validation fires "
              f"corroborated {fb.fires_corroborated}/{fb.fires}, median wait "
              f"{fb.median_wait_s:.1f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
