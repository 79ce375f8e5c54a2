"""Daemon benchmark: frame-to-publish latency, CPU share and memory at 8.7 Hz in simulation.

    .venv/bin/python bench/bench_daemon.py [--seconds 60] [--lepton 3.5]

Runs the whole daemon in-process (real drivers on the byte-level simulators, ScaledClock at
speed 1, so the Lepton delivers its real 8.7 Hz) against a Mosquitto it starts on loopback,
with a fire toggled on and off every second (pre-alarm 0 s, clear 0 s) so every second gives
an alarm or clear event. Reports:

- latency: from the frame's timestamp (the driver stamps it when the frame is complete) to
  the event arriving at a subscriber on the broker — processing, outbox fsync, publish;
- CPU: process CPU time over wall time, minus the time spent inside the simulators (the
  chips and the scene are test equipment, not the device), measured per call with
  ``time.thread_time``, and per thread (processing, Lepton, SCD41). The Lepton driver reads
  discard packets as fast as the simulator returns them — on hardware the SPI clock bounds
  that (164 bytes at 18 MHz = 73 µs per packet) — so its share here is an upper bound;
- memory: RSS at the end of a warm-up and at the end of the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.app import build_daemon
from edge.config import parse_config
from edge.daemon import DaemonOptions
from edge.notify import Notifier
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


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--lepton", default="3.5")
    ap.add_argument("--no-watches", action="store_true",
                    help="switch the flame and smoulder watches off ([flame]/[smoulder])")
    args = ap.parse_args()
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
    scene.toggles = [now + 1.0 + i for i in range(int(args.seconds) - 2)]
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
    print(f"daemon bench: Lepton {args.lepton}, {args.seconds:g} s at speed 1, "
          f"load average {load[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  frames: {frames} in {wall:.1f} s = {frames / wall:.2f} Hz")
    print(f"  frame-to-subscriber latency over {len(lat)} events: p50 {p(0.5):.1f} ms, "
          f"p99 {p(0.99):.1f} ms, max {lat[-1]:.1f} ms" if lat else "  no events")
    print(f"  CPU: process {100 * cpu / wall:.1f} % of one core, of which simulators "
          f"{100 * sim / wall:.1f} %; daemon {100 * (cpu - sim) / wall:.1f} %")
    print(f"  of which: processing thread (features, score, alarm, outbox, publish) "
          f"{100 * proc_cpu / wall:.1f} %, Lepton driver {100 * lep_cpu / wall:.1f} % "
          f"(incl. simulator time inside it), SCD41 driver {100 * scd_cpu / wall:.1f} %")
    print(f"  RSS: {rss_start:.0f} MB after warm-up, {rss_end:.0f} MB at the end "
          f"({rss_end - rss_start:+.1f} MB)")
    print(f"  median latency {statistics.median(lat):.1f} ms" if lat else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
