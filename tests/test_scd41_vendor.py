"""Cross-check: Sensirion's own driver (sensirion-i2c-scd4x 1.1.0) and ours see the same chip.

The vendor stack is ``Scd4xDevice(I2cChannel(I2cConnection(transceiver), 0x62, CrcCalculator))``
(sensors.md §1.6). Its ``I2cConnection`` sleeps real time after write-only commands
(``time.sleep`` of the command's busy delay); these tests only send it commands whose waits are
≤ 30 ms, so the real sleeping stays under 0.1 s per test. Simulated waits (read delays, the
5 s measurement interval) are spent on the ``ManualClock``.
"""

from __future__ import annotations

import pytest
from sensirion_driver_adapters.i2c_adapter.i2c_channel import I2cChannel
from sensirion_i2c_driver import CrcCalculator, I2cConnection
from sensirion_i2c_driver.errors import I2cChecksumError, I2cNackError, I2cTransceiveError
from sensirion_i2c_scd4x import Scd4xDevice

from edge.config.sensors import Scd41Config
from edge.sensors.scd41 import SCD41
from edge.sim.clock import ManualClock
from edge.sim.scd41 import SimulatedSCD41
from edge.types import I2cTransceiver
from tests.conftest import Scd41Rig
from tests.test_scd41_sim import ConstantAir


def vendor(transceiver: I2cTransceiver) -> Scd4xDevice:
    channel = I2cChannel(
        I2cConnection(transceiver), slave_address=0x62, crc=CrcCalculator(8, 0x31, 0xFF, 0x0)
    )
    return Scd4xDevice(channel)


def pair() -> tuple[SCD41, Scd4xDevice, SimulatedSCD41, ManualClock]:
    clock = ManualClock()
    sim = SimulatedSCD41(ConstantAir(), clock, power_up_s=0.0)
    return SCD41(sim, clock), vendor(sim), sim, clock


class TestVendorAgrees:
    def test_identity(self, scd41_rig: Scd41Rig) -> None:
        """Serial number and variant read by the vendor equal ours."""
        ours = SCD41(scd41_rig.transceiver, scd41_rig.clock)
        info = ours.clean_start(Scd41Config())
        theirs = vendor(scd41_rig.transceiver)
        assert theirs.get_serial_number() == info.serial_number
        assert theirs.get_sensor_variant().name == ours.get_sensor_variant()

    def test_settings_both_ways(self, scd41_rig: Scd41Rig) -> None:
        """A setting written by one driver is read back identically by the other (then undone)."""
        ours = SCD41(scd41_rig.transceiver, scd41_rig.clock)
        ours.clean_start(Scd41Config())
        theirs = vendor(scd41_rig.transceiver)
        assert theirs.get_temperature_offset().value == pytest.approx(
            ours.get_temperature_offset(), abs=1e-9
        )
        theirs.set_sensor_altitude(700)
        assert ours.get_sensor_altitude() == 700
        ours.set_sensor_altitude(0)
        assert theirs.get_sensor_altitude() == 0
        ours.set_automatic_self_calibration_target(420)
        assert theirs.get_automatic_self_calibration_target() == 420
        ours.set_automatic_self_calibration_target(400)
        theirs.set_automatic_self_calibration_enabled(0)
        assert ours.get_automatic_self_calibration_enabled() is False
        ours.set_automatic_self_calibration_enabled(True)
        assert theirs.get_automatic_self_calibration_enabled() == 1
        assert theirs.get_automatic_self_calibration_initial_period() == (
            ours.get_automatic_self_calibration_initial_period()
        )
        assert theirs.get_automatic_self_calibration_standard_period() == (
            ours.get_automatic_self_calibration_standard_period()
        )

    def test_data_ready_and_measurement(self) -> None:
        """Both see data-ready go true after 5 s and decode identical words to identical values."""
        ours, theirs, _, clock = pair()
        theirs.start_periodic_measurement()
        assert theirs.get_data_ready_status() is False and ours.get_data_ready_status() is False
        clock.advance(5.0)
        assert theirs.get_data_ready_status() is True and ours.get_data_ready_status() is True
        co2, t, rh = theirs.read_measurement()
        clock.advance(5.0)  # the air is constant, so the next sample has the same words
        m = ours.read_measurement()
        assert (m.co2_ppm, m.temperature_c, m.humidity_pct) == (
            co2.value,
            pytest.approx(t.value, abs=1e-12),
            pytest.approx(rh.value, abs=1e-12),
        )

    def test_ambient_pressure(self) -> None:
        """Pressure set by the vendor in Pa reads back in hPa from ours, while measuring."""
        ours, theirs, _, _ = pair()
        ours.start_periodic_measurement()
        theirs.set_ambient_pressure(95_000)
        assert ours.get_ambient_pressure() == 950
        assert theirs.get_ambient_pressure().value == 95_000


class TestVendorSeesOurFaults:
    def test_corrupt_crc_is_a_checksum_error(self) -> None:
        """A CRC the simulator corrupts is caught by the vendor's checksum check too."""
        _, theirs, sim, _ = pair()
        sim.corrupt_crc(1)
        with pytest.raises(I2cChecksumError):
            theirs.get_serial_number()

    def test_no_data_is_transceive_error_not_nack(self) -> None:
        """read_measurement without data is the Linux-style I2cTransceiveError (sensors.md §1.5)."""
        _, theirs, _, _ = pair()
        with pytest.raises(I2cTransceiveError) as exc:
            theirs.read_measurement()
        assert not isinstance(exc.value, I2cNackError)

    def test_wake_up_nack_is_ignored_by_vendor(self) -> None:
        """The vendor ignores wake_up's missing ACK, and the simulated chip wakes."""
        ours, theirs, sim, clock = pair()
        ours.power_down()
        theirs.wake_up()
        clock.advance(0.03)
        assert sim.state == "idle"
        assert theirs.get_serial_number() == sim.serial_number
