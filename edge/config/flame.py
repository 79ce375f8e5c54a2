"""The growing-flame watch: new hot pixels that keep spreading (edge/detect/flame.py)."""

from __future__ import annotations

from pydantic import Field, model_validator

from edge.config.base import Section


class FlameConfig(Section):
    """When a new, steadily growing hot region counts as a flame (``edge.detect.flame``)."""

    enabled: bool = Field(True, description="watch for growing flames at all")
    hot_c: float = Field(
        140.0, ge=60.0, le=400.0,
        description="a pixel this hot (°C, apparent) is flame-hot; 140 °C is the lowest "
        "high-gain clip, so it shows in either gain",
    )
    ceiling_min_c: float = Field(
        135.0, ge=60.0, le=1000.0,
        description="a frame whose hottest value is shared by at least 2 pixels and is at "
        "least this hot (°C) sits at its camera's ceiling: its pixels there count as at hot_c "
        "even if the ceiling is under it. Lepton high gain is specified to 140 °C ±5 °C "
        "(sensors.md), so a unit, or a resolution of 0.1 K (139.95 °C), may clip under "
        "hot_c; above hot_c: off",
    )
    known_c: float = Field(
        100.0, ge=40.0, le=400.0,
        description="a pixel this hot is a hot object the watch remembers (°C)",
    )
    memory_s: float = Field(
        1800.0, ge=60.0, le=86400.0,
        description="a pixel hot within this long is part of the scene, not news (s)",
    )
    warmup_s: float = Field(
        20.0, ge=0.0, le=600.0,
        description="whatever is hot this soon after start is part of the scene (s)",
    )
    new_s: float = Field(
        300.0, ge=10.0, le=3600.0,
        description="a pixel counts as new for this long after it first got hot (s)",
    )
    step_s: float = Field(2.0, gt=0.0, le=30.0, description="growth is checked per step (s)")
    steps: int = Field(
        4, ge=2, le=30,
        description="the new region (its peak in each step) must have grown in each of this "
        "many steps",
    )
    min_growth_px: int = Field(
        12, ge=1, le=10000,
        description="and by at least this many pixels over the last growth_steps steps (of "
        "a Lepton 3.x's 160 × 120; on a smaller frame the same share of it, rounded up)",
    )
    growth_steps: int = Field(
        5, ge=1, le=60,
        description="min_growth_px is counted over this many steps (10 s; never fewer than "
        "steps): a slow flame's growth, not the number of steps in a row",
    )
    min_px: int = Field(
        12, ge=1, le=10000,
        description="and be at least this many pixels (of a Lepton 3.x frame, as min_growth_px)",
    )
    min_rise_k_s: float = Field(
        3.0, ge=0.0, le=1000.0,
        description="and its new pixels must have crossed hot_c this fast (median, K/s)",
    )
    trend_steps: int = Field(
        8, ge=0, le=60,
        description="or growing as a trend (0: off): over this many steps the region was "
        "there in each, is larger (its peak in each step) in at least trend_share of all "
        "pairs of steps, the later against the earlier, grew by min_growth_px, and grew in "
        "the later half at least as much as in the earlier (a slow or strongly flickering "
        "flame, whose growth does not show in each step; an appliance warming up slows down)",
    )
    trend_share: float = Field(
        0.8, gt=0.5, le=1.0,
        description="the share of later-larger step pairs a trend needs",
    )
    sure_steps: int = Field(
        7, ge=0, le=60,
        description="a region that rose in each of this many steps is a flame whatever the "
        "model's score (0: always ask the model); 7 steps of 2 s outlast a burner's ignition "
        "(seconds) and a heater's or pan's edge crossing hot_c (slower than min_rise_k_s)",
    )
    min_score: float | None = Field(
        None, ge=0.0, le=1.0,
        description="a growing flame alarms when the model's score is at least this; unset: "
        "the model's own bar, chosen on its validation runs (manifest "
        "detection.flame_min_score), else 0.2",
    )
    ladder: list[tuple[float, float]] | None = Field(
        None, max_length=8,
        description="lower bars for a flame that has kept growing: [seconds, score] pairs, "
        "seconds ascending; a flame growing for at least that many seconds alarms at that "
        "score (the lowest that applies, never above min_score's). Unset: the model's own "
        "(manifest detection.flame_ladder) when min_score is unset too, else none; []: none",
    )

    @model_validator(mode="after")
    def _order(self) -> FlameConfig:
        if self.known_c > self.hot_c:
            raise ValueError(f"known_c ({self.known_c}) must not exceed hot_c ({self.hot_c})")
        rungs = self.ladder or []
        for i, (seconds, score) in enumerate(rungs):
            if not (0.0 < seconds <= 600.0 and 0.0 <= score <= 1.0) or (
                    i and seconds <= rungs[i - 1][0]):
                raise ValueError(
                    f"ladder rung {i + 1} [{seconds}, {score}]; allowed: seconds in (0, 600], "
                    "ascending, and a score from 0 to 1")
        return self
