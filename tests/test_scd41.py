"""SCD41 driver: golden bytes on the wire for every command, decoding, errors, Linux setup.

Vectors: sensors.md §1.1/§1.3 (datasheet 0xBEEF → 0x92, the 500 ppm / 25.003 °C / 37.002 %RH
reply, the CRCs listed there). CRCs of other words were computed with the vendor's
``CrcCalculator(8, 0x31, 0xFF, 0)`` and are written out here as literals.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.config.sensors import Scd41Config
from edge.errors import BusError, CrcError, SensorError, SensorSetupError
from edge.sensors import scd41_commands as proto
from edge.sensors.scd41 import SCD41, Measurement, open_linux_transceiver, setup_error
from edge.sim.clock import ManualClock
from tests.conftest import Scd41Rig


class Recorder:
    """A transceiver that records every call and answers scripted replies."""

    API_VERSION = 1
    channel_count: int | None = None
    description = "recorder"

    def __init__(self, *replies: bytes, status: int = 0, error: Exception | None = None) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[int, bytes | None, int | None, float]] = []
        self.status = status
        self.error = error

    def transceive(
        self,
        slave_address: int,
        tx_data: bytes | None,
        rx_length: int | None,
        read_delay: float,
        timeout: float,
    ) -> tuple[int, Exception | None, bytes]:
        self.calls.append((slave_address, tx_data, rx_length, read_delay))
        if self.status:
            return self.status, self.error, b""
        return 0, None, self.replies.pop(0) if rx_length else b""


def make(*replies: bytes, **kw: Any) -> tuple[SCD41, Recorder, ManualClock]:
    rec, clock = Recorder(*replies, **kw), ManualClock()
    return SCD41(rec, clock), rec, clock


h = bytes.fromhex

# (id, method, args, tx bytes, reply or None, result, read_delay s, clock wait after s)
GOLDEN: list[tuple[str, str, tuple[Any, ...], bytes, bytes | None, Any, float, float]] = [
    ("start_periodic", "start_periodic_measurement", (), h("21b1"), None, None, 0, 0),
    ("start_low_power", "start_low_power_periodic_measurement", (), h("21ac"), None, None, 0, 0),
    ("stop", "stop_periodic_measurement", (), h("3f86"), None, None, 0, 0.5),
    ("single_shot", "measure_single_shot", (), h("219d"), None, None, 0, 5.0),
    ("rht_only", "measure_single_shot_rht_only", (), h("2196"), None, None, 0, 0.05),
    ("power_down", "power_down", (), h("36e0"), None, None, 0, 0.001),
    ("wake_up", "wake_up", (), h("36f6"), None, None, 0, 0.03),
    ("persist", "persist_settings", (), h("3615"), None, None, 0, 0.8),
    ("reinit", "reinit", (), h("3646"), None, None, 0, 0.03),
    ("factory_reset", "perform_factory_reset", (), h("3632"), None, None, 0, 1.2),
    ("ready", "get_data_ready_status", (), h("e4b8"), h("800604"), True, 0.001, 0),
    ("not_ready", "get_data_ready_status", (), h("e4b8"), h("8000a2"), False, 0.001, 0),
    (
        "read_measurement",
        "read_measurement",
        (),
        h("ec05"),
        h("01f4336667a25eb93c"),
        Measurement(500, pytest.approx(25.003, abs=5e-4), pytest.approx(37.002, abs=5e-4)),
        0.001,
        0,
    ),
    ("set_offset", "set_temperature_offset", (4.0,), h("241d05da29"), None, None, 0, 0.001),
    (
        "get_offset",
        "get_temperature_offset",
        (),
        h("2318"),
        h("05da29"),
        pytest.approx(4.0, abs=2e-3),
        0.001,
        0,
    ),
    ("set_altitude", "set_sensor_altitude", (0,), h("2427000081"), None, None, 0, 0.001),
    ("get_altitude", "get_sensor_altitude", (), h("2322"), h("0bb89d"), 3000, 0.001, 0),
    ("set_pressure", "set_ambient_pressure", (1013,), h("e00003f5db"), None, None, 0, 0.001),
    ("get_pressure", "get_ambient_pressure", (), h("e000"), h("03f5db"), 1013, 0.001, 0),
    ("frc", "perform_forced_recalibration", (2022,), h("362f07e648"), h("8010e1"), 16, 0.4, 0),
    (
        "set_asc",
        "set_automatic_self_calibration_enabled",
        (True,),
        h("24160001b0"),
        None,
        None,
        0,
        0.001,
    ),
    (
        "get_asc",
        "get_automatic_self_calibration_enabled",
        (),
        h("2313"),
        h("000081"),
        False,
        0.001,
        0,
    ),
    (
        "set_target",
        "set_automatic_self_calibration_target",
        (400,),
        h("243a01904c"),
        None,
        None,
        0,
        0.001,
    ),
    (
        "get_target",
        "get_automatic_self_calibration_target",
        (),
        h("233f"),
        h("01f433"),
        500,
        0.001,
        0,
    ),
    (
        "serial",
        "get_serial_number",
        (),
        h("3682"),
        h("01f4336667a25eb93c"),
        0x01F4_6667_5EB9,
        0.001,
        0,
    ),
    ("self_test", "perform_self_test", (), h("3639"), h("000081"), None, 10.0, 0),
    ("variant_41", "get_sensor_variant", (), h("202f"), h("144051"), "SCD41", 0.001, 0),
    ("variant_40", "get_sensor_variant", (), h("202f"), h("000081"), "SCD40", 0.001, 0),
    (
        "set_initial",
        "set_automatic_self_calibration_initial_period",
        (44,),
        h("2445002c7a"),
        None,
        None,
        0,
        0.001,
    ),
    (
        "get_initial",
        "get_automatic_self_calibration_initial_period",
        (),
        h("2340"),
        h("002c7a"),
        44,
        0.001,
        0,
    ),
    (
        "set_standard",
        "set_automatic_self_calibration_standard_period",
        (156,),
        h("244e009cc5"),
        None,
        None,
        0,
        0.001,
    ),
    (
        "get_standard",
        "get_automatic_self_calibration_standard_period",
        (),
        h("234b"),
        h("009cc5"),
        156,
        0.001,
        0,
    ),
]


class TestCrc:
    def test_datasheet_vector(self) -> None:
        """The datasheet's CRC example 0xBEEF gives 0x92."""
        assert proto.crc8(h("beef")) == 0x92

    @pytest.mark.parametrize(
        ("word", "crc"),
        [(0x0000, 0x81), (0x0001, 0xB0), (0x01F4, 0x33), (0x6667, 0xA2), (0x5EB9, 0x3C),
         (0x8000, 0xA2), (0x8006, 0x04), (0x05DA, 0x29), (0x07E6, 0x48), (0x03F5, 0xDB)],
    )  # fmt: skip
    def test_reference_vectors(self, word: int, crc: int) -> None:
        """Every CRC listed in sensors.md §1.1 is reproduced."""
        assert proto.pack_words([word]) == bytes((word >> 8, word & 0xFF, crc))

    def test_bad_crc_names_word_and_both_values(self) -> None:
        """A corrupted CRC byte raises CrcError naming the word and expected/received CRCs."""
        with pytest.raises(CrcError, match=r"word 1 \(6667\) has CRC 0xA3, expected 0xA2"):
            proto.unpack_words(h("01f4336667a35eb93c"))


class TestCommandTable:
    def test_every_command_has_a_golden_test(self) -> None:
        """The golden list below exercises every code in the command table."""
        golden_codes = {int.from_bytes(g[3][:2], "big") for g in GOLDEN}
        assert {c.code for c in proto.COMMANDS.values()} == golden_codes

    def test_lookup_tells_pressure_get_from_set(self) -> None:
        """0xE000 with one word is set_ambient_pressure, without words get_ambient_pressure."""
        assert proto.lookup(0xE000, 1) is proto.COMMANDS["set_ambient_pressure"]
        assert proto.lookup(0xE000, 0) is proto.COMMANDS["get_ambient_pressure"]
        assert proto.lookup(0x1234, 0) is None


class TestGoldenBytes:
    @pytest.mark.parametrize(
        ("method", "args", "tx", "reply", "result", "read_delay", "wait"),
        [g[1:] for g in GOLDEN],
        ids=[g[0] for g in GOLDEN],
    )
    def test_command_bytes(
        self,
        method: str,
        args: tuple[Any, ...],
        tx: bytes,
        reply: bytes | None,
        result: Any,
        read_delay: float,
        wait: float,
    ) -> None:
        """Each command writes exactly its bytes to 0x62, reads 3 bytes a word, waits its Wait."""
        sensor, rec, clock = make(*([reply] if reply else []))
        assert getattr(sensor, method)(*args) == result
        rx_length = len(reply) if reply else None
        assert rec.calls == [(0x62, tx, rx_length, pytest.approx(read_delay))]
        assert clock.monotonic() == pytest.approx(wait)

    def test_byte_trace_of_a_run(self) -> None:
        """serial → set offset → start → data ready → read gives the trace of sensors.md §1.3."""
        sensor, rec, _ = make(h("01f4336667a25eb93c"), h("800604"), h("01f4336667a25eb93c"))
        sensor.get_serial_number()
        sensor.set_temperature_offset(4.0)
        sensor.start_periodic_measurement()
        assert sensor.get_data_ready_status()
        sensor.read_measurement()
        assert [(c[1], c[2]) for c in rec.calls] == [
            (h("3682"), 9), (h("241d05da29"), None), (h("21b1"), None),
            (h("e4b8"), 3), (h("ec05"), 9),
        ]  # fmt: skip


class TestErrors:
    def test_bad_crc_in_reply_raises(self) -> None:
        """A measurement whose last CRC is wrong raises CrcError, not a wrong reading."""
        sensor, _, _ = make(h("01f4336667a25eb93d"))
        with pytest.raises(CrcError, match="read_measurement: word 2"):
            sensor.read_measurement()

    @pytest.mark.parametrize("status", [2, 3, 4])
    def test_nack_raises_bus_error_with_cause(self, status: int) -> None:
        """A NACK, timeout or I/O error raises BusError naming the command, chained to the cause."""
        cause = OSError(121, "Remote I/O error")
        sensor, _, _ = make(status=status, error=cause)
        with pytest.raises(BusError, match=r"read_measurement \(0xEC05\) at 0x62") as exc:
            sensor.read_measurement()
        assert exc.value.__cause__ is cause

    def test_wake_up_nack_is_ignored(self) -> None:
        """wake_up never ACKs, so its NACK is not an error (and its 30 ms are still waited)."""
        sensor, _, clock = make(status=2, error=OSError(121, "x"))
        sensor.wake_up()
        assert clock.monotonic() == pytest.approx(0.03)

    def test_short_read_is_a_bus_error(self) -> None:
        """A reply shorter than asked for is a BusError, not an IndexError."""
        sensor, _, _ = make(h("800604"))
        with pytest.raises(BusError, match="read 3 bytes, expected 9"):
            sensor.read_measurement()

    def test_frc_failure_raises(self) -> None:
        """A forced-recalibration reply of 0xFFFF raises SensorError."""
        sensor, _, _ = make(h("ffffac"))
        with pytest.raises(SensorError, match="forced recalibration failed"):
            sensor.perform_forced_recalibration(400)

    def test_self_test_failure_raises(self) -> None:
        """A non-zero self-test word raises SensorError with the word."""
        sensor, _, _ = make(h("0001b0"))
        with pytest.raises(SensorError, match="0x0001"):
            sensor.perform_self_test()

    @pytest.mark.parametrize(
        ("call", "match"),
        [
            (lambda s: s.set_temperature_offset(25.0), "temperature offset must be 0.0…20.0"),
            (lambda s: s.set_temperature_offset(-1.0), "temperature offset"),
            (lambda s: s.set_sensor_altitude(3001), "altitude must be 0…3000 m"),
            (lambda s: s.set_ambient_pressure(600), "ambient pressure must be 700…1200 hPa"),
            (lambda s: s.set_ambient_pressure(1300), "ambient pressure"),
            (lambda s: s.perform_forced_recalibration(-1), "FRC target"),
            (lambda s: s.set_automatic_self_calibration_target(50_000), "ASC target"),
            (lambda s: s.set_automatic_self_calibration_initial_period(45), "multiple of 4"),
            (lambda s: s.set_automatic_self_calibration_standard_period(-4), "ASC period"),
        ],
    )
    def test_out_of_range_argument_sends_nothing(
        self, call: Callable[[SCD41], Any], match: str
    ) -> None:
        """An out-of-range setting raises ValueError naming it and the range, before any I/O."""
        sensor, rec, _ = make()
        with pytest.raises(ValueError, match=match):
            call(sensor)
        assert rec.calls == []

    def test_transceiver_must_be_api_v1(self) -> None:
        """Something that is not an API v1 transceiver is refused with TypeError."""
        with pytest.raises(TypeError, match="API_VERSION 1"):
            SCD41(object(), ManualClock())  # type: ignore[arg-type]


class TestConversions:
    def test_datasheet_formulas(self) -> None:
        """Words convert with T = −45 + 175·w/65535 and RH = 100·w/65535."""
        assert proto.temperature_from_word(0) == -45.0
        assert proto.temperature_from_word(0xFFFF) == 130.0
        assert proto.humidity_from_word(0xFFFF) == 100.0
        assert proto.offset_to_word(4.0) == 0x05DA

    @given(st.floats(min_value=-45.0, max_value=130.0))
    def test_temperature_round_trip_within_half_lsb(self, celsius: float) -> None:
        """Quantising a temperature and converting back errs by at most half an LSB."""
        back = proto.temperature_from_word(proto.temperature_to_word(celsius))
        assert abs(back - celsius) <= 175.0 / 65535.0 / 2 + 1e-9

    @pytest.mark.parametrize(("word", "ready"), [(0x8000, False), (0x8006, True), (0x0001, True)])
    def test_data_ready_rule(self, word: int, ready: bool) -> None:
        """Data is ready iff the low 11 bits are not all zero."""
        assert proto.data_ready(word) is ready


class TestLinuxSetup:
    def test_missing_device_node_says_enable_i2c(self, tmp_path: Path) -> None:
        """A bus node that does not exist points at raspi-config."""
        with pytest.raises(SensorSetupError, match=r"i2c-9 does not exist.*raspi-config"):
            open_linux_transceiver(str(tmp_path / "i2c-9"))

    def test_missing_library_says_install_pi_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without sensirion-i2c-driver the error says to install firedetect[pi]."""
        monkeypatch.setitem(sys.modules, "sensirion_i2c_driver", None)
        with pytest.raises(SensorSetupError, match=r"firedetect\[pi\]"):
            open_linux_transceiver("/dev/i2c-1")

    def test_permission_error_says_join_group_i2c(self) -> None:
        """A permission error is explained with the i2c group (root cannot provoke it here)."""
        err = setup_error("/dev/i2c-1", PermissionError(13, "Permission denied"))
        assert "group i2c" in err.hint and "/dev/i2c-1" in str(err)

    def test_opens_an_existing_node(self, tmp_path: Path) -> None:
        """An existing node opens as a LinuxI2cTransceiver (lazily imported)."""
        node = tmp_path / "i2c-1"
        node.write_bytes(b"")
        transceiver = open_linux_transceiver(str(node))
        assert transceiver.API_VERSION == 1 and transceiver.channel_count is None
        transceiver.close()  # type: ignore[attr-defined]


class TestOnTheRig:
    """Runs on the simulator, or on the real chip with ``--i2c-bus /dev/i2c-1``."""

    def test_clean_start_reaches_idle_and_reads_serial(self, scd41_rig: Scd41Rig) -> None:
        """A clean start from any state returns the serial number and leaves the chip idle."""
        sensor = SCD41(scd41_rig.transceiver, scd41_rig.clock)
        info = sensor.clean_start(Scd41Config())
        assert 0 < info.serial_number < 1 << 48
        assert sensor.get_serial_number() == info.serial_number  # idle: serial is allowed
        assert sensor.get_sensor_variant() in {"SCD40", "SCD41"}

    def test_periodic_reading_is_plausible(self, scd41_rig: Scd41Rig) -> None:
        """After start, data becomes ready within 3 intervals and decodes to room values."""
        sensor = SCD41(scd41_rig.transceiver, scd41_rig.clock)
        sensor.clean_start(Scd41Config())
        sensor.start_periodic_measurement()
        t0 = scd41_rig.clock.monotonic()
        while not sensor.get_data_ready_status():
            assert scd41_rig.clock.monotonic() - t0 < 15.0
            scd41_rig.clock.sleep(0.5)
        m = sensor.read_measurement()
        sensor.stop_periodic_measurement()
        assert 300 <= m.co2_ppm <= 5000
        assert -10.0 < m.temperature_c < 50.0 and 0.0 <= m.humidity_pct <= 100.0

    @pytest.mark.hardware
    def test_real_self_test_passes(self, scd41_rig: Scd41Rig) -> None:
        """The real chip's 10 s self test reports no malfunction."""
        if scd41_rig.sim is not None:
            pytest.skip("needs the real chip: pass --i2c-bus /dev/i2c-1")
        sensor = SCD41(scd41_rig.transceiver, scd41_rig.clock)
        sensor.clean_start(Scd41Config())
        sensor.perform_self_test()
