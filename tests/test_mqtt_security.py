"""The device defends what it publishes: own retained topics, retained commands, rediscovery
floods — and the broker ACL of docs/mqtt-security.md keeps other users off its topics."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import MqttConfig
from edge.mqtt.link import MqttLink
from edge.mqtt.outbox import Outbox
from tests.broker import MOSQUITTO, MOSQUITTO_PASSWD, Broker, wait_until
from tests.test_mqtt import Sub, make_link  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[1]
BASE = "firedetect/dev1"
DISCOVERY = "homeassistant/device/firedetect_dev1/config"


def _publisher(broker: Broker, auth: tuple[str, str] | None = None) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    if auth is not None:
        client.username_pw_set(*auth)
    client.connect(broker.host, broker.port, keepalive=5)
    client.loop_start()
    return client


def _send(client: paho.Client, topic: str, body: bytes, *, retain: bool = False) -> None:
    info = client.publish(topic, body, qos=1, retain=retain)
    info.wait_for_publish(5)
    assert info.is_published()


def _close(client: paho.Client) -> None:
    client.disconnect()
    client.loop_stop()


class TestRetainedTopicsDefended:
    @pytest.mark.parametrize(("topic", "foreign"), [
        (f"{BASE}/state", b'{"state":"idle"}'),
        (f"{BASE}/health", b'{"sensors":{}}'),
        (f"{BASE}/availability", b"offline"),
        (DISCOVERY, b""),
    ])
    def test_foreign_retained_value_is_corrected(
        self, broker: Broker, make_link: Callable[..., MqttLink], topic: str,  # noqa: F811
        foreign: bytes,
    ) -> None:
        """Another client's retained body on one of the device's topics is answered by the
        device's own value, so a late subscriber (Home Assistant) reads the truth."""
        link = make_link(broker.url)
        link.set_state({"state": "alarm"})
        link.set_health({"sensors": {"scd41": {"status": "ok", "reason": None}}})
        assert link.wait_connected(5)
        sub = Sub(broker, [topic])
        assert sub.wait(lambda s: bool(s.messages))
        ours = sub.messages[-1].payload
        intruder = _publisher(broker)
        _send(intruder, topic, foreign, retain=True)
        _close(intruder)
        assert sub.wait(lambda s: any(m.payload == foreign for m in s.messages))
        assert sub.wait(lambda s: s.messages[-1].payload == ours)
        sub.close()
        late = Sub(broker, [topic])
        assert late.wait(lambda s: bool(s.messages))
        assert late.messages[-1].payload == ours and late.messages[-1].retain
        assert link.status().overwrites >= 1
        late.close()

    def test_own_updates_cause_no_reassertion(
        self, broker: Broker, make_link: Callable[..., MqttLink]  # noqa: F811
    ) -> None:
        """The device's own echoes never trigger a re-assertion: each set_state is one message."""
        link = make_link(broker.url)
        assert link.wait_connected(5)
        sub = Sub(broker, [f"{BASE}/state"])
        for n, state in enumerate(["idle", "pre_alarm", "alarm", "idle"], start=1):
            link.set_state({"state": state})
            assert sub.wait(lambda s, n=n: len(s.messages) >= n)
        link.set_health({"sensors": {}})
        probe = Sub(broker, [f"{BASE}/health"])  # a later, separate round trip
        assert probe.wait(lambda s: bool(s.messages))
        assert [json.loads(m.payload)["state"] for m in sub.messages] == [
            "idle", "pre_alarm", "alarm", "idle"]
        assert link.status().overwrites == 0
        sub.close()
        probe.close()

    def test_retained_test_command_is_ignored(
        self, broker: Broker, make_link: Callable[..., MqttLink]  # noqa: F811
    ) -> None:
        """A retained cmd/test left on the broker fires no test on connect; a live one does."""
        intruder = _publisher(broker)
        _send(intruder, f"{BASE}/cmd/test", b"stale", retain=True)
        got: list[bytes] = []
        link = make_link(broker.url, on_test_command=got.append)
        assert link.wait_connected(5)
        # The link subscribes once connected: a live command sent before the broker has the
        # subscription reaches no one, so it is sent again (each a second apart) until one
        # arrives. The retained one must never fire.
        for _ in range(10):
            _send(intruder, f"{BASE}/cmd/test", b"live")
            if wait_until(lambda: bool(got), timeout=1.0):
                break
        _close(intruder)
        assert got and set(got) == {b"live"}

    def test_ha_status_flood_is_one_rediscovery_per_window(
        self, broker: Broker, make_link: Callable[..., MqttLink]  # noqa: F811
    ) -> None:
        """500 'online' on homeassistant/status cause one discovery now and one at the end of
        the window, not 500."""
        sub = Sub(broker, [DISCOVERY])
        got: list[bytes] = []
        link = make_link(broker.url, on_test_command=got.append, rediscovery_interval_s=1.0)
        assert link.wait_connected(5)
        assert sub.wait(lambda s: len(s.messages) >= 1)
        ha = _publisher(broker)
        for _ in range(500):
            ha.publish("homeassistant/status", b"online", qos=1)
        _send(ha, f"{BASE}/cmd/test", b"marker")  # after the flood, in order
        _close(ha)
        assert wait_until(lambda: got == [b"marker"])
        assert sub.wait(lambda s: len(s.messages) >= 3)
        time.sleep(1.5)  # one more window: nothing else may follow
        assert len(sub.messages) == 3
        sub.close()


def _acl_from_docs() -> str:
    text = (REPO / "docs" / "mqtt-security.md").read_text()
    block = re.search(r"```text\n(# /etc/mosquitto/acl.*?)```", text, re.S)
    assert block is not None, "docs/mqtt-security.md lost its acl_file example"
    return block.group(1)


USERS = {"firedetect-kitchen-1": "device pw", "homeassistant": "ha pw", "guest": "guest pw"}


@pytest.fixture
def acl_broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto with passwords and exactly the acl_file of docs/mqtt-security.md."""
    if not (Path(MOSQUITTO).exists() and Path(MOSQUITTO_PASSWD).exists()):
        pytest.skip("mosquitto is not installed; apt install mosquitto")
    b = Broker(tmp_path / "acl-broker", passwords=USERS, acl=_acl_from_docs())
    b.start()
    yield b
    b.stop()


def test_documented_acl_keeps_others_off_the_device_topics(
    acl_broker: Broker, tmp_path: Path
) -> None:
    """With the documented ACL the device works and Home Assistant can press test, while
    another user can neither overwrite <base>/state nor send a test command."""
    base = "firedetect/kitchen-1"
    got: list[bytes] = []
    cfg = MqttConfig(url=acl_broker.url, keepalive_s=5, username="firedetect-kitchen-1")
    link = MqttLink(cfg, "kitchen-1", Outbox(tmp_path / "acl.db"), on_test_command=got.append,
                    environ={"FIREDETECT_MQTT_PASSWORD": USERS["firedetect-kitchen-1"]})
    link.start()
    try:
        link.set_state({"state": "alarm"})
        assert link.wait_connected(5)
        ha = Sub(acl_broker, [f"{base}/#", "homeassistant/device/+/config"],
                 auth=("homeassistant", USERS["homeassistant"]))
        assert ha.wait(lambda s: {m.topic for m in s.messages} >= {
            f"{base}/state", f"{base}/availability",
            "homeassistant/device/firedetect_kitchen-1/config"})
        link.publish_event(lambda seq: json.dumps({"event": "alarm", "seq": seq}))
        assert ha.wait(lambda s: s.seqs(f"{base}/alarm") == [1])

        guest = _publisher(acl_broker, ("guest", USERS["guest"]))
        _send(guest, f"{base}/state", b'{"state":"idle"}', retain=True)
        _send(guest, f"{base}/cmd/test", b"guest")
        _close(guest)
        _send(ha.client, f"{base}/cmd/test", b"test")
        assert wait_until(lambda: bool(got))
        assert got == [b"test"]
        ha.close()

        reader = Sub(acl_broker, [f"{base}/state"], auth=("guest", USERS["guest"]))
        assert reader.wait(lambda s: bool(s.messages))
        assert json.loads(reader.messages[-1].payload) == {"state": "alarm"}
        assert link.status().overwrites == 0  # the broker stopped it, not the re-assertion
        reader.close()
        assert "Denied PUBLISH from" in acl_broker.log.read_text()
    finally:
        link.stop(timeout=2)
