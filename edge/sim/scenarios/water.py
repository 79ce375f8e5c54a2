"""Water vapour that comes with CO2: burning fuel and breathing people make both.

Complete combustion of a fuel CₐHᵦ… gives ``b/2`` H2O per ``a`` CO2, so the moles of water per
mole of CO2 are ``b / (2a)`` (the same chemistry as CFAST's species, ``edge.sim.cfast.hrr``
``FUELS``), plus whatever moisture the fuel drives off:

- flexible polyurethane C6.3H7.1… 0.56; cotton and wood (cellulose C6H10O5) 0.83: a flaming
  upholstery fire 0.55–0.85;
- paper 0.83, n-heptane C7H16 1.14, ethanol C2H5OH 1.5 (the three fuels of a fast fire);
- cooking oil (a triglyceride, C57H104O6) 0.91: a grease fire 0.85–0.95;
- a smoulder (polyurethane, cotton) 0.5–1.5: less complete, and the seat dries out as it goes;
- an overheating cable or plug (PVC, (C2H3Cl)n: its hydrogen leaves as HCl, not water) 0.4–0.8;
- paraffin C25H52 1.04: candles 1.0–1.1; seasoned wood with its 10–20 % moisture: a fireplace
  1.0–2.0;
- people: ~0.8 mol of CO2 an hour each (RQ 0.85) against ~40–60 g of water from breath and
  skin at rest, ~2.5–3.5 mol: 2.5–4.5.

A gas hob's water is in its own humidity rise (``gas_rh_rise_pct``: combustion water and the
steam of the pots together), and electric cooking makes steam, not CO2, so neither is here.

Each ratio is drawn from its own sub-stream of the run's seed, so adding water left every
other draw of a seed as it was; the value drawn is recorded in the truth (and can be pinned
like any other parameter).
"""

from __future__ import annotations

import numpy as np

from edge.sim.scenarios.base import Ctx, Range
from edge.sim.scenarios.signals import Signal, scaled

#: Moles of water per mole of CO2 (module docstring).
H2O_PER_CO2: dict[str, Range] = {
    "upholstery": (0.55, 0.85),
    "paper": (0.8, 0.9),
    "heptane": (1.1, 1.2),
    "alcohol": (1.4, 1.5),
    "cooking_oil": (0.85, 0.95),
    "smoulder": (0.5, 1.5),
    "cable": (0.4, 0.8),
    "candle": (1.0, 1.1),
    "fireplace": (1.0, 2.0),
    "people": (2.5, 4.5),
}
#: Sub-stream tags of the draws (``Ctx.sub_seed``): a flame, a smoulder or an overheating
#: part before it, and the scene's nuisance.
FIRE_TAG = 61
SMOULDER_TAG = 63
SCENE_TAG = 62


def draw_ratio(ctx: Ctx, name: str, kind: str, tag: int) -> float:
    """Water per CO2 of ``kind`` (a ``H2O_PER_CO2`` key), recorded as ``name``.

    :raises ValueError: an override of ``name`` that is not a finite number.
    """
    lo, hi = H2O_PER_CO2[kind]
    drawn = float(np.random.default_rng(ctx.sub_seed(tag)).uniform(lo, hi))
    value = ctx.draw.record(name, drawn)
    return float(ctx.draw.typed(name, value, float, "a finite number"))


def add_water(ctx: Ctx, co2_rate: Signal, ratio: float, *, fire: bool) -> None:
    """Water vapour into the room along with ``co2_rate`` (ppm/min), ``ratio`` mol per mol:
    stratified at the ceiling like the fire's CO2 when ``fire``, else well mixed."""
    rates = ctx.parts.fire_water_rate if fire else ctx.parts.water_rate
    rates.append(scaled(co2_rate, ratio))
