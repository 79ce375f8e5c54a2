"""A nuisance running beside a CFAST fire (issue 14: "a fire starting while someone cooks").

``draw_beside(name, seed, width, depth)`` draws, from its own random stream
``default_rng((seed, BESIDE_STREAM))`` (so the fire's own draws do not move), a CFAST nuisance
family's source (``BESIDE_FAMILIES``: a gas hob, a candle, a heater, oil heating up), where it
stands on the floor and in the image, and how long before the fire it was switched on
(``BESIDE_RANGES``: 60–600 s). CFAST then gets it as a second ``&FIRE`` (``ExtraFire``,
id ``NUIS``) and the camera sees both. CFAST's time 0 becomes the nuisance's switch-on; the
fire's curve is shifted by ``lead_s`` (``shifted``), so the fire's labels and
``fire_start_s`` stay those of the fire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.sim.cfast.families import CFAST_FAMILIES, FIRE
from edge.sim.cfast.hrr import HrrCurve
from edge.sim.cfast.inputs import ExtraFire
from edge.sim.cfast.scene import View
from edge.sim.cfast.source import Placement, Source
from edge.sim.scenarios.base import Draw, Range
from edge.sim.scenarios.thermal import ThermalObject
from edge.types import FloatArray

BESIDE_STREAM = 41
BESIDE_ID = "NUIS"
#: The nuisances that may run beside a CFAST fire, and how often each is drawn.
BESIDE_FAMILIES = ("cfast_gas_hob", "cfast_oil_heating", "cfast_heater", "cfast_candle")
BESIDE_WEIGHTS = (0.35, 0.25, 0.25, 0.15)
BESIDE_RANGES: dict[str, Range] = {
    "beside_lead_s": (60.0, 600.0),  # switched on this long before the fire
    "beside_x_frac": (0.1, 0.9),
    "beside_y_frac": (0.1, 0.6),
    "beside_u": (0.15, 0.85),
}


@dataclass
class Beside:
    """A drawn nuisance beside the fire."""

    family: str
    source: Source
    lead_s: float
    xy: tuple[float, float]
    u: float
    params: dict[str, Any]

    def extra_fire(self) -> ExtraFire:
        """The nuisance as CFAST's second fire object (its time 0 is CFAST's)."""
        return ExtraFire(BESIDE_ID, self.source.curve, self.source.fuel, self.xy,
                         self.source.z_m)

    def truth(self, start_s: float) -> dict[str, Any]:
        """What goes into the run's truth: the family, when it went on (scene time), where,
        and its drawn parameters."""
        return {"family": self.family, "source_on_s": start_s, "lead_s": self.lead_s,
                "xy_m": list(self.xy), "params": self.params}


def choose_beside(seed: int) -> str:
    """Which nuisance runs beside a fire of run ``seed`` (its own stream)."""
    rng = np.random.default_rng((seed, BESIDE_STREAM, 1))
    return str(BESIDE_FAMILIES[int(rng.choice(len(BESIDE_FAMILIES), p=BESIDE_WEIGHTS))])


def draw_beside(name: str, seed: int, width: float, depth: float) -> Beside:
    """Draw nuisance ``name`` for the fire of run ``seed`` in a ``width`` × ``depth`` room.

    :raises ValueError: ``name`` is not a CFAST nuisance family.
    """
    fam = CFAST_FAMILIES.get(name)
    if fam is None or fam.label == FIRE:
        nuisances = [n for n, f in CFAST_FAMILIES.items() if f.label != FIRE]
        raise ValueError(f"co-nuisance {name!r}; allowed: a CFAST nuisance family "
                         f"({', '.join(nuisances)})")
    params: dict[str, Any] = {}
    d = Draw(np.random.default_rng((seed, BESIDE_STREAM)), {**BESIDE_RANGES, **fam.ranges},
             {}, params)
    lead = d.uniform("beside_lead_s")
    xy = (d.uniform("beside_x_frac") * width, d.uniform("beside_y_frac") * depth)
    u = d.uniform("beside_u")
    source = fam.build(d)
    return Beside(name, source, lead, xy, u, params)


def paint_beside(beside: Beside, view: View, fire_at: Placement, cfast0_s: float,
                 device_xy: tuple[float, float]) -> list[ThermalObject]:
    """The nuisance's thermal objects: its own place in the image, the fire's view of the
    room (in view or not, occlusion), its heat from its own curve (CFAST's time 0 at scene
    time ``cfast0_s``)."""
    distance = max(1.0, float(np.hypot(beside.xy[0] - device_xy[0],
                                       beside.xy[1] - device_xy[1])))
    v = float(np.clip(view.row_fraction(beside.source.z_m, distance), 0.05, 0.98))
    at = Placement(u=beside.u, v=v, distance_m=distance, visible=fire_at.visible,
                   room_c=fire_at.room_c, horizon_s=fire_at.horizon_s, seed=fire_at.seed + 1,
                   start_s=cfast0_s)
    curve = beside.source.curve

    def hrr(t: FloatArray) -> FloatArray:
        return curve.at(np.asarray(t, dtype=np.float64) - cfast0_s)

    return beside.source.paint(hrr, at)


def shifted(curve: HrrCurve, lead_s: float) -> HrrCurve:
    """``curve`` starting ``lead_s`` later (nothing before)."""
    if lead_s <= 0:
        return curve
    return HrrCurve((0.0, *(t + lead_s for t in curve.t_s)), (0.0, *curve.hrr_kw))
