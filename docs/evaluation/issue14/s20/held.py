"""What a sustained alarm would do to held-out suites already run (issue 14, session 20).

Reads each suite directory's per-run dumps (``raw/*.json``: the fused mode's score stream and
events) and, offline, with the product's own code:

- ``top DIR...``: per suite, the highest score each nuisance run holds for 300 s
  (``cloud.training.hold.held_score``), the six highest; and the same for the fire runs that
  did not alarm;
- ``preview BAR DIR...``: the device's alarm logic with only a sustained alarm at ``BAR`` for
  300 s (``edge.detect.alarm``) over each stream: fires it would find that were not found or
  sooner than they were, and nuisance runs it would newly alarm on.

The raw scores are the model's, before the known-scene rule caps them, so ``preview`` can
count a nuisance the device would not alarm on (it did so once in session 20: a gas-cooking
run the device replay did not alarm on).

    PYTHONPATH=. python docs/evaluation/issue14/s20/held.py preview 0.514 /work/eval/s19/*-n1200
"""

from __future__ import annotations

import glob
import json
import logging
import math
import sys
from typing import Any

from cloud.training.hold import held_score
from edge.config import AlarmConfig
from edge.detect.alarm import AlarmStateMachine, Hold

HOLD_S = 300.0


def runs(d: str) -> list[dict[str, Any]]:
    out = []
    for f in sorted(glob.glob(d + "/raw/*.json")):
        with open(f) as fh:
            r = json.load(fh)
        if "modes" in r:  # the ablation replays carry no fused stream
            out.append(r)
    return out


def sustained_at(t: list[float], p: list[float | None], bar: float) -> float | None:
    sm = AlarmStateMachine(AlarmConfig(), 0.999, Hold(bar, HOLD_S))
    for tt, pp in zip(t, p, strict=True):
        score = math.nan if pp is None or not math.isfinite(pp) else min(pp, 0.99)
        if any(e.reason == "sustained" for e in sm.update(tt, score)):
            return tt
    return None


def top(dirs: list[str]) -> None:
    for d in dirs:
        nuis, missed = [], []
        for r in runs(d):
            m, t0 = r["modes"]["fused"], r["fire_start_s"]
            sel = [i for i, tt in enumerate(m["t"]) if t0 is None or tt >= t0]
            p = [math.nan if m["p"][i] is None else m["p"][i] for i in sel]
            h = round(held_score([m["t"][i] for i in sel], p, HOLD_S), 3)
            alarmed = any(e["kind"] == "alarm" and (t0 is None or e["t"] >= t0)
                          for e in m["events"])
            if t0 is None:
                nuis.append((h, r["scenario"], r["seed"]))
            elif not alarmed:
                missed.append((h, r["scenario"], r["seed"]))
        print(d, "nuisances, highest held:", sorted(nuis, reverse=True)[:6])
        print("   fires not alarmed:", sorted(missed, reverse=True))


def preview(bar: float, dirs: list[str]) -> None:
    logging.getLogger("edge.detect.alarm").setLevel(logging.ERROR)  # trial alarms
    for d in dirs:
        gained, sooner, new_fa = [], [], []
        for r in runs(d):
            m, t0 = r["modes"]["fused"], r["fire_start_s"]
            alarms = [e["t"] for e in m["events"] if e["kind"] == "alarm"]
            h = sustained_at(m["t"], m["p"], bar)
            if h is None:
                continue
            if t0 is None:
                if not alarms:
                    new_fa.append((r["scenario"], r["seed"], h))
                continue
            after = [a for a in alarms if a >= t0]
            if h >= t0 and not after:
                gained.append((r["scenario"], r["seed"], round(h - t0)))
            elif h >= t0 and h < after[0]:
                sooner.append((r["scenario"], r["seed"], round(after[0] - t0), round(h - t0)))
        print(f"{d}: gained {gained} | sooner {sooner} | new false alarms {new_fa}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "top":
        top(sys.argv[2:])
    elif len(sys.argv) > 3 and sys.argv[1] == "preview":
        preview(float(sys.argv[2]), sys.argv[3:])
    else:
        sys.exit(__doc__)
