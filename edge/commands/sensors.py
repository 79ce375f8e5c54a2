"""``firedetect sensors [--simulate] [--count N] [--config FILE]``: live readings, or what's wrong.

Reads both sensors through the real drivers — on the buses the config names, or on the
byte-level simulators with ``--simulate`` — and prints one line per SCD41 reading with the
newest Lepton frame's statistics. On hardware, a sensor that cannot be opened (no
``/dev/i2c-1``, no ``/dev/spidev0.0``, no permission, no camera, library missing) is reported
with what is wrong and how to fix it, and the command exits 1 — no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from edge.clock import Clock, SystemClock
from edge.config import load_config
from edge.errors import ConfigError, SensorError, SensorSetupError
from edge.sensors.sources import Sources
from edge.sim.clock import ManualClock
from edge.types import ZERO_C_K, GasReading, ThermalFrame

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sensors", help="print live readings of both sensors (or what is wrong)")
    p.add_argument("--simulate", action="store_true",
                   help="read simulated chips (a quiet room) instead of the hardware")
    p.add_argument("--count", type=int, default=5, help="how many readings (default 5; 0 = "
                   "until interrupted)")
    p.add_argument("--config", type=Path, help="the TOML config file (buses, addresses)")
    p.set_defaults(func=run)


def open_both(sources: Sources) -> list[SensorSetupError | SensorError]:
    """Open each sensor; return every problem (so the user sees all of them at once)."""
    problems: list[SensorSetupError | SensorError] = []
    for source in (sources.scd41, sources.lepton):
        try:
            source.open()
        except SensorError as exc:
            problems.append(exc)
    return problems


def frame_line(frame: ThermalFrame | None) -> str:
    if frame is None:
        return "lepton: no frame"
    c = frame.pixels.astype(np.float64) * frame.resolution_k - ZERO_C_K
    h, w = frame.pixels.shape
    return (f"lepton: frame {frame.frame_id} {w}×{h} min {c.min():.1f} mean {c.mean():.1f} "
            f"max {c.max():.1f} °C{' (FFC)' if frame.frozen else ''}")


def gas_line(reading: GasReading | None, status: str) -> str:
    if reading is None:
        return f"scd41: no reading ({status})"
    return (f"scd41: CO2 {reading.co2_ppm:.0f} ppm, {reading.temperature_c:.2f} °C, "
            f"{reading.humidity_pct:.1f} %RH")


def read_loop(sources: Sources, count: int, clock: Clock) -> int:
    """Print ``count`` lines; return how many had an SCD41 reading."""
    got = 0
    n = 0
    while count == 0 or n < count:
        frame: ThermalFrame | None = None
        try:
            frame = sources.lepton.read()
        except SensorError as exc:
            print(f"lepton: {exc}", file=sys.stderr)
        reading = sources.scd41.read()
        got += reading is not None
        t = clock.monotonic()
        print(f"t={t:8.1f} s  {gas_line(reading, sources.scd41.status())}  |  "
              f"{frame_line(frame)}", flush=True)
        n += 1
    return got


def run(args: argparse.Namespace) -> int:
    from edge.app import configured_sources  # the drivers: only when reading
    from edge.sim.sources import simulated_sources

    try:
        config = load_config(args.config)  # defaults when no file is given
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.count < 0:
        print(f"--count must be ≥ 0, got {args.count}", file=sys.stderr)
        return 2
    clock: Clock
    sources: Sources
    if args.simulate:
        from edge.sim.scene import StaticRoom

        # One thread reads both chips in turn: a manual clock makes the waits cost nothing.
        clock = ManualClock()
        sources = simulated_sources(config, StaticRoom(), clock)
    else:
        clock = SystemClock()
        sources = configured_sources(config, clock)
    sources.scd41.read_timeout_s = 12.0  # the first reading comes two intervals after start
    try:
        problems = open_both(sources)
        if problems:
            for problem in problems:
                print(f"problem: {problem}", file=sys.stderr)
            print("firedetect sensors: fix the problems above, then run it again",
                  file=sys.stderr)
            return 1
        got = read_loop(sources, args.count, clock)
    except KeyboardInterrupt:
        return 130
    finally:
        sources.close()
    return 0 if got else 1
