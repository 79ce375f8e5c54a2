"""How fast the features are: one frame through the streaming path, and a whole recording,
for each feature set side by side (``seed-v1``, the 18; ``fd-v2``, with history; ``fd-v3``, with
minutes of history).

1. ``FeatureExtractor.add_frame`` on 160×120 frames at 8.7 Hz with a reading every 5 s,
   timed frame by frame after a warm-up: a quiet room (no hot pixel, so no blob labelling)
   and a room with a moving hot spot (hot pixels in every frame). Target: median ≤ 0.5 ms.
   Beside it, on the same frames: the growing-flame watch (``edge.detect.flame.FlameWatch.update``,
   including the °C conversion the pipeline does) and the smoulder watch
   (``edge.detect.smoulder.SmoulderWatch.update``), which the pipeline runs on every frame too,
   and the flame watch with its camera-ceiling rule off (``[flame] ceiling_min_c`` over
   ``hot_c``: the watch before session 29), to read what the rule costs side by side; and
   the smoulder watch reading the flame watch's memory (``[smoulder] known_c`` unset: the
   watch before session 31) beside it with its own memory at 60 °C, and without the spot's
   core (``[smoulder] core_growth = 0``: the watch before session 34).
   With ``--model PATH --public-key PEM`` (a signed artifact), the model's score of each
   vector (``ModelHolder.score``, which scores the prefix its manifest names) is timed too:
   features + score, target ≤ 1 ms.
2. ``featurize_recording`` over a 10-minute 8.7 Hz recording (5220 frames) of the hot-spot
   room. Target: ≤ 5 s.

The scenes are synthetic (a warm room, a radiator, sensor noise, a hot spot that moves and
grows), built here so the figures do not depend on the scenario engine.

Run: .venv/bin/python bench/bench_features.py [--frames N] [--minutes M]
     [--sets seed-v1,fd-v2] [--model PATH --public-key PEM]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.config.flame import FlameConfig
from edge.config.model import ModelConfig
from edge.config.smoulder import SmoulderConfig
from edge.detect.flame import FlameWatch
from edge.detect.smoulder import SmoulderWatch
from edge.features import FeatureExtractor, featurize_recording
from edge.featuresets.blas import one_blas_thread
from edge.model.holder import ModelHolder
from edge.recording import Recording
from edge.types import GasReading, ThermalFrame

RATE_HZ = 8.7
H, W = 120, 160


def room(n: int, hot_spot: bool, seed: int = 0) -> npt.NDArray[np.uint16]:
    """``n`` frames (cK) of a 22 °C room with a 40 °C radiator, and maybe a moving hot spot."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    base = 22.0 + 0.02 * xx
    base[80:100, 10:40] = 40.0
    out = np.empty((n, H, W), dtype=np.uint16)
    for i in range(n):
        t = i / RATE_HZ
        temp = base + rng.normal(0.0, 0.08, (H, W)).astype(np.float32)
        if hot_spot:
            cx = 30.0 + (0.8 * t) % 100.0
            cy = 50.0 + 10.0 * np.sin(t / 7.0)
            peak = 120.0 + 0.3 * (t % 600.0)
            temp += peak * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 30.0)
        out[i] = np.rint((temp + 273.15) / 0.01).astype(np.uint16)
    return out


def _summary(values: list[float]) -> str:
    v = sorted(values)
    return (f"median {statistics.median(v) * 1e3:.3f} ms, p90 {v[int(0.9 * len(v))] * 1e3:.3f} "
            f"ms, min {v[0] * 1e3:.3f} ms")


def bench_streaming(n: int, hot_spot: bool, feature_set: str,
                    holder: ModelHolder | None = None) -> None:
    frames = room(n, hot_spot)
    ex = FeatureExtractor(feature_set=feature_set)
    watch = FlameWatch()
    no_ceiling = FlameWatch(FlameConfig(ceiling_min_c=1000.0))
    smoulder = SmoulderWatch()
    shared = SmoulderWatch(SmoulderConfig(known_c=None))
    no_core = SmoulderWatch(SmoulderConfig(core_growth=0.0))
    wall: list[float] = []
    cpu: list[float] = []
    flame_cpu: list[float] = []
    smoulder_cpu: list[float] = []
    no_ceiling_cpu: list[float] = []
    shared_cpu: list[float] = []
    no_core_cpu: list[float] = []
    total_cpu: list[float] = []
    next_gas = 0.0
    for i in range(n):
        t = i / RATE_HZ
        if t >= next_gas:
            ex.add_gas(GasReading(t=t, co2_ppm=450.0 + t, temperature_c=22.0, humidity_pct=40.0))
            next_gas += 5.0
        frame = ThermalFrame(t=t, pixels=frames[i])
        w0, c0 = time.perf_counter(), time.thread_time()
        vec = ex.add_frame(frame)
        c1, w1 = time.thread_time(), time.perf_counter()
        if holder is not None:
            holder.score(vec)
            s1 = time.thread_time()
        f0 = time.thread_time()
        celsius = frame.pixels * np.float32(frame.resolution_k) - np.float32(273.15)
        conv = time.thread_time() - f0
        # With and without the ceiling rule, in turns first: no order bias
        for with_rule in ((True, False) if i % 2 else (False, True)):
            g0 = time.thread_time()
            (watch if with_rule else no_ceiling).update(t, celsius)
            if with_rule:
                on = time.thread_time() - g0
            else:
                off = time.thread_time() - g0
        took: dict[int, float] = {}
        for k in np.roll(np.arange(3), i % 3):  # in turns, as above
            f1 = time.thread_time()
            (smoulder, shared, no_core)[k].update(t, celsius, watch.onset)
            took[int(k)] = time.thread_time() - f1
        sm_own, sm_shared, sm_no_core = took[0], took[1], took[2]
        if i >= 20:  # after the warm-up (a reference frame exists from 1 s on)
            wall.append(w1 - w0)
            cpu.append(c1 - c0)
            flame_cpu.append(conv + on)
            smoulder_cpu.append(sm_own)
            shared_cpu.append(sm_shared)
            no_core_cpu.append(sm_no_core)
            no_ceiling_cpu.append(conv + off)
            if holder is not None:
                total_cpu.append(s1 - c0)
    label = "moving hot spot" if hot_spot else "quiet room"
    print(f"[{feature_set}] streaming add_frame, {label} ({len(cpu)} frames of {W}×{H}):")
    print(f"  CPU  {_summary(cpu)}")
    print(f"  wall {_summary(wall)}")
    print(f"  flame watch, same frames, CPU {_summary(flame_cpu)}")
    print(f"  flame watch without the ceiling rule, same frames, CPU {_summary(no_ceiling_cpu)}")
    print(f"  smoulder watch, same frames, CPU {_summary(smoulder_cpu)}")
    print(f"  smoulder watch on the flame watch's memory, same frames, "
          f"CPU {_summary(shared_cpu)}")
    print(f"  smoulder watch without the core, same frames, CPU {_summary(no_core_cpu)}")
    if holder is not None and holder.model is not None:
        print(f"  features + score ({holder.model.version}, "
              f"{len(holder.model.feature_names)} features), CPU {_summary(total_cpu)}")


def bench_batch(minutes: float, feature_set: str) -> None:
    n = int(minutes * 60 * RATE_HZ)
    ft = np.arange(n) / RATE_HZ
    gt = np.arange(0.0, minutes * 60, 5.0)
    rec = Recording(
        frame_t=ft,
        frames=room(n, hot_spot=True),
        gas_t=gt,
        co2_ppm=(450.0 + gt).astype(np.float32),
        temperature_c=np.full(gt.size, 22.0, dtype=np.float32),
        humidity_pct=np.full(gt.size, 40.0, dtype=np.float32),
    )
    wall: list[float] = []
    cpu: list[float] = []
    vectors = 0
    for _ in range(3):
        w0, c0 = time.perf_counter(), time.process_time()
        _, x = featurize_recording(rec, feature_set=feature_set)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        vectors = x.shape[0]
    print(f"[{feature_set}] featurize_recording, {minutes:g} min at {RATE_HZ} Hz ({n} frames, "
          f"{vectors} vectors), best of 3:")
    print(f"  CPU  {min(cpu):.2f} s ({min(cpu) / n * 1e3:.3f} ms/frame)")
    print(f"  wall {min(wall):.2f} s (runs " + ", ".join(f"{r:.2f}" for r in wall) + ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="frames per streaming run")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the recording")
    parser.add_argument("--sets", default="seed-v1,fd-v2", help="feature sets, comma-separated")
    parser.add_argument("--model", type=Path, default=None, help="a signed artifact to score")
    parser.add_argument("--public-key", type=Path, default=None, help="its public key (PEM)")
    args = parser.parse_args()
    # As the device runs them (edge.cli): one BLAS thread, else each frame's sums of squares
    # wake a second thread that waits for a busy core (BENCHMARKS.md, "BLAS in worker pools").
    one_blas_thread()
    holder = None
    if args.model is not None:
        holder = ModelHolder(ModelConfig(public_key=args.public_key))
        holder.swap(holder.load(args.model))
    for feature_set in args.sets.split(","):
        bench_streaming(args.frames, False, feature_set, holder)
        bench_streaming(args.frames, True, feature_set, holder)
        bench_batch(args.minutes, feature_set)


if __name__ == "__main__":
    main()
