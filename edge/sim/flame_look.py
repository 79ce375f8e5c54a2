"""How another renderer might paint the same flames (issue 14; docs/scenarios.md,
"Installation variation"): the flames of a built scene of either engine, restyled in place.

Each family draws its flame's core and envelope temperature, emissivity and flicker depth
from its own ranges; another renderer (another flame model) would paint them hotter or
cooler, thicker or thinner, puffing more or less. The variation widens those draws by three
per-run factors applied to every ``Flame`` of the scene (a fire's, a candle's, a gas hob's):
temperatures (K) × ``temp_factor``, emissivities × ``emissivity_factor`` (at most 1),
flicker depth × ``flicker_factor`` (at most ``MAX_FLICKER_DEPTH``). The family's own draws
and the truth's ``params`` are not changed; the factors are in ``meta["variation"]``.
"""

from __future__ import annotations

from collections.abc import Iterable

from edge.sim.scenarios.thermal import Flame, ThermalObject

MAX_FLICKER_DEPTH = 0.8  # the envelope puffs to ± 80 % of its mean height at most


def restyle_flames(objects: Iterable[ThermalObject], temp_factor: float,
                   emissivity_factor: float, flicker_factor: float) -> int:
    """Scale every ``Flame`` among ``objects`` in place; the number of flames restyled.

    :raises ValueError: a factor that is not a positive finite number.
    """
    for name, value in (("temp_factor", temp_factor), ("emissivity_factor", emissivity_factor),
                        ("flicker_factor", flicker_factor)):
        if not (value > 0.0 and value < float("inf")):
            raise ValueError(f"flame {name} {value}; allowed: a positive finite number")
    count = 0
    for obj in objects:
        if not isinstance(obj, Flame):
            continue
        obj.core_k *= temp_factor
        obj.envelope_k *= temp_factor
        obj.core_emissivity = min(obj.core_emissivity * emissivity_factor, 1.0)
        obj.envelope_emissivity = min(obj.envelope_emissivity * emissivity_factor, 1.0)
        obj.flicker_depth = min(obj.flicker_depth * flicker_factor, MAX_FLICKER_DEPTH)
        count += 1
    return count
