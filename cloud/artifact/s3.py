"""Publish a model artifact to S3 (or an S3-compatible store).

Layout under ``s3://bucket/prefix/``: ``versions/<version>.tar.gz`` first, re-read and its
SHA-256 checked, THEN ``latest.json`` = ``{"version", "key", "sha256"}`` (``key`` relative to
the prefix), so ``latest`` never names a half-written model. A published version is never
overwritten with different bytes. Credentials come from boto3's standard chain.

With the model-signing key, ``latest.json`` is signed (``edge.model.pointer``): it adds
``"published"`` (UTC now), ``"rollback"`` and ``"signature"`` (Ed25519 over the canonical JSON
of the other fields). Devices refuse a model older than the one they run unless the pointer is
signed and says ``"rollback": true``; ``publish_rollback`` writes that pointer for a version
already published. Devices that predate signed pointers ignore the extra fields.

Usage::

    key = upload_artifact(info.tarball, "s3://firedetect-models/prod/", private_key=key)
    publish_rollback("20261129T000800Z-7e67e658", "s3://firedetect-models/prod/", key)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cloud.artifact.signing import sign
from edge.model.pointer import canonical_json
from edge.model.verify import sha256_file

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from mypy_boto3_s3 import S3Client

__all__ = [
    "latest_key",
    "parse_s3_url",
    "pointer_document",
    "publish_rollback",
    "s3_client",
    "upload_artifact",
]

log = logging.getLogger(__name__)

_URL_RE = re.compile(r"^s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(.*))?$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` → ``("bucket", "some/prefix")``.

    :raises ValueError: when ``url`` is not an ``s3://bucket[/prefix]`` URL.
    """
    m = _URL_RE.match(url)
    if not m:
        raise ValueError(f"s3 url {url!r}; allowed: s3://bucket/prefix/")
    return m.group(1), (m.group(2) or "").strip("/")


def latest_key(prefix: str) -> str:
    """The key of the ``latest.json`` pointer under ``prefix``."""
    return f"{prefix}/latest.json" if prefix else "latest.json"


def s3_client(endpoint_url: str | None = None) -> S3Client:
    """A boto3 S3 client with bounded timeouts and retries."""
    import boto3
    from botocore.config import Config

    cfg = Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    client: S3Client = boto3.client("s3", endpoint_url=endpoint_url, config=cfg)
    return client



def _stored_sha256(client: Any, bucket: str, key: str) -> str:
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    h = hashlib.sha256()
    for chunk in iter(lambda: body.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def pointer_document(
    version: str,
    sha256: str,
    private_key: Ed25519PrivateKey | None,
    *,
    rollback: bool = False,
    now: dt.datetime | None = None,
) -> bytes:
    """The bytes of ``latest.json`` naming ``versions/<version>.tar.gz``; signed with a key.

    :raises ValueError: ``rollback`` without a key (devices honour only a signed rollback).
    """
    doc: dict[str, Any] = {"version": version, "key": f"versions/{version}.tar.gz",
                           "sha256": sha256}
    if private_key is None:
        if rollback:
            raise ValueError("a rollback pointer must be signed: pass the model-signing key")
        return json.dumps(doc).encode()
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    doc["published"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["rollback"] = rollback
    doc["signature"] = sign(canonical_json(doc), private_key).decode("ascii")
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def _put_pointer(s3: Any, bucket: str, prefix: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=latest_key(prefix), Body=body,
                  ContentType="application/json", CacheControl="no-cache")


def publish_rollback(
    version: str,
    s3_url: str,
    private_key: Ed25519PrivateKey,
    *,
    endpoint_url: str | None = None,
    client: S3Client | None = None,
) -> str:
    """Point ``latest.json`` back at an already published ``version``, signed, saying
    ``"rollback": true`` (devices then install it although it is older); return its key.

    :raises ValueError: bad version or URL, or the version was never published there.
    """
    if not _VERSION_RE.match(version):
        raise ValueError(f"version {version!r}; allowed: {_VERSION_RE.pattern}")
    bucket, prefix = parse_s3_url(s3_url)
    s3 = client if client is not None else s3_client(endpoint_url)
    rel = f"versions/{version}.tar.gz"
    key = f"{prefix}/{rel}" if prefix else rel
    try:
        digest = _stored_sha256(s3, bucket, key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        raise ValueError(f"s3://{bucket}/{key} does not exist: only a published version can "
                         "be rolled back to") from None
    _put_pointer(s3, bucket, prefix, pointer_document(version, digest, private_key,
                                                      rollback=True))
    log.warning("latest.json under s3://%s/%s rolled back to model %s", bucket, prefix, version)
    return key


def upload_artifact(
    tarball: Path | str,
    s3_url: str,
    *,
    endpoint_url: str | None = None,
    client: S3Client | None = None,
    private_key: Ed25519PrivateKey | None = None,
) -> str:
    """Upload ``<version>.tar.gz`` then point ``latest.json`` at it; return the tarball's key.

    ``private_key``: sign ``latest.json`` (see the module docstring); without it the pointer
    is unsigned, which devices accept for upgrades only.

    :raises ValueError: bad URL or file name, or the version exists with other bytes.
    :raises RuntimeError: the stored object does not read back with the file's SHA-256.
    :raises botocore.exceptions.ClientError / BotoCoreError: the store refused or is unreachable.
    """
    path = Path(tarball)
    if not path.name.endswith(".tar.gz"):
        raise ValueError(f"{path}: allowed: a <version>.tar.gz written by write_artifact")
    version = path.name[: -len(".tar.gz")]
    if not _VERSION_RE.match(version):
        raise ValueError(f"{path}: version {version!r}; allowed: {_VERSION_RE.pattern}")
    bucket, prefix = parse_s3_url(s3_url)
    s3 = client if client is not None else s3_client(endpoint_url)
    rel = f"versions/{version}.tar.gz"
    key = f"{prefix}/{rel}" if prefix else rel
    digest = sha256_file(path)

    try:
        existing = _stored_sha256(s3, bucket, key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        existing = None
    if existing is not None and existing != digest:
        raise ValueError(f"s3://{bucket}/{key} exists with other content; versions are immutable")
    if existing is None:
        with path.open("rb") as f:
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=f,
                ContentType="application/gzip",
                Metadata={"sha256": digest},
            )
        stored = _stored_sha256(s3, bucket, key)
        if stored != digest:
            raise RuntimeError(
                f"s3://{bucket}/{key}: reads back with SHA-256 {stored}, expected {digest}; "
                "latest.json NOT updated"
            )
    _put_pointer(s3, bucket, prefix, pointer_document(version, digest, private_key))
    log.info("model %s published to s3://%s/%s", version, bucket, key)
    return key
