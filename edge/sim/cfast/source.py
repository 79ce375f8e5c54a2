"""What a CFAST family draws: a ``Source`` (its curve and fuel for CFAST, and how the camera
sees it), where it sits in the image (``Placement``), and the shared flame painter.

Split from families.py so the appliance families (appliances.py) can use them too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge.sim.cfast.hrr import Fuel, HrrCurve
from edge.sim.scenarios.base import Draw, Range
from edge.sim.scenarios.physics import FlickerSignal, puffing_hz
from edge.sim.scenarios.signals import Signal
from edge.sim.scenarios.thermal import Flame, ThermalObject
from edge.types import ZERO_C_K, FloatArray

FIRE, NO_FIRE = "fire", "no-fire"


@dataclass
class Source:
    """A drawn source: its curve and fuel for CFAST, and how the camera sees it.

    ``paint`` builds the thermal objects once CFAST has run: it gets the heat release the
    camera should see (kW at scene times) and returns the objects. ``room_fraction`` is the
    share of the heat and products that enters the room (a fireplace sends the rest up the
    chimney); the camera sees the whole fire.
    """

    curve: HrrCurve
    fuel: Fuel
    z_m: float
    paint: Callable[[Signal, Placement], list[ThermalObject]]
    room_fraction: float = 1.0


@dataclass
class Placement:
    """Where the source is in the image and how well the camera sees it."""

    u: float
    v: float
    distance_m: float
    visible: float  # 1 − occlusion; 0 out of view
    room_c: float
    horizon_s: float
    seed: int
    start_s: float = 0.0  # scene time the source starts (ignition, or switched on)


@dataclass(frozen=True)
class CfastFamily:
    name: str
    label: str
    ranges: dict[str, Range]
    build: Callable[[Draw], Source]


def flame_painter(d: Draw, fuel: Fuel, core: tuple[float, float], eps: tuple[float, float],
           ) -> Callable[[Signal, Placement], list[ThermalObject]]:
    """A visible flame on the source, sized by Heskestad from the heat it releases."""
    core_c = float(d.record("flame_core_c", float(d.rng.uniform(*core))))
    core_eps = float(d.record("flame_core_emissivity", float(d.rng.uniform(*eps))))
    d_max = float(np.sqrt(4.0 * fuel.max_area_m2 / np.pi))

    def paint(hrr: Signal, at: Placement) -> list[ThermalObject]:
        if at.visible <= 0.0:
            return []

        def freq(t: FloatArray) -> FloatArray:
            q = np.maximum(hrr(t), 1e-3)
            diameter = np.minimum(np.sqrt(4.0 * q / (np.pi * fuel.hrr_per_area_kw_m2)), d_max)
            return np.clip(puffing_hz(diameter), 1.5, 12.0)

        return [Flame(u=at.u, v=at.v, distance_m=at.distance_m, hrr_kw=hrr,
                      hrr_per_area_kw_m2=fuel.hrr_per_area_kw_m2, d_max_m=d_max,
                      core_k=core_c + ZERO_C_K, core_emissivity=core_eps,
                      envelope_k=0.5 * core_c + ZERO_C_K, envelope_emissivity=0.5 * core_eps,
                      flicker=FlickerSignal(freq, at.horizon_s, at.seed), visible=at.visible)]
    return paint
