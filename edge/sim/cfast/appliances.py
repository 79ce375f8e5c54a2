"""CFAST nuisances that heat without (much) flame: oil heating up in a pan, and space heaters.

- ``cfast_oil_heating`` (CN6): a pan of cooking oil on a hob, heated until it smokes but never
  to its ignition. The oil approaches a drawn final temperature (``OIL_RANGES``:
  200–330 °C) as a first-order rise reaching 95 % of the way in 3–15 min, holds while the
  burner stays on, and cools after. Reference points (approximate; fire-science.md §7 and
  common published oil data): refined oils smoke from ≈ 200–230 °C, flash near ≈ 300–330 °C,
  and a pan of oil ignites at ≈ 340–380 °C (fire-science.md §7); the drawn final temperature
  stays below ``OIL_IGNITION_MIN_C`` = 340 °C, so the pan never reaches ignition. The burner
  is gas (a natural-gas flame, CO2 and H2O into the room, as ``cfast_gas_hob``) or electric
  (a ring/coil at 300–700 °C, fire-science.md §2.3's "coil hob on high"): no combustion, so
  CFAST gets its heat as a fire of the ``electric`` fuel (nitrogen: no CO2, H2O or soot; see
  hrr.py). Oil vapour and smoke are not modelled (CFAST would need a soot source with no
  heat; the smoke of a smoking pan is light).
- ``cfast_heater`` (CN7): a 0.5–3 kW heater: electric radiant (element 400–700 °C, 60 % of
  its heat radiated), electric convector (fins 150–300 °C, 10 % radiated), both with no
  combustion (the ``electric`` fuel), or a flueless gas heater (a radiant plaque 300–700 °C,
  natural gas: CO2 and H2O into the room). A thermostat cycles it (p 0.5) with a 5–30-min
  period (fire-science.md §3, N5) and 30–80 % duty; its element warms up over 30–120 s.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edge.sim.cfast.hrr import FUELS, NUISANCE_RANGES, cycling_curve, steady_curve
from edge.sim.cfast.source import Placement, Source, flame_painter
from edge.sim.scenarios.base import Draw, Range
from edge.sim.scenarios.signals import Signal, const
from edge.sim.scenarios.thermal import Patch, ThermalObject
from edge.types import ZERO_C_K, FloatArray

#: The lowest ignition temperature of a pan of cooking oil (fire-science.md §7: ≈ 340–380 °C).
OIL_IGNITION_MIN_C = 340.0
OIL_BURNERS = ("gas", "electric")
OIL_RANGES: dict[str, Range] = {
    "source_kw": NUISANCE_RANGES["oil_burner"],
    "oil_final_c": (200.0, 330.0),  # smoking, below ignition (module docstring)
    "oil_ramp_s": (180.0, 900.0),  # to 95 % of the way: 3–15 min
    "oil_hold_s": (60.0, 1200.0),  # burner left on at temperature
    "oil_cool_tau_s": (300.0, 900.0),
    "pan_diameter_m": (0.2, 0.3),
    "oil_emissivity": (0.85, 0.95),
    "pan_rim_emissivity": (0.1, 0.3),  # stainless or aluminium, shiny to dull
    "coil_c": (300.0, 700.0),
}
HEATER_KINDS = ("electric_radiant", "electric_convector", "gas_flueless")
#: Element temperature (°C) and radiative fraction per kind (module docstring).
HEATER_ELEMENT_C: dict[str, Range] = {"electric_radiant": (400.0, 700.0),
                                      "electric_convector": (150.0, 300.0),
                                      "gas_flueless": (300.0, 700.0)}
HEATER_RADIATIVE: dict[str, float] = {"electric_radiant": 0.6, "electric_convector": 0.1,
                                      "gas_flueless": 0.3}
HEATER_RANGES: dict[str, Range] = {
    "source_kw": NUISANCE_RANGES["heater"],
    "source_on_s": (2400.0, 7200.0),
    "heater_element_frac": (0.0, 1.0),  # where in its kind's element range
    "heater_element_w_m": (0.3, 0.7),
    "heater_element_h_m": (0.05, 0.4),
    "heater_warmup_s": (30.0, 120.0),
    "heater_cycle_period_s": (300.0, 1800.0),
    "heater_cycle_duty": (0.3, 0.8),
}


def pan_temperature_c(since_s: FloatArray, room_c: float, final_c: float, ramp_s: float,
                      on_s: float, cool_tau_s: float) -> FloatArray:
    """The oil's temperature ``since_s`` after the burner went on: room temperature before,
    a first-order rise to ``final_c`` (95 % at ``ramp_s``) while on (``on_s``), then a
    cooling towards the room. Never above ``final_c``."""
    t = np.asarray(since_s, dtype=np.float64)
    rise = 1.0 - np.exp(-3.0 * np.clip(t, 0.0, on_s) / ramp_s)
    heated = room_c + (final_c - room_c) * rise
    cooling = np.exp(-np.maximum(t - on_s, 0.0) / cool_tau_s)
    out: FloatArray = np.where(t <= 0.0, room_c, room_c + (heated - room_c) * cooling)
    return out


def oil_heating(d: Draw) -> Source:
    """A pan of oil heated on a gas or electric burner, to smoking and no further."""
    burner = d.choice("oil_burner", OIL_BURNERS)
    kw = d.uniform("source_kw")
    final_c, ramp_s = d.uniform("oil_final_c"), d.uniform("oil_ramp_s")
    on_s = float(d.record("source_on_s", ramp_s + d.uniform("oil_hold_s")))
    cool_tau_s = d.uniform("oil_cool_tau_s")
    pan_d = d.uniform("pan_diameter_m")
    oil_eps, rim_eps = d.uniform("oil_emissivity"), d.uniform("pan_rim_emissivity")
    coil_c = d.uniform("coil_c")
    gas = burner == "gas"
    d.record("source", "oil_heating")
    fuel = FUELS["natural_gas"] if gas else FUELS["electric"]
    curve = steady_curve(kw, on_s, rise_s=10.0 if gas else 60.0)
    flame = flame_painter(d, fuel, (900.0, 1100.0), (0.05, 0.15)) if gas else None

    def paint(hrr: Signal, at: Placement) -> list[ThermalObject]:
        if at.visible <= 0.0:
            return []

        def pan_k(t: FloatArray) -> FloatArray:
            out: FloatArray = pan_temperature_c(t - at.start_s, at.room_c, final_c, ramp_s,
                                                on_s, cool_tau_s) + ZERO_C_K
            return out

        def coil_k(t: FloatArray) -> FloatArray:
            on = np.clip(hrr(t) / kw, 0.0, 1.0)
            out: FloatArray = at.room_c + (coil_c - at.room_c) * on + ZERO_C_K
            return out

        objects: list[ThermalObject] = []
        if flame is not None:
            objects += flame(hrr, at)
        else:  # the ring shows around the pan's base
            objects.append(Patch(const(at.u), const(at.v + 0.01), const(pan_d + 0.06),
                                 const(0.015), coil_k, emissivity=0.9, weight=at.visible,
                                 distance_m=at.distance_m))
        objects += [  # the pan's side (shiny metal), then the oil's surface seen at a slant
            Patch(const(at.u), const(at.v - 0.01), const(pan_d + 0.02), const(0.06), pan_k,
                  emissivity=rim_eps, weight=at.visible, distance_m=at.distance_m),
            Patch(const(at.u), const(at.v - 0.03), const(pan_d), const(0.35 * pan_d), pan_k,
                  emissivity=oil_eps, weight=at.visible, distance_m=at.distance_m)]
        return objects
    return Source(curve, fuel, 0.9, paint)


def heater(d: Draw) -> Source:
    """A space heater: electric radiant or convector, or flueless gas; maybe cycling."""
    kind = d.choice("heater_kind", HEATER_KINDS)
    kw, on_s = d.uniform("source_kw"), d.uniform("source_on_s")
    lo, hi = HEATER_ELEMENT_C[kind]
    element_c = float(d.record("heater_element_c", lo + (hi - lo) * d.uniform(
        "heater_element_frac")))
    width, height = d.uniform("heater_element_w_m"), d.uniform("heater_element_h_m")
    warmup = d.uniform("heater_warmup_s")
    cycling = d.flag("heater_thermostat", 0.5)
    period, duty = d.uniform("heater_cycle_period_s"), d.uniform("heater_cycle_duty")
    d.record("source", "heater")
    if cycling:  # the warm-up fits in the shorter phase (a short cycle heats faster)
        rise = min(warmup, period * min(duty, 1.0 - duty) / 2.5)
        curve = cycling_curve(kw, on_s, period, duty, rise_s=rise)
    else:
        curve = steady_curve(kw, on_s, rise_s=warmup)
    base = FUELS["natural_gas" if kind == "gas_flueless" else "electric"]
    fuel = dataclasses.replace(base, radiative_fraction=HEATER_RADIATIVE[kind])

    def paint(hrr: Signal, at: Placement) -> list[ThermalObject]:
        if at.visible <= 0.0:
            return []

        def element_k(t: FloatArray) -> FloatArray:
            on = np.clip(hrr(t) / kw, 0.0, 1.0)
            out: FloatArray = at.room_c + (element_c - at.room_c) * on + ZERO_C_K
            return out

        def body_k(t: FloatArray) -> FloatArray:  # the casing warms a little
            out: FloatArray = at.room_c + 0.1 * (element_k(t) - ZERO_C_K - at.room_c) \
                + ZERO_C_K
            return out

        return [Patch(const(at.u), const(at.v - 0.02), const(width + 0.15),
                      const(height + 0.25), body_k, emissivity=0.9, weight=at.visible,
                      distance_m=at.distance_m),
                Patch(const(at.u), const(at.v - 0.02), const(width), const(height),
                      element_k, emissivity=0.9, weight=at.visible, distance_m=at.distance_m)]
    return Source(curve, fuel, 0.3, paint)
