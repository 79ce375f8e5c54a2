"""Alarm decision logic."""

from __future__ import annotations

from pydantic import Field, model_validator

from edge.config.base import Section


class AlarmConfig(Section):
    """The idle → pre-alarm → alarm → clear state machine."""

    threshold: float | None = Field(
        None, gt=0.0, lt=1.0, description="fire score threshold; the model's own when unset"
    )
    clear_threshold: float | None = Field(
        None, gt=0.0, lt=1.0, description="score below which an alarm may clear (hysteresis)"
    )
    pre_alarm_s: float = Field(
        3.0, ge=0.0, le=120.0, description="score must stay above threshold this long to alarm"
    )
    clear_s: float = Field(
        30.0, ge=0.0, le=3600.0, description="score must stay below clear threshold this long"
    )
    min_alarm_s: float = Field(
        60.0, ge=0.0, le=3600.0, description="an alarm lasts at least this long"
    )
    fast_path_score: float = Field(
        0.98, gt=0.0, le=1.0, description="a score this high alarms at once"
    )
    scene_threshold: float | None = Field(
        None, gt=0.0, lt=1.0,
        description="while every hot pixel in view (>= flame.known_c) is part of the known "
        "scene (a fireplace, a heater, a hob on for minutes), a score under this alarms only "
        "if the score without the thermal features does too; halfway from the threshold to "
        "1 when unset",
    )
    hold_threshold: float | None = Field(
        None, gt=0.0, lt=1.0,
        description="a score held at or above this for hold_s alarms (reason 'sustained'): "
        "the model's own when unset (chosen on its validation runs: no no-fire run holds "
        "it); off when neither sets one",
    )
    hold_s: float | None = Field(
        None, ge=0.0, le=3600.0,
        description="how long (s) the score must be held at hold_threshold; the model's own "
        "when unset, else 300; 0 turns the sustained alarm off",
    )
    startup_s: float = Field(
        0.0,
        ge=0.0,
        le=600.0,
        description="after start, only a fast-path score alarms this long (feature windows "
        "still filling, first SCD41 reading pending)",
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> AlarmConfig:
        if (
            self.threshold is not None
            and self.clear_threshold is not None
            and self.clear_threshold > self.threshold
        ):
            raise ValueError(
                f"clear_threshold ({self.clear_threshold}) must not exceed threshold "
                f"({self.threshold})"
            )
        return self
