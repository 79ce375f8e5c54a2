"""The daemon's supervision timings (its contract with the link is :mod:`edge.mqtt.base`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DaemonOptions"]


@dataclass(frozen=True)
class DaemonOptions:
    """Timings of the supervision, in wall seconds unless said otherwise."""

    sensor_stall_s: float = 25.0  # a sensor read may block this long before we stop pinging
    scorer_stall_s: float = 15.0
    outbox_stall_s: float = 120.0  # connected, events pending, none acknowledged for this long
    health_interval_s: float = 30.0  # device-clock seconds
    status_interval_s: float = 5.0
    startup_timeout_s: float = 60.0  # READY=1 at the latest after this, even if a sensor is mute
    drain_timeout_s: float = 3.0  # at SIGTERM: how long to wait for the broker to take events
    duration_s: float | None = None  # device-clock seconds to run (simulation); None = forever
    watchdog_s: float | None = None  # None: from $WATCHDOG_USEC
