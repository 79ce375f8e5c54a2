"""The smoulder watch: a new hot spot that keeps heating or spreading for minutes."""

from __future__ import annotations

from pydantic import Field, model_validator

from edge.config.base import Section


class SmoulderConfig(Section):
    """When a new hot spot counts as smouldering (``edge.detect.smoulder``). It keeps its own
    memory of the scene at its own line (``known_c``), as long as the flame watch's
    (``[flame]`` ``memory_s``, ``warmup_s``)."""

    enabled: bool = Field(True, description="watch for smouldering spots at all")
    known_c: float | None = Field(
        60.0, ge=40.0, le=400.0,
        description="a pixel this hot is a warm spot the watch remembers and follows (°C): an "
        "overheating contact or a smoulder seen from afar through a few mixed pixels heats "
        "steadily from 45-60 °C for many minutes before it reads 100 °C; unset: the flame "
        "watch's [flame] known_c and its memory",
    )
    new_s: float = Field(
        3600.0, ge=60.0, le=86400.0,
        description="a pixel counts as new for this long after it first got hot (s)",
    )
    step_s: float = Field(60.0, ge=5.0, le=600.0, description="one step of the watch (s)")
    steps: int = Field(
        5, ge=2, le=60, description="the spot must heat or spread in each of this many steps"
    )
    min_heat_k: float = Field(
        1.0, ge=0.0, le=100.0,
        description="heating: its hottest pixel (step median) rose by at least this per step (K)",
    )
    steadiness: float = Field(
        0.5, ge=0.0, le=1.0,
        description="heating: the smallest step rise is at least this share of the largest "
        "(a steady rise, not a hob or grate coming up to temperature)",
    )
    min_spread_px: int = Field(
        2, ge=1, le=10000,
        description="spreading: its area grew by at least this per step (pixels of a "
        "Lepton 3.x's 160 × 120; on a smaller frame the same share of it, rounded up)",
    )
    min_spread_frac: float = Field(
        0.1, ge=0.0, le=10.0, description="spreading: and by at least this share per step"
    )
    slow_steps: int = Field(
        10, ge=0, le=120,
        description="slow spreading (0: off): over this many steps the new area never fell "
        "under slow_keep of its largest so far, grew past that largest in at least half of "
        "them and in one of the last three, and at least doubled by slow_min_px or more (a "
        "smoulder front creeps on for tens of minutes in pixel-sized jumps; a cooking or "
        "heating object stops at its own size within minutes)",
    )
    slow_keep: float = Field(
        0.75, gt=0.0, le=1.0,
        description="slow spreading: the share of its largest area so far (in the window) "
        "the new area never fell under (1: it never shrank). A step's area is a median at a "
        "line, and a small spot seen through smoke or from afar loses a pixel row now and then",
    )
    slow_min_px: int = Field(
        6, ge=1, le=10000,
        description="slow spreading: the area grew by at least this (pixels of a Lepton 3.x "
        "frame, as min_spread_px)"
    )
    core_growth: float = Field(
        1.0, ge=0.0, le=100.0,
        description="spreading (either rule): the spot's core, its pixels at least halfway "
        "from the scene to their own region's hottest, also grew over the window by "
        "min_spread_px and by this share of itself (1: doubled; 0: off). A smoulder's front "
        "widens its core; a pan, a hob or a heater coming up to temperature widens the line "
        "around it (known_c) but keeps the core it has",
    )
    min_score: float | None = Field(
        None, ge=0.0, le=1.0,
        description="a smouldering spot alarms when the model's score is at least this; unset: "
        "the model's own bar, chosen on its validation runs (manifest "
        "detection.smoulder_min_score), else 0",
    )
    early_steps: int | None = Field(
        None, ge=0, le=59,
        description="sooner: a spot that heated or spread in each of this many steps (fewer "
        "than steps) alarms when the model's score is at least early_min_score; both or "
        "neither; unset: the model's own (manifest detection.smoulder_early_steps / "
        "smoulder_early_min_score), else off; 0: off",
    )
    early_min_score: float | None = Field(
        None, ge=0.0, le=1.0,
        description="the score a spot seen for early_steps must reach (see early_steps)",
    )

    @model_validator(mode="after")
    def _early(self) -> SmoulderConfig:
        if self.early_steps == 0:
            if self.early_min_score is not None:
                raise ValueError("early_min_score with early_steps 0 (off); allowed: "
                                 "early_min_score unset when early_steps is 0")
            return self
        if (self.early_steps is None) != (self.early_min_score is None):
            raise ValueError("early_steps and early_min_score: one is set; allowed: both or "
                             "neither (neither: the model's own)")
        if self.early_steps is not None and not 2 <= self.early_steps < self.steps:
            raise ValueError(f"early_steps {self.early_steps} with steps {self.steps}; "
                             "allowed: from 2 to steps - 1 (0: off)")
        return self
