"""Clips end to end: the daemon on simulated sensors, a real Mosquitto, a real S3 API (moto
server mode) that is down when the alarm happens and comes up later."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_helpers import ControlledRoom, Subscriber, daemon_config
from tests.s3server import free_port

BASE = "firedetect/c1"
BUCKET = "fleet-clips"


def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials for boto3's standard chain."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``cond`` until true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.05)


@dataclass
class Story:
    alarm_seq: int
    keys: list[str]
    objects: dict[str, bytes]
    results: list[dict[str, Any]]
    alarm_at: float
    stalled_events: list[dict[str, Any]]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """S3 down; a fire → alarm; S3 comes up; verdicts (known, unknown, malformed) sent."""
    import boto3
    from moto.server import ThreadedMotoServer

    from edge.app import build_daemon
    from edge.config.clips import ClipsConfig
    from edge.daemon import DaemonOptions
    from edge.notify import Notifier
    from edge.sim.clock import ScaledClock
    from tests.broker import Broker

    mp = pytest.MonkeyPatch()
    aws_env(mp)
    work = tmp_path_factory.mktemp("clips")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    broker = Broker(work / "broker")
    broker.start()
    sub = Subscriber(broker.host, broker.port, [f"{BASE}/#"])
    cfg = daemon_config(broker.url, work / "state", device="c1")
    cfg = cfg.model_copy(update={"clips": ClipsConfig(
        enabled=True, s3_url=f"s3://{BUCKET}/clips/", s3_endpoint_url=url, pre_s=10.0,
        post_s=3.0, near_miss_fraction=0.99, max_upload_kbps=100000.0)})
    scene = ControlledRoom()
    clock = ScaledClock(2.0)
    rt = build_daemon(cfg, scene=scene, clock=clock, notifier=Notifier(""),
                      options=DaemonOptions(watchdog_s=None))
    rt.clips.uploader.backoff_min_s = 0.2
    rt.clips.uploader.backoff_max_s = 1.0
    thread = threading.Thread(target=rt.daemon.run, name="clips-daemon")
    thread.start()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    try:
        time.sleep(0)  # let the daemon start
        wait_until(lambda: rt.daemon.ready, 60, "daemon ready")
        scene.fire_from = clock.monotonic() + 6.0
        alarm = sub.wait_for(lambda m: m.topic == f"{BASE}/alarm"
                             and m.json()["event"] == "alarm", 60)
        seq = alarm.json()["seq"]
        wait_until(lambda: rt.clips.uploader.failures >= 1, 60, "failed upload (S3 down)")
        # detection did not stall while S3 was down: the fire goes out, the clear comes
        scene.fire_until = clock.monotonic()
        cleared = sub.wait_for(lambda m: m.topic == f"{BASE}/alarm"
                               and m.json()["event"] == "clear", 60)
        server.start()
        s3 = boto3.client("s3", endpoint_url=url)
        s3.create_bucket(Bucket=BUCKET)
        sub.publish(f"{BASE}/cmd/feedback_last", b"fire")  # HA's "Real fire" button
        wait_until(lambda: len(sub.on(f"{BASE}/cmd/result")) >= 1, 30, "first result")
        for payload in (json.dumps({"seq": seq, "verdict": "false_alarm"}).encode(),
                        json.dumps({"seq": 987654, "verdict": "fire"}).encode(),
                        b"{not json"):
            sub.publish(f"{BASE}/cmd/feedback", payload)
        wait_until(lambda: len(sub.on(f"{BASE}/cmd/result")) >= 4, 30, "four results")

        def keys() -> list[str]:
            return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]

        # The clip is written post_s after the alarm, possibly after its snapshot and the
        # labels went up: wait for it in S3, then for an empty queue.
        wait_until(lambda: any(k.endswith(f"-alarm-{seq}.npz") for k in keys())
                   and not rt.clips.queue.items(), 60, "the alarm clip in S3, queue empty")
        objects = {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys()}
        results = [m.json() for m in sub.on(f"{BASE}/cmd/result")]
        yield Story(seq, keys(), objects, results, alarm.at, [cleared.json()])
    finally:
        rt.daemon.request_stop()
        thread.join(30)
        rt.close()
        server.stop()
        sub.close()
        broker.stop()
        mp.undo()


class TestClipsEndToEnd:
    def test_alarm_clip_in_s3_is_a_valid_recording_with_contract_meta(
            self, story: Story, tmp_path: Path) -> None:
        """The alarm gives a clip in S3 under <prefix><device>/<date>/<t0 ms>-alarm-<seq>.npz
        that loads as a recording and carries the contract's meta."""
        from edge.recording import load_recording

        key = next(k for k in story.keys if k.endswith(f"-alarm-{story.alarm_seq}.npz"))
        assert key.startswith("clips/c1/20")
        path = tmp_path / "clip.npz"
        path.write_bytes(story.objects[key])
        rec = load_recording(path)
        meta, clip = rec.meta, rec.meta["clip"]
        assert meta["device_id"] == "c1" and meta["fire_start_s"] is None
        assert isinstance(meta["model_version"], str) and meta["model_version"]
        assert clip["reason"] == "alarm" and clip["seq"] == story.alarm_seq
        assert int(key.rsplit("/", 1)[1].split("-")[0]) == round(clip["t0"] * 1000) or abs(
            int(key.rsplit("/", 1)[1].split("-")[0]) - clip["t0"] * 1000) < 2
        assert clip["t1"] - clip["t0"] == pytest.approx(13.0, abs=0.5)
        assert clip["trigger_t"] == pytest.approx(10.0, abs=0.5)
        assert any(e["event"] == "alarm" and e["seq"] == story.alarm_seq
                   for e in clip["events"])
        assert clip["scores"] and rec.frames.shape[0] >= 15 and rec.gas_t.size >= 1
        assert float(rec.frame_t[-1]) <= 13.5 and (rec.frames.max() > 0)

    def test_alarm_snapshot_beside_the_clip(self, story: Story) -> None:
        """The alarm's snapshot PNG is uploaded beside its clip, under the clip's key + .png."""
        clip = next(k for k in story.keys if k.endswith(f"-alarm-{story.alarm_seq}.npz"))
        assert story.objects[clip[:-4] + ".png"].startswith(b"\x89PNG\r\n\x1a\n")

    def test_verdict_uploaded_as_label(self, story: Story) -> None:
        """cmd/feedback for the alarm's seq is answered ok and uploads the label beside the
        clip."""
        clip = next(k for k in story.keys if k.endswith(f"-alarm-{story.alarm_seq}.npz"))
        label = json.load(io.BytesIO(story.objects[clip[:-4] + ".label.json"]))
        assert label["seq"] == story.alarm_seq and label["verdict"] == "false_alarm"
        assert label["device_id"] == "c1" and label["received_at"] > 1.7e9
        assert {"command": "feedback", "seq": story.alarm_seq, "ok": True,
                "error": None} in story.results

    def test_feedback_last_resolves_the_last_alarm(self, story: Story) -> None:
        """A press of HA's "Real fire" button (cmd/feedback_last) is taken for the last
        alarm's seq; the later explicit verdict overwrote its label (the latest wins)."""
        assert story.results[0] == {"command": "feedback", "seq": story.alarm_seq, "ok": True,
                                    "error": None}

    def test_unknown_seq_and_malformed_get_errors(self, story: Story) -> None:
        """A verdict for an unknown seq and a malformed one are answered ok=false with why."""
        bad = [r for r in story.results if not r["ok"]]
        assert any(r["seq"] == 987654 and "unknown" in r["error"] for r in bad)
        assert any(r["seq"] is None and "not JSON" in r["error"] for r in bad)

    def test_detection_went_on_while_s3_was_down(self, story: Story) -> None:
        """The clear after the alarm was published while every upload was failing."""
        assert story.stalled_events[0]["event"] == "clear"
