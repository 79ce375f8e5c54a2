"""Publish a model artifact to S3 (or an S3-compatible store).

Layout under ``s3://bucket/prefix/``: ``versions/<version>.tar.gz`` first, re-read and its
SHA-256 checked, THEN ``latest.json`` = ``{"version", "key", "sha256"}`` (``key`` relative to
the prefix), so ``latest`` never names a half-written model. A published version is never
overwritten with different bytes. Credentials come from boto3's standard chain.

Usage::

    key = upload_artifact(info.tarball, "s3://firedetect-models/prod/")
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from edge.model.verify import sha256_file

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["latest_key", "parse_s3_url", "s3_client", "upload_artifact"]

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


def upload_artifact(
    tarball: Path | str,
    s3_url: str,
    *,
    endpoint_url: str | None = None,
    client: S3Client | None = None,
) -> str:
    """Upload ``<version>.tar.gz`` then point ``latest.json`` at it; return the tarball's key.

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
    pointer = {"version": version, "key": rel, "sha256": digest}
    s3.put_object(
        Bucket=bucket,
        Key=latest_key(prefix),
        Body=json.dumps(pointer).encode(),
        ContentType="application/json",
    )
    log.info("model %s published to s3://%s/%s", version, bucket, key)
    return key
