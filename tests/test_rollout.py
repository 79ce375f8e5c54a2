"""Rollout: channel pointers in a REAL S3 API (moto server), cohorts, shadow scoring, rollback."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from pathlib import Path

import boto3
import numpy as np
import pytest

from cloud.artifact.s3 import upload_artifact
from cloud.artifact.signing import private_key_pem
from cloud.fleet.channels import ChannelError, Channels
from cloud.fleet.summaries import assess
from cloud.rollout import main as rollout_main
from edge.config import AlarmConfig, ModelConfig
from edge.detect.shadow import ShadowScorer
from edge.model.channels import channel_rel, cohort_number, in_canary
from edge.model.holder import ModelHolder, load_model
from edge.model.updater import ModelUpdater, PollOutcome
from edge.service.fleet import FleetReport
from tests.modelkit import Kit, build, copy_artifact, kit, resign, synthetic_features
from tests.s3server import S3Bucket

__all__ = ["kit"]

PREFIX = "models"


def _tar(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return buf.getvalue()


def _s3(bucket: S3Bucket):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=bucket.endpoint_url)


def _channels(kit: Kit, bucket: S3Bucket) -> Channels:
    return Channels(_s3(bucket), bucket.name, PREFIX, kit.key)


def _publish(kit: Kit, bucket: S3Bucket, *tarballs: Path) -> None:
    for t in tarballs:
        upload_artifact(t, bucket.url(PREFIX), endpoint_url=bucket.endpoint_url,
                        private_key=kit.key)


class _Device:
    """An in-process device: a holder running model A and an updater following its channel."""

    def __init__(self, kit: Kit, bucket: S3Bucket, state: Path, device_id: str, *,
                 channel: str = "auto", shadow: bool = False) -> None:
        self.id = device_id
        self.config = ModelConfig(public_key=kit.public_key, s3_url=bucket.url(PREFIX),
                                  s3_endpoint_url=bucket.endpoint_url,
                                  channel=channel, shadow=shadow)  # type: ignore[arg-type]
        self.holder = ModelHolder(self.config, state)
        self.holder.install(kit.a.tarball)
        self.shadow = ShadowScorer(AlarmConfig()) if shadow else None
        self.fleet = FleetReport(device_id, self.holder, lambda: 60.0, shadow=self.shadow)
        self.updater = ModelUpdater(self.config, self.holder, state, device_id=device_id,
                                    shadow=self.shadow, after_poll=self.fleet.maybe_upload)
        self.fleet.updater = self.updater

    @property
    def version(self) -> str | None:
        m = self.holder.model
        return None if m is None else m.version


def _ids(n: int, percent: float) -> list[str]:
    """``n`` device ids with at least a few inside and outside a ``percent`` canary."""
    ids = [f"pi-{i:03d}" for i in range(n)]
    inside = [i for i in ids if in_canary(i, percent)]
    assert 3 <= len(inside) <= n - 3, "pick other ids: the cohort split is degenerate"
    return ids


class TestCohort:
    def test_cohort_number_is_stable_and_in_range(self) -> None:
        """A device id always maps to the same number in [0, 100), the sha256 of the id."""
        assert cohort_number("pi-kitchen") == cohort_number("pi-kitchen")
        assert cohort_number("pi-kitchen") != cohort_number("pi-hall")
        assert all(0.0 <= cohort_number(f"d{i}") < 100.0 for i in range(1000))
        # pinned: a change of the hash would silently move every device between cohorts
        assert cohort_number("pi-kitchen") == pytest.approx(
            int.from_bytes(__import__("hashlib").sha256(b"pi-kitchen").digest()[:8], "big")
            / 2**64 * 100)

    @pytest.mark.parametrize("percent", [1.0, 10.0, 50.0])
    def test_canary_share_is_close_to_percent(self, percent: float) -> None:
        """Among 20 000 ids, a canary at P % reaches P % ± 1 point, and a bigger canary
        contains the smaller one's devices."""
        ids = [f"device-{i}" for i in range(20000)]
        share = 100.0 * sum(in_canary(i, percent) for i in ids) / len(ids)
        assert abs(share - percent) < 1.0
        assert all(in_canary(i, percent + 5) for i in ids if in_canary(i, percent))


class TestChannels:
    def test_canary_reaches_only_its_cohort(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """24 devices against one S3: those whose sha256 falls under 30 % run the canary,
        the others stay on stable."""
        _publish(kit, s3_bucket, kit.a.tarball, kit.b.tarball)
        ch = _channels(kit, s3_bucket)
        ch.set_stable("model-a")
        ch.set_canary("model-b", 30.0)
        ids = _ids(24, 30.0)
        devices = [_Device(kit, s3_bucket, tmp_path / d, d) for d in ids]
        for dev in devices:
            dev.updater.poll_once()
        on_b = {d.id for d in devices if d.version == "model-b"}
        assert on_b == {i for i in ids if in_canary(i, 30.0)}
        assert {d.id for d in devices if d.version == "model-a"} == set(ids) - on_b
        assert {d.updater.following for d in devices if d.id in on_b} == {"canary"}

    def test_promote_then_every_device_follows(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """``promote`` makes the canary's version stable and deletes the canary pointer."""
        _publish(kit, s3_bucket, kit.a.tarball, kit.b.tarball)
        ch = _channels(kit, s3_bucket)
        ch.set_stable("model-a")
        ch.set_canary("model-b", 5.0)
        outside = next(f"pi-{i}" for i in range(100) if not in_canary(f"pi-{i}", 5.0))
        dev = _Device(kit, s3_bucket, tmp_path / "d", outside)
        dev.updater.poll_once()
        assert dev.version == "model-a"
        assert ch.promote() == "model-b"
        assert ch.read("canary") is None
        stable = ch.read("stable")
        assert stable is not None and stable.pointer.version == "model-b"
        assert dev.updater.poll_once().outcome is PollOutcome.UPDATED
        assert dev.version == "model-b"

    def test_rollback_returns_the_cohort_to_stable(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """``rollback`` withdraws the canary and re-signs stable as a rollback, so a canary
        device goes back to the stable model."""
        _publish(kit, s3_bucket, kit.a.tarball, kit.b.tarball)
        ch = _channels(kit, s3_bucket)
        ch.set_stable("model-a")
        ch.set_canary("model-b", 100.0)
        dev = _Device(kit, s3_bucket, tmp_path / "d", "pi-1")
        dev.updater.poll_once()
        assert dev.version == "model-b"
        assert ch.rollback() == "model-a"
        assert ch.read("canary") is None
        stable = ch.read("stable")
        assert stable is not None and stable.pointer.rollback
        assert dev.updater.poll_once().outcome is PollOutcome.UPDATED
        assert dev.version == "model-a" and dev.updater.following == "stable"

    def test_tampered_canary_pointer_is_refused(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """A canary pointer whose percent was raised without re-signing is refused by the
        device (it stays on stable and reports it) and by rollout.py."""
        _publish(kit, s3_bucket, kit.a.tarball, kit.b.tarball)
        ch = _channels(kit, s3_bucket)
        ch.set_stable("model-a")
        ch.set_canary("model-b", 0.01)
        s3 = _s3(s3_bucket)
        key = f"{PREFIX}/{channel_rel('canary')}"
        doc = json.loads(s3.get_object(Bucket=s3_bucket.name, Key=key)["Body"].read())
        doc["percent"] = 100
        s3.put_object(Bucket=s3_bucket.name, Key=key, Body=json.dumps(doc).encode())
        dev = _Device(kit, s3_bucket, tmp_path / "d", "pi-1")
        dev.updater.poll_once()
        assert dev.version == "model-a" and dev.updater.following == "stable"
        assert "does not verify" in (dev.holder.last_error or "")
        with pytest.raises(ChannelError, match="does not verify"):
            ch.promote()

    def test_unsigned_canary_pointer_is_refused_by_a_device_with_a_key(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """An unsigned channel pointer (no signature at all) is refused, not taken on trust."""
        _publish(kit, s3_bucket, kit.a.tarball, kit.b.tarball)
        ch = _channels(kit, s3_bucket)
        ch.set_stable("model-a")
        sha = json.loads(_s3(s3_bucket).get_object(
            Bucket=s3_bucket.name, Key=f"{PREFIX}/latest.json")["Body"].read())["sha256"]
        body = {"channel": "canary", "percent": 100, "version": "model-b",
                "key": "versions/model-b.tar.gz", "sha256": sha}
        _s3(s3_bucket).put_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/channels/canary.json",
                                  Body=json.dumps(body).encode())
        dev = _Device(kit, s3_bucket, tmp_path / "d", "pi-1")
        dev.updater.poll_once()
        assert dev.version == "model-a"
        assert "not signed" in (dev.holder.last_error or "")

    def test_unknown_unsigned_and_bad_percent_are_refused(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """``canary`` refuses a version never published, an unsigned model, a percent out of
        (0, 100] and the stable version itself, each with a clear error."""
        unsigned = build(tmp_path / "u", kit.pipelines_a, None, version="model-u")
        _publish(kit, s3_bucket, kit.a.tarball)
        upload_artifact(unsigned.tarball, s3_bucket.url(PREFIX),
                        endpoint_url=s3_bucket.endpoint_url)
        ch = _channels(kit, s3_bucket)
        ch.set_stable("model-a")
        with pytest.raises(ChannelError, match="unknown version 'nope'"):
            ch.set_canary("nope", 5)
        with pytest.raises(ChannelError, match=r"model-u.*does not verify"):
            ch.set_canary("model-u", 5)
        with pytest.raises(ChannelError, match="percent 0"):
            ch.set_canary("model-a", 0)
        with pytest.raises(ChannelError, match="already stable"):
            ch.set_canary("model-a", 5)
        assert ch.read("canary") is None

    def test_devices_not_on_channels_still_follow_latest(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """Without ``model.channel`` a device follows ``latest.json``, whatever the channels
        say; with a channel but no stable pointer yet, it also follows ``latest.json``."""
        _publish(kit, s3_bucket, kit.b.tarball)  # latest.json -> model-b
        legacy = ModelConfig(public_key=kit.public_key, s3_url=s3_bucket.url(PREFIX),
                             s3_endpoint_url=s3_bucket.endpoint_url)
        holder = ModelHolder(legacy, tmp_path / "legacy")
        holder.install(kit.a.tarball)
        ModelUpdater(legacy, holder, tmp_path / "legacy").poll_once()
        assert holder.model is not None and holder.model.version == "model-b"
        dev = _Device(kit, s3_bucket, tmp_path / "d", "pi-1")
        dev.updater.poll_once()
        assert dev.version == "model-b" and dev.updater.following is None


class TestConfig:
    def test_shadow_and_channel_need_their_settings(self) -> None:
        """``shadow`` without ``channel``, and ``channel`` without ``s3_url``, are refused
        naming the keys."""
        from pydantic import ValidationError

        with pytest.raises(ValidationError, match=r"model.shadow = true needs model.channel"):
            ModelConfig(s3_url="s3://bucket/p/", shadow=True)
        with pytest.raises(ValidationError, match=r"model.channel = 'auto' needs model.s3_url"):
            ModelConfig(channel="auto")
        with pytest.raises(ValidationError, match="channel"):
            ModelConfig(s3_url="s3://bucket/p/", channel="beta")  # type: ignore[arg-type]


class TestCli:
    def test_canary_status_promote(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The CLI sets a canary, reports ``wait`` without summaries and refuses to promote
        (exit 1) until ``--force``."""
        _publish(kit, s3_bucket, kit.a.tarball, kit.b.tarball)
        _channels(kit, s3_bucket).set_stable("model-a")
        pem = tmp_path / "k.pem"
        pem.write_bytes(private_key_pem(kit.key))
        common = ["--s3", s3_bucket.url(PREFIX), "--s3-endpoint-url", s3_bucket.endpoint_url,
                  "--signing-key", str(pem)]
        assert rollout_main(["canary", "model-b", "--percent", "10", *common]) == 0
        assert rollout_main(["status", *common]) == 0
        status = json.loads(capsys.readouterr().out.split("\n", 1)[1])
        assert status["verdict"] == "wait" and status["canary"] == {"version": "model-b",
                                                                    "percent": 10.0}
        assert rollout_main(["promote", *common]) == 1
        assert rollout_main(["promote", "--force", *common]) == 0
        assert _channels(kit, s3_bucket).read("stable").pointer.version == "model-b"  # type: ignore[union-attr]
        assert rollout_main(["canary", "nope", "--percent", "10", *common]) == 2
        assert "unknown version 'nope'" in capsys.readouterr().err


class TestRules:
    @staticmethod
    def _days(version: str, n: int, alarms: int, **extra: object) -> list[dict[str, object]]:
        return [{"device_id": f"{version}-{i}", "model_version": version,
                 "alarms": alarms if i == 0 else 0, "self_test_failures": 0, **extra}
                for i in range(n)]

    def test_wait_refuse_promote(self) -> None:
        """Too few canary device-days wait; more alarms than stable's bound refuse; else promote."""
        stable = self._days("s", 100, 5)
        assert assess(stable + self._days("c", 5, 0), "s", "c").verdict == "wait"
        assert assess(stable + self._days("c", 20, 10), "s", "c").verdict == "refuse"
        assert assess(stable + self._days("c", 20, 0), "s", "c").verdict == "promote"

    def test_any_failure_means_rollback(self) -> None:
        """One device reporting the canary failed its self-test makes the verdict rollback."""
        docs = self._days("c", 30, 0)
        docs.append({"device_id": "x", "model_version": "s", "alarms": 0,
                     "model_failures": [{"version": "c", "kind": "self_test"}]})
        a = assess(docs, "s", "c")
        assert a.verdict == "rollback" and a.failures[0]["device_id"] == "x"


def _clean_and_fire_rows() -> tuple[np.ndarray, np.ndarray]:
    X, y = synthetic_features(400, 5)
    ok = ~np.isnan(X).any(axis=1)
    return X[ok & (y == 0)], X[ok & (y == 1)]


class TestShadow:
    def test_counts_a_constructed_disagreement_and_shadow_alarms(self, kit: Kit) -> None:
        """A shadow scoring fire rows while the active score stays low counts every such
        frame as a disagreement and raises a shadow-only alarm, never an active one."""
        shadow_model = load_model(kit.a.tarball, public_key=None, allow_unsigned=True)
        shadow = ShadowScorer(AlarmConfig())
        assert shadow.stats() is None
        shadow.set_model(shadow_model)
        clean, fire = _clean_and_fire_rows()
        t = 0.0
        for x in clean[:20]:  # both low: agree
            p = float(shadow_model.score(x).probability)
            shadow.observe(t, x, p, shadow_model.threshold, False)
            t += 1.0
        assert shadow.stats()["disagreements"] == 0  # type: ignore[index]
        fire_rows = [x for x in fire
                     if shadow_model.score(x).probability >= shadow_model.threshold][:10]
        assert len(fire_rows) == 10, "the kit's model finds too few fire rows"
        for x in fire_rows:  # active says 0.01, shadow says fire for 10 s (> pre_alarm_s)
            shadow.observe(t, x, 0.01, 0.5, False)
            t += 1.0
        stats = shadow.stats()
        assert stats is not None
        assert stats["frames"] == 20 + len(fire_rows)
        assert stats["disagreements"] == len(fire_rows)
        assert stats["alarms_shadow"] == 1 and stats["alarms_active"] == 0
        assert stats["version"] == "model-a"

    def test_shadow_device_loads_the_canary_beside_stable(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """A device outside the cohort with ``shadow = true`` keeps running stable and loads
        the canary's model as its shadow; its health and summary carry the statistics."""
        _publish(kit, s3_bucket, kit.a.tarball, kit.b.tarball)
        ch = _channels(kit, s3_bucket)
        ch.set_stable("model-a")
        ch.set_canary("model-b", 1.0)
        outside = next(f"pi-{i}" for i in range(100) if not in_canary(f"pi-{i}", 1.0))
        dev = _Device(kit, s3_bucket, tmp_path / "d", outside, shadow=True)
        dev.updater.poll_once()
        assert dev.version == "model-a"
        assert dev.shadow is not None and dev.shadow.version == "model-b"
        clean, _ = _clean_and_fire_rows()
        dev.shadow.observe(0.0, clean[0], 0.0, 0.5, False)
        health = dev.fleet.health_model()
        assert health["shadow"]["frames"] == 1 and health["channel"] == "stable"
        doc = dev.fleet.document()
        assert doc["shadow"]["version"] == "model-b" and doc["model_version"] == "model-a"


class TestAutomaticRollback:
    def test_bad_canary_is_rolled_back_and_reported(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A signed canary model failing its self-test on the cohort is refused there (the
        old model keeps scoring), reported in health and summary, and ``rollout.py watch``
        withdraws the canary."""
        folder = copy_artifact(kit.b, tmp_path / "bad")
        golden = json.loads((folder / "golden.json").read_bytes())
        golden["scores"][0] = 1.0 - golden["scores"][0]
        (folder / "golden.json").write_text(json.dumps(golden))
        resign(folder, kit.key, version="model-bad")
        bad = tmp_path / "model-bad.tar.gz"
        bad.write_bytes(_tar(folder))
        _publish(kit, s3_bucket, kit.a.tarball, bad)
        ch = _channels(kit, s3_bucket)
        ch.set_stable("model-a")
        ch.set_canary("model-bad", 25.0)
        ids = _ids(20, 25.0)
        devices = [_Device(kit, s3_bucket, tmp_path / d, d) for d in ids]
        for dev in devices:
            dev.updater.poll_once()
        assert {d.version for d in devices} == {"model-a"}
        cohort = [d for d in devices if in_canary(d.id, 25.0)]
        for dev in cohort:
            failures = dev.fleet.health_model()["failures"]
            assert [(f["version"], f["kind"]) for f in failures] == [("model-bad", "self_test")]
        s3 = _s3(s3_bucket)
        today = dt.datetime.now(dt.UTC).date()
        doc = json.loads(s3.get_object(
            Bucket=s3_bucket.name,
            Key=f"{PREFIX}/_summaries/{today:%Y-%m-%d}/{cohort[0].id}.json")["Body"].read())
        assert doc["self_test_failures"] == 1 and doc["model_version"] == "model-a"
        pem = tmp_path / "k.pem"
        pem.write_bytes(private_key_pem(kit.key))
        assert rollout_main(["watch", "--s3", s3_bucket.url(PREFIX), "--s3-endpoint-url",
                             s3_bucket.endpoint_url, "--signing-key", str(pem)]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["verdict"] == "rollback" and out["rolled_back_to"] == "model-a"
        assert len({f["device_id"] for f in out["failures"]}) == len(cohort)
        assert ch.read("canary") is None

    def test_runtime_failure_on_the_canary_is_reported_for_rollback(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """A canary model that raises while scoring is rolled back on the device to the
        previous model, not installed again, and the summary makes the verdict ``rollback``."""
        _publish(kit, s3_bucket, kit.a.tarball, kit.b.tarball)
        ch = _channels(kit, s3_bucket)
        ch.set_stable("model-a")
        ch.set_canary("model-b", 100.0)
        dev = _Device(kit, s3_bucket, tmp_path / "d", "pi-1")
        dev.updater.poll_once()
        broken = dev.holder.model
        assert broken is not None and broken.version == "model-b"

        class Boom:
            def proba(self, X: np.ndarray) -> dict[str, np.ndarray]:
                raise RuntimeError("onnxruntime exploded")

        broken.ensemble = Boom()  # type: ignore[assignment]
        clean, _ = _clean_and_fire_rows()
        assert dev.holder.score(clean[0]).model_version == "model-a"
        dev.updater.poll_once()  # the canary pointer still names model-b: not taken again
        assert dev.version == "model-a" and dev.holder.is_rejected("model-b")
        assert {"version": "model-b", "kind": "runtime"} in dev.fleet.health_model()["failures"]
        from cloud.fleet.summaries import read_summaries

        docs = read_summaries(_s3(s3_bucket), s3_bucket.name, PREFIX, 1)
        assert assess(docs, "model-a", "model-b").verdict == "rollback"
