"""Shared pytest fixtures and command-line options (shared file: add, don't rewrite)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from edge.clock import Clock, SystemClock
from edge.sensors.scd41 import open_linux_transceiver
from edge.sim.clock import ManualClock
from edge.sim.scd41 import SimulatedSCD41
from edge.sim.scene import StaticRoom
from edge.types import I2cTransceiver


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


# ------------------------------------------------------------------------------ MQTT broker

from tests.broker import broker, password_broker, tls_broker, tls_files  # noqa: E402, F401
