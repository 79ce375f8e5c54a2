"""Clips: the ring, near-miss triggers, the capped disk queue, the uploader against a real S3
API (moto server mode) and the daemon end to end with a real Mosquitto (docs/clips.md)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

from edge.clips.feedback import FeedbackError, parse_feedback
from edge.clips.queue import ClipQueue
from edge.clips.recorder import ClipRecorder
from edge.clips.ring import Ring
from edge.clips.uploader import TokenBucket, Uploader, backoff
from edge.config import ConfigError, parse_config
from edge.config.alarm import AlarmConfig
from edge.config.clips import ClipsConfig
from edge.detect.alarm import AlarmStateMachine
from edge.detect.pipeline import Pipeline
from edge.features import FeatureExtractor
from edge.recording import load_recording
from edge.types import GasReading, ThermalFrame
from tests.fixedscore import FixedScorer

KEY_RE = re.compile(r"^clips/c1/\d{4}-\d\d-\d\d/\d{13}-(alarm|near_miss|fault|verdict)-\d+\.npz$")


def frame(t: float) -> ThermalFrame:
    return ThermalFrame(t, np.full((60, 80), 29_500, np.uint16))


def pipeline(p: float) -> Pipeline:
    cfg = AlarmConfig(pre_alarm_s=3.0, clear_s=5.0, min_alarm_s=0.0)
    return Pipeline(FeatureExtractor(), FixedScorer(p), AlarmStateMachine(cfg, 0.5),
                    stale_after_s={"scd41": 1e6, "lepton": 1e6})


def body(path: Path, n: int) -> Path:
    path.write_bytes(b"x" * n)
    return path


class TestConfig:
    def test_defaults_off(self) -> None:
        """[clips] is off by default with the documented defaults."""
        c = parse_config({}).clips
        assert (c.enabled, c.pre_s, c.post_s, c.frame_rate_hz, c.near_miss_fraction,
                c.near_miss_cooldown_s, c.max_queue_mb, c.max_upload_kbps) == (
            False, 60.0, 30.0, 2.0, 0.5, 600.0, 200.0, 256.0)

    @pytest.mark.parametrize(("clips", "needle"), [
        ({"enabled": True}, "clips.s3_url"),
        ({"pre_s": 0}, "clips.pre_s: given 0; allowed: ≥ 1.0"),
        ({"near_miss_fraction": 1.5}, "clips.near_miss_fraction: given 1.5; allowed: < 1.0"),
        ({"s3_url": "http://x/"}, "clips.s3_url: given 'http://x/'"),
        ({"max_queue_mb": "big"}, "clips.max_queue_mb: given 'big'; allowed: a number"),
        ({"s3_endpoint_url": "http://u:pw@h/"}, "without user name or password"),
        ({"colour": 1}, "unknown key 'clips.colour'"),
    ])
    def test_bad_values_named(self, clips: dict[str, object], needle: str) -> None:
        """A bad [clips] value is refused with its key path and what is allowed."""
        with pytest.raises(ConfigError) as err:
            parse_config({"clips": clips})
        assert needle in str(err.value) and "pw" not in str(err.value)

    def test_ring_memory_stated(self) -> None:
        """The default ring holds at most ~7 MB of 160×120 frames (90 s at 2 Hz)."""
        assert ClipsConfig().ring_bytes < 7_100_000


class TestRing:
    def test_decimates_and_bounds(self) -> None:
        """Frames at 9 Hz are kept at 2 Hz, every gas reading is kept, and old data goes."""
        ring = Ring(10.0, 2.0)
        for i in range(9 * 60):
            ring.add_frame(frame(i / 9))
        for i in range(12):
            ring.add_gas(GasReading(i * 5.0, 450.0, 21.0, 40.0))
        part = ring.slice(0.0, 100.0)
        assert ring.frame_count <= ring.max_frames == 22
        assert 19 <= len(part.frames) <= 21 and part.frames[0][0] >= 60 - 10 - 1.0
        assert [g.t for g in part.gas] == [45.0, 50.0, 55.0]


class TestRecorder:
    def _run(self, tmp_path: Path, p: float, seconds: float,
             post_s: float = 2.0) -> tuple[ClipRecorder, ClipQueue]:
        cfg = ClipsConfig(pre_s=5.0, post_s=post_s, near_miss_fraction=0.5,
                          near_miss_cooldown_s=1000.0)
        queue = ClipQueue(tmp_path / "q", 10_000_000)
        rec = ClipRecorder(cfg, "c1", queue, "clips/", model_version=lambda: "m1",
                           unix_offset=lambda: 1.7e9)
        pipe = pipeline(p)
        t = 0.0
        while t < seconds:
            reading: ThermalFrame | GasReading
            if round(t * 9) % 45 == 0:
                reading = GasReading(t, 500.0, 21.0, 40.0)
                step = pipe.gas(reading)
            else:
                reading = frame(t)
                step = pipe.frame(reading)
            rec.observe(reading, pipe, [(e, 7) for e in step.events], t)
            t += 1 / 9
        return rec, queue

    def test_near_miss_clip(self, tmp_path: Path) -> None:
        """A score at 0.6 × threshold with no alarm writes one near-miss clip (cooldown), a
        valid recording with the contract's meta."""
        _, queue = self._run(tmp_path, 0.3, 30.0)
        items = queue.items()
        assert [i.reason for i in items] == ["near_miss"]
        assert KEY_RE.match(items[0].key) and items[0].key.endswith("-near_miss-0.npz")
        clip = load_recording(items[0].body)
        meta = clip.meta["clip"]
        assert clip.meta["device_id"] == "c1" and clip.meta["model_version"] == "m1"
        assert clip.meta["fire_start_s"] is None and meta["seq"] is None
        assert meta["reason"] == "near_miss" and meta["t1"] > meta["t0"] > 1.6e9
        assert clip.frames.shape[1:] == (60, 80) and clip.frame_t.size >= 4
        assert meta["scores"] and all(s == pytest.approx(0.3) for _, s in meta["scores"])

    def test_quiet_scores_no_clip(self, tmp_path: Path) -> None:
        """Scores below the near-miss fraction write nothing."""
        _, queue = self._run(tmp_path, 0.2, 30.0)
        assert queue.items() == []

    def test_alarm_supersedes_near_miss(self, tmp_path: Path) -> None:
        """An alarm within a pending near-miss clip's post_s replaces it: one alarm clip (seq
        in its key)."""
        rec, queue = self._run(tmp_path, 0.7, 30.0, post_s=5.0)
        items = queue.items()
        assert [i.reason for i in items] == ["alarm"] and items[0].key.endswith("-alarm-7.npz")
        meta = load_recording(items[0].body).meta["clip"]
        assert [e["event"] for e in meta["events"]] == ["alarm"] and meta["seq"] == 7
        assert 0.0 < meta["trigger_t"] <= 5.0 + 1e-6
        assert rec.clip_for(7) == (True, items[0].key)


    def test_fault_clip(self, tmp_path: Path) -> None:
        """A camera that stops delivering raises a fault event, which gives a fault clip with
        the event's seq."""
        cfg = ClipsConfig(pre_s=5.0, post_s=2.0, near_miss_fraction=0.9)
        queue = ClipQueue(tmp_path / "q", 10_000_000)
        rec = ClipRecorder(cfg, "c1", queue, "clips/")
        pipe = Pipeline(FeatureExtractor(), FixedScorer(0.0),
                        AlarmStateMachine(AlarmConfig(), 0.5),
                        stale_after_s={"scd41": 1e6, "lepton": 2.0})
        for i in range(90):
            step = pipe.frame(frame(i / 9))
            rec.observe(frame(i / 9), pipe, [(e, 3) for e in step.events], i / 9)
        for t in range(10, 20):
            g = GasReading(float(t), 500.0, 21.0, 40.0)
            step = pipe.gas(g)
            rec.observe(g, pipe, [(e, 5) for e in step.events], float(t))
        items = queue.items()
        assert [i.reason for i in items] == ["fault"] and items[0].key.endswith("-fault-5.npz")
        assert load_recording(items[0].body).meta["clip"]["events"][0]["sensor"] == "lepton"

    def test_seqs_survive_restart(self, tmp_path: Path) -> None:
        """A verdict after a restart still finds the alarm's clip: the seq map is kept on disk."""
        seqs = tmp_path / "seqs.json"
        cfg = ClipsConfig(pre_s=5.0, post_s=5.0)
        queue = ClipQueue(tmp_path / "q", 10_000_000)
        rec = ClipRecorder(cfg, "c1", queue, "clips/", seqs_file=seqs)
        pipe = pipeline(0.7)
        for i in range(60):
            step = pipe.frame(frame(i / 9))
            rec.observe(frame(i / 9), pipe, [(e, 11) for e in step.events], i / 9)
        known, key = rec.clip_for(11)
        again = ClipRecorder(cfg, "c1", queue, "clips/", seqs_file=seqs)
        assert known and key is not None and again.clip_for(11) == (True, key)
        assert again.last_alarm_seq == 11 and again.clip_for(12) == (False, None)


class TestQueue:
    def test_cap_drops_near_misses_first_never_alarms(self, tmp_path: Path) -> None:
        """Over the cap the oldest near-miss/fault clips go; alarm clips stay; with only alarm
        clips left a new near-miss is refused, a new alarm kept."""
        q = ClipQueue(tmp_path, 1000)
        q.add(body(q.new_path("a.npz"), 400), "k/a", "alarm")
        q.add(body(q.new_path("n1.npz"), 300), "k/n1", "near_miss")
        q.add(body(q.new_path("f1.npz"), 200), "k/f1", "fault")
        assert q.add(body(q.new_path("n2.npz"), 350), "k/n2", "near_miss")
        assert [i.key for i in q.items()] == ["k/a", "k/f1", "k/n2"] and q.dropped == 1
        assert q.add(body(q.new_path("a2.npz"), 500), "k/a2", "alarm")
        assert [i.key for i in q.items()] == ["k/a", "k/a2"]
        assert not q.add(body(q.new_path("n3.npz"), 200), "k/n3", "near_miss")
        assert q.add(body(q.new_path("v.npz"), 300), "k/v", "verdict")
        assert [i.key for i in q.items()] == ["k/a", "k/a2", "k/v"] and q.refused == 1

    def test_survives_restart(self, tmp_path: Path) -> None:
        """A new queue on the same folder has the old items in order; a half-written body
        (no .item) is removed."""
        q = ClipQueue(tmp_path, 10_000)
        q.add(body(q.new_path("a.npz"), 10), "k/a", "alarm")
        q.add_bytes("l.label.json", b"{}", "k/l", "label")
        half = body(q.new_path("b.npz"), 10)
        again = ClipQueue(tmp_path, 10_000)
        assert [i.key for i in again.items()] == ["k/a", "k/l"] and not half.exists()


class TestUploadRules:
    def test_token_bucket(self) -> None:
        """After N bytes at R bytes/s the next upload waits N/R seconds."""
        now = [100.0]
        b = TokenBucket(1000.0, now=lambda: now[0])
        assert b.delay() == 0.0
        b.spend(5000)
        assert b.delay() == pytest.approx(5.0)
        now[0] = 103.0
        assert b.delay() == pytest.approx(2.0)

    def test_backoff_grows_with_jitter(self) -> None:
        """Delays double up to the cap and are jittered into [d/2, d]."""
        rng = random.Random(1)
        ds = [backoff(a, 2.0, 60.0, rng) for a in range(8)]
        assert all(min(60.0, 2.0 * 2**a) / 2 <= d <= min(60.0, 2.0 * 2**a)
                   for a, d in enumerate(ds))
        assert len(set(ds)) == len(ds)


class TestFeedbackPayload:
    @pytest.mark.parametrize(("payload", "needle"), [
        (b"nope", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"seq": "3", "verdict": "fire"}', "seq: given '3'"),
        (b'{"seq": 3, "verdict": "toaster"}', "verdict: given 'toaster'; allowed"),
    ])
    def test_bad_payload_named(self, payload: bytes, needle: str) -> None:
        """A malformed verdict is refused with what was given and what is allowed."""
        with pytest.raises(FeedbackError, match=needle):
            parse_feedback(payload)

    def test_good_payload(self) -> None:
        """A well-formed verdict parses."""
        assert parse_feedback(b'{"seq": 3, "verdict": "test"}') == (3, "test")


class TestUploader:
    def test_store_down_then_up(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With S3 unreachable the upload fails and stays queued; once S3 is up it is uploaded
        and removed from the queue."""
        import boto3
        from moto.server import ThreadedMotoServer

        from tests.s3server import free_port
        from tests.test_clips_daemon import aws_env, wait_until

        aws_env(monkeypatch)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        q = ClipQueue(tmp_path, 10_000)
        q.add_bytes("a.npz", b"clip", "clips/c1/a.npz", "alarm")
        up = Uploader(q, "s3://down-bucket/clips/", endpoint_url=url, max_upload_kbps=1e5,
                      backoff_min_s=0.05, backoff_max_s=0.5, seed=0)
        up.start()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        try:
            wait_until(lambda: up.failures >= 2, 30, "two failed attempts")
            assert len(q.items()) == 1
            server.start()
            boto3.client("s3", endpoint_url=url).create_bucket(Bucket="down-bucket")
            wait_until(lambda: not q.items(), 30, "the upload after S3 came back")
            got = boto3.client("s3", endpoint_url=url).get_object(
                Bucket="down-bucket", Key="clips/c1/a.npz")["Body"].read()
            assert got == b"clip" and up.uploaded == 1
        finally:
            up.stop()
            server.stop()


class TestDiscoveryButtons:
    def test_feedback_buttons_only_with_clips(self) -> None:
        """With clips on, discovery has "False alarm" and "Real fire" buttons (QoS 1) that
        publish to <base>/cmd/feedback_last; without clips, none."""
        from edge.mqtt.discovery import DiscoveryInfo, components

        on = components(DiscoveryInfo("c1", "firedetect/c1", feedback=True))
        assert {k: (v["p"], v["name"], v["command_topic"], v["payload_press"], v["qos"])
                for k, v in on.items() if k in ("false_alarm", "real_fire")} == {
            "false_alarm": ("button", "False alarm", "firedetect/c1/cmd/feedback_last",
                            "false_alarm", 1),
            "real_fire": ("button", "Real fire", "firedetect/c1/cmd/feedback_last", "fire", 1),
        }
        off = components(DiscoveryInfo("c1", "firedetect/c1"))
        assert "false_alarm" not in off and "real_fire" not in off
