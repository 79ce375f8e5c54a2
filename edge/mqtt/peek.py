"""Reading a device's live state from outside it, for ``firedetect status``.

:func:`read_retained` connects to the broker with the config's ``[mqtt]`` settings (URL,
user, password, TLS), takes the device's retained ``availability``, ``state`` and ``health``
and disconnects; it sets **no** Last Will (the device's own ``offline`` will must not be
overwritten by a visitor). :func:`read_outbox` reads the state directory's outbox read-only:
how many events wait to be sent, and the newest of them.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from edge.config.mqtt import MqttConfig
from edge.config.urls import redact
from edge.errors import MqttError, OutboxError
from edge.mqtt.client import broker_address, make_client

log = logging.getLogger(__name__)

__all__ = ["RETAINED", "OutboxView", "read_outbox", "read_retained"]

#: The device's retained topics ``firedetect status`` reads, under its base topic.
RETAINED = ("availability", "state", "health")


def read_retained(config: MqttConfig, base: str, wait_s: float = 1.0) -> dict[str, Any]:
    """The device's retained topics (name → JSON object, or text for ``availability``),
    waiting at most ``wait_s`` after subscribing; a topic the broker holds nothing for is
    absent.

    :raises MqttError: the broker cannot be reached, or refuses the connection (naming the
        URL, credentials redacted, and why).
    """
    host, port, tls = broker_address(config.url)
    client = make_client(config, f"firedetect-status-{os.getpid()}", f"{base}/availability",
                         tls=tls)
    client.will_clear()  # a visitor must not leave "offline" on the device's topic
    got: dict[str, Any] = {}
    subscribed = threading.Event()
    done = threading.Event()
    refused: list[str] = []

    def on_connect(c: paho.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
        if rc.is_failure:
            refused.append(str(rc))
            done.set()
            return
        c.subscribe([(f"{base}/{name}", 1) for name in RETAINED])

    def on_subscribe(_c: paho.Client, _u: object, _m: object, _rc: object, _p: object) -> None:
        subscribed.set()

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if not msg.retain:
            return
        name = msg.topic.rsplit("/", 1)[-1]
        text = msg.payload.decode("utf-8", "replace")
        try:
            got[name] = text if name == "availability" else json.loads(text)
        except json.JSONDecodeError:
            got[name] = {"unreadable": text[:200]}
        if all(n in got for n in RETAINED):
            done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    where = redact(config.url)
    try:
        client.connect(host, port, keepalive=max(config.keepalive_s, 5))
    except (OSError, ValueError) as exc:
        raise MqttError(f"cannot reach the broker at {where} (mqtt.url): {exc}") from exc
    client.loop_start()
    try:
        deadline = time.monotonic() + max(wait_s, 0.1) + 5.0  # connecting may take a moment
        while not subscribed.is_set() and not done.is_set() and time.monotonic() < deadline:
            subscribed.wait(0.05)
        if refused:
            raise MqttError(f"the broker at {where} refused the connection: {refused[0]} "
                            "(check mqtt.username, the password and mqtt.tls)")
        if not subscribed.is_set():
            raise MqttError(f"no answer from the broker at {where} (mqtt.url)")
        done.wait(wait_s)
        return dict(got)
    finally:
        client.disconnect()
        client.loop_stop()


@dataclass(frozen=True, slots=True)
class OutboxView:
    """The state directory's outbox: ``depth`` events wait; ``newest`` are their payloads
    (JSON objects, newest first, at most the asked number)."""

    path: Path
    depth: int
    newest: list[dict[str, Any]]


def read_outbox(state_dir: Path, newest: int = 5) -> OutboxView:
    """Read ``<state_dir>/outbox.sqlite`` read-only (a running daemon keeps it open).

    :raises OutboxError: no such state directory or outbox, or one that cannot be read,
        naming the file.
    """
    path = state_dir / "outbox.sqlite"
    if not state_dir.is_dir():
        raise OutboxError(f"{state_dir}: no such state directory (--state-dir, "
                          "device.state_dir)")
    if not path.is_file():
        raise OutboxError(f"{path}: no outbox here (has the daemon run with this state "
                          "directory?)")
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            depth = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            rows = conn.execute("SELECT seq, payload FROM events ORDER BY seq DESC LIMIT ?",
                                (newest,)).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise OutboxError(f"{path}: cannot read the outbox: {exc}") from exc
    events: list[dict[str, Any]] = []
    for seq, payload in rows:
        try:
            body = json.loads(bytes(payload).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = {}
        events.append(body if isinstance(body, dict) else {"seq": seq})
    return OutboxView(path, depth, events)
