"""Surroundings heated by a fire (issue 14; docs/scenarios.md, "Installation variation"): the
wall behind a burning item, and the item's own surface, warming over minutes.

Our flames heat nothing around them: a fire's pixels are its flame and its smoke. Real
surroundings warm as the fire goes on, by its radiation and its plume. ``Halo`` paints that:
a smooth warm area centred a little above the flame's base, ``σ = max(d_max, 0.25 m)`` wide,
whose peak rise follows the fire's cumulative heat,
``ΔT(t) = min(k·√(∫₀ᵗ HRR dt), MAX_RISE_K)`` (kJ under the root), added to what is behind it
(each surface warms from its own temperature) and painted under the flame. ``k`` (K/√kJ) is
drawn per run by the variation, 0 being none; the rise is scaled by the flame's visible share.

Only fires' flames (``Flame.fire``) get one: a nuisance's surroundings (a hob's pan, a
fireplace's surround, a heater) are painted by its family already, as a ``Patch`` at the
temperature it holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge.sim.scenarios.physics import ifov_rad
from edge.sim.scenarios.thermal import F32Array, Flame, ThermalObject
from edge.types import FloatArray

MAX_RISE_K = 130.0  # a surface at ~150 °C at most (from a 20 °C room)
MIN_SIGMA_M = 0.25  # the warm area is at least a hand's span around a small flame
GRID_S = 1.0  # the cumulative heat is integrated on this grid and interpolated
EXTENT_SIGMA = 3.0  # the warm area is painted out to 3 σ (the rise there is 1 % of the peak)


@dataclass(eq=False)
class Halo:
    """The surroundings of ``flame`` warming with the heat it has released (``k`` K/√kJ)."""

    flame: Flame
    k: float
    _t: FloatArray = field(default_factory=lambda: np.zeros(1), repr=False)
    _energy: FloatArray = field(default_factory=lambda: np.zeros(1), repr=False)

    def energy_kj(self, ts: FloatArray) -> FloatArray:
        """∫₀ᵗ HRR dt (kJ) at times ``ts`` (trapezoids on a 1-s grid, extended as needed)."""
        t_max = float(np.max(ts)) if ts.size else 0.0
        if t_max > self._t[-1]:
            end = max(t_max, 2.0 * float(self._t[-1])) + GRID_S
            grid = np.arange(0.0, end + GRID_S, GRID_S)
            q = np.maximum(self.flame.hrr_kw(grid), 0.0)
            cum = np.concatenate(([0.0], np.cumsum(0.5 * (q[1:] + q[:-1]) * GRID_S)))
            self._t, self._energy = grid, cum
        out: FloatArray = np.interp(np.maximum(ts, 0.0), self._t, self._energy)
        return out

    def rise_k(self, ts: FloatArray) -> FloatArray:
        """The peak rise (K) at times ``ts``."""
        out: FloatArray = np.minimum(self.k * np.sqrt(self.energy_kj(ts)), MAX_RISE_K)
        return out * self.flame.visible

    def paint(self, ts: FloatArray, temp: F32Array) -> None:
        _, h, w = temp.shape
        rise = self.rise_k(ts)
        idx = np.nonzero(rise > 0.0)[0]
        if idx.size == 0:
            return
        f = self.flame
        sigma = max(f.d_max_m * f.width_factor, MIN_SIGMA_M) / (ifov_rad(w) * f.distance_m)
        xc, yc = f.u * w, f.v * h - sigma  # a little above the base: the plume heats upwards
        reach = EXTENT_SIGMA * sigma
        c0, c1 = max(0, math.floor(xc - reach)), min(w, math.ceil(xc + reach))
        r0, r1 = max(0, math.floor(yc - reach)), min(h, math.ceil(yc + reach))
        if c1 <= c0 or r1 <= r0:
            return
        yy = (np.arange(r0, r1) + 0.5 - yc)[:, None]
        xx = (np.arange(c0, c1) + 0.5 - xc)[None, :]
        profile = np.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
        temp[idx, r0:r1, c0:c1] += (rise[idx, None, None] * profile[None]).astype(np.float32)


def heat_surroundings(objects: list[ThermalObject], k: float) -> int:
    """Put a ``Halo`` of ``k`` under every fire's flame among ``objects`` (in place, just
    before it, so the flame paints over it); none when ``k`` is 0. The number added.

    :raises ValueError: ``k`` negative or not finite.
    """
    if not (math.isfinite(k) and k >= 0.0):
        raise ValueError(f"surroundings heating k {k} K/√kJ; allowed: a finite number ≥ 0")
    if k == 0.0:
        return 0
    fires = [o for o in objects if isinstance(o, Flame) and o.fire]
    for flame in fires:
        at = next(i for i, o in enumerate(objects) if o is flame)
        objects.insert(at, Halo(flame, k))
    return len(fires)
