"""The smoulder watch's spreading rules with and without the spot's core (issue 14, session 34).

``collect`` renders runs of the given families (either engine, as the held-out suite plans
them from ``--seed-base``) and replays each through the device's pipeline (the demo model
and ``demo/config.toml``), keeping per frame the smoulder watch's hottest new pixel, its new
area at 60 °C and its core (``edge.detect.smoulder._core_px``), and the device's events.
``judge`` then applies the watch's full-length rules offline to each run's steps, in these
variants, and prints the runs where they differ and the totals:

- ``base``: heating, spreading, or spreading slowly (the watch before this session);
- ``core``: spreading only if the core also grew (doubled, by ``min_spread_px``) over the
  same steps;
- ``core+recent``: and, for the slow rule, in one of the last three (shipped);
- ``decel``: ``base`` without heating whose last two rises each fell to 85 % or less of the
  one before (a first-order approach to a set temperature; measured, not built).

The early rule and the model's bars are left out: they apply on top of these.

    PYTHONPATH=. python docs/evaluation/issue14/s34/core.py collect OUT.jsonl \
        --seed-base 7900000000 --runs 6 --duration 1800 smoulder_in_view cfast_oil_heating
    PYTHONPATH=. python docs/evaluation/issue14/s34/core.py judge OUT.jsonl [MORE.jsonl]

The session first collected with a prototype: one core over all the spot's new pixels,
measured from the hottest of them all, and the scene taken as the whole frame's median. This
script collects the shipped core (per region, the scene on a sparse grid); docs/evaluation.md
("Issue 14, session 34") gives both.
"""

from __future__ import annotations

import argparse
import json
import math
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL = Path("demo/model/20261207T150202Z-138b6cb5.tar.gz")
KEY = Path("demo/model-signing-2026-12-07b.pub.pem")
CONFIG = Path("demo/config.toml")
STEP_S, STEPS, SLOW = 60.0, 5, 10
MIN_HEAT_K, STEADINESS, MIN_PX, MIN_FRAC, SLOW_MIN_PX = 1.0, 0.5, 2, 0.1, 6
Array = npt.NDArray[np.float64]


def replay(run: Any) -> dict[str, Any]:
    """One run: per frame (t, hottest new °C, new px, core px), the events, the metadata."""
    from cloud.heldout.engines import render
    from cloud.heldout.suite import model_holder
    from edge.config import load_config
    from edge.detect import smoulder
    from edge.detect.pipeline import build_pipeline
    from edge.recording import readings
    from edge.types import ThermalFrame

    rec = render(run)
    rows: list[tuple[float, float, int, int]] = []
    update = smoulder.SmoulderWatch.update

    def spy(self: Any, t: float, celsius: Any, onset: Any, zone: Any = None) -> Any:
        ev = update(self, t, celsius, onset, zone)
        hot = np.flatnonzero(celsius >= self.known_c)
        at = self.memory.onset.reshape(-1)[hot]
        new = hot[(at > -math.inf) & (at >= t - self.cfg.new_s)]
        core = smoulder._core_px(celsius, new) if new.size else 0
        rows.append((round(t, 2), round(ev.hottest_c, 2), ev.new_px, core))
        return ev

    smoulder.SmoulderWatch.update = spy  # type: ignore[method-assign]
    try:
        pipe = build_pipeline(load_config(CONFIG), model_holder(MODEL, KEY, False), start_t=0.0)
        events = []
        for r in readings(rec):
            st = pipe.frame(r) if isinstance(r, ThermalFrame) else pipe.gas(r)
            events += [(round(st.t, 1), e.kind) for e in st.events]
    finally:
        smoulder.SmoulderWatch.update = update  # type: ignore[method-assign]
    meta = {k: v for k, v in rec.meta.items() if v is None or isinstance(v, (int, float, str))}
    return {"scenario": run.scenario, "seed": run.seed, "meta": meta, "events": events,
            "frames": rows}


def steps(frames: list[list[float]]) -> tuple[Array, Array, Array]:
    """Per completed step: median hottest (NaN when mostly none), median area, median core."""
    f = np.asarray(frames, dtype=float)
    k = (f[:, 0] // STEP_S).astype(int)
    t, n, c = [], [], []
    for s in range(int(k.max())):
        m = k == s
        hot = f[m, 1][~np.isnan(f[m, 1])]
        t.append(float(np.median(hot)) if m.any() and hot.size > 0.5 * m.sum() else math.nan)
        n.append(float(np.median(f[m, 2])) if m.any() else 0.0)
        c.append(float(np.median(f[m, 3])) if m.any() else 0.0)
    return np.array(t), np.array(n), np.array(c)


def heating(t: Array, i: int, decel: float | None = None) -> bool:
    w = t[i - STEPS:i + 1] if i >= STEPS else t[:0]
    if w.size < STEPS + 1 or np.isnan(w).any():
        return False
    r = np.diff(w)
    ok = bool(r.min() >= MIN_HEAT_K and r.min() >= STEADINESS * r.max())
    return ok and not (decel is not None and r[-1] <= decel * r[-2] and r[-2] <= decel * r[-3])


def spreading(a: Array, i: int) -> bool:
    if i < STEPS:
        return False
    w = a[i - STEPS:i + 1]
    return bool(w[0] > 0 and (np.diff(w) >= np.maximum(MIN_PX, MIN_FRAC * w[:-1])).all())


def slowly(a: Array, i: int) -> bool:
    if i < SLOW:
        return False
    w = a[i - SLOW:i + 1]
    g = np.diff(w)
    return bool(w[0] > 0 and (g >= 0).all() and np.count_nonzero(g) * 2 >= SLOW
                and g[-3:].sum() > 0 and w[-1] - w[0] >= max(SLOW_MIN_PX, w[0]))


def core_grew(c: Array, i: int, n: int, recent: int = 0) -> bool:
    if i < n:
        return False
    grew = c[i] - c[i - n] >= max(MIN_PX, c[i - n])
    return bool(grew and (recent == 0 or c[i] > c[i - recent]))


def first(t: Array, n: Array, c: Array, variant: str) -> float | None:
    """When the variant's full-length rule first holds (s), or None."""
    for i in range(t.size):
        if variant == "base":
            hit = heating(t, i) or spreading(n, i) or slowly(n, i)
        elif variant == "decel":
            hit = heating(t, i, decel=0.85) or spreading(n, i) or slowly(n, i)
        else:
            recent = 3 if variant == "core+recent" else 0
            hit = (heating(t, i) or (spreading(n, i) and core_grew(c, i, STEPS))
                   or (slowly(n, i) and core_grew(c, i, SLOW, recent)))
        if hit:
            return (i + 1) * STEP_S
    return None


VARIANTS = ("base", "core", "core+recent", "decel")


def judge(paths: list[Path]) -> None:
    runs = [json.loads(line) for p in paths for line in p.read_text().splitlines()]
    found = {v: [0, 0] for v in VARIANTS}
    for r in runs:
        fire = r["meta"].get("label") == "fire"
        when = {v: first(*steps(r["frames"]), v) for v in VARIANTS}
        for v in VARIANTS:
            found[v][0 if fire else 1] += when[v] is not None
        if len(set(when.values())) > 1 or (not fire and when["base"] is not None):
            print(f"{r['scenario']:22s} {r['seed']} {'fire' if fire else 'no-fire':7s} "
                  + " ".join(f"{v}={when[v]}" for v in VARIANTS))
    fires = sum(r["meta"].get("label") == "fire" for r in runs)
    for v in VARIANTS:
        print(f"{v:12s} fires found {found[v][0]}/{fires}, "
              f"no-fire runs called smouldering {found[v][1]}/{len(runs) - fires}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("out", type=Path)
    c.add_argument("families", nargs="+")
    c.add_argument("--seed-base", type=int, required=True)
    c.add_argument("--runs", type=int, default=6)
    c.add_argument("--duration", type=float, default=1800.0)
    c.add_argument("--workers", type=int, default=2)
    j = sub.add_parser("judge")
    j.add_argument("files", type=Path, nargs="+")
    args = p.parse_args()
    if args.cmd == "judge":
        judge(args.files)
        return
    from cloud.heldout.engines import plan_engine_runs

    plan = plan_engine_runs("both", args.runs, args.duration, 1.0, full_rate_runs=0,
                            seed_base=args.seed_base, families=args.families,
                            slow_duration_s=args.duration, nuisance_duration_s=args.duration)
    with Pool(args.workers) as pool, args.out.open("x") as out:
        for res in pool.imap_unordered(replay, plan):
            out.write(json.dumps(res) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
