"""The twelve scenario families of fire-science.md §3, by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.sim.scenarios import fires, nuisances
from edge.sim.scenarios.base import Ctx, Range
from edge.sim.scenarios.nuisances import Anchors

QUIET = "none"  # a fire in an otherwise quiet room


@dataclass(frozen=True)
class ScenarioFamily:
    """One family: its code (F1…N6), label, what it is, and how to build one."""

    name: str
    code: str
    label: str  # "fire" or "no-fire"
    description: str
    ranges: dict[str, Range]
    backgrounds: tuple[str, ...] = ()  # nuisance families a fire is laid over
    build_nuisance: Callable[[Ctx], Anchors] | None = None
    build_fire: Callable[[Ctx, Anchors], None] | None = None

    @property
    def is_fire(self) -> bool:
        return self.label == "fire"


def _fire(fn: Callable[[Ctx], None]) -> Callable[[Ctx, Anchors], None]:
    return lambda ctx, anchors: fn(ctx)


def _grease(ctx: Ctx, anchors: Anchors) -> None:
    fires.kitchen_grease_fire(ctx, anchors["pan"])


_HOME = ("occupancy", "heaters_appliances", "sun_steam_breath_ffc")
_FAMILIES = (
    ScenarioFamily("flaming_upholstery", "F1", "fire",
                   "Flaming polyurethane upholstery (UL 217 flaming PU): a t² fire, α "
                   "0.0117–0.047 kW/s², growing from one pixel, flickering, filling the room "
                   "with smoke; CO2 in proportion to the heat release, stratified at the ceiling.",
                   fires.RANGES["flaming_upholstery"], (QUIET, *_HOME, "candles_fireplace"),
                   build_fire=_fire(fires.flaming_upholstery)),
    ScenarioFamily("fast_flaming", "F2", "fire",
                   "A fast wastebasket, paper or liquid fire (EN 54 TF5): α 0.047–0.19 kW/s², "
                   "small and brief, burns out after adding 200–2000 ppm of CO2; alcohol "
                   "flames are nearly transparent in LWIR.",
                   fires.RANGES["fast_flaming"], (QUIET, *_HOME),
                   build_fire=_fire(fires.fast_flaming)),
    ScenarioFamily("smoulder_in_view", "F3", "fire",
                   "A smouldering seat in view (UL smouldering PU, EN 54 TF3): a few hot "
                   "pixels spreading at 3–25 mm/min and heating to 150–500 °C, no flicker, "
                   "0.5–15 ppm/min of CO2; turns to flaming after 20–90 min with p 0.2–0.5.",
                   fires.RANGES["smoulder_in_view"], (QUIET, "occupancy", "heaters_appliances",
                                                      "candles_fireplace"),
                   build_fire=_fire(fires.smoulder_in_view)),
    ScenarioFamily("smoulder_out_of_view", "F4", "fire",
                   "A smoulder the camera cannot see: only a faint +1–5 K warm area and the "
                   "slow CO2 of F3 — the CO2-only hard case, overlapping occupancy.",
                   fires.RANGES["smoulder_out_of_view"], (QUIET, *_HOME),
                   build_fire=_fire(fires.smoulder_out_of_view)),
    ScenarioFamily("electrical_overheat", "F5", "fire",
                   "An overheating plug or cable: a static spot from 60–150 °C to 250–400 °C "
                   "over 5–30 min, ≤ 5 ppm/min of CO2, igniting into an F1 fire half the time.",
                   fires.RANGES["electrical_overheat"], (QUIET, "occupancy", "heaters_appliances"),
                   build_fire=_fire(fires.electrical_overheat)),
    ScenarioFamily("kitchen_grease_fire", "F6", "fire",
                   "Electric cooking whose pan overheats until the oil ignites: 10–100 px of "
                   "400–900 °C flame within 5–20 s, flicker 2–5 Hz, hundreds of ppm/min.",
                   fires.RANGES["kitchen_grease_fire"], ("electric_cooking",),
                   build_fire=_grease),
    ScenarioFamily("occupancy", "N1", "no-fire",
                   "People (1–6, 28–36 °C) and pets coming and going, a door opening: CO2 "
                   "+4–40 ppm/min to a plateau, sometimes a stuffy bedroom at 1500–2500 ppm.",
                   nuisances.RANGES["occupancy"], build_nuisance=nuisances.occupancy),
    ScenarioFamily("electric_cooking", "N2", "no-fire",
                   "An electric hob: a coil at 200–700 °C, a shiny pan at 150–250 °C, steam, "
                   "an oven door, the cook; humidity +5–30 %, temperature +1–3 °C.",
                   nuisances.RANGES["electric_cooking"],
                   build_nuisance=nuisances.electric_cooking),
    ScenarioFamily("gas_cooking", "N3", "no-fire",
                   "A gas hob: thin blue flames at 60–200 °C that flicker, grates at "
                   "200–400 °C, and +40–150 ppm/min of CO2 — the main CO2 confuser.",
                   nuisances.RANGES["gas_cooking"], build_nuisance=nuisances.gas_cooking),
    ScenarioFamily("candles_fireplace", "N4", "no-fire",
                   "Candles (sub-pixel flames, aliased flicker, +1–5 ppm/min) or a fireplace "
                   "burning at 300–700 °C in a fixed zone (+20–100 ppm/min).",
                   nuisances.RANGES["candles_fireplace"],
                   build_nuisance=nuisances.candles_fireplace),
    ScenarioFamily("heaters_appliances", "N5", "no-fire",
                   "A heater of 2–2000 px at 35–250 °C cycling on its thermostat every 5–30 "
                   "min, sometimes an iron moving; temperature +0.5–3 °C.",
                   nuisances.RANGES["heaters_appliances"],
                   build_nuisance=nuisances.heaters_appliances),
    ScenarioFamily("sun_steam_breath_ffc", "N6", "no-fire",
                   "Sun patches drifting, glints, direct sun saturating pixels, HVAC swings, a "
                   "shower (RH 90–100 %), breath on the sensor (+200–3000 ppm for 5–20 s), "
                   "extra flat-field corrections and gain-switch transients.",
                   nuisances.RANGES["sun_steam_breath_ffc"],
                   build_nuisance=nuisances.sun_steam_breath_ffc),
)

SCENARIOS: dict[str, ScenarioFamily] = {f.name: f for f in _FAMILIES}
FIRE_FAMILIES: tuple[str, ...] = tuple(f.name for f in _FAMILIES if f.is_fire)
NUISANCE_FAMILIES: tuple[str, ...] = tuple(f.name for f in _FAMILIES if not f.is_fire)
