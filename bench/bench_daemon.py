"""Daemon benchmark: frame-to-publish latency, CPU share and memory at 8.7 Hz in simulation.

    .venv/bin/python bench/bench_daemon.py [--events 500] [--toggle-s 0.25] [--lepton 3.5]
    .venv/bin/python bench/bench_daemon.py --compare   # without and with bus time, back to back

Runs the whole daemon in-process (real drivers on the byte-level simulators, ScaledClock at
speed 1, so the Lepton delivers its real 8.7 Hz) against a Mosquitto it starts on loopback,
with a fire toggled on and off every ``--toggle-s`` seconds (pre-alarm 0 s, clear 0 s) so
each toggle gives an alarm or clear event; ``--events`` of them (≥ 500, so p99 is not the
maximum). Reports:

- latency: from the frame's timestamp (the driver stamps it when the frame is complete) to
  the event arriving at a subscriber on the broker — processing, outbox fsync, publish;
- CPU: process CPU time over wall time, minus the time spent inside the simulators (the
  chips and the scene are test equipment, not the device), measured per call with
  ``time.thread_time``, and per thread (processing, Lepton, SCD41);
- memory: RSS at the end of a warm-up and at the end of the run, and the peak (VmHWM).

``--no-bus-time`` runs the simulated SPI bus with instant transfers and the driver without
its pause between segments (the state before issue 13): the Lepton thread then spins on
discard packets holding the GIL. ``--compare`` runs both, each in a fresh process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.app import build_daemon
from edge.cli import limit_blas_threads
from edge.config import parse_config
from edge.daemon import DaemonOptions
from edge.notify import Notifier
from edge.sensors.lepton_spi import LeptonSpi
from edge.sim.clock import ScaledClock
from tests.broker import Broker
from tests.daemon_helpers import ControlledRoom, Subscriber


class SimTimer:
    """Accumulates the CPU time threads spend inside wrapped simulator calls."""

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self._lock = threading.Lock()

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.cpu_s += time.thread_time() - t0
        return timed


def status_mb(key: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    return status_mb("VmRSS")


def demo_model() -> dict[str, str]:
    """The [model] table of demo/config.toml, its paths made absolute."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    table = tomllib.loads((root / "demo" / "config.toml").read_text())["model"]
    return {k: str(root / v) for k, v in table.items()}


def compare(argv: list[str]) -> int:
    """Both modes back to back, each in its own process (so neither inherits the other's memory)."""
    rest = [a for a in argv if a not in ("--compare", "--no-bus-time")]
    for extra in (["--no-bus-time"], []):
        cmd = [sys.executable, __file__, *rest, *extra]
        print("$", " ".join(cmd[1:]), flush=True)
        rc = subprocess.call(cmd)
        if rc:
            return rc
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=500, help="alarm/clear events to time")
    ap.add_argument("--toggle-s", type=float, default=0.25, help="seconds between fire toggles")
    ap.add_argument("--no-bus-time", action="store_true",
                    help="instant simulated SPI transfers, no driver pause (the old behaviour)")
    ap.add_argument("--compare", action="store_true",
                    help="run with --no-bus-time and without, back to back")
    ap.add_argument("--lepton", default="3.5")
    ap.add_argument("--demo-model", action="store_true",
                    help="score with the demo model (demo/config.toml) instead of the rules")
    ap.add_argument("--no-watches", action="store_true",
                    help="switch the flame and smoulder watches off ([flame]/[smoulder])")
    args = ap.parse_args()
    if args.compare:
        return compare(sys.argv[1:])
    args.seconds = args.events * args.toggle_s + 2.0
    limit_blas_threads()  # as `firedetect run` does
    work = Path(tempfile.mkdtemp(prefix="bench-daemon-"))
    broker = Broker(work / "broker")
    broker.start()
    sub = Subscriber(broker.host, broker.port, ["firedetect/bench/alarm"])
    config = parse_config({
        "device": {"id": "bench", "state_dir": str(work / "state")},
        "mqtt": {"url": broker.url},
        "sensors": {"lepton": {"model": args.lepton}},
        "alarm": {"pre_alarm_s": 0.0, "clear_s": 0.0, "min_alarm_s": 0.0},
        "flame": {"enabled": not args.no_watches},
        "smoulder": {"enabled": not args.no_watches},
        **({"model": demo_model()} if args.demo_model else {}),
    })
    clock = ScaledClock(1.0)
    scene = ControlledRoom()
    rt = build_daemon(config, scene=scene, clock=clock, notifier=Notifier(""),
                      options=DaemonOptions())
    d = rt.daemon
    timer = SimTimer()
    processing = SimTimer()
    lepton = SimTimer()
    scd41 = SimTimer()
    d.step = processing.wrap(d.step)  # type: ignore[method-assign]
    assert d.sources.sim_lepton is not None and d.sources.sim_scd41 is not None
    if args.no_bus_time:
        d.sources.sim_lepton.spi.bus_time = False
        source = d.sources.lepton
        opener = source.open

        def open_without_pause() -> Any:
            camera = opener()
            if isinstance(camera, LeptonSpi):
                camera.discard_wait_s = 0.0
            return camera

        source.open = open_without_pause  # type: ignore[method-assign]
    d.sources.lepton.read = lepton.wrap(d.sources.lepton.read)  # type: ignore[method-assign]
    d.sources.scd41.read = scd41.wrap(d.sources.scd41.read)  # type: ignore[method-assign]
    assert d.sources.sim_lepton is not None and d.sources.sim_scd41 is not None
    spi = d.sources.sim_lepton.spi
    spi.readbytes = timer.wrap(spi.readbytes)  # type: ignore[method-assign]
    spi.xfer2 = timer.wrap(spi.xfer2)  # type: ignore[method-assign]
    scd = d.sources.sim_scd41
    scd.transceive = timer.wrap(scd.transceive)  # type: ignore[method-assign]
    thread = threading.Thread(target=d.run)
    thread.start()
    warm = 15.0
    time.sleep(warm)
    rss_start = rss_mb()
    cpu0, wall0, sim0 = time.process_time(), time.monotonic(), timer.cpu_s
    parts0 = (processing.cpu_s, lepton.cpu_s, scd41.cpu_s)
    frames0 = d.loops[0].readings
    now = clock.monotonic()
    scene.toggles = [now + 1.0 + i * args.toggle_s for i in range(args.events)]
    time.sleep(args.seconds)
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    sim = timer.cpu_s - sim0
    proc_cpu, lep_cpu, scd_cpu = (b - a for a, b in zip(
        parts0, (processing.cpu_s, lepton.cpu_s, scd41.cpu_s), strict=True))
    frames = d.loops[0].readings - frames0
    rss_end = rss_mb()
    time.sleep(1.0)
    d.request_stop()
    thread.join(30)
    rt.close()
    lat: list[float] = []
    origin = clock._origin - clock._start  # wall monotonic time of clock t = 0 (speed 1)
    for m in sub.on("firedetect/bench/alarm"):
        ev = m.json()
        lat.append((m.at - (origin + ev["t"])) * 1000.0)
    sub.close()
    broker.stop()
    lat.sort()

    def p(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    load = os.getloadavg()
    mode = "instant SPI, no driver pause" if args.no_bus_time else "SPI bus time modelled"
    print(f"daemon bench ({mode}): Lepton {args.lepton}, {args.seconds:g} s at speed 1, "
          f"load average {load[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  frames: {frames} in {wall:.1f} s = {frames / wall:.2f} Hz")
    print(f"  frame-to-subscriber latency over {len(lat)} events: p50 {p(0.5):.1f} ms, "
          f"p99 {p(0.99):.1f} ms, max {lat[-1]:.1f} ms" if lat else "  no events")
    print(f"  CPU: process {100 * cpu / wall:.1f} % of one core, of which simulators "
          f"{100 * sim / wall:.1f} %; daemon {100 * (cpu - sim) / wall:.1f} %")
    print(f"  of which: processing thread (features, score, alarm, outbox, publish) "
          f"{100 * proc_cpu / wall:.1f} %, Lepton driver {100 * lep_cpu / wall:.1f} % "
          f"(incl. simulator time inside it), SCD41 driver {100 * scd_cpu / wall:.1f} %")
    print(f"  RSS: {rss_start:.0f} MiB after warm-up, {rss_end:.0f} MiB at the end "
          f"({rss_end - rss_start:+.1f} MiB), peak {status_mb('VmHWM'):.0f} MiB")
    print(f"  median latency {statistics.median(lat):.1f} ms" if lat else "", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
