"""Ed25519 keys for signing model manifests.

The private key is PEM PKCS#8 (unencrypted), read from a file or from an environment variable
(``FIREDETECT_SIGNING_KEY`` holds the PEM text itself, for CI secrets); the public key a device
holds is PEM SubjectPublicKeyInfo. A signature is the base64 of the 64-byte Ed25519 signature
over the exact bytes of ``manifest.json``.

Usage::

    generate_keypair(Path("model-signing.pem"), Path("model-signing.pub.pem"))
    key = load_private_key(Path("model-signing.pem"))     # or load_private_key() → env var
    sig = sign(manifest_bytes, key)
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "SIGNING_KEY_ENV",
    "generate_keypair",
    "load_private_key",
    "private_key_from_pem",
    "public_key_pem",
    "sign",
]

SIGNING_KEY_ENV = "FIREDETECT_SIGNING_KEY"


def private_key_from_pem(pem: bytes, source: str) -> Ed25519PrivateKey:
    """Parse an unencrypted PEM PKCS#8 Ed25519 private key.

    :raises ValueError: naming ``source`` when the text is not such a key.
    """
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(
            f"{source}: not an unencrypted PEM PKCS#8 private key ({exc})"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{source}: the key is {type(key).__name__}; allowed: Ed25519 only")
    return key


def load_private_key(path: Path | None = None, *, env: str = SIGNING_KEY_ENV) -> Ed25519PrivateKey:
    """The signing key from ``path``, else from the PEM text in the environment variable ``env``.

    :raises ValueError: when neither is given, or the text is not an Ed25519 PEM key.
    """
    if path is not None:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"{path}: cannot read the signing key: {exc}") from None
        return private_key_from_pem(pem, str(path))
    text = os.environ.get(env)
    if not text:
        raise ValueError(
            f"no signing key: pass a key file, or put the PEM text in the environment "
            f"variable {env}"
        )
    return private_key_from_pem(text.encode("utf-8"), f"${env}")


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The PEM SubjectPublicKeyInfo of a key (what a device's ``model.public_key`` holds)."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """The unencrypted PEM PKCS#8 text of a private key."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generate_keypair(private_path: Path, public_path: Path) -> Ed25519PrivateKey:
    """Create a new key pair: the private key file mode 0600, the public key beside it.

    :raises FileExistsError: when either file exists (a key is never overwritten).
    """
    for p in (private_path, public_path):
        if Path(p).exists():
            raise FileExistsError(f"{p}: exists; refusing to overwrite a key")
    key = Ed25519PrivateKey.generate()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_pem(key))
    Path(public_path).write_bytes(public_key_pem(key))
    return key


def sign(data: bytes, key: Ed25519PrivateKey) -> bytes:
    """The base64 (ASCII bytes) of the Ed25519 signature of ``data``."""
    return base64.b64encode(key.sign(data))
