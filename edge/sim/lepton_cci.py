"""A simulated Lepton CCI (I2C control) and the camera state it shares with the VoSPI side.

``SimulatedCci`` implements the ``SmBus`` methods the driver uses (``i2c_rdwr`` with real
``smbus2.i2c_msg`` objects, ``close``) over the register map of ../shared/reference/
sensors.md §2.2: STATUS (BUSY for ``busy_s`` after each command, the signed result in bits
15–8), COMMAND, DATA_LENGTH, DATA0…15. It answers GET/SET of radiometry, TLinear, TLinear
resolution, gain, AGC and telemetry, RUN FFC and OEM reboot; everything else gets result
−7 (undefined function). Every register write is logged in ``writes`` for tests.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass, field
from typing import Any

from edge.clock import Clock

ADDRESS = 0x2A
I2C_M_RD = 0x0001
REG_STATUS, REG_COMMAND, REG_DATA_LENGTH, REG_DATA0 = 0x0002, 0x0004, 0x0006, 0x0008

# GET base word → (state attribute, allowed values). Defaults are the camera's (p.40).
SETTINGS: dict[int, tuple[str, tuple[int, ...]]] = {
    0x4E10: ("radiometry", (0, 1)),
    0x4EC0: ("tlinear", (0, 1)),
    0x4EC4: ("tlinear_resolution", (0, 1)),
    0x0248: ("gain_mode", (0, 1, 2)),
    0x0100: ("agc", (0, 1)),
    0x0218: ("telemetry", (0, 1)),
    0x021C: ("telemetry_location", (0, 1)),
}
RAD_BASES = {0x4E10, 0x4EC0, 0x4EC4}
RUN_FFC, OEM_REBOOT = 0x0240, 0x4840


@dataclass
class LeptonState:
    """What the camera is set to; the CCI changes it, the VoSPI stream renders with it."""

    model: str = "3.5"
    radiometry: int = 1
    tlinear: int = 1
    tlinear_resolution: int = 1  # 1 = 0.01 K, 0 = 0.1 K
    gain_mode: int = 0  # high
    agc: int = 0
    telemetry: int = 0
    telemetry_location: int = 1  # footer
    ffc_until: float = -math.inf
    boot_until: float = -math.inf
    hung: bool = False
    ffc_runs: int = 0
    reboots: int = 0
    history: list[str] = field(default_factory=list)

    @property
    def resolution_k(self) -> float:
        return 0.01 if self.tlinear_resolution else 0.1

    @property
    def radiometric(self) -> bool:
        return self.model != "2.0"

    def reset(self) -> None:
        """Back to power-on defaults (a reboot)."""
        self.radiometry, self.tlinear, self.tlinear_resolution = 1, 1, 1
        self.gain_mode, self.agc, self.telemetry, self.telemetry_location = 0, 0, 0, 1
        self.ffc_until = -math.inf
        self.hung = False


class SimulatedCci:
    """The Lepton's CCI at register level, on an injected clock."""

    def __init__(
        self,
        state: LeptonState,
        clock: Clock,
        busy_s: float = 0.002,
        ffc_s: float = 0.5,
        boot_s: float = 1.5,
    ) -> None:
        self.state = state
        self.clock = clock
        self.busy_s = busy_s
        self.ffc_s = ffc_s
        self.boot_s = boot_s
        self.regs: dict[int, int] = {REG_DATA_LENGTH: 0}
        self.result = 0
        self.busy_until = -math.inf
        self.writes: list[tuple[int, list[int]]] = []
        self.commands: list[int] = []
        self.violations: list[str] = []
        self.nack = False  # fault injection: every transfer NACKs
        self.closed = False
        self._pointer = 0

    def close(self) -> None:
        self.closed = True

    def _status(self) -> int:
        now = self.clock.monotonic()
        busy = now < self.busy_until or now < self.state.boot_until
        booted = 0x6 if now >= self.state.boot_until else 0x2  # bit 1 boot mode, bit 2 booted
        return ((self.result & 0xFF) << 8) | booted | int(busy)

    def i2c_rdwr(self, *msgs: Any) -> None:
        """Run the messages as one repeated-start transaction, like the kernel does."""
        for msg in msgs:
            if self.nack or msg.addr != ADDRESS:
                raise OSError(121, "Remote I/O error")
            if msg.flags & I2C_M_RD:
                self._read(msg)
            else:
                self._write(bytes(msg))

    def _read(self, msg: Any) -> None:
        out = bytearray()
        for i in range(msg.len // 2):
            reg = self._pointer + 2 * i
            word = self._status() if reg == REG_STATUS else self.regs.get(reg, 0)
            out += bytes([word >> 8, word & 0xFF])
        ctypes.memmove(msg.buf, bytes(out), len(out))

    def _write(self, data: bytes) -> None:
        if len(data) < 2 or len(data) % 2:
            raise OSError(5, f"CCI transfers are 16-bit: got {len(data)} bytes")
        self._pointer = (data[0] << 8) | data[1]
        words = [(data[i] << 8) | data[i + 1] for i in range(2, len(data), 2)]
        if not words:
            return
        self.writes.append((self._pointer, words))
        now = self.clock.monotonic()
        if now < self.busy_until or now < self.state.boot_until:
            self.violations.append(f"write to 0x{self._pointer:04X} while BUSY")
        for i, word in enumerate(words):
            reg = self._pointer + 2 * i
            self.regs[reg] = word
            if reg == REG_COMMAND:
                self._execute(word)

    def _execute(self, word: int) -> None:
        self.commands.append(word)
        now = self.clock.monotonic()
        self.busy_until = now + self.busy_s
        base, kind = word & 0xFFFC, word & 0x3
        self.result = self._dispatch(base, kind, now)
        self.state.history.append(f"0x{word:04X}:{self.result}")

    def _dispatch(self, base: int, kind: int, now: float) -> int:
        if base in RAD_BASES and not self.state.radiometric:
            return -7
        if kind == 2 and base == RUN_FFC:
            self.state.ffc_until = now + self.ffc_s
            self.state.ffc_runs += 1
            self.busy_until = now + self.ffc_s
            return 0
        if kind == 2 and base == OEM_REBOOT:
            self.state.reset()
            self.state.reboots += 1
            self.state.boot_until = now + self.boot_s
            return 0
        if base not in SETTINGS or kind == 2:
            return -7
        attr, allowed = SETTINGS[base]
        if self.regs.get(REG_DATA_LENGTH, 0) != 2:
            return -6
        if kind == 0:
            value = getattr(self.state, attr)
            self.regs[REG_DATA0], self.regs[REG_DATA0 + 2] = value & 0xFFFF, value >> 16
            return 0
        value = self.regs.get(REG_DATA0, 0) | (self.regs.get(REG_DATA0 + 2, 0) << 16)
        if value not in allowed:
            return -3
        setattr(self.state, attr, value)
        return 0

    def setting_writes(self) -> list[tuple[int, int]]:
        """(SET command word, 32-bit value) for every SET the bus carried, in order."""
        out: list[tuple[int, int]] = []
        data = 0
        for reg, words in self.writes:
            if reg == REG_DATA0 and len(words) >= 2:
                data = words[0] | (words[1] << 16)
            elif reg == REG_COMMAND and words[0] & 0x3 == 1:
                out.append((words[0], data))
        return out
