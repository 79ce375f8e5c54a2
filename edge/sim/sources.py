"""The real sensor drivers reading byte-level simulators of a scene.

``firedetect run --simulate SCENARIO`` (and every daemon test) gets its sources here: the
scene comes from the scenario engine (or ``static``, a quiet :class:`edge.sim.scene.StaticRoom`)
and is rendered by the chip simulators (:class:`edge.sim.scd41.SimulatedSCD41`,
:class:`edge.sim.lepton.SimulatedLepton`); the REAL drivers of :mod:`edge.sensors` read them
through the same transports they use on a Pi, on a clock shared by every thread (an
:class:`edge.sim.clock.ScaledClock` in a demo, a ``ManualClock`` in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.clock import Clock
from edge.config import Config, LeptonConfig, Scd41Config
from edge.sensors.flir_lepton import ThermalCamera, open_lepton
from edge.sensors.sources import LeptonSource, Scd41Source, Sources
from edge.sim.lepton import SimulatedLepton
from edge.sim.scd41 import SimulatedSCD41
from edge.sim.scene import Scene, StaticRoom

#: The quiet-room scene, available without the scenario engine.
STATIC_SCENE = "static"


@dataclass
class SimulatedSources(Sources):
    """Both sources on simulated chips, with the chips (for fault injection) and the scene."""

    scene: Scene = field(default_factory=StaticRoom)
    truth: dict[str, Any] = field(default_factory=dict)
    sim_scd41: SimulatedSCD41 | None = None
    sim_lepton: SimulatedLepton | None = None


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
    scene.camera.keep_noise = False  # rendered a frame at a time: the same noise, 9.8 MiB less
    return scene, dict(scene.truth)


def lepton_on(sim: SimulatedLepton, config: LeptonConfig, clock: Clock) -> LeptonSource:
    """The real Lepton SPI driver on ``sim``'s VoSPI and CCI (whatever ``config.kind`` says)."""
    cfg = config.model_copy(update={"kind": "spi"})
    return LeptonSource(lambda: open_lepton(cfg, clock, spi=sim.spi, cci_bus=sim.cci))


def open_simulated_lepton(
    config: LeptonConfig, clock: Clock, scene: Scene | None = None
) -> ThermalCamera:
    """A started camera: the real driver on a simulated Lepton seeing ``scene`` (quiet room)."""
    sim = SimulatedLepton(scene or StaticRoom(), clock, model=config.model)
    return lepton_on(sim, config, clock).open()


def scd41_on(chip: SimulatedSCD41, config: Scd41Config, clock: Clock) -> Scd41Source:
    """The real SCD41 driver and reader on the simulated ``chip``."""
    return Scd41Source(config, clock, lambda: chip)


def simulated_sources(
    config: Config, scene: Scene, clock: Clock, truth: dict[str, Any] | None = None
) -> SimulatedSources:
    """Both sensors as byte-level simulators of ``scene``, read by the real drivers."""
    sim_scd41 = SimulatedSCD41(scene, clock)
    sim_lepton = SimulatedLepton(scene, clock, model=config.sensors.lepton.model)
    return SimulatedSources(
        clock=clock,
        scd41=scd41_on(sim_scd41, config.sensors.scd41, clock),
        lepton=lepton_on(sim_lepton, config.sensors.lepton, clock),
        scene=scene,
        truth=dict(truth or {}),
        sim_scd41=sim_scd41,
        sim_lepton=sim_lepton,
    )
