"""The MQTT link: events from the outbox, retained state/health/availability, HA discovery.

paho-mqtt 2 (``CallbackAPIVersion.VERSION2``) with its network thread (``loop_start``):

- A retained ``offline`` Last Will on ``<base>/availability`` is set before connecting, so
  a dead process or a lost link reads ``offline``.
- On every (re)connect: retained ``online``, the latest state, health and snapshot, HA
  discovery, and subscriptions to ``<base>/cmd/test`` (and the ``commands``, e.g.
  ``cmd/snapshot``), ``<discovery_prefix>/status`` and the device's own retained topics:
  a different body on one of them (someone else overwrote it) is answered by re-publishing
  the device's value (:class:`~edge.mqtt.guard.RetainedTopics`). A *retained* ``cmd/test``
  is ignored (it would fire a test on every reconnect), and a burst of
  ``<discovery_prefix>/status`` ``online`` is one rediscovery now and one at the window's end.
- Events go only through the :class:`~edge.mqtt.outbox.Outbox` (:mod:`edge.mqtt.events`). A
  publisher thread sends pending events in seq order (at most ``window`` in flight) and
  deletes each from the outbox only once the broker has acknowledged it (PUBACK). On
  reconnect paho's own copies are dropped and the publisher resends everything
  unacknowledged from the outbox, in order, so order holds and nothing is lost (a duplicate
  is possible and visible by its seq). No event is ever dropped on an error: one the outbox
  refuses is kept in memory, one paho refuses is held and retried while the later ones go
  on; the fault shows in :meth:`MqttLink.status`.
- Reconnects wait :func:`~edge.mqtt.guard.backoff_delay`: doubling from
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

from edge import __version__
from edge.config.mqtt import MqttConfig
from edge.errors import OutboxError
from edge.mqtt.base import LinkState, LinkStatus
from edge.mqtt.client import Payload, broker_address, encode, make_client
from edge.mqtt.discovery import AVAILABLE, NOT_AVAILABLE, DiscoveryInfo, discovery_message
from edge.mqtt.events import EventPublisher
from edge.mqtt.guard import Coalescer, RetainedTopics, backoff_delay
from edge.mqtt.outbox import Outbox, OutboxItem

__all__ = ["LinkStatus", "MqttLink", "broker_address"]

log = logging.getLogger(__name__)


class MqttLink(EventPublisher):
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
        reconnect_min_s: float | None = None,
        reconnect_max_s: float | None = None,
        rediscovery_interval_s: float = 10.0,
        reassert_interval_s: float = 1.0,
        environ: Mapping[str, str] | None = None,
        commands: Mapping[str, Callable[[bytes], None]] | None = None,
    ) -> None:
        """Prepare the link; nothing touches the network until :meth:`start`.

        ``commands``: more ``<base>/cmd/<name>`` topics → their handlers (run on paho's
        thread; retained messages ignored, as for ``cmd/test``).

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
        self.commands = {f"{self.base}/cmd/{k}": v for k, v in (commands or {}).items()}
        self.window = window
        self._discovery = DiscoveryInfo(
            device_id=device_id,
            base_topic=self.base,
            discovery_prefix=config.discovery_prefix,
            sw_version=sw_version,
            model_version=model_version,
            telemetry_interval_s=config.telemetry_interval_s,
            feedback="feedback_last" in (commands or {}),
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
             self._discovery_topic, self.snapshot_topic],
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
    def snapshot_topic(self) -> str:
        return f"{self.base}/snapshot"

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
            # A publish that lost the race with a drop says so in rc (is_published would raise)
            while (info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS and not info.is_published()
                   and time.monotonic() < deadline and self.connected):
                time.sleep(0.02)
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            self._state = "stopped"

    # -- what the daemon calls ----------------------------------------------------------------

    def set_state(self, payload: Payload) -> None:
        """Publish (and remember, for every reconnect) the retained ``<base>/state``."""
        self._retained.set(self.state_topic, encode(payload))

    def set_health(self, payload: Payload) -> None:
        """Publish (and remember, for every reconnect) the retained ``<base>/health``."""
        self._retained.set(self.health_topic, encode(payload))

    def set_snapshot(self, png: bytes) -> None:
        """Publish (and remember, for every reconnect) the retained ``<base>/snapshot`` PNG."""
        self._retained.set(self.snapshot_topic, png)

    def telemetry(self, payload: Payload) -> bool:
        """Send one telemetry reading (QoS 0); dropped, returning False, while offline."""
        if not self.connected:
            return False
        info = self._client.publish(f"{self.base}/telemetry", encode(payload), qos=0)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def command_result(self, payload: Payload) -> None:
        """Answer a command on ``<base>/cmd/result`` (QoS 1, not retained)."""
        self._client.publish(f"{self.base}/cmd/result", encode(payload), qos=1)

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
        # Read outside the link's lock: the guard calls back into the link (publishing a
        # re-assertion checks ``connected``) while it holds its own lock, so taking the two
        # locks here in the other order would deadlock against the network thread.
        overwrites = self._retained.overwrites
        with self._lock:
            return LinkStatus(self._state, self._last_error or self._publish_fault,
                              self._connects, self._refusals, depth, self._outbox_fault,
                              len(self._memory), self._publish_fault, overwrites)

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
                         + [(t, 1) for t in (*self.commands, *self._retained.topics)])
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
        handler = (self.on_test_command if message.topic == self.test_topic
                   else self.commands.get(message.topic))
        if message.topic == self.test_topic or message.topic in self.commands:
            if message.retain:
                log.warning("mqtt: ignoring a retained %s (left on the broker by some client; "
                            "commands are never retained): clear it and restrict writes with "
                            "the broker ACL", message.topic)
                return
            log.info("mqtt: command received on %s", message.topic)
            if handler is not None:
                try:
                    handler(bytes(message.payload))
                except Exception:  # a faulty callback must not kill paho's network thread
                    log.exception("mqtt: the %s handler failed", message.topic)
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
