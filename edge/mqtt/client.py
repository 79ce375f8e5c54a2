"""Building the paho client for :mod:`edge.mqtt.link`: broker URL, Last Will, credentials, TLS.

Kept apart from the link's logic so each reads in one sitting. The password comes from
:func:`edge.mqtt.credentials.read_secret` (environment or ``$CREDENTIALS_DIRECTORY``) and goes
only to paho — never into a log line or a payload.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.config.mqtt import MqttConfig
from edge.config.urls import parse_broker_url, redact
from edge.errors import MqttError
from edge.mqtt.credentials import read_secret
from edge.mqtt.discovery import NOT_AVAILABLE

log = logging.getLogger(__name__)


class _NotConnectedFilter(logging.Filter):
    """Drop paho's "Client is not connected" ERROR, logged on every loop pass while the broker
    is away: the link reports the outage itself, once per change, so this is only noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client is not connected")

Payload = bytes | str | Mapping[str, Any]
def encode(payload: Payload) -> bytes:
    """Bytes as they are, str as UTF-8, a mapping as compact JSON."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def broker_address(url: str) -> tuple[str, int, bool]:
    """``(host, port, tls)`` of an ``mqtt://`` or ``mqtts://`` URL.

    :raises ValueError: naming mqtt.url, what was given (user info shown as ``***``) and
        what is allowed: another scheme, no host, a port out of 1–65535, user info.
    """
    try:
        return parse_broker_url(url)
    except ValueError as exc:
        raise ValueError(f"mqtt.url: given {redact(url)!r}; allowed: {exc}") from None


def make_client(
    config: MqttConfig,
    client_id: str,
    availability_topic: str,
    *,
    tls: bool,
    environ: Mapping[str, str] | None = None,
) -> paho.Client:
    """A VERSION2 paho client with its retained ``offline`` Last Will, credentials and TLS set.

    :raises MqttError: a TLS file is missing or cannot be loaded.
    :raises ConfigError: the systemd credential file exists but cannot be read.
    """
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv311,
        clean_session=True,
    )
    paho_log = logging.getLogger("edge.mqtt.paho")
    if not any(isinstance(f, _NotConnectedFilter) for f in paho_log.filters):
        paho_log.addFilter(_NotConnectedFilter())
    client.enable_logger(paho_log)
    client.will_set(availability_topic, NOT_AVAILABLE, qos=1, retain=True)
    if config.username:
        password = read_secret(config.password_env, environ)
        if password is None:
            # The user name is not logged: some brokers take an access token as user name.
            log.warning(
                "mqtt: mqtt.username is set but there is no password (set $%s or the "
                "systemd credential %s)",
                config.password_env, config.password_env,
            )
        client.username_pw_set(config.username, password)
    if tls:
        _set_tls(client, config)
    return client


def _set_tls(client: paho.Client, config: MqttConfig) -> None:
    t = config.tls
    for label, path in (("ca_file", t.ca_file), ("cert_file", t.cert_file),
                        ("key_file", t.key_file)):
        if path is not None and not path.is_file():
            raise MqttError(f"mqtt.tls.{label}: {path}: no such file")
    try:
        client.tls_set(
            ca_certs=str(t.ca_file) if t.ca_file else None,
            certfile=str(t.cert_file) if t.cert_file else None,
            keyfile=str(t.key_file) if t.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise MqttError(f"mqtt.tls: cannot load the TLS files: {exc}") from exc
    client.tls_insecure_set(t.insecure)
