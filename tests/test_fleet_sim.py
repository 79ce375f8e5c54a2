"""A simulated fleet (issue 15, "Proof"): twenty devices with distinct ids run the device's own
pipeline, MQTT link and outbox, clip recorder, disk queue and uploader on simulated scenarios
against one real Mosquitto and one real S3 API (moto's server mode), both on loopback. Fires
give alarm events on the broker and alarm clips in S3, quiet-but-suspicious moments give
near-miss clips, a user's verdict sent over the broker (``cmd/feedback``) is answered on
``cmd/result`` and labels one clip, and ``cloud/train.py`` retrains from the prefix.

Each device is an in-process instance, fed a rendered recording reading by reading as
``firedetect replay`` feeds it (the pipeline reads no clock). Channels and canaries across
20+ devices: ``tests/test_rollout.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.s3server import S3Bucket

ROOT = Path(__file__).resolve().parents[1]
N_DEVICES = 20
FIRES = ("kitchen_grease_fire", "fast_flaming", "flaming_upholstery")
NUISANCES = ("gas_cooking", "candles_fireplace", "heaters_appliances", "occupancy",
             "electric_cooking")
BASE_UNIX = 1_800_000_000.0  # a fixed device clock: clip keys and dates are reproducible


@dataclass
class Device:
    """One simulated device's outcome."""

    device_id: str
    scenario: str
    events: list[tuple[int, str]] = field(default_factory=list)  # (seq, kind)
    written: list[str] = field(default_factory=list)  # clip keys


@dataclass
class Fleet:
    bucket: S3Bucket
    devices: list[Device]
    keys: list[str]
    verdict_key: str
    replies: list[dict[str, Any]]
    alarms_on_broker: set[tuple[str, int]]  # (device id, seq) of alarm events received


def _run_device(i: int, bucket: S3Bucket, state: Path, broker_url: str
                ) -> tuple[Device, Any, Any, Any]:
    """Render device ``i``'s scenario and run it through pipeline + link + clips; returns the
    device, its recorder and queue, its uploader and its link (both still running)."""
    from edge.clips.feedback import Feedback
    from edge.clips.queue import ClipQueue
    from edge.clips.recorder import ClipRecorder
    from edge.clips.uploader import Uploader, split_s3_url
    from edge.config import load_config
    from edge.config.clips import ClipsConfig
    from edge.detect.pipeline import build_pipeline
    from edge.model.holder import ModelHolder
    from edge.mqtt.link import MqttLink
    from edge.mqtt.outbox import open_outbox
    from edge.mqtt.payloads import event_payload, iso_utc
    from edge.recording import readings
    from edge.sim.scenarios import render_recording
    from edge.types import ThermalFrame

    scenario = FIRES[i % len(FIRES)] if i % 2 == 0 else NUISANCES[i % len(NUISANCES)]
    device = Device(f"pi-fleet-{i:02d}", scenario)
    rec = render_recording(scenario, 9_000 + i, 360.0, frame_rate_hz=2.0)
    config = load_config(ROOT / "demo" / "config.toml")
    config = config.model_copy(update={
        "device": config.device.model_copy(update={"id": device.device_id}),
        "mqtt": config.mqtt.model_copy(update={"url": broker_url})})
    assert config.model.path is not None and config.model.public_key is not None
    model = config.model.model_copy(update={"path": ROOT / config.model.path,
                                            "public_key": ROOT / config.model.public_key})
    holder = ModelHolder(model)
    holder.load_initial()
    pipeline = build_pipeline(config, holder)
    clips = ClipsConfig(enabled=True, s3_url=bucket.url("fleet"),
                        s3_endpoint_url=bucket.endpoint_url, pre_s=30.0, post_s=10.0,
                        near_miss_fraction=0.3, near_miss_cooldown_s=120.0,
                        max_upload_kbps=100_000.0)
    _, prefix = split_s3_url(clips.s3_url or "")
    queue = ClipQueue(state / device.device_id, 50_000_000)
    uploader = Uploader(queue, clips.s3_url or "", endpoint_url=bucket.endpoint_url,
                        max_upload_kbps=clips.max_upload_kbps, backoff_min_s=0.2)
    recorder = ClipRecorder(clips, device.device_id, queue, prefix,
                            model_version=lambda: holder.model.version if holder.model else "rules",
                            wake=uploader.wake, unix_offset=lambda: BASE_UNIX)
    box: dict[str, Any] = {}
    feedback = Feedback(recorder, queue, lambda body: box["link"].command_result(body),
                        wake=uploader.wake)
    link = MqttLink(config.mqtt, device.device_id, open_outbox(state / f"{device.device_id}.db"),
                    commands={"feedback": feedback.on_feedback})
    box["link"] = link
    uploader.start()
    link.start()
    version = holder.model.version if holder.model else "rules"
    for reading in readings(rec):
        step = pipeline.frame(reading) if isinstance(reading, ThermalFrame) else (
            pipeline.gas(reading))
        published = []
        for ev in step.events:  # as the daemon publishes: outbox first, the seq from it
            body = event_payload(ev, 0, iso_utc(), pipeline.sensors(), pipeline.degraded,
                                 version, pipeline.reasons())
            seq = link.publish_event(partial(_with_seq, body))
            published.append((ev, seq))
            device.events.append((seq, ev.kind))
        recorder.observe(reading, pipeline, published, now=reading.t)
    recorder.flush()
    device.written = list(recorder.written)
    return device, (recorder, queue), uploader, link


def _with_seq(body: dict[str, Any], seq: int) -> bytes:
    """An event payload with the seq the outbox gave it."""
    from edge.mqtt.payloads import dumps

    return dumps({**body, "seq": seq})


@pytest.fixture(scope="module")
def fleet(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Twenty devices run; one user marks one device's alarm a false alarm over the broker;
    every queue drains."""
    import uuid

    import boto3

    from tests.broker import Broker
    from tests.daemon_helpers import Subscriber

    mp = pytest.MonkeyPatch()
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        mp.setenv(name, value)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        mp.delenv(var, raising=False)
    bucket = S3Bucket(s3_server.endpoint_url, f"firedetect-fleet-{uuid.uuid4().hex[:8]}")
    s3 = boto3.client("s3", endpoint_url=bucket.endpoint_url)
    s3.create_bucket(Bucket=bucket.name)
    state = tmp_path_factory.mktemp("fleet")
    broker = Broker(state / "broker")
    broker.start()
    sub = Subscriber(broker.host, broker.port, ["firedetect/#"])
    devices, parts, uploaders, links = [], [], [], []
    try:
        for i in range(N_DEVICES):
            device, part, uploader, link = _run_device(i, bucket, state, broker.url)
            devices.append(device)
            parts.append(part)
            uploaders.append(uploader)
            links.append(link)
        for link in links:
            assert link.drain(30), "a device's events did not reach the broker"
        # A user judges the first alarm of the first device that alarmed: "false alarm".
        k = next(j for j, d in enumerate(devices) if any(kind == "alarm" for _, kind in d.events))
        seq = next(s for s, kind in devices[k].events if kind == "alarm")
        base = f"firedetect/{devices[k].device_id}"
        sub.publish(f"{base}/cmd/feedback", json.dumps({"seq": seq,
                                                        "verdict": "false_alarm"}).encode())
        sub.wait_for(lambda m: m.topic == f"{base}/cmd/result", 30)
        replies = [m.json() for m in sub.on(f"{base}/cmd/result")]
        deadline = time.monotonic() + 120
        while any(q.items() for _, q in parts):
            assert time.monotonic() < deadline, "the fleet's upload queues did not drain"
            time.sleep(0.1)
        listing = s3.list_objects_v2(Bucket=bucket.name, Prefix="fleet/").get("Contents", [])
        keys = sorted(o["Key"] for o in listing)
        verdict_key = next(key for key in keys if key.endswith(".label.json"))
        alarms = {(m.topic.split("/")[1], int(m.json()["seq"])) for m in sub.messages
                  if m.topic.endswith("/alarm") and m.json().get("event") == "alarm"}
        yield Fleet(bucket, devices, keys, verdict_key, replies, alarms)
    finally:
        for u in uploaders:
            u.stop()
        for link in links:
            link.stop()
        sub.close()
        broker.stop()
        mp.undo()


class TestFleet:
    def test_alarms_give_clips_per_device(self, fleet: Fleet) -> None:
        """Every device that alarmed published its alarm on the broker and has its alarm clip
        in S3 under its own id, named by the alarm's seq."""
        alarmed = [d for d in fleet.devices if any(k == "alarm" for _, k in d.events)]
        assert len(alarmed) >= N_DEVICES // 4, [(d.scenario, d.events) for d in fleet.devices]
        assert fleet.alarms_on_broker == {(d.device_id, s) for d in fleet.devices
                                          for s, k in d.events if k == "alarm"}
        for d in alarmed:
            seqs = [s for s, k in d.events if k == "alarm"]
            assert any(key.startswith(f"fleet/{d.device_id}/") and key.endswith(
                f"-alarm-{seqs[0]}.npz") for key in fleet.keys), (d.device_id, fleet.keys)

    def test_near_misses_give_clips(self, fleet: Fleet) -> None:
        """Scores near the threshold without an alarm give near-miss clips somewhere in the
        fleet, under the device's id."""
        near = [k for k in fleet.keys if "-near_miss-" in k]
        assert near
        ids = {d.device_id for d in fleet.devices}
        assert all(k.split("/")[1] in ids for k in near)

    def test_verdict_labels_one_clip(self, fleet: Fleet) -> None:
        """The verdict sent over the broker was answered ok on cmd/result, and its label sits
        beside the alarm clip it judges."""
        assert fleet.replies and fleet.replies[0]["ok"] is True
        label = fleet.verdict_key
        assert label[: -len(".label.json")] + ".npz" in fleet.keys
        assert len([k for k in fleet.keys if k.endswith(".label.json")]) == 1

    @pytest.mark.slow
    def test_retraining_from_the_prefix(self, fleet: Fleet, tmp_path: Path) -> None:
        """cloud/train.py trains on simulation plus the fleet's prefix, and its report counts
        every uploaded clip, every device that uploaded, and the one verdict."""
        out = tmp_path / "models"
        proc = subprocess.run(
            [sys.executable, str(ROOT / "cloud" / "train.py"), "--simulate", "12",
             "--sim-duration", "360", "--sim-rate", "1", "--sim-engines", "ours",
             "--sim-variation", "false", "--unsigned", "--out", str(out),
             "--data", fleet.bucket.url("fleet"), "--s3-endpoint-url",
             fleet.bucket.endpoint_url, "--param", "rf.n_estimators=8",
             "--param", "gb.max_iter=8", "--param", "gb.max_depth=2"],
            cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = next(out.glob("*-report"))
        metrics = json.loads((report / "metrics.json").read_text())["fleet"]
        clips = [k for k in fleet.keys if k.endswith(".npz")]
        assert metrics["clips"] == len(clips)
        assert metrics["devices"] == len({k.split("/")[1] for k in clips})
        assert metrics["by_verdict"].get("false_alarm") == 1
