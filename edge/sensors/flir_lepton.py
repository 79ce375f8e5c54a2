"""The FLIR Lepton driver: VoSPI video over SPI with CCI control over I2C, or USB (flirpy).

Entry point: ``open_lepton(config, clock)`` builds, starts and returns a camera for
``LeptonConfig.kind`` — ``"spi"`` (``LeptonSpi`` over ``/dev/spidevB.D`` and
``/dev/i2c-N``, or over the ``spi``/``cci_bus`` handles passed in — how the simulator's chips
are read) or ``"usb"`` (``edge.sensors.lepton_usb.LeptonUsb`` on a PureThermal). Every camera has
``read_frame() -> ThermalFrame``, ``health() -> LeptonHealth`` and ``close()``.

Frozen frames: during a flat-field correction the camera repeats an old image. Such a frame
(telemetry FFC state "in progress", or pixels identical to the previous frame) is still
returned, with ``frozen=True``; the caller decides what to do with it (features skip it).
A Lepton 2.x sends every image three times at its 26 Hz core rate: those expected copies
are dropped, and a longer run of identical images is returned as frozen frames at ~8.7 Hz.

``read_frame`` never hangs: it reads at most one frame timeout's worth of packets on the
clock. Lost sync and CRC failures are recovered by a resync (CS idle > 185 ms) and counted;
after ``reboot_after_failures`` consecutive failures the camera is rebooted over CCI and
reconfigured. When no frame comes in time it raises ``SyncError``/``CrcError`` (the last
failure) or ``SensorTimeout`` (only discard packets).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from edge.clock import Clock, SystemClock
from edge.sensors.lepton_cci import LeptonCci, open_smbus
from edge.sensors.lepton_health import LeptonHealth, ThermalCamera
from edge.sensors.lepton_spi import LeptonSpi, open_spidev, spidev_bufsiz
from edge.types import SmBus, SpiDevice

if TYPE_CHECKING:
    from edge.config import LeptonConfig

__all__ = ["LeptonHealth", "LeptonSpi", "ThermalCamera", "open_lepton", "open_spidev"]

log = logging.getLogger(__name__)


def open_lepton(
    config: LeptonConfig,
    clock: Clock | None = None,
    *,
    spi: SpiDevice | None = None,
    cci_bus: SmBus | None = None,
    flirpy_factory: Any = None,
) -> ThermalCamera:
    """Build and start the camera ``config.kind`` names.

    ``spi``/``cci_bus`` replace the real ``spidev``/``smbus2`` handles (both or neither) and
    ``flirpy_factory`` stands
    in for ``flirpy.camera.lepton.Lepton`` (e.g. ``edge.sim.purethermal.SimulatedPureThermal``).
    """
    clock = clock or SystemClock()
    if config.kind == "usb":
        from edge.sensors.lepton_usb import LeptonUsb, open_purethermal

        return LeptonUsb(open_purethermal(flirpy_factory), clock)
    max_transfer = 4096
    if spi is None or cci_bus is None:
        if config.kind == "simulated":
            raise ValueError("a simulated Lepton needs its spi and cci_bus (see edge.sim.sources)")
        spi = spi or open_spidev(config.spi_bus, config.spi_device, config.spi_speed_hz)
        cci_bus = cci_bus or open_smbus(config.cci_bus)
        max_transfer = spidev_bufsiz()
    camera = LeptonSpi(
        spi,
        clock,
        LeptonCci(cci_bus, clock),
        model=config.model,
        gain=config.gain,
        speed_hz=config.spi_speed_hz,
        reboot_after_failures=config.reboot_after_failures,
        max_transfer_bytes=max_transfer,
    )
    camera.start()
    return camera
