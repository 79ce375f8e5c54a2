"""End to end: the daemon as a process (``firedetect run --simulate``) or in-process, a real
Mosquitto, real subscribers; fires, nuisances, broker outages, SIGKILL and SIGTERM.

No trained model is given, so the rule fallback (edge/model/rules.py) decides — the alarm payloads
say ``"model": "rules-v1"``.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import Broker
from tests.daemon_helpers import Run, Subscriber, events, start_inprocess

ROOT = Path(__file__).resolve().parent.parent


def write_config(path: Path, broker: Broker, state: Path, device: str) -> Path:
    path.write_text(
        f'[device]\nid = "{device}"\nstate_dir = "{state}"\n'
        f'[mqtt]\nurl = "{broker.url}"\nkeepalive_s = 5\n'
        '[sensors.lepton]\nmodel = "2.5"\nstale_after_s = 2.0\n'
        '[alarm]\npre_alarm_s = 1.0\nclear_s = 1.0\nmin_alarm_s = 0.0\n'
    )
    return path


class Proc:
    """A daemon process; its stderr goes to a file read on failure."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._fh = log.open("ab")
        self.p = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=self._fh)

    def wait(self, timeout: float) -> int:
        try:
            return self.p.wait(timeout)
        finally:
            self._fh.flush()

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)

    def stderr(self) -> str:
        self._fh.flush()
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        self.kill()
        if self.p.stdout:
            self.p.stdout.close()
        self._fh.close()


def firedetect(workdir: Path, broker: Broker, device: str, *args: str) -> Proc:
    config = write_config(workdir / f"{device}.toml", broker, workdir / "state", device)
    return Proc([sys.executable, "-m", "edge.cli", "-v", "run", "--config", str(config), *args],
                workdir / f"{device}.log")


def outbox_depth(state: Path) -> int:
    return len(outbox_events(state))


def outbox_events(state: Path) -> list[tuple[int, str]]:
    """The (seq, event kind) of every event the outbox holds, in seq order."""
    db = state / "outbox.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute("SELECT seq, payload FROM events ORDER BY seq").fetchall()
    return [(int(seq), str(json.loads(payload)["event"])) for seq, payload in rows]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.mark.slow
class TestSimulatedScenarios:
    def test_flaming_fire_alarms_then_sigterm_is_clean(
        self, broker: Broker, workdir: Path
    ) -> None:
        """fast_flaming (seed 2) alarms after ignition; SIGTERM then gives offline and exit 0."""
        from edge.sim.sources import make_scene

        _, truth = make_scene("fast_flaming", 2, 400.0)
        fire_start = truth["fire_start_s"]
        base = "firedetect/fire"
        sub = Subscriber(broker.host, broker.port, [f"{base}/#"])
        # Start shortly before ignition; --start + --duration = the scene's 400 s.
        proc = firedetect(workdir, broker, "fire", "--simulate", "fast_flaming", "--seed", "2",
                          "--start", str(round(fire_start - 10.0, 1)),
                          "--duration", str(round(410.0 - fire_start, 1)), "--speed", "3")
        try:
            msg = sub.wait_for(lambda m: m.topic == f"{base}/alarm"
                               and m.json()["event"] == "alarm", 90)
            ev = msg.json()
            # The rule fallback needs the flame to grow past ~210 °C in view: allow 120 s.
            assert fire_start <= ev["t"] <= fire_start + 120.0, (ev, fire_start)
            assert ev["model"] == "rules-v1"
            assert ev["reason"] and ev["why"].startswith(("the fire score", "a new hot"))
            proc.p.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0, proc.stderr()
            assert sub.on(f"{base}/availability")[-1].payload == b"offline"
            assert "Traceback" not in proc.stderr()
            assert proc.p.stdout is not None and proc.p.stdout.read() == b""
        finally:
            proc.close()
            sub.close()

    def test_nuisance_raises_no_alarm(self, broker: Broker, workdir: Path) -> None:
        """Occupancy (people breathing, moving) for 45 s: no alarm event, clean exit at the end."""
        base = "firedetect/quiet"
        sub = Subscriber(broker.host, broker.port, [f"{base}/#"])
        proc = firedetect(workdir, broker, "quiet", "--simulate", "occupancy", "--seed", "0",
                          "--duration", "45", "--speed", "3")
        try:
            assert proc.wait(60) == 0, proc.stderr()
            assert [e for e in events(sub, base) if e["event"] == "alarm"] == []
            assert sub.on(f"{base}/state")[-1].json()["state"] == "idle"
            assert "daemon: ready" in proc.stderr()
        finally:
            proc.close()
            sub.close()

    def test_bad_config_exit_2_with_key(self, workdir: Path) -> None:
        """A bad value in the config: exit 2 naming the key, no traceback, nothing started."""
        cfg = workdir / "bad.toml"
        cfg.write_text("[mqtt]\nkeepalive_s = 1\n")
        res = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 2
        assert "mqtt.keepalive_s" in res.stderr and "Traceback" not in res.stderr
        bad_broker = subprocess.run(
            [sys.executable, "-m", "edge.cli", "run", "--broker", "http://x"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert bad_broker.returncode == 2 and "mqtt.url" in bad_broker.stderr


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Run]:
    r = start_inprocess(tmp_path, speed=2.0, device="out", persistent_subscriber=True)
    yield r
    r.close()


class TestBrokerOutage:
    def test_every_event_arrives_in_order(self, outage: Run) -> None:
        """The broker stops mid-fire; events decided meanwhile arrive in order after it is back."""
        r, base = outage, "firedetect/out"
        r.notify.wait_for("READY=1", 30)
        r.scene.fire_from = r.now()
        r.sub.wait_for(lambda m: m.topic == f"{base}/alarm" and m.json()["event"] == "alarm", 20)
        r.broker.stop()
        now = r.now()
        r.scene.fire_from = float("inf")  # out now, flares up at +3 s, out again at +6 s
        r.scene.toggles = [now + 3.0, now + 6.0]
        deadline = time.monotonic() + 30
        while r.rt.outbox.depth() < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert r.rt.outbox.depth() >= 3, "the events were not kept in the outbox"
        r.broker.start()
        r.sub.wait_for(lambda m: m.topic == f"{base}/alarm" and m.json()["event"] == "clear"
                       and m.json()["seq"] >= 4, 30)
        evs = events(r.sub, base)
        by_seq = {e["seq"]: e["event"] for e in evs}
        seqs = sorted(by_seq)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap: nothing lost
        assert [by_seq[s] for s in seqs][:4] == ["alarm", "clear", "alarm", "clear"]
        firsts = [e["seq"] for e in evs]
        assert sorted(dict.fromkeys(firsts)) == list(dict.fromkeys(firsts))  # in order


class TestCrashes:
    def test_sigkill_with_events_in_outbox_then_restart(
        self, broker: Broker, workdir: Path
    ) -> None:
        """Events stored while the broker is down survive a SIGKILL; the next start sends them;
        a SIGKILL while connected makes the broker publish the offline Last Will."""
        base = "firedetect/crash"
        cfg = write_config(workdir / "crash.toml", broker, workdir / "state", "crash")
        sub = Subscriber(broker.host, broker.port, [f"{base}/#"], client_id="sub-crash",
                         clean_session=False)
        first = Proc([sys.executable, "-m", "tests.daemon_helpers", str(cfg), "2",
                      "14", "20", "26", "32"], workdir / "crash1.log")
        second: Proc | None = None
        try:
            sub.wait_for(lambda m: m.topic == f"{base}/availability" and m.payload == b"online",
                         40)
            broker.stop()
            # Two fires on and off: alarm, clear, alarm, clear (and, on a loaded machine, the
            # camera's fault if a frame comes late: an event too, stored and sent as any).
            deadline = time.monotonic() + 40
            while ([k for _, k in outbox_events(workdir / "state")].count("clear") < 2
                   and time.monotonic() < deadline):
                time.sleep(0.2)
            stored = outbox_events(workdir / "state")
            kinds = [k for _, k in stored if k in ("alarm", "clear")]
            assert kinds[:4] == ["alarm", "clear", "alarm", "clear"], (stored, first.stderr())
            first.p.send_signal(signal.SIGKILL)
            first.wait(10)
            stored = outbox_events(workdir / "state")
            broker.start()
            second = Proc([sys.executable, "-m", "tests.daemon_helpers", str(cfg), "2"],
                          workdir / "crash2.log")
            last = stored[-1][0]
            sub.wait_for(lambda m: m.topic == f"{base}/alarm" and m.json()["seq"] == last, 40)
            got: list[tuple[int, str]] = []  # at least once: a repeat is no loss
            for e in events(sub, base):
                if e["seq"] >= stored[0][0] and (e["seq"], e["event"]) not in got:
                    got.append((e["seq"], e["event"]))
            assert got[:len(stored)] == stored  # every stored event, in order, none lost
            online_at = sub.wait_for(
                lambda m: m.topic == f"{base}/availability" and m.payload == b"online"
                and m.at > time.monotonic() - 30, 30).at
            second.p.send_signal(signal.SIGKILL)
            second.wait(10)
            sub.wait_for(lambda m: m.topic == f"{base}/availability" and m.payload == b"offline"
                         and m.at > online_at, 20)  # keepalive 5 s → will within ~7.5 s
        finally:
            first.close()
            if second is not None:
                second.close()
            sub.close()
