"""The artifact writer (cloud/artifact/write.py), signing keys (``signing.py``) and S3 upload."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import tarfile
from pathlib import Path

import boto3
import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import cloud.artifact.write
from cloud.artifact.onnx import export_member
from cloud.artifact.s3 import upload_artifact
from cloud.artifact.signing import (
    generate_keypair,
    load_private_key,
    private_key_pem,
    public_key_pem,
)
from cloud.artifact.write import ArtifactExportError
from edge.features import FEATURE_NAMES
from tests.modelkit import WEIGHTS, Kit, build, fit_pipelines, kit
from tests.s3server import S3Bucket

__all__ = ["kit"]


class TestWriteArtifact:
    def test_layout_and_manifest(self, kit: Kit) -> None:
        """The folder holds members, golden.json, manifest and signature, all hashed."""
        m = kit.a.manifest
        assert kit.a.path.name == "model-a" and kit.a.tarball.name == "model-a.tar.gz"
        assert m["format"] == "firedetect-model/1" and m["version"] == "model-a"
        assert m["feature_set"]["names"] == list(FEATURE_NAMES)
        assert set(m["members"]) == {"rf", "gb", "lr"}
        assert {k: v["weight"] for k, v in m["members"].items()} == WEIGHTS
        for lib in ("python", "numpy", "scikit-learn", "onnx", "skl2onnx", "onnxruntime"):
            assert m["libraries"][lib]
        assert set(m["files"]) == {
            "golden.json", "ensemble.onnx",
            *(f"members/{n}.{ext}" for n in WEIGHTS for ext in ("onnx", "joblib")),
        }
        assert m["fused"] == {"onnx": "ensemble.onnx",
                              "outputs": {n: f"{n}__probabilities" for n in WEIGHTS}}
        for rel, digest in m["files"].items():
            assert hashlib.sha256((kit.a.path / rel).read_bytes()).hexdigest() == digest
        on_disk = json.loads((kit.a.path / "manifest.json").read_bytes())
        assert on_disk == m

    def test_signature_verifies_manifest_bytes(self, kit: Kit) -> None:
        """manifest.json.sig is the base64 Ed25519 signature of manifest.json's bytes."""
        sig = base64.b64decode((kit.a.path / "manifest.json.sig").read_bytes().strip())
        kit.key.public_key().verify(sig, (kit.a.path / "manifest.json").read_bytes())

    def test_tarball_mirrors_folder(self, kit: Kit) -> None:
        """The tar.gz holds the same files under one folder named by the version."""
        with tarfile.open(kit.a.tarball) as tar:
            names = {m.name for m in tar.getmembers() if m.isfile()}
            data = tar.extractfile("model-a/golden.json")
            assert data is not None and data.read() == (kit.a.path / "golden.json").read_bytes()
        assert names == {f"model-a/{rel}" for rel in kit.a.manifest["files"]} | {
            "model-a/manifest.json", "model-a/manifest.json.sig"
        }

    def test_golden_has_degraded_rows_and_weighted_scores(self, kit: Kit) -> None:
        """golden.json includes NaN (null) rows and scores = Σ weight[name]·p(name)."""
        golden = json.loads((kit.a.path / "golden.json").read_bytes())
        rows = golden["inputs"]
        assert any(all(v is None for v in row[:12]) for row in rows)
        assert any(all(v is None for v in row[12:]) for row in rows)
        for i, s in enumerate(golden["scores"]):
            expect = sum(WEIGHTS[n] * golden["members"][n][i] for n in WEIGHTS)
            assert s == pytest.approx(expect, abs=1e-12)
            assert 0.0 <= s <= 1.0

    def test_member_order_does_not_change_scores(self, kit: Kit, tmp_path: Path) -> None:
        """Weights are keyed by name: shuffled member/weight order gives the same golden."""
        shuffled_p = {n: kit.pipelines_a[n] for n in ("lr", "rf", "gb")}
        shuffled_w = {n: WEIGHTS[n] for n in ("gb", "lr", "rf")}
        info = build(tmp_path, shuffled_p, kit.key, version="model-a", weights=shuffled_w)
        a = json.loads((kit.a.path / "golden.json").read_bytes())
        b = json.loads((info.path / "golden.json").read_bytes())
        assert a["scores"] == b["scores"] and a["members"] == b["members"]
        assert info.manifest["members"] == kit.a.manifest["members"]

    def test_default_version_is_time_and_hash(self, kit: Kit, tmp_path: Path) -> None:
        """Without a version, it is <UTC time>-<8 hex>, and the folder is named so."""
        info = build(tmp_path, kit.pipelines_a, kit.key, version=None)
        assert len(info.version) == 25 and info.version[8] == "T" and info.version[16] == "-"
        assert info.path == tmp_path / info.version

    def test_unsigned_needs_explicit_flag(self, kit: Kit, tmp_path: Path) -> None:
        """private_key=None without unsigned=True is refused; with it, no .sig is written."""
        with pytest.raises(ValueError, match="unsigned=True"):
            build(tmp_path, kit.pipelines_a, kit.key, version="u", private_key=None)
        info = build(tmp_path, kit.pipelines_a, None, version="u")
        assert not (info.path / "manifest.json.sig").exists()

    def test_refuses_to_overwrite(self, kit: Kit, tmp_path: Path) -> None:
        """An existing version is never overwritten, and its files are left untouched."""
        first = build(tmp_path, kit.pipelines_a, kit.key, version="v1")
        before = first.tarball.read_bytes()
        with pytest.raises(ValueError, match="refusing to overwrite"):
            build(tmp_path, kit.pipelines_b, kit.key, version="v1")
        assert first.tarball.read_bytes() == before

    @pytest.mark.parametrize(
        ("weights", "match"),
        [
            ({"rf": 0.5, "gb": 0.5}, "must equal the member names"),
            ({"rf": 0.5, "gb": 0.3, "lr": 0.3}, "sum to"),
            ({"rf": 1.2, "gb": -0.2, "lr": 0.0}, "≥ 0"),
        ],
    )
    def test_refuses_bad_weights(
        self, kit: Kit, tmp_path: Path, weights: dict[str, float], match: str
    ) -> None:
        """Weights must name exactly the members, be ≥ 0 and sum to 1."""
        with pytest.raises(ValueError, match=match):
            build(tmp_path, kit.pipelines_a, kit.key, version="w", weights=weights)
        assert list(tmp_path.iterdir()) == []

    def test_onnx_mismatch_refuses_and_leaves_nothing(
        self, kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An ONNX export that scores differently from scikit-learn aborts the artifact."""
        other = fit_pipelines(5, n=400)

        def wrong_export(name: str, model: object, n: int) -> bytes:
            return export_member(name, other[name], n)

        monkeypatch.setattr(cloud.artifact.write, "export_member", wrong_export)
        with pytest.raises(ArtifactExportError, match="ONNX and scikit-learn disagree"):
            build(tmp_path, kit.pipelines_a, kit.key, version="x")
        assert list(tmp_path.iterdir()) == []

    def test_refuses_unfitted_member(self, tmp_path: Path) -> None:
        """An unfitted member is named in the error."""
        from sklearn.linear_model import LogisticRegression

        with pytest.raises(ValueError, match="'lr': not fitted"):
            build(tmp_path, {"lr": LogisticRegression()}, None, version="n",
                  weights={"lr": 1.0})

    def test_numpy_metrics_are_written_and_nan_refused(self, kit: Kit, tmp_path: Path) -> None:
        """numpy numbers in metrics are stored as JSON numbers; a NaN metric is refused."""
        info = build(tmp_path, kit.pipelines_a, kit.key, version="np",
                     metrics={"n": np.int64(3), "auc": np.float32(0.5), "cm": np.eye(2)})
        assert info.manifest["metrics"] == {"n": 3, "auc": 0.5, "cm": [[1.0, 0.0], [0.0, 1.0]]}
        with pytest.raises(ValueError, match="manifest: not JSON-serialisable"):
            build(tmp_path, kit.pipelines_a, kit.key, version="nan",
                  metrics={"auc": float("nan")})
        assert not (tmp_path / "nan").exists()

    def test_refuses_bad_golden_shape(self, kit: Kit, tmp_path: Path) -> None:
        """Golden inputs must be (n, 18)."""
        with pytest.raises(ValueError, match="golden_inputs: shape"):
            build(tmp_path, kit.pipelines_a, kit.key, version="g",
                  golden_inputs=np.zeros((3, 17)))


class TestSigning:
    def test_generate_writes_private_0600_and_public(self, tmp_path: Path) -> None:
        """The private key file is readable by its owner only; the public key matches."""
        priv, pub = tmp_path / "k.pem", tmp_path / "k.pub.pem"
        key = generate_keypair(priv, pub)
        assert stat.S_IMODE(os.stat(priv).st_mode) == 0o600
        assert pub.read_bytes() == public_key_pem(key)
        assert load_private_key(priv).public_key() == key.public_key()

    def test_generate_refuses_overwrite(self, tmp_path: Path) -> None:
        """An existing key file is never overwritten."""
        priv, pub = tmp_path / "k.pem", tmp_path / "k.pub.pem"
        priv.write_text("keep me")
        with pytest.raises(FileExistsError):
            generate_keypair(priv, pub)
        assert priv.read_text() == "keep me" and not pub.exists()

    def test_load_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without a path, the PEM text comes from FIREDETECT_SIGNING_KEY."""
        key = Ed25519PrivateKey.generate()
        monkeypatch.setenv("FIREDETECT_SIGNING_KEY", private_key_pem(key).decode())
        assert load_private_key().public_key() == key.public_key()

    def test_missing_key_names_the_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """No path and no variable: the error says where a key may come from."""
        monkeypatch.delenv("FIREDETECT_SIGNING_KEY", raising=False)
        with pytest.raises(ValueError, match="FIREDETECT_SIGNING_KEY"):
            load_private_key()

    def test_refuses_other_key_types(self, tmp_path: Path) -> None:
        """An EC key is refused: Ed25519 only."""
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = tmp_path / "ec.pem"
        path.write_bytes(pem)
        with pytest.raises(ValueError, match="Ed25519 only"):
            load_private_key(path)


class TestUploadArtifact:
    def test_uploads_version_then_latest(self, kit: Kit, s3_bucket: S3Bucket) -> None:
        """versions/<v>.tar.gz holds the tarball's bytes; latest.json names it with its hash."""
        key = upload_artifact(kit.a.tarball, s3_bucket.url("prod"),
                              endpoint_url=s3_bucket.endpoint_url)
        assert key == "prod/versions/model-a.tar.gz"
        s3 = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url)
        body = s3.get_object(Bucket=s3_bucket.name, Key=key)["Body"].read()
        assert body == kit.a.tarball.read_bytes()
        latest = json.loads(
            s3.get_object(Bucket=s3_bucket.name, Key="prod/latest.json")["Body"].read()
        )
        assert latest == {
            "version": "model-a",
            "key": "versions/model-a.tar.gz",
            "sha256": hashlib.sha256(body).hexdigest(),
        }

    def test_published_version_is_immutable(
        self, kit: Kit, s3_bucket: S3Bucket, tmp_path: Path
    ) -> None:
        """Other bytes under an existing version are refused and latest.json keeps pointing
        at the original."""
        url = s3_bucket.url("prod")
        upload_artifact(kit.a.tarball, url, endpoint_url=s3_bucket.endpoint_url)
        impostor = tmp_path / "model-a.tar.gz"
        impostor.write_bytes(kit.b.tarball.read_bytes())
        with pytest.raises(ValueError, match="immutable"):
            upload_artifact(impostor, url, endpoint_url=s3_bucket.endpoint_url)
        s3 = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url)
        latest = json.loads(
            s3.get_object(Bucket=s3_bucket.name, Key="prod/latest.json")["Body"].read()
        )
        assert latest["sha256"] == hashlib.sha256(kit.a.tarball.read_bytes()).hexdigest()

    def test_reupload_same_bytes_is_idempotent(self, kit: Kit, s3_bucket: S3Bucket) -> None:
        """Publishing the same tarball twice succeeds and changes nothing."""
        url = s3_bucket.url("prod")
        first = upload_artifact(kit.a.tarball, url, endpoint_url=s3_bucket.endpoint_url)
        assert upload_artifact(kit.a.tarball, url, endpoint_url=s3_bucket.endpoint_url) == first

    def test_refuses_bad_url(self, kit: Kit) -> None:
        """A URL that is not s3://bucket/prefix is refused by name."""
        with pytest.raises(ValueError, match="s3 url"):
            upload_artifact(kit.a.tarball, "https://example.com/models")
