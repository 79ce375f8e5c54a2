"""Session 34's "settling" veto on the heating rule, judged again (issue 14, session 35).

Not heating when each of the last two step rises was at most RATIO of the one before (a
first-order approach to a set temperature). Judged, like ``keep.py``, on runs collected with
session 34's ``core.py collect``, with the shipped rules (the core, its recent growth, and
``slow_keep`` 0.75), for no veto and RATIO 0.85, 0.8 and 0.9. Measured, not built
(docs/evaluation.md, "Issue 14, session 35").

    PYTHONPATH=. python docs/evaluation/issue14/s35/settle.py RUNS.jsonl [MORE.jsonl ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "s34"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import core  # session 34's script: its steps and rules
import keep  # this session's slow rule with a dip

RATIOS = (None, 0.85, 0.8, 0.9)


def first(t: core.Array, n: core.Array, c: core.Array, ratio: float | None) -> float | None:
    """When the shipped rules, heating vetoed when settling at ``ratio``, first hold (s)."""
    for i in range(t.size):
        if (core.heating(t, i, decel=ratio)
                or (core.spreading(n, i) and core.core_grew(c, i, core.STEPS))
                or (keep.slowly(n, i, 0.75) and core.core_grew(c, i, core.SLOW, 3))):
            return (i + 1) * core.STEP_S
    return None


def main(paths: list[Path]) -> None:
    keep.judge(paths, RATIOS, first, "veto")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]])
