"""The gas watch: the model's score with the camera blanked, held high (a fire out of view)."""

from __future__ import annotations

from pydantic import Field

from edge.config.base import Section


class GasConfig(Section):
    """When the gas alone says fire (``edge.detect.evidence.GasSource``): the model's score of
    the SCD41's features, the camera's blanked, stays at or above a bar for ``hold_s``."""

    enabled: bool = Field(True, description="let the gas alone raise an alarm at all")
    min_score: float | None = Field(
        None, ge=0.0, le=1.0,
        description="the gas-only score that alarms when held for hold_s; unset: the model's "
        "own bar, chosen on its validation runs (manifest detection.gas_min_score), else off",
    )
    hold_s: float = Field(
        10.0, ge=0.0, le=600.0,
        description="the gas-only score must stay at or above the bar this long (s); the "
        "SCD41 reads every 5 s, so 10 s spans at least two readings and no single reading "
        "alarms",
    )
