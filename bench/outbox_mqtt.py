"""How fast alarm events go: outbox appends (synced) and end-to-end delivery via Mosquitto.

1. ``Outbox.append_event`` rate and latency (commit + fsync, the cost paid by the sensing
   thread for every event).
2. ``MqttLink`` end to end: N events through a real local broker to a subscriber, from the
   first ``publish_event`` to the last message received and the outbox empty.

Run: .venv/bin/python bench/outbox_mqtt.py [N]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import MqttConfig
from edge.mqtt.link import MqttLink
from edge.mqtt.outbox import Outbox
from tests.broker import Broker


def bench_outbox(directory: Path, n: int) -> None:
    with Outbox(directory / "bench.db") as box:
        lat = []
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            box.append_event("fd/alarm", lambda s: json.dumps({"event": "alarm", "seq": s}))
            lat.append(time.perf_counter() - t)
        dt = time.perf_counter() - t0
    lat.sort()
    print(f"outbox: {n} appends in {dt:.3f} s = {n / dt:.0f}/s; latency median "
          f"{statistics.median(lat) * 1e3:.2f} ms, p99 {lat[int(0.99 * n)] * 1e3:.2f} ms")


def bench_link(directory: Path, n: int) -> None:
    broker = Broker(directory / "broker")
    broker.start()
    got = threading.Event()
    count = [0]

    def on_message(c: paho.Client, u: object, m: paho.MQTTMessage) -> None:
        count[0] += 1
        if count[0] >= n:
            got.set()

    sub = paho.Client(CallbackAPIVersion.VERSION2)
    sub.on_message = on_message
    sub.connect(broker.host, broker.port)
    sub.subscribe("firedetect/bench/alarm", qos=1)
    sub.loop_start()
    link = MqttLink(MqttConfig(url=broker.url), "bench", Outbox(directory / "link.db"))
    link.start()
    link.wait_connected(5)
    time.sleep(0.2)
    t0 = time.perf_counter()
    for _ in range(n):
        link.publish_event(lambda s: json.dumps({"event": "alarm", "seq": s}))
    t_queued = time.perf_counter() - t0
    got.wait(60)
    drained = link.drain(60)
    dt = time.perf_counter() - t0
    print(f"link: {n} events queued in {t_queued:.3f} s, all received and acked "
          f"({drained}) in {dt:.3f} s = {n / dt:.0f} events/s end to end")
    link.stop()
    sub.loop_stop()
    broker.stop()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as d:
        bench_outbox(Path(d), n)
        bench_link(Path(d), n)


if __name__ == "__main__":
    main()
