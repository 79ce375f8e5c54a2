"""Why CFAST fires alarm after the ceiling smoke detector: seen by the camera before it or not.

Reads the per-run files a held-out suite writes (``SUITE/raw/*.json``: the fused mode's
events, the truth's ``fire_start_s``, ``flame_4px_s`` and ``smoke_detector_s``) and sorts
every CFAST fire with a detector time into: alarmed before the detector; after it, though
the camera showed ≥ 4 new px at ≥ 140 °C before the detector went off ("seen, late"); after
it, not seen before the detector ("unseen"). Smouldering (CF2) is counted apart.

    python docs/evaluation/issue14/s19/before_detector.py SUITE_DIR [SUITE_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def sort_runs(suite: Path) -> dict[str, list[str]]:
    """Kind → lines describing each run of that kind."""
    out: dict[str, list[str]] = {"before": [], "seen, late": [], "unseen": [], "CF2 late": []}
    for f in sorted((suite / "raw").glob("*.json")):
        d = json.loads(f.read_text())
        if d.get("engine") != "cfast" or d.get("fire_start_s") is None:
            continue
        sd = d.get("smoke_detector_s")
        if sd is None:
            continue
        t0 = d["fire_start_s"]
        alarms = [e["t"] for e in d["modes"]["fused"]["events"]
                  if e["kind"] == "alarm" and e["t"] >= t0]
        ta = alarms[0] if alarms else None
        seen = d.get("flame_4px_s")
        line = (f"{d['scenario']} {d['seed']}: detector {sd - t0:.1f} s, seen "
                f"{'never' if seen is None else f'{seen - t0:.1f} s'}, alarm "
                f"{'none' if ta is None else f'{ta - t0:.1f} s'}")
        if ta is not None and ta <= sd:
            out["before"].append(line)
        elif d["scenario"] == "cfast_smoulder":
            out["CF2 late"].append(line)
        elif seen is not None and seen <= sd:
            out["seen, late"].append(line)
        else:
            out["unseen"].append(line)
    return out


def main(argv: list[str]) -> None:
    for arg in argv:
        runs = sort_runs(Path(arg))
        counts = ", ".join(f"{k} {len(v)}" for k, v in runs.items())
        print(f"{arg}: {counts}")
        for kind in ("seen, late", "unseen", "CF2 late"):
            for line in runs[kind]:
                print(f"  {kind}: {line}")


if __name__ == "__main__":
    main(sys.argv[1:])
