"""The ``latest.json`` pointer: parse it, check its signature, and order model versions.

Unsigned (format of every publisher so far): ``{"version", "key", "sha256"}``. Signed, as
``cloud.s3.upload_artifact(..., private_key=...)`` writes it: the same fields plus
``"published"`` (UTC, when the pointer was signed), ``"rollback"`` (bool) and ``"signature"``
= base64 Ed25519 over ``canonical_json`` of every other field, with the model-signing key.

Downgrade rule (``ModelUpdater``): a model older than the one in use (``model_time``: the
signed manifest's ``created``, else the UTC time a version name starts with) is refused unless
the pointer is signed, verifies, says ``"rollback": true`` and was published after the model
in use was created (so an old rollback pointer cannot be replayed against a newer model).
An unsigned pointer still upgrades; a pointer with a bad signature is refused.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.model.verify import VERSION_RE

__all__ = [
    "Pointer",
    "PointerFormatError",
    "PointerSignatureError",
    "canonical_json",
    "downgrade_reason",
    "model_time",
    "parse_pointer",
    "parse_utc",
]

KEY_RE = re.compile(r"^versions/[A-Za-z0-9._-]{1,128}\.tar\.gz$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_TIME_RE = re.compile(r"^(\d{8}T\d{6}Z)(?:-|$)")


class PointerFormatError(ValueError):
    """``latest.json`` is not a pointer (retried at the next poll)."""


class PointerSignatureError(ValueError):
    """``latest.json`` carries a signature that does not verify (refused and reported)."""


@dataclass(frozen=True, slots=True)
class Pointer:
    """What ``latest.json`` names; ``rollback`` is True only for a verified signed pointer."""

    version: str
    key: str
    sha256: str
    signed: bool = False
    rollback: bool = False
    published: dt.datetime | None = None


def canonical_json(doc: dict[str, Any]) -> bytes:
    """The bytes a pointer signature covers: sorted keys, no spaces, ASCII."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def parse_utc(text: Any) -> dt.datetime | None:
    """An ISO-8601 time as an aware UTC datetime (naive means UTC); None if not one."""
    if not isinstance(text, str):
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def model_time(manifest: dict[str, Any], version: str) -> dt.datetime | None:
    """When a model was made: the signed manifest's ``created``, else the UTC time its
    version name starts with (``20261129T000800Z-7e67e658``), else None."""
    created = parse_utc(manifest.get("created"))
    if created is not None:
        return created
    m = _NAME_TIME_RE.match(version)
    if m:
        return dt.datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return None


def parse_pointer(body: bytes, public_key: Ed25519PublicKey | None) -> Pointer:
    """Parse ``latest.json``; verify its signature when it has one and a key is configured.

    A signed pointer read without a key is treated as unsigned (its ``rollback`` ignored).

    :raises PointerFormatError: not JSON, or a field malformed (named).
    :raises PointerSignatureError: a signature that does not verify against ``public_key``.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PointerFormatError(f"not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise PointerFormatError("not a JSON object")
    version, rel, sha = doc.get("version"), doc.get("key"), doc.get("sha256")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise PointerFormatError(f"'version' {version!r} is not a valid version")
    if not isinstance(rel, str) or not KEY_RE.match(rel):
        raise PointerFormatError(f"'key' {rel!r}; allowed: versions/<version>.tar.gz")
    if not isinstance(sha, str) or not SHA_RE.match(sha):
        raise PointerFormatError(f"'sha256' {sha!r} is not 64 lowercase hex digits")
    if "signature" not in doc or public_key is None:
        return Pointer(version, rel, sha)
    signed = {k: v for k, v in doc.items() if k != "signature"}
    try:
        sig = base64.b64decode(str(doc["signature"]), validate=True)
        public_key.verify(sig, canonical_json(signed))
    except (binascii.Error, ValueError, InvalidSignature):
        raise PointerSignatureError(
            "its 'signature' does not verify against model.public_key (tampered pointer or "
            "another signer); refused"
        ) from None
    rollback = doc.get("rollback", False)
    if not isinstance(rollback, bool):
        raise PointerFormatError(f"'rollback' {rollback!r}; allowed: true or false")
    published = parse_utc(doc.get("published"))
    if rollback and published is None:
        raise PointerFormatError(f"'published' {doc.get('published')!r}: a rollback pointer "
                                 "needs the UTC time it was signed")
    return Pointer(version, rel, sha, signed=True, rollback=rollback, published=published)


def downgrade_reason(
    new_manifest: dict[str, Any], new_version: str, cur_manifest: dict[str, Any], cur_version: str
) -> str | None:
    """Why the new model is older than the one in use, or None when it is not.

    Equal times are not a downgrade; a new model with no time against a dated one is.
    """
    cur_t = model_time(cur_manifest, cur_version)
    if cur_t is None:
        return None
    new_t = model_time(new_manifest, new_version)
    if new_t is not None and new_t >= cur_t:
        return None
    made = f"made {new_t:%Y-%m-%dT%H:%M:%SZ}" if new_t else "with no creation time"
    return (
        f"model {new_version} ({made}) is older than model {cur_version} in use (made "
        f"{cur_t:%Y-%m-%dT%H:%M:%SZ}); a downgrade needs a signed latest.json saying "
        '"rollback": true'
    )
