"""The MQTT link: events from the outbox, retained state/health/availability, HA discovery.

paho-mqtt 2 (``CallbackAPIVersion.VERSION2``) with its network thread (``loop_start``):

- A retained ``offline`` Last Will on ``<base>/availability`` is set before connecting, so
  a dead process or a lost link reads ``offline``.
- On every (re)connect: retained ``online``, the latest state and health, HA discovery, and
  subscriptions to ``<base>/cmd/test``, ``<discovery_prefix>/status`` and the device's own
  retained topics: a different body on one of them (someone else overwrote it) is answered by
  re-publishing the device's value (:class:`~edge.mqtt_guard.RetainedTopics`). A *retained*
  ``cmd/test`` is ignored (it would fire a test on every reconnect), and a burst of
  ``<discovery_prefix>/status`` ``online`` is one rediscovery now and one at the window's end.
- Events go only through the :class:`~edge.outbox.Outbox`. A publisher thread sends pending
  events in seq order (at most ``window`` in flight) and deletes each from the outbox only
  once the broker has acknowledged it (PUBACK). On reconnect paho's own copies are dropped
  and the publisher resends everything unacknowledged from the outbox, in order, so order
  holds and nothing is lost (a duplicate is possible and visible by its seq).
- No event is ever dropped on an error: if the outbox refuses it (any error) it is kept in
  memory; if paho refuses to publish it (a bad topic, a payload too large) it is held, the
  later events go on, and it is retried on every reconnect and every ``HOLD_RETRY_S``. Either
  fault is logged at ERROR once per change and shown in :meth:`MqttLink.status`.
- Reconnects wait :func:`~edge.mqtt_guard.backoff_delay`: doubling from
  ``mqtt.reconnect_min_s`` to ``mqtt.reconnect_max_s`` (a few seconds), with jitter.
- A refused CONNACK (bad credentials, not authorised) is logged at ERROR once per change,
  kept in :meth:`MqttLink.status`, and retried with that backoff — never a crash loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from edge.config.mqtt import MqttConfig
from edge.discovery import AVAILABLE, NOT_AVAILABLE, DiscoveryInfo, discovery_message
from edge.errors import OutboxError
from edge.mqtt_client import LinkState, LinkStatus, Payload, broker_address, encode, make_client
from edge.mqtt_guard import Coalescer, RetainedTopics, backoff_delay
from edge.outbox import Outbox, OutboxItem

__all__ = ["LinkStatus", "MqttLink", "broker_address"]

log = logging.getLogger(__name__)

#: How often, s, events paho refused to publish are tried again (also on every reconnect).
HOLD_RETRY_S = 10.0


class MqttLink:
    """One device's connection to its broker. Start it, feed it, stop it."""

    def __init__(
        self,
        config: MqttConfig,
        device_id: str,
        outbox: Outbox,
        *,
        on_test_command: Callable[[bytes], None] | None = None,
        sw_version: str = "0.1.0",
        model_version: str | None = None,
        window: int = 10,
        reconnect_min_s: float | None = None,
        reconnect_max_s: float | None = None,
        rediscovery_interval_s: float = 10.0,
        reassert_interval_s: float = 1.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Prepare the link; nothing touches the network until :meth:`start`.

        The reconnect delays default to ``mqtt.reconnect_min_s`` / ``mqtt.reconnect_max_s``.

        :raises ValueError: a bad URL, window or reconnect delays.
        :raises MqttError: the TLS files cannot be loaded.
        """
        if window < 1:
            raise ValueError(f"window must be ≥ 1, got {window}")
        self.reconnect_min_s = config.reconnect_min_s if reconnect_min_s is None else (
            reconnect_min_s)
        self.reconnect_max_s = config.reconnect_max_s if reconnect_max_s is None else (
            reconnect_max_s)
        backoff_delay(0, self.reconnect_min_s, self.reconnect_max_s)  # raises if they are bad
        self.config = config
        self.device_id = device_id
        self.base = config.base_topic or f"firedetect/{device_id}"
        self.host, self.port, url_tls = broker_address(config.url)
        self.tls = url_tls or config.tls.enabled
        self.outbox = outbox
        self.on_test_command = on_test_command
        self.window = window
        self._discovery = DiscoveryInfo(
            device_id=device_id,
            base_topic=self.base,
            discovery_prefix=config.discovery_prefix,
            sw_version=sw_version,
            model_version=model_version,
            telemetry_interval_s=config.telemetry_interval_s,
        )
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._state: LinkState = "stopped"
        self._last_error: str | None = None
        self._logged_error: str | None = None
        self._connects = 0
        self._refusals = 0
        self._generation = 0
        self._outbox_fault: str | None = outbox.fault
        self._publish_fault: str | None = None
        self._logged_publish_fault: str | None = None
        self._attempt = 0
        self._memory: dict[int, OutboxItem] = {}
        self._acked_unsaved: set[int] = set()
        self._held: set[int] = set()
        self._discovery_topic, discovery_body = discovery_message(self._discovery)
        self._retained = RetainedTopics(
            self._publish_retained,
            [self.availability_topic, self.state_topic, self.health_topic,
             self._discovery_topic],
            reassert_interval_s,
        )
        self._retained.set(self._discovery_topic, discovery_body)
        self._rediscover = Coalescer(rediscovery_interval_s, self._announce, "rediscovery")
        self._thread: threading.Thread | None = None
        self._client = make_client(
            config, f"firedetect-{device_id}", self.availability_topic,
            tls=self.tls, environ=environ,
        )
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._next_reconnect_delay()

    # -- topics ---------------------------------------------------------------------------

    @property
    def availability_topic(self) -> str:
        return f"{self.base}/availability"

    @property
    def alarm_topic(self) -> str:
        return f"{self.base}/alarm"

    @property
    def state_topic(self) -> str:
        return f"{self.base}/state"

    @property
    def health_topic(self) -> str:
        return f"{self.base}/health"

    @property
    def test_topic(self) -> str:
        return f"{self.base}/cmd/test"

    @property
    def ha_status_topic(self) -> str:
        return f"{self.config.discovery_prefix}/status"

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background and start publishing. Returns at once."""
        if self._thread is not None:
            raise RuntimeError("MqttLink already started")
        with self._lock:
            self._state = "connecting"
        log.info("mqtt: connecting to %s:%d as %s", self.host, self.port, self.base)
        self._client.connect_async(self.host, self.port, keepalive=self.config.keepalive_s)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._publisher, name="mqtt-publisher",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Say ``offline``, disconnect cleanly and stop the threads. Events stay in the outbox."""
        self._stop.set()
        self._wake.set()
        self._retained.close()
        self._rediscover.close()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.connected:
            info = self._client.publish(self.availability_topic, NOT_AVAILABLE, qos=1,
                                        retain=True)
            deadline = time.monotonic() + timeout
            while not info.is_published() and time.monotonic() < deadline and self.connected:
                time.sleep(0.02)
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            self._state = "stopped"

    # -- what the daemon calls ----------------------------------------------------------------

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

    def set_state(self, payload: Payload) -> None:
        """Publish (and remember, for every reconnect) the retained ``<base>/state``."""
        self._retained.set(self.state_topic, encode(payload))

    def set_health(self, payload: Payload) -> None:
        """Publish (and remember, for every reconnect) the retained ``<base>/health``."""
        self._retained.set(self.health_topic, encode(payload))

    def telemetry(self, payload: Payload) -> bool:
        """Send one telemetry reading (QoS 0); dropped, returning False, while offline."""
        if not self.connected:
            return False
        info = self._client.publish(f"{self.base}/telemetry", encode(payload), qos=0)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._state == "connected"

    def status(self) -> LinkStatus:
        """The link's state, last error and backlog.

        ``last_error`` is the connection's error, else an event that cannot be published.
        """
        try:
            depth = self.outbox.depth()
        except OutboxError as exc:
            depth = -1
            with self._lock:
                self._outbox_fault = str(exc)
        with self._lock:
            return LinkStatus(self._state, self._last_error or self._publish_fault,
                              self._connects, self._refusals, depth, self._outbox_fault,
                              len(self._memory), self._publish_fault,
                              self._retained.overwrites)

    def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for a connection; True if connected."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected:
                return True
            time.sleep(0.02)
        return self.connected

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until every event is acknowledged; True if so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status()
            if st.outbox_depth == 0 and st.memory_events == 0:
                return True
            self._wake.set()
            time.sleep(0.02)
        return False

    # -- paho callbacks (network thread) ----------------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: paho.ConnectFlags,
                    reason_code: ReasonCode, properties: Any) -> None:
        if reason_code.is_failure:
            self._next_reconnect_delay()
            with self._lock:
                self._state = "refused"
                self._refusals += 1
            self._report_error(
                f"broker {self.host}:{self.port} refused the connection: {reason_code} "
                f"(check mqtt.username, ${self.config.password_env}, TLS client certificate "
                f"and the broker's ACL); retrying with backoff"
            )
            return
        # paho would resend its own unacknowledged copies now; the outbox resends them in
        # order instead, so drop them (and stale QoS 0 telemetry) before anything goes out.
        client.drop_out_messages()
        with self._lock:
            self._state = "connected"
            self._connects += 1
            self._generation += 1
            self._last_error = None
            self._logged_error = None
        self._attempt = 0
        self._next_reconnect_delay()
        log.info("mqtt: connected to %s:%d", self.host, self.port)
        # Ours first, then subscribe: the retained copies that come back are then our own.
        self._retained.set(self.availability_topic, AVAILABLE.encode(), publish=False)
        self._retained.publish_all(first=self.availability_topic)
        client.subscribe([(self.test_topic, 1), (self.ha_status_topic, 1)]
                         + [(t, 1) for t in self._retained.topics])
        self._wake.set()

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._next_reconnect_delay()
        with self._lock:
            if self._state != "refused":
                self._state = "connecting"
        hint = (" (network, or the TLS handshake: check mqtt.tls.ca_file, the client "
                "certificate and the broker's certificate)" if self.tls else "")
        self._report_error(
            f"cannot connect to the broker at {self.host}:{self.port}{hint}; retrying"
        )

    def _on_disconnect(self, client: paho.Client, userdata: Any,
                       flags: paho.DisconnectFlags, reason_code: ReasonCode,
                       properties: Any) -> None:
        self._next_reconnect_delay()
        with self._lock:
            was = self._state
            if self._state == "connected":
                self._state = "disconnected"
        if was == "connected" and not self._stop.is_set():
            log.warning("mqtt: lost the broker at %s:%d (%s); reconnecting",
                        self.host, self.port, reason_code)
            with self._lock:
                self._last_error = f"disconnected from {self.host}:{self.port}: {reason_code}"

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int,
                    reason_code: ReasonCode, properties: Any) -> None:
        # Called with paho's message lock held: only wake the publisher, which checks its
        # in-flight MQTTMessageInfo objects (is_published) and acknowledges them itself.
        self._wake.set()

    def _on_message(self, client: paho.Client, userdata: Any,
                    message: paho.MQTTMessage) -> None:
        if self._stop.is_set() or self._retained.received(message.topic,
                                                           bytes(message.payload)):
            return
        if message.topic == self.test_topic:
            if message.retain:
                log.warning("mqtt: ignoring a retained %s (left on the broker by some client; "
                            "commands are never retained): clear it and restrict writes with "
                            "the broker ACL", self.test_topic)
                return
            log.info("mqtt: test command received")
            if self.on_test_command is not None:
                try:
                    self.on_test_command(bytes(message.payload))
                except Exception:  # a faulty callback must not kill paho's network thread
                    log.exception("mqtt: the test command handler failed")
        elif (message.topic == self.ha_status_topic and message.payload == b"online"
              and self._rediscover.request()):
            log.info("mqtt: Home Assistant came online; announcing discovery again")

    # -- helpers ------------------------------------------------------------------------------

    def _report_error(self, text: str) -> None:
        with self._lock:
            self._last_error = text
            changed = text != self._logged_error
            self._logged_error = text
        if changed:
            log.error("mqtt: %s", text)
        else:
            log.debug("mqtt: %s", text)

    def _report_publish_fault(self, text: str) -> None:
        with self._lock:
            self._publish_fault = text
            changed = text != self._logged_publish_fault
            self._logged_publish_fault = text
        log.log(logging.ERROR if changed else logging.DEBUG, "mqtt: %s", text)

    def _next_reconnect_delay(self) -> None:
        # paho doubles its own delay without jitter; set each wait ourselves instead (the
        # callbacks run just before paho's wait). paho only adds and compares the numbers,
        # so a float is fine despite its int annotation.
        delay = backoff_delay(self._attempt, self.reconnect_min_s, self.reconnect_max_s)
        self._attempt += 1
        self._client.reconnect_delay_set(delay, delay)  # type: ignore[arg-type]

    def _announce(self) -> None:
        body = self._retained.get(self._discovery_topic)
        if body is not None:
            self._publish_retained(self._discovery_topic, body)

    def _publish_retained(self, topic: str, body: bytes) -> None:
        if self.connected and not self._stop.is_set():
            self._client.publish(topic, body, qos=1, retain=True)

    def _publisher(self) -> None:
        inflight: list[tuple[int, paho.MQTTMessageInfo]] = []
        generation = -1
        sent_upto = 0
        retry_held_at = 0.0
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                inflight = self._collect_acks(inflight)
                with self._lock:
                    connected = self._state == "connected"
                    current = self._generation
                if current != generation:
                    # A new connection: everything unacknowledged goes again, from the start.
                    inflight, sent_upto, generation = [], 0, current
                    self._held.clear()
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
                    if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS,
                                       MQTTErrorCode.MQTT_ERR_NO_CONN):
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
    ) -> list[tuple[int, paho.MQTTMessageInfo]]:
        waiting = []
        for seq, info in inflight:
            if info.is_published():
                self._ack(seq)
            else:
                waiting.append((seq, info))
        for seq in sorted(self._acked_unsaved):
            self._ack(seq)
        if not self._held and self._publish_fault is not None and len(waiting) < len(inflight):
            with self._lock:
                self._publish_fault = self._logged_publish_fault = None
            log.info("mqtt: events are published again")
        return waiting

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
