"""Move the signed channel pointers (``channels/stable.json``, ``channels/canary.json``).

Every pointer this module writes is signed with the model-signing key and says its
``"channel"``; the canary's also its ``"percent"`` (``edge.model.channels``). A version is
only pointed at when ``versions/<version>.tar.gz`` exists under the prefix AND its manifest
verifies against the signing key's public half (an unsigned or foreign model is refused);
a pointer is only moved from a state whose pointers verify (a tampered pointer is refused).

- ``set_canary(version, percent)``: the canary reaches ``percent`` % of the fleet (cohorts by
  ``sha256(device.id)``); it never names the stable version.
- ``promote()``: stable := the canary's version (signed), then the canary pointer is deleted.
- ``rollback(to=None)``: the canary pointer is deleted and stable is re-signed *now* with
  ``"rollback": true``, so the canary cohort goes back to stable's (older) model; with ``to``,
  stable itself is pointed back at an older published version.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.artifact.signing import sign
from edge.errors import ModelError
from edge.model.channels import ChannelName, ChannelPointer, channel_rel, parse_channel_pointer
from edge.model.pointer import PointerFormatError, PointerSignatureError, canonical_json
from edge.model.verify import extract_tarball, sha256_file, verify_artifact

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["ChannelError", "Channels", "channel_document"]

log = logging.getLogger(__name__)


class ChannelError(ValueError):
    """A channel move refused (unknown or unsigned version, tampered pointer, bad percent)."""


def channel_document(channel: ChannelName, version: str, sha256: str, key: Ed25519PrivateKey,
                     *, percent: float | None = None, rollback: bool = False,
                     now: dt.datetime | None = None) -> bytes:
    """The signed bytes of ``channels/<channel>.json`` naming ``versions/<version>.tar.gz``."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    doc: dict[str, Any] = {"channel": channel, "version": version,
                           "key": f"versions/{version}.tar.gz", "sha256": sha256,
                           "published": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "rollback": rollback}
    if percent is not None:
        doc["percent"] = percent
    doc["signature"] = sign(canonical_json(doc), key).decode("ascii")
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass
class Channels:
    """The channel pointers under ``s3://bucket/prefix/``, moved with ``key``."""

    s3: S3Client
    bucket: str
    prefix: str
    key: Ed25519PrivateKey

    def _k(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def url(self, rel: str) -> str:
        """``s3://bucket/prefix/rel``."""
        return f"s3://{self.bucket}/{self._k(rel)}"

    def read(self, channel: ChannelName) -> ChannelPointer | None:
        """The verified pointer of ``channel`` (None when there is none).

        :raises ChannelError: unsigned, tampered or malformed.
        """
        rel = channel_rel(channel)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self._k(rel))["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        try:
            return parse_channel_pointer(body, self.key.public_key(), channel)
        except (PointerFormatError, PointerSignatureError) as exc:
            raise ChannelError(f"{self.url(rel)}: {exc}") from None

    def published(self, version: str) -> str:
        """The SHA-256 of ``versions/<version>.tar.gz`` after checking its manifest's signature.

        :raises ChannelError: not published here, or not signed with this key.
        """
        rel = f"versions/{version}.tar.gz"
        with tempfile.TemporaryDirectory(prefix="rollout-") as tmp:
            tarball = Path(tmp) / f"{version}.tar.gz"
            try:
                self.s3.download_file(self.bucket, self._k(rel), str(tarball))
            except ClientError as exc:
                if _code(exc) in ("NoSuchKey", "404"):
                    raise ChannelError(f"unknown version {version!r}: {self.url(rel)} does not "
                                       "exist (publish it with cloud/train.py --upload)") from None
                raise
            try:
                folder = extract_tarball(tarball, Path(tmp) / "x")
                manifest = verify_artifact(folder, public_key=self.key.public_key())
            except ModelError as exc:
                raise ChannelError(f"version {version!r} ({self.url(rel)}) does not verify "
                                   f"against the signing key: {exc}") from None
            if manifest.get("version") != version:
                raise ChannelError(f"{self.url(rel)}: its manifest is version "
                                   f"{manifest.get('version')!r}")
            return sha256_file(tarball)

    def _put(self, channel: ChannelName, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self._k(channel_rel(channel)), Body=body,
                           ContentType="application/json", CacheControl="no-cache")

    def set_stable(self, version: str, *, rollback: bool = False) -> None:
        """Point stable at a published, signed ``version``."""
        sha = self.published(version)
        self._put("stable", channel_document("stable", version, sha, self.key,
                                             rollback=rollback))
        log.warning("stable -> %s%s", version, " (rollback)" if rollback else "")

    def set_canary(self, version: str, percent: float) -> None:
        """Point the canary at ``version`` for ``percent`` % of the fleet.

        :raises ChannelError: percent outside (0, 100], the stable version, or as ``published``.
        """
        if not 0.0 < percent <= 100.0:
            raise ChannelError(f"--percent {percent!r}; allowed: more than 0, at most 100")
        stable = self.read("stable")
        if stable is not None and stable.pointer.version == version:
            raise ChannelError(f"version {version!r} is already stable")
        sha = self.published(version)
        self._put("canary", channel_document("canary", version, sha, self.key,
                                             percent=percent))
        log.warning("canary -> %s at %s %%", version, percent)

    def promote(self) -> str:
        """Stable := the canary's version; the canary pointer is then deleted.

        :raises ChannelError: no canary, or its pointer does not verify.
        """
        canary = self.read("canary")
        if canary is None:
            raise ChannelError(f"no canary to promote ({self.url(channel_rel('canary'))} "
                               "does not exist)")
        version = canary.pointer.version
        self.set_stable(version)
        self.s3.delete_object(Bucket=self.bucket, Key=self._k(channel_rel("canary")))
        return version

    def rollback(self, to: str | None = None) -> str:
        """Withdraw the canary; re-sign stable (or point it at ``to``) as a rollback.

        :raises ChannelError: no stable pointer and no ``to``; ``to`` as ``published``.
        """
        if to is None:
            stable = self.read("stable")
            if stable is None:
                raise ChannelError(f"no stable pointer ({self.url(channel_rel('stable'))}) to "
                                   "roll back to: give --to VERSION")
            to = stable.pointer.version
        self.set_stable(to, rollback=True)  # first: canary devices then have a way back
        self.s3.delete_object(Bucket=self.bucket, Key=self._k(channel_rel("canary")))
        return to
