"""Two held-out evaluations of the same runs, run by run: what a change did.

A suite of five runs a family cannot see a change of a few points in its totals: on the same
device, CFAST fires alarmed before the smoke detector were 82 % on one seed set and 73 % on
another (docs/evaluation.md, session 17). Run twice on the *same* runs, before and after a
change, most runs keep their outcome; the few that change say what the change did, and can be
read one by one::

    python -m cloud.heldout.compare BEFORE_DIR AFTER_DIR [--mode fused] [--min-change 1]

Each folder is a ``python -m cloud.heldout.suite`` report (its ``runs.json``). Runs are matched
by engine, scenario and seed, and judged by the suite's own outcomes of each run
(``cloud.heldout.summary.run_outcome``: an alarm standing at ignition detects at 0 s); the
events only say why. For fire runs it counts the fires found only before (lost) or
only after (gained), and the paired change in time to alarm; for every run, the quiet part
(nuisance runs whole, fire runs before ignition) alarming only before (fixed) or only after
(new false alarms). It prints Markdown: the counts, then every run whose outcome changed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Comparison", "compare", "load_runs", "main"]

Key = tuple[str, str, int]


def load_runs(folder: Path) -> dict[Key, dict[str, Any]]:
    """The runs of a suite's report folder by (engine, scenario, seed).

    :raises ValueError: no ``runs.json`` there, or one that is not a suite's.
    """
    path = folder / "runs.json"
    if not path.is_file():
        raise ValueError(f"{path}: no such file; allowed: the folder a "
                         f"`python -m cloud.heldout.suite --out` wrote")
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))
        return {(str(r.get("engine", "ours")), str(r["scenario"]), int(r["seed"])): r
                for r in runs}
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a held-out suite's runs ({exc}); allowed: a JSON list of "
                         f"runs with scenario, seed, label, outcomes and events") from exc


def _first_alarm(run: Mapping[str, Any], mode: str, lo: float, hi: float
                 ) -> tuple[float, str] | None:
    """The first alarm (time, reason) with ``lo`` ≤ t < ``hi`` in the run's ``mode`` events."""
    for ev in run["events"][mode]:
        if ev["kind"] == "alarm" and lo <= ev["t"] < hi:
            return float(ev["t"]), str(ev.get("reason"))
    return None


def _found(run: Mapping[str, Any], mode: str) -> tuple[float, str] | None:
    """A fire run's alarm by the suite's own count (``outcomes``, ``run_outcome``): time to
    alarm from ignition and why, or None if not detected; an alarm standing at ignition is
    found at 0 s."""
    o = run["outcomes"][mode]
    if not o.get("detected"):
        return None
    if o.get("standing_at_t0"):
        return 0.0, "standing at ignition"
    t0 = float(run["fire_start_s"])
    first = _first_alarm(run, mode, t0, math.inf)
    return float(o["tta_s"]), first[1] if first is not None else "?"


def _quiet_alarm(run: Mapping[str, Any], mode: str) -> tuple[float, str] | None:
    """The first false alarm (the suite's count, ``outcomes``: in all of a nuisance run, in a
    fire run before its ignition): its time and why, None if none."""
    if not run["outcomes"][mode].get("false_alarms"):
        return None
    t0 = run.get("fire_start_s")
    return _first_alarm(run, mode, -math.inf, math.inf if t0 is None else float(t0))


@dataclass
class Comparison:
    """What changed between two evaluations of the same runs (:func:`compare`)."""

    matched: int
    only_before: int
    only_after: int
    fires: int = 0
    lost: list[Key] = field(default_factory=list)
    gained: list[Key] = field(default_factory=list)
    faster: int = 0
    slower: int = 0
    tta_change_s: list[float] = field(default_factory=list)  # after − before, both detected
    fixed: list[Key] = field(default_factory=list)  # quiet part alarmed before only
    new: list[Key] = field(default_factory=list)  # quiet part alarmed after only
    rows: list[str] = field(default_factory=list)  # Markdown rows of the runs that changed

    def markdown(self) -> str:
        med = f"{np.median(self.tta_change_s):+.1f} s" if self.tta_change_s else "–"
        out = [f"{self.matched} runs in both ({self.only_before} only before, "
               f"{self.only_after} only after)", "",
               "| | count |", "|---|---|",
               f"| fire runs | {self.fires} |",
               f"| fires found before only (lost) | {len(self.lost)} |",
               f"| fires found after only (gained) | {len(self.gained)} |",
               f"| found both times: faster / slower (by more than the least change) | "
               f"{self.faster} / {self.slower} |",
               f"| found both times: median change in time to alarm | {med} |",
               f"| runs alarming while quiet, before only (fixed) | {len(self.fixed)} |",
               f"| runs alarming while quiet, after only (new false alarms) | {len(self.new)} |"]
        if self.rows:
            out += ["", "| engine | scenario | seed | Hz | before | after |",
                    "|---|---|---|---|---|---|", *self.rows]
        return "\n".join(out) + "\n"


def _say(alarm: tuple[float, str] | None) -> str:
    return "none" if alarm is None else f"{alarm[0]:.1f} s ({alarm[1]})"


def compare(before: Mapping[Key, Mapping[str, Any]], after: Mapping[Key, Mapping[str, Any]],
            mode: str = "fused", min_change_s: float = 1.0) -> Comparison:
    """Run by run, what changed from ``before`` to ``after`` in ``mode``.

    :raises ValueError: no run in both, or ``mode`` missing from a matched run.
    """
    keys = sorted(set(before) & set(after))
    if not keys:
        raise ValueError("the two evaluations share no run (engine, scenario, seed); allowed: "
                         "two suites run with the same --seed-base, --runs and families")
    c = Comparison(len(keys), len(set(before) - set(after)), len(set(after) - set(before)))
    for key in keys:
        b, a = before[key], after[key]
        if mode not in b["outcomes"] or mode not in a["outcomes"]:
            raise ValueError(f"run {key}: no {mode!r} replay; allowed: "
                             f"{', '.join(sorted(b['outcomes']))}")
        changed = False
        says = ("", "")
        if b.get("label") == "fire" and b.get("fire_start_s") is not None:
            c.fires += 1
            fb, fa = _found(b, mode), _found(a, mode)
            if fb is not None and fa is None:
                c.lost.append(key)
            elif fb is None and fa is not None:
                c.gained.append(key)
            elif fb is not None and fa is not None:
                d = fa[0] - fb[0]
                c.tta_change_s.append(d)
                c.faster += d < -min_change_s
                c.slower += d > min_change_s
            changed = (fb is None) != (fa is None) or (
                fb is not None and fa is not None and abs(fa[0] - fb[0]) > min_change_s)
            says = (_say(fb), _say(fa))
        qb, qa = _quiet_alarm(b, mode), _quiet_alarm(a, mode)
        if (qb is None) != (qa is None):
            (c.fixed if qa is None else c.new).append(key)
            changed = True
            says = (_say(qb) + " (quiet)", _say(qa) + " (quiet)")
        if changed:
            c.rows.append(f"| {key[0]} | {key[1]} | {key[2]} | {b.get('rate_hz', '?')} | "
                          f"{says[0]} | {says[1]} |")
    return c


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cloud.heldout.compare",
                                 description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("before", type=Path, help="the first suite's report folder")
    ap.add_argument("after", type=Path, help="the second suite's report folder")
    ap.add_argument("--mode", default="fused", help="the replay mode to compare (fused)")
    ap.add_argument("--min-change", type=float, default=1.0,
                    help="a time to alarm changed by at most this is the same (s)")
    args = ap.parse_args(argv)
    try:
        if not args.min_change >= 0.0:
            raise ValueError(f"--min-change {args.min_change}; allowed: ≥ 0 s")
        result = compare(load_runs(args.before), load_runs(args.after), args.mode,
                         args.min_change)
    except ValueError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(result.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
