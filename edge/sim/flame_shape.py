"""How another renderer might draw the same flames' geometry (issue 14; docs/scenarios.md,
"Installation variation"): every ``Flame`` of a built scene of either engine, reshaped in place.

Our ``Flame`` paints Heskestad's mean height, a paraboloid envelope (half-width ∝ √(1 − z))
and a steady core of 40 % of the height. Another flame model would paint the same heat
release otherwise: other flame-height correlations (Zukoski, McCaffrey, Thomas) differ from
Heskestad's by about −40 % to +50 % for the small fires a room detector must catch (SFPE
Handbook, fire plumes chapter; docs/scenarios.md gives the numbers); flames look blunt or
spiky; McCaffrey's continuous (steady) region is a share of the height that differs between
correlations. The variation draws, per run, a height factor, a width factor (on the painted
base width, not the burning diameter), the envelope's outline exponent and the core's share
of the height, and sets them on every flame (a fire's, a candle's, a gas hob's: another
renderer draws them all its own way). The family's own draws and the truth's ``params`` are
not changed; the values are in ``meta["variation"]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from edge.sim.scenarios.thermal import Flame, ThermalObject

#: Values ``reshape_flames`` accepts (a flame that can still be painted), wider than the
#: ranges the variation draws from (``VARIATION_RANGES``).
SHAPE_LIMITS: dict[str, tuple[float, float]] = {
    "height_factor": (0.1, 5.0),
    "width_factor": (0.1, 5.0),
    "outline_exponent": (0.05, 3.0),
    "core_fraction": (0.0, 1.0),
}


def check_shape(height_factor: float, width_factor: float, outline_exponent: float,
                core_fraction: float, what: str = "flame") -> None:
    """:raises ValueError: a value outside ``SHAPE_LIMITS`` (or not a number), named with
    ``what`` and the allowed range."""
    for name, value in (("height_factor", height_factor), ("width_factor", width_factor),
                        ("outline_exponent", outline_exponent),
                        ("core_fraction", core_fraction)):
        lo, hi = SHAPE_LIMITS[name]
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ValueError(f"{what} {name} {value}; allowed: {lo}–{hi}")


def reshape_flames(objects: Iterable[ThermalObject], height_factor: float,
                   width_factor: float, outline_exponent: float, core_fraction: float) -> int:
    """Set the geometry of every ``Flame`` among ``objects`` in place; the number reshaped.

    :raises ValueError: a value outside ``SHAPE_LIMITS``.
    """
    check_shape(height_factor, width_factor, outline_exponent, core_fraction)
    count = 0
    for obj in objects:
        if not isinstance(obj, Flame):
            continue
        obj.height_factor = height_factor
        obj.width_factor = width_factor
        obj.outline_exponent = outline_exponent
        obj.core_fraction = core_fraction
        count += 1
    return count
