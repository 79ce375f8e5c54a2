"""SCD41 CO2 / temperature / humidity driver over a sensirion-i2c-driver transceiver.

The transport is passed in (``edge.types.I2cTransceiver``): on a Pi
``open_linux_transceiver("/dev/i2c-1")``, in tests ``edge.sim.scd41.SimulatedSCD41``.
This module owns only the byte protocol; the command table and conversions are in
``edge.sensors.scd41_commands``. Every method that touches the bus is an explicit method.

Timing: a command that returns data is one ``transceive`` call whose ``read_delay`` is the
command's Wait (write, wait, read: the transceiver waits, on hardware in real time). A
write-only command is a ``transceive`` with ``read_delay=0`` followed by a wait of the
command's Wait on the injected clock. Give the driver and a simulator the same clock.

    sensor = SCD41(open_linux_transceiver("/dev/i2c-1"))        # on a Pi
    sensor = SCD41(SimulatedSCD41(StaticRoom(), clock), clock)  # anywhere
    sensor.clean_start(config.sensors.scd41)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from edge.clock import Clock, SystemClock
from edge.config.sensors import Scd41Config
from edge.errors import BusError, SensorError, SensorSetupError
from edge.sensors import scd41_commands as proto
from edge.sensors.scd41_commands import COMMANDS, SENSOR, Command
from edge.types import I2cTransceiver

log = logging.getLogger(__name__)

POWER_UP_S = 1.0  # the chip is idle 1000 ms after VDD reaches 2.25 V (datasheet §3.1)
TIMEOUT_S = 0.1  # clock-stretching timeout handed to the transceiver (Linux ignores it)
STATUS_TEXT = {0: "OK", 1: "channel disabled", 2: "NACK", 3: "timeout", 4: "I/O error"}
VARIANT_MASK = 0xF000
VARIANTS = {0x0000: "SCD40", 0x1000: "SCD41", 0x2000: "SCD42", 0x5000: "SCD43"}


@dataclass(frozen=True, slots=True)
class Measurement:
    """One read_measurement reply, in physical units."""

    co2_ppm: int
    temperature_c: float
    humidity_pct: float


@dataclass(frozen=True, slots=True)
class StartInfo:
    """What ``clean_start`` found and did."""

    serial_number: int
    changed: tuple[str, ...]
    persisted: bool


def _check_range(name: str, value: float, low: float, high: float, unit: str) -> None:
    if not low <= value <= high:
        raise ValueError(f"SCD41 {name} must be {low}…{high} {unit}, got {value}")


class SCD41:
    """The SCD41 (and SCD40 for the commands it has) on one I2C address.

    :param transceiver: a sensirion-i2c-driver API v1 transceiver.
    :param clock: where write-only commands wait their execution time (``SystemClock``).
    :param address: 7-bit I2C address; the chip's is fixed at 0x62.
    """

    def __init__(
        self,
        transceiver: I2cTransceiver,
        clock: Clock | None = None,
        address: int = proto.DEFAULT_ADDRESS,
    ) -> None:
        if getattr(transceiver, "API_VERSION", None) != 1:
            raise TypeError("SCD41 needs a sensirion-i2c-driver transceiver with API_VERSION 1")
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"a 7-bit I2C address is 0x03…0x77, got 0x{address:02X}")
        self.transceiver = transceiver
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.address = address

    # ---------------------------------------------------------------- the byte layer

    def execute(self, command: Command, *words: int) -> tuple[int, ...]:
        """Send ``command`` with its argument words and return the words it answers.

        :raises BusError: the transceiver reports a NACK, timeout or I/O error, or a short read
            (``wake_up``'s missing ACK is expected and ignored).
        :raises CrcError: a word read back has a bad CRC.
        :raises ValueError: wrong number of words or a word out of 0…0xFFFF.
        """
        tx = proto.encode(command, words)
        rx_length = command.rx_length
        read_delay = command.wait_s if rx_length else 0.0
        status, error, rx = self.transceiver.transceive(
            self.address, tx, rx_length, read_delay, TIMEOUT_S
        )
        if status != 0 and command.acks:
            raise BusError(
                SENSOR,
                f"{command.name} (0x{command.code:04X}) at 0x{self.address:02X} failed: "
                f"{STATUS_TEXT.get(status, f'status {status}')} ({error})",
            ) from error
        if rx_length is None:
            self.clock.sleep(command.wait_s)
            return ()
        if len(rx) != rx_length:
            raise BusError(SENSOR, f"{command.name}: read {len(rx)} bytes, expected {rx_length}")
        return proto.unpack_words(rx, command.name)

    def _get(self, name: str) -> int:
        return self.execute(COMMANDS[name])[0]

    def _set(self, name: str, word: int) -> None:
        self.execute(COMMANDS[name], word)

    # ------------------------------------------------------------ measurement commands

    def wake_up(self) -> None:
        """Wake the chip from power-down (it never ACKs this; the status is ignored)."""
        self.execute(COMMANDS["wake_up"])

    def power_down(self) -> None:
        """Put the idle chip to sleep (SCD41 only); only ``wake_up`` answers afterwards."""
        self.execute(COMMANDS["power_down"])

    def start_periodic_measurement(self) -> None:
        """Start measuring every 5 s."""
        self.execute(COMMANDS["start_periodic_measurement"])

    def start_low_power_periodic_measurement(self) -> None:
        """Start measuring every ≈30 s."""
        self.execute(COMMANDS["start_low_power_periodic_measurement"])

    def stop_periodic_measurement(self) -> None:
        """Return to idle from either periodic mode (waits 500 ms)."""
        self.execute(COMMANDS["stop_periodic_measurement"])

    def measure_single_shot(self) -> None:
        """Take one measurement now (SCD41 only; waits 5 s, then the data is ready)."""
        self.execute(COMMANDS["measure_single_shot"])

    def measure_single_shot_rht_only(self) -> None:
        """Take one temperature/humidity measurement (CO2 reads 0; waits 50 ms)."""
        self.execute(COMMANDS["measure_single_shot_rht_only"])

    def get_data_ready_status(self) -> bool:
        """Whether a new measurement waits to be read (``word & 0x07FF != 0``)."""
        return proto.data_ready(self._get("get_data_ready_status"))

    def read_measurement(self) -> Measurement:
        """Read (and so empty) the measurement buffer.

        :raises BusError: no new data (the chip NACKs) or a bus fault.
        :raises CrcError: a word arrived corrupted.
        """
        co2, t, rh = self.execute(COMMANDS["read_measurement"])
        return Measurement(
            co2_ppm=proto.co2_from_word(co2),
            temperature_c=proto.temperature_from_word(t),
            humidity_pct=proto.humidity_from_word(rh),
        )

    # ---------------------------------------------------------------------- settings

    def set_temperature_offset(self, celsius: float) -> None:
        """Set the self-heating offset the chip subtracts (0…20 °C; default 4 °C).

        :raises ValueError: outside 0…20 °C.
        """
        _check_range("temperature offset", celsius, 0.0, 20.0, "°C")
        self._set("set_temperature_offset", proto.offset_to_word(celsius))

    def get_temperature_offset(self) -> float:
        """The temperature offset in °C."""
        return proto.offset_from_word(self._get("get_temperature_offset"))

    def set_sensor_altitude(self, metres: int) -> None:
        """Set the altitude used for pressure compensation (0…3000 m).

        :raises ValueError: outside 0…3000 m.
        """
        _check_range("altitude", metres, 0, 3000, "m")
        self._set("set_sensor_altitude", int(metres))

    def get_sensor_altitude(self) -> int:
        """The altitude in m."""
        return self._get("get_sensor_altitude")

    def set_ambient_pressure(self, hpa: int) -> None:
        """Set the ambient pressure (700…1200 hPa); allowed while measuring; overrides altitude.

        :raises ValueError: outside 700…1200 hPa.
        """
        _check_range("ambient pressure", hpa, 700, 1200, "hPa")
        self._set("set_ambient_pressure", int(hpa))

    def get_ambient_pressure(self) -> int:
        """The ambient pressure in hPa."""
        return self._get("get_ambient_pressure")

    def perform_forced_recalibration(self, target_ppm: int) -> int:
        """Recalibrate to ``target_ppm`` (idle, after ≥3 min of measuring); returns the correction.

        :raises ValueError: target outside 0…40000 ppm.
        :raises SensorError: the chip answers 0xFFFF (FRC failed: it was not measuring before).
        """
        _check_range("FRC target", target_ppm, 0, 40_000, "ppm")
        word = self.execute(COMMANDS["perform_forced_recalibration"], int(target_ppm))[0]
        if word == proto.FRC_FAILED:
            raise SensorError(
                SENSOR, "forced recalibration failed (0xFFFF): measure ≥3 min, stop, then retry"
            )
        return proto.frc_correction(word)

    def set_automatic_self_calibration_enabled(self, enabled: bool) -> None:
        """Enable or disable ASC."""
        self._set("set_automatic_self_calibration_enabled", int(bool(enabled)))

    def get_automatic_self_calibration_enabled(self) -> bool:
        """Whether ASC is enabled."""
        return self._get("get_automatic_self_calibration_enabled") != 0

    def set_automatic_self_calibration_target(self, ppm: int) -> None:
        """Set the ASC baseline (default 400 ppm; 0…40000).

        :raises ValueError: outside 0…40000 ppm.
        """
        _check_range("ASC target", ppm, 0, 40_000, "ppm")
        self._set("set_automatic_self_calibration_target", int(ppm))

    def get_automatic_self_calibration_target(self) -> int:
        """The ASC baseline in ppm."""
        return self._get("get_automatic_self_calibration_target")

    def _check_period(self, hours: int) -> None:
        _check_range("ASC period", hours, 0, 65532, "h")
        if hours % 4:
            raise ValueError(f"an SCD41 ASC period is a multiple of 4 h, got {hours}")

    def set_automatic_self_calibration_initial_period(self, hours: int) -> None:
        """Set the ASC initial period (multiple of 4 h; default 44).

        :raises ValueError: negative, too large or not a multiple of 4.
        """
        self._check_period(hours)
        self._set("set_automatic_self_calibration_initial_period", int(hours))

    def get_automatic_self_calibration_initial_period(self) -> int:
        """The ASC initial period in hours."""
        return self._get("get_automatic_self_calibration_initial_period")

    def set_automatic_self_calibration_standard_period(self, hours: int) -> None:
        """Set the ASC standard period (multiple of 4 h; default 156).

        :raises ValueError: negative, too large or not a multiple of 4.
        """
        self._check_period(hours)
        self._set("set_automatic_self_calibration_standard_period", int(hours))

    def get_automatic_self_calibration_standard_period(self) -> int:
        """The ASC standard period in hours."""
        return self._get("get_automatic_self_calibration_standard_period")

    # ---------------------------------------------------------------------- service

    def persist_settings(self) -> None:
        """Write the settings to EEPROM (≥2000 cycles: only after a change; waits 800 ms)."""
        self.execute(COMMANDS["persist_settings"])

    def reinit(self) -> None:
        """Reload the settings from EEPROM (idle only; waits 30 ms)."""
        self.execute(COMMANDS["reinit"])

    def get_serial_number(self) -> int:
        """The 48-bit serial number: (w0 << 32) | (w1 << 16) | w2."""
        w0, w1, w2 = self.execute(COMMANDS["get_serial_number"])
        return (w0 << 32) | (w1 << 16) | w2

    def perform_self_test(self) -> None:
        """Run the built-in self test (waits 10 s).

        :raises SensorError: the chip reports a malfunction (non-zero word).
        """
        word = self._get("perform_self_test")
        if word != 0:
            raise SensorError(SENSOR, f"self test failed: the chip answered 0x{word:04X}")

    def perform_factory_reset(self) -> None:
        """Reset EEPROM settings and the FRC/ASC history (waits 1.2 s)."""
        self.execute(COMMANDS["perform_factory_reset"])

    def get_sensor_variant(self) -> str:
        """The variant, "SCD40"/"SCD41"/"SCD42"/"SCD43" (from the word's top nibble)."""
        word = self._get("get_sensor_variant")
        return VARIANTS.get(word & VARIANT_MASK, f"unknown (0x{word:04X})")

    # -------------------------------------------------------------------- clean start

    def clean_start(self, config: Scd41Config, *, after_power_up: bool = True) -> StartInfo:
        """Bring the chip from any state to idle and configured (sensors.md §1.4).

        wait 1 s after power-up (if ``after_power_up``) → wake_up (no ACK) → stop (500 ms)
        → reinit → serial number → set each setting that differs → persist only if one
        did → ambient pressure if configured (volatile). Does not start measuring.

        :raises BusError, CrcError: the chip does not answer properly.
        """
        if after_power_up:
            self.clock.sleep(POWER_UP_S)
        self.wake_up()
        self.stop_periodic_measurement()
        self.reinit()
        serial = self.get_serial_number()
        changed: list[str] = []
        want_offset = proto.offset_to_word(config.temperature_offset_c)
        if self._get("get_temperature_offset") != want_offset:
            self._set("set_temperature_offset", want_offset)
            changed.append("temperature_offset")
        if self.get_sensor_altitude() != config.altitude_m:
            self.set_sensor_altitude(config.altitude_m)
            changed.append("altitude")
        if self.get_automatic_self_calibration_enabled() != config.asc_enabled:
            self.set_automatic_self_calibration_enabled(config.asc_enabled)
            changed.append("asc_enabled")
        if changed:
            self.persist_settings()
            log.info("SCD41 %012X: persisted changed settings %s", serial, ", ".join(changed))
        if config.ambient_pressure_hpa is not None:
            self.set_ambient_pressure(config.ambient_pressure_hpa)
        log.debug("SCD41 %012X: clean start done", serial)
        return StartInfo(serial_number=serial, changed=tuple(changed), persisted=bool(changed))


# ------------------------------------------------------------------------- Linux adapter


def setup_error(path: str, err: BaseException) -> SensorSetupError:
    """The ``SensorSetupError`` for failing to open ``path`` with ``err``, with how to fix it."""
    if isinstance(err, ImportError):
        return SensorSetupError(
            SENSOR,
            "the sensirion-i2c-driver library is not installed",
            "install it with: pip install 'firedetect[pi]'",
        )
    if isinstance(err, FileNotFoundError):
        return SensorSetupError(
            SENSOR,
            f"{path} does not exist",
            "enable I2C with `sudo raspi-config` → Interface Options → I2C, then reboot",
        )
    if isinstance(err, PermissionError):
        return SensorSetupError(
            SENSOR,
            f"no permission to open {path}",
            "add the user to group i2c (`sudo usermod -aG i2c $USER`) and log in again",
        )
    return SensorSetupError(SENSOR, f"cannot open {path}: {err}", "check the wiring and the bus")


def open_linux_transceiver(path: str = "/dev/i2c-1") -> I2cTransceiver:
    """Open the Linux I2C bus ``path`` as a sensirion-i2c-driver transceiver (lazy import).

    :raises SensorSetupError: the library is missing, the node does not exist, or no permission.
    """
    try:
        from sensirion_i2c_driver import LinuxI2cTransceiver
    except ImportError as err:
        raise setup_error(path, err) from err
    if not os.path.exists(path):
        raise setup_error(path, FileNotFoundError(path))
    try:
        transceiver: I2cTransceiver = LinuxI2cTransceiver(path)
    except OSError as err:
        raise setup_error(path, err) from err
    return transceiver
