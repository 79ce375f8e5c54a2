"""Heat-release curves and fuels for CFAST fires (fire-science.md §1 and §7).

A curve is a table of (seconds after ignition, kW) that CFAST interpolates linearly; a fuel
is the chemistry CFAST needs to turn that heat into CO2, H2O, CO and soot (``&CHEM`` and
the yield columns of ``&TABL``).

- ``t2_curve``: the NFPA 72 / 204 design fire ``Q = α·t²`` (α per class in ``T2_ALPHA``),
  capped at a peak, held, then decaying linearly to nothing.
- ``item_curve``: a burning item that reaches ``peak_kw`` at ``t_peak_s`` (a t² growth with
  the α that implies), then burns out: waste baskets, chairs, mattresses, trees, oil pans.
- ``smoulder_curve``: a smouldering source, tens to hundreds of watts rising slowly.
- ``steady_curve``: a burner, candle or fireplace switched on: a short rise, then steady.

``ITEM_RANGES`` and ``NUISANCE_RANGES`` are the documented ranges the families draw from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.types import FloatArray

# kW/s² (fire-science.md §1: time to 1055 kW is 600/300/150/75 s).
T2_ALPHA: dict[str, float] = {
    "slow": 0.00293,
    "medium": 0.01172,
    "fast": 0.0469,
    "ultrafast": 0.1876,
}

Range = tuple[float, float]

# Items (fire-science.md §7; approximate, from published furniture calorimetry):
# peak HRR (kW), time from ignition to the peak (s), burn-out after it (s), fuel.
ITEM_RANGES: dict[str, dict[str, Range]] = {
    "waste_basket": {"peak_kw": (15.0, 50.0), "t_peak_s": (60.0, 200.0),
                     "decay_s": (120.0, 400.0)},
    "chair": {"peak_kw": (300.0, 1000.0), "t_peak_s": (150.0, 400.0),
              "decay_s": (300.0, 900.0)},
    "mattress": {"peak_kw": (300.0, 2000.0), "t_peak_s": (150.0, 500.0),
                 "decay_s": (300.0, 900.0)},
    "christmas_tree": {"peak_kw": (1000.0, 3000.0), "t_peak_s": (30.0, 60.0),
                       "decay_s": (40.0, 120.0)},
    "cooking_oil": {"peak_kw": (10.0, 50.0), "t_peak_s": (20.0, 90.0),
                    "decay_s": (300.0, 900.0)},
}

# Combustion nuisances: steady HRR (kW) while on (fire-science.md §7).
NUISANCE_RANGES: dict[str, Range] = {
    "gas_hob": (1.0, 3.0),
    "gas_oven": (2.0, 4.0),
    "candle": (0.05, 0.08),
    "fireplace": (5.0, 20.0),
    # A space heater, electric (radiant or convector) or flueless gas: 0.5–3 kW (issue 14;
    # domestic heaters are rated 0.5–3 kW, flueless gas fires up to ≈ 4 kW).
    "heater": (0.5, 3.0),
    # The burner under a pan of heating oil: a gas hob burner (1–3 kW, as above) or an
    # electric ring/coil (domestic rings are rated ≈ 1–3 kW).
    "oil_burner": (1.0, 3.0),
}


@dataclass(frozen=True)
class Fuel:
    """What burns: the molecule CFAST balances (``&CHEM``) and the yields it cannot derive.

    ``heat_of_combustion_kj_kg`` sets the mass burnt per kJ, hence CO2 and H2O per kJ;
    ``soot_yield`` and ``co_yield`` are g/g of fuel (``&TABL`` columns).
    """

    name: str
    carbon: float
    hydrogen: float
    oxygen: float
    nitrogen: float
    heat_of_combustion_kj_kg: float
    radiative_fraction: float
    soot_yield: float
    co_yield: float
    hrr_per_area_kw_m2: float  # sets the burning area (and so the flame's width)
    max_area_m2: float


FUELS: dict[str, Fuel] = {
    # Flexible polyurethane foam (upholstery, mattresses); ΔH as fire-science.md §2.1.
    "polyurethane": Fuel("polyurethane", 6.3, 7.1, 2.1, 1.0, 16400.0, 0.35, 0.10, 0.03,
                         250.0, 2.0),
    # Smouldering PU: little heat per gram, much CO and smoke.
    "polyurethane_smoulder": Fuel("polyurethane_smoulder", 6.3, 7.1, 2.1, 1.0, 8000.0, 0.05,
                                  0.15, 0.20, 10.0, 0.05),
    "wood": Fuel("wood", 6.0, 10.0, 5.0, 0.0, 12400.0, 0.30, 0.015, 0.004, 300.0, 1.5),
    "paper": Fuel("paper", 6.0, 10.0, 5.0, 0.0, 13000.0, 0.30, 0.02, 0.005, 200.0, 0.15),
    "cooking_oil": Fuel("cooking_oil", 18.0, 34.0, 2.0, 0.0, 37000.0, 0.35, 0.05, 0.01,
                        500.0, 0.07),
    "natural_gas": Fuel("natural_gas", 1.0, 4.0, 0.0, 0.0, 50000.0, 0.15, 0.0, 0.0,
                        300.0, 0.05),
    # Heat with no combustion (an electric heater or hob): CFAST has no other heat source
    # than a fire, so the heat goes in as a fire whose "fuel" is nitrogen: no carbon and no
    # hydrogen, hence no CO2, H2O, CO or soot, only the plume's heat (checked against the
    # real binary: tests/test_cfast_appliances.py). The radiative fraction is set per source.
    "electric": Fuel("electric", 0.0, 0.0, 0.0, 2.0, 50000.0, 0.30, 0.0, 0.0, 300.0, 0.05),
    "paraffin": Fuel("paraffin", 25.0, 52.0, 0.0, 0.0, 42000.0, 0.30, 0.002, 0.001,
                     500.0, 0.0002),
}


@dataclass(frozen=True)
class HrrCurve:
    """Heat release (kW) at seconds after ignition; linear between points, 0 before."""

    t_s: tuple[float, ...]
    hrr_kw: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.t_s) != len(self.hrr_kw) or len(self.t_s) < 2:
            raise ValueError("an HRR curve needs at least two (time, kW) points of equal count")
        if any(b <= a for a, b in zip(self.t_s, self.t_s[1:], strict=False)):
            raise ValueError(f"HRR curve times must increase, got {self.t_s}")
        if any(not math.isfinite(q) or q < 0 for q in self.hrr_kw):
            raise ValueError(f"HRR values must be finite and ≥ 0 kW, got {self.hrr_kw}")

    def at(self, t_s: FloatArray) -> FloatArray:
        """kW at ``t_s`` seconds after ignition (0 before it, the last value after)."""
        t = np.asarray(t_s, dtype=np.float64)
        out = np.interp(t, self.t_s, self.hrr_kw)
        return np.asarray(np.where(t < self.t_s[0], 0.0, out), dtype=np.float64)

    @property
    def peak_kw(self) -> float:
        return max(self.hrr_kw)


def _curve(points: list[tuple[float, float]]) -> HrrCurve:
    ts = [round(t, 3) for t, _ in points]
    qs = [round(max(q, 0.0), 4) for _, q in points]
    return HrrCurve(tuple(ts), tuple(qs))


def t2_curve(alpha_kw_s2: float, peak_kw: float, hold_s: float, decay_s: float,
             n_growth: int = 16) -> HrrCurve:
    """``α·t²`` up to ``peak_kw``, held for ``hold_s``, then a linear decay over ``decay_s``."""
    if not (alpha_kw_s2 > 0 and peak_kw > 0 and hold_s >= 0 and decay_s > 0):
        raise ValueError(f"t² curve needs α > 0, peak > 0, hold ≥ 0, decay > 0; got "
                         f"α={alpha_kw_s2}, peak={peak_kw}, hold={hold_s}, decay={decay_s}")
    t_peak = math.sqrt(peak_kw / alpha_kw_s2)
    points = [(float(t), alpha_kw_s2 * float(t) ** 2)
              for t in np.linspace(0.0, t_peak, n_growth + 1)]
    points.append((t_peak + hold_s + 1e-3 if hold_s == 0 else t_peak + hold_s, peak_kw))
    points.append((t_peak + hold_s + decay_s, 0.0))
    return _curve(points)


def item_curve(peak_kw: float, t_peak_s: float, decay_s: float) -> HrrCurve:
    """An item reaching ``peak_kw`` at ``t_peak_s`` (t² growth), burning out over ``decay_s``."""
    return t2_curve(peak_kw / t_peak_s**2, peak_kw, 0.0, decay_s)


def smoulder_curve(start_kw: float, end_kw: float, ramp_s: float) -> HrrCurve:
    """A smoulder: ``start_kw`` rising (accelerating, quadratically) to ``end_kw`` over
    ``ramp_s``, then steady."""
    if not (0 < start_kw <= end_kw and ramp_s > 0):
        raise ValueError(f"smoulder needs 0 < start ≤ end kW and ramp > 0 s; got "
                         f"{start_kw}, {end_kw}, {ramp_s}")
    ts = np.linspace(0.0, ramp_s, 9)
    points = [(float(t), start_kw + (end_kw - start_kw) * (float(t) / ramp_s) ** 2) for t in ts]
    points.append((ramp_s + 36000.0, end_kw))
    return _curve(points)


def steady_curve(kw: float, on_s: float, rise_s: float = 10.0) -> HrrCurve:
    """A burner switched on: rises to ``kw`` over ``rise_s``, on for ``on_s``, then off."""
    if not (kw > 0 and on_s > rise_s > 0):
        raise ValueError(f"steady source needs kW > 0 and on > rise > 0 s; got {kw}, {on_s}, "
                         f"{rise_s}")
    return _curve([(0.0, 0.0), (rise_s, kw), (on_s, kw), (on_s + rise_s, 0.0)])


def cycling_curve(kw: float, on_s: float, period_s: float, duty: float,
                  rise_s: float = 10.0) -> HrrCurve:
    """A thermostat's cycling: on at ``kw`` for ``duty × period_s`` (after ``rise_s`` to get
    there), off for the rest of each period, for ``on_s`` in all; then off."""
    if not (kw > 0 and 0 < duty < 1 and period_s * duty > 2 * rise_s > 0
            and period_s * (1 - duty) > rise_s and on_s > period_s):
        raise ValueError(f"cycling source needs kW > 0, 0 < duty < 1, on and off phases longer "
                         f"than the rise, and on_s > period; got {kw}, duty {duty}, period "
                         f"{period_s}, rise {rise_s}, on {on_s}")
    points: list[tuple[float, float]] = []
    t = 0.0
    while t + 2 * rise_s < on_s:  # a period that can still reach full power
        high = min(t + period_s * duty, on_s)
        points += [(t, 0.0), (t + rise_s, kw), (high, kw), (high + rise_s, 0.0)]
        t += period_s
    return _curve(points)
