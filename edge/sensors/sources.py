"""Sensor sources: each driver behind the three calls the daemon's sensor loops need.

A source wraps one driver: ``open()`` (may raise :class:`edge.errors.SensorSetupError` with a
hint), ``read()`` (one reading or None, every wait bounded on the clock) and ``status()``
(``ok``/``starting``/``fault: <reason>``). The transport is injected: the real bus by default,
or anything with the same byte-level protocol — which is how :mod:`edge.sim.sources` puts the
real drivers on simulated chips. This module never imports a simulator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge.clock import Clock
from edge.config import Scd41Config
from edge.errors import SensorError
from edge.types import GasReading, I2cTransceiver, ThermalFrame

if TYPE_CHECKING:
    from edge.sensors.flir_lepton import ThermalCamera
    from edge.sensors.scd41_reader import Scd41Reader

log = logging.getLogger(__name__)

class Scd41Source:
    """The SCD41 through :class:`edge.sensors.scd41_reader.Scd41Reader`.

    :param config: the sensor's config.
    :param clock: every wait of the driver and reader.
    :param transceiver: a factory for the I2C transceiver (the Linux bus by default).
    :param read_timeout_s: how long one ``read`` waits for a reading (clock seconds).
    """

    name = "scd41"

    def __init__(
        self,
        config: Scd41Config,
        clock: Clock,
        transceiver: Callable[[], I2cTransceiver] | None = None,
        read_timeout_s: float = 5.0,
    ) -> None:
        self.config = config
        self.clock = clock
        self._transceiver = transceiver or self._linux
        self.read_timeout_s = read_timeout_s
        self.reader: Scd41Reader | None = None

    def _linux(self) -> I2cTransceiver:
        from edge.sensors.scd41 import open_linux_transceiver

        return open_linux_transceiver(self.config.bus)

    def open(self) -> Scd41Reader:
        """Open the bus and clean-start the chip (a failed start is a fault the reader heals)."""
        from edge.sensors.scd41 import SCD41
        from edge.sensors.scd41_reader import Scd41Reader

        if self.reader is None:
            sensor = SCD41(self._transceiver(), self.clock, address=self.config.address)
            reader = Scd41Reader(sensor, self.config, self.clock)
            reader.start()
            self.reader = reader
        return self.reader

    def read(self) -> GasReading | None:
        reader = self.open()
        return reader.read_next(self.clock.monotonic() + self.read_timeout_s)

    def status(self) -> str:
        return "starting" if self.reader is None else self.reader.status

    def health(self) -> dict[str, Any]:
        if self.reader is None:
            return {}
        h = self.reader.health()
        return {"readings": h.readings, "faults": h.faults, "recoveries": h.recoveries,
                "last_fault": h.last_fault}

    def close(self) -> None:
        if self.reader is not None:
            self.reader.stop()
            self.reader = None


class LeptonSource:
    """The FLIR Lepton through :func:`edge.sensors.flir_lepton.open_lepton`.

    :param opener: builds and starts the camera (so a missing device is retried by the loop).
    """

    name = "lepton"

    def __init__(self, opener: Callable[[], ThermalCamera]) -> None:
        self._opener = opener
        self.camera: ThermalCamera | None = None

    def open(self) -> ThermalCamera:
        if self.camera is None:
            self.camera = self._opener()
        return self.camera

    def read(self) -> ThermalFrame | None:
        return self.open().read_frame()

    def status(self) -> str:
        if self.camera is None:
            return "starting"
        h = self.camera.health()
        if h.status == "faulted":
            return f"fault: {h.last_error or 'no frames'}"
        return "ok" if h.status in ("ok", "recovering") else h.status

    def health(self) -> dict[str, Any]:
        if self.camera is None:
            return {}
        h = self.camera.health()
        return {"frames": h.frames, "resyncs": h.resyncs, "reboots": h.reboots,
                "last_error": h.last_error}

    def close(self) -> None:
        if self.camera is not None:
            try:
                self.camera.close()
            except (SensorError, OSError) as exc:
                log.warning("lepton: close failed: %s", exc)
            self.camera = None


@dataclass
class Sources:
    """Both sensor sources and the clock they run on."""

    clock: Clock
    scd41: Scd41Source
    lepton: LeptonSource

    def close(self) -> None:
        for source in (self.scd41, self.lepton):
            try:
                source.close()
            except Exception:  # closing one sensor must not stop the other from closing
                log.exception("%s: close failed", source.name)
