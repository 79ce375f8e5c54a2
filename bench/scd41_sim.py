"""How fast the simulated SCD41 runs: one simulated hour of periodic readings on a ManualClock.

Run: .venv/bin/python bench/scd41_sim.py
"""

from __future__ import annotations

import time

from edge.config.sensors import Scd41Config
from edge.sensors.scd41 import SCD41
from edge.sensors.scd41_reader import Scd41Reader
from edge.sim.clock import ManualClock
from edge.sim.scd41 import SimulatedSCD41
from edge.sim.scene import StaticRoom


def main() -> None:
    clock = ManualClock()
    sim = SimulatedSCD41(StaticRoom(), clock)
    reader = Scd41Reader(SCD41(sim, clock), Scd41Config())
    t0 = time.perf_counter()
    n = 0
    while clock.monotonic() < 3600.0:
        if reader.read_next(clock.monotonic() + 10.0) is not None:
            n += 1
    dt = time.perf_counter() - t0
    print(
        f"{n} readings in 1 simulated hour: {dt:.3f} s wall, {sim.transactions} transactions, "
        f"{dt / sim.transactions * 1e6:.0f} µs per transaction"
    )


if __name__ == "__main__":
    main()
