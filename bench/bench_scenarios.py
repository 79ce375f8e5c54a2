"""How fast the scenario engine renders recordings for training.

For each family, ``render_recording`` of a 10-minute run (Lepton 3.5, 160×120) at 8.7 Hz
and at 2 Hz, timed in CPU seconds of this process (the shared VM's wall clock is noisy) and
wall seconds. Target: a 10-minute 8.7 Hz recording in ≤ 2–3 s.

Run: .venv/bin/python bench/bench_scenarios.py [--minutes M] [--seeds N] [--rates 8.7,2]
"""

from __future__ import annotations

import argparse
import statistics
import time

from edge.sim.scenarios import SCENARIOS, render_recording


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--rates", default="8.7,2")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    render_recording("occupancy", 0, 5.0)  # warm-up: imports, lookup tables
    print(f"{'family':24} " + " ".join(f"{r:>5} Hz cpu/wall (s)" for r in rates))
    totals: dict[float, list[float]] = {r: [] for r in rates}
    for name in SCENARIOS:
        cells = []
        for rate in rates:
            cpu, wall = [], []
            for seed in range(args.seeds):
                c0, w0 = time.process_time(), time.perf_counter()
                rec = render_recording(name, seed, args.minutes * 60.0, frame_rate_hz=rate)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
                del rec
            totals[rate].extend(cpu)
            cells.append(f"{statistics.median(cpu):6.2f} / {statistics.median(wall):5.2f}   ")
        print(f"{name:24} " + " ".join(cells), flush=True)
    for rate in rates:
        vals = totals[rate]
        print(f"all families at {rate} Hz: median {statistics.median(vals):.2f} s CPU, "
              f"max {max(vals):.2f} s CPU per {args.minutes:g}-minute recording")


if __name__ == "__main__":
    main()
