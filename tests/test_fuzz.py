"""Fuzzing of every parser of outside bytes: random input gives a result or a typed error.

Targets: SCD41 replies (word/CRC decoding and the driver over a transceiver answering random
bytes), the Scd41Reader above it, VoSPI packets (the SPI driver reading random or bit-flipped
streams, telemetry rows, segment assembly), training JSON (``cloud.training.data``), the
config (random TOML text and random documents) and the MQTT ``cmd/test`` command (random
payloads through ``MqttLink``'s message handler into the daemon).
Recordings are fuzzed in test_recording.py.

"No hang" is enforced by the drivers' own deadlines on a ManualClock (a wait advances it at
once) plus pytest-timeout. Hypothesis (no atheris: these parsers are pure Python, so
coverage-guided fuzzing would add a native build for little gain).
"""

from __future__ import annotations

import json
import math
import string
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.training.data import parse_json_samples
from edge.config import Config, load_config, parse_config
from edge.config.sensors import LeptonConfig, Scd41Config
from edge.errors import ConfigError, CrcError, SensorError, TrainingDataError
from edge.features import FEATURE_NAMES
from edge.sensors import scd41_commands as proto
from edge.sensors import vospi
from edge.sensors.flir_lepton import open_lepton
from edge.sensors.scd41 import SCD41, Measurement
from edge.sensors.scd41_reader import Scd41Reader
from edge.sim.clock import ManualClock
from edge.sim.lepton import SimulatedLepton
from edge.sim.scene import StaticRoom
from edge.types import GasReading, ThermalFrame

pytestmark = pytest.mark.timeout(120)

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------------------ SCD41


class RandomTransceiver:
    """An API v1 transceiver whose every answer (status and bytes) comes from hypothesis."""

    API_VERSION = 1
    channel_count: int | None = None
    description = "fuzz"

    def __init__(self, data: st.DataObject, valid_crc: bool) -> None:
        self.data = data
        self.valid_crc = valid_crc
        self.calls = 0

    def transceive(self, slave_address: int, tx_data: bytes | None, rx_length: int | None,
                   read_delay: float, timeout: float) -> tuple[int, Exception | None, bytes]:
        self.calls += 1
        status = self.data.draw(st.sampled_from([0, 0, 0, 2, 3, 4]), label="status")
        if rx_length is None:
            return status, None if status == 0 else OSError("fuzz"), b""
        if self.valid_crc:
            n = self.data.draw(st.sampled_from([rx_length // 3, rx_length // 3, 0, 1]),
                               label="words")
            words = self.data.draw(st.lists(st.integers(0, 0xFFFF), min_size=n, max_size=n))
            rx = proto.pack_words(words)
        else:
            rx = self.data.draw(st.binary(max_size=rx_length + 3), label="rx")
        return status, None if status == 0 else OSError("fuzz"), rx


GETTERS = ("read_measurement", "get_data_ready_status", "get_serial_number",
           "get_sensor_variant", "get_temperature_offset", "get_sensor_altitude",
           "get_ambient_pressure", "get_automatic_self_calibration_enabled",
           "get_automatic_self_calibration_target", "perform_self_test")


class TestScd41Words:
    @FAST
    @given(st.binary(max_size=64))
    def test_unpack_random_bytes(self, data: bytes) -> None:
        """Random bytes unpack to 16-bit words or raise CrcError/ValueError naming the word."""
        try:
            words = proto.unpack_words(data)
        except CrcError as exc:
            assert "CRC" in str(exc) and "word" in str(exc)
            return
        except ValueError as exc:
            assert "whole number of words" in str(exc)
            return
        assert len(words) == len(data) // 3
        assert all(0 <= w <= 0xFFFF for w in words)

    @FAST
    @given(st.lists(st.integers(0, 0xFFFF), max_size=9), st.data())
    def test_one_flipped_byte_is_caught(self, words: list[int], data: st.DataObject) -> None:
        """Any single corrupted byte of a packed reply is detected (or the reply equals)."""
        raw = bytearray(proto.pack_words(words))
        assert proto.unpack_words(bytes(raw)) == tuple(words)
        if not raw:
            return
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
        with pytest.raises(CrcError):
            proto.unpack_words(bytes(raw))


class TestScd41Driver:
    @FAST
    @given(st.data(), st.sampled_from(GETTERS), st.booleans())
    def test_any_reply_gives_a_value_or_a_sensor_error(self, data: st.DataObject, name: str,
                                                       valid_crc: bool) -> None:
        """Every read command over random replies returns its type or raises SensorError."""
        sensor = SCD41(RandomTransceiver(data, valid_crc), ManualClock())
        try:
            value = getattr(sensor, name)()
        except SensorError as exc:
            assert str(exc).startswith("scd41")
            return
        if name == "read_measurement":
            assert isinstance(value, Measurement)
            assert 0 <= value.co2_ppm <= 0xFFFF
            assert -45.0 <= value.temperature_c <= 130.0
            assert 0.0 <= value.humidity_pct <= 100.0
        elif name == "get_sensor_variant":
            assert isinstance(value, str)

    @SLOW
    @given(st.data(), st.booleans(),
           st.sampled_from(["periodic", "low_power", "single_shot"]))
    def test_reader_never_raises_and_keeps_its_deadline(self, data: st.DataObject,
                                                        valid_crc: bool, mode: str) -> None:
        """The reader over a chip answering random bytes returns a reading or None, in time."""
        clock = ManualClock()
        reader = Scd41Reader(SCD41(RandomTransceiver(data, valid_crc), clock),
                             Scd41Config(mode=mode), clock)  # type: ignore[arg-type]
        assert reader.start() in (True, False)
        for _ in range(3):
            deadline = clock.monotonic() + 6.0
            out = reader.read_next(deadline)
            assert out is None or isinstance(out, GasReading)
            assert clock.monotonic() <= deadline + 5.0 + 1e-9  # at most one Wait over
            assert reader.status in ("starting", "ok", "stopped") or reader.status.startswith(
                "fault: ")
        reader.stop()


# ------------------------------------------------------------------------------ VoSPI


class RandomSpi:
    """An SpiDevice whose reads are random bytes (a disconnected or noisy MISO line)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.mode = 0
        self.max_speed_hz = 0
        self.bits_per_word = 8

    def open(self, bus: int, device: int) -> None:
        pass

    def close(self) -> None:
        pass

    def xfer2(self, values: list[int], speed_hz: int = 0, delay_usecs: int = 0) -> list[int]:
        return self.readbytes(len(values))

    def readbytes(self, n: int) -> list[int]:
        kind = self.data.draw(st.sampled_from(["random", "discard", "short"]))
        if kind == "short":
            return list(self.data.draw(st.binary(max_size=n - 1)))
        if kind == "discard":
            return [0x0F, 0x00] + [0] * (n - 2)
        head = self.data.draw(st.binary(min_size=min(n, 8), max_size=min(n, 8)))
        return list(head + bytes(n - len(head)))


class FlippingSpi:
    """The simulated camera's real VoSPI stream with bytes flipped at random."""

    def __init__(self, inner: Any, data: st.DataObject) -> None:
        self.inner = inner
        self.data = data
        self.mode = 0
        self.max_speed_hz = 0
        self.bits_per_word = 8

    def open(self, bus: int, device: int) -> None:
        self.inner.open(bus, device)

    def close(self) -> None:
        self.inner.close()

    def xfer2(self, values: list[int], speed_hz: int = 0, delay_usecs: int = 0) -> list[int]:
        return self.readbytes(len(values))

    def readbytes(self, n: int) -> list[int]:
        out = self.inner.readbytes(n)
        for i in self.data.draw(st.lists(st.integers(0, n - 1), max_size=3)):
            out[i] ^= self.data.draw(st.integers(1, 255))
        return list(out)


def _camera(spi: Any, clock: ManualClock) -> Any:
    sim = SimulatedLepton(StaticRoom(seed=1), clock)
    cfg = LeptonConfig(kind="simulated", reboot_after_failures=3)
    return open_lepton(cfg, clock, spi=spi, cci_bus=sim.cci)


class TestVospi:
    @SLOW
    @given(st.data())
    def test_random_stream_gives_frames_or_sensor_errors(self, data: st.DataObject) -> None:
        """Reading a random MISO stream ends in a frame or a SensorError, on its deadline."""
        clock = ManualClock()
        cam = _camera(RandomSpi(data), clock)
        for _ in range(2):
            start = clock.monotonic()
            try:
                frame = cam.read_frame()
            except SensorError as exc:
                assert str(exc).startswith("lepton")
            else:
                assert isinstance(frame, ThermalFrame)
            assert clock.monotonic() - start < 30.0

    @SLOW
    @given(st.data())
    def test_bit_flips_never_reach_a_frame_unchecked(self, data: st.DataObject) -> None:
        """A frame read through random byte flips equals a rendered frame, or is refused."""
        clock = ManualClock()
        sim = SimulatedLepton(StaticRoom(seed=2), clock)
        cam = open_lepton(LeptonConfig(kind="simulated"), clock,
                          spi=FlippingSpi(sim.spi, data), cci_bus=sim.cci)
        try:
            frame = cam.read_frame()
        except SensorError:
            return
        rendered = [r.pixels for r in sim.spi.rendered]
        assert any(np.array_equal(frame.pixels, p) for p in rendered)

    @FAST
    @given(st.lists(st.integers(0, 0xFFFF), min_size=0, max_size=120))
    def test_telemetry_row(self, words: list[int]) -> None:
        """Any telemetry row decodes to known fields, or is refused for being short."""
        arr = np.asarray(words, dtype=np.uint16)
        try:
            t = vospi.parse_telemetry(arr)
        except ValueError as exc:
            assert "telemetry row A" in str(exc)
            return
        assert t["ffc_state"] in vospi.FFC_STATES
        assert 0 <= t["frame_counter"] < 2**32

    @FAST
    @given(st.lists(st.integers(-2, 6), max_size=20))
    def test_assembler_any_segment_order(self, segments: list[int]) -> None:
        """Segments in any order give whole frames only after 1…4 in order; bad ids refused."""
        geo = vospi.geometry("3.5", False)
        asm = vospi.FrameAssembler(geo)
        packets = np.zeros((geo.packets_per_segment, vospi.PACKET_BYTES), np.uint8)
        run = 0
        for seg in segments:
            if not 1 <= seg <= geo.segments:
                with pytest.raises(ValueError, match="segment must be"):
                    asm.add(seg, packets)
                continue
            run = 1 if seg == 1 else (run + 1 if seg == run + 1 else 0)
            out = asm.add(seg, packets)
            assert (out is not None) == (run == geo.segments)
            if out is not None:
                assert out.shape == (geo.total_rows, geo.width)
                run = 0


# ------------------------------------------------------------------------------ training JSON

# Finite magnitudes above float32's 3.4e38 have their own test (test_number_beyond_float32).
_FEATURE = st.one_of(st.none(), st.floats(-1e38, 1e38), st.sampled_from([math.nan, math.inf]),
                     st.integers(-10**20, 10**20), st.booleans(), st.text(max_size=3))
_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)


def _sample(draw: st.DrawFn) -> dict[str, Any]:
    names: list[str] = list(FEATURE_NAMES)
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from([*FEATURE_NAMES, "cnt", "utc"]), unique=True))
    return {"features": {n: draw(_FEATURE) for n in names},
            "label": draw(st.sampled_from([0, 1, 1.0, True, 2, None, "1"]))}


@st.composite
def _documents(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "samples"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(_JSONISH)).encode()
    samples = [_sample(draw) for _ in range(draw(st.integers(0, 4)))]
    return json.dumps({"samples": samples}).encode()


class TestTrainingJson:
    @FAST
    @given(_documents())
    def test_any_file_gives_rows_or_a_named_error(self, data: bytes) -> None:
        """A JSON training file parses to 18-feature rows or a TrainingDataError naming it."""
        try:
            ds = parse_json_samples(data, "fuzz.json")
        except TrainingDataError as exc:
            assert str(exc).startswith("fuzz.json: ")
            return
        assert ds.X.shape == (len(ds), len(FEATURE_NAMES))
        assert set(np.unique(ds.y)) <= {0, 1}
        assert not np.isinf(ds.X).any()

    def test_number_beyond_float32(self) -> None:
        """A finite feature value too large for float32 is refused, not stored as inf."""
        doc = {"samples": [{"features": {n: 1e300 for n in FEATURE_NAMES}, "label": 1}]}
        with pytest.raises(TrainingDataError, match=r"fuzz\.json"):
            parse_json_samples(json.dumps(doc).encode(), "fuzz.json")

    def test_deeply_nested_json(self) -> None:
        """Nesting deep enough to exhaust the recursion limit is a TrainingDataError."""
        with pytest.raises(TrainingDataError, match=r"fuzz\.json"):
            parse_json_samples(b"[" * 100_000 + b"]" * 100_000, "fuzz.json")


# ------------------------------------------------------------------------------ config

_SECTIONS: dict[str, list[str]] = {
    name: list(type(getattr(Config(), name)).model_fields) for name in Config.model_fields
}
_SCALARS = st.one_of(st.booleans(), st.integers(-10**6, 10**6),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.text(string.printable, max_size=12), st.lists(st.integers(), max_size=2))


@st.composite
def _config_docs(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from([*_SECTIONS, "bogus"]), unique=True)):
        keys = [*_SECTIONS.get(section, ["x"]), "unknown_key"]
        doc[section] = {k: draw(_SCALARS) for k in draw(st.lists(st.sampled_from(keys),
                                                                  unique=True, max_size=4))}
    return doc


class TestConfig:
    @settings(max_examples=150, deadline=None)
    @given(_config_docs())
    def test_random_documents(self, doc: dict[str, Any]) -> None:
        """A document of real section/key names with random values validates or gives a
        ConfigError that names the source and a key path."""
        try:
            cfg = parse_config(doc, "fuzz.toml")
        except ConfigError as exc:
            assert "fuzz.toml" in str(exc)
            return
        assert isinstance(cfg, Config)

    @FAST
    @given(text=st.text(max_size=200))
    def test_random_toml_text(self, text: str, tmp_path_factory: pytest.TempPathFactory
                              ) -> None:
        """Any text as a config file loads or raises ConfigError naming the file."""
        path = tmp_path_factory.mktemp("cfg") / "firedetect.toml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(path) in str(exc)

    @FAST
    @given(data=st.binary(max_size=100))
    def test_random_bytes(self, data: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
        """Non-UTF-8 or binary config files are a ConfigError, never a crash."""
        path = tmp_path_factory.mktemp("cfg") / "firedetect.toml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(path) in str(exc)

    def test_valid_toml_round_trip(self, tmp_path: Path) -> None:
        """A hand-written valid file still loads (the fuzz targets are not all errors)."""
        path = tmp_path / "ok.toml"
        path.write_text('[alarm]\npre_alarm_s = 5.0\n[device]\nid = "kitchen"\n')
        assert tomllib.loads(path.read_text())["alarm"]["pre_alarm_s"] == 5.0
        assert load_config(path).alarm.pre_alarm_s == 5.0


# ------------------------------------------------------------------------------ MQTT cmd/test


def _message(topic: str, payload: bytes) -> paho.MQTTMessage:
    msg = paho.MQTTMessage(topic=topic.encode())
    msg.payload = payload
    return msg


class TestMqttTestCommand:
    @pytest.fixture
    def daemon(self, tmp_path: Path) -> Any:
        """A daemon on simulated sensors whose link (not connected) calls request_test."""
        from edge.config import MqttConfig
        from edge.daemon import Daemon
        from edge.model.holder import ModelHolder
        from edge.mqtt.link import MqttLink
        from edge.mqtt.outbox import Outbox
        from edge.sim.sources import simulated_sources

        cfg = Config()
        clock = ManualClock()
        sources = simulated_sources(cfg, StaticRoom(seed=3), clock)
        holder = ModelHolder(cfg.model)
        box = Outbox(tmp_path / "outbox.db")
        link = MqttLink(MqttConfig(url="mqtt://127.0.0.1:1"), "fuzz", box)
        d = Daemon(cfg, sources, holder, link)
        link.on_test_command = d.request_test
        yield d
        box.close()

    @SLOW
    @given(payload=st.binary(max_size=512), topic_kind=st.sampled_from(["test", "other"]))
    def test_random_payloads(self, daemon: Any, payload: bytes, topic_kind: str) -> None:
        """Any payload on cmd/test yields exactly one valid JSON test event in the outbox;
        on any other topic, none."""
        link = daemon.link
        topic = link.test_topic if topic_kind == "test" else f"{link.test_topic}/x"
        before = link.outbox.next_seq()
        link._on_message(None, None, _message(topic, payload))
        daemon.step(timeout=0.0)
        new = [e for e in link.outbox.pending(100) if e.seq >= before]
        tests = [json.loads(e.payload) for e in new if json.loads(e.payload)["event"] == "test"]
        assert len(tests) == (1 if topic_kind == "test" else 0)
        for body in tests:
            assert math.isfinite(body["seq"])
