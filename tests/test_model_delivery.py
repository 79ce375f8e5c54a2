"""Model delivery from a REAL S3 API on loopback (moto server mode) into a running holder."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

import boto3
import numpy as np
import pytest

from cloud.artifact.s3 import upload_artifact
from edge.config import ModelConfig
from edge.features import FeatureParams
from edge.model.holder import ModelHolder, load_model
from edge.model.updater import ModelUpdater, PollOutcome
from tests.modelkit import Kit, build, copy_artifact, kit, resign, synthetic_features
from tests.s3server import S3Bucket, free_port

__all__ = ["kit"]

PREFIX = "models"


def _row() -> np.ndarray:
    X, _ = synthetic_features(100, 21)
    return X[~np.isnan(X).any(axis=1)][0]


class _Device:
    """A holder running model A, and an updater pointed at the bucket."""

    def __init__(self, kit: Kit, bucket: S3Bucket, state: Path, endpoint: str | None = None):
        self.config = ModelConfig(
            public_key=kit.public_key,
            s3_url=bucket.url(PREFIX),
            s3_endpoint_url=endpoint or bucket.endpoint_url,
        )
        self.holder = ModelHolder(self.config, state)
        self.holder.install(kit.a.tarball)
        self.updater = ModelUpdater(self.config, self.holder, state, interval_s=0.05)
        self.state = state

    def assert_still_a(self) -> None:
        model = self.holder.model
        assert model is not None and model.version == "model-a"
        assert self.holder.score(_row()).model_version == "model-a"


def _s3(bucket: S3Bucket):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=bucket.endpoint_url)


def _put_raw(bucket: S3Bucket, version: str, data: bytes, sha: str | None = None) -> None:
    """Publish bytes under a version the way upload_artifact would, hash overridable."""
    s3 = _s3(bucket)
    rel = f"versions/{version}.tar.gz"
    s3.put_object(Bucket=bucket.name, Key=f"{PREFIX}/{rel}", Body=data)
    pointer = {"version": version, "key": rel, "sha256": sha or hashlib.sha256(data).hexdigest()}
    s3.put_object(Bucket=bucket.name, Key=f"{PREFIX}/latest.json",
                  Body=json.dumps(pointer).encode())


@pytest.fixture
def device(kit: Kit, s3_bucket: S3Bucket, tmp_path: Path) -> _Device:
    """A device running model A with an empty bucket to poll."""
    return _Device(kit, s3_bucket, tmp_path / "state")


class TestModelUpdater:
    def test_new_model_is_picked_up_while_scoring(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device
    ) -> None:
        """Model B is installed while another thread scores: no error, every score whole."""
        upload_artifact(kit.b.tarball, s3_bucket.url(PREFIX), endpoint_url=s3_bucket.endpoint_url)
        x = _row()
        expect = {
            v: load_model(p, public_key=kit.key.public_key()).score(x).members
            for v, p in (("model-a", kit.a.path), ("model-b", kit.b.path))
        }
        stop, errors, seen = threading.Event(), [], set()

        def scorer() -> None:
            try:
                while not stop.is_set():
                    s = device.holder.score(x)
                    assert s.members == expect[s.model_version]
                    seen.add(s.model_version)
            except Exception as exc:  # reported to the main thread below
                errors.append(exc)

        t = threading.Thread(target=scorer)
        t.start()
        time.sleep(0.05)
        result = device.updater.poll_once()
        time.sleep(0.05)
        stop.set()
        t.join()
        assert result.outcome is PollOutcome.UPDATED and result.version == "model-b"
        assert errors == [] and seen == {"model-a", "model-b"}
        state = json.loads((device.state / "models/state.json").read_text())
        assert state == {"current": "model-b", "previous": "model-a", "rejected": [], "refused": []}

    def test_unchanged_latest_is_a_304_without_download(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device, caplog: pytest.LogCaptureFixture
    ) -> None:
        """After an update, the next poll gets 304 Not Modified and downloads nothing."""
        upload_artifact(kit.b.tarball, s3_bucket.url(PREFIX), endpoint_url=s3_bucket.endpoint_url)
        assert device.updater.poll_once().outcome is PollOutcome.UPDATED
        # Remove the tarball: any download attempt would now fail loudly.
        _s3(s3_bucket).delete_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/versions/model-b.tar.gz")
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="botocore.endpoint"):
            result = device.updater.poll_once()
        assert result.outcome is PollOutcome.UNCHANGED and "not modified" in result.reason
        assert "model-b.tar.gz" not in caplog.text

    def test_latest_naming_the_running_model_is_unchanged(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device
    ) -> None:
        """A fresh updater whose device already runs the latest model does not reinstall it."""
        upload_artifact(kit.a.tarball, s3_bucket.url(PREFIX), endpoint_url=s3_bucket.endpoint_url)
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.UNCHANGED and "already in use" in result.reason

    def test_tampered_file_is_refused(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device, tmp_path: Path
    ) -> None:
        """A model with a changed member file is refused by hash; A keeps running."""
        folder = copy_artifact(kit.b, tmp_path / "t")
        (folder / "members/rf.onnx").write_bytes(b"\x00" * 64)
        _put_raw(s3_bucket, "model-b", _tar(folder))
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.REFUSED and "rf.onnx" in result.reason
        device.assert_still_a()
        assert device.holder.is_rejected("model-b") is False  # refused on install, not run
        assert "rf.onnx" in (device.holder.last_error or "")

    def test_wrong_signature_is_refused(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device, tmp_path: Path
    ) -> None:
        """A model signed by another key is refused."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        folder = copy_artifact(kit.b, tmp_path / "s")
        resign(folder, Ed25519PrivateKey.generate())
        _put_raw(s3_bucket, "model-b", _tar(folder))
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.REFUSED and "does not verify" in result.reason
        device.assert_still_a()

    def test_truncated_download_is_refused_and_retried(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device
    ) -> None:
        """A stored object shorter than latest.json's hash says is refused, then retried."""
        data = kit.b.tarball.read_bytes()
        _put_raw(s3_bucket, "model-b", data[: len(data) // 2],
                 sha=hashlib.sha256(data).hexdigest())
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.FAILED and "truncated" in result.reason
        device.assert_still_a()
        _put_raw(s3_bucket, "model-b", data)  # the store heals; the next poll succeeds
        assert device.updater.poll_once().outcome is PollOutcome.UPDATED

    def test_pointer_renaming_another_version_is_refused(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device
    ) -> None:
        """A validly signed model published under another version name is refused."""
        _put_raw(s3_bucket, "model-new", kit.b.tarball.read_bytes())
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.REFUSED and "'model-new' was expected" in result.reason
        device.assert_still_a()

    def test_pointer_to_missing_version(self, s3_bucket: S3Bucket, device: _Device) -> None:
        """latest.json naming an object that does not exist fails with that reason."""
        pointer = {"version": "model-q", "key": "versions/model-q.tar.gz", "sha256": "0" * 64}
        _s3(s3_bucket).put_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/latest.json",
                                  Body=json.dumps(pointer).encode())
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.FAILED and "does not exist" in result.reason
        device.assert_still_a()

    def test_malformed_pointer(self, s3_bucket: S3Bucket, device: _Device) -> None:
        """latest.json with a key outside versions/ is refused by field name."""
        pointer = {"version": "x", "key": "../../etc/passwd", "sha256": "0" * 64}
        _s3(s3_bucket).put_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/latest.json",
                                  Body=json.dumps(pointer).encode())
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.FAILED and "'key'" in result.reason
        device.assert_still_a()

    def test_unreachable_endpoint(self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path) -> None:
        """A closed port fails the poll with the reason; the running model stays."""
        device = _Device(kit, s3_bucket, tmp_path / "state",
                         endpoint=f"http://127.0.0.1:{free_port()}")
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.FAILED and "unreachable" in result.reason
        device.assert_still_a()

    def test_other_feature_set_is_refused(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device, tmp_path: Path
    ) -> None:
        """A model trained for another feature set is refused as incompatible."""
        params = {**FeatureParams().as_dict(), "window_s": 30.0}
        info = build(tmp_path, kit.pipelines_b, kit.key, version="model-w", feature_params=params)
        upload_artifact(info.tarball, s3_bucket.url(PREFIX), endpoint_url=s3_bucket.endpoint_url)
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.REFUSED and "window_s" in result.reason
        device.assert_still_a()

    def test_failing_self_test_is_refused_once(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device, tmp_path: Path
    ) -> None:
        """A signed model failing its golden self-test is refused, and not fetched again."""
        folder = copy_artifact(kit.b, tmp_path / "g")
        golden = json.loads((folder / "golden.json").read_bytes())
        golden["scores"][0] = 1.0 - golden["scores"][0]
        (folder / "golden.json").write_text(json.dumps(golden))
        resign(folder, kit.key)
        _put_raw(s3_bucket, "model-b", _tar(folder))
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.REFUSED and "self-test" in result.reason
        device.assert_still_a()
        assert device.updater.poll_once().outcome is PollOutcome.UNCHANGED  # 304 now

    def test_background_thread_installs_and_stops(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device
    ) -> None:
        """The polling thread installs a model published while it runs, and stops on request."""
        device.updater.start()
        try:
            upload_artifact(kit.b.tarball, s3_bucket.url(PREFIX),
                            endpoint_url=s3_bucket.endpoint_url)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                model = device.holder.model
                if model is not None and model.version == "model-b":
                    break
                time.sleep(0.02)
        finally:
            device.updater.stop()
        model = device.holder.model
        assert model is not None and model.version == "model-b"
        assert device.updater._thread is None

    def test_device_without_model_gets_one(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """A device scoring with the rules installs the published model, and keeps it
        across a restart with no network."""
        config = ModelConfig(public_key=kit.public_key, s3_url=s3_bucket.url(PREFIX),
                             s3_endpoint_url=s3_bucket.endpoint_url)
        holder = ModelHolder(config, tmp_path)
        assert holder.load_initial() is None
        upload_artifact(kit.b.tarball, s3_bucket.url(PREFIX), endpoint_url=s3_bucket.endpoint_url)
        assert ModelUpdater(config, holder, tmp_path).poll_once().outcome is PollOutcome.UPDATED
        offline = config.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
        restarted = ModelHolder(offline, tmp_path)
        model = restarted.load_initial()
        assert model is not None and model.version == "model-b"
        assert ModelUpdater(offline, restarted, tmp_path).poll_once().outcome is PollOutcome.FAILED
        assert restarted.score(_row()).model_version == "model-b"

    def test_requires_s3_url(self, kit: Kit, tmp_path: Path) -> None:
        """An updater without model.s3_url is a configuration mistake, named."""
        holder = ModelHolder(ModelConfig(public_key=kit.public_key), tmp_path)
        with pytest.raises(ValueError, match="s3_url"):
            ModelUpdater(holder.config, holder, tmp_path)


def _tar(folder: Path) -> bytes:
    """The .tar.gz bytes of an artifact folder (the writer's layout)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return buf.getvalue()
