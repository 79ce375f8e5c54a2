"""The fault matrix: every sensor, link, storage, model and clock fault during a fire.

Each case runs the daemon's processing path (``Daemon.step``: pipeline → alarm → outbox →
link: the link's in-memory twin ``MemoryLink``, never up, or ``MqttLink`` with a real
Mosquitto for the link cases) on the real drivers reading the byte-level simulators of a
room where a fire starts at ``T_FIRE`` (a 500 °C, 4×4 px flame and CO2 rising 1000 ppm/min),
scored by the rule fallback. The sensor threads are replaced by one deterministic loop that
reads each source the way ``SensorLoop`` does (a frame per pass, the SCD41 once per device
second) on a ``ManualClock``; faults are injected through the simulators' own fault hooks
at ``T_FAULT``.

Every case asserts what the device did (which ``fault`` events, degraded flags) and that no
event was lost: the outbox's seqs are contiguous from 1 and hold every event the daemon
published, with the fire ``alarm`` among them — or, with a real Mosquitto broker, that a
subscriber received all of them in order.

Unwritable storage for the outbox (a full or read-only SD card) is simulated with SQLite's
``PRAGMA query_only`` on the outbox's connection: a read-only directory does not stop root, a
tiny filesystem needs mount rights, and ``max_page_count`` still lets small events into the
free space of existing pages (the link-level page-limit case is in test_mqtt.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.config import Config, MqttConfig
from edge.daemon import Daemon
from edge.errors import ModelError, OutboxError, SensorError
from edge.model.holder import ModelHolder
from edge.mqtt.base import MemoryLink
from edge.mqtt.link import MqttLink
from edge.mqtt.outbox import Outbox
from edge.sensors.sources import Sources
from edge.sim.clock import ManualClock
from edge.sim.scene import AirSample, KelvinArray, StaticRoom
from edge.sim.sources import simulated_sources
from tests import storage_helpers as storage
from tests.broker import Broker
from tests.daemon_helpers import Subscriber
from tests.modelkit import Kit, kit  # noqa: F401  (session fixture)
from tests.test_mqtt import Sub

pytestmark = pytest.mark.timeout(120)

T_FAULT = 14.0  # after the SCD41's first reading (≈ 12.8 s: power-up, two 5-s intervals)
T_FIRE = 16.0
FLAME_K = 773.15
GAS_EVERY_S = 1.0
SCD41_STALE_S = 10.0  # the default is 30 s; shorter keeps the matrix fast


class FireAt(StaticRoom):
    """A quiet room in which a flame appears at ``t0`` and CO2 rises 1000 ppm/min."""

    def __init__(self, t0: float) -> None:
        super().__init__(seed=4)
        self.t0 = t0

    def air(self, t: float) -> AirSample:
        a = super().air(t)
        if t < self.t0:
            return a
        return AirSample(a.co2_ppm + 1000.0 * (t - self.t0) / 60.0, a.temperature_c,
                         a.humidity_pct)

    def thermal_k(self, t: float, height: int, width: int) -> KelvinArray:
        img = super().thermal_k(t, height, width)
        if t >= self.t0:
            r, c = height // 3, width // 2
            img[r:r + 4, c:c + 4] = FLAME_K
        return img


class Device:
    """A daemon on simulated sensors, stepped deterministically on a manual clock."""

    def __init__(self, tmp_path: Path, mqtt_url: str | None = None,
                 holder: ModelHolder | None = None, t_fire: float = T_FIRE,
                 lepton: str = "2.5") -> None:
        self.clock = ManualClock()
        self.t_fire = t_fire
        cfg = Config(mqtt=MqttConfig(url=mqtt_url or "mqtt://127.0.0.1:1", keepalive_s=5))
        sensors = cfg.sensors.model_copy(update={
            "scd41": cfg.sensors.scd41.model_copy(update={"stale_after_s": SCD41_STALE_S}),
            "lepton": cfg.sensors.lepton.model_copy(update={"model": lepton})})
        self.config = cfg.model_copy(update={"sensors": sensors})
        self.sources: Sources = simulated_sources(self.config, FireAt(t_fire), self.clock)
        self.sources.scd41.read_timeout_s = 0.001  # poll: a longer wait desyncs the VoSPI stream
        self.holder = holder or ModelHolder(self.config.model)
        self.outbox = Outbox(tmp_path / "outbox.db")
        # No broker: the link's in-memory twin, never up, so every event stays in the outbox.
        self.link: Any = MemoryLink(self.outbox) if mqtt_url is None else MqttLink(
            self.config.mqtt, "fm", self.outbox, reconnect_min_s=1, reconnect_max_s=1)
        self.daemon = Daemon(self.config, self.sources, self.holder, self.link)
        self.errors: dict[str, list[str]] = {"lepton": [], "scd41": []}
        self._next_gas = 0.0

    @property
    def sim_scd41(self) -> Any:
        return self.sources.sim_scd41

    @property
    def sim_lepton(self) -> Any:
        return self.sources.sim_lepton

    def _read(self, name: str) -> None:
        source = self.sources.lepton if name == "lepton" else self.sources.scd41
        try:
            reading = source.read()
        except SensorError as err:  # as SensorLoop: the driver heals on the next read
            self.errors[name].append(str(err))
            return
        if reading is not None:
            self.daemon.queue.put(reading)

    def run_until(self, t_end: float,
                  at: dict[float, Callable[[], None]] | None = None) -> None:
        """Read both sensors and process until the device clock reaches ``t_end``; call
        each ``at[t]`` once the clock passes ``t``."""
        pending = sorted((at or {}).items())
        while self.clock.monotonic() < t_end:
            while pending and self.clock.monotonic() >= pending[0][0]:
                pending.pop(0)[1]()
            self._read("lepton")
            if self.clock.monotonic() >= self._next_gas:
                self._next_gas = self.clock.monotonic() + GAS_EVERY_S
                self._read("scd41")
            while not self.daemon.queue.empty():
                self.daemon.step(timeout=0.0)
            self.daemon.step(timeout=0.0)  # staleness checks even without readings

    def events(self) -> list[dict[str, Any]]:
        """Every event in the outbox (nothing is acknowledged without a broker)."""
        return [json.loads(e.payload) for e in self.outbox.pending(10_000)]

    def close(self) -> None:
        self.link.stop(timeout=2)
        self.sources.close()
        self.outbox.close()


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    """A device (Lepton 2.5: small frames, fast) with no broker and the rule fallback."""
    d = Device(tmp_path)
    yield d
    d.close()


@pytest.fixture
def device35(tmp_path: Path) -> Iterator[Device]:
    """The same with a Lepton 3.5 (four VoSPI segments per frame) for the camera faults."""
    d = Device(tmp_path, lepton="3.5")
    yield d
    d.close()


def assert_nothing_lost(d: Device, events: list[dict[str, Any]]) -> None:
    """Seqs 1…N contiguous, N = every event the daemon published, one fire alarm after T_FIRE."""
    seqs = [e["seq"] for e in events if e["event"] != "test"]
    assert seqs == list(range(1, d.daemon.events_published + 1))
    alarms = [e for e in events if e["event"] == "alarm"]
    assert len(alarms) == 1, alarms
    assert alarms[0]["t"] >= d.t_fire


def faults(events: list[dict[str, Any]]) -> list[str]:
    return [e["sensor"] for e in events if e["event"] == "fault"]


class TestScd41Faults:
    def test_nack_burst(self, device: Device) -> None:
        """Five NACKs: the reader restarts the chip; no fault event, the fire alarms."""
        device.run_until(T_FIRE + 6, {T_FAULT: lambda: device.sim_scd41.nack(5)})
        ev = device.events()
        assert faults(ev) == []
        assert device.sources.scd41.reader is not None
        assert device.sources.scd41.reader.health().faults >= 1
        assert_nothing_lost(device, ev)
        assert ev[-1]["sensors"] == {"scd41": "ok", "lepton": "ok"}

    def test_crc_errors(self, device: Device) -> None:
        """Corrupt CRCs on three measurement reads are retried; no fault, the fire alarms."""
        device.run_until(T_FIRE + 6, {T_FAULT: lambda: device.sim_scd41.corrupt_crc(
            3, only="read_measurement")})
        ev = device.events()
        assert faults(ev) == []
        assert device.sources.scd41.reader is not None
        assert device.sources.scd41.reader.health().crc_errors >= 1
        assert_nothing_lost(device, ev)

    def test_data_ready_stall(self, tmp_path: Path) -> None:
        """A chip that stops producing data is faulted once stale; the flame still alarms,
        and the alarm says the SCD41 is faulted."""
        d = Device(tmp_path, t_fire=T_FAULT + SCD41_STALE_S + 2)
        try:
            d.run_until(d.t_fire + 6, {T_FAULT: lambda: d.sim_scd41.stall_data_ready(True)})
            ev = d.events()
            assert faults(ev) == ["scd41"]
            (alarm,) = [e for e in ev if e["event"] == "alarm"]
            assert alarm["sensors"]["scd41"] == "fault" and alarm["degraded"] is True
            assert_nothing_lost(d, ev)
        finally:
            d.close()

    def test_chip_gone(self, tmp_path: Path) -> None:
        """An unplugged SCD41: one scd41 fault event naming the bus error; the flame alone
        alarms, flagged degraded with scd41 faulted in the alarm payload."""
        d = Device(tmp_path, t_fire=T_FAULT + SCD41_STALE_S + 2)
        try:
            d.run_until(d.t_fire + 6, {T_FAULT: d.sim_scd41.disappear})
            ev = d.events()
            (fault,) = [e for e in ev if e["event"] == "fault"]
            assert fault["sensor"] == "scd41"
            (alarm,) = [e for e in ev if e["event"] == "alarm"]
            assert alarm["sensors"]["scd41"] == "fault" and alarm["degraded"] is True
            assert_nothing_lost(d, ev)
        finally:
            d.close()


class TestLeptonFaults:
    def test_bit_errors(self, device35: Device) -> None:
        """CRC failures in 40 packets: segments dropped and resynced, no fault, fire alarms."""
        def inject() -> None:
            device35.sim_lepton.spi.bit_errors = 40

        device35.run_until(T_FIRE + 6, {T_FAULT: inject})
        ev = device35.events()
        assert faults(ev) == []
        assert any("CRC" in e for e in device35.errors["lepton"]) or \
            device35.sim_lepton.spi.bit_errors == 0
        assert_nothing_lost(device35, ev)

    def test_loss_of_sync(self, device35: Device) -> None:
        """Repeated loss of VoSPI sync is recovered by resyncing; no fault, the fire alarms."""
        before: list[int] = []

        def lose() -> None:
            before.append(device35.sources.lepton.health()["resyncs"])
            device35.sim_lepton.spi.lose_sync()

        device35.run_until(T_FIRE + 6, {T_FAULT + k * 0.5: lose for k in range(4)})
        ev = device35.events()
        assert faults(ev) == []
        assert device35.sources.lepton.health()["resyncs"] >= before[0] + 4
        assert_nothing_lost(device35, ev)

    def test_camera_reboots_by_itself(self, device35: Device) -> None:
        """A brown-out reboot (1.5 s of discards) is ridden out without a fault event."""
        device35.run_until(T_FIRE + 6, {T_FAULT: device35.sim_lepton.reboot_camera})
        ev = device35.events()
        assert faults(ev) == []
        assert_nothing_lost(device35, ev)

    def test_hung_camera_rebooted_over_cci(self, tmp_path: Path) -> None:
        """A camera stuck on discards is faulted once stale, rebooted over the CCI after
        ``reboot_after_failures`` timeouts, streams again, and the later fire alarms with the
        camera ok."""
        d = Device(tmp_path, t_fire=T_FAULT + 16, lepton="3.5")
        try:
            d.run_until(d.t_fire + 6, {T_FAULT: d.sim_lepton.hang})
            ev = d.events()
            assert faults(ev) == ["lepton"]
            assert d.sources.lepton.health()["reboots"] >= 1
            assert not d.sim_lepton.state.hung
            (alarm,) = [e for e in ev if e["event"] == "alarm"]
            assert alarm["sensors"]["lepton"] == "ok"
            assert_nothing_lost(d, ev)
        finally:
            d.close()

    def test_miso_stuck_is_a_fault_co2_alarms(self, tmp_path: Path) -> None:
        """A MISO line stuck high for good: one lepton fault event; CO2 alone raises the fire
        alarm, which says the camera is faulted."""
        d = Device(tmp_path, t_fire=T_FAULT + 8)

        def stuck() -> None:
            d.sim_lepton.spi.miso_stuck = 0xFF

        try:
            d.run_until(d.t_fire + 30, {T_FAULT: stuck})
            ev = d.events()
            assert faults(ev) == ["lepton"]
            (alarm,) = [e for e in ev if e["event"] == "alarm"]
            assert alarm["sensors"]["lepton"] == "fault" and alarm["degraded"] is True
            assert_nothing_lost(d, ev)
        finally:
            d.close()


class TestLinkAndStorage:
    def test_broker_outage(self, broker: Broker, tmp_path: Path) -> None:
        """The broker is down when the fire starts: the alarm waits in the outbox and arrives,
        with every other event in seq order, once the broker is back."""
        d = Device(tmp_path, broker.url)
        sub = Sub(broker, ["firedetect/fm/alarm"], client_id="fm-sub", clean=False)
        try:
            d.link.start()
            assert d.link.wait_connected(10)
            d.run_until(T_FAULT)
            broker.stop()
            d.run_until(T_FIRE + 6)
            assert d.daemon.events_published >= 1
            assert d.link.status().outbox_depth == d.daemon.events_published
            broker.start()
            n = d.daemon.events_published
            assert sub.wait(lambda s: set(s.seqs("firedetect/fm/alarm")) >= set(range(1, n + 1)),
                            timeout=20)
            kinds = [json.loads(m.payload)["event"] for m in sub.on("firedetect/fm/alarm")]
            assert "alarm" in kinds
            assert d.link.drain(5)
            assert d.outbox.depth() == 0
        finally:
            sub.close()
            d.close()

    def test_outbox_unwritable(self, broker: Broker, tmp_path: Path) -> None:
        """The outbox's storage refuses writes when the fire starts (SD card remounted
        read-only, or full): the alarm is kept in memory and still delivered, and the link
        reports the outbox fault naming the file."""
        d = Device(tmp_path, broker.url)
        sub = Sub(broker, ["firedetect/fm/alarm"], client_id="fm-ro")

        def break_storage() -> None:
            # SQLite's query_only: every write fails as on a read-only filesystem (root ignores
            # directory permissions, and a full tiny filesystem needs mount rights).
            with d.outbox._lock:
                d.outbox._conn.execute("PRAGMA query_only = ON")
            with pytest.raises(OutboxError, match=str(d.outbox.path)):
                d.outbox.append("firedetect/fm/probe", "x")

        try:
            d.link.start()
            assert d.link.wait_connected(10)
            d.run_until(T_FAULT)
            break_storage()
            d.run_until(T_FIRE + 6)
            st = d.link.status()
            assert st.outbox_fault is not None and str(d.outbox.path) in st.outbox_fault
            assert sub.wait(lambda s: [json.loads(m.payload)["event"] for m in
                                       s.on("firedetect/fm/alarm")].count("alarm") == 1,
                            timeout=10)
        finally:
            sub.close()
            d.close()


class TestModelAndClock:
    def test_corrupt_model_is_refused(self, kit: Kit, tmp_path: Path) -> None:  # noqa: F811
        """A model with a flipped byte is refused; the device keeps scoring (rules) and the
        fire alarms."""
        bad = tmp_path / "bad"
        shutil.copytree(kit.a.path, bad)
        onnx = bad / "members" / "rf.onnx"
        data = bytearray(onnx.read_bytes())
        data[len(data) // 2] ^= 0xFF
        onnx.write_bytes(bytes(data))
        holder = ModelHolder(Config().model.model_copy(update={"public_key": kit.public_key}))
        with pytest.raises(ModelError):
            holder.install(bad)
        assert holder.model is None and holder.last_error is not None
        d = Device(tmp_path, holder=holder)
        try:
            d.run_until(T_FIRE + 6)
            ev = d.events()
            assert_nothing_lost(d, ev)
            assert ev[-1]["model"] == "rules-v1"
        finally:
            d.close()

    def test_clock_jump_forward(self, tmp_path: Path) -> None:
        """A 1-hour jump of the device clock (suspend/resume): both sensors are reported stale
        once and recover; no spurious alarm before the fire, the fire still alarms."""
        d = Device(tmp_path, t_fire=3600.0 + T_FIRE)
        try:
            d.run_until(T_FAULT)
            d.clock.advance(3600.0)
            d.daemon.step(timeout=0.0)  # the processing loop wakes before any reading
            d.run_until(d.t_fire + 16)  # the SCD41 restarts: its next reading ≈ 12 s later
            ev = d.events()
            assert sorted(faults(ev)) == ["lepton", "scd41"]
            assert_nothing_lost(d, ev)
            assert d.daemon.pipeline.sensors() == {"scd41": "ok", "lepton": "ok"}
        finally:
            d.close()


class TestFireAt:
    def test_flame_pixels(self) -> None:
        """The test flame is 16 px at 500 °C from t0 on (unambiguous for the rules)."""
        scene = FireAt(1.0)
        assert int((scene.thermal_k(2.0, 120, 160) >= FLAME_K - 1).sum()) == 16
        assert int((scene.thermal_k(0.5, 120, 160) >= FLAME_K - 1).sum()) == 0
        assert scene.air(61.0).co2_ppm - scene.air(0.5).co2_ppm > 900
        assert np.isfinite(scene.thermal_k(2.0, 120, 160)).all()



def _health(sub: Subscriber, base: str, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    msg = sub.wait_for(lambda m: m.topic == f"{base}/health" and not m.retain
                       and pred(m.json()), timeout=90)
    body: dict[str, Any] = msg.json()
    return body


def _test_event(sub: Subscriber, base: str) -> int:
    """Ask the device for a ``test`` event (``cmd/test``) and return its seq."""
    def tests() -> list[dict[str, Any]]:
        return [e for e in (m.json() for m in sub.on(f"{base}/alarm")) if e["event"] == "test"]

    seen = len(tests())
    sub.publish(f"{base}/cmd/test", b"{}")
    sub.wait_for(lambda m: len(tests_seen) > seen if (tests_seen := _tests_unlocked(
        sub, base)) else False, timeout=60)
    seq: int = tests()[seen]["seq"]
    return seq


def _tests_unlocked(sub: Subscriber, base: str) -> list[dict[str, Any]]:
    """The test events received (for use inside ``wait_for``, which holds the lock)."""
    return [e for e in (json.loads(m.payload) for m in list(sub.messages)
                        if m.topic == f"{base}/alarm") if e["event"] == "test"]


class TestStateDirectory:
    """The state directory (outbox, model cache) read-only, full or shared: a real daemon
    process (``firedetect run``) on a real file system, talking to a real Mosquitto."""

    def _run(self, broker: Broker, tmp_path: Path, device: str, fs: str,
             runtime_dir: Path | None = None) -> tuple[list[int], dict[str, Any], int, str]:
        """Start the daemon on ``fs``, take its healthy-or-not health and two test events."""
        state = tmp_path / "state"
        state.mkdir(exist_ok=True)
        config = storage.write_config(tmp_path / f"{device}.toml", broker.url, state, device)
        base = f"firedetect/{device}"
        sub = Subscriber("127.0.0.1", broker.port, [f"{base}/#"])
        proc = storage.start_daemon(config, state, fs=fs, runtime_dir=runtime_dir)
        try:
            health = _health(sub, base, lambda h: h.get("model", {}).get("version") != "rules-v1")
            seqs = [_test_event(sub, base), _test_event(sub, base)]
            health = _health(sub, base, lambda h: (h["outbox"]["status"] == "ok") == (fs == "rw"))
        finally:
            code, err = storage.stop_daemon(proc)
            sub.close()
        return seqs, health, code, err

    def test_read_only_state_dir_detects_and_reports(self, broker: Broker,
                                                      tmp_path: Path) -> None:
        """A read-only state directory with ``model.path`` set: the daemon starts with the
        model (no cache), keeps events in memory, and health says outbox fault, volatile,
        held events, model cache fault, status degraded."""
        seqs, health, code, err = self._run(broker, tmp_path, "ro1", "ro")
        assert code == 0, err
        assert seqs[1] == seqs[0] + 1
        assert health["status"] == "degraded"
        assert health["outbox"]["status"] == "fault" and health["outbox"]["volatile"] is True
        assert "held_in_memory" in health["outbox"]
        assert health["model"]["version"] != "rules-v1"
        assert "read-only" in health["model_cache"].lower() or "ermission" in health["model_cache"]

    def test_full_state_dir_detects_and_reports(self, broker: Broker, tmp_path: Path) -> None:
        """A full file system under the state directory: the daemon runs, events go out
        from memory, and health says so."""
        seqs, health, code, err = self._run(broker, tmp_path, "full1", "full")
        assert code == 0, err
        assert seqs[1] == seqs[0] + 1
        assert health["status"] == "degraded" and health["outbox"]["status"] == "fault"
        assert health["outbox"]["volatile"] is True

    def test_seq_never_goes_back(self, broker: Broker, tmp_path: Path) -> None:
        """seq increases across a writable run, a read-only run (volatile outbox) and the
        next writable run: the high-water record in the runtime directory carries it."""
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        first, _, _, _ = self._run(broker, tmp_path, "sq1", "rw", run_dir)
        during, _, _, err = self._run(broker, tmp_path, "sq1", "ro", run_dir)
        after, health, _, _ = self._run(broker, tmp_path, "sq1", "rw", run_dir)
        seqs = first + during + after
        assert seqs == sorted(set(seqs)), (seqs, err)
        assert during[0] == first[-1] + 1  # volatile mode continued from the readable file
        assert health["outbox"]["status"] == "ok"

    def test_second_daemon_on_one_state_dir_is_refused(self, broker: Broker,
                                                       tmp_path: Path) -> None:
        """A second daemon on the same state directory exits 1 naming the directory and the
        first one's pid; the first keeps running."""
        state = tmp_path / "state"
        state.mkdir()
        config = storage.write_config(tmp_path / "c.toml", broker.url, state, "lk1")
        sub = Subscriber("127.0.0.1", broker.port, ["firedetect/lk1/#"])
        first = storage.start_daemon(config, state)
        try:
            _health(sub, "firedetect/lk1", lambda h: True)
            code, err = storage.wait_exit(storage.start_daemon(config, state))
            assert code == 1
            assert str(state) in err and f"pid {first.pid}" in err
            assert first.poll() is None
        finally:
            storage.stop_daemon(first)
            sub.close()

    def test_lock_holds_on_a_read_only_state_dir(self, broker: Broker, tmp_path: Path) -> None:
        """On a read-only state directory the lock still works: a second daemon is refused,
        the first keeps detecting."""
        state = tmp_path / "state"
        state.mkdir()
        config = storage.write_config(tmp_path / "c.toml", broker.url, state, "lk2")
        sub = Subscriber("127.0.0.1", broker.port, ["firedetect/lk2/#"])
        first = storage.start_daemon(config, state, fs="ro")
        try:
            _health(sub, "firedetect/lk2", lambda h: True)
            code, err = storage.wait_exit(storage.start_daemon(config, state, fs="ro"))
            assert code == 1 and str(state) in err, err
            assert first.poll() is None
        finally:
            storage.stop_daemon(first)
            sub.close()

ROOT = Path(__file__).resolve().parent.parent
T_OUTLIER = 40.0  # a quiet room, well after the SCD41's first readings fill the windows


def demo_holder() -> ModelHolder:
    """The demo model (demo/config.toml), verified with its public key."""
    from edge.config import load_config

    model = load_config(ROOT / "demo" / "config.toml").model
    assert model.path is not None and model.public_key is not None
    holder = ModelHolder(model.model_copy(update={"path": ROOT / model.path,
                                                  "public_key": ROOT / model.public_key}))
    holder.load_initial()
    assert holder.model is not None
    return holder


class TestScd41Outliers:
    """Issue 11 item 5: single implausible SCD41 samples through the real driver."""

    @pytest.mark.parametrize("model", ["rules", "demo"])
    def test_single_outlier_and_dropout_raise_no_alarm(self, tmp_path: Path, model: str) -> None:
        """One 5000-ppm sample, then a 0-ppm dropout 58 s later, in a quiet room: no alarm,
        both counted as rejected in the health, the SCD41 stays ok."""
        d = Device(tmp_path, t_fire=1e9, holder=demo_holder() if model == "demo" else None)
        # the default staleness limit: the matrix's 10 s is less than two intervals plus
        # the one reading that is missing (rejected)
        d.daemon.pipeline.sensors_state["scd41"].stale_after_s = 30.0
        try:
            d.run_until(T_OUTLIER + 100, {T_OUTLIER: lambda: d.sim_scd41.inject_co2(5000),
                                          T_OUTLIER + 58: lambda: d.sim_scd41.inject_co2(0)})
            ev = d.events()
            assert [e for e in ev if e["event"] == "alarm"] == []
            assert faults(ev) == []
            assert d.daemon.pipeline.plausibility.rejected == 2
            health = json.loads(d.daemon.report.health())
            assert health["scd41_rejected"] == 2
            assert health["sensors"]["scd41"]["status"] == "ok"
        finally:
            d.close()

    def test_fire_alarms_as_before(self, tmp_path: Path) -> None:
        """The fire (CO2 1000 ppm/min and a flame) alarms with no SCD41 reading rejected."""
        d = Device(tmp_path)
        try:
            d.run_until(T_FIRE + 6)
            assert d.daemon.pipeline.plausibility.rejected == 0
            assert_nothing_lost(d, d.events())
        finally:
            d.close()

    def test_sensor_that_keeps_failing_plausibility_is_faulted(self, tmp_path: Path) -> None:
        """A chip reporting 0 ppm on every other sample for a minute is faulted with the
        reason, and the fault clears once plausible readings resume."""
        d = Device(tmp_path, t_fire=1e9)
        d.daemon.pipeline.sensors_state["scd41"].stale_after_s = 30.0  # as above
        try:
            d.run_until(T_FAULT + 60, {T_FAULT: lambda: d.sim_scd41.inject_co2(
                *[0, 450] * 6)})  # 12 samples: one minute of 5-s readings
            ev = d.events()
            (fault,) = [e for e in ev if e["event"] == "fault"]
            assert fault["sensor"] == "scd41" and "implausible" in fault["reason"]
            assert d.daemon.pipeline.sensors()["scd41"] == "fault"
            d.run_until(T_FAULT + 120)
            assert d.daemon.pipeline.sensors()["scd41"] == "ok"
        finally:
            d.close()
