"""The MQTT link: events from the outbox, retained state/health/availability, HA discovery.

paho-mqtt 2 (``CallbackAPIVersion.VERSION2``) with its network thread (``loop_start``):

- A retained ``offline`` Last Will on ``<base>/availability`` is set before connecting, so
  a dead process or a lost link reads ``offline``.
- On every (re)connect: retained ``online``, the latest state and health, HA discovery, and
  subscriptions to ``<base>/cmd/test`` and ``<discovery_prefix>/status``.
- Events go only through the :class:`~edge.mqtt.outbox.Outbox`. A publisher thread sends pending
  events in seq order (at most ``window`` in flight) and deletes each from the outbox only
  once the broker has acknowledged it (PUBACK). On reconnect paho's own copies are dropped
  and the publisher resends everything unacknowledged from the outbox, in order, so order
  holds and nothing is lost (a duplicate is possible and visible by its seq).
- A refused CONNACK (bad credentials, not authorised) is logged at ERROR once per change,
  kept in :meth:`MqttLink.status`, and retried with paho's backoff — never a crash loop.
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

from edge import __version__
from edge.config.mqtt import MqttConfig
from edge.errors import OutboxError
from edge.mqtt.client import LinkState, LinkStatus, Payload, broker_address, encode, make_client
from edge.mqtt.discovery import AVAILABLE, NOT_AVAILABLE, DiscoveryInfo, discovery_message
from edge.mqtt.outbox import Outbox, OutboxItem

__all__ = ["LinkStatus", "MqttLink", "broker_address"]

log = logging.getLogger(__name__)


class MqttLink:
    """One device's connection to its broker. Start it, feed it, stop it."""

    def __init__(
        self,
        config: MqttConfig,
        device_id: str,
        outbox: Outbox,
        *,
        on_test_command: Callable[[bytes], None] | None = None,
        sw_version: str = __version__,
        model_version: str | None = None,
        window: int = 10,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 60,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Prepare the link; nothing touches the network until :meth:`start`.

        :raises ValueError: a bad URL, window or reconnect delays.
        :raises MqttError: the TLS files cannot be loaded.
        """
        if window < 1:
            raise ValueError(f"window must be ≥ 1, got {window}")
        if not 1 <= reconnect_min_s <= reconnect_max_s:
            raise ValueError(
                f"reconnect delays must satisfy 1 ≤ min ≤ max, got {reconnect_min_s}, "
                f"{reconnect_max_s}"
            )
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
        self._retained_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._state: LinkState = "stopped"
        self._last_error: str | None = None
        self._logged_error: str | None = None
        self._connects = 0
        self._refusals = 0
        self._generation = 0
        self._outbox_fault: str | None = outbox.fault
        self._memory: dict[int, OutboxItem] = {}
        self._acked_unsaved: set[int] = set()
        self._retained: dict[str, bytes] = {}
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
        self._client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)

    # -- topics ---------------------------------------------------------------------------

    @property
    def availability_topic(self) -> str:
        return f"{self.base}/availability"

    @property
    def alarm_topic(self) -> str:
        return f"{self.base}/alarm"

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
        except OutboxError as exc:
            seq = self.outbox.reserve_seq()
            item = OutboxItem(seq, self.alarm_topic, encode(make_payload(seq)), 1, False)
            with self._lock:
                self._memory[seq] = item
                self._outbox_fault = str(exc)
            log.error("mqtt: event %d kept in memory only, the outbox failed: %s", seq, exc)
        self._wake.set()
        return seq

    def set_state(self, payload: Payload) -> None:
        """Publish (and remember, for every reconnect) the retained ``<base>/state``."""
        self._set_retained(f"{self.base}/state", encode(payload))

    def set_health(self, payload: Payload) -> None:
        """Publish (and remember, for every reconnect) the retained ``<base>/health``."""
        self._set_retained(f"{self.base}/health", encode(payload))

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
        """The link's state, last error and backlog."""
        try:
            depth = self.outbox.depth()
        except OutboxError as exc:
            depth = -1
            with self._lock:
                self._outbox_fault = str(exc)
        with self._lock:
            return LinkStatus(self._state, self._last_error, self._connects, self._refusals,
                              depth, self._outbox_fault, len(self._memory))

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
        log.info("mqtt: connected to %s:%d", self.host, self.port)
        client.subscribe([(self.test_topic, 1), (self.ha_status_topic, 1)])
        with self._retained_lock:
            client.publish(self.availability_topic, AVAILABLE, qos=1, retain=True)
            for topic, body in self._retained.items():
                client.publish(topic, body, qos=1, retain=True)
        self._announce()
        self._wake.set()

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
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
        if message.topic == self.test_topic:
            log.info("mqtt: test command received")
            if self.on_test_command is not None:
                try:
                    self.on_test_command(bytes(message.payload))
                except Exception:  # a faulty callback must not kill paho's network thread
                    log.exception("mqtt: the test command handler failed")
        elif message.topic == self.ha_status_topic and message.payload == b"online":
            log.info("mqtt: Home Assistant came online; announcing discovery again")
            self._announce()

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

    def _announce(self) -> None:
        topic, body = discovery_message(self._discovery)
        self._client.publish(topic, body, qos=1, retain=True)

    def _set_retained(self, topic: str, body: bytes) -> None:
        with self._retained_lock:
            self._retained[topic] = body
            if self.connected:
                self._client.publish(topic, body, qos=1, retain=True)

    def _publisher(self) -> None:
        inflight: list[tuple[int, paho.MQTTMessageInfo]] = []
        generation = -1
        sent_upto = 0
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
                if not connected or len(inflight) >= self.window:
                    continue
                for item in self._next_items(sent_upto, self.window - len(inflight)):
                    info = self._client.publish(item.topic, item.payload, qos=item.qos,
                                                retain=item.retain)
                    if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS,
                                       MQTTErrorCode.MQTT_ERR_NO_CONN):
                        log.warning("mqtt: event %d not sent (%s); will retry",
                                    item.seq, paho.error_string(info.rc))
                        break
                    inflight.append((item.seq, info))
                    sent_upto = item.seq
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

    def _next_items(self, after: int, limit: int) -> list[OutboxItem]:
        try:
            stored = self.outbox.pending(limit + len(self._acked_unsaved), after=after)
        except OutboxError as exc:
            with self._lock:
                self._outbox_fault = str(exc)
            stored = []
        with self._lock:
            memory = [i for s, i in self._memory.items() if s > after]
        items = sorted(stored + memory, key=lambda i: i.seq)
        return [i for i in items if i.seq not in self._acked_unsaved][:limit]
