"""The files a config names, checked on this machine by ``firedetect validate-config``.

Not part of loading: the daemon must still start when the model file is missing (it scores
with the cached model or the rule fallback, degraded, and says so in its health), so a
missing file is never a reason to refuse a start or a reload. ``validate-config`` reports
each one, saying what the daemon would do without it.
"""

from __future__ import annotations

from pathlib import Path

from edge.config import Config
from edge.errors import ModelError

__all__ = ["file_problems"]


def _missing(key: str, path: Path, allowed: str, consequence: str) -> str:
    return (f"{key}: given {str(path)!r}: no such file on this machine; allowed: {allowed} "
            f"({consequence})")


def file_problems(config: Config) -> list[str]:
    """One line per named file that is missing or unusable: key path, given, allowed."""
    problems: list[str] = []
    model = config.model
    if model.path is not None and not model.path.exists():
        problems.append(_missing(
            "model.path", model.path, "an existing model folder or .tar.gz",
            "without it the daemon starts with its cached model, or degraded on the rule "
            "fallback",
        ))
    if model.public_key is not None:
        if not model.public_key.is_file():
            problems.append(_missing(
                "model.public_key", model.public_key, "an Ed25519 public key file (PEM)",
                "without it every signed model is refused and the daemon runs degraded on the "
                "rule fallback",
            ))
        else:
            from edge.model.verify import load_public_key

            try:
                load_public_key(model.public_key)
            except ModelError as exc:
                problems.append(f"model.public_key: {exc}")
    tls = config.mqtt.tls
    uses_tls = tls.enabled or config.mqtt.url.startswith("mqtts://")
    for label, path in (("ca_file", tls.ca_file), ("cert_file", tls.cert_file),
                        ("key_file", tls.key_file)):
        if uses_tls and path is not None and not path.is_file():
            problems.append(_missing(
                f"mqtt.tls.{label}", path, "an existing PEM file",
                "without it the daemon refuses to start",
            ))
    return problems
