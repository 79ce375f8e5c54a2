"""The MQTT link against a real Mosquitto, its HA discovery and its secrets."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jinja2
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from edge.config import MqttConfig, TlsConfig
from edge.errors import MqttError
from edge.mqtt import payloads
from edge.mqtt.credentials import read_secret
from edge.mqtt.discovery import DiscoveryInfo, discovery_message, discovery_payload
from edge.mqtt.link import MqttLink, broker_address
from edge.mqtt.outbox import Outbox
from tests.broker import (
    BROKER_PASSWORD,
    BROKER_USER,
    Broker,
    TlsFiles,
    make_tls_files,
    wait_until,
)

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import sys, time
from edge.config import MqttConfig
from edge.mqtt.link import MqttLink
from edge.mqtt.outbox import Outbox
url, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
link = MqttLink(MqttConfig(url=url, keepalive_s=5), "kid", Outbox(path),
                reconnect_min_s=1, reconnect_max_s=1)
link.start()
if n == 0:
    print("connected" if link.wait_connected(10) else "failed", flush=True)
else:
    for _ in range(n):
        link.publish_event(lambda s: '{"event": "test", "seq": %d}' % s)
    print("queued", flush=True)
time.sleep(60)
"""


class Sub:
    """A real subscriber: a paho client in the test that records what it receives."""

    def __init__(
        self,
        broker: Broker,
        topics: list[str],
        *,
        client_id: str = "",
        clean: bool = True,
        tls: TlsFiles | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self.cond = threading.Condition()
        self.subscribed = threading.Event()
        self.topics = topics
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean
        )
        if tls is not None:
            self.client.tls_set(ca_certs=str(tls.ca), certfile=str(tls.client_cert),
                                keyfile=str(tls.client_key))
        if auth is not None:
            self.client.username_pw_set(*auth)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=5)
        self.client.loop_start()
        assert self.subscribed.wait(5), "test subscriber could not subscribe"

    def _on_connect(self, client: paho.Client, *args: object) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def on(self, topic: str) -> list[paho.MQTTMessage]:
        with self.cond:
            return [m for m in self.messages if paho.topic_matches_sub(topic, m.topic)]

    def wait(self, pred: Callable[[Sub], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.1))
            return True

    def seqs(self, topic: str) -> list[int]:
        return [int(json.loads(m.payload)["seq"]) for m in self.on(topic)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _first_seen(seqs: list[int]) -> list[int]:
    seen: dict[int, None] = {}
    for s in seqs:
        seen.setdefault(s, None)
    return list(seen)


@pytest.fixture
def make_link(tmp_path: Path) -> Iterator[Callable[..., MqttLink]]:
    """Builds started links with short reconnect delays; stops them all afterwards."""
    links: list[MqttLink] = []

    def make(url: str, device: str = "dev1", outbox: Outbox | None = None,
             start: bool = True, **kw: object) -> MqttLink:
        cfg_kw = {k: kw.pop(k) for k in ("username", "tls") if k in kw}
        cfg = MqttConfig(url=url, keepalive_s=5, **cfg_kw)  # type: ignore[arg-type]
        box = outbox or Outbox(tmp_path / f"{device}-{len(links)}.db")
        kw.setdefault("reconnect_min_s", 1)
        kw.setdefault("reconnect_max_s", 2)
        link = MqttLink(cfg, device, box, **kw)  # type: ignore[arg-type]
        links.append(link)
        if start:
            link.start()
        return link

    yield make
    for link in links:
        link.stop(timeout=2)


def _event(kind: str = "alarm") -> Callable[[int], str]:
    return lambda seq: json.dumps({"event": kind, "seq": seq})


class TestMqttLink:
    def test_events_arrive_in_order_with_seq(
        self, broker: Broker, make_link: Callable[..., MqttLink]
    ) -> None:
        """Events published through the outbox reach a subscriber in seq order."""
        sub = Sub(broker, ["firedetect/dev1/alarm"])
        link = make_link(broker.url)
        for _ in range(25):
            link.publish_event(_event())
        assert sub.wait(lambda s: len(s.on("firedetect/dev1/alarm")) >= 25)
        assert sub.seqs("firedetect/dev1/alarm") == list(range(1, 26))
        assert all(m.qos == 1 and not m.retain for m in sub.on("firedetect/dev1/alarm"))
        assert link.drain(5)
        assert link.status().outbox_depth == 0
        sub.close()

    def test_broker_outage_loses_nothing(
        self, broker: Broker, make_link: Callable[..., MqttLink]
    ) -> None:
        """Events sent while the broker is down all arrive, in order, after it returns."""
        sub = Sub(broker, ["firedetect/dev1/alarm"], client_id="outage-sub", clean=False)
        link = make_link(broker.url)
        for _ in range(5):
            link.publish_event(_event())
        assert sub.wait(lambda s: len(s.on("firedetect/dev1/alarm")) >= 5)
        broker.stop()
        for _ in range(10):
            link.publish_event(_event())  # returns at once: the outbox holds them
        assert link.status().outbox_depth >= 10
        assert not link.wait_connected(0.5)
        broker.start()
        assert sub.wait(lambda s: set(s.seqs("firedetect/dev1/alarm")) >= set(range(1, 16)),
                        timeout=20)
        assert _first_seen(sub.seqs("firedetect/dev1/alarm")) == list(range(1, 16))
        assert link.drain(5)
        assert link.status().connects >= 2
        sub.close()

    def test_a_message_paho_could_not_write_is_sent_again(
        self, broker: Broker, make_link: Callable[..., MqttLink]
    ) -> None:
        """A message paho took as the connection went (its info says "not connected", and
        ``is_published`` raises) leaves the in-flight list as lost instead of raising on every
        later pass: the publisher once wedged on it and no event reached the broker again."""
        from paho.mqtt.enums import MQTTErrorCode

        link = make_link(broker.url)
        sub = Sub(broker, ["firedetect/dev1/alarm"])
        stale = paho.MQTTMessageInfo(1)
        stale.rc = MQTTErrorCode.MQTT_ERR_NO_CONN
        waiting, lost = link._collect_acks([(1, stale)])
        assert waiting == [] and lost
        for _ in range(3):  # and the link still delivers
            link.publish_event(_event())
        assert sub.wait(lambda s: sub.seqs("firedetect/dev1/alarm") == [1, 2, 3])
        sub.close()

    def test_unacknowledged_events_resent_after_broker_crash(
        self, saving_broker: Broker, make_link: Callable[..., MqttLink]
    ) -> None:
        """Events written to the socket but never PUBACKed (broker frozen, then killed) are
        kept and resent in order once a broker is back.

        The subscriber's persistent session is on the broker's disk before the crash (it
        saves every second), so the broker queues the resent events for it however fast the
        device reconnects: a subscriber that subscribed only after the restart would race
        the device and could miss events that are not retained."""
        broker = saving_broker
        sub = Sub(broker, ["firedetect/dev1/alarm"], client_id="crash-watcher", clean=False)
        try:
            link = make_link(broker.url)
            assert link.wait_connected(5)
            db = broker.workdir / "mosquitto.db"
            assert wait_until(lambda: db.exists() and db.stat().st_size > 0, 5)
            time.sleep(1.5)  # one more save, made after the subscription
            assert broker.proc is not None
            broker.proc.send_signal(signal.SIGSTOP)
            for _ in range(6):
                link.publish_event(_event())
            time.sleep(0.3)  # the publisher hands them to paho, which writes them out
            assert link.status().outbox_depth == 6
            broker.proc.send_signal(signal.SIGKILL)
            broker.proc.wait()
            broker.proc = None
            broker.start()
            assert sub.wait(lambda s: set(s.seqs("firedetect/dev1/alarm")) >= set(range(1, 7)),
                            timeout=15)
            assert _first_seen(sub.seqs("firedetect/dev1/alarm")) == list(range(1, 7))
            assert link.drain(5)
        finally:
            sub.close()

    def test_availability_online_retained(
        self, broker: Broker, make_link: Callable[..., MqttLink]
    ) -> None:
        """A connected link leaves a retained 'online' that a late subscriber sees."""
        link = make_link(broker.url)
        assert link.wait_connected(5)
        # The link publishes 'online' just after it connects: a subscriber that comes before
        # the broker has it gets it live (retain false). Wait until the broker has it...
        first = Sub(broker, ["firedetect/dev1/availability"])
        assert first.wait(lambda s: bool(s.on("firedetect/dev1/availability")))
        first.close()
        # ... then a late subscriber must get it from the broker's store, retained.
        sub = Sub(broker, ["firedetect/dev1/availability"])
        assert sub.wait(lambda s: bool(s.on("firedetect/dev1/availability")))
        msg = sub.on("firedetect/dev1/availability")[-1]
        assert msg.payload == b"online" and msg.retain
        sub.close()

    def test_clean_stop_says_offline(
        self, broker: Broker, make_link: Callable[..., MqttLink]
    ) -> None:
        """Stopping the link publishes a retained 'offline' before disconnecting."""
        link = make_link(broker.url)
        assert link.wait_connected(5)
        link.stop()
        sub = Sub(broker, ["firedetect/dev1/availability"])
        assert sub.wait(lambda s: bool(s.on("firedetect/dev1/availability")))
        assert sub.on("firedetect/dev1/availability")[-1].payload == b"offline"
        sub.close()

    def test_reconnect_republishes_retained_and_resubscribes(
        self, broker: Broker, make_link: Callable[..., MqttLink]
    ) -> None:
        """After a broker restart that forgot everything, the link restores its retained
        topics and its cmd/test subscription."""
        got: list[bytes] = []
        link = make_link(broker.url, on_test_command=got.append)
        link.set_state({"state": "idle", "since": "x", "score": 0.1})
        link.set_health({"sensors": {"scd41": {"status": "ok", "reason": None}}})
        assert link.wait_connected(5)
        broker.restart(wipe=True)
        deadline = time.monotonic() + 15
        while link.status().connects < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert link.status().connects >= 2
        sub = Sub(broker, ["firedetect/dev1/#", "homeassistant/device/+/config"])
        topics = {"firedetect/dev1/availability", "firedetect/dev1/state",
                  "firedetect/dev1/health", "homeassistant/device/firedetect_dev1/config"}
        assert sub.wait(lambda s: topics <= {m.topic for m in s.messages})
        assert all(m.retain for m in sub.messages if m.topic in topics)
        assert json.loads(sub.on("firedetect/dev1/state")[-1].payload)["state"] == "idle"
        sub.client.publish("firedetect/dev1/cmd/test", b"test", qos=1)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got == [b"test"]
        sub.close()

    def test_failing_test_handler_does_not_break_the_link(
        self, broker: Broker, make_link: Callable[..., MqttLink]
    ) -> None:
        """A cmd/test handler that raises is logged; the link stays up and takes the next one."""
        calls: list[bytes] = []

        def handler(payload: bytes) -> None:
            calls.append(payload)
            if len(calls) == 1:
                raise RuntimeError("handler bug")

        link = make_link(broker.url, on_test_command=handler)
        assert link.wait_connected(5)
        sub = Sub(broker, ["firedetect/dev1/availability"])
        for body in (b"one", b"two"):
            sub.client.publish("firedetect/dev1/cmd/test", body, qos=1)
        deadline = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert calls == [b"one", b"two"]
        assert link.connected and link.status().connects == 1
        sub.close()

    def test_state_update_replaces_retained(
        self, broker: Broker, make_link: Callable[..., MqttLink]
    ) -> None:
        """set_state while connected updates the retained state at once."""
        link = make_link(broker.url)
        assert link.wait_connected(5)
        sub = Sub(broker, ["firedetect/dev1/state"])
        link.set_state({"state": "alarm"})
        assert sub.wait(lambda s: bool(s.on("firedetect/dev1/state")))
        assert json.loads(sub.on("firedetect/dev1/state")[-1].payload) == {"state": "alarm"}
        sub.close()

    def test_ha_status_online_reannounces_discovery(
        self, broker: Broker, make_link: Callable[..., MqttLink]
    ) -> None:
        """When Home Assistant says 'online', discovery is published again."""
        sub = Sub(broker, ["homeassistant/device/+/config"])
        link = make_link(broker.url)
        assert sub.wait(lambda s: len(s.messages) >= 1)
        sub.client.publish("homeassistant/status", b"online", qos=1)
        assert sub.wait(lambda s: len(s.messages) >= 2)
        assert link.connected
        sub.close()

    def test_telemetry_qos0_and_dropped_offline(
        self, broker: Broker, make_link: Callable[..., MqttLink]
    ) -> None:
        """Telemetry is sent QoS 0 unretained when online and refused (False) when offline."""
        link = make_link(broker.url, start=False)
        assert link.telemetry({"co2_ppm": 400}) is False
        link.start()
        assert link.wait_connected(5)
        sub = Sub(broker, ["firedetect/dev1/telemetry"])
        assert link.telemetry({"co2_ppm": 401}) is True
        assert sub.wait(lambda s: bool(s.messages))
        msg = sub.messages[0]
        assert json.loads(msg.payload) == {"co2_ppm": 401} and not msg.retain
        assert link.status().outbox_depth == 0
        sub.close()

    def test_outbox_failure_still_delivers(
        self, broker: Broker, make_link: Callable[..., MqttLink], tmp_path: Path
    ) -> None:
        """If the outbox cannot store an event, it is kept in memory, sent, and flagged."""
        box = Outbox(tmp_path / "full.db")
        link = make_link(broker.url, outbox=box)
        assert link.wait_connected(5)
        sub = Sub(broker, ["firedetect/dev1/alarm"])
        link.publish_event(_event())
        pages = box._conn.execute("PRAGMA page_count").fetchone()[0]
        box._conn.execute(f"PRAGMA max_page_count={pages}")
        big = "x" * 20000
        seqs = [link.publish_event(lambda s: json.dumps({"seq": s, "pad": big}))
                for _ in range(3)]
        assert seqs == [2, 3, 4]
        assert sub.wait(lambda s: set(s.seqs("firedetect/dev1/alarm")) >= {1, 2, 3, 4})
        st = link.status()
        assert st.outbox_fault is not None and str(box.path) in st.outbox_fault
        assert link.drain(5)

    def test_last_will_when_process_killed(self, broker: Broker, tmp_path: Path) -> None:
        """A SIGKILLed link process leaves 'offline' on its availability topic."""
        sub = Sub(broker, ["firedetect/kid/availability"])
        proc = _child(broker.url, tmp_path / "kid.db", 0)
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "connected"
            assert sub.wait(lambda s: any(m.payload == b"online" for m in s.messages))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert sub.wait(lambda s: s.messages[-1].payload == b"offline")
        sub.close()
        late = Sub(broker, ["firedetect/kid/availability"])
        assert late.wait(lambda s: bool(s.messages))
        assert late.messages[-1].payload == b"offline" and late.messages[-1].retain
        late.close()

    def test_events_survive_process_kill(
        self, broker: Broker, make_link: Callable[..., MqttLink], tmp_path: Path
    ) -> None:
        """Events queued by a process killed before it could send them arrive after restart."""
        broker.stop()
        path = tmp_path / "kid.db"
        proc = _child(broker.url, path, 12)
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "queued"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        broker.start()
        sub = Sub(broker, ["firedetect/kid/alarm"])
        link = make_link(broker.url, device="kid", outbox=Outbox(path))
        assert sub.wait(lambda s: set(s.seqs("firedetect/kid/alarm")) >= set(range(1, 13)))
        assert _first_seen(sub.seqs("firedetect/kid/alarm")) == list(range(1, 13))
        assert link.drain(5)
        assert link.publish_event(_event()) == 13
        sub.close()

    def test_tls_with_client_certificate(
        self, tls_broker: Broker, tls_files: TlsFiles, make_link: Callable[..., MqttLink]
    ) -> None:
        """The link connects over TLS with a client certificate and delivers events."""
        tls = TlsConfig(enabled=True, ca_file=tls_files.ca, cert_file=tls_files.client_cert,
                        key_file=tls_files.client_key)
        sub = Sub(tls_broker, ["firedetect/dev1/alarm"], tls=tls_files)
        link = make_link(tls_broker.url, tls=tls)
        assert link.wait_connected(5)
        link.publish_event(_event())
        assert sub.wait(lambda s: s.seqs("firedetect/dev1/alarm") == [1])
        sub.close()

    def test_tls_untrusted_broker_is_reported(
        self, tls_broker: Broker, tls_files: TlsFiles, make_link: Callable[..., MqttLink],
        tmp_path: Path,
    ) -> None:
        """A broker certificate from another CA is never trusted; the error points at TLS."""
        other = make_tls_files(tmp_path / "other")
        tls = TlsConfig(enabled=True, ca_file=other.ca, cert_file=tls_files.client_cert,
                        key_file=tls_files.client_key)
        link = make_link(tls_broker.url, tls=tls)
        deadline = time.monotonic() + 5
        while link.status().last_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not link.wait_connected(1.0)
        st = link.status()
        assert st.state == "connecting" and st.connects == 0
        assert st.last_error is not None and "TLS" in st.last_error

    def test_tls_missing_file_is_clear_error(
        self, tmp_path: Path, make_link: Callable[..., MqttLink]
    ) -> None:
        """A TLS file that does not exist is an MqttError naming the key and the path."""
        tls = TlsConfig(enabled=True, ca_file=tmp_path / "nope.pem")
        with pytest.raises(MqttError, match=r"mqtt\.tls\.ca_file: .*nope\.pem"):
            make_link("mqtts://127.0.0.1:8883", tls=tls, start=False)

    def test_volatile_outbox_is_reported(
        self, tmp_path: Path, make_link: Callable[..., MqttLink]
    ) -> None:
        """A link on an in-memory stand-in outbox reports its fault from the start."""
        box = Outbox.volatile(tmp_path / "bad.db", "bad.db: corrupt", first_seq=100)
        link = make_link("mqtt://127.0.0.1:1", outbox=box, start=False)
        assert link.status().outbox_fault == "bad.db: corrupt"
        assert link.publish_event(_event()) == 100

    def test_wrong_password_reports_and_retries(
        self, password_broker: Broker, make_link: Callable[..., MqttLink],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A refused CONNACK is one clear ERROR, a readable status, and retries with backoff."""
        caplog.set_level(logging.DEBUG, logger="edge.mqtt.link")
        secret = "wrong-password-xyz"
        link = make_link(password_broker.url, username=BROKER_USER,
                         environ={"FIREDETECT_MQTT_PASSWORD": secret})
        deadline = time.monotonic() + 10
        while link.status().refusals < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        st = link.status()
        assert st.refusals >= 2
        assert st.state == "refused" and not link.connected
        assert st.last_error is not None and "refused" in st.last_error
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert "refused" in errors[0].getMessage()
        assert secret not in caplog.text and secret not in st.last_error

    def test_password_from_credentials_directory(
        self, password_broker: Broker, make_link: Callable[..., MqttLink], tmp_path: Path
    ) -> None:
        """The password is read from $CREDENTIALS_DIRECTORY/<password_env> and works."""
        creds = tmp_path / "creds"
        creds.mkdir()
        (creds / "FIREDETECT_MQTT_PASSWORD").write_text(BROKER_PASSWORD + "\n")
        link = make_link(password_broker.url, username=BROKER_USER,
                         environ={"CREDENTIALS_DIRECTORY": str(creds)})
        assert link.wait_connected(5)
        assert link.status().last_error is None


def _child(url: str, outbox: Path, n: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", _CHILD, url, str(outbox), str(n)],
                            stdout=subprocess.PIPE, text=True, env=env)


class TestDiscovery:
    def _payload(self) -> dict[str, object]:
        info = DiscoveryInfo(device_id="k1", base_topic="firedetect/k1", sw_version="0.1.0",
                             model_version="m7", telemetry_interval_s=10.0)
        return discovery_payload(info)

    def test_device_and_origin(self) -> None:
        """The device block identifies one device; the origin names firedetect and the model."""
        p = self._payload()
        dev = p["dev"]
        assert isinstance(dev, dict)
        assert dev["identifiers"] == ["firedetect_k1"]
        for key in ("name", "manufacturer", "model", "sw_version"):
            assert dev[key]
        origin = p["o"]
        assert isinstance(origin, dict)
        assert origin["name"] == "firedetect" and "m7" in origin["sw_version"]

    def test_every_component_has_required_keys(self) -> None:
        """Each component has a platform, a unique id and availability settings."""
        cmps = self._payload()["cmps"]
        assert isinstance(cmps, dict)
        ids = [c["unique_id"] for c in cmps.values()]
        assert len(ids) == len(set(ids))
        for c in cmps.values():
            assert c["p"] in ("sensor", "binary_sensor", "button", "image")
            assert c["availability_topic"] == "firedetect/k1/availability"
            assert (c["payload_available"], c["payload_not_available"]) == ("online", "offline")
            assert (("state_topic" in c and "value_template" in c) or "command_topic" in c
                    or "image_topic" in c)

    @pytest.mark.parametrize("feedback", [False, True])
    def test_qos_1_on_every_component(self, feedback: bool) -> None:
        """Every component says qos 1 itself: HA 2025.4 does not inherit the device's qos."""
        info = DiscoveryInfo(device_id="k1", base_topic="firedetect/k1", feedback=feedback)
        cmps = discovery_payload(info)["cmps"]
        assert cmps and all(c.get("qos") == 1 for c in cmps.values()), [
            k for k, c in cmps.items() if c.get("qos") != 1]

    def test_snapshot_image_validates_against_ha_schema(self) -> None:
        """The snapshot image entity passes Home Assistant's mqtt image schema."""
        cmps = self._payload()["cmps"]
        assert isinstance(cmps, dict)
        image = cmps["snapshot"]
        assert image["image_topic"] == "firedetect/k1/snapshot"
        assert _ha_image_errors(image) == []

    @pytest.mark.parametrize(("change", "error"), [
        ({"url_topic": "x/url"}, "exclusive"),
        ({"image_topic": None}, "image_topic or url_topic"),
        ({"content_type": 5}, "content_type"),
        ({"image_encoding": "hex"}, "image_encoding"),
        ({"qos": 3}, "qos"),
        ({"image_topic": "a/+x"}, "image_topic"),
    ])
    def test_ha_image_schema_check_rejects(self, change: dict[str, object], error: str) -> None:
        """The schema check used above does reject what Home Assistant rejects."""
        cmps = self._payload()["cmps"]
        assert isinstance(cmps, dict)
        image = {**cmps["snapshot"], **change}
        image = {k: v for k, v in image.items() if v is not None}
        assert any(error in e for e in _ha_image_errors(image)), _ha_image_errors(image)

    def test_entities_for_fire_gas_and_problems(self) -> None:
        """Fire (smoke), CO2 (ppm), temperature, humidity, score and problem entities exist."""
        cmps = self._payload()["cmps"]
        assert isinstance(cmps, dict)
        assert cmps["fire"]["device_class"] == "smoke"
        assert cmps["fire"]["state_topic"] == "firedetect/k1/state"
        assert (cmps["co2"]["device_class"], cmps["co2"]["unit_of_measurement"]) == (
            "carbon_dioxide", "ppm")
        assert cmps["temperature"]["device_class"] == "temperature"
        assert cmps["humidity"]["device_class"] == "humidity"
        assert cmps["score"]["value_template"] == "{{ value_json.score }}"
        for key in ("co2", "temperature", "humidity", "score"):
            assert cmps[key]["expire_after"] == 30
        for sensor in ("scd41", "lepton"):
            c = cmps[f"{sensor}_problem"]
            assert c["device_class"] == "problem" and c["state_topic"] == "firedetect/k1/health"
            assert f"sensors.{sensor}.status" in c["value_template"]
        assert cmps["test"]["command_topic"] == "firedetect/k1/cmd/test"

    def test_message_topic_and_json(self) -> None:
        """The message goes to <prefix>/device/<node>/config as JSON."""
        info = DiscoveryInfo(device_id="k1", base_topic="fd/k1", discovery_prefix="ha")
        topic, body = discovery_message(info)
        assert topic == "ha/device/firedetect_k1/config"
        assert json.loads(body)["cmps"]["fire"]["p"] == "binary_sensor"


def _valid_subscribe_topic(topic: object) -> bool:
    """HA's ``valid_subscribe_topic``: a non-empty UTF-8 string, wildcards only as whole levels."""
    if not isinstance(topic, str) or not topic or "\0" in topic:
        return False
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if ("+" in level and level != "+") or ("#" in level and level != "#"):
            return False
        if level == "#" and i != len(levels) - 1:
            return False
    return True


def _ha_image_errors(c: dict[str, object]) -> list[str]:
    """Home Assistant's mqtt ``image`` discovery schema (homeassistant/components/mqtt/image.py,
    2025.4: ``vol.Exclusive(url_topic | image_topic)``, one of them required, ``content_type``
    a string, ``image_encoding`` only ``b64``; MQTT_BASE_SCHEMA's ``qos`` 0–2; the entity
    common schema's ``unique_id``/availability), as a list of errors."""
    errors = []
    if c.get("p") != "image":
        errors.append("platform must be image")
    has_image, has_url = "image_topic" in c, "url_topic" in c
    if has_image and has_url:
        errors.append("url_topic and image_topic are exclusive")
    if not has_image and not has_url:
        errors.append("one of image_topic or url_topic is required")
    for key in ("image_topic", "url_topic", "availability_topic"):
        if key in c and not _valid_subscribe_topic(c[key]):
            errors.append(f"{key} is not a valid subscribe topic: {c[key]!r}")
    if "content_type" in c and not (isinstance(c["content_type"], str)
                                    and c["content_type"].startswith("image/")):
        errors.append(f"content_type must be an image MIME type: {c['content_type']!r}")
    if "image_encoding" in c and c["image_encoding"] != "b64":
        errors.append(f"image_encoding may only be b64: {c['image_encoding']!r}")
    if c.get("qos", 0) not in (0, 1, 2):
        errors.append(f"qos must be 0, 1 or 2: {c['qos']!r}")
    allowed = {"p", "name", "unique_id", "qos", "availability_topic", "payload_available",
               "payload_not_available", "image_topic", "url_topic", "content_type",
               "image_encoding", "url_template", "icon", "entity_category", "enabled_by_default",
               "object_id", "default_entity_id", "encoding", "json_attributes_topic",
               "json_attributes_template", "entity_picture", "availability_mode",
               "availability_template"}
    errors += [f"unknown key {k!r}" for k in c if k not in allowed]
    return errors


class TestDiscoveryTemplates:
    """The discovery value_templates rendered with Jinja2 against edge.mqtt.payloads' real JSON."""

    def _render(self, key: str, body: bytes) -> str:
        info = DiscoveryInfo(device_id="k1", base_topic="fd/k1")
        template = discovery_payload(info)["cmps"][key]["value_template"]
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 (plain text, as HA renders)
        return str(env.from_string(template).render(value_json=json.loads(body))).strip()

    @pytest.mark.parametrize(("state", "on"), [("idle", "OFF"), ("pre_alarm", "OFF"),
                                               ("alarm", "ON")])
    def test_fire_from_state(self, state: str, on: str) -> None:
        """The fire binary_sensor is ON exactly in the alarm state."""
        body = payloads.state_payload(state, "2026-11-28T00:00:00.000Z", 1.0, 0.9)
        assert self._render("fire", body) == on
        assert self._render("alarm_state", body) == state

    def test_alarm_state_attributes_carry_a_warnings_reason(self) -> None:
        """The alarm-state sensor's attributes give a pre-alarm's reason and words, and
        null for both in a state without them."""
        info = DiscoveryInfo(device_id="k1", base_topic="fd/k1")
        template = discovery_payload(info)["cmps"]["alarm_state"]["json_attributes_template"]
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 (plain text, as HA renders)
        why = "a hot spot in the cooking zone keeps heating: 21 px, hottest 180 °C"
        warned = payloads.state_payload("pre_alarm", "T", 1.0, 0.4, None, ("cooking_zone", why))
        got = json.loads(env.from_string(template).render(value_json=json.loads(warned)))
        assert got == {"reason": "cooking_zone", "why": why}
        idle = payloads.state_payload("idle", "T", 1.0, 0.01)
        assert json.loads(env.from_string(template).render(value_json=json.loads(idle))) == {
            "reason": None, "why": None}

    def test_readings_from_telemetry(self) -> None:
        """CO2, temperature, humidity, hotspot and score read their telemetry fields."""
        body = payloads.telemetry_payload(612.0, 21.5, 40.25, 88.5, 0.125, "ts")
        got = {k: self._render(k, body) for k in
               ("co2", "temperature", "humidity", "hotspot", "score")}
        assert got == {"co2": "612.0", "temperature": "21.5", "humidity": "40.25",
                       "hotspot": "88.5", "score": "0.125"}

    def test_last_event_reason_in_words(self) -> None:
        """The last-event sensor shows an event's "why", else its reason code, else its kind."""
        alarm = {"event": "alarm", "reason": "persistent", "why": "the score stayed high"}
        assert self._render("last_event", json.dumps(alarm).encode()) == "the score stayed high"
        fault = {"event": "fault", "reason": "no data for 12 s"}
        assert self._render("last_event", json.dumps(fault).encode()) == "no data for 12 s"
        test = payloads.test_payload(1, "ts", {"scd41": "ok", "lepton": "ok"}, False, "m1",
                                     0.1, 5.0)
        assert self._render("last_event", payloads.dumps(test)) == "test"

    def test_last_event_fits_a_ha_state(self) -> None:
        """A long reason in words is cut to the 255 characters HA keeps as a state."""
        body = json.dumps({"event": "alarm", "reason": "x", "why": "w" * 400}).encode()
        assert self._render("last_event", body) == "w" * 255

    def test_problems_from_health(self) -> None:
        """A sensor's problem entity is ON when its health status is not ok."""
        body = payloads.health_payload(
            {"scd41": "ok", "lepton": "fault"}, {"lepton": "lost sync"}, "m1", False, 5.0, 0,
            "ts",
        )
        assert self._render("scd41_problem", body) == "OFF"
        assert self._render("lepton_problem", body) == "ON"


class TestCredentials:
    def test_environment_first(self, tmp_path: Path) -> None:
        """The environment variable wins over the credential file."""
        (tmp_path / "PW").write_text("file")
        env = {"PW": "env", "CREDENTIALS_DIRECTORY": str(tmp_path)}
        assert read_secret("PW", env) == "env"

    def test_credentials_directory(self, tmp_path: Path) -> None:
        """Without the variable, $CREDENTIALS_DIRECTORY/<name> is read, newline stripped."""
        (tmp_path / "PW").write_text("s3cret\n")
        assert read_secret("PW", {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "s3cret"

    def test_missing_is_none(self, tmp_path: Path) -> None:
        """No variable and no file gives None."""
        assert read_secret("PW", {"CREDENTIALS_DIRECTORY": str(tmp_path)}) is None
        assert read_secret("PW", {}) is None

    def test_config_rejects_bad_password_env(self) -> None:
        """mqtt.password_env that is not a variable/credential name fails validation."""
        with pytest.raises(ValidationError, match="password_env"):
            MqttConfig(password_env="../etc/shadow")

    def test_bad_name_is_value_error(self) -> None:
        """A name that could escape the credentials directory is refused."""
        with pytest.raises(ValueError, match="secret name"):
            read_secret("../etc/passwd", {})


class TestBrokerAddress:
    @pytest.mark.parametrize(("url", "expected"), [
        ("mqtt://h", ("h", 1883, False)),
        ("mqtts://h", ("h", 8883, True)),
        ("mqtt://10.0.0.2:1884", ("10.0.0.2", 1884, False)),
    ])
    def test_parses(self, url: str, expected: tuple[str, int, bool]) -> None:
        """Scheme picks TLS and the default port."""
        assert broker_address(url) == expected

    def test_rejects_other_schemes(self) -> None:
        """An http:// URL is a ValueError naming mqtt.url."""
        with pytest.raises(ValueError, match=r"mqtt\.url"):
            broker_address("http://h")


class TestPahoLogNoise:
    def test_not_connected_error_is_dropped_other_paho_errors_kept(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """paho's per-loop "not connected" ERROR is filtered; its other errors still log."""
        from edge.mqtt.client import make_client

        client = make_client(
            MqttConfig(), "noise-test", "firedetect/noise/availability", tls=False
        )
        caplog.set_level(logging.DEBUG, logger="edge.mqtt.paho")
        assert client._loop(0.0) == paho.MQTT_ERR_NO_CONN  # no socket: paho logs its ERROR
        client._easy_log(paho.MQTT_LOG_ERR, "Caught exception in on_connect: boom")
        messages = [r.getMessage() for r in caplog.records if r.name == "edge.mqtt.paho"]
        assert not any(m.startswith("Client is not connected") for m in messages)
        assert "Caught exception in on_connect: boom" in messages
