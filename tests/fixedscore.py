"""A scorer that gives every feature vector the same probability: for tests of the alarm
logic around the model (the pipeline's start-up guard, the flame and smoulder watches)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FixedScore:
    """A score with only a probability (what the alarm logic reads)."""

    probability: float
    members: Mapping[str, float] = field(default_factory=dict)
    top_features: list[tuple[str, float]] = field(default_factory=list)
    degraded: bool = False
    model_version: str = "fixed"


class FixedScorer:
    """Gives every feature vector the same fire probability."""

    def __init__(self, p: float) -> None:
        self.p = p

    def score(self, x: np.ndarray) -> FixedScore:
        return FixedScore(self.p)
