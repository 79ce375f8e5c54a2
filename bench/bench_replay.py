"""Replay throughput: how fast ``firedetect replay`` runs a recording through the device pipeline.

One 10-minute recording at the Lepton's full 8.7 Hz (5220 frames, an SCD41 reading every 5 s)
of a flaming fire over a kitchen background (``kitchen_grease_fire``), rendered once, saved
and loaded as ``firedetect replay`` does, then replayed through ``edge.detect.pipeline`` (features →
model → alarm logic and the scene watches) in the same process, side by side:

1. the demo model with the default config (what ``firedetect replay --config
   demo/config.toml`` runs);
2. the same with the flame and smoulder watches off (``[flame]``/``[smoulder]`` disabled);
3. the rule fallback (no model).

Each is timed best of ``--repeat``; the figure is frames per second and the multiple of real
time (10 minutes of recording / wall time).

Run: .venv/bin/python bench/bench_replay.py [--minutes M] [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import logging
import tempfile
import time
from pathlib import Path

from edge.commands.replay import replay
from edge.config import Config, load_config
from edge.detect.pipeline import build_pipeline
from edge.model.holder import ModelHolder
from edge.recording import Recording, load_recording, save_recording
from edge.sim.scenarios import render_recording

ROOT = Path(__file__).resolve().parent.parent


def timed(rec: Recording, config: Config, holder: ModelHolder, repeat: int) -> float:
    """Best wall time of ``repeat`` replays, each with a fresh pipeline."""
    best = float("inf")
    for _ in range(repeat):
        pipeline = build_pipeline(config, holder, start_t=0.0)
        t0 = time.perf_counter()
        replay(rec, pipeline, io.StringIO())
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("edge").setLevel(logging.ERROR)  # the replayed alarms are not news here
    with tempfile.TemporaryDirectory() as tmp:
        path = save_recording(render_recording("kitchen_grease_fire", 11, args.minutes * 60.0,
                                               frame_rate_hz=8.7), Path(tmp) / "rec.npz")
        rec = load_recording(path)
    demo = load_config(ROOT / "demo" / "config.toml")
    assert demo.model.path is not None
    model = ModelHolder(demo.model.model_copy(update={
        "public_key": ROOT / demo.model.public_key if demo.model.public_key else None}))
    model.install(ROOT / demo.model.path)
    rules = ModelHolder(Config().model)
    quiet = demo.model_copy(update={
        "flame": demo.flame.model_copy(update={"enabled": False}),
        "smoulder": demo.smoulder.model_copy(update={"enabled": False})})
    frames = rec.frame_t.size
    print(f"replay of {args.minutes:g} min at 8.7 Hz ({frames} frames, {rec.gas_t.size} SCD41 "
          f"readings), best of {args.repeat}:")
    for label, config, holder in (("demo model, default config (watches on)", demo, model),
                                  ("demo model, watches off", quiet, model),
                                  ("rule fallback, watches on", demo, rules)):
        wall = timed(rec, config, holder, args.repeat)
        print(f"  {label:42s} {wall:6.2f} s  {frames / wall:7.0f} frames/s  "
              f"{rec.duration_s / wall:6.0f}× real time")


if __name__ == "__main__":
    main()
