"""Alarm snapshots (edge.snapshot): the PNG, what it shows, and publishing it after its event."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from edge.config import MqttConfig
from edge.detect.scene import SceneMemory
from edge.mqtt.base import MemoryLink
from edge.mqtt.link import MqttLink
from edge.mqtt.outbox import Outbox
from edge.snapshot.png import encode_palette_png
from edge.snapshot.render import (
    LUT_SIZE,
    OUTLINE,
    PALETTE,
    TEXT,
    Shot,
    caption_lines,
    render,
    render_indices,
)
from edge.snapshot.service import Snapshotter
from edge.types import ZERO_C_K, GasReading, ThermalFrame
from tests.broker import Broker
from tests.daemon_helpers import Run, Subscriber, start_inprocess

GREEN = tuple(int(v) for v in PALETTE[OUTLINE])
WHITE = tuple(int(v) for v in PALETTE[TEXT])


def _decode(png: bytes) -> npt.NDArray[np.uint8]:
    """Decode our palette PNG with zlib + struct only (checking every chunk's CRC): RGB H×W×3."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", png[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF, kind
        chunks.append((kind, data))
        pos += 12 + n
    assert [k for k, _ in chunks] == [b"IHDR", b"PLTE", b"IDAT", b"IEND"]
    w, h, depth, ctype, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, ctype) == (8, 3)
    pal = np.frombuffer(chunks[1][1], dtype=np.uint8).reshape(-1, 3)
    raw = np.frombuffer(zlib.decompress(chunks[2][1]), dtype=np.uint8).reshape(h, w + 1)
    assert set(raw[:, 0].tolist()) == {0}  # filter type None on every row
    return pal[raw[:, 1:]]


def _fire_frame(seed: int = 0) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """A 160×120 room at ~21 °C with a 12×10 px fire at rows 40–49, columns 100–111."""
    c = (21.0 + np.random.default_rng(seed).normal(0, 0.4, (120, 160))).astype(np.float32)
    region = np.zeros(c.shape, dtype=bool)
    region[40:50, 100:112] = True
    c[region] = 380.0
    return c, region


def _shot(celsius: Any, region: Any, **kw: Any) -> Shot:
    base: dict[str, Any] = {"wall_t": 1_764_900_000.0, "kind": "alarm",
                            "reason": "a new hot region grew by 26 px", "score": 0.97,
                            "co2_ppm": 850.0, "co2_rise_ppm": 180.0, "after_seq": 1}
    base.update(kw)
    return Shot(celsius, region, **base)


class TestPng:
    def test_round_trip_with_zlib_and_pillow(self) -> None:
        """The encoder's PNG decodes (CRCs, IHDR, palette, rows) with zlib+struct and Pillow."""
        idx = np.arange(12, dtype=np.uint8).reshape(3, 4)
        pal = np.array([(i * 20, 255 - i * 20, i) for i in range(12)], dtype=np.uint8)
        png = encode_palette_png(idx, pal)
        assert np.array_equal(_decode(png), pal[idx])
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), pal[idx])

    @pytest.mark.parametrize(("idx", "pal", "match"), [
        (np.zeros((2, 2), dtype=np.int32), np.zeros((1, 3), dtype=np.uint8), "uint8"),
        (np.zeros((2, 2), dtype=np.uint8), np.zeros((300, 3), dtype=np.uint8), "palette"),
        (np.full((2, 2), 5, dtype=np.uint8), np.zeros((3, 3), dtype=np.uint8), "past the palette"),
    ])
    def test_bad_input_is_named(self, idx: Any, pal: Any, match: str) -> None:
        """A wrong dtype, an oversized palette or an index past it raise a clear ValueError."""
        with pytest.raises(ValueError, match=match):
            encode_palette_png(idx, pal)


class TestRender:
    def test_outline_surrounds_the_decision_region(self) -> None:
        """The outline (green) rings the constructed region ×4 and appears nowhere else."""
        c, region = _fire_frame()
        rgb = _decode(render(_shot(c, region)))
        green = np.all(rgb[:480] == GREEN, axis=2)
        ys, xs = np.nonzero(green)
        # region rows 40–49 → 160–199, columns 100–111 → 400–447; a 2-px ring outside them
        assert (ys.min(), ys.max(), xs.min(), xs.max()) == (158, 201, 398, 449)
        assert not green[160:200, 400:448].any()  # the region itself keeps its colours
        assert np.all(rgb[170, 420] == PALETTE[LUT_SIZE - 1])  # the hottest colour

    def test_hottest_blob_when_no_region(self) -> None:
        """With no decision region, the hottest blob is outlined instead."""
        c, _ = _fire_frame()
        rgb = _decode(render(_shot(c, None)))
        ys, xs = np.nonzero(np.all(rgb[:480] == GREEN, axis=2))
        assert (ys.min(), ys.max(), xs.min(), xs.max()) == (158, 201, 398, 449)

    def test_scale_bar_and_labels(self) -> None:
        """Under the frame, a bar runs through the colour map from min to max, labelled."""
        c, region = _fire_frame()
        idx = render_indices(_shot(c, region))
        assert idx.shape[1] == 640 and idx.shape[0] > 480
        bar_row = idx[480 + 8 + 7]
        bar = bar_row[bar_row < LUT_SIZE]
        assert bar[0] == 0 and bar[-1] == LUT_SIZE - 1 and np.all(np.diff(bar) >= 0)
        left, right = np.nonzero(bar_row < LUT_SIZE)[0][[0, -1]]
        label_rows = idx[480 + 8:480 + 8 + 14]
        assert (label_rows[:, :left] == TEXT).any() and (label_rows[:, right + 1:] == TEXT).any()

    def test_caption_says_time_reason_score_and_co2(self) -> None:
        """The caption has the UTC time, the event, the score, CO2 with its rise, the reason."""
        lines = caption_lines(_shot(None, None))
        text = "\n".join(lines)
        assert lines[0].startswith("2025-12-05 02:00:00Z  ALARM  score 0.97")
        assert "CO2 850 ppm, +180 ppm in 60 s" in text
        assert "a new hot region grew by 26 px" in text

    def test_noisy_frame_is_small_and_quick(self) -> None:
        """A worst-case frame (uniform noise over the whole range) still encodes under 50 kB."""
        c = np.random.default_rng(1).uniform(0, 400, (120, 160)).astype(np.float32)
        png = render(_shot(c, None))
        assert len(png) <= 50_000
        assert Image.open(io.BytesIO(png)).size == (640, 480 + render_indices(
            _shot(c, None)).shape[0] - 480)

    def test_no_frame_still_renders(self) -> None:
        """Without a camera frame (camera faulted) the picture says so and keeps the caption."""
        rgb = _decode(render(_shot(None, None)))
        assert rgb.shape[1] == 640 and np.all(rgb == WHITE, axis=2).any()


class _Sink:
    def __init__(self) -> None:
        self.delivered: set[int] = set()
        self.pngs: list[bytes] = []

    def is_delivered(self, seq: int) -> bool:
        return seq in self.delivered

    def set_snapshot(self, png: bytes) -> None:
        self.pngs.append(png)


def _wait(pred: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return bool(pred())


class TestSnapshotter:
    def test_waits_for_its_event_then_publishes(self, tmp_path: Path) -> None:
        """A picture goes to the link only once the broker has its event (the twin link)."""
        link = MemoryLink(Outbox(tmp_path / "outbox.sqlite"))
        link.start()
        link.down()
        snap = Snapshotter(link, 300.0)
        c, _ = _fire_frame()
        snap.observe(ThermalFrame(1.0, ((c + ZERO_C_K) / 0.01).astype(np.uint16)))
        seq = link.publish_event(lambda s: json.dumps({"seq": s}))
        snap.start()
        try:
            snap.take("alarm", "why", 0.9, None, seq)
            assert _wait(lambda: snap.last_render_s == snap.last_render_s)  # rendered (not NaN)
            assert "snapshot" not in link.retained  # the event is not delivered yet
            link.up()
            assert _wait(lambda: "snapshot" in link.retained)
            assert link.retained["snapshot"].startswith(b"\x89PNG")
        finally:
            snap.stop()

    def test_newest_picture_replaces_a_waiting_one(self) -> None:
        """While one waits for its event, a newer picture replaces it; only that one goes out."""
        sink = _Sink()
        snap = Snapshotter(sink, 300.0)
        snap.start()
        try:
            snap.take("alarm", "first", 0.9, None, 1)
            assert _wait(lambda: snap.last_render_s == snap.last_render_s)
            snap.take("test", "second", 0.9, None, 2)
            sink.delivered |= {1, 2}
            assert _wait(lambda: len(sink.pngs) == 1)
            snap.stop()  # nothing was left waiting: the first picture was replaced
            assert len(sink.pngs) == 1 and snap.published == 1
        finally:
            snap.stop()

    def test_region_and_co2_rise_captured(self) -> None:
        """The capture takes the scene's new hot pixels and CO2 now minus 60 s before."""
        snap = Snapshotter(_Sink(), 300.0)
        c, region = _fire_frame()
        scene = SceneMemory()
        cold = np.full(c.shape, 21.0, dtype=np.float32)
        for t in range(0, 40, 2):
            scene.update(float(t), cold)
        scene.update(40.0, c)
        for t, ppm in ((0.0, 500.0), (30.0, 600.0), (65.0, 700.0), (95.0, 900.0)):
            snap.observe(GasReading(t, ppm, 21.0, 40.0))
        snap.observe(ThermalFrame(40.0, ((c + ZERO_C_K) / 0.01).astype(np.uint16)))
        shot = snap.capture("alarm", "why", 0.9, scene, 3)
        assert shot.region is not None and np.array_equal(shot.region, region)
        assert shot.co2_ppm == 900.0 and shot.co2_rise_ppm == 300.0
        assert shot.celsius is not None and abs(float(shot.celsius.max()) - 380.0) < 0.01


class TestLinkDelivery:
    def test_is_delivered_follows_the_puback(self, broker: Broker, tmp_path: Path) -> None:
        """MqttLink.is_delivered is False while the broker is down, True once it acked."""
        link = MqttLink(MqttConfig(url=broker.url, keepalive_s=5), "sd1",
                        Outbox(tmp_path / "o.sqlite"), reconnect_min_s=0.2, reconnect_max_s=0.5)
        broker.stop()
        link.start()
        try:
            seq = link.publish_event(lambda s: json.dumps({"event": "test", "seq": s}))
            assert not link.is_delivered(seq)
            broker.start()
            assert _wait(lambda: link.is_delivered(seq), 20)
            assert link.is_delivered(seq - 1)  # an earlier seq is long delivered
            link.set_snapshot(b"\x89PNG fake")
            for _ in range(2):  # the first may see it live; the second only as retained
                sub = Subscriber(broker.host, broker.port, ["firedetect/sd1/snapshot"])
                try:
                    m = sub.wait_for(lambda m: True, 10)
                    assert m.payload == b"\x89PNG fake"
                finally:
                    sub.close()
            assert m.retain
        finally:
            link.stop(timeout=2)


BASE = "firedetect/t1"


@pytest.fixture(scope="class")
def snap_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    r = start_inprocess(tmp_path_factory.mktemp("snapdaemon"), 2.0)
    try:
        r.notify.wait_for("READY=1", 30)
        r.scene.fire_from = r.now() + 2.0
        r.sub.wait_for(lambda m: m.topic == f"{BASE}/alarm" and m.json()["event"] == "alarm",
                       20)
        r.sub.wait_for(lambda m: m.topic == f"{BASE}/snapshot", 20)
        yield r
    finally:
        r.close()


class TestSnapshotOverMqtt:
    def test_snapshot_arrives_after_the_alarm(self, snap_run: Run) -> None:
        """On a real broker the alarm's snapshot arrives after the alarm event, as a PNG."""
        msgs = snap_run.sub.messages
        first_alarm = next(i for i, m in enumerate(msgs) if m.topic == f"{BASE}/alarm"
                           and m.json()["event"] == "alarm")
        first_snap = next(i for i, m in enumerate(msgs) if m.topic == f"{BASE}/snapshot")
        assert first_alarm < first_snap
        png = msgs[first_snap].payload
        assert len(png) <= 50_000
        rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        assert rgb.shape[1] == 640
        assert np.all(rgb[:480] == GREEN, axis=2).any()  # the fire is outlined

    def test_cmd_snapshot_and_cmd_test(self, snap_run: Run) -> None:
        """cmd/snapshot publishes a new picture; cmd/test a test event, then its picture."""
        sub = snap_run.sub
        n = len(sub.on(f"{BASE}/snapshot"))
        sub.publish(f"{BASE}/cmd/snapshot", b"")
        assert _wait(lambda: len(sub.on(f"{BASE}/snapshot")) > n, 20)
        mark = len(sub.messages)
        sub.publish(f"{BASE}/cmd/test", b"{}")
        sub.wait_for(lambda m: m.topic == f"{BASE}/alarm" and m.json()["event"] == "test", 20)
        assert _wait(lambda: any(m.topic == f"{BASE}/snapshot" for m in sub.messages[mark:]),
                     20)
        later = sub.messages[mark:]
        test_i = next(i for i, m in enumerate(later) if m.topic == f"{BASE}/alarm")
        snap_i = next(i for i, m in enumerate(later) if m.topic == f"{BASE}/snapshot")
        assert test_i < snap_i

    def test_snapshot_is_retained(self, snap_run: Run) -> None:
        """A client connecting later gets the last snapshot, retained."""
        late = Subscriber(snap_run.broker.host, snap_run.broker.port, [f"{BASE}/snapshot"])
        try:
            m = late.wait_for(lambda m: True, 10)
            assert m.retain and m.payload.startswith(b"\x89PNG")
        finally:
            late.close()


