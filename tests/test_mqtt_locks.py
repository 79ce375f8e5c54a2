"""The MQTT link's locks: reading its status never deadlocks against a re-assertion."""

from __future__ import annotations

import threading
from pathlib import Path

from edge.config import MqttConfig
from edge.mqtt.link import MqttLink
from edge.mqtt.outbox import Outbox


def test_status_while_retained_topics_are_reasserted(tmp_path: Path) -> None:
    """status() (the daemon's health) and publish_all() (the network thread's re-assertion on
    connect) run concurrently without deadlock: they take the link's and the guard's locks."""
    outbox = Outbox(tmp_path / "outbox.sqlite")
    link = MqttLink(MqttConfig(url="mqtt://127.0.0.1:9"), "locks", outbox)
    try:
        link.set_state(b'{"state":"idle"}')
        link.set_health(b'{"status":"ok"}')
        link._state = "connected"  # as after a CONNACK, without a broker: publishes go nowhere
        stop = threading.Event()

        def reassert() -> None:
            while not stop.is_set():
                link._retained.publish_all()

        t = threading.Thread(target=reassert, daemon=True)
        t.start()
        done = threading.Event()

        def read() -> None:
            for _ in range(3000):
                link.status()
            done.set()

        r = threading.Thread(target=read, daemon=True)
        r.start()
        r.join(60)
        stop.set()
        t.join(60)
        assert done.is_set(), "status() deadlocked against publish_all()"
        assert not t.is_alive()
    finally:
        link._state = "stopped"
        outbox.close()
