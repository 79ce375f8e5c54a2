"""The event half of the MQTT link: the outbox (or memory) to the broker, in order, never dropped.

Mixed into :class:`edge.mqtt.link.MqttLink`, which owns the client, the locks and the connection
state. A publisher thread sends pending events in seq order (at most ``window`` in flight)
and deletes each from the outbox only once the broker has acknowledged it (PUBACK). On a new
connection everything unacknowledged goes again, from the start.

No event is ever dropped on an error: if the outbox refuses it (any error) it is kept in
memory with a seq that is never reused; if paho refuses to publish it (a bad topic, a payload
too large) it is *held* — kept, reported, and tried again on every reconnect and every
:data:`HOLD_RETRY_S` — while the later events go on. Either fault is logged at ERROR once per
change and shown in the link's status (``publish_fault``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from edge.errors import OutboxError
from edge.mqtt.base import LinkState
from edge.mqtt.client import encode
from edge.mqtt.outbox import Outbox, OutboxItem

log = logging.getLogger("edge.mqtt.link")

#: How often, s, events paho refused to publish are tried again (also on every reconnect).
HOLD_RETRY_S = 10.0


class EventPublisher:
    """The outbox-to-broker half of :class:`edge.mqtt.link.MqttLink` (a mixin: state set there)."""

    outbox: Outbox
    window: int
    _client: paho.Client
    _lock: threading.Lock
    _wake: threading.Event
    _stop: threading.Event
    _state: LinkState
    _generation: int
    _outbox_fault: str | None
    _publish_fault: str | None
    _logged_publish_fault: str | None
    _memory: dict[int, OutboxItem]
    _acked_unsaved: set[int]
    _held: set[int]

    @property
    def alarm_topic(self) -> str:
        raise NotImplementedError

    def publish_event(self, make_payload: Callable[[int], bytes | str]) -> int:
        """Queue one alarm event on ``<base>/alarm``; ``make_payload(seq)`` builds its body.

        Never blocks on the network: the event is written to the outbox (synced) and the
        publisher is woken. If the outbox cannot take it, the event is kept in memory with a
        seq that is never reused, sent all the same, and the fault shows in :meth:`status`.
        ``make_payload`` must be pure: after a failed write it is called again with the new seq.
        """
        try:
            seq = self.outbox.append_event(self.alarm_topic, make_payload, qos=1)
        except Exception as exc:  # whatever the outbox refuses, the event is kept in memory
            seq = self.outbox.reserve_seq()
            item = OutboxItem(seq, self.alarm_topic, encode(make_payload(seq)), 1, False)
            with self._lock:
                self._memory[seq] = item
                if isinstance(exc, OutboxError):
                    self._outbox_fault = str(exc)
            log.error("mqtt: event %d kept in memory only, the outbox refused it: %s", seq, exc)
            if not isinstance(exc, OutboxError):
                self._report_publish_fault(f"the outbox refused event {seq}: {exc}")
        self._wake.set()
        return seq

    def is_delivered(self, seq: int) -> bool:
        """Whether the broker has acknowledged event ``seq`` (no longer pending anywhere)."""
        with self._lock:
            if seq in self._memory:
                return False
        if seq in self._acked_unsaved:
            return True
        try:
            head = self.outbox.pending(len(self._acked_unsaved) + 1)
        except OutboxError:
            return False
        waiting = [i.seq for i in head if i.seq not in self._acked_unsaved]
        return not waiting or waiting[0] > seq

    def _report_publish_fault(self, text: str) -> None:
        with self._lock:
            self._publish_fault = text
            changed = text != self._logged_publish_fault
            self._logged_publish_fault = text
        log.log(logging.ERROR if changed else logging.DEBUG, "mqtt: %s", text)

    def _publisher(self) -> None:
        inflight: list[tuple[int, paho.MQTTMessageInfo]] = []
        generation = -1
        sent_upto = 0
        retry_held_at = 0.0
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                with self._lock:
                    connected = self._state == "connected"
                    current = self._generation
                inflight, lost = self._collect_acks(inflight)
                if current != generation:
                    # A new connection: everything unacknowledged goes again, from the start.
                    inflight, sent_upto, generation = [], 0, current
                    self._held.clear()
                elif lost:
                    # paho will never deliver what it was handed as the connection went: send
                    # everything unacknowledged again, from the start (what is in flight skipped).
                    sent_upto = 0
                elif self._held and time.monotonic() >= retry_held_at:
                    # Held events go again from the start; what is in flight is skipped.
                    self._held.clear()
                    sent_upto = 0
                if not connected or len(inflight) >= self.window:
                    continue
                busy = {seq for seq, _ in inflight}
                for item in self._next_items(sent_upto, self.window - len(inflight), busy):
                    try:
                        info = self._client.publish(item.topic, item.payload, qos=item.qos,
                                                    retain=item.retain)
                    except (ValueError, TypeError) as exc:
                        # paho refuses this message itself (a bad topic, a payload too large):
                        # hold it (never drop it), report it, and let the later events go.
                        self._held.add(item.seq)
                        retry_held_at = time.monotonic() + HOLD_RETRY_S
                        sent_upto = max(sent_upto, item.seq)
                        self._report_publish_fault(
                            f"event {item.seq} cannot be published to {item.topic!r}: {exc} "
                            f"(check mqtt.base_topic); it is kept and retried"
                        )
                        continue
                    if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                        # Not connected after all (the drop's callback is on its way), or paho
                        # refused it: not in flight; it goes again from the outbox.
                        log.warning("mqtt: event %d not sent (%s); will retry",
                                    item.seq, paho.error_string(info.rc))
                        break
                    inflight.append((item.seq, info))
                    sent_upto = max(sent_upto, item.seq)
            except Exception:  # the publisher must outlive any single failure; it retries
                log.exception("mqtt: publisher error; retrying")
                time.sleep(0.5)

    def _collect_acks(
        self, inflight: list[tuple[int, paho.MQTTMessageInfo]]
    ) -> tuple[list[tuple[int, paho.MQTTMessageInfo]], bool]:
        """Ack what the broker acknowledged; returns (still waiting, whether any is lost).

        A message paho failed to write (``is_published`` raises: no connection, queue full)
        will never be acknowledged: it leaves the in-flight list, and the caller sends again.
        """
        waiting = []
        lost = False
        for seq, info in inflight:
            try:
                published = info.is_published()
            except (RuntimeError, ValueError) as exc:
                log.warning("mqtt: event %d was not delivered (%s); sending it again", seq, exc)
                lost = True
                continue
            if published:
                self._ack(seq)
            else:
                waiting.append((seq, info))
        for seq in sorted(self._acked_unsaved):
            self._ack(seq)
        if not self._held and self._publish_fault is not None and len(waiting) < len(inflight):
            with self._lock:
                self._publish_fault = self._logged_publish_fault = None
            log.info("mqtt: events are published again")
        return waiting, lost

    def _ack(self, seq: int) -> None:
        with self._lock:
            if self._memory.pop(seq, None) is not None:
                return
        try:
            self.outbox.ack(seq)
            self._acked_unsaved.discard(seq)
        except OutboxError as exc:
            # The broker has it; remember not to resend it, and retry the deletion later.
            self._acked_unsaved.add(seq)
            with self._lock:
                self._outbox_fault = str(exc)

    def _next_items(self, after: int, limit: int, busy: set[int]) -> list[OutboxItem]:
        """Up to ``limit`` events after seq ``after``, stored and in memory, in seq order,
        without those acknowledged, ``busy`` (in flight) or held."""
        skip = self._acked_unsaved | busy | self._held
        try:
            stored = self.outbox.pending(limit + len(skip), after=after)
        except OutboxError as exc:
            with self._lock:
                self._outbox_fault = str(exc)
            stored = []
        with self._lock:
            memory = [i for s, i in self._memory.items() if s > after]
        items = sorted(stored + memory, key=lambda i: i.seq)
        return [i for i in items if i.seq not in skip][:limit]
