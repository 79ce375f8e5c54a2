"""URLs in the config: the broker URL parsed in one place, and secrets kept out of messages.

A password never belongs in the config (``mqtt.password_env`` names where it is read from,
:mod:`edge.mqtt.credentials`), so a URL with user info (``mqtt://bob:secret@host`` or
``mqtt://TOKEN@host``) is refused rather than used or silently stripped, and every message
that could echo such a value shows it as ``mqtt://***@host``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

__all__ = ["is_secret_key", "parse_broker_url", "redact", "redact_value", "refuse_userinfo"]

BROKER_URL_FORM = "mqtt://host[:port] or mqtts://host[:port] (port 1–65535)"
NO_USERINFO = (
    "no user name or password in the URL: put the user name (or a broker access token "
    "used as one) in mqtt.username and the password in the environment variable or systemd "
    "credential named by mqtt.password_env"
)

# scheme://<anything up to the last @ of the token>@ ; greedy, so a password holding '@'
# is covered whole.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^\s'\"]*@")
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|credential", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the user info of every URL in it replaced by ``***``."""
    if "://" in text and "@" in text:
        # A value that is one URL: cut at its last '@' whatever the password holds.
        scheme, sep, rest = text.partition("://")
        if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", scheme) and "@" in rest:
            return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return _URL_USERINFO.sub(r"\g<scheme>***@", text)


def is_secret_key(key: str) -> bool:
    """Whether a config key name looks like it holds a secret (``password``, ``token`` ...).

    ``mqtt.password_env`` holds the *name* of a variable, not a secret.
    """
    return bool(_SECRET_KEY.search(key)) and not key.endswith("_env")


def redact_value(value: Any, key: str = "") -> Any:
    """``value`` safe to show: URL user info and the values of secret-looking keys hidden."""
    if key and is_secret_key(key) and value is not None:
        return "<redacted>"
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def refuse_userinfo(url: str) -> None:
    """:raises ValueError: ``url`` carries a user name or password (``NO_USERINFO``)."""
    _scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("?")[0].split("#")[0]:
        raise ValueError(NO_USERINFO)


def s3_endpoint_without_credentials(url: str | None) -> str | None:
    """``url`` unchanged, for an ``s3_endpoint_url`` setting.

    :raises ValueError: it carries a user name or password (S3 credentials come from the
        standard AWS chain, never from the URL).
    """
    if url is not None:
        try:
            refuse_userinfo(url)
        except ValueError:
            raise ValueError(
                "an endpoint URL without user name or password: S3 credentials come from "
                "the standard AWS chain (environment, ~/.aws, instance role)"
            ) from None
    return url


def parse_broker_url(url: str) -> tuple[str, int, bool]:
    """``(host, port, tls)`` of a broker URL; the port defaults to 1883 (mqtt) or 8883 (mqtts).

    :raises ValueError: a message saying what is allowed; it never repeats the URL.
    """
    if any(c.isspace() for c in url):
        raise ValueError(f"{BROKER_URL_FORM}; no spaces")
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(BROKER_URL_FORM)
    refuse_userinfo(url)
    if not parts.hostname:
        raise ValueError(f"{BROKER_URL_FORM}; the host is missing")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ValueError(f"{BROKER_URL_FORM}; the port given is not a number in 1–65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{BROKER_URL_FORM}; nothing after the port")
    tls = parts.scheme == "mqtts"
    return parts.hostname, port or (8883 if tls else 1883), tls
