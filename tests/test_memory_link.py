"""The link's in-memory twin (``edge.mqtt.base.MemoryLink``) and the daemon on it, no broker."""

from __future__ import annotations

import json
from pathlib import Path

from edge.detect.evidence import Evidence, Look
from edge.detect.scene import SceneMemory
from edge.mqtt.base import Link, MemoryLink
from edge.mqtt.outbox import Outbox
from tests.test_fault_matrix import T_FIRE, Device


def _twin(tmp_path: Path) -> MemoryLink:
    return MemoryLink(Outbox(tmp_path / "outbox.sqlite"))


class TestMemoryLink:
    def test_delivers_in_seq_order_while_up(self, tmp_path: Path) -> None:
        """While up, each event is delivered at once with the seq its payload was built with."""
        link = _twin(tmp_path)
        link.start()
        seqs = [link.publish_event(lambda s: json.dumps({"seq": s})) for _ in range(3)]
        assert seqs == [1, 2, 3]
        assert [json.loads(i.payload)["seq"] for i in link.delivered] == [1, 2, 3]
        assert link.status().outbox_depth == 0

    def test_holds_events_while_down_then_delivers_them(self, tmp_path: Path) -> None:
        """Down, events stay in the outbox (depth shows them); up again, they go out in order."""
        link = _twin(tmp_path)
        link.start()
        link.down()
        link.publish_event(lambda s: b"a")
        link.publish_event(lambda s: b"b")
        assert link.status().state == "disconnected"
        assert link.status().outbox_depth == 2 and link.delivered == []
        assert not link.telemetry(b"{}")
        link.up()
        assert [i.payload for i in link.delivered] == [b"a", b"b"]
        assert link.drain(0.0)

    def test_keeps_the_retained_topics(self, tmp_path: Path) -> None:
        """State and health are kept as the last value set, as a broker retains them."""
        link = _twin(tmp_path)
        link.set_state(b"1")
        link.set_state(b"2")
        link.set_health(b"h")
        assert link.retained == {"state": b"2", "health": b"h"}

    def test_is_a_link(self, tmp_path: Path) -> None:
        """The twin satisfies the daemon's Link contract (what mypy checks for MqttLink)."""
        link: Link = _twin(tmp_path)
        assert link.status().state == "stopped"


class TestDaemonOnTheTwin:
    def test_fire_alarm_is_delivered_once_the_link_is_up(self, tmp_path: Path) -> None:
        """A fire seen while the link is down is delivered when it comes up, seq first to last."""
        d = Device(tmp_path)
        try:
            d.run_until(T_FIRE + 6)
            assert d.link.delivered == []
            published = d.daemon.events_published
            assert published >= 1
            d.link.up()
            events = [json.loads(i.payload) for i in d.link.delivered]
            assert [e["seq"] for e in events] == list(range(1, published + 1))
            assert any(e["event"] == "alarm" for e in events)
            health = json.loads(d.link.retained["health"])
            assert health["outbox"] == {"status": "ok", "fault": None, "volatile": False,
                                        "held_in_memory": 0}
            assert json.loads(d.link.retained["state"])["state"] == "alarm"
        finally:
            d.close()



class Pan:
    """An evidence source that warns (as the smoulder watch does for a pan heating in the
    cooking zone) while ``on``."""

    name = "cooking_zone"
    why = "a hot spot in the cooking zone keeps heating: 21 px, hottest 180 °C"

    def __init__(self) -> None:
        self.on = False

    def update(self, look: Look, memory: SceneMemory) -> Evidence | None:
        return Evidence(self.name, self.why, warns=True) if self.on else None


class TestPreAlarmState:
    def test_a_warning_is_published_as_pre_alarm_with_its_reason(self, tmp_path: Path) -> None:
        """A source's warning reaches the retained state as ``pre_alarm`` with its reason and
        words, raises no event, and once it ends the state is idle without them."""
        d = Device(tmp_path, t_fire=1e9)
        pan = Pan()
        d.daemon.pipeline.sources.append(pan)
        try:
            d.run_until(20.0)
            assert json.loads(d.link.retained["state"])["state"] == "idle"
            pan.on = True
            d.run_until(30.0)
            state = json.loads(d.link.retained["state"])
            assert (state["state"], state["reason"], state["why"]) == (
                "pre_alarm", pan.name, pan.why)
            assert d.daemon.events_published == 0  # a warning is state, not an alarm event
            pan.on = False
            d.run_until(40.0)
            state = json.loads(d.link.retained["state"])
            assert state["state"] == "idle" and "reason" not in state
        finally:
            d.close()
