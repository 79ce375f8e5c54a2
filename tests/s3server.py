"""A real S3 API on loopback for boto3: moto's server mode on a free port.

``s3_server`` (session) starts one ``ThreadedMotoServer``; ``s3_bucket`` (function) gives each
test its own fresh bucket and the environment boto3's standard credential chain reads.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (at the time of the call)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class S3Server:
    """Where the S3 API listens."""

    endpoint_url: str


@dataclass(frozen=True)
class S3Bucket:
    """A fresh, empty bucket on the loopback S3 server."""

    endpoint_url: str
    name: str

    def url(self, prefix: str = "models") -> str:
        """``s3://<bucket>/<prefix>/``."""
        return f"s3://{self.name}/{prefix}/"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free loopback port for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A new bucket, with dummy credentials in the environment (boto3's standard chain)."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    name = f"firedetect-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server.endpoint_url).create_bucket(Bucket=name)
    return S3Bucket(s3_server.endpoint_url, name)
