"""A byte-level SCD41: a sensirion-i2c-driver transceiver that behaves like the chip.

``SimulatedSCD41(scene, clock)`` answers at address 0x62 with real bytes and CRCs, checks the
CRC of every word it receives (a bad one is NACKed), keeps the chip's state machine
(booting → idle ⇄ periodic / low-power periodic / single shot / power-down), NACKs commands
that are not allowed while measuring and commands sent while the previous one still runs, and
measures the scene's air on the 5 s / 30 s / 5 s-single-shot cadence of the injected clock.
``read_delay`` is spent on that clock (``clock.sleep``), never as a real sleep unless the
clock is a real or scaled one, and so is each transfer's bus time at ``bus_hz`` (100 kHz: 9
bit times per byte, the address byte included). Give the driver the same clock.

Temperature: the element sits ``self_heating_c`` (default 4 °C) above the scene's air, and the
chip subtracts its temperature offset (default 4 °C), so a default chip reports the scene's
air temperature. Humidity is recomputed at the reported temperature (Magnus), as the chip
does. Pressure and altitude do not change the simulated CO2 **(simplification)**.

Fault injection: ``nack(n)``, ``corrupt_crc(n)``, ``stall_data_ready(clears_on_reinit)``
(esphome #2832), ``disappear()`` / ``reappear()``, ``power_cycle()``, ``clear_faults()``,
``inject_co2(*ppm)`` (the next samples' CO2 words: an outlier, a 0-ppm dropout).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from typing import Literal

from edge.clock import Clock
from edge.errors import CrcError
from edge.sensors import scd41_commands as proto
from edge.sensors.scd41_commands import Command
from edge.sim.scene import Scene

State = Literal["booting", "idle", "periodic", "low_power", "single_shot", "sleep"]
Result = tuple[int, Exception | None, bytes]

STATUS_OK, STATUS_NACK, STATUS_OTHER = 0, 2, 4
NOT_READY, READY = 0x8000, 0x8006
PERIODIC_S, LOW_POWER_S, SINGLE_SHOT_S, RHT_ONLY_S = 5.0, 30.0, 5.0, 0.05
DEFAULT_PRESSURE_HPA = 1013
VARIANT_WORDS = {"SCD40": 0x0440, "SCD41": 0x1440}
SCD41_ONLY = {
    "measure_single_shot",
    "measure_single_shot_rht_only",
    "power_down",
    "wake_up",
}


def _nack() -> Result:
    return STATUS_NACK, OSError(121, "Remote I/O error (NACK)"), b""


def _read_nack() -> Result:
    return STATUS_OTHER, OSError(121, "Remote I/O error"), b""


def _psat_hpa(celsius: float) -> float:
    # Magnus formula over water (Sonntag 1990 constants).
    return 6.112 * math.exp(17.62 * celsius / (243.12 + celsius))


@dataclass(frozen=True, slots=True)
class Settings:
    """The chip's settings: one copy in RAM, one in EEPROM (words as on the wire)."""

    temperature_offset: int = 0x05DA  # 4 °C
    altitude_m: int = 0
    asc_enabled: int = 1
    asc_target_ppm: int = 400
    asc_initial_period_h: int = 44
    asc_standard_period_h: int = 156


class SimulatedSCD41:
    """The SCD41 (or SCD40) as a sensirion-i2c-driver API v1 transceiver.

    :param scene: what the chip senses (``scene.air(t)`` at every measurement instant).
    :param clock: the simulation clock; ``read_delay`` and execution times are spent on it.
    :param serial_number: the 48-bit serial the chip reports.
    :param variant: "SCD41" (default) or "SCD40" (no single shot, power-down or wake-up).
    :param power_up_s: the chip NACKs everything for this long after construction.
    :param self_heating_c: how much warmer the element is than the scene's air.
    :param self_test_result: the word ``perform_self_test`` answers (0 = OK).
    :param bus_hz: the I2C clock; each byte (8 bits + ACK) takes 9 / ``bus_hz`` s on ``clock``.
    """

    API_VERSION = 1
    channel_count: int | None = None

    def __init__(
        self,
        scene: Scene,
        clock: Clock,
        *,
        address: int = proto.DEFAULT_ADDRESS,
        serial_number: int = 0x9A3B_1C2D_0E4F,
        variant: Literal["SCD40", "SCD41"] = "SCD41",
        power_up_s: float = 1.0,
        self_heating_c: float = 4.0,
        self_test_result: int = 0,
        bus_hz: float = 100_000.0,
    ) -> None:
        if not 0 <= serial_number < 1 << 48:
            raise ValueError(f"an SCD41 serial number has 48 bits, got {serial_number:#x}")
        self.scene = scene
        self.clock = clock
        self.address = address
        self.serial_number = serial_number
        self.variant = variant
        self.power_up_s = power_up_s
        self.self_heating_c = self_heating_c
        self.self_test_result = self_test_result
        if not bus_hz > 0:
            raise ValueError(f"the I2C clock must be > 0 Hz, got {bus_hz}")
        self.byte_s = 9.0 / bus_hz
        self.description = f"SimulatedSCD41({variant} at 0x{address:02X})"
        self.eeprom = Settings()
        self.eeprom_writes = 0
        self.transactions = 0
        self._lock = threading.RLock()
        # fault injection
        self._nack_left = 0
        self._nack_forever = False
        self._corrupt_left = 0
        self._corrupt_only: str | None = None
        self._stalled = False
        self._stall_clears_on_reinit = True
        self._gone = False
        self._co2_words: list[int] = []
        self._frc_ppm = 0  # the calibration history lives in its own EEPROM
        self._boot(clock.monotonic())

    # ------------------------------------------------------------------ power and faults

    def _boot(self, now: float) -> None:
        self.state: State = "booting"
        self._ready_at = now + self.power_up_s
        self.ram = self.eeprom
        self.pressure_hpa = DEFAULT_PRESSURE_HPA
        self._busy_until = now
        self._next_sample: float | None = None
        self._interval = PERIODIC_S
        self._rht_only = False
        self._buffer: tuple[int, int, int] | None = None
        self._reply: tuple[tuple[int, ...], float] | None = None
        self._reply_to = ""
        self._measured = False
        self._last_co2 = 0.0

    def power_cycle(self) -> None:
        """Cut and restore power: RAM settings reload from EEPROM; a stall clears."""
        with self._lock:
            self._stalled = False
            self._boot(self.clock.monotonic())

    def nack(self, n: int | None = 1) -> None:
        """NACK the next ``n`` transactions (None: every one until ``clear_faults``)."""
        with self._lock:
            if n is None:
                self._nack_forever = True
            else:
                self._nack_left += n

    def corrupt_crc(self, n: int = 1, only: str | None = None) -> None:
        """Send a wrong CRC byte on the first word of the next ``n`` replies.

        :param only: corrupt only replies to this command (e.g. "read_measurement").
        """
        with self._lock:
            self._corrupt_left += n
            self._corrupt_only = only

    def stall_data_ready(self, clears_on_reinit: bool = True) -> None:
        """Stop producing data while measuring (esphome #2832) until reinit or power cycle.

        With ``clears_on_reinit=False`` only ``power_cycle()`` clears it.
        """
        with self._lock:
            self._stalled = True
            self._stall_clears_on_reinit = clears_on_reinit

    def disappear(self) -> None:
        """Unplug the chip: every transaction fails with OSError(121) until ``reappear``."""
        with self._lock:
            self._gone = True

    def reappear(self) -> None:
        """Plug the chip back in; it powers up afresh (idle after ``power_up_s``)."""
        with self._lock:
            self._gone = False
            self._stalled = False
            self._boot(self.clock.monotonic())

    def inject_co2(self, *ppm: int) -> None:
        """Report these CO2 words (0–0xFFFF, with valid CRCs) in the next samples, in order."""
        if not all(0 <= v <= 0xFFFF for v in ppm):
            raise ValueError(f"a CO2 word is 0–65535, got {ppm}")
        with self._lock:
            self._co2_words.extend(ppm)

    def clear_faults(self) -> None:
        """Remove every injected fault (the chip keeps its state)."""
        with self._lock:
            self._nack_left = self._corrupt_left = 0
            self._nack_forever = self._stalled = self._gone = False

    # --------------------------------------------------------------------- transceiver

    def transceive(
        self,
        slave_address: int,
        tx_data: bytes | None,
        rx_length: int | None,
        read_delay: float,
        timeout: float,
    ) -> Result:
        """Write ``tx_data`` (if any), spend ``read_delay`` on the clock, read ``rx_length``.

        ``timeout`` (the clock-stretching limit) is accepted and not modelled.
        """
        with self._lock:
            self.transactions += 1
            self.clock.sleep((1 + len(tx_data or b"")) * self.byte_s)  # address + command
            result = self._write(slave_address, tx_data)
            if read_delay > 0:
                self.clock.sleep(read_delay)
            if result is not None:
                return result
            if rx_length:
                read = self._read(rx_length)
                self.clock.sleep((1 + rx_length) * self.byte_s)
                return read
            return STATUS_OK, None, b""

    def _faulted(self, slave_address: int) -> Result | None:
        if slave_address != self.address:
            return _nack()
        if self._gone:
            return _read_nack()
        if self._nack_forever:
            return _nack()
        if self._nack_left > 0:
            self._nack_left -= 1
            return _nack()
        return None

    def _write(self, slave_address: int, tx: bytes | None) -> Result | None:
        now = self.clock.monotonic()
        self._advance(now)
        fault = self._faulted(slave_address)
        if fault is not None or tx is None:
            return fault
        self._reply = None
        if self.state == "booting" or len(tx) < 2 or (len(tx) - 2) % 3:
            return _nack()
        try:
            words = proto.unpack_words(tx[2:], "write")
        except CrcError:
            return _nack()
        command = proto.lookup((tx[0] << 8) | tx[1], len(words))
        if command is None or (self.variant == "SCD40" and command.name in SCD41_ONLY):
            return _nack()
        if command.name == "wake_up":  # never ACKed; wakes a sleeping chip
            if self.state == "sleep":
                self.state = "idle"
                self._busy_until = now + command.wait_s
            return _nack()
        if self.state == "sleep" or now < self._busy_until:
            return _nack()
        if self.state in ("periodic", "low_power") and not command.while_measuring:
            return _nack()
        self._busy_until = now + command.wait_s
        reply = self._execute(command, words, now)
        if reply is not None:
            self._reply, self._reply_to = (reply, now + command.wait_s), command.name
        return None

    def _read(self, rx_length: int) -> Result:
        now = self.clock.monotonic()
        self._advance(now)
        if self._reply is None or now < self._reply[1]:
            return _read_nack()
        data = bytearray(proto.pack_words(self._reply[0]))
        self._reply = None
        if self._corrupt_left > 0 and self._corrupt_only in (None, self._reply_to):
            self._corrupt_left -= 1
            data[2] ^= 0xFF
        data += b"\xff" * max(0, rx_length - len(data))  # an idle bus reads high
        return STATUS_OK, None, bytes(data[:rx_length])

    # ---------------------------------------------------------------------- commands

    def _execute(
        self, command: Command, words: tuple[int, ...], now: float
    ) -> tuple[int, ...] | None:
        name, arg = command.name, (words[0] if words else 0)
        if name in ("start_periodic_measurement", "start_low_power_periodic_measurement"):
            self.state = "periodic" if name == "start_periodic_measurement" else "low_power"
            self._interval = PERIODIC_S if self.state == "periodic" else LOW_POWER_S
            self._next_sample = now + self._interval
            self._buffer = None
        elif name == "stop_periodic_measurement":
            self.state, self._next_sample, self._buffer = "idle", None, None
        elif name in ("measure_single_shot", "measure_single_shot_rht_only"):
            self._rht_only = name == "measure_single_shot_rht_only"
            self.state = "single_shot"
            self._next_sample = now + (RHT_ONLY_S if self._rht_only else SINGLE_SHOT_S)
        elif name == "read_measurement":
            buffer, self._buffer = self._buffer, None
            return buffer
        elif name == "get_data_ready_status":
            return (READY if self._buffer is not None else NOT_READY,)
        elif name == "get_ambient_pressure":
            return (self.pressure_hpa,)
        elif name == "set_ambient_pressure":
            self.pressure_hpa = arg
        elif name == "power_down":
            self.state = "sleep"
        else:
            return self._execute_idle(name, arg)
        return None

    def _execute_idle(self, name: str, arg: int) -> tuple[int, ...] | None:
        getters = {
            "get_temperature_offset": self.ram.temperature_offset,
            "get_sensor_altitude": self.ram.altitude_m,
            "get_automatic_self_calibration_enabled": self.ram.asc_enabled,
            "get_automatic_self_calibration_target": self.ram.asc_target_ppm,
            "get_automatic_self_calibration_initial_period": self.ram.asc_initial_period_h,
            "get_automatic_self_calibration_standard_period": self.ram.asc_standard_period_h,
            "get_sensor_variant": VARIANT_WORDS[self.variant],
            "perform_self_test": self.self_test_result,
        }
        if name in getters:
            return (getters[name],)
        setters = {
            "set_temperature_offset": "temperature_offset",
            "set_sensor_altitude": "altitude_m",
            "set_automatic_self_calibration_enabled": "asc_enabled",
            "set_automatic_self_calibration_target": "asc_target_ppm",
            "set_automatic_self_calibration_initial_period": "asc_initial_period_h",
            "set_automatic_self_calibration_standard_period": "asc_standard_period_h",
        }
        if name in setters:
            self.ram = replace(self.ram, **{setters[name]: arg})
        elif name == "get_serial_number":
            s = self.serial_number
            return (s >> 32) & 0xFFFF, (s >> 16) & 0xFFFF, s & 0xFFFF
        elif name == "persist_settings":
            self.eeprom = self.ram
            self.eeprom_writes += 1
        elif name == "reinit":
            self.ram, self.pressure_hpa = self.eeprom, DEFAULT_PRESSURE_HPA
            if self._stall_clears_on_reinit:
                self._stalled = False
        elif name == "perform_factory_reset":
            self.eeprom = self.ram = Settings()
            self._frc_ppm, self._measured = 0, False
            self.eeprom_writes += 1
        elif name == "perform_forced_recalibration":
            if not self._measured:
                return (proto.FRC_FAILED,)
            correction = round(arg - self._last_co2)
            self._frc_ppm += correction
            return (min(0xFFFE, max(0, correction + 0x8000)),)
        return None

    # ------------------------------------------------------------------- measurement

    def _advance(self, now: float) -> None:
        """Bring the chip's clock-driven state up to ``now``."""
        if self.state == "booting" and now >= self._ready_at:
            self.state = "idle"
        if self._next_sample is None or now < self._next_sample:
            return
        if self.state == "single_shot":
            self._sample(self._next_sample, with_co2=not self._rht_only)
            self.state, self._next_sample = "idle", None
        elif self.state in ("periodic", "low_power"):
            missed = math.floor((now - self._next_sample) / self._interval)
            t = self._next_sample + missed * self._interval  # only the latest one is kept
            self._sample(t, with_co2=True)
            self._next_sample = t + self._interval

    def _sample(self, t: float, with_co2: bool) -> None:
        if self._stalled:
            return
        air = self.scene.air(t)
        element_c = air.temperature_c + self.self_heating_c
        reported_c = element_c - proto.offset_from_word(self.ram.temperature_offset)
        # Same water vapour pressure, expressed as RH at the reported temperature.
        rh = air.humidity_pct * _psat_hpa(air.temperature_c) / _psat_hpa(reported_c)
        co2 = min(40_000, max(0, round(air.co2_ppm + self._frc_ppm))) if with_co2 else 0
        if with_co2 and self._co2_words:
            co2 = self._co2_words.pop(0)
        self._buffer = (
            co2,
            proto.temperature_to_word(reported_c),
            proto.humidity_to_word(min(rh, 100.0)),
        )
        self._measured = True
        if with_co2:
            self._last_co2 = air.co2_ppm + self._frc_ppm
