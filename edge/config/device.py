"""Device identity and local state."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from edge.config.base import Section
from edge.config.topics import check_device_id


def _hostname() -> str:
    return socket.gethostname() or "firedetect"


class DeviceConfig(Section):
    """Who this device is and where it keeps its state."""

    id: str = Field(
        default_factory=_hostname,
        description="device id used in MQTT topics; defaults to the hostname",
    )
    state_dir: Path = Field(
        Path("/var/lib/firedetect"), description="outbox, cached models and seq live here"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="logging level"
    )

    @field_validator("id")
    @classmethod
    def _single_level(cls, v: str) -> str:
        return check_device_id(v)
