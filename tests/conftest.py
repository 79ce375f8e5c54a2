"""Shared pytest fixtures and command-line options (shared file: add, don't rewrite)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from edge.clock import Clock, SystemClock
from edge.sensors.flir_lepton import open_spidev
from edge.sensors.lepton_cci import open_smbus
from edge.sensors.scd41 import open_linux_transceiver
from edge.sim.clock import ManualClock
from edge.sim.lepton import SimulatedLepton
from edge.sim.scd41 import SimulatedSCD41
from edge.sim.scene import StaticRoom
from edge.types import I2cTransceiver, SmBus, SpiDevice

# Fixtures that live in their own modules: a real Mosquitto broker and a real S3 API server.
from tests.broker import (  # noqa: F401
    broker,
    password_broker,
    saving_broker,
    tls_broker,
    tls_files,
)
from tests.s3server import s3_bucket, s3_server  # noqa: F401


def pytest_addoption(parser: pytest.Parser) -> None:
    """Hardware options: without them every sensor test runs against its simulator.

    Add further hardware options (e.g. --spi-dev) to this one hook.
    """
    parser.addoption(
        "--i2c-bus",
        default=None,
        metavar="DEV",
        help="run the SCD41 tests against the real chip on this bus, e.g. /dev/i2c-1",
    )
    parser.addoption(
        "--spi-dev",
        default=None,
        metavar="DEV",
        help="run the Lepton rig tests on the real camera at this node, e.g. /dev/spidev0.0 "
        "(CCI on --lepton-cci-bus)",
    )
    parser.addoption(
        "--lepton-cci-bus", default=1, type=int, help="I2C bus number of the Lepton's CCI"
    )
    parser.addoption(
        "--lepton-model", default="3.5", help="the real Lepton's model (3.5, 3.1R, 2.5, 2.0)"
    )


# ------------------------------------------------------------------------------ SCD41


@dataclass
class Scd41Rig:
    """An SCD41 transport: the simulator on a manual clock, or the real chip (``sim`` None)."""

    transceiver: I2cTransceiver
    clock: Clock
    sim: SimulatedSCD41 | None


@pytest.fixture
def scd41_rig(request: pytest.FixtureRequest) -> Iterator[Scd41Rig]:
    """The simulated SCD41 by default; the real one when ``--i2c-bus DEV`` is given."""
    bus = request.config.getoption("--i2c-bus")
    if bus:
        transceiver = open_linux_transceiver(str(bus))
        yield Scd41Rig(transceiver, SystemClock(), None)
        close = getattr(transceiver, "close", None)
        if close is not None:
            close()
    else:
        clock = ManualClock()
        sim = SimulatedSCD41(StaticRoom(seed=1), clock)
        yield Scd41Rig(sim, clock, sim)


# ------------------------------------------------------------------------------ Lepton


@dataclass
class LeptonRig:
    """A Lepton transport pair: the simulator on a manual clock, or the real camera."""

    spi: SpiDevice
    cci_bus: SmBus
    clock: Clock
    model: str
    sim: SimulatedLepton | None


@pytest.fixture(params=["3.5", "2.5"])
def lepton_rig(request: pytest.FixtureRequest) -> Iterator[LeptonRig]:
    """The simulated Lepton (3.5 and 2.5) by default; the real one with ``--spi-dev DEV``."""
    node = request.config.getoption("--spi-dev")
    model = str(request.param)
    if node:
        if model != request.config.getoption("--lepton-model"):
            pytest.skip(f"the camera on {node} is not a Lepton {model}")
        bus, dev = (int(x) for x in str(node).removeprefix("/dev/spidev").split("."))
        spi = open_spidev(bus, dev, 18_000_000)
        cci_bus = open_smbus(int(request.config.getoption("--lepton-cci-bus")))
        yield LeptonRig(spi, cci_bus, SystemClock(), model, None)
        spi.close()
        cci_bus.close()
    else:
        clock = ManualClock()
        sim = SimulatedLepton(StaticRoom(seed=3), clock, model=model)
        yield LeptonRig(sim.spi, sim.cci, clock, model, sim)
