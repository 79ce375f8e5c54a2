"""The scenario engine: physically grounded fires and nuisances (fire-science.md §3).

- ``SCENARIOS``: the twelve families by name (``FIRE_FAMILIES``, ``NUISANCE_FAMILIES``).
- ``make_scene(name, seed, duration_s, **overrides)``: one seeded run, an
  ``edge.sim.scene.Scene`` with its ``truth``.
- ``render_recording(name, seed, duration_s, frame_rate_hz=8.7, ...)``: straight to an
  ``edge.recording.Recording``, fast, for bulk training data.

See docs/scenarios.md for each family, its parameters and a picture.
"""

from __future__ import annotations

from edge.sim.scenarios.families import (
    FIRE_FAMILIES,
    NUISANCE_FAMILIES,
    SCENARIOS,
    ScenarioFamily,
)
from edge.sim.scenarios.scene import ScenarioScene, make_scene, render_recording

__all__ = [
    "FIRE_FAMILIES",
    "NUISANCE_FAMILIES",
    "SCENARIOS",
    "ScenarioFamily",
    "ScenarioScene",
    "make_scene",
    "render_recording",
]
