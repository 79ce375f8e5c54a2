"""Where the model comes from and how it is trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge.config.base import Section
from edge.config.urls import s3_endpoint_without_credentials


class ModelConfig(Section):
    """The scoring model: a local artifact, optionally kept up to date from S3."""

    path: Path | None = Field(
        None, description="a model folder or .tar.gz to use at start-up; cache used if unset"
    )
    public_key: Path | None = Field(
        None, description="Ed25519 public key (PEM) that model manifests must be signed with"
    )
    allow_unsigned: bool = Field(
        False, description="accept unsigned models (development only; refused by default)"
    )
    s3_url: str | None = Field(
        None, pattern=r"^s3://[a-z0-9.\-]{3,63}(/.*)?$", description="s3://bucket/prefix/"
    )
    s3_endpoint_url: str | None = Field(
        None, description="endpoint of an S3-compatible store; AWS when unset"
    )
    poll_interval_s: float = Field(
        300.0, ge=10.0, le=86400.0, description="how often to check S3 for a new model, s"
    )

    channel: Literal["auto", "stable", "canary"] | None = Field(
        None, description="release channel to follow under s3_url (channels/<name>.json): "
        "auto = canary when sha256(device.id) falls in the canary's percent; unset = latest.json"
    )
    shadow: bool = Field(
        False, description="score with the canary model beside the active one (never alarming "
        "on it) and report how often they disagree; needs channel"
    )

    @field_validator("s3_endpoint_url")
    @classmethod
    def _no_credentials(cls, v: str | None) -> str | None:
        return s3_endpoint_without_credentials(v)

    @model_validator(mode="after")
    def _channel_needs_s3(self) -> ModelConfig:
        if self.channel is not None and self.s3_url is None:
            raise ValueError(f"model.channel = {self.channel!r} needs model.s3_url (the channel "
                             "pointers live under it)")
        if self.shadow and self.channel is None:
            raise ValueError("model.shadow = true needs model.channel (\"auto\", \"stable\" or "
                             "\"canary\"): the shadow is the canary channel's model")
        return self
