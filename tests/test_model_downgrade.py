"""Downgrades through S3: an older model needs a signed ``latest.json`` saying ``rollback``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.artifact.s3 import pointer_document, publish_rollback, upload_artifact
from cloud.artifact.signing import private_key_pem
from edge.model.holder import ModelHolder
from edge.model.pointer import model_time
from edge.model.updater import ModelUpdater, PollOutcome
from tests.modelkit import Kit, copy_artifact, kit, resign
from tests.s3server import S3Bucket
from tests.test_model_delivery import PREFIX, _Device, _put_raw, _s3, _tar

__all__ = ["kit"]

OLD = "20200101T000000Z-0ld0ld00"


@pytest.fixture
def device(kit: Kit, s3_bucket: S3Bucket, tmp_path: Path) -> _Device:
    """A device running model A (made now) with an empty bucket to poll."""
    return _Device(kit, s3_bucket, tmp_path / "state")


@pytest.fixture
def old_tarball(kit: Kit, tmp_path: Path) -> Path:
    """A validly signed model made in 2020, older than model A."""
    folder = copy_artifact(kit.b, tmp_path / "old")
    resign(folder, kit.key, version=OLD, created="2020-01-01T00:00:00Z")
    path = tmp_path / f"{OLD}.tar.gz"
    path.write_bytes(_tar(folder))
    return path


def _restart(device: _Device) -> _Device:
    """The same device after a restart: a new holder and updater on the same state folder."""
    holder = ModelHolder(device.config, device.state)
    holder.load_initial()
    device.holder = holder
    device.updater = ModelUpdater(device.config, holder, device.state)
    return device


def _state(device: _Device) -> dict[str, object]:
    return json.loads((device.state / "models/state.json").read_text())  # type: ignore[no-any-return]


class TestDowngrade:
    def test_unsigned_pointer_to_older_model_is_refused_and_remembered(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device, old_tarball: Path
    ) -> None:
        """latest.json (unsigned) naming an older signed model is refused, also after a
        restart, and the refused version is not downloaded again."""
        _put_raw(s3_bucket, OLD, old_tarball.read_bytes())
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.REFUSED and "older than model model-a" in result.reason
        device.assert_still_a()
        assert _state(device)["refused"] == [OLD]
        # Remove the object: a download attempt would now FAIL with "does not exist".
        _s3(s3_bucket).delete_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/versions/{OLD}.tar.gz")
        result = _restart(device).updater.poll_once()
        assert result.outcome is PollOutcome.REFUSED and "not downloaded again" in result.reason
        device.assert_still_a()

    def test_signed_pointer_without_rollback_is_refused(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device, old_tarball: Path
    ) -> None:
        """A signed latest.json naming an older model, without rollback, is refused."""
        upload_artifact(old_tarball, s3_bucket.url(PREFIX), endpoint_url=s3_bucket.endpoint_url,
                        private_key=kit.key)
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.REFUSED and "rollback" in result.reason
        device.assert_still_a()

    def test_signed_rollback_installs_the_older_model_and_it_stays(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device, old_tarball: Path
    ) -> None:
        """publish_rollback's signed pointer installs the older model, even one refused
        before, and it stays in use after a restart."""
        url = s3_bucket.url(PREFIX)
        upload_artifact(old_tarball, url, endpoint_url=s3_bucket.endpoint_url,
                        private_key=kit.key)
        assert device.updater.poll_once().outcome is PollOutcome.REFUSED
        publish_rollback(OLD, url, kit.key, endpoint_url=s3_bucket.endpoint_url)
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.UPDATED and "rollback" in result.reason
        assert _state(device)["current"] == OLD and _state(device)["refused"] == []
        restarted = _restart(device)
        model = restarted.holder.model
        assert model is not None and model.version == OLD
        assert restarted.updater.poll_once().outcome is PollOutcome.UNCHANGED

    def test_tampered_signed_pointer_is_refused_and_reported(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device, old_tarball: Path
    ) -> None:
        """A signed pointer edited to say rollback no longer verifies: refused, reported in
        last_error, nothing downloaded."""
        upload_artifact(old_tarball, s3_bucket.url(PREFIX), endpoint_url=s3_bucket.endpoint_url,
                        private_key=kit.key)
        s3 = _s3(s3_bucket)
        doc = json.loads(s3.get_object(Bucket=s3_bucket.name,
                                       Key=f"{PREFIX}/latest.json")["Body"].read())
        doc["rollback"] = True
        s3.put_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/latest.json",
                      Body=json.dumps(doc).encode())
        s3.delete_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/versions/{OLD}.tar.gz")
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.REFUSED and "does not verify" in result.reason
        assert "latest.json" in (device.holder.last_error or "")
        device.assert_still_a()

    def test_pointer_signed_by_another_key_is_refused(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device
    ) -> None:
        """A rollback pointer signed by a key other than model.public_key is refused."""
        data = kit.b.tarball.read_bytes()
        _put_raw(s3_bucket, "model-b", data)  # the model itself is fine
        import hashlib

        body = pointer_document("model-b", hashlib.sha256(data).hexdigest(),
                                Ed25519PrivateKey.generate(), rollback=True)
        _s3(s3_bucket).put_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/latest.json", Body=body)
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.REFUSED and "does not verify" in result.reason
        device.assert_still_a()

    def test_stale_rollback_pointer_is_refused(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device, old_tarball: Path
    ) -> None:
        """A rollback pointer signed before the model in use was made (a replay) is refused."""
        url = s3_bucket.url(PREFIX)
        upload_artifact(old_tarball, url, endpoint_url=s3_bucket.endpoint_url,
                        private_key=kit.key)
        import hashlib

        body = pointer_document(OLD, hashlib.sha256(old_tarball.read_bytes()).hexdigest(),
                                kit.key, rollback=True, now=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
        _s3(s3_bucket).put_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/latest.json", Body=body)
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.REFUSED and "stale" in result.reason
        device.assert_still_a()

    def test_signed_pointer_upgrades(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device
    ) -> None:
        """A signed latest.json naming a model not older than the one in use installs it."""
        upload_artifact(kit.b.tarball, s3_bucket.url(PREFIX),
                        endpoint_url=s3_bucket.endpoint_url, private_key=kit.key)
        assert device.updater.poll_once().outcome is PollOutcome.UPDATED

    def test_rollback_cli_publishes_a_signed_rollback(
        self, kit: Kit, s3_bucket: S3Bucket, device: _Device, old_tarball: Path, tmp_path: Path
    ) -> None:
        """train.py --rollback VERSION --upload URL signs the pointer; a never published
        version is refused by name (exit 2)."""
        from cloud.train import main

        url = s3_bucket.url(PREFIX)
        upload_artifact(old_tarball, url, endpoint_url=s3_bucket.endpoint_url,
                        private_key=kit.key)
        key_file = tmp_path / "k.pem"
        key_file.write_bytes(private_key_pem(kit.key))
        args = ["--upload", url, "--signing-key", str(key_file),
                "--s3-endpoint-url", s3_bucket.endpoint_url]
        assert main(["--rollback", "never-published", *args]) == 2
        assert main(["--rollback", OLD, *args]) == 0
        result = device.updater.poll_once()
        assert result.outcome is PollOutcome.UPDATED and result.version == OLD


class TestModelTime:
    @pytest.mark.parametrize(
        ("manifest", "version", "expect"),
        [
            ({"created": "2026-11-29T00:08:00Z"}, "20990101T000000Z-aaaaaaaa",
             dt.datetime(2026, 11, 29, 0, 8, tzinfo=dt.UTC)),
            ({}, "20261129T000800Z-7e67e658", dt.datetime(2026, 11, 29, 0, 8, tzinfo=dt.UTC)),
            ({"created": "yesterday"}, "model-a", None),
        ],
    )
    def test_signed_created_is_preferred_over_the_name(
        self, manifest: dict[str, str], version: str, expect: dt.datetime | None
    ) -> None:
        """A model's time is its manifest's created, else the UTC time its name starts with."""
        assert model_time(manifest, version) == expect
