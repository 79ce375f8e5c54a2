"""The MQTT link under publish faults and broker outages: no event dropped, quick reconnect."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.config import MqttConfig
from edge.mqtt.guard import backoff_delay
from edge.mqtt.link import MqttLink
from edge.mqtt.outbox import Outbox
from tests.broker import Broker, wait_until
from tests.test_mqtt import Sub, make_link  # noqa: F401  (fixture)


def _event(seq: int) -> str:
    return json.dumps({"event": "alarm", "seq": seq})


class TestNoEventDropped:
    def test_bad_base_topic_keeps_event_and_reports(self, broker: Broker, tmp_path: Path) -> None:
        """An alarm whose topic the outbox and paho refuse (base topic with a wildcard) is kept
        queued, never raised away, and the fault names the topic in the link's status."""
        # Built past validation on purpose: the link itself must not drop what it is given.
        cfg = MqttConfig(url=broker.url, keepalive_s=5).model_copy(
            update={"base_topic": "firedetect/#"})
        link = MqttLink(cfg, "dev1", Outbox(tmp_path / "o.db"), reconnect_min_s=1,
                        reconnect_max_s=2)
        link.start()  # the broker refuses its Last Will topic too: it never connects
        try:
            seqs = [link.publish_event(_event) for _ in range(2)]
            assert seqs == [1, 2]
            st = link.status()
            assert st.memory_events == 2
            assert st.publish_fault is not None and "firedetect/#/alarm" in st.publish_fault
            assert st.last_error is not None
            assert not link.drain(1.0)  # still queued: nothing acknowledged, nothing dropped
        finally:
            link.stop(timeout=2)

    def test_unpublishable_event_is_held_and_later_events_go(
        self, broker: Broker, make_link: Callable[..., MqttLink],  # noqa: F811
        tmp_path: Path,
    ) -> None:
        """An outbox event paho refuses to publish is held (kept, reported, retried); the
        events after it are still delivered instead of waiting behind it forever."""
        box = Outbox(tmp_path / "held.db")
        box.append("firedetect/dev1/alarm", _event(1))
        # A stored row paho refuses (an outbox written with another topic rule): seq 2.
        box._conn.execute(
            "INSERT INTO events (seq, topic, payload, qos, retain, created) "
            "VALUES (2, 'firedetect/dev1/+/alarm', ?, 1, 0, 0)", (_event(2).encode(),))
        box._conn.execute("UPDATE meta SET value = 3 WHERE key = 'next_seq'")
        sub = Sub(broker, ["firedetect/dev1/alarm"])
        link = make_link(broker.url, outbox=box)
        for _ in range(2):
            link.publish_event(_event)
        assert sub.wait(lambda s: set(s.seqs("firedetect/dev1/alarm")) >= {1, 3, 4})
        assert 2 not in sub.seqs("firedetect/dev1/alarm")
        assert wait_until(lambda: link.status().outbox_depth == 1, 5)
        assert [i.seq for i in box.pending()] == [2]
        fault = link.status().publish_fault
        assert fault is not None and "event 2" in fault and "firedetect/dev1/+/alarm" in fault
        sub.close()


class TestReconnect:
    def test_default_delays_are_a_few_seconds(self) -> None:
        """The configured reconnect delays default to 0.5 s and 4 s, and min > max is refused
        naming both keys."""
        cfg = MqttConfig()
        assert (cfg.reconnect_min_s, cfg.reconnect_max_s) == (0.5, 4.0)
        with pytest.raises(ValidationError, match=r"reconnect_min_s.*reconnect_max_s"):
            MqttConfig(reconnect_min_s=5.0, reconnect_max_s=2.0)

    def test_backoff_is_capped_and_jittered(self) -> None:
        """Every wait stays within [min/2, max], and two devices draw different waits."""
        rng = random.Random(7)
        waits = [backoff_delay(n, 0.5, 4.0, rng) for n in range(40)]
        assert all(0.25 <= w <= 4.0 for w in waits)
        assert max(waits[5:]) > 2.0 and len({round(w, 6) for w in waits[5:]}) > 30
        with pytest.raises(ValueError, match="min"):
            backoff_delay(0, 3.0, 1.0)

    def test_queued_alarm_goes_out_soon_after_a_long_outage(
        self, broker: Broker, tmp_path: Path
    ) -> None:
        """After a 16 s outage an alarm queued meanwhile reaches the broker within the
        reconnect cap (plus margin) of its return, not after paho's doubled wait, and a
        subscriber gets it.

        The subscriber holds a persistent session, which the broker keeps over its restart:
        a subscriber that subscribed only after the restart raced the device's reconnect and
        missed the (not retained) alarm whenever the device was faster (a CI run, session
        33)."""
        cfg = MqttConfig(url=broker.url, keepalive_s=5)  # default reconnect delays
        sub = Sub(broker, ["firedetect/dev1/alarm"], client_id="alarm-watcher", clean=False)
        link = MqttLink(cfg, "dev1", Outbox(tmp_path / "r.db"))
        link.start()
        try:
            assert link.wait_connected(5)
            broker.stop()
            link.publish_event(_event)
            time.sleep(16.0)  # long enough for an uncapped doubling backoff to reach 16 s
            assert link.status().outbox_depth == 1  # held while the broker is away
            broker.start()
            back = time.monotonic()
            bound = 2 * cfg.reconnect_max_s  # the cap, and as much again to connect and send
            # The outbox lets an event go only once the broker has acknowledged it (QoS 1).
            assert wait_until(lambda: link.status().outbox_depth == 0, 20)
            assert time.monotonic() - back < bound
            assert sub.wait(lambda s: s.seqs("firedetect/dev1/alarm") == [1], timeout=20)
        finally:
            link.stop(timeout=2)
            sub.close()
