"""The score-only alarm paths across engines (issue 14, session 35): off, or held longer.

The alarm logic raises ``persistent`` (the score over the threshold for ``pre_alarm_s``) and
``fast_path`` (a score past ``fast_path_score``) from the model's score alone. On the
cross-engine table of session 34 most quiet-run alarms of the models trained on one engine
came that way (candles, heaters, a gas hob). This script measures what the watches and the
sustained alarm find without them, and whether holding the score longer would tell the
nuisances from the fires:

- ``replay`` plays every held-out run of a ``cloud.heldout.cross`` report through each of its
  cell models (fused, the default config, as the report did) with ``persistent`` and
  ``fast_path`` never raised (the state machine stays in ``pre_alarm``), and writes the
  events. The cell models were signed with a key the report threw away, so they are loaded
  unverified: this is an offline measurement, never a device.
- ``judge`` prints, per cell and per pre-alarm time D, the fires found, their median time from
  ignition, flaming fires before the smoke detector and the quiet runs alarming, when the
  first alarm is the earlier of the replay's (watches and ``sustained``) and the stored
  scores held over the threshold for D seconds (hysteresis as the state machine's: a dip
  under 0.8 × the threshold starts over), with and without the fast path. A fire run counts
  from its ignition (what came before is a quiet stretch, not a detection).

    PYTHONPATH=. python docs/evaluation/issue14/s35/scoreonly.py replay CROSS_DIR CACHE OUT.json
    PYTHONPATH=. python docs/evaluation/issue14/s35/scoreonly.py judge CROSS_DIR OUT.json
"""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
from pathlib import Path
from typing import Any

import numpy as np

CELLS = ("ours", "cfast", "both")


def _replay(job: tuple[dict[str, Any], dict[str, str], str]) -> tuple[list[Any], Any]:
    from cloud.heldout.suite import HeldoutRun, model_holder, replay_mode
    from cloud.heldout.xcorpus import render_cached
    from edge.detect import alarm

    raise_ = alarm.AlarmStateMachine._raise

    def no_score_only(self: Any, t: float, score: float, reason: str, why: str) -> Any:
        if reason in ("persistent", "fast_path"):
            if self._state == "idle":
                self._enter("pre_alarm", t)
                self._over_since = t
            return []
        return raise_(self, t, score, reason, why)

    alarm.AlarmStateMachine._raise = no_score_only  # type: ignore[method-assign]
    r, models, cache = job
    rec = render_cached(HeldoutRun(r["scenario"], r["seed"], r["duration_s"], r["rate_hz"],
                                   r["engine"]), Path(cache))
    out = {n: replay_mode(rec, model_holder(Path(p), None, True), "fused")["events"]
           for n, p in models.items()}
    return [r["engine"], r["scenario"], r["seed"]], out


def replay(cross: Path, cache: Path, out: Path) -> None:
    from edge.featuresets.blas import one_blas_thread

    models = {n: str(next((cross / "models" / n).glob("*.tar.gz"))) for n in CELLS}
    runs = [r for r in json.loads((cross / "runs.json").read_text()) if "failed" not in r]
    with multiprocessing.get_context("fork").Pool(2, initializer=one_blas_thread) as pool:
        res = pool.map(_replay, [(r, models, str(cache)) for r in runs], chunksize=1)
    out.write_text(json.dumps(res))


def held(t: list[float], p: list[float], thr: float, hold_s: float,
         fast: float | None) -> float | None:
    """When the scores are first held over ``thr`` for ``hold_s`` (or past ``fast``)."""
    since = None
    for ti, pi in zip(t, p, strict=True):
        if pi is None or math.isnan(pi):
            continue
        if fast is not None and pi >= fast:
            return ti
        if pi < 0.8 * thr:
            since = None
        elif pi >= thr and since is None:
            since = ti
        if since is not None and pi >= thr and ti - since >= hold_s:
            return ti
    return None


def judge(cross: Path, variant: Path) -> None:
    runs = [r for r in json.loads((cross / "runs.json").read_text()) if "failed" not in r]
    off = {tuple(k): v for k, v in json.loads(variant.read_text())}
    for hold_s in (3.0, 10.0, 30.0, 60.0, 120.0):
        for fast in (True, False):
            cells = []
            for n in CELLS:
                for eng in ("ours", "cfast"):
                    fa = found = sd_ok = sd_n = 0
                    waits = []
                    for r in (r for r in runs if r["engine"] == eng):
                        m = r["models"][n]["modes"]["fused"]
                        t0 = r["fire_start_s"] if r["label"] == "fire" else -math.inf
                        ev = [e["t"] for e in off[(r["engine"], r["scenario"], r["seed"])][n]
                              if e["kind"] == "alarm" and e["t"] >= t0]
                        keep = [i for i, ti in enumerate(m["t"]) if ti >= t0]
                        hp = held([m["t"][i] for i in keep], [m["p"][i] for i in keep],
                                  m["threshold"], hold_s,
                                  max(0.98, m["threshold"]) if fast else None)
                        a = min([x for x in (*ev[:1], hp) if x is not None], default=None)
                        if r["label"] != "fire":
                            fa += a is not None
                            continue
                        if a is not None:
                            found += 1
                            waits.append(a - r["fire_start_s"])
                        sd = r.get("smoke_detector_s")
                        if sd is not None and r["family"] != "CF2":
                            sd_n += 1
                            sd_ok += a is not None and a < sd
                    cells.append(f"{n}→{eng}: {found} found, median {np.median(waits):.0f} s, "
                                 f"before SD {sd_ok}/{sd_n}, quiet alarming {fa}")
            print(f"held {hold_s:g} s, fast path {'on' if fast else 'off'}: " + " | ".join(cells))
    print("score-only off (the replay alone):")
    for n in CELLS:
        for eng in ("ours", "cfast"):
            sub = [r for r in runs if r["engine"] == eng]
            fa = sum(any(e["kind"] == "alarm" for e in off[(r["engine"], r["scenario"],
                                                              r["seed"])][n])
                     for r in sub if r["label"] != "fire")
            found = sum(any(e["kind"] == "alarm" and e["t"] >= r["fire_start_s"]
                            for e in off[(r["engine"], r["scenario"], r["seed"])][n])
                        for r in sub if r["label"] == "fire")
            print(f"  {n}→{eng}: {found}/{sum(r['label'] == 'fire' for r in sub)} found, "
                  f"quiet alarming {fa}")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "replay":
        replay(Path(args[0]), Path(args[1]), Path(args[2]))
    elif cmd == "judge":
        judge(Path(args[0]), Path(args[1]))
    else:
        sys.exit(f"usage: {__doc__.splitlines()[-2].strip()}")
