"""The slow spreading rule when the area may dip (issue 14, session 35; ``[smoulder] slow_keep``).

The smoulder watch's slow rule asked that the new area (the median of each 60-s step) never
shrink over its ten steps. A step's area is a median at a line (60 °C); a small seat seen
through drifting smoke or from metres away loses a pixel row for a minute now and then, and
the rule then started its ten steps over. This judges, on runs collected with session 34's
``core.py collect`` (the same per-frame history: hottest new pixel, new area, core), the
watch's full-length rules (session 34's shipped ones) with the slow rule's "never shrank"
replaced by "never fell under KEEP × its largest so far in the window", growth then counted
past that largest (a recovery from a dip is not growth); KEEP = 1 is the rule before.

    PYTHONPATH=. python docs/evaluation/issue14/s35/keep.py RUNS.jsonl [MORE.jsonl ...]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "s34"))
import core  # session 34's script: its steps and rules

KEEPS = (1.0, 0.9, 0.8, 0.75, 0.67)
Array = core.Array


def slowly(a: Array, i: int, keep: float) -> bool:
    if i < core.SLOW:
        return False
    w = a[i - core.SLOW:i + 1]
    largest = np.maximum.accumulate(w)
    g = np.diff(largest)
    return bool(w[0] > 0 and (w >= keep * largest).all() and np.count_nonzero(g) * 2 >= core.SLOW
                and g[-3:].sum() > 0 and w[-1] - w[0] >= max(core.SLOW_MIN_PX, w[0]))


def first(t: Array, n: Array, c: Array, keep: float) -> float | None:
    """When the shipped rules, the slow one with ``keep``, first hold (s), or None."""
    for i in range(t.size):
        if (core.heating(t, i) or (core.spreading(n, i) and core.core_grew(c, i, core.STEPS))
                or (slowly(n, i, keep) and core.core_grew(c, i, core.SLOW, 3))):
            return (i + 1) * core.STEP_S
    return None


def judge(paths: list[Path], values: Sequence[float | None],
          when_of: Callable[[Array, Array, Array, Any], float | None], name: str) -> None:
    """Print the runs whose first alarm differs between ``values`` of one rule's knob
    (``when_of(t, n, c, value)``), then the fires found and nuisance runs called smouldering
    for each value."""
    runs = [json.loads(line) for p in paths for line in p.read_text().splitlines()]
    fires = sum(r["meta"].get("label") == "fire" for r in runs)
    found = {k: [0, 0] for k in values}
    for r in runs:
        fire = r["meta"].get("label") == "fire"
        steps = core.steps(r["frames"])
        when = {k: when_of(*steps, k) for k in values}
        for k in values:
            found[k][0 if fire else 1] += when[k] is not None
        if len(set(when.values())) > 1:
            print(f"{r['scenario']:22s} {r['seed']} {'fire' if fire else 'no-fire':7s} "
                  f"ignition {r['meta'].get('fire_start_s')} "
                  + " ".join(f"{name} {k}: {when[k]}" for k in values))
    for k in values:
        print(f"{name} {k}: fires found {found[k][0]}/{fires}, no-fire runs called smouldering "
              f"{found[k][1]}/{len(runs) - fires}")


def main(paths: list[Path]) -> None:
    judge(paths, KEEPS, first, "keep")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]])
