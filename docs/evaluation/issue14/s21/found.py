"""What the model scores when the smoulder watch finds something (issue 14, session 21).

For every run of the suite directories given (their ``runs.json``), re-renders the run, runs
the device's flame and smoulder watches over its frames as the pipeline does
(``cloud.training.corroborate.watches``' order: the flame watch's scene memory feeds the
smoulder watch) and reads the run's fused score stream from its dump (``raw/*.json``):

- per fire run the watch finds after ignition: its *score when found*, the highest score
  within one watch step (60 s) of the first smouldering frame, as training's
  ``cloud.training.smoulder_bar`` reads it;
- per no-fire run the watch smoulders in: its highest score while smouldering.

Then the weakest fires per seed set, and the no-fire runs, lowest first. The raw scores are
the model's before the known-scene rule caps them.

    PYTHONPATH=. python docs/evaluation/issue14/s21/found.py \
        /work/eval/s20/{dslow,fslow,held,hnuis,fnuis,fhour}-h
"""

from __future__ import annotations

import json
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from cloud.heldout.engines import render
from cloud.heldout.raw import load_raw
from cloud.heldout.suite import HeldoutRun
from edge.detect.flame import FlameWatch
from edge.detect.smoulder import SmoulderWatch
from edge.types import ZERO_C_K

STEP_S = 60.0


def smouldering(run: dict[str, Any]) -> list[float]:
    """The frame times at which the smoulder watch says smouldering."""
    rec = render(HeldoutRun(run["scenario"], run["seed"], run["duration_s"], run["rate_hz"],
                            run["engine"]), None)
    flame, slow = FlameWatch(), SmoulderWatch()
    res = np.float32(rec.frame_resolution_k)
    out = []
    for i, t in enumerate(rec.frame_t.tolist()):
        celsius = rec.frames[i] * res - np.float32(ZERO_C_K)
        flame.update(t, celsius)
        if slow.update(t, celsius, flame.onset).smouldering:
            out.append(t)
    return out


def scores(d: str) -> dict[tuple[str, int, float, float], tuple[np.ndarray, np.ndarray]]:
    """The fused score stream (t, p) of each run dumped under ``d/raw``."""
    out = {}
    for r in load_raw(Path(d)):
        if "modes" in r:
            m = r["modes"]["fused"]
            p = np.array([math.nan if x is None else x for x in m["p"]], float)
            out[(r["scenario"], r["seed"], r["duration_s"], r["rate_hz"])] = (
                np.asarray(m["t"], float), p)
    return out


def main(dirs: list[str]) -> None:
    runs, streams = [], {}
    for d in dirs:
        with open(d + "/runs.json") as fh:
            runs += json.load(fh)
        streams.update(scores(d))
    seen, todo = set(), []
    for r in runs:
        key = (r["scenario"], r["seed"], r["duration_s"], r["rate_hz"])
        if key not in seen and key in streams:
            seen.add(key)
            todo.append(r)
    fires: list[tuple[float, str, str, int]] = []
    quiet: list[tuple[float, str, int, float]] = []
    with ProcessPoolExecutor(2) as ex:
        for r, times in zip(todo, ex.map(smouldering, todo), strict=True):
            t, p = streams[(r["scenario"], r["seed"], r["duration_s"], r["rate_hz"])]
            at = np.asarray(times)
            t0 = r["fire_start_s"]
            if t0 is not None and (at >= t0).any():
                first = float(at[at >= t0][0])
                w = (t >= first) & (t < first + STEP_S)
                fires.append((float(np.nanmax(p[w])), r["family"], r["engine"], r["seed"]))
            quiet_at = at if t0 is None else at[at < t0]
            if quiet_at.size:
                hot = np.isin(t, quiet_at)
                quiet.append((float(np.nanmax(p[hot])), r["scenario"], r["seed"],
                              r["duration_s"]))
    for base in sorted({f[3] // 10**8 for f in fires}):
        mine = sorted(f for f in fires if f[3] // 10**8 == base)
        print(f"seed set {base}e8: {len(mine)} fires found; weakest "
              + ", ".join(f"{s:.3f} ({fam} {eng} {seed})" for s, fam, eng, seed in mine[:4]))
    print("no-fire runs the watch smoulders in (highest score while smouldering):")
    for s, scen, seed, dur in sorted(quiet):
        print(f"  {s:.3f} {scen} {seed} {dur:g} s")


if __name__ == "__main__":
    main(sys.argv[1:])
