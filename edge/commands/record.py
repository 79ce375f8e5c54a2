"""``firedetect record --out REC.npz --duration S [--simulate SCENARIO --seed N]``: a recording.

The same sensor threads as the daemon (:class:`edge.sensors.loop.SensorLoop`) read both
sensors through the real drivers — live hardware, or the byte-level simulators rendering a
scenario on a ``ScaledClock`` — for ``S`` seconds of the sensors' clock, and the readings are
saved as a recording (docs/recording.md) that never overwrites an existing file.
FFC (frozen) frames are repeats, not data: they are left out, like any missing frame.
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import load_config
from edge.errors import ConfigError, RecordingError
from edge.notify import ProgressMonitor
from edge.recording import Recording, save_recording
from edge.sensors.loop import Reading, SensorLoop
from edge.sensors.sources import Sources
from edge.types import GasReading, ThermalFrame

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("record", help="record both sensors into a .npz recording")
    p.add_argument("--out", type=Path, required=True, help="the .npz file (never overwritten)")
    p.add_argument("--duration", type=float, required=True, help="seconds to record")
    p.add_argument("--simulate", metavar="SCENARIO",
                   help="record simulated chips seeing SCENARIO (a family, or 'static')")
    p.add_argument("--seed", type=int, default=0, help="scenario seed (default 0)")
    p.add_argument("--speed", type=float, default=1.0, help="simulation speed (default 1)")
    p.add_argument("--start", type=float, default=0.0, help="scene time to begin at, s")
    p.add_argument("--config", type=Path, help="the TOML config file (buses, camera model)")
    p.set_defaults(func=run)


def collect(sources: Sources, duration_s: float) -> tuple[list[ThermalFrame], list[GasReading]]:
    """Run both sensor loops for ``duration_s`` of the sources' clock; return what they read."""
    clock = sources.clock
    q: queue.Queue[Reading] = queue.Queue(maxsize=1024)
    stop = threading.Event()
    monitor = ProgressMonitor({"lepton": 1e9, "scd41": 1e9})
    loops = [SensorLoop(s, q, monitor, stop) for s in (sources.lepton, sources.scd41)]
    frames: list[ThermalFrame] = []
    gas: list[GasReading] = []
    end = clock.monotonic() + duration_s
    for loop in loops:
        loop.start()
    try:
        while clock.monotonic() < end:
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item.t > end:
                continue
            if isinstance(item, ThermalFrame):
                if not item.frozen:
                    frames.append(item)
            else:
                gas.append(item)
    finally:
        stop.set()
        for loop in loops:
            loop.join(10.0)
    return frames, gas


def to_recording(
    frames: list[ThermalFrame], gas: list[GasReading], t0: float, meta: dict[str, Any]
) -> Recording:
    """Readings → a recording with its clock starting at ``t0``.

    :raises RecordingError: the camera changed its resolution mid-recording.
    """
    res = {f.resolution_k for f in frames}
    if len(res) > 1:
        raise RecordingError(f"the camera changed its resolution during the recording: {res}")
    shape = (0, 120, 160)
    if frames:
        shape = (0, *frames[0].pixels.shape)
    frame_arr = np.stack([f.pixels for f in frames]) if frames else np.zeros(shape, np.uint16)
    return Recording(
        frame_t=np.array([f.t - t0 for f in frames], dtype=np.float64),
        frames=frame_arr.astype(np.uint16),
        gas_t=np.array([g.t - t0 for g in gas], dtype=np.float64),
        co2_ppm=np.array([g.co2_ppm for g in gas], dtype=np.float32),
        temperature_c=np.array([g.temperature_c for g in gas], dtype=np.float32),
        humidity_pct=np.array([g.humidity_pct for g in gas], dtype=np.float32),
        frame_resolution_k=res.pop() if res else 0.01,
        meta=meta,
    )


def run(args: argparse.Namespace) -> int:
    from edge.app import configured_sources  # the drivers: only when recording
    from edge.sim.sources import make_scene, simulated_sources

    try:
        config = load_config(args.config)  # defaults when no file is given
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.duration <= 0 or args.speed <= 0:
        print("--duration and --speed must be > 0", file=sys.stderr)
        return 2
    if args.out.suffix != ".npz":
        print(f"{args.out}: a recording must end in .npz", file=sys.stderr)
        return 2
    if args.out.exists():
        print(f"{args.out}: exists; refusing to overwrite a recording", file=sys.stderr)
        return 1
    meta: dict[str, Any] = {"device": config.device.id, "source": "firedetect record"}
    sources: Sources
    if args.simulate:
        from edge.sim.clock import ScaledClock

        try:
            scene, truth = make_scene(args.simulate, args.seed, args.start + args.duration)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        clock = ScaledClock(args.speed, start=args.start)
        sources = simulated_sources(config, scene, clock, truth)
        fire = truth.get("fire_start_s")
        meta.update(scenario=args.simulate, seed=args.seed, simulated=True,
                    fire_start_s=None if fire is None else float(fire) - args.start,
                    label=truth.get("label"))
    else:
        sources = configured_sources(config)
    t0 = sources.clock.monotonic()
    try:
        frames, gas = collect(sources, args.duration)
    finally:
        sources.close()
    try:
        rec = to_recording(frames, gas, t0, meta)
        path = save_recording(rec, args.out)
    except (RecordingError, FileExistsError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{path}: {len(frames)} frames, {len(gas)} SCD41 readings over {args.duration:g} s")
    return 0 if frames or gas else 1
