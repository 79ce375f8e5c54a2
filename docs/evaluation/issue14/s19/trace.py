"""One suite run replayed through the device, printed as it goes: the score, the scene
memory's hot and new pixels and whether the known-scene rule applies (every 30 s), the gas
readings after ignition, and each event with its ``top_features`` and words.

    CONFIG=demo/config.toml python docs/evaluation/issue14/s19/trace.py SCENARIO SEED RATE \
        DURATION ENGINE
    e.g. ... trace.py electric_cooking 7700010007 1.0 1200 ours    (the cooking alarm)
         ... trace.py cfast_flaming_t2 7400500003 1.0 600 cfast    (the gas behind the detector)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cloud.heldout.engines import render
from cloud.heldout.suite import HeldoutRun, model_holder, readings
from edge.config import load_config
from edge.detect.pipeline import build_pipeline
from edge.types import ThermalFrame

NEW_S = 300.0  # the flame watch's "new" window, which the known-scene rule reads


def main(argv: list[str]) -> None:
    scen, seed, rate, dur, engine = argv[0], int(argv[1]), float(argv[2]), float(argv[3]), argv[4]
    rec = render(HeldoutRun(scen, seed, dur, rate, engine), None)
    t0 = rec.fire_start_s
    print(f"fire_start_s {t0}, smoke_detector_s {rec.meta.get('smoke_detector_s')}")
    cfg = load_config(Path(os.environ.get("CONFIG", "demo/config.toml")))
    holder = model_holder(Path(str(cfg.model.path)), cfg.model.public_key, False)
    pipe = build_pipeline(cfg, holder, 0.0)
    last, p = -1e9, float("nan")
    for r in readings(rec, "fused"):
        frame = isinstance(r, ThermalFrame)
        step = pipe.frame(r) if frame else pipe.gas(r)
        if step.score is not None:
            p = step.score.probability
        mem = pipe.scene
        if frame and step.t - last >= 30.0 and mem.hot is not None:
            new = int((mem.hot & mem.recent(NEW_S)).sum())
            print(f"t={step.t:7.1f} p={p:.3f} hot={int(mem.hot.sum())} new={new} "
                  f"scene_only={mem.scene_only(NEW_S)}")
            last = step.t
        if not frame and t0 is not None and -60.0 <= step.t - t0 <= 200.0:
            print(f"  gas t-t0={step.t - t0:6.1f} co2={r.co2_ppm:.0f} T={r.temperature_c:.2f} "
                  f"RH={r.humidity_pct:.2f} p={p:.2f}")
        for e in step.events:
            top = e.detail.top_features if e.detail is not None else []
            print(f"  EVENT {e.kind} t={e.t:.1f} {top} {e.why}")


if __name__ == "__main__":
    main(sys.argv[1:])
