"""Accelerated soak: 24 simulated hours of the daemon with faults injected into both simulators.

The daemon's processing (``Daemon.step``: pipeline, outbox, MQTT link to a real Mosquitto,
health, telemetry) runs exactly as in production; only the sensor threads are replaced by one
loop on a ``ManualClock`` that reads the REAL drivers on the simulated chips, so a simulated
day costs seconds. To fit CI, the camera is read once every ``FRAME_EVERY_S`` = 50 s instead
of at 8.7 Hz (1 728 frames a day instead of 750 000; its stale limit is raised to 60 s to
match); the SCD41 runs at its real 5 s cadence (17 280 readings).

Injected: SCD41 NACK bursts, bad CRCs, a stuck data-ready, the chip unplugged for 2 min;
Lepton bit errors, lost sync, a hung camera (healed by its CCI reboot); a broker outage of
one simulated hour; a fire every 3 h. Checked: every event arrives, none lost; memory flat.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from edge.app import build_daemon
from edge.config import parse_config
from edge.daemon import DaemonOptions
from edge.errors import SensorError
from edge.notify import Notifier
from edge.sim.clock import ManualClock
from tests.broker import Broker
from tests.daemon_helpers import ControlledRoom, Subscriber, events

HOURS = int(os.environ.get("SOAK_HOURS", "24"))
FRAME_EVERY_S = 50.0
BASE = "firedetect/soak"
FIRES = [h * 3600.0 + 600.0 for h in range(1, HOURS, 3)]  # 10 min fires at 1:10, 4:10, ...
MEMORY_BOUND_BYTES = 1_000_000


class CountingHandler(logging.Handler):
    """Counts log records by level and keeps none (pytest's capture would keep every record,
    and with it every exception a log call names: that is the harness's memory, not ours)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] = self.counts.get(record.levelname, 0) + 1


def inject(hour: int, sims: Any) -> None:
    """The fault of the hour (one per hour, in turn)."""
    scd, lep = sims.sim_scd41, sims.sim_lepton
    kind = hour % 6
    if kind == 1:
        scd.nack(5)
    elif kind == 2:
        scd.corrupt_crc(3)
    elif kind == 3:
        scd.stall_data_ready()
    elif kind == 4:
        scd.disappear()
    elif kind == 5:
        lep.spi.bit_errors = 200
    elif hour % 12 == 0:
        lep.hang()
    else:
        lep.spi.lose_sync()


@pytest.mark.slow
class TestSoak:
    def test_a_simulated_day_with_faults(self, broker: Broker, tmp_path: Path) -> None:
        """24 h with faults: every event arrives in order, sensors recover, memory stays flat."""
        sub = Subscriber(broker.host, broker.port, [f"{BASE}/alarm", f"{BASE}/health"],
                         client_id="soak-sub", clean_session=False)
        config = parse_config({
            "device": {"id": "soak", "state_dir": str(tmp_path / "state")},
            "mqtt": {"url": broker.url, "keepalive_s": 5, "telemetry_interval_s": 60.0},
            "sensors": {"lepton": {"model": "2.5", "stale_after_s": 60.0}},
            "alarm": {"clear_s": 120.0},  # longer than the gap between frames
        })
        clock = ManualClock()
        scene = ControlledRoom()
        scene.toggles = [t for start in FIRES for t in (start, start + 600.0)]
        rt = build_daemon(config, scene=scene, clock=clock, notifier=Notifier(""),
                          options=DaemonOptions(startup_timeout_s=0.0,
                                                health_interval_s=300.0))
        d = rt.daemon
        sims = d.sources
        d.link.start()
        reader = sims.scd41.open()
        camera = sims.lepton.open()
        next_frame = 0.0
        hour = 0
        mem_start: int | None = None
        outage = (12 * 3600.0, 13 * 3600.0)
        started = time.monotonic()
        edge_log = logging.getLogger("edge")
        counter = CountingHandler()
        edge_log.addHandler(counter)
        edge_log.propagate = False
        try:
            while clock.monotonic() < HOURS * 3600.0:
                now = clock.monotonic()
                if now >= (hour + 1) * 3600.0:
                    hour += 1
                    inject(hour, sims)
                    if hour == 2:
                        tracemalloc.start()
                        mem_start = self._edge_memory()
                if hour % 6 == 4 and now >= hour * 3600.0 + 120.0:
                    sims.sim_scd41.reappear()
                if outage[0] <= now < outage[1] and broker.proc is not None:
                    broker.stop()
                elif now >= outage[1] and broker.proc is None:
                    broker.start()
                if now >= next_frame:
                    next_frame = now + FRAME_EVERY_S
                    # A failed read is counted by the driver; the pipeline sees the camera stale.
                    with contextlib.suppress(SensorError):
                        d.queue.put(camera.read_frame())
                gas = reader.read_next(min(next_frame, (hour + 1) * 3600.0))
                if gas is not None:
                    d.queue.put(gas)
                while not d.queue.empty():
                    d.step(timeout=0.0)
                d.step(timeout=0.0)
            assert mem_start is not None
            growth = self._edge_memory() - mem_start
            if growth >= MEMORY_BOUND_BYTES:
                top = tracemalloc.take_snapshot().filter_traces(
                    self._DEVICE_CODE).statistics("lineno")[:5]
                print("soak: largest edge/ allocations:", *top, sep="\n  ")
            tracemalloc.stop()
            assert rt.daemon.link.drain(30.0), "events left unsent"
            sub.wait_for(lambda m: m.topic == f"{BASE}/alarm"
                         and m.json()["seq"] == d.events_published, 30)
        finally:
            d.shutdown()
            rt.close()
            sub.close()
            edge_log.removeHandler(counter)
            edge_log.propagate = True
        elapsed = time.monotonic() - started
        assert growth < MEMORY_BOUND_BYTES, f"device memory grew {growth} B over {HOURS - 2} h"
        evs = events(sub, BASE)
        seqs = sorted({e["seq"] for e in evs})
        assert seqs == list(range(1, d.events_published + 1)), "an event was lost"
        kinds = [e["event"] for e in sorted({e["seq"]: e for e in evs}.values(),
                                            key=lambda e: e["seq"])]
        assert kinds.count("alarm") == len(FIRES)
        assert kinds.count("clear") == len(FIRES)
        assert counter.counts.get("WARNING", 0) > 20  # the injected faults were noticed
        faults = {e["sensor"] for e in evs if e["event"] == "fault"}
        assert faults == {"scd41", "lepton"}
        health = [m.json() for m in sub.on(f"{BASE}/health")][-1]
        assert {k: v["status"] for k, v in health["sensors"].items()} == {
            "scd41": "ok", "lepton": "ok"}
        print(f"soak: {HOURS} h simulated in {elapsed:.1f} s, {d.events_published} events, "
              f"edge/ memory growth {growth} B")

    # The device's code: edge/ without the simulators (test equipment; the Lepton simulator
    # keeps its last 512 rendered frames for tests to compare against).
    _DEVICE_CODE = (tracemalloc.Filter(True, "*/edge/*"),
                    tracemalloc.Filter(False, "*/edge/sim/*"))

    @classmethod
    def _edge_memory(cls) -> int:
        snap = tracemalloc.take_snapshot().filter_traces(cls._DEVICE_CODE)
        return sum(s.size for s in snap.statistics("filename"))
