"""The daemon's contract with the MQTT link: what it calls, what it reads back, and a twin.

:class:`Link` is everything the daemon needs of :class:`edge.mqtt.link.MqttLink`: queue an
event (never blocking on the network), keep the retained state and health, send telemetry,
drain at shutdown, and report a typed :class:`LinkStatus`. :class:`MemoryLink` is its
in-memory twin: same contract, a real outbox, "delivery" at once while it is up — for
daemon tests that are about the daemon, not the broker (the MQTT and end-to-end tests run a
real Mosquitto).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from edge.mqtt.outbox import Outbox, OutboxItem

__all__ = ["Link", "LinkState", "LinkStatus", "MemoryLink"]

LinkState = Literal["stopped", "connecting", "connected", "refused", "disconnected"]


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """A snapshot of the link for the daemon's health report.

    ``state``: ``connected``, ``connecting`` (no broker reachable yet), ``refused`` (CONNACK
    refused: credentials or ACL), ``disconnected`` (lost, reconnecting) or ``stopped``.
    ``outbox_depth`` is -1 when the outbox cannot be read; ``outbox_fault`` then says why.
    ``memory_events`` counts events the outbox could not store, kept in memory until sent.
    ``publish_fault`` says why an event cannot be sent (kept and retried, never dropped).
    ``overwrites`` counts foreign messages on the device's own retained topics (re-asserted).
    """

    state: LinkState
    last_error: str | None
    connects: int
    refusals: int
    outbox_depth: int
    outbox_fault: str | None
    memory_events: int
    publish_fault: str | None = None
    overwrites: int = 0


class Link(Protocol):
    """What the daemon needs of the link to the building."""

    outbox: Outbox

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...

    def publish_event(self, make_payload: Callable[[int], bytes | str]) -> int: ...

    def set_state(self, payload: bytes) -> None: ...

    def set_health(self, payload: bytes) -> None: ...

    def telemetry(self, payload: bytes) -> bool: ...

    def set_snapshot(self, png: bytes) -> None: ...

    def is_delivered(self, seq: int) -> bool: ...

    def drain(self, timeout: float) -> bool: ...

    def status(self) -> LinkStatus: ...


@dataclass
class MemoryLink:
    """The link's in-memory twin: events go through a real outbox and are "delivered" (acked,
    kept in :attr:`delivered`) whenever the twin is up; :meth:`down` holds them, as a broker
    outage does, until :meth:`up`.

    :param outbox: where events are kept until delivered.
    """

    outbox: Outbox
    delivered: list[OutboxItem] = field(default_factory=list)
    retained: dict[str, bytes] = field(default_factory=dict)
    telemetry_sent: list[bytes] = field(default_factory=list)
    state: LinkState = "stopped"
    connects: int = 0

    def start(self) -> None:
        self.up()

    def stop(self, timeout: float = 5.0) -> None:
        self.state = "stopped"

    def up(self) -> None:
        """The broker is reachable: everything pending is delivered, in seq order."""
        self.state = "connected"
        self.connects += 1
        self._deliver()

    def down(self) -> None:
        """The broker is away: events stay in the outbox."""
        self.state = "disconnected"

    def publish_event(self, make_payload: Callable[[int], bytes | str]) -> int:
        seq = self.outbox.append_event("memory/alarm", make_payload, qos=1)
        self._deliver()
        return seq

    def set_state(self, payload: bytes) -> None:
        self.retained["state"] = payload

    def set_health(self, payload: bytes) -> None:
        self.retained["health"] = payload

    def set_snapshot(self, png: bytes) -> None:
        self.retained["snapshot"] = png

    def is_delivered(self, seq: int) -> bool:
        return all(item.seq != seq for item in self.outbox.pending(1000))

    def telemetry(self, payload: bytes) -> bool:
        if self.state != "connected":
            return False
        self.telemetry_sent.append(payload)
        return True

    def drain(self, timeout: float) -> bool:
        self._deliver()
        return self.outbox.depth() == 0

    def status(self) -> LinkStatus:
        return LinkStatus(self.state, None, self.connects, 0, self.outbox.depth(),
                          self.outbox.fault, 0)

    def _deliver(self) -> None:
        if self.state != "connected":
            return
        for item in self.outbox.pending(1000):
            self.delivered.append(item)
            self.outbox.ack(item.seq)
