"""Scd41Reader against the simulator: cadence, first-sample drop, every fault and its recovery."""

from __future__ import annotations

import itertools
import logging
import random

import pytest

from edge.config.sensors import Scd41Config
from edge.errors import SensorGone, SensorTimeout
from edge.sensors.scd41 import SCD41
from edge.sensors.scd41_reader import Scd41Reader
from edge.sim.clock import ManualClock
from edge.sim.scd41 import SimulatedSCD41
from edge.types import GasReading
from tests.test_scd41_sim import ConstantAir

LOGGER = "edge.sensors.scd41_reader"


def make(mode: str = "periodic", **kw: object) -> tuple[Scd41Reader, SimulatedSCD41, ManualClock]:
    clock = ManualClock()
    sim = SimulatedSCD41(ConstantAir(), clock)
    reader = Scd41Reader(SCD41(sim, clock), Scd41Config(mode=mode), **kw)  # type: ignore[arg-type]
    return reader, sim, clock


def collect(
    reader: Scd41Reader, clock: ManualClock, n: int, limit_s: float = 600.0
) -> list[GasReading]:
    """Up to ``n`` readings within ``limit_s`` of simulated time, checking every deadline holds."""
    out: list[GasReading] = []
    end = clock.monotonic() + limit_s
    while len(out) < n and clock.monotonic() < end:
        deadline = clock.monotonic() + 7.0
        r = reader.read_next(deadline)
        assert clock.monotonic() <= deadline + 5.0 + 1e-6  # at most one single-shot wait over
        if r is not None:
            out.append(r)
    return out


class TestCadence:
    @pytest.mark.parametrize(("mode", "interval"), [("periodic", 5.0), ("low_power", 30.0)])
    def test_periodic_modes_follow_the_chip(self, mode: str, interval: float) -> None:
        """Readings come one per interval, the first sample after start dropped, values exact."""
        reader, _, clock = make(mode)
        assert reader.start()
        readings = collect(reader, clock, 4)
        assert len(readings) == 4
        gaps = [b.t - a.t for a, b in itertools.pairwise(readings)]
        assert gaps == pytest.approx([interval] * 3, abs=0.01)
        assert readings[0].t - 1.0 > 2 * interval  # sample 1 was dropped
        assert readings[0].co2_ppm == 612 and readings[0].temperature_c == pytest.approx(
            23.1, abs=2e-3
        )
        health = reader.health()
        assert (health.status, health.readings, health.dropped, health.faults) == ("ok", 4, 1, 0)

    def test_single_shot_mode(self) -> None:
        """In single-shot mode each reading is one 5 s shot; the chip idles in between."""
        reader, sim, clock = make("single_shot")
        readings = collect(reader, clock, 3)
        assert len(readings) == 3
        gaps = [b.t - a.t for a, b in itertools.pairwise(readings)]
        assert all(5.0 <= g <= 5.1 for g in gaps)
        assert sim.state == "idle" and reader.health().dropped == 1

    def test_deadline_returns_none_in_time(self) -> None:
        """A deadline shorter than the next sample returns None exactly at the deadline."""
        reader, _, clock = make()
        reader.start()
        t0 = clock.monotonic()
        assert reader.read_next(t0 + 2.0) is None
        assert clock.monotonic() == pytest.approx(t0 + 2.0)

    def test_stop_puts_chip_to_idle(self) -> None:
        """stop() leaves the chip idle and the reader 'stopped'; read_next restarts it."""
        reader, sim, clock = make()
        collect(reader, clock, 1)
        reader.stop()
        assert sim.state == "idle" and reader.status == "stopped"
        assert len(collect(reader, clock, 1)) == 1 and sim.state == "periodic"

    def test_single_shot_on_scd40_is_a_fault(self) -> None:
        """Single-shot mode on an SCD40 is reported as a fault naming the reason."""
        clock = ManualClock()
        sim = SimulatedSCD41(ConstantAir(), clock, variant="SCD40")
        reader = Scd41Reader(SCD41(sim, clock), Scd41Config(mode="single_shot"))
        assert not reader.start()
        assert "needs an SCD41" in reader.status


class TestFaults:
    def test_single_nack_is_retried_silently(self, caplog: pytest.LogCaptureFixture) -> None:
        """One NACK is retried once: no fault, no restart, a WARNING and a counted bus error."""
        reader, sim, clock = make()
        collect(reader, clock, 1)
        sim.nack(1)
        with caplog.at_level(logging.WARNING, LOGGER):
            assert len(collect(reader, clock, 2)) == 2
        h = reader.health()
        assert (h.status, h.faults, h.bus_errors, h.restarts) == ("ok", 0, 1, 1)
        assert "retrying once" in caplog.text

    def test_repeated_nack_restarts_and_recovers(self, caplog: pytest.LogCaptureFixture) -> None:
        """Three NACKs in a row are a fault (WARNING), a restart, then a recovery (INFO)."""
        reader, sim, clock = make()
        collect(reader, clock, 1)
        sim.nack(3)
        with caplog.at_level(logging.INFO, LOGGER):
            assert len(collect(reader, clock, 2)) == 2
        h = reader.health()
        assert (h.status, h.faults, h.recoveries) == ("ok", 1, 1) and h.restarts >= 2
        levels = {r.getMessage().split(":")[0]: r.levelno for r in caplog.records}
        assert levels["SCD41 fault"] == logging.WARNING
        assert levels["SCD41 recovered"] == logging.INFO

    def test_crc_error_is_retried_once(self, caplog: pytest.LogCaptureFixture) -> None:
        """A corrupted reply loses at most that sample: a WARNING, no fault, readings go on."""
        reader, sim, clock = make()
        collect(reader, clock, 1)
        sim.corrupt_crc(1, only="read_measurement")
        with caplog.at_level(logging.WARNING, LOGGER):
            assert len(collect(reader, clock, 2)) == 2
        h = reader.health()
        assert (h.status, h.crc_errors, h.faults) == ("ok", 1, 0)
        assert "CRC" in caplog.text

    def test_crc_error_in_single_shot_retakes_the_shot(self) -> None:
        """In single-shot mode a corrupted reading is followed by a new shot, not a timeout."""
        reader, sim, clock = make("single_shot")
        first = collect(reader, clock, 1)[0]
        sim.corrupt_crc(1, only="read_measurement")
        second = collect(reader, clock, 1)[0]
        assert second.t - first.t < 11.0
        assert (reader.health().timeouts, reader.health().faults) == (0, 0)

    def test_crc_errors_twice_is_a_fault(self) -> None:
        """Two corrupted replies in a row trigger a restart and then recover."""
        reader, sim, clock = make()
        collect(reader, clock, 1)
        sim.corrupt_crc(2)
        assert len(collect(reader, clock, 2)) == 2
        h = reader.health()
        assert (h.crc_errors, h.faults, h.recoveries, h.status) == (2, 1, 1, "ok")

    def test_stall_cleared_by_reinit(self, caplog: pytest.LogCaptureFixture) -> None:
        """Data-ready stuck low for 3 intervals is a SensorTimeout; stop→reinit→start heals it."""
        reader, sim, clock = make()
        collect(reader, clock, 1)
        sim.stall_data_ready(clears_on_reinit=True)
        t_stall = clock.monotonic()
        with caplog.at_level(logging.INFO, LOGGER):
            readings = collect(reader, clock, 1)
        assert readings and readings[0].t - t_stall < 15.0 + 10.0 + 2.0
        assert reader.health().timeouts == 1 and reader.status == "ok"
        assert "no data for" in caplog.text and "recovered" in caplog.text

    def test_stall_needing_power_cycle_backs_off(self, caplog: pytest.LogCaptureFixture) -> None:
        """A stall reinit cannot clear stays a reported fault, retried with capped backoff."""
        reader, sim, clock = make(max_backoff_s=60.0)
        collect(reader, clock, 1)
        sim.stall_data_ready(clears_on_reinit=False)
        with caplog.at_level(logging.WARNING, LOGGER):
            assert collect(reader, clock, 1, limit_s=900.0) == []
        assert reader.status.startswith("fault: ") and isinstance(reader.last_error, SensorTimeout)
        assert reader.health().timeouts >= 5
        sim.power_cycle()  # what an operator (or a GPIO power switch) would do
        assert len(collect(reader, clock, 1)) == 1 and reader.status == "ok"

    def test_chip_gone_then_back(self, caplog: pytest.LogCaptureFixture) -> None:
        """An unplugged chip becomes SensorGone with backoff ≤ 60 s; replugged, it recovers."""
        reader, sim, clock = make(max_backoff_s=60.0)
        collect(reader, clock, 1)
        sim.disappear()
        with caplog.at_level(logging.WARNING, LOGGER):
            assert collect(reader, clock, 1, limit_s=1800.0) == []
        assert isinstance(reader.last_error, SensorGone)
        assert "no answer after" in reader.status
        delays = [r.getMessage().rsplit("restarting ", 1)[1] for r in caplog.records
                  if "restarting" in r.getMessage()]  # fmt: skip
        assert "in 60 s" in delays and "in 120 s" not in delays and "in 1 s" in delays
        sim.reappear()
        assert len(collect(reader, clock, 1, limit_s=120.0)) == 1
        assert reader.status == "ok" and reader.health().recoveries == 1

    @pytest.mark.parametrize("seed", range(4))
    def test_random_faults_never_crash_or_hang(self, seed: int) -> None:
        """Random faults over 30 simulated minutes: deadlines hold, and readings resume after."""
        rng = random.Random(seed)
        reader, sim, clock = make(rng.choice(["periodic", "low_power", "single_shot"]))
        end = clock.monotonic() + 1800.0
        while clock.monotonic() < end:
            fault = rng.randrange(8)
            if fault == 0:
                sim.nack(rng.randint(1, 6))
            elif fault == 1:
                sim.corrupt_crc(rng.randint(1, 3))
            elif fault == 2:
                sim.stall_data_ready(clears_on_reinit=rng.random() < 0.7)
            elif fault == 3:
                sim.disappear()
            elif fault == 4:
                sim.reappear()
            elif fault == 5:
                sim.power_cycle()
            collect(reader, clock, 1, limit_s=rng.uniform(1.0, 90.0))
        sim.clear_faults()
        sim.power_cycle()
        assert len(collect(reader, clock, 2, limit_s=200.0)) == 2
        assert reader.status == "ok"
