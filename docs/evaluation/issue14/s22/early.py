"""What a shorter smoulder watch would do if the model had to say fire firmly (issue 14,
session 22).

For every run of the suite directories given (their ``runs.json``), re-renders the run and
runs the device's flame watch and the smoulder watch with ``steps`` 5 (the device's), 4, 3
and 2 over its frames, as the pipeline does (the flame watch's scene memory feeds the smoulder
watches). With the run's fused score stream from its dump (``raw/*.json``) it reports, per
step count:

- the no-fire streams (nuisance runs whole, fire runs before ignition) that watch calls
  smouldering, highest score first: the bar training would have to clear;
- at each bar of ``--bars``: the fire runs it would alarm on before the device did (and by how
  much), and the no-fire runs it would alarm on that the device did not.

The scores are the model's as dumped (before the known-scene rule caps them); the device's
own alarm is the run's first ``fused`` alarm in ``runs.json``.

    PYTHONPATH=. python docs/evaluation/issue14/s22/early.py --bars 0.7,0.8 \
        /work/eval/s21/{dslow,dnuis,dstd}-sb
"""

from __future__ import annotations

import argparse
import json
import math
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from cloud.heldout.engines import render
from cloud.heldout.raw import load_raw
from cloud.heldout.suite import HeldoutRun
from edge.config.smoulder import SmoulderConfig
from edge.detect.flame import FlameWatch
from edge.detect.smoulder import SmoulderWatch
from edge.types import ZERO_C_K

STEPS = (5, 4, 3, 2)
Key = tuple[str, int, float, float]


def spans(run: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """Per step count, the (from, to) spans in which that watch says smouldering."""
    rec = render(HeldoutRun(run["scenario"], run["seed"], run["duration_s"], run["rate_hz"],
                            run["engine"]), None)
    flame = FlameWatch()
    slow = [SmoulderWatch(SmoulderConfig(steps=n, early_steps=0)) for n in STEPS]
    res = np.float32(rec.frame_resolution_k)
    out: list[list[tuple[float, float]]] = [[] for _ in STEPS]
    since: list[float | None] = [None for _ in STEPS]
    for i, t in enumerate(rec.frame_t.tolist()):
        celsius = rec.frames[i] * res - np.float32(ZERO_C_K)
        flame.update(t, celsius)
        for k, w in enumerate(slow):
            on = w.update(t, celsius, flame.onset).smouldering
            if on and since[k] is None:
                since[k] = t
            elif not on and since[k] is not None:
                out[k].append((since[k], t))  # type: ignore[arg-type]
                since[k] = None
    for k, s in enumerate(since):
        if s is not None:
            out[k].append((s, math.inf))
    return out


def key(r: dict[str, Any]) -> Key:
    return (r["scenario"], r["seed"], r["duration_s"], r["rate_hz"])


def scores(d: str) -> dict[Key, tuple[np.ndarray, np.ndarray]]:
    """The fused score stream (t, p) of each run dumped under ``d/raw``."""
    out = {}
    for r in load_raw(Path(d)):
        if "modes" in r:
            m = r["modes"]["fused"]
            p = np.array([math.nan if x is None else x for x in m["p"]], float)
            out[key(r)] = (np.asarray(m["t"], float), p)
    return out


def first_over(stream: tuple[np.ndarray, np.ndarray], on: list[tuple[float, float]],
               bar: float, t_from: float = -math.inf) -> float | None:
    t, p = stream
    for a, b in on:
        hit = (t >= max(a, t_from)) & (t < b) & (p >= bar)
        if hit.any():
            return float(t[hit][0])
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--bars", default="0.7,0.8,0.85")
    args = ap.parse_args()
    bars = [float(b) for b in args.bars.split(",")]
    runs, streams = [], {}
    for d in args.dirs:
        with open(d + "/runs.json") as fh:
            runs += json.load(fh)
        streams.update(scores(d))
    todo, seen = [], set()
    for r in runs:  # each run once (suites share some), and only those with a dump
        if key(r) in streams and key(r) not in seen:
            seen.add(key(r))
            todo.append(r)
    with ProcessPoolExecutor(2) as ex:
        found = list(ex.map(spans, todo, chunksize=1))
    for k, n in enumerate(STEPS):
        peaks = []
        for r, on in zip(todo, found, strict=True):
            t, p = streams[key(r)]
            t0 = r["fire_start_s"] if r["label"] == "fire" else math.inf
            sel = np.zeros(t.size, bool)
            for a, b in on[k]:
                sel |= (t >= a) & (t < min(b, t0))
            if sel.any():
                peaks.append((float(np.nanmax(p[sel])), r["family"], r["engine"], r["seed"]))
        peaks.sort(reverse=True)
        print(f"steps {n}: {len(peaks)} no-fire streams smouldering; highest "
              + ", ".join(f"{pk:.3f} {fam} {eng} {seed}" for pk, fam, eng, seed in peaks[:4]))
        for bar in bars:
            sooner, new = [], []
            for r, on in zip(todo, found, strict=True):
                alarms = [e["t"] for e in r["events"]["fused"] if e["kind"] == "alarm"]
                t_dev = alarms[0] if alarms else math.inf
                if r["label"] == "fire":
                    t = first_over(streams[key(r)], on[k], bar, r["fire_start_s"])
                    if t is not None and t < t_dev:
                        sooner.append(f"{r['family']} {r['engine']} {r['seed']} "
                                      + ("(missed)" if math.isinf(t_dev)
                                         else f"{t_dev - t:.0f} s"))
                else:
                    t = first_over(streams[key(r)], on[k], bar)
                    if t is not None and t < t_dev:
                        new.append(f"{r['family']} {r['engine']} {r['seed']}")
            print(f"  bar {bar:g}: {len(sooner)} fires sooner ({'; '.join(sooner)}); "
                  f"{len(new)} no-fire runs alarming sooner or anew ({'; '.join(new)})")


if __name__ == "__main__":
    main()
