"""CCI, the Lepton's command and control interface over I2C.

Address 0x2A, 16-bit big-endian registers: STATUS 0x0002 (bit 0 BUSY, bits 15–8 signed
result), COMMAND 0x0004, DATA_LENGTH 0x0006 (words), DATA0… 0x0008. A command word is
module base + ID + type (GET 0, SET 1, RUN 2); OEM and RAD bases include +0x4000.
Sequence: wait BUSY=0 → write data (SET) → DATA_LENGTH → COMMAND → wait BUSY=0, check the
result → read data (GET). Enums are 2 words, low word first (../shared/reference/sensors.md
§2.2; the word order is unverified on hardware).

The bus is injected (``smbus2.SMBus(n)`` on a Pi, ``edge.sim.lepton_cci.SimulatedCci`` in
tests); ``smbus2.i2c_msg`` is imported lazily.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from edge.clock import Clock
from edge.errors import BusError, SensorError, SensorSetupError, SensorTimeout
from edge.types import SmBus

log = logging.getLogger(__name__)

SENSOR = "lepton-cci"
CCI_ADDRESS = 0x2A
REG_STATUS = 0x0002
REG_COMMAND = 0x0004
REG_DATA_LENGTH = 0x0006
REG_DATA0 = 0x0008
STATUS_BUSY = 0x0001

RESULT_NAMES = {
    0: "OK",
    -1: "error",
    -2: "not ready",
    -3: "range error",
    -4: "checksum error",
    -6: "data size error",
    -7: "undefined function",
}


class CciType(IntEnum):
    """The low two bits of a command word."""

    GET = 0
    SET = 1
    RUN = 2


@dataclass(frozen=True, slots=True)
class CciCommand:
    """One CCI command: its base word (module + ID, OEM/RAD +0x4000) and data words."""

    name: str
    base: int
    words: int = 2

    def word(self, kind: CciType) -> int:
        """The COMMAND register value for a GET, SET or RUN."""
        return self.base | int(kind)


RADIOMETRY = CciCommand("RAD radiometry", 0x4E10)
TLINEAR = CciCommand("RAD TLinear", 0x4EC0)
TLINEAR_RESOLUTION = CciCommand("RAD TLinear resolution", 0x4EC4)  # 0 = 0.1 K, 1 = 0.01 K
GAIN_MODE = CciCommand("SYS gain mode", 0x0248)  # 0 high, 1 low, 2 auto
AGC_ENABLE = CciCommand("AGC enable", 0x0100)
TELEMETRY_ENABLE = CciCommand("SYS telemetry enable", 0x0218)
TELEMETRY_LOCATION = CciCommand("SYS telemetry location", 0x021C)  # 0 header, 1 footer
RUN_FFC = CciCommand("SYS run FFC", 0x0240, 0)
OEM_REBOOT = CciCommand("OEM reboot", 0x4840, 0)

GAIN_CODES = {"high": 0, "low": 1, "auto": 2}
RESOLUTION_CODES = {0.1: 0, 0.01: 1}


def open_smbus(bus: int) -> SmBus:
    """``smbus2.SMBus(bus)``, or ``SensorSetupError`` saying how to make it available."""
    try:
        import smbus2
    except ImportError as err:
        raise SensorSetupError(
            SENSOR, "smbus2 is not installed", "pip install 'firedetect[pi]'"
        ) from err
    try:
        handle: SmBus = smbus2.SMBus(bus)
    except OSError as err:
        raise SensorSetupError(
            SENSOR,
            f"cannot open /dev/i2c-{bus}: {err}",
            "enable I2C in raspi-config (Interface Options → I2C) and add the user to group i2c",
        ) from err
    return handle


def _i2c_msg() -> Any:
    try:
        from smbus2 import i2c_msg
    except ImportError as err:
        raise SensorSetupError(
            SENSOR, "smbus2 is not installed", "pip install 'firedetect[pi]'"
        ) from err
    return i2c_msg


class LeptonCci:
    """GET/SET/RUN commands over the CCI register protocol on an injected ``SmBus``."""

    def __init__(
        self,
        bus: SmBus,
        clock: Clock,
        address: int = CCI_ADDRESS,
        busy_timeout_s: float = 2.0,
        poll_s: float = 0.005,
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.address = address
        self.busy_timeout_s = busy_timeout_s
        self.poll_s = poll_s
        self._msg = _i2c_msg()

    # -- register layer -------------------------------------------------------------------

    def write_registers(self, register: int, words: list[int]) -> None:
        """Write ``words`` (16-bit, big-endian) starting at ``register``, one transaction."""
        data = [register >> 8, register & 0xFF]
        for w in words:
            if not 0 <= w <= 0xFFFF:
                raise ValueError(f"a CCI word is 0…0xFFFF, got {w}")
            data += [w >> 8, w & 0xFF]
        self._transfer(self._msg.write(self.address, data))

    def read_registers(self, register: int, count: int) -> list[int]:
        """Read ``count`` words from ``register``: address write, repeated start, read."""
        reply = self._msg.read(self.address, 2 * count)
        self._transfer(self._msg.write(self.address, [register >> 8, register & 0xFF]), reply)
        raw = bytes(reply)
        return [(raw[i] << 8) | raw[i + 1] for i in range(0, 2 * count, 2)]

    def _transfer(self, *msgs: Any) -> None:
        try:
            self.bus.i2c_rdwr(*msgs)
        except OSError as err:
            raise BusError(SENSOR, f"I2C transfer at 0x{self.address:02X} failed: {err}") from err

    def status(self) -> tuple[bool, int]:
        """(busy, signed result code of the last command)."""
        word = self.read_registers(REG_STATUS, 1)[0]
        result = (word >> 8) & 0xFF
        return bool(word & STATUS_BUSY), result - 256 if result >= 128 else result

    def wait_idle(self, timeout_s: float | None = None) -> int:
        """Poll STATUS until BUSY clears; the result code. ``SensorTimeout`` if it never does."""
        deadline = self.clock.monotonic() + (timeout_s or self.busy_timeout_s)
        while True:
            busy, result = self.status()
            if not busy:
                return result
            if self.clock.monotonic() >= deadline:
                raise SensorTimeout(
                    SENSOR, f"camera still BUSY after {timeout_s or self.busy_timeout_s} s"
                )
            self.clock.sleep(self.poll_s)

    # -- command layer --------------------------------------------------------------------

    def command(self, cmd: CciCommand, kind: CciType, data: list[int] | None = None) -> list[int]:
        """Run one command; the data words a GET returns (empty otherwise)."""
        if kind is CciType.SET and (data is None or len(data) != cmd.words):
            raise ValueError(f"{cmd.name} SET takes {cmd.words} words, got {data}")
        self.wait_idle()
        if kind is CciType.SET and data is not None:
            self.write_registers(REG_DATA0, data)
        self.write_registers(REG_DATA_LENGTH, [cmd.words])
        self.write_registers(REG_COMMAND, [cmd.word(kind)])
        result = self.wait_idle()
        if result != 0:
            raise SensorError(
                SENSOR,
                f"{cmd.name} {kind.name} (0x{cmd.word(kind):04X}) failed: result {result} "
                f"({RESULT_NAMES.get(result, 'unknown')})",
            )
        if kind is CciType.GET:
            return self.read_registers(REG_DATA0, cmd.words)
        return []

    def get(self, cmd: CciCommand) -> int:
        """GET a 32-bit enum/bool value (low word first)."""
        lo, hi = self.command(cmd, CciType.GET)
        return lo | (hi << 16)

    def set(self, cmd: CciCommand, value: int) -> None:
        """SET a 32-bit enum/bool value (low word first)."""
        self.command(cmd, CciType.SET, [value & 0xFFFF, (value >> 16) & 0xFFFF])

    def run(self, cmd: CciCommand) -> None:
        """RUN a command without data."""
        self.command(cmd, CciType.RUN)

    def set_checked(self, cmd: CciCommand, value: int) -> None:
        """SET, then GET it back; ``SensorError`` if the camera did not take it."""
        self.set(cmd, value)
        got = self.get(cmd)
        if got != value:
            raise SensorError(SENSOR, f"{cmd.name}: set {value}, camera reports {got}")

    # -- firedetect settings --------------------------------------------------------------

    def configure(self, gain: str, telemetry: bool = True) -> float:
        """Apply firedetect's settings; the TLinear resolution in kelvin per count.

        Radiometry and TLinear on, resolution 0.1 K in low gain (0.01 K otherwise), the
        gain mode, AGC off, telemetry on as a footer; an FFC after a gain change.
        """
        if gain not in GAIN_CODES:
            raise ValueError(f"gain must be one of {sorted(GAIN_CODES)}, got {gain!r}")
        resolution_k = 0.1 if gain == "low" else 0.01
        self.set_checked(RADIOMETRY, 1)
        self.set_checked(TLINEAR, 1)
        self.set_checked(TLINEAR_RESOLUTION, RESOLUTION_CODES[resolution_k])
        previous = self.get(GAIN_MODE)
        self.set_checked(GAIN_MODE, GAIN_CODES[gain])
        if gain == "auto":
            log.info("Lepton gain is auto: the camera switches ranges itself (FFC on each switch)")
        self.set_checked(AGC_ENABLE, 0)
        self.set_checked(TELEMETRY_ENABLE, 1 if telemetry else 0)
        if telemetry:
            self.set_checked(TELEMETRY_LOCATION, 1)
        if previous != GAIN_CODES[gain]:
            log.info("Lepton gain changed %d → %s: running an FFC", previous, gain)
            self.run(RUN_FFC)
        return resolution_k

    def reboot(self) -> None:
        """OEM reboot (RUN 0x4842): the camera restarts with its defaults."""
        self.wait_idle()
        self.write_registers(REG_DATA_LENGTH, [0])
        self.write_registers(REG_COMMAND, [OEM_REBOOT.word(CciType.RUN)])
