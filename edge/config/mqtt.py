"""The MQTT link."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from edge.config.base import Section
from edge.config.topics import check_topic_prefix
from edge.config.urls import parse_broker_url


class TlsConfig(Section):
    """TLS to the broker. Secrets never live in this file."""

    enabled: bool = Field(False, description="use TLS")
    ca_file: Path | None = Field(None, description="CA bundle (PEM); system store when unset")
    cert_file: Path | None = Field(None, description="client certificate (PEM)")
    key_file: Path | None = Field(None, description="client private key (PEM)")
    insecure: bool = Field(False, description="skip hostname verification (testing only)")


class MqttConfig(Section):
    """Broker, identity and topics."""

    url: str = Field(
        "mqtt://localhost:1883",
        description="broker as mqtt://host:port or mqtts://host:port; no user or password here",
    )
    username: str | None = Field(
        None, repr=False, description="user name (or access token), if the broker wants one"
    )
    password_env: str = Field(
        "FIREDETECT_MQTT_PASSWORD",
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$",
        description="environment variable holding the password (or systemd credential name)",
    )
    base_topic: str | None = Field(
        None, description="topic prefix; firedetect/<device id> when unset"
    )
    discovery_prefix: str = Field("homeassistant", description="Home Assistant discovery prefix")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive, s")
    telemetry_interval_s: float = Field(10.0, ge=1.0, le=3600.0, description="telemetry period")
    reconnect_min_s: float = Field(
        0.5, ge=0.1, le=60.0, description="first wait before reconnecting to a lost broker, s"
    )
    reconnect_max_s: float = Field(
        4.0, ge=0.1, le=60.0,
        description="longest wait between reconnect attempts, s (doubling from the first, "
        "each a random 50-100 %): a queued alarm waits at most this long after the broker "
        "is back",
    )
    tls: TlsConfig = TlsConfig()

    @field_validator("url")
    @classmethod
    def _broker_url(cls, v: str) -> str:
        parse_broker_url(v)
        return v

    @field_validator("base_topic", "discovery_prefix")
    @classmethod
    def _topic_prefix(cls, v: str | None) -> str | None:
        return None if v is None else check_topic_prefix(v)

    @model_validator(mode="after")
    def _reconnect_order(self) -> MqttConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError(
                f"reconnect_min_s ({self.reconnect_min_s}) must not exceed reconnect_max_s "
                f"({self.reconnect_max_s})"
            )
        return self
