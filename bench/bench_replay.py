"""Replay throughput: how fast ``firedetect replay`` runs a recording through the device pipeline.

One 10-minute recording at the Lepton's full 8.7 Hz (5220 frames, an SCD41 reading every 5 s)
of a flaming fire over a kitchen background (``kitchen_grease_fire``), rendered once, saved
and loaded as ``firedetect replay`` does, then replayed through ``edge.detect.pipeline`` (features →
model → alarm logic and the scene watches) in the same process, side by side:

1. the demo model with the default config (what ``firedetect replay --config
   demo/config.toml`` runs);
2. the same with the gas watch off (``[gas]`` disabled: no gas-only score);
3. the same with every watch off (``[flame]``/``[smoulder]``/``[gas]`` disabled);
4. the rule fallback (no model).

Each is timed best of ``--repeat``; the figure is frames per second and the multiple of real
time (10 minutes of recording / wall time).

Then the whole command, start-up included (``--cli-minutes``, default 10 and 60): for each
length, as child processes, alternated so load swings hit all three:
``firedetect replay --config demo/config.toml`` (the recording streamed by
``edge.recording_stream``, decompressed by its reader thread); the same decompressed on the
replaying thread; and the previous path (the whole recording decompressed by
``load_recording`` first, plus the old eager imports; see ``bench/replay_variant.py``). Best
wall time of ``--repeat``, frames per second over it, and the child's peak RSS
(``/usr/bin/time``); all three must print the same events.

Run: .venv/bin/python bench/bench_replay.py [--minutes M] [--repeat N] [--part loop|cli|all]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this tree's edge, not another

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


def child(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of one child process.

    The RSS comes from ``/usr/bin/time``: a child forked from this (large) process would
    carry this process's RSS into its own peak across the exec."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t0 = time.perf_counter()
        res = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd], cwd=ROOT,
                             capture_output=True, text=True, check=False,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            raise RuntimeError(f"{cmd}: exit {res.returncode}: {res.stderr[-2000:]}")
        return wall, int(rss.read().split()[-1]) / 1024.0, res.stdout


def cli_part(minutes: list[float], repeat: int) -> None:
    """Start-up included: streamed ``firedetect replay`` against the previous whole load."""
    config = str(ROOT / "demo" / "config.toml")
    print(f"\nfiredetect replay --config demo/config.toml, start-up included, best of {repeat} "
          f"(load average {os.getloadavg()[0]:.1f}):")
    print(f"  {'recording':23s} {'path':30s} {'wall':>7s} {'frames/s':>9s} {'peak RSS':>9s}")
    for m in minutes:
        with tempfile.TemporaryDirectory() as tmp:
            rec = render_recording("kitchen_grease_fire", 11, m * 60.0, frame_rate_hz=8.7)
            frames = rec.frame_t.size
            path = str(save_recording(rec, Path(tmp) / "rec.npz"))
            del rec
            size = Path(path).stat().st_size / 2**20
            paths = {
                "streamed (firedetect replay)": [sys.executable, "-m", "edge.cli", "replay",
                                                 path, "--config", config],
                "streamed, no reader thread": [sys.executable, "-m", "bench.replay_variant",
                                               "inline", path, "--config", config],
                "whole load (previous)": [sys.executable, "-m", "bench.replay_variant", "whole",
                                          path, "--config", config],
            }
            best = {k: (float("inf"), 0.0) for k in paths}
            outs: dict[str, str] = {}
            for _ in range(repeat):
                for label, cmd in paths.items():  # alternated, so load swings hit both
                    wall, rss, out = child(cmd)
                    best[label] = (min(best[label][0], wall), max(best[label][1], rss))
                    outs[label] = out
            if len(set(outs.values())) != 1:
                raise RuntimeError("the streamed and the whole-load replay printed different "
                                   "events")
            for label, (wall, rss) in best.items():
                print(f"  {m:g} min, {frames} frames, {size:.0f} MiB".ljust(24)
                      + f" {label:30s} {wall:6.2f}s {frames / wall:9.0f} {rss:6.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--part", choices=("loop", "cli", "all"), default="all")
    parser.add_argument("--cli-minutes", type=float, nargs="+", default=[10.0, 60.0])
    args = parser.parse_args()
    logging.getLogger("edge").setLevel(logging.ERROR)  # the replayed alarms are not news here
    if args.part in ("loop", "all"):
        loop_part(args.minutes, args.repeat)
    if args.part in ("cli", "all"):
        cli_part(args.cli_minutes, args.repeat)


def loop_part(minutes: float, repeat: int) -> None:
    """The pipeline loop alone, in-process, on a recording already in memory."""
    args = argparse.Namespace(minutes=minutes, repeat=repeat)
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
    no_gas = demo.model_copy(update={"gas": demo.gas.model_copy(update={"enabled": False})})
    quiet = no_gas.model_copy(update={
        "flame": demo.flame.model_copy(update={"enabled": False}),
        "smoulder": demo.smoulder.model_copy(update={"enabled": False})})
    frames = rec.frame_t.size
    print(f"replay of {args.minutes:g} min at 8.7 Hz ({frames} frames, {rec.gas_t.size} SCD41 "
          f"readings), best of {args.repeat}:")
    for label, config, holder in (("demo model, default config (watches on)", demo, model),
                                  ("demo model, gas watch off", no_gas, model),
                                  ("demo model, watches off", quiet, model),
                                  ("rule fallback, watches on", demo, rules)):
        wall = timed(rec, config, holder, args.repeat)
        print(f"  {label:42s} {wall:6.2f} s  {frames / wall:7.0f} frames/s  "
              f"{rec.duration_s / wall:6.0f}× real time")


if __name__ == "__main__":
    main()
