"""``firedetect status``: the device's live state from a real broker or its state directory."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from edge.cli import main
from edge.mqtt.outbox_open import open_outbox
from tests.broker import Broker
from tests.daemon_helpers import Run, start_inprocess

BASE = "firedetect/t1"


def config_file(path: Path, url: str, state_dir: Path, device: str = "t1") -> Path:
    path.write_text(f'[device]\nid = "{device}"\nstate_dir = "{state_dir}"\n\n'
                    f'[mqtt]\nurl = "{url}"\nkeepalive_s = 5\n', encoding="utf-8")
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestStatusFromBroker:
    def test_running_daemon_after_an_alarm(self, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
        """Against a running daemon that alarmed, status shows the alarm, sensors, model,
        outbox, the device's link and the alarm's reason in words."""
        r: Run = start_inprocess(tmp_path, speed=2.0)
        try:
            r.notify.wait_for("READY=1", 30)
            r.scene.fire_from = r.now() + 2.0
            r.sub.wait_for(lambda m: m.topic == f"{BASE}/state"
                           and "last_event" in m.json() and m.json()["state"] == "alarm", 30)
            r.sub.wait_for(lambda m: m.topic == f"{BASE}/health", 10)
            cfg = config_file(tmp_path / "c.toml", r.broker.url, tmp_path / "nowhere")
            assert main(["status", "--config", str(cfg)]) == 0
        finally:
            r.close()
        out = capsys.readouterr().out
        assert "device:   online" in out
        assert "alarm:    alarm since" in out
        assert "sensors:  lepton ok · scd41 ok" in out
        assert "model:    rules-v1 (degraded: rule fallback)" in out
        assert "outbox:   0 event(s) waiting" in out
        assert "broker:   device link connected" in out
        last = out.split("last event:\n", 1)[1]
        assert " alarm at " in last and "the fire score" in last

    def test_retained_without_last_event(self, broker: Broker, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
        """Retained state and health from a device with no event yet show as such, and a
        faulted sensor shows its reason."""
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        c = paho.Client(CallbackAPIVersion.VERSION2)
        c.connect(broker.host, broker.port)
        c.loop_start()
        health = {"status": "degraded", "sensors": {
            "lepton": {"status": "fault", "reason": "no data for 12.0 s (limit 5 s)"},
            "scd41": {"status": "ok", "reason": None}},
            "model": {"version": "m-1", "degraded": False}, "uptime_s": 3.0,
            "outbox_depth": 2, "ts": "T", "mqtt": {"state": "connected", "last_error": None}}
        for topic, body in ((f"{BASE}/state", json.dumps({"state": "idle", "since": "S",
                                                          "since_t": 0.0, "score": 0.031})),
                            (f"{BASE}/health", json.dumps(health))):
            c.publish(topic, body, qos=1, retain=True).wait_for_publish(5)
        c.disconnect()
        c.loop_stop()
        cfg = config_file(tmp_path / "c.toml", broker.url, tmp_path / "nowhere")
        assert main(["status", "--config", str(cfg)]) == 0
        out = capsys.readouterr().out
        assert "alarm:    idle since S, score 0.03" in out
        assert "lepton fault (no data for 12.0 s (limit 5 s))" in out
        assert "model:    m-1\n" in out and "outbox:   2 event(s)" in out
        assert "device:   unknown" in out and "last event: none" in out


    def test_unreadable_retained_messages(self, broker: Broker, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
        """A retained state that is not JSON, and a health that is JSON but not an object,
        are shown as unreadable instead of ending the command with a traceback."""
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        c = paho.Client(CallbackAPIVersion.VERSION2)
        c.connect(broker.host, broker.port)
        c.loop_start()
        for topic, body in ((f"{BASE}/state", "{not json"), (f"{BASE}/health", "42")):
            c.publish(topic, body, qos=1, retain=True).wait_for_publish(5)
        c.disconnect()
        c.loop_stop()
        cfg = config_file(tmp_path / "c.toml", broker.url, tmp_path / "nowhere")
        status = main(["status", "--config", str(cfg)])
        out = capsys.readouterr().out
        assert status == 0, out
        assert "unreadable" in out

class TestStatusFromStateDir:
    def test_outbox_depth_and_words(self, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
        """--state-dir shows the outbox depth and the waiting events with their words."""
        state = tmp_path / "state"
        state.mkdir()
        box = open_outbox(state / "outbox.sqlite")
        body = {"event": "fault", "ts": "T1", "reason": "no data",
                "why": "camera faulted (no data); deciding on gas alone"}
        seq = box.append_event(f"{BASE}/alarm", lambda s: json.dumps({**body, "seq": s}))
        box.close()
        assert main(["status", "--state-dir", str(state)]) == 0
        out = capsys.readouterr().out
        assert "outbox:   1 event(s) waiting" in out
        assert f"#{seq} fault at T1: camera faulted (no data); deciding on gas alone" in out

    def test_falls_back_when_broker_unreachable(self, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
        """An unreachable broker falls back to the config's state directory, saying so."""
        state = tmp_path / "state"
        state.mkdir()
        open_outbox(state / "outbox.sqlite").close()
        cfg = config_file(tmp_path / "c.toml", f"mqtt://127.0.0.1:{closed_port()}", state)
        assert main(["status", "--config", str(cfg)]) == 0
        out = capsys.readouterr().out
        assert "(broker not read: cannot reach the broker at mqtt://127.0.0.1:" in out
        assert "outbox:   0 event(s) waiting" in out

    def test_neither_reachable(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """With neither the broker nor the state directory readable, exit 1 naming both."""
        cfg = config_file(tmp_path / "c.toml", f"mqtt://127.0.0.1:{closed_port()}",
                          tmp_path / "missing")
        assert main(["status", "--config", str(cfg)]) == 1
        err = capsys.readouterr().err
        assert "broker: cannot reach the broker at mqtt://127.0.0.1:" in err
        assert f"{tmp_path / 'missing'}: no such state directory" in err


class TestRender:
    def test_a_warning_shows_its_reason_and_words(self) -> None:
        """A pre-alarm's reason and words (a pan heating in the cooking zone) are shown under
        the state; a state without them shows none."""
        from edge.commands.status import render_retained

        why = "a hot spot in the cooking zone keeps heating: 21 px, hottest 180 °C"
        warned = render_retained(BASE, {"state": {
            "state": "pre_alarm", "since": "S", "since_t": 1.0, "score": 0.41,
            "reason": "cooking_zone", "why": why}})
        assert "alarm:    pre_alarm (cooking_zone) since S, score 0.41\n" in warned
        assert warned.split("\n")[3] == f"  {why}"
        idle = render_retained(BASE, {"state": {"state": "idle", "since": "S", "score": 0.01}})
        assert "alarm:    idle since S, score 0.01\n" in idle and "cooking" not in idle

