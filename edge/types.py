"""Shared types: readings, frames and the small Protocols the drivers are built on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

#: 0 °C in kelvin: radiometric pixels are kelvin, everything we reason about is °C.
ZERO_C_K = 273.15

FrameArray = npt.NDArray[np.uint16]
FloatArray = npt.NDArray[np.float64]
#: One feature vector (18,), NaN where a sensor is missing.
Vector = FloatArray

#: What the alarm logic says: an alarm raised or cleared.
AlarmKind = Literal["alarm", "clear"]
#: What the device publishes as an event: the alarm logic's kinds, and a sensor ``fault``.
EventKind = Literal[AlarmKind, "fault"]


@dataclass(frozen=True, slots=True)
class GasReading:
    """One SCD41 measurement, in physical units, stamped on the device clock (seconds)."""

    t: float
    co2_ppm: float
    temperature_c: float
    humidity_pct: float


@dataclass(frozen=True, slots=True)
class ThermalFrame:
    """One radiometric frame: ``pixels × resolution_k`` = kelvin (TLinear), stamped in seconds.

    ``frozen`` is set while the camera runs a flat-field correction: the pixels are a
    repeat of an older frame and must not be taken as new data.
    """

    t: float
    pixels: FrameArray
    resolution_k: float = 0.01
    frame_id: int = 0
    frozen: bool = False
    telemetry: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class I2cTransceiver(Protocol):
    """The sensirion-i2c-driver transceiver interface (API_VERSION 1).

    ``LinuxI2cTransceiver("/dev/i2c-1")`` on a Pi; ``SimulatedSCD41`` in tests.
    Status codes: 0 OK, 2 NACK, 3 timeout, 4 other.
    """

    API_VERSION: int
    channel_count: int | None
    description: str

    def transceive(
        self,
        slave_address: int,
        tx_data: bytes | None,
        rx_length: int | None,
        read_delay: float,
        timeout: float,
    ) -> tuple[int, Exception | None, bytes]: ...


class SpiDevice(Protocol):
    """The parts of ``spidev.SpiDev`` the Lepton driver uses."""

    mode: int
    max_speed_hz: int
    bits_per_word: int

    def open(self, bus: int, device: int) -> None: ...

    def close(self) -> None: ...

    def readbytes(self, n: int) -> list[int]: ...

    def xfer2(self, values: list[int], speed_hz: int = 0, delay_usecs: int = 0) -> list[int]: ...


class SmBus(Protocol):
    """The parts of ``smbus2.SMBus`` the Lepton CCI driver uses."""

    def i2c_rdwr(self, *msgs: Any) -> None: ...

    def close(self) -> None: ...
