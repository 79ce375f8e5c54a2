"""A daemon on a channel, with a shadow model: its health over a REAL Mosquitto carries the
channel, the cohort and the shadow statistics; its summary reaches a REAL S3 API (moto)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import boto3

from cloud.artifact.s3 import upload_artifact
from cloud.fleet.channels import Channels
from edge.model.channels import in_canary
from tests.daemon_helpers import ControlledRoom, NotifySocket, Subscriber
from tests.modelkit import Kit, kit
from tests.s3server import S3Bucket

__all__ = ["kit"]

PREFIX = "models"


def test_daemon_reports_channel_and_shadow(kit: Kit, s3_bucket: S3Bucket, tmp_path: Path) -> None:
    """A stable-channel daemon with ``shadow = true`` scores with model A, shadows the canary
    B, shows both in its retained health and uploads a summary saying so."""
    from edge.app import build_daemon
    from edge.config import parse_config
    from edge.daemon import DaemonOptions
    from edge.notify import Notifier
    from edge.sim.clock import ScaledClock
    from tests.broker import Broker

    for t in (kit.a.tarball, kit.b.tarball):
        upload_artifact(t, s3_bucket.url(PREFIX), endpoint_url=s3_bucket.endpoint_url,
                        private_key=kit.key)
    ch = Channels(boto3.client("s3", endpoint_url=s3_bucket.endpoint_url), s3_bucket.name,
                  PREFIX, kit.key)
    ch.set_stable("model-a")
    ch.set_canary("model-b", 1.0)
    device = next(f"pi-{i}" for i in range(100) if not in_canary(f"pi-{i}", 1.0))
    broker = Broker(tmp_path / "broker")
    broker.start()
    sub = Subscriber(broker.host, broker.port, [f"firedetect/{device}/#"])
    notify = NotifySocket()
    config = parse_config({
        "device": {"id": device, "state_dir": str(tmp_path / "state")},
        "mqtt": {"url": broker.url, "keepalive_s": 5, "telemetry_interval_s": 2.0},
        "sensors": {"scd41": {"stale_after_s": 8.0},
                    "lepton": {"model": "2.5", "stale_after_s": 5.0}},
        "model": {"path": str(kit.a.tarball), "public_key": str(kit.public_key),
                  "s3_url": s3_bucket.url(PREFIX), "s3_endpoint_url": s3_bucket.endpoint_url,
                  "channel": "auto", "shadow": True},
    })
    rt = build_daemon(config, scene=ControlledRoom(), clock=ScaledClock(4.0),
                      notifier=Notifier(notify.path),
                      options=DaemonOptions(watchdog_s=0.6, status_interval_s=0.2,
                                            health_interval_s=0.5))
    thread = threading.Thread(target=rt.daemon.run, name="daemon-under-test")
    try:
        assert rt.updater is not None
        rt.updater.poll_once()  # what the updater thread does first
        thread.start()
        msg = sub.wait_for(lambda m: m.topic == f"firedetect/{device}/health"
                           and (m.json()["model"].get("shadow") or {}).get("frames", 0) >= 3,
                           timeout=60)
        model = msg.json()["model"]
        assert model["version"] == "model-a" and model["channel"] == "stable"
        assert model["shadow"]["version"] == "model-b" and model["failures"] == []
        assert 1.0 <= model["cohort"] < 100.0
        rt.daemon.report.fleet._next_upload = -1.0  # type: ignore[union-attr]  # due now
        rt.updater.poll_once()
        day = dt.datetime.now(dt.UTC).date()
        body = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url).get_object(
            Bucket=s3_bucket.name,
            Key=f"{PREFIX}/_summaries/{day:%Y-%m-%d}/{device}.json")["Body"].read()
        summary = json.loads(body)
        assert summary["model_version"] == "model-a" and summary["channel"] == "stable"
        assert summary["shadow"]["version"] == "model-b" and summary["shadow"]["frames"] >= 3
        assert set(summary) >= {"device_id", "date", "uptime_s", "alarms", "pre_alarms",
                                "faults", "self_test_failures"}
    finally:
        if thread.is_alive():
            rt.daemon.request_stop()
            thread.join(20)
        rt.close()
        sub.close()
        notify.close()
        broker.stop()
