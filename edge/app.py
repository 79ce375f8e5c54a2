"""The composition root: config → sensor sources, model, pipeline, MQTT link, daemon.

Every sensor kind the config can name is built here, from one registry per sensor: the real
buses (``i2c`` for the SCD41; ``spi`` and ``usb`` for the Lepton) and ``simulated`` (the real
drivers reading a byte-level simulator of a quiet room, :mod:`edge.sim.sources`). The
simulators are imported only when a simulated kind is asked for.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.clock import Clock, SystemClock
from edge.config import Config, LeptonConfig, Scd41Config
from edge.sensors.sources import LeptonSource, Scd41Source, Sources

Scd41Kind = Callable[[Scd41Config, Clock], Scd41Source]
LeptonKind = Callable[[LeptonConfig, Clock], LeptonSource]


def _scd41_i2c(config: Scd41Config, clock: Clock) -> Scd41Source:
    return Scd41Source(config, clock)


def _scd41_simulated(config: Scd41Config, clock: Clock) -> Scd41Source:
    from edge.sim.scd41 import SimulatedSCD41
    from edge.sim.scene import StaticRoom
    from edge.sim.sources import scd41_on

    return scd41_on(SimulatedSCD41(StaticRoom(), clock), config, clock)


def _lepton_bus(config: LeptonConfig, clock: Clock) -> LeptonSource:
    from edge.sensors.flir_lepton import open_lepton

    return LeptonSource(lambda: open_lepton(config, clock))


def _lepton_simulated(config: LeptonConfig, clock: Clock) -> LeptonSource:
    from edge.sim.lepton import SimulatedLepton
    from edge.sim.scene import StaticRoom
    from edge.sim.sources import lepton_on

    return lepton_on(SimulatedLepton(StaticRoom(), clock, model=config.model), config, clock)


#: ``sensors.scd41.kind`` → how its source is built.
SCD41_KINDS: dict[str, Scd41Kind] = {"i2c": _scd41_i2c, "simulated": _scd41_simulated}
#: ``sensors.lepton.kind`` → how its source is built.
LEPTON_KINDS: dict[str, LeptonKind] = {
    "spi": _lepton_bus, "usb": _lepton_bus, "simulated": _lepton_simulated,
}


def configured_sources(config: Config, clock: Clock | None = None) -> Sources:
    """Both sensors of the kinds the config names, on ``clock`` (the system clock by default)."""
    clock = clock or SystemClock()
    scd, lep = config.sensors.scd41, config.sensors.lepton
    return Sources(clock=clock, scd41=SCD41_KINDS[scd.kind](scd, clock),
                   lepton=LEPTON_KINDS[lep.kind](lep, clock))
