"""The CCI driver against the simulated CCI: golden bytes, BUSY handling, errors, settings."""

from __future__ import annotations

import math
from typing import Any

import pytest

from edge.errors import BusError, SensorError, SensorTimeout
from edge.sensors import lepton_cci as cci
from edge.sim.clock import ManualClock
from edge.sim.lepton_cci import LeptonState, SimulatedCci


class WireLog:
    """An SmBus that records every message's (addr, read?, bytes) on its way to the simulator."""

    def __init__(self, inner: SimulatedCci) -> None:
        self.inner = inner
        self.wire: list[tuple[int, bool, bytes]] = []

    def i2c_rdwr(self, *msgs: Any) -> None:
        self.inner.i2c_rdwr(*msgs)
        for m in msgs:
            self.wire.append((m.addr, bool(m.flags & 1), bytes(m)))

    def close(self) -> None:
        self.inner.close()


def rig(model: str = "3.5") -> tuple[cci.LeptonCci, SimulatedCci, WireLog, ManualClock]:
    clock = ManualClock()
    sim = SimulatedCci(LeptonState(model=model), clock)
    bus = WireLog(sim)
    return cci.LeptonCci(bus, clock), sim, bus, clock


class TestCommandWords:
    def test_words_from_the_reference(self) -> None:
        """GET/SET/RUN words match sensors.md §2.2, OEM/RAD with +0x4000."""
        assert cci.RADIOMETRY.word(cci.CciType.SET) == 0x4E11
        assert cci.TLINEAR_RESOLUTION.word(cci.CciType.GET) == 0x4EC4
        assert cci.GAIN_MODE.word(cci.CciType.SET) == 0x0249
        assert cci.TELEMETRY_LOCATION.word(cci.CciType.SET) == 0x021D
        assert cci.RUN_FFC.word(cci.CciType.RUN) == 0x0242
        assert cci.OEM_REBOOT.word(cci.CciType.RUN) == 0x4842


class TestWire:
    def test_set_golden_bytes(self) -> None:
        """SET gain low: poll STATUS, DATA0..1, DATA_LENGTH, COMMAND, poll STATUS — exact bytes."""
        drv, _, bus, _ = rig()
        drv.set(cci.GAIN_MODE, 1)
        writes = [b for addr, rd, b in bus.wire if not rd and len(b) > 2]
        assert writes == [
            bytes([0x00, 0x08, 0x00, 0x01, 0x00, 0x00]),
            bytes([0x00, 0x06, 0x00, 0x02]),
            bytes([0x00, 0x04, 0x02, 0x49]),
        ]
        assert {addr for addr, _, _ in bus.wire} == {0x2A}
        # every STATUS read is a 2-byte address write then a 2-byte read (repeated start)
        assert bus.wire[0] == (0x2A, False, b"\x00\x02")
        assert bus.wire[1][1] and len(bus.wire[1][2]) == 2
        assert bus.wire[-2] == (0x2A, False, b"\x00\x02")

    def test_get_reads_data_low_word_first(self) -> None:
        """GET reads DATA0 and DATA1 and combines them low word first."""
        drv, sim, bus, _ = rig()
        sim.state.gain_mode = 2
        assert drv.get(cci.GAIN_MODE) == 2
        assert bus.wire[-2] == (0x2A, False, b"\x00\x08")
        assert bus.wire[-1] == (0x2A, True, b"\x00\x02\x00\x00")

    def test_waits_for_busy(self) -> None:
        """A command after RUN FFC waits until BUSY clears, and never writes while BUSY."""
        drv, sim, _, clock = rig()
        drv.run(cci.RUN_FFC)
        assert clock.monotonic() >= sim.ffc_s
        drv.get(cci.AGC_ENABLE)
        assert sim.violations == []

    def test_nack_is_bus_error(self) -> None:
        """A NACK (OSError 121) becomes a BusError naming the address."""
        drv, sim, _, _ = rig()
        sim.nack = True
        with pytest.raises(BusError, match="0x2A"):
            drv.get(cci.AGC_ENABLE)

    def test_busy_forever_times_out(self) -> None:
        """A camera that never clears BUSY raises SensorTimeout, on the clock, without hanging."""
        drv, sim, _, clock = rig()
        sim.state.boot_until = math.inf
        with pytest.raises(SensorTimeout, match="BUSY"):
            drv.get(cci.AGC_ENABLE)
        assert clock.monotonic() == pytest.approx(drv.busy_timeout_s, abs=0.01)

    def test_error_result_names_command(self) -> None:
        """A negative result code raises SensorError naming the command and the code."""
        drv, _, _, _ = rig()
        bogus = cci.CciCommand("bogus", 0x0F00)
        with pytest.raises(SensorError, match=r"bogus GET \(0x0F00\).*-7 \(undefined function\)"):
            drv.get(bogus)

    def test_range_error(self) -> None:
        """SET of a value the camera does not accept raises a range error."""
        drv, _, _, _ = rig()
        with pytest.raises(SensorError, match="range error"):
            drv.set(cci.GAIN_MODE, 7)

    def test_set_wrong_length_is_misuse(self) -> None:
        """SET with the wrong number of words is a ValueError before anything is sent."""
        drv, _, bus, _ = rig()
        with pytest.raises(ValueError, match="2 words"):
            drv.command(cci.GAIN_MODE, cci.CciType.SET, [1])
        assert bus.wire == []


class TestConfigure:
    def test_low_gain(self) -> None:
        """Low gain: radiometry, TLinear at 0.1 K, gain low, AGC off, telemetry footer, FFC."""
        drv, sim, _, _ = rig()
        assert drv.configure("low") == 0.1
        assert sim.setting_writes() == [
            (0x4E11, 1),
            (0x4EC1, 1),
            (0x4EC5, 0),
            (0x0249, 1),
            (0x0101, 0),
            (0x0219, 1),
            (0x021D, 1),
        ]
        assert 0x0242 in sim.commands
        assert sim.state.ffc_runs == 1
        assert sim.violations == []

    def test_high_gain_no_ffc(self) -> None:
        """High gain (the default) gives 0.01 K and no FFC, since the gain did not change."""
        drv, sim, _, _ = rig()
        assert drv.configure("high") == 0.01
        assert sim.state.gain_mode == 0 and sim.state.tlinear_resolution == 1
        assert sim.state.ffc_runs == 0

    def test_auto_gain(self) -> None:
        """Auto gain keeps 0.01 K and runs an FFC after switching."""
        drv, sim, _, _ = rig()
        assert drv.configure("auto") == 0.01
        assert sim.state.gain_mode == 2 and sim.state.ffc_runs == 1

    def test_non_radiometric_model(self) -> None:
        """A Lepton 2.0 (no radiometry) fails configuration with the RAD command named."""
        drv, _, _, _ = rig("2.0")
        with pytest.raises(SensorError, match="RAD radiometry"):
            drv.configure("low")

    def test_bad_gain(self) -> None:
        """An unknown gain is a ValueError listing the allowed ones."""
        drv, _, _, _ = rig()
        with pytest.raises(ValueError, match="auto"):
            drv.configure("medium")

    def test_reboot_resets_camera(self) -> None:
        """OEM reboot sends 0x4842; the camera comes back with its defaults."""
        drv, sim, _, _ = rig()
        drv.configure("low")
        drv.reboot()
        assert sim.commands[-1] == 0x4842
        assert sim.state.reboots == 1
        assert sim.state.gain_mode == 0 and sim.state.telemetry == 0
