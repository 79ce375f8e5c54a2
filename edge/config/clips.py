"""Clips: short recordings around alarms, near-misses, faults and verdicts, uploaded to S3."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from edge.config.base import Section
from edge.config.urls import s3_endpoint_without_credentials


class ClipsConfig(Section):
    """``[clips]``: what the device records around the moments that matter, and where it goes
    (docs/clips.md). Off by default: nothing is recorded or uploaded unless ``enabled``."""

    enabled: bool = Field(False, description="record clips and upload them to s3_url")
    s3_url: str | None = Field(
        None, pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$",
        description="s3://bucket/prefix/",
    )
    s3_endpoint_url: str | None = Field(
        None, description="endpoint of an S3-compatible store; AWS when unset"
    )
    pre_s: float = Field(60.0, ge=1.0, le=600.0, description="seconds kept before a trigger")
    post_s: float = Field(30.0, ge=0.0, le=600.0, description="seconds recorded after it")
    frame_rate_hz: float = Field(
        2.0, gt=0.0, le=9.0, description="thermal frames per second kept in a clip"
    )
    near_miss_fraction: float = Field(
        0.5, gt=0.0, lt=1.0, description="a score ≥ this × the alarm threshold is a near-miss"
    )
    near_miss_cooldown_s: float = Field(
        600.0, ge=0.0, le=86400.0, description="at most one near-miss clip per this many s"
    )
    max_queue_mb: float = Field(
        200.0, gt=0.0, le=100000.0, description="disk cap of the upload queue, MB"
    )
    max_upload_kbps: float = Field(
        256.0, gt=0.0, le=1000000.0, description="average upload bandwidth cap, kbit/s"
    )

    @field_validator("s3_endpoint_url")
    @classmethod
    def _no_credentials(cls, v: str | None) -> str | None:
        return s3_endpoint_without_credentials(v)

    @model_validator(mode="after")
    def _url_when_enabled(self) -> ClipsConfig:
        if self.enabled and self.s3_url is None:
            raise ValueError(
                "clips.s3_url set to s3://bucket/prefix/ when clips.enabled = true "
                "(s3_url is missing)"
            )
        return self

    @property
    def ring_bytes(self) -> int:
        """Upper bound of the RAM ring's frame memory at 160×120 uint16 (gas is negligible)."""
        return int((self.pre_s + self.post_s) * self.frame_rate_hz + 2) * 160 * 120 * 2
