"""Sensor sources built from config: the real drivers over real buses or over simulated chips.

A source wraps one driver behind the three calls the daemon's sensor loops need:
``open()`` (may raise :class:`edge.errors.SensorSetupError` with a hint), ``read()`` (one
reading or None, every wait bounded on the clock) and ``status()`` (``ok``/``starting``/
``fault: <reason>``).

In simulation (``firedetect run --simulate SCENARIO``) the scene comes from the scenario
engine (or ``static`` for a quiet :class:`edge.sim.scene.StaticRoom`) and is rendered by the
byte-level chip simulators; the REAL drivers read them, on an
:class:`edge.sim.clock.ScaledClock` shared by every thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge.clock import Clock, SystemClock
from edge.config import Config, LeptonConfig, Scd41Config
from edge.errors import SensorError
from edge.sim.scene import Scene, StaticRoom
from edge.types import GasReading, I2cTransceiver, ThermalFrame

if TYPE_CHECKING:
    from edge.sensors.flir_lepton import ThermalCamera
    from edge.sensors.scd41_reader import Scd41Reader
    from edge.sim.lepton import SimulatedLepton
    from edge.sim.scd41 import SimulatedSCD41

log = logging.getLogger(__name__)

#: The quiet-room scene, available without the scenario engine.
STATIC_SCENE = "static"


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
    """Both sensor sources, the clock they run on and, in simulation, what they see."""

    clock: Clock
    scd41: Scd41Source
    lepton: LeptonSource
    scene: Scene | None = None
    truth: dict[str, Any] = field(default_factory=dict)
    sim_scd41: SimulatedSCD41 | None = None
    sim_lepton: SimulatedLepton | None = None

    def close(self) -> None:
        for source in (self.scd41, self.lepton):
            try:
                source.close()
            except Exception:  # closing one sensor must not stop the other from closing
                log.exception("%s: close failed", source.name)


def make_scene(name: str, seed: int, duration_s: float) -> tuple[Scene, dict[str, Any]]:
    """The scene called ``name`` and its truth: ``static`` or a scenario family.

    :raises ValueError: an unknown scenario name (the message lists the known ones).
    """
    if name == STATIC_SCENE:
        return StaticRoom(seed=seed), {"scenario": STATIC_SCENE, "label": 0,
                                       "fire_start_s": None, "seed": seed}
    from edge.sim import scenarios

    if name not in scenarios.SCENARIOS:
        known = ", ".join([STATIC_SCENE, *sorted(scenarios.SCENARIOS)])
        raise ValueError(f"unknown scenario {name!r}; known: {known}")
    scene = scenarios.make_scene(name, seed, duration_s)
    return scene, dict(scene.truth)


def simulated_sources(
    config: Config, scene: Scene, clock: Clock, truth: dict[str, Any] | None = None
) -> Sources:
    """Both sensors as byte-level simulators of ``scene``, read by the real drivers."""
    from edge.sensors.flir_lepton import open_lepton
    from edge.sim.lepton import SimulatedLepton
    from edge.sim.scd41 import SimulatedSCD41

    sim_scd41 = SimulatedSCD41(scene, clock)
    sim_lepton = SimulatedLepton(scene, clock, model=config.sensors.lepton.model)
    lepton_cfg: LeptonConfig = config.sensors.lepton.model_copy(update={"kind": "simulated"})
    return Sources(
        clock=clock,
        scd41=Scd41Source(config.sensors.scd41, clock, lambda: sim_scd41),
        lepton=LeptonSource(lambda: open_lepton(
            lepton_cfg, clock, spi=sim_lepton.spi, cci_bus=sim_lepton.cci
        )),
        scene=scene,
        truth=dict(truth or {}),
        sim_scd41=sim_scd41,
        sim_lepton=sim_lepton,
    )


def hardware_sources(config: Config, clock: Clock | None = None) -> Sources:
    """Both sensors on the buses the config names (``kind = "simulated"`` sensors excepted)."""
    from edge.sensors.flir_lepton import open_lepton

    clock = clock or SystemClock()
    scd_cfg, lep_cfg = config.sensors.scd41, config.sensors.lepton
    room = StaticRoom()
    sim_scd41: SimulatedSCD41 | None = None
    transceiver: Callable[[], I2cTransceiver] | None = None
    if scd_cfg.kind == "simulated":
        from edge.sim.scd41 import SimulatedSCD41

        sim_scd41 = SimulatedSCD41(room, clock)
        transceiver = lambda: sim_scd41  # noqa: E731 - the chip, not a new one per open
    return Sources(
        clock=clock,
        scd41=Scd41Source(scd_cfg, clock, transceiver),
        lepton=LeptonSource(lambda: open_lepton(lep_cfg, clock, scene=room)),
        scene=room if (sim_scd41 or lep_cfg.kind == "simulated") else None,
        sim_scd41=sim_scd41,
    )
