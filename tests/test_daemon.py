"""The daemon in-process: real drivers on simulated chips, a real Mosquitto, a real notify socket.

Each class runs one daemon (on a ``ScaledClock``) through a story and its tests check what a
real subscriber and the notify socket saw.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_helpers import Run, events, start_inprocess

BASE = "firedetect/t1"
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SPEED = 2.0


@pytest.fixture(scope="class")
def run_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    started: list[Run] = []

    def start(speed: float = SPEED, lepton_stale_s: float = 5.0, **options: Any) -> Run:
        r = start_inprocess(tmp_path_factory.mktemp("daemon"), speed,
                            lepton_stale_s=lepton_stale_s, **options)
        started.append(r)
        return r

    yield start
    for r in started:
        r.close()


@pytest.fixture(scope="class")
def fire_story(run_factory: Any) -> Run:
    """Start, READY, a fire in view → alarm, cmd/test → test event, SIGTERM-like stop."""
    r: Run = run_factory()
    r.notify.wait_for("READY=1", 30)
    r.scene.fire_from = r.now() + 2.0
    r.sub.wait_for(lambda m: m.topic == f"{BASE}/alarm" and m.json()["event"] == "alarm", 20)
    r.sub.publish(f"{BASE}/cmd/test", b"{}")
    r.sub.wait_for(lambda m: m.topic == f"{BASE}/alarm" and m.json()["event"] == "test", 10)
    r.sub.wait_for(lambda m: m.topic == f"{BASE}/telemetry", 10)
    r.stop()
    r.sub.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.payload == b"offline", 10)
    return r


class TestDaemonLifecycle:
    def test_ready_status_watchdog(self, fire_story: Run) -> None:
        """READY=1 once sensors are up, then STATUS lines and WATCHDOG pings until STOPPING."""
        n = fire_story.notify
        ready = n.lines("READY=1")[0][0]
        statuses = [ln for _, ln in n.lines("STATUS=")]
        assert any(re.match(r"STATUS=state=\w+ score=\S+ lepton=ok scd41=ok outbox=\d+ mqtt=",
                            s) for s in statuses), statuses
        stopping = n.lines("STOPPING=1")[0][0]
        assert ready < stopping
        pings = [t for t, _ in n.lines("WATCHDOG=1") if t < stopping]
        assert len(pings) >= 5
        # Asked for every 0.2 s (a third of the 0.6 s watchdog); allow for a loaded machine.
        assert max(b - a for a, b in itertools.pairwise(pings)) < 1.5

    def test_alarm_payload_per_spec(self, fire_story: Run) -> None:
        """The alarm event has every mqtt.md field, plus t and top_features."""
        ev = next(e for e in events(fire_story.sub, BASE) if e["event"] == "alarm")
        assert {"event", "seq", "ts", "score", "model", "degraded", "members", "sensors",
                "t", "top_features"} <= set(ev)
        assert TS.match(ev["ts"]), ev["ts"]
        assert 0.5 <= ev["score"] <= 1.0
        assert ev["sensors"] == {"scd41": "ok", "lepton": "ok"}
        assert ev["model"] == "rules-v1" and ev["degraded"] is True  # no model: rule fallback
        assert isinstance(ev["seq"], int)
        assert ev["top_features"] and {"name", "contribution"} <= set(ev["top_features"][0])

    def test_retained_state_follows_alarm(self, fire_story: Run) -> None:
        """Retained state goes idle → alarm with since and last score."""
        states = [m.json() for m in fire_story.sub.on(f"{BASE}/state")]
        assert states[0]["state"] == "idle"
        assert any(s["state"] == "alarm" and s["score"] >= 0.5 and TS.match(s["since"])
                   for s in states)

    def test_test_command_and_seq(self, fire_story: Run) -> None:
        """cmd/test gives a test event; seq increases by one per event."""
        evs = events(fire_story.sub, BASE)
        assert "test" in [e["event"] for e in evs]
        seqs = [e["seq"] for e in evs]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

    def test_health_and_telemetry(self, fire_story: Run) -> None:
        """Retained health names each sensor's status, model, uptime, outbox; telemetry flows."""
        health = fire_story.sub.on(f"{BASE}/health")[-1].json()
        assert health["sensors"]["lepton"]["status"] == "ok"
        assert health["model"]["version"] == "rules-v1"
        assert health["uptime_s"] > 0 and isinstance(health["outbox_depth"], int)
        tele = fire_story.sub.on(f"{BASE}/telemetry")[-1].json()
        assert {"co2_ppm", "temperature_c", "humidity_pct", "t_max_c", "score"} <= set(tele)

    def test_clean_stop_publishes_offline(self, fire_story: Run) -> None:
        """After the stop the last availability is offline and nothing is left unsent."""
        avail = fire_story.sub.on(f"{BASE}/availability")
        assert avail[0].payload == b"online" and avail[-1].payload == b"offline"
        assert not fire_story.thread.is_alive()
        # Stopping the sensors on purpose is no fault.
        late = [m.json() for m in fire_story.sub.on(f"{BASE}/alarm")
                if m.at >= fire_story.stopped_at]
        assert not [e for e in late if e["event"] == "fault"]


class GatedRead:
    """Wraps a source's read so a test can make it hang (a wedged driver)."""

    def __init__(self, read: Any) -> None:
        self.read = read
        self.open = threading.Event()
        self.open.set()

    def __call__(self) -> Any:
        self.open.wait()
        return self.read()


class TestWatchdogStall:
    def test_pings_stop_while_a_sensor_hangs(self, run_factory: Any) -> None:
        """A hung Lepton read stops the WATCHDOG pings; they resume when it returns."""
        r: Run = run_factory(sensor_stall_s=1.0, startup_timeout_s=1.0)
        gate = GatedRead(r.rt.daemon.sources.lepton.read)
        r.rt.daemon.sources.lepton.read = gate  # type: ignore[method-assign]
        r.notify.wait_for("WATCHDOG=1", 20)
        time.sleep(1.0)
        gate.open.clear()
        time.sleep(3.0)
        blocked_at = time.monotonic() - 3.0
        pings = [t for t, _ in r.notify.lines("WATCHDOG=1")]
        during = [t for t in pings if blocked_at + 1.6 < t]
        assert pings and not during, "pings went on while the Lepton read hung"
        gate.open.set()
        time.sleep(2.0)
        after = [t for t, _ in r.notify.lines("WATCHDOG=1") if t > blocked_at + 3.0]
        assert after, "pings did not resume after the read returned"
        r.stop()


@pytest.fixture(scope="class")
def degraded_story(run_factory: Any) -> Run:
    """Lepton dead → CO2 alone alarms; Lepton back; SCD41 gone → the camera alone alarms."""
    r: Run = run_factory(speed=3.0, lepton_stale_s=2.0)
    sims = r.rt.daemon.sources
    assert sims.sim_lepton is not None and sims.sim_scd41 is not None

    mark = [time.monotonic()]

    def event(kind: str, **match: Any) -> Any:
        """The next event of ``kind`` after the previous one waited for."""
        m = r.sub.wait_for(
            lambda m: m.topic == f"{BASE}/alarm" and m.at >= mark[0]
            and m.json()["event"] == kind
            and all(m.json().get(k) == v for k, v in match.items()), 40)
        mark[0] = m.at
        return m.json()

    r.notify.wait_for("READY=1", 30)
    sims.sim_lepton.spi.miso_stuck = 0xFF
    event("fault", sensor="lepton")
    r.scene.co2_from = r.now()
    event("alarm")
    r.scene.co2_from = float("inf")
    event("clear")
    sims.sim_lepton.spi.miso_stuck = None
    r.sub.wait_for(lambda m: m.topic == f"{BASE}/health"
                   and m.json()["sensors"]["lepton"]["status"] == "ok"
                   and m.at > time.monotonic() - 1.0, 30)
    sims.sim_scd41.disappear()
    event("fault", sensor="scd41")
    r.scene.fire_from = r.now()
    event("alarm")
    r.stop()
    return r


class TestDegradedMode:
    def test_gas_alone_alarms_with_camera_dead(self, degraded_story: Run) -> None:
        """With the Lepton faulted, SCD41 readings are scored and raise the alarm."""
        evs = events(degraded_story.sub, BASE)
        fault = next(e for e in evs if e["event"] == "fault")
        assert fault["sensor"] == "lepton" and fault["reason"]
        alarm = next(e for e in evs if e["event"] == "alarm")
        assert alarm["sensors"] == {"scd41": "ok", "lepton": "fault"}
        assert alarm["degraded"] is True
        assert alarm["seq"] > fault["seq"]

    def test_recovery_shows_in_health(self, degraded_story: Run) -> None:
        """The retained health goes lepton fault (with reason) → ok again."""
        lep = [m.json()["sensors"]["lepton"] for m in degraded_story.sub.on(f"{BASE}/health")]
        faulted = [h for h in lep if h["status"] == "fault"]
        assert faulted and faulted[0]["reason"]
        assert lep.index(faulted[0]) < max(i for i, h in enumerate(lep) if h["status"] == "ok")

    def test_camera_alone_alarms_with_scd41_gone(self, degraded_story: Run) -> None:
        """With the SCD41 gone (a fault event first), the fire in view still alarms."""
        evs = events(degraded_story.sub, BASE)
        i = next(i for i, e in enumerate(evs) if e["event"] == "fault" and e["sensor"] == "scd41")
        later = [e for e in evs[i:] if e["event"] == "alarm"]
        assert later and later[0]["sensors"] == {"scd41": "fault", "lepton": "ok"}
        assert later[0]["degraded"] is True
        assert "scd41" in later[0]["faults"]


class TestReload:
    def test_sighup_keeps_old_config_on_a_bad_file_and_applies_a_good_one(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A bad file on reload is logged and ignored; a good one changes the alarm logic."""
        import argparse

        from edge.app import build_daemon
        from edge.commands.run import _reload, build_config
        from edge.notify import Notifier

        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[device]\nid = "r1"\nstate_dir = "{tmp_path / "state"}"\n'
                       "[alarm]\npre_alarm_s = 3.0\n")
        args = argparse.Namespace(config=cfg, model=None, broker=None, state_dir=None,
                                  device_id=None)
        rt = build_daemon(build_config(cfg, {}), simulate="static", notifier=Notifier(""))
        try:
            d = rt.daemon
            cfg.write_text("[alarm]\npre_alarm_s = -1\n")
            _reload(d, args)
            d.step(timeout=0.0)
            assert d.config.alarm.pre_alarm_s == 3.0
            assert "reload refused" in caplog.text and "alarm.pre_alarm_s" in caplog.text
            cfg.write_text(f'[device]\nid = "r1"\nstate_dir = "{tmp_path / "state"}"\n'
                           "[alarm]\npre_alarm_s = 7.0\n")
            _reload(d, args)
            d.step(timeout=0.0)
            assert d.config.alarm.pre_alarm_s == 7.0
            assert d.pipeline.alarm._cfg.pre_alarm_s == 7.0
        finally:
            rt.close()

    def test_reload_with_a_password_in_the_url_keeps_running_and_logs_no_password(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """SIGHUP with a password or a wildcard in the file: refused by key, no secret logged."""
        import argparse
        import logging

        from edge.app import build_daemon
        from edge.commands.run import _reload, build_config
        from edge.notify import Notifier

        secret = "Hunter2Secret"
        head = f'[device]\nid = "r2"\nstate_dir = "{tmp_path / "state"}"\n'
        cfg = tmp_path / "c.toml"
        cfg.write_text(head)
        args = argparse.Namespace(config=cfg, model=None, broker=None, state_dir=None,
                                  device_id=None)
        rt = build_daemon(build_config(cfg, {}), simulate="static", notifier=Notifier(""))
        try:
            d = rt.daemon
            cfg.write_text(head + f'[mqtt]\nurl = "mqtt://bob:{secret}@broker.lan"\n'
                           'base_topic = "firedetect/#"\n')
            with caplog.at_level(logging.DEBUG):
                _reload(d, args)
                d.step(timeout=0.0)
            assert "reload refused" in caplog.text
            assert "mqtt.url: given 'mqtt://***@broker.lan'" in caplog.text
            assert "mqtt.base_topic: given 'firedetect/#'" in caplog.text
            assert secret not in caplog.text
            assert d.config.mqtt.url == "mqtt://localhost:1883" and d.config.mqtt.base_topic is None
        finally:
            rt.close()


class TestModelSwap:
    def test_new_models_threshold_applies_when_idle(self, tmp_path: Path) -> None:
        """A model swapped in at run time brings its threshold and its sustained alarm's
        hold into the alarm logic."""
        from types import SimpleNamespace

        from edge.app import build_daemon
        from edge.config import parse_config
        from edge.detect.alarm import Hold
        from edge.model.rules import RULES_THRESHOLD
        from edge.notify import Notifier

        config = parse_config({"device": {"id": "s1", "state_dir": str(tmp_path)}})
        rt = build_daemon(config, simulate="static", notifier=Notifier(""))
        try:
            d = rt.daemon
            assert d.pipeline.alarm.threshold == RULES_THRESHOLD
            assert d.pipeline.alarm.hold is None
            d.holder.swap(SimpleNamespace(threshold=0.73, version="v-test",  # type: ignore[attr-defined]
                                          hold=(0.6, 300.0)))
            d.step(timeout=0.0)
            assert d.pipeline.alarm.threshold == 0.73
            assert d.pipeline.alarm.hold == Hold(0.6, 300.0)
        finally:
            rt.close()

    def test_new_models_watch_bars_apply_at_once(self, tmp_path: Path) -> None:
        """The watches read the bars of the model in use: none without one, a swapped-in
        model's flame, smoulder and gas bars and flame ladder from its next frame on."""
        from types import SimpleNamespace

        from edge.app import build_daemon
        from edge.config import parse_config
        from edge.detect.evidence import ModelBars
        from edge.notify import Notifier

        config = parse_config({"device": {"id": "s1", "state_dir": str(tmp_path)}})
        rt = build_daemon(config, simulate="static", notifier=Notifier(""))
        try:
            d = rt.daemon
            assert d.pipeline.model_bars() == ModelBars()
            d.holder.swap(SimpleNamespace(threshold=0.73, version="v-test",  # type: ignore[attr-defined]
                                          hold=None, flame_min_score=0.6,
                                          smoulder_min_score=0.09,
                                          smoulder_early=(3, 0.85), gas_min_score=0.77,
                                          flame_ladder=((8.0, 0.5),)))
            assert d.pipeline.model_bars() == ModelBars(0.6, 0.09, (3, 0.85), 0.77,
                                                        ((8.0, 0.5),))
        finally:
            rt.close()


class TestBrokenOutbox:
    def test_corrupt_outbox_file_does_not_stop_the_detector(self, tmp_path: Path) -> None:
        """A corrupt outbox file is moved aside intact; the daemon starts on a new outbox."""
        from edge.app import build_daemon
        from edge.config import parse_config
        from edge.notify import Notifier

        junk = b"this is not a database" * 100
        (tmp_path / "outbox.sqlite").write_bytes(junk)
        config = parse_config({"device": {"id": "s2", "state_dir": str(tmp_path)}})
        rt = build_daemon(config, simulate="static", notifier=Notifier(""))
        try:
            assert rt.outbox.fault is None
            seq = rt.outbox.append("firedetect/s2/alarm", b"{}", 1, False)
            assert seq > 1_000_000_000_000  # the lost file's history is unknowable: Unix ms
            assert [i.seq for i in rt.outbox.pending(10)] == [seq]
        finally:
            rt.close()
        (moved,) = tmp_path.glob("outbox.sqlite.corrupt-*[0-9]")
        assert moved.read_bytes() == junk
