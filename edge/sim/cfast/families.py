"""CFAST scenario families: what burns, and how it looks to the camera.

Each family draws its source (a heat-release curve and a fuel, from hrr.py's documented
ranges) and adds the thermal objects the camera sees of it. The room, the device and the
camera are drawn by ``make_cfast_scene`` (make.py) for every family alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge.sim.cfast.appliances import HEATER_RANGES, OIL_RANGES, heater, oil_heating
from edge.sim.cfast.hrr import (
    FUELS,
    ITEM_RANGES,
    NUISANCE_RANGES,
    T2_ALPHA,
    HrrCurve,
    item_curve,
    smoulder_curve,
    steady_curve,
    t2_curve,
)
from edge.sim.cfast.source import (
    FIRE,
    NO_FIRE,
    CfastFamily,
    Placement,
    Source,
    flame_painter,
)
from edge.sim.scenarios.base import Draw, Range
from edge.sim.scenarios.signals import Signal, const
from edge.sim.scenarios.thermal import Patch, ThermalObject
from edge.types import ZERO_C_K, FloatArray

__all__ = ["CFAST_FAMILIES", "FIRE", "NO_FIRE", "CfastFamily", "Placement", "Source"]

def _t2(d: Draw) -> Source:
    alpha = T2_ALPHA[d.choice("t2_class", list(T2_ALPHA))]
    curve = t2_curve(alpha, d.uniform("t2_peak_kw"), d.uniform("t2_hold_s"),
                     d.uniform("t2_decay_s"))
    fuel = FUELS["polyurethane"]
    return Source(curve, fuel, d.uniform("fire_z_m"), flame_painter(d, fuel, (800.0, 1000.0),
                                                             (0.3, 0.9)))


def _item(kind: str, fuel_name: str, z_m: float) -> Callable[[Draw], Source]:
    def build(d: Draw) -> Source:
        curve = item_curve(d.uniform("item_peak_kw"), d.uniform("item_t_peak_s"),
                           d.uniform("item_decay_s"))
        fuel = FUELS[fuel_name]
        d.record("item", kind)
        return Source(curve, fuel, z_m, flame_painter(d, fuel, (800.0, 1000.0), (0.3, 0.9)))
    return build


def _smoulder(d: Draw) -> Source:
    start, end = d.uniform("smoulder_start_kw"), d.uniform("smoulder_end_kw")
    curve = smoulder_curve(min(start, end), max(start, end), d.uniform("smoulder_ramp_s"))
    char_lo, char_hi = d.uniform("smoulder_char_start_c"), d.uniform("smoulder_char_end_c")
    peak = curve.peak_kw

    def paint(hrr: Signal, at: Placement) -> list[ThermalObject]:
        if at.visible <= 0.0:
            return []

        def frac(t: FloatArray) -> FloatArray:
            out: FloatArray = np.clip(hrr(t) / peak, 0.0, 1.0)
            return out

        def size(t: FloatArray) -> FloatArray:
            out: FloatArray = 0.02 + 0.2 * np.sqrt(frac(t))
            return out

        def temp(t: FloatArray) -> FloatArray:
            out: FloatArray = char_lo + (char_hi - char_lo) * frac(t) + ZERO_C_K
            return out

        return [Patch(const(at.u), const(at.v), size, size, temp, emissivity=0.9,
                      distance_m=at.distance_m, hidden=1.0 - at.visible,
                      active=lambda t: (hrr(t) > 0.0).astype(np.float64))]
    return Source(curve, FUELS["polyurethane_smoulder"], d.uniform("fire_z_m"), paint)


def _steady(kind: str, fuel_name: str, z_m: float, visible_flame: bool,
            core: tuple[float, float], eps: tuple[float, float],
            glass: bool = False) -> Callable[[Draw], Source]:
    def build(d: Draw) -> Source:
        kw = d.uniform("source_kw")
        curve = steady_curve(kw, d.uniform("source_on_s"))
        fuel = FUELS[fuel_name]
        d.record("source", kind)
        spill = d.uniform("fireplace_spillage") if kind == "fireplace" else 1.0
        if spill < 1.0:  # CFAST sees only what spills into the room
            curve = HrrCurve(curve.t_s, tuple(q * spill for q in curve.hrr_kw))
        flame = flame_painter(d, fuel, core, eps)
        glass_c = d.uniform("glass_c") if glass else 0.0

        def paint(hrr: Signal, at: Placement) -> list[ThermalObject]:
            def whole(t: FloatArray) -> FloatArray:
                out: FloatArray = hrr(t) / spill
                return out
            if glass:  # glass is opaque in LWIR: only the warm pane shows
                def pane(t: FloatArray) -> FloatArray:
                    on = np.clip(whole(t) / kw, 0.0, 1.0)
                    out: FloatArray = at.room_c + (glass_c - at.room_c) * on + ZERO_C_K
                    return out
                if at.visible <= 0.0:
                    return []
                return [Patch(const(at.u), const(at.v - 0.05), const(0.6), const(0.45), pane,
                              emissivity=0.9, weight=at.visible, distance_m=at.distance_m)]
            return flame(whole, at) if visible_flame else []
        return Source(curve, fuel, z_m, paint, room_fraction=spill)
    return build


_FIRE_Z: dict[str, Range] = {"fire_z_m": (0.0, 0.5)}
_ITEM = {k: {"item_" + n: r for n, r in v.items()} for k, v in ITEM_RANGES.items()}


def _nuisance(name: str, on_s: Range, **extra: Range) -> dict[str, Range]:
    return {"source_kw": NUISANCE_RANGES[name], "source_on_s": on_s, **extra}


CFAST_FAMILIES: dict[str, CfastFamily] = {f.name: f for f in (
    CfastFamily("cfast_flaming_t2", FIRE, {**_FIRE_Z, "t2_peak_kw": (100.0, 1000.0),
                                           "t2_hold_s": (60.0, 300.0),
                                           "t2_decay_s": (200.0, 600.0)}, _t2),
    CfastFamily("cfast_smoulder", FIRE, {**_FIRE_Z, "smoulder_start_kw": (0.02, 0.1),
                                         "smoulder_end_kw": (0.2, 1.0),
                                         "smoulder_ramp_s": (600.0, 2400.0),
                                         "smoulder_char_start_c": (80.0, 250.0),
                                         "smoulder_char_end_c": (250.0, 500.0)}, _smoulder),
    CfastFamily("cfast_waste_basket", FIRE, _ITEM["waste_basket"],
                _item("waste_basket", "paper", 0.0)),
    CfastFamily("cfast_chair", FIRE, _ITEM["chair"], _item("chair", "polyurethane", 0.45)),
    CfastFamily("cfast_mattress", FIRE, _ITEM["mattress"],
                _item("mattress", "polyurethane", 0.5)),
    CfastFamily("cfast_christmas_tree", FIRE, _ITEM["christmas_tree"],
                _item("christmas_tree", "wood", 0.2)),
    CfastFamily("cfast_cooking_oil", FIRE, _ITEM["cooking_oil"],
                _item("cooking_oil", "cooking_oil", 0.9)),
    CfastFamily("cfast_gas_hob", NO_FIRE, _nuisance("gas_hob", (600.0, 2400.0)),
                _steady("gas_hob", "natural_gas", 0.9, True, (900.0, 1100.0), (0.05, 0.15))),
    CfastFamily("cfast_gas_oven", NO_FIRE, _nuisance("gas_oven", (1200.0, 3600.0)),
                _steady("gas_oven", "natural_gas", 0.5, False, (900.0, 1100.0), (0.05, 0.15))),
    CfastFamily("cfast_candle", NO_FIRE, _nuisance("candle", (1800.0, 7200.0)),
                _steady("candle", "paraffin", 0.75, True, (900.0, 1200.0), (0.2, 0.4))),
    CfastFamily("cfast_fireplace_open", NO_FIRE,
                _nuisance("fireplace", (1800.0, 7200.0), fireplace_spillage=(0.05, 0.2)),
                _steady("fireplace", "wood", 0.2, True, (700.0, 900.0), (0.4, 0.8))),
    CfastFamily("cfast_fireplace_glass", NO_FIRE,
                _nuisance("fireplace", (1800.0, 7200.0), fireplace_spillage=(0.01, 0.05),
                          glass_c=(80.0, 250.0)),
                _steady("fireplace", "wood", 0.2, True, (700.0, 900.0), (0.4, 0.8),
                        glass=True)),
    CfastFamily("cfast_oil_heating", NO_FIRE, OIL_RANGES, oil_heating),
    CfastFamily("cfast_heater", NO_FIRE, HEATER_RANGES, heater),
)}
