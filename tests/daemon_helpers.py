"""Helpers for the daemon tests: a real MQTT subscriber, a notify socket, a controllable scene."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.sim.scene import AirSample, KelvinArray, StaticRoom
from edge.types import ZERO_C_K


@dataclass(frozen=True)
class Message:
    """One message a subscriber received, with the wall time it arrived."""

    topic: str
    payload: bytes
    retain: bool
    at: float

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A real paho client subscribed to ``topics`` that keeps every message."""

    def __init__(self, host: str, port: int, topics: list[str], client_id: str = "",
                 clean_session: bool = True) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.topics = topics
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean_session)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.reconnect_delay_set(1, 2)
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the test subscriber could not subscribe")

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any,
                    props: Any) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain),
                                         time.monotonic()))

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float) -> Message:
        """The first message matching ``predicate``, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for m in self.messages:
                    if predicate(m):
                        return m
            time.sleep(0.05)
        with self._lock:
            seen = [(m.topic, m.payload[:120]) for m in self.messages[-15:]]
        raise AssertionError(f"no matching message within {timeout} s; last seen: {seen}")

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def events(sub: Subscriber, base: str) -> list[dict[str, Any]]:
    """The JSON events received on ``<base>/alarm``, in arrival order."""
    return [m.json() for m in sub.on(f"{base}/alarm")]


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's ``$NOTIFY_SOCKET``."""

    def __init__(self) -> None:
        # AF_UNIX paths are limited to 108 bytes: keep it short.
        self.dir = tempfile.mkdtemp(prefix="fdn", dir="/tmp")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.received: list[tuple[float, list[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append((time.monotonic(), data.decode().split("\n")))

    def lines(self, prefix: str) -> list[tuple[float, str]]:
        return [(t, ln) for t, msg in list(self.received) for ln in msg if ln.startswith(prefix)]

    def wait_for(self, prefix: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.lines(prefix)
            if found:
                return found[0][0]
            time.sleep(0.05)
        raise AssertionError(f"no {prefix} within {timeout} s; got {self.received[-5:]}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()
        Path(self.path).unlink(missing_ok=True)
        os.rmdir(self.dir)


class ControlledRoom(StaticRoom):
    """A quiet room the test can set on fire: a hot spot in view, CO2 rising out of view.

    ``fire_from`` (scene seconds): from then a patch of the frame burns at ``fire_c``.
    ``co2_from`` : from then CO2 rises by ``co2_ppm_per_min``.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed=seed, ffc_period_s=0.0)
        self.fire_from = float("inf")
        self.fire_until = float("inf")
        self.fire_c = 450.0
        self.co2_from = float("inf")
        self.co2_ppm_per_min = 3000.0
        self.toggles: list[float] = []  # scene times at which the fire goes on, off, on, ...

    def air(self, t: float) -> AirSample:
        a = super().air(t)
        if t > self.co2_from:
            return AirSample(a.co2_ppm + (t - self.co2_from) / 60.0 * self.co2_ppm_per_min,
                             a.temperature_c, a.humidity_pct)
        return a

    def thermal_k(self, t: float, height: int, width: int) -> KelvinArray:
        img = super().thermal_k(t, height, width)
        toggled = sum(1 for x in self.toggles if x <= t) % 2 == 1
        if toggled or self.fire_from <= t < self.fire_until:
            img = np.array(img)
            img[height // 3: height // 3 + height // 8, width // 3: width // 3 + width // 8] = (
                self.fire_c + ZERO_C_K)
        return img


@dataclass
class Run:
    """A daemon running in a thread of the test process, and everything watching it."""

    rt: Any
    thread: threading.Thread
    scene: ControlledRoom
    clock: Any
    sub: Subscriber
    notify: NotifySocket
    broker: Any

    stopped_at: float = float("inf")

    def stop(self) -> None:
        self.stopped_at = min(self.stopped_at, time.monotonic())
        self.rt.daemon.request_stop()
        self.thread.join(20)
        self.rt.close()

    def now(self) -> float:
        return float(self.clock.monotonic())

    def close(self) -> None:
        if self.thread.is_alive():
            self.stop()
        self.sub.close()
        self.notify.close()
        self.broker.stop()


def daemon_config(broker_url: str, state_dir: Path, device: str = "t1",
                  lepton_stale_s: float = 5.0, **alarm: float) -> Any:
    """A config for tests: short staleness, quick alarm and clear, Lepton 2.5 (cheap frames)."""
    from edge.config import parse_config

    return parse_config({
        "device": {"id": device, "state_dir": str(state_dir)},
        "mqtt": {"url": broker_url, "keepalive_s": 5, "telemetry_interval_s": 2.0},
        "sensors": {"scd41": {"stale_after_s": 8.0},
                    "lepton": {"model": "2.5", "stale_after_s": lepton_stale_s}},
        "alarm": {"pre_alarm_s": 1.0, "clear_s": 1.0, "min_alarm_s": 0.0, **alarm},
    })


def start_inprocess(workdir: Path, speed: float = 2.0, device: str = "t1",
                    persistent_subscriber: bool = False, lepton_stale_s: float = 5.0,
                    **options: Any) -> Run:
    """A broker, a subscriber to ``firedetect/<device>/#``, and the daemon in a thread."""
    from edge.app import build_daemon
    from edge.daemon import DaemonOptions
    from edge.notify import Notifier
    from edge.sim.clock import ScaledClock
    from tests.broker import Broker

    broker = Broker(workdir / "broker")
    broker.start()
    sub = Subscriber(broker.host, broker.port, [f"firedetect/{device}/#"],
                     client_id=f"sub-{device}" if persistent_subscriber else "",
                     clean_session=not persistent_subscriber)
    notify = NotifySocket()
    scene = ControlledRoom()
    clock = ScaledClock(speed)
    rt = build_daemon(
        daemon_config(broker.url, workdir / "state", device, lepton_stale_s), scene=scene,
        clock=clock,
        notifier=Notifier(notify.path),
        options=DaemonOptions(watchdog_s=0.6, status_interval_s=0.2, **options),
    )
    thread = threading.Thread(target=rt.daemon.run, name="daemon-under-test")
    thread.start()
    return Run(rt, thread, scene, clock, sub, notify, broker)


def child_main(argv: list[str]) -> int:
    """``python -m tests.daemon_helpers CONFIG SPEED [TOGGLE_T ...]``: the daemon as a process
    whose scene sets a fire on and off at the given scene times (SIGTERM stops it)."""
    import signal

    from edge.app import build_daemon
    from edge.cli import configure_logging
    from edge.config import load_config
    from edge.sim.clock import ScaledClock

    configure_logging(1)
    config = load_config(argv[0])
    scene = ControlledRoom()
    scene.toggles = [float(x) for x in argv[2:]]
    rt = build_daemon(config, scene=scene, clock=ScaledClock(float(argv[1])))
    signal.signal(signal.SIGTERM, lambda *a: rt.daemon.request_stop())
    try:
        rt.daemon.run()
    finally:
        rt.close()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(child_main(sys.argv[1:]))
