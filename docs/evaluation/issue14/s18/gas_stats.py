"""CO2 rates and water per CO2 of the runs of held-out suite folders (issue 14, session 18).

For every run listed in the folders' ``runs.json`` (rendered again from its engine, scenario
and seed), from the SCD41 readings:

- ``quiet_max_W``: the largest CO2 rise over W s (60, 120, 180), in ppm/min, while no fire
  burns (a nuisance run, or a fire run before ignition);
- ``water``: ``h2o_per_co2_120s`` as the fd-v2 feature defines it (water vapour risen per ppm
  of CO2 risen, both from the reading 120 s earlier) at the run's steepest 120-s CO2 rise
  (after ignition in a fire run), with that rise in ppm.

Usage, from the repository root::

    python docs/evaluation/issue14/s18/gas_stats.py OUT.json SUITE_DIR [SUITE_DIR ...]

then a table per scenario is printed.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from cloud.heldout.engines import render
from cloud.heldout.suite import HeldoutRun
from edge.featuresets.gas import h2o_ppm

WINDOWS_S = (60.0, 120.0, 180.0)


def _rise_per_min(t: np.ndarray, c: np.ndarray, w: float) -> np.ndarray:
    j = np.searchsorted(t, t - w)
    out = np.full(t.size, np.nan)
    ok = t - w >= t[0]
    out[ok] = (c[ok] - c[j[ok]]) / np.maximum(t[ok] - t[j[ok]], 1e-9) * 60.0
    return out


def one(job: tuple[str, int, float, float, str]) -> dict[str, Any]:
    """The statistics of one run."""
    rec = render(HeldoutRun(*job), None)
    t, c = np.asarray(rec.gas_t, float), np.asarray(rec.co2_ppm, float)
    temp, rh = np.asarray(rec.temperature_c, float), np.asarray(rec.humidity_pct, float)
    t0 = rec.fire_start_s
    out: dict[str, Any] = {"scenario": job[0], "seed": job[1], "engine": job[4], "t0": t0}
    quiet = np.ones(t.size, bool) if t0 is None else t < t0
    for w in WINDOWS_S:
        r = _rise_per_min(t, c, w)[quiet]
        out[f"quiet_max_{w:g}"] = float(np.nanmax(r)) if np.isfinite(r).any() else None
    j = np.searchsorted(t, t - 120.0)
    ok = (t - 120.0 >= t[0]) & (np.ones(t.size, bool) if t0 is None else t >= t0)
    out["water"] = None
    if ok.any():
        rise = np.where(ok, c - c[j], -np.inf)
        i = int(np.argmax(rise))
        water = h2o_ppm(float(temp[i]), float(rh[i])) - h2o_ppm(float(temp[j[i]]), float(rh[j[i]]))
        out["water"] = [float(rise[i]), water / float(rise[i]) if rise[i] >= 20 else None]
    return out


def main(argv: list[str]) -> None:
    jobs = set()
    for folder in argv[1:]:
        with open(f"{folder}/runs.json", encoding="utf-8") as f:
            for r in json.load(f):
                jobs.add((r["scenario"], r["seed"], r["duration_s"], r["rate_hz"], r["engine"]))
    with ProcessPoolExecutor(2) as ex:
        res = list(ex.map(one, sorted(jobs), chunksize=2))
    with open(argv[0], "w", encoding="utf-8") as f:
        json.dump(res, f, indent=0)
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in res:
        by["fires before ignition" if r["t0"] is not None else r["scenario"]].append(r)
        if r["t0"] is not None:
            by[r["scenario"]].append(r)
    print("| scenario | runs | quiet max 120 s, ppm/min | water per CO2 at the steepest rise, "
          "median (q10–q90) |")
    print("|---|---|---|---|")
    for name, rs in sorted(by.items()):
        q = [r["quiet_max_120"] for r in rs if r["quiet_max_120"] is not None]
        w = [r["water"][1] for r in rs if r["water"] and r["water"][1] is not None]
        no_fire = name == "fires before ignition" or rs[0]["t0"] is None
        qs = f"{max(q):.0f}" if q and no_fire else "–"
        ws = (f"{np.median(w):.2f} ({np.percentile(w, 10):.2f}–{np.percentile(w, 90):.2f})"
              if w and name != "fires before ignition" else "–")
        print(f"| {name} | {len(rs)} | {qs} | {ws} |")


if __name__ == "__main__":
    main(sys.argv[1:])
