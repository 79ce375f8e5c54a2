"""What a richer set's long history costs a frame: two extractors (by default fd-v3 and
fd-v4, the acceleration; ``--sets fd-v2,fd-v3`` for the long history itself) fed the same
frames, interleaved, for longer than the long history keeps (1800 s), so the cost is measured
with the history full. Pairing each frame's two timings cancels most of a busy machine's
noise.

The frames are ``bench_features.room``'s moving hot spot (new hot pixels in most frames),
600 frames of 160×120 replayed in a loop at 8.7 Hz, with an SCD41 reading every 5 s.

Run: PYTHONPATH=. .venv/bin/python bench/bench_long_history.py [--minutes 35] [--last 5]
[--sets fd-v3,fd-v4]
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.bench_features import RATE_HZ, room
from edge.features import FeatureExtractor
from edge.featuresets.blas import one_blas_thread
from edge.types import GasReading, ThermalFrame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=35.0, help="how long to feed, min")
    parser.add_argument("--last", type=float, default=5.0,
                        help="minutes at the end whose frames are timed")
    parser.add_argument("--sets", default="fd-v3,fd-v4",
                        help="the two feature sets, the poorer first (default fd-v3,fd-v4)")
    args = parser.parse_args()
    poor, rich = args.sets.split(",")
    # As the device runs them (edge.cli): one BLAS thread, else under load each frame's sums of
    # squares wait for a second thread (measured here 7.9 ms a frame instead of 0.25 ms).
    one_blas_thread()
    frames = room(600, hot_spot=True)
    extractors = {name: FeatureExtractor(feature_set=name) for name in (poor, rich)}
    n = int(args.minutes * 60 * RATE_HZ)
    first_timed = n - int(args.last * 60 * RATE_HZ)
    cpu: dict[str, list[float]] = {name: [] for name in extractors}
    diff: list[float] = []
    next_gas = 0.0
    for i in range(n):
        t = i / RATE_HZ
        if t >= next_gas:
            for ex in extractors.values():
                ex.add_gas(GasReading(t=t, co2_ppm=450.0 + t, temperature_c=22.0,
                                      humidity_pct=40.0))
            next_gas += 5.0
        frame = ThermalFrame(t=t, pixels=frames[i % len(frames)])
        took = {}
        for name, ex in (extractors.items() if i % 2 else reversed(extractors.items())):
            c0 = time.thread_time()
            ex.add_frame(frame)
            took[name] = time.thread_time() - c0
        if i >= first_timed:
            for name, v in took.items():
                cpu[name].append(v)
            diff.append(took[rich] - took[poor])
    for name, v in cpu.items():
        print(f"{name} add_frame CPU median {statistics.median(v) * 1e3:.3f} ms "
              f"({len(v)} frames, the last {args.last:g} of {args.minutes:g} min)")
    print(f"{rich} − {poor}, paired per frame: median {statistics.median(diff) * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
