"""The SCD41 wire protocol as data: the command table, word framing with CRC-8, conversions.

Sources: Sensirion SCD4x datasheet v1.3 (Table 9) and ``sensirion_i2c_scd4x/commands.py``
1.1.0, summarised in ``shared/reference/sensors.md`` §1. Nothing here does I/O: the driver
(``edge.sensors.scd41``) and the simulator (``edge.sim.scd41``) both build on it.

Framing: a command is 2 bytes big-endian with no CRC; every data word, in either direction,
is 2 bytes big-endian followed by its CRC-8 (polynomial 0x31, init 0xFF, no reflection,
xorout 0), so ``n`` words are ``3·n`` bytes on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from edge.errors import CrcError

SENSOR = "scd41"
DEFAULT_ADDRESS = 0x62
CRC_POLYNOMIAL = 0x31
CRC_INIT = 0xFF


@dataclass(frozen=True, slots=True)
class Command:
    """One SCD41 command: its code, data words in and out, wait and whether it runs mid-measurement.

    ``wait_s`` is the datasheet execution time: the delay between the write and the read,
    or before the next command when nothing is read. ``while_measuring`` marks the commands
    the chip accepts in periodic / low-power periodic mode (all others are NACKed there).
    ``acks`` is False only for ``wake_up``, which the chip never acknowledges.
    """

    name: str
    code: int
    words_in: int
    words_out: int
    wait_s: float
    while_measuring: bool = False
    acks: bool = True

    @property
    def rx_length(self) -> int | None:
        """Bytes to read back (3 per word), or None for a write-only command."""
        return 3 * self.words_out if self.words_out else None


def _c(name: str, code: int, words_in: int, words_out: int, wait_ms: float, **kw: bool) -> Command:
    return Command(name, code, words_in, words_out, wait_ms / 1000.0, **kw)


# The whole of sensors.md §1.2 (datasheet Table 9 + the 2025 driver). Waits in ms.
_TABLE = (
    _c("start_periodic_measurement", 0x21B1, 0, 0, 0),
    _c("read_measurement", 0xEC05, 0, 3, 1, while_measuring=True),
    _c("stop_periodic_measurement", 0x3F86, 0, 0, 500, while_measuring=True),
    _c("set_temperature_offset", 0x241D, 1, 0, 1),
    _c("get_temperature_offset", 0x2318, 0, 1, 1),
    _c("set_sensor_altitude", 0x2427, 1, 0, 1),
    _c("get_sensor_altitude", 0x2322, 0, 1, 1),
    _c("set_ambient_pressure", 0xE000, 1, 0, 1, while_measuring=True),
    _c("get_ambient_pressure", 0xE000, 0, 1, 1, while_measuring=True),
    _c("perform_forced_recalibration", 0x362F, 1, 1, 400),
    _c("set_automatic_self_calibration_enabled", 0x2416, 1, 0, 1),
    _c("get_automatic_self_calibration_enabled", 0x2313, 0, 1, 1),
    _c("set_automatic_self_calibration_target", 0x243A, 1, 0, 1),
    _c("get_automatic_self_calibration_target", 0x233F, 0, 1, 1),
    _c("start_low_power_periodic_measurement", 0x21AC, 0, 0, 0),
    _c("get_data_ready_status", 0xE4B8, 0, 1, 1, while_measuring=True),
    _c("persist_settings", 0x3615, 0, 0, 800),
    _c("get_serial_number", 0x3682, 0, 3, 1),
    _c("perform_self_test", 0x3639, 0, 1, 10_000),
    _c("perform_factory_reset", 0x3632, 0, 0, 1200),
    _c("reinit", 0x3646, 0, 0, 30),  # 20 ms in datasheet v1.3, 30 ms in the 2025 driver
    _c("get_sensor_variant", 0x202F, 0, 1, 1),
    _c("measure_single_shot", 0x219D, 0, 0, 5000),
    _c("measure_single_shot_rht_only", 0x2196, 0, 0, 50),
    _c("power_down", 0x36E0, 0, 0, 1),
    _c("wake_up", 0x36F6, 0, 0, 30, acks=False),
    _c("set_automatic_self_calibration_initial_period", 0x2445, 1, 0, 1),
    _c("get_automatic_self_calibration_initial_period", 0x2340, 0, 1, 1),
    _c("set_automatic_self_calibration_standard_period", 0x244E, 1, 0, 1),
    _c("get_automatic_self_calibration_standard_period", 0x234B, 0, 1, 1),
)

COMMANDS: dict[str, Command] = {c.name: c for c in _TABLE}


def lookup(code: int, words_in: int) -> Command | None:
    """The command a chip receives as ``code`` followed by ``words_in`` words, or None.

    0xE000 is both set (1 word in) and get (0 words in) ambient pressure.
    """
    for c in _TABLE:
        if c.code == code and c.words_in == words_in:
            return c
    return None


# ---------------------------------------------------------------------------- framing


def crc8(data: bytes) -> int:
    """Sensirion CRC-8 of ``data``: polynomial 0x31, init 0xFF, no reflection, xorout 0."""
    crc = CRC_INIT
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLYNOMIAL) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def pack_words(words: Iterable[int]) -> bytes:
    """Each 16-bit word as 2 bytes big-endian followed by its CRC.

    :raises ValueError: a word outside 0…0xFFFF.
    """
    out = bytearray()
    for w in words:
        if not 0 <= w <= 0xFFFF:
            raise ValueError(f"an SCD41 data word is 0…0xFFFF, got {w}")
        pair = bytes((w >> 8, w & 0xFF))
        out += pair
        out.append(crc8(pair))
    return bytes(out)


def unpack_words(data: bytes, what: str = "reply") -> tuple[int, ...]:
    """The words of ``data`` (3 bytes each), every CRC checked.

    :raises CrcError: a CRC byte does not match its word (names the word and both CRCs).
    :raises ValueError: the length is not a multiple of 3.
    """
    if len(data) % 3:
        raise ValueError(f"SCD41 {what}: {len(data)} bytes is not a whole number of words")
    words = []
    for i in range(0, len(data), 3):
        pair, got = data[i : i + 2], data[i + 2]
        want = crc8(pair)
        if got != want:
            raise CrcError(
                SENSOR,
                f"{what}: word {i // 3} ({pair.hex()}) has CRC 0x{got:02X}, expected 0x{want:02X}",
            )
        words.append((pair[0] << 8) | pair[1])
    return tuple(words)


def encode(command: Command, words: Iterable[int] = ()) -> bytes:
    """The bytes written for ``command`` with its argument words.

    :raises ValueError: the wrong number of words, or a word outside 0…0xFFFF.
    """
    ws = tuple(words)
    if len(ws) != command.words_in:
        raise ValueError(f"{command.name} takes {command.words_in} word(s), got {len(ws)}")
    return bytes((command.code >> 8, command.code & 0xFF)) + pack_words(ws)


# ------------------------------------------------------------------------ conversions


def co2_from_word(word: int) -> int:
    """CO2 in ppm: the word itself."""
    return word


def temperature_from_word(word: int) -> float:
    """Temperature in °C.  T = -45 + 175 · word / 65535  (datasheet §3.6.2, 2025 driver)."""
    return -45.0 + 175.0 * word / 65535.0


def humidity_from_word(word: int) -> float:
    """Relative humidity in %.  RH = 100 · word / 65535."""
    return 100.0 * word / 65535.0


def temperature_to_word(celsius: float) -> int:
    """The measurement word for a temperature: round((T + 45) · 65535 / 175), clipped to 16 bits."""
    return min(0xFFFF, max(0, round((celsius + 45.0) * 65535.0 / 175.0)))


def humidity_to_word(pct: float) -> int:
    """The measurement word for a relative humidity: round(RH · 65535 / 100), clipped."""
    return min(0xFFFF, max(0, round(pct * 65535.0 / 100.0)))


def offset_to_word(celsius: float) -> int:
    """The temperature-offset word.  word = round(T_offset · 65535 / 175)  (4 °C → 0x05DA)."""
    return round(celsius * 65535.0 / 175.0)


def offset_from_word(word: int) -> float:
    """The temperature offset in °C.  T_offset = 175 · word / 65535."""
    return 175.0 * word / 65535.0


def data_ready(word: int) -> bool:
    """Data is ready iff any of the low 11 bits is set (``word & 0x07FF != 0``)."""
    return word & 0x07FF != 0


FRC_FAILED = 0xFFFF


def frc_correction(word: int) -> int:
    """The forced-recalibration correction in ppm: word − 0x8000 (0xFFFF means it failed)."""
    return word - 0x8000
