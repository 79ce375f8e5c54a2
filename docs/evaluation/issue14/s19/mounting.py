"""The device mounted high or at mid-wall: CFAST fires alarmed before the ceiling detector.

Each CFAST flaming family (t², waste basket, chair, mattress, Christmas tree, cooking oil) is
rendered for SEEDS seeds with the room's ceiling pinned at 2.6 m and the device (the SCD41 and
the camera, one unit) pinned at each height of HEIGHTS; every other draw is the seed's own,
so the runs are paired. Each is replayed through the device (CONFIG's model and watches) at
1 Hz, and the first alarm after ignition compared with the ceiling detector's.

    CONFIG=demo/config.toml python docs/evaluation/issue14/s19/mounting.py SEED_BASE SEEDS \
        [HEIGHTS (default 1.8,2.45)]
"""

from __future__ import annotations

import math
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

FAMILIES = ("cfast_flaming_t2", "cfast_waste_basket", "cfast_chair", "cfast_mattress",
            "cfast_christmas_tree", "cfast_cooking_oil")
CEILING_M = 2.6


def one(job: tuple[str, int, float]) -> tuple[str, int, float, float, float | None] | None:
    """(family, seed, height, detector s after ignition, alarm s after ignition or None);
    None when CFAST cannot compute the run."""
    from cloud.heldout.suite import model_holder, readings
    from edge.config import load_config
    from edge.detect.pipeline import build_pipeline
    from edge.sim.cfast.make import render_cfast_recording
    from edge.sim.cfast.run import CfastError
    from edge.types import ThermalFrame

    family, seed, height = job
    try:
        rec = render_cfast_recording(family, seed, 600.0, frame_rate_hz=1.0,
                                     room_ceiling_m=CEILING_M, sensor_height_m=height)
    except CfastError:
        return None
    t0 = float(rec.fire_start_s)
    sd = rec.meta.get("smoke_detector_s")
    cfg = load_config(Path(os.environ.get("CONFIG", "demo/config.toml")))
    holder = model_holder(Path(cfg.model.path), cfg.model.public_key, False)
    pipe = build_pipeline(cfg, holder, 0.0)
    alarm = None
    for r in readings(rec, "fused"):
        step = pipe.frame(r) if isinstance(r, ThermalFrame) else pipe.gas(r)
        hits = [e.t for e in step.events if e.kind == "alarm" and e.t >= t0]
        if hits:
            alarm = hits[0] - t0
            break
    return family, seed, height, math.nan if sd is None else float(sd) - t0, alarm


def main(argv: list[str]) -> None:
    base, n = int(argv[0]), int(argv[1])
    heights = [float(h) for h in (argv[2] if len(argv) > 2 else "1.8,2.45").split(",")]
    jobs = [(f, base + 10000 * k + i, h) for k, f in enumerate(FAMILIES) for i in range(n)
            for h in heights]
    with ProcessPoolExecutor(int(os.environ.get("WORKERS", "2"))) as pool:
        got = list(pool.map(one, jobs))
    failed = {(j[0], j[1]) for j, r in zip(jobs, got, strict=True) if r is None}
    done = [r for r in got if r is not None and (r[0], r[1]) not in failed]  # pairs only
    print(f"{len(failed)} seeds left out: CFAST could not compute them at some height")
    for h in heights:
        rows = [r for r in done if r[2] == h and math.isfinite(r[3])]
        before = [r for r in rows if r[4] is not None and r[4] <= r[3]]
        tta = [r[4] for r in rows if r[4] is not None]
        print(f"device at {h:.2f} m (ceiling {CEILING_M} m): alarmed before the detector "
              f"{len(before)}/{len(rows)}; detected {len(tta)}/{len(rows)}; median alarm "
              f"{statistics.median(tta):.1f} s after ignition" if tta else "no alarm")
    for f, s, h, sd, a in sorted(done):
        print(f"  {f} {s} at {h:.2f} m: detector {sd:.1f} s, alarm "
              f"{'none' if a is None else f'{a:.1f} s'}")


if __name__ == "__main__":
    main(sys.argv[1:])
