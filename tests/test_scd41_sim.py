"""The SCD41 simulator at byte level, and the real driver against it (settings, persistence)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.config.sensors import Scd41Config
from edge.errors import SensorError
from edge.sensors import scd41_commands as proto
from edge.sensors.scd41 import SCD41
from edge.sim.clock import ManualClock
from edge.sim.scd41 import SimulatedSCD41
from edge.sim.scene import AirSample, KelvinArray

h = bytes.fromhex
LSB_T = 175.0 / 65535.0
LSB_RH = 100.0 / 65535.0


class ConstantAir:
    """A scene whose air never changes (and whose thermal image is irrelevant here)."""

    def __init__(self, co2_ppm: float = 612.4, temperature_c: float = 23.1, rh: float = 45.3):
        self.sample = AirSample(co2_ppm, temperature_c, rh)

    def air(self, t: float) -> AirSample:
        return self.sample

    def thermal_k(self, t: float, height: int, width: int) -> KelvinArray:
        return np.zeros((height, width))

    def ffc_active(self, t: float) -> bool:
        return False


def make(**kw: object) -> tuple[SimulatedSCD41, ManualClock]:
    clock = ManualClock()
    sim = SimulatedSCD41(ConstantAir(), clock, power_up_s=0.0, **kw)  # type: ignore[arg-type]
    return sim, clock


def cmd(sim: SimulatedSCD41, tx: str, rx: int | None = None, delay: float = 0.001) -> tuple:
    """One raw transaction at 0x62."""
    return sim.transceive(0x62, h(tx), rx, delay, 0.1)


def rh_at(rh: float, t_from: float, t_to: float) -> float:
    """Relative humidity of the same air expressed at another temperature (Magnus)."""

    def ps(c: float) -> float:
        return 6.112 * math.exp(17.62 * c / (243.12 + c))

    return rh * ps(t_from) / ps(t_to)


class TestBus:
    def test_other_address_is_nacked(self) -> None:
        """Only 0x62 answers; any other address gets status 2 (NACK)."""
        sim, _ = make()
        assert sim.transceive(0x61, h("3682"), 9, 0.001, 0.1)[0] == 2

    def test_nothing_answers_during_power_up(self) -> None:
        """For 1 s after power-up every command is NACKed, then the chip is idle."""
        clock = ManualClock()
        sim = SimulatedSCD41(ConstantAir(), clock)
        assert sim.transceive(0x62, h("3682"), 9, 0.001, 0.1)[0] == 2
        clock.advance(1.0)
        status, _, rx = sim.transceive(0x62, h("3682"), 9, 0.001, 0.1)
        assert status == 0 and len(rx) == 9 and sim.state == "idle"

    def test_replies_carry_crcs(self) -> None:
        """The serial number comes back as 3 words, each followed by its CRC."""
        sim, _ = make(serial_number=0x01F4_6667_5EB9)
        assert cmd(sim, "3682", 9) == (0, None, h("01f4336667a25eb93c"))

    def test_bad_crc_in_is_nacked_and_ignored(self) -> None:
        """A setting whose CRC is wrong is NACKed and does not change the chip."""
        sim, _ = make()
        assert cmd(sim, "2427000082")[0] == 2  # altitude 0 with a wrong CRC
        assert cmd(sim, "242703e8ff")[0] == 2
        assert sim.ram.altitude_m == 0

    @pytest.mark.parametrize("tx", ["12 34", "36", "2427 0000", "3682 0000 81"])
    def test_malformed_or_unknown_commands_are_nacked(self, tx: str) -> None:
        """Unknown codes, half commands, words without CRC and extra words are NACKed."""
        sim, _ = make()
        assert cmd(sim, tx.replace(" ", ""))[0] == 2

    def test_read_delay_is_spent_on_the_clock(self) -> None:
        """read_delay advances the simulation clock (beside the bus time) instead of sleeping."""
        sim, clock = make()
        cmd(sim, "3639", 3, delay=10.0)
        assert clock.monotonic() == pytest.approx(10.0 + (3 + 4) * 9 / 100e3)

    @pytest.mark.parametrize("bus_hz", [100e3, 400e3])
    def test_transfers_take_their_bus_time(self, bus_hz: float) -> None:
        """Each byte on the bus (address included) takes 9 bit times on the clock."""
        sim, clock = make(bus_hz=bus_hz)
        assert cmd(sim, "3682", 9, delay=0.001)[0] == 0  # get_serial_number: 3 B, then 1 + 9
        assert clock.monotonic() == pytest.approx(0.001 + 13 * 9 / bus_hz)


class TestTiming:
    def test_command_during_execution_is_nacked(self) -> None:
        """A command sent before the previous one's Wait elapsed (stop: 500 ms) is NACKed."""
        sim, clock = make()
        assert cmd(sim, "3f86", delay=0)[0] == 0
        clock.advance(0.49)
        assert cmd(sim, "3646", delay=0)[0] == 2
        clock.advance(0.01)
        assert cmd(sim, "3646", delay=0)[0] == 0

    def test_reading_too_early_is_nacked(self) -> None:
        """Reading the self-test result before its 10 s have passed gives a read NACK."""
        sim, _ = make()
        status, err, rx = cmd(sim, "3639", 3, delay=1.0)
        assert (status, rx) == (4, b"") and isinstance(err, OSError) and err.errno == 121

    def test_periodic_cadence_is_five_seconds(self) -> None:
        """Data-ready reads 0x8000 until 5 s after start, then 0x8006; a read empties it."""
        sim, clock = make()
        cmd(sim, "21b1", delay=0)
        clock.advance(4.99 - clock.monotonic())
        assert cmd(sim, "e4b8", 3)[2] == h("8000a2")
        clock.advance(0.01)
        assert cmd(sim, "e4b8", 3)[2] == h("800604")
        assert cmd(sim, "ec05", 9)[0] == 0
        assert cmd(sim, "e4b8", 3)[2] == h("8000a2")

    def test_low_power_cadence_is_thirty_seconds(self) -> None:
        """In low-power periodic mode the first data is ready after 30 s, not 5 s."""
        sim, clock = make()
        cmd(sim, "21ac", delay=0)
        clock.advance(29.9)
        assert cmd(sim, "e4b8", 3)[2] == h("8000a2")
        clock.advance(0.1)
        assert cmd(sim, "e4b8", 3)[2] == h("800604")

    def test_read_without_data_is_remote_io_error(self) -> None:
        """read_measurement with no new data fails like Linux: (4, OSError(121), b'')."""
        sim, _ = make()
        status, err, rx = cmd(sim, "ec05", 9)
        assert status == 4 and rx == b"" and isinstance(err, OSError) and err.errno == 121

    def test_single_shot_is_busy_five_seconds(self) -> None:
        """A single shot NACKs everything for 5 s, then has data and is idle again."""
        sim, clock = make()
        cmd(sim, "219d", delay=0)
        clock.advance(4.9)
        assert cmd(sim, "e4b8", 3)[0] == 2
        clock.advance(0.1)
        assert cmd(sim, "e4b8", 3)[2] == h("800604") and sim.state == "idle"

    def test_rht_only_single_shot_reads_zero_co2(self) -> None:
        """measure_single_shot_rht_only gives data after 50 ms with CO2 = 0."""
        sim, _ = make()
        cmd(sim, "2196", delay=0.05)
        co2, _, _ = proto.unpack_words(cmd(sim, "ec05", 9)[2])
        assert co2 == 0


class TestStateMachine:
    @pytest.mark.parametrize("start", ["21b1", "21ac"])
    def test_only_m_commands_while_measuring(self, start: str) -> None:
        """While measuring, set_temperature_offset/reinit/serial are NACKed; M commands are not."""
        sim, _ = make()
        cmd(sim, start, delay=0)
        for tx in ("241d05da29", "3646", "3682"):
            assert cmd(sim, tx)[0] == 2, tx
        assert cmd(sim, "e4b8", 3)[0] == 0
        assert cmd(sim, "e00003f5db")[0] == 0
        assert cmd(sim, "e000", 3)[2] == h("03f5db")
        assert cmd(sim, "3f86", delay=0.5)[0] == 0 and sim.state == "idle"

    def test_power_down_answers_only_wake_up(self) -> None:
        """After power_down only wake_up does anything; it never ACKs but wakes the chip."""
        sim, clock = make()
        cmd(sim, "36e0")
        assert cmd(sim, "3682", 9)[0] == 2
        assert cmd(sim, "36f6", delay=0)[0] == 2
        assert cmd(sim, "3682", 9)[0] == 2  # still waking (30 ms)
        clock.advance(0.03)
        assert cmd(sim, "3682", 9)[0] == 0

    @pytest.mark.parametrize(("variant", "word"), [("SCD41", 0x1440), ("SCD40", 0x0440)])
    def test_variant_word(self, variant: str, word: int) -> None:
        """The variant word's top nibble tells SCD40 (0x0…) from SCD41 (0x1…)."""
        sim, _ = make(variant=variant)
        assert proto.unpack_words(cmd(sim, "202f", 3)[2]) == (word,)

    def test_scd40_has_no_single_shot(self) -> None:
        """An SCD40 NACKs measure_single_shot (an SCD41-only command)."""
        sim, _ = make(variant="SCD40")
        assert cmd(sim, "219d", delay=0)[0] == 2


class TestMeasurement:
    def test_values_match_scene_within_quantisation(self) -> None:
        """A default chip reports the scene's air within quantisation (of words and offset)."""
        sim, clock = make()
        sensor = SCD41(sim, clock)
        sensor.start_periodic_measurement()
        clock.advance(5.0)
        m = sensor.read_measurement()
        want_t = 23.1 + 4.0 - proto.offset_from_word(0x05DA)  # the offset word is 4.00015 °C
        assert m.co2_ppm == 612
        assert abs(m.temperature_c - want_t) <= LSB_T / 2 + 1e-9
        assert abs(m.humidity_pct - rh_at(45.3, 23.1, want_t)) <= LSB_RH / 2 + 1e-9
        assert m.temperature_c == pytest.approx(23.1, abs=2e-3)
        assert m.humidity_pct == pytest.approx(45.3, abs=2e-3)

    def test_temperature_offset_applies_like_the_chip(self) -> None:
        """A 6 °C offset on a 4 °C self-heated element reports 2 °C less and the RH of that T."""
        sim, clock = make()
        sensor = SCD41(sim, clock)
        sensor.set_temperature_offset(6.0)
        offset = proto.offset_from_word(proto.offset_to_word(6.0))
        sensor.start_periodic_measurement()
        clock.advance(5.0)
        m = sensor.read_measurement()
        want_t = 23.1 + 4.0 - offset
        assert abs(m.temperature_c - want_t) <= LSB_T / 2 + 1e-9
        assert m.humidity_pct == pytest.approx(rh_at(45.3, 23.1, want_t), abs=LSB_RH)
        assert m.humidity_pct > 45.3

    def test_only_the_latest_sample_is_kept(self) -> None:
        """After a long gap one read returns the latest sample and the buffer is then empty."""
        clock = ManualClock()
        air = [AirSample(400.0 + t, 20.0, 40.0) for t in range(100)]

        class Ramp(ConstantAir):
            def air(self, t: float) -> AirSample:
                return air[round(t)]

        sim = SimulatedSCD41(Ramp(), clock, power_up_s=0.0)
        sensor = SCD41(sim, clock)
        sensor.start_periodic_measurement()
        clock.advance(42.0)
        assert sensor.read_measurement().co2_ppm == 440
        assert not sensor.get_data_ready_status()

    def test_co2_is_clipped_to_range(self) -> None:
        """CO2 above 40000 ppm is reported as 40000."""
        clock = ManualClock()
        sim = SimulatedSCD41(ConstantAir(co2_ppm=55_000), clock, power_up_s=0.0)
        sensor = SCD41(sim, clock)
        sensor.measure_single_shot()
        assert sensor.read_measurement().co2_ppm == 40_000


class TestSettings:
    @pytest.mark.parametrize(
        ("setter", "getter", "value"),
        [
            ("set_temperature_offset", "get_temperature_offset", 5.5),
            ("set_sensor_altitude", "get_sensor_altitude", 450),
            ("set_ambient_pressure", "get_ambient_pressure", 987),
            ("set_automatic_self_calibration_enabled",
             "get_automatic_self_calibration_enabled", False),
            ("set_automatic_self_calibration_target", "get_automatic_self_calibration_target", 420),
            ("set_automatic_self_calibration_initial_period",
             "get_automatic_self_calibration_initial_period", 24),
            ("set_automatic_self_calibration_standard_period",
             "get_automatic_self_calibration_standard_period", 200),
        ],
    )  # fmt: skip
    def test_round_trip(self, setter: str, getter: str, value: float) -> None:
        """Each setting written through the driver reads back equal (offset within one LSB)."""
        sim, clock = make()
        sensor = SCD41(sim, clock)
        getattr(sensor, setter)(value)
        assert getattr(sensor, getter)() == pytest.approx(value, abs=LSB_T)

    def test_reinit_reloads_eeprom(self) -> None:
        """An unpersisted setting is lost on reinit; a persisted one survives reinit and power."""
        sim, clock = make()
        sensor = SCD41(sim, clock)
        sensor.set_sensor_altitude(800)
        sensor.reinit()
        assert sensor.get_sensor_altitude() == 0
        sensor.set_sensor_altitude(800)
        sensor.persist_settings()
        sensor.set_sensor_altitude(100)
        sensor.reinit()
        assert sensor.get_sensor_altitude() == 800
        sim.power_cycle()
        clock.advance(1.0)
        assert sensor.get_sensor_altitude() == 800

    def test_factory_reset_restores_defaults(self) -> None:
        """perform_factory_reset brings back 4 °C, 0 m, ASC on at 400 ppm, 44 h / 156 h."""
        sim, clock = make()
        sensor = SCD41(sim, clock)
        sensor.set_sensor_altitude(800)
        sensor.set_automatic_self_calibration_enabled(False)
        sensor.persist_settings()
        sensor.perform_factory_reset()
        assert sensor.get_sensor_altitude() == 0
        assert sensor.get_automatic_self_calibration_enabled() is True
        assert sensor.get_temperature_offset() == pytest.approx(4.0, abs=LSB_T)
        assert sensor.get_automatic_self_calibration_target() == 400
        assert sensor.get_automatic_self_calibration_initial_period() == 44
        assert sensor.get_automatic_self_calibration_standard_period() == 156

    def test_frc_needs_prior_measurement_then_corrects(self) -> None:
        """FRC before any measurement fails (0xFFFF → error); after one it shifts CO2 to target."""
        sim, clock = make()
        sensor = SCD41(sim, clock)
        with pytest.raises(SensorError, match="0xFFFF"):
            sensor.perform_forced_recalibration(500)
        sensor.start_periodic_measurement()
        clock.advance(5.0)
        sensor.read_measurement()
        sensor.stop_periodic_measurement()
        assert sensor.perform_forced_recalibration(500) == 500 - 612
        sensor.measure_single_shot()
        assert sensor.read_measurement().co2_ppm == 500

    def test_self_test_result_is_reported(self) -> None:
        """A simulator configured with a failing self test makes the driver raise."""
        sim, clock = make(self_test_result=0x0001)
        with pytest.raises(SensorError, match="self test failed"):
            SCD41(sim, clock).perform_self_test()


class TestCleanStart:
    def test_from_a_chip_left_measuring(self) -> None:
        """A chip an earlier process left in periodic mode is brought back to idle."""
        sim, clock = make()
        sim.transceive(0x62, h("21b1"), None, 0, 0.1)
        SCD41(sim, clock).clean_start(Scd41Config())
        assert sim.state == "idle"

    def test_from_power_down(self) -> None:
        """A sleeping chip is woken (its missing ACK ignored) and configured."""
        sim, clock = make()
        sim.transceive(0x62, h("36e0"), None, 0, 0.1)
        info = SCD41(sim, clock).clean_start(Scd41Config(altitude_m=100))
        assert sim.state == "idle" and info.changed == ("altitude",)

    def test_persists_only_when_a_setting_changed(self) -> None:
        """The first start with new settings persists once; later starts write no EEPROM."""
        sim, clock = make()
        sensor = SCD41(sim, clock)
        config = Scd41Config(temperature_offset_c=5.0, altitude_m=250, asc_enabled=False)
        first = sensor.clean_start(config)
        assert first.persisted and set(first.changed) == {
            "temperature_offset", "altitude", "asc_enabled"
        }  # fmt: skip
        assert sim.eeprom_writes == 1
        second = sensor.clean_start(config)
        assert not second.persisted and sim.eeprom_writes == 1
        assert sensor.get_sensor_altitude() == 250

    def test_default_config_on_a_new_chip_writes_nothing(self) -> None:
        """A factory-fresh chip already matches the default config: no EEPROM write."""
        sim, clock = make()
        assert not SCD41(sim, clock).clean_start(Scd41Config()).persisted
        assert sim.eeprom_writes == 0

    def test_ambient_pressure_is_set_not_persisted(self) -> None:
        """A configured pressure is applied after every start and does not wear the EEPROM."""
        sim, clock = make()
        sensor = SCD41(sim, clock)
        sensor.clean_start(Scd41Config(ambient_pressure_hpa=950))
        assert sensor.get_ambient_pressure() == 950 and sim.eeprom_writes == 0

    def test_waits_one_second_after_power_up(self) -> None:
        """On a freshly powered chip the clean start waits out the 1 s boot and succeeds."""
        clock = ManualClock()
        sim = SimulatedSCD41(ConstantAir(), clock)
        SCD41(sim, clock).clean_start(Scd41Config())
        assert sim.state == "idle" and clock.monotonic() >= 1.0
