"""The scene the byte-level simulators render from.

A scene answers two questions at any time ``t`` (seconds on the simulation clock):
what the SCD41's sensing element reads (``air``: after the chip's own lag, noise and bias,
before it is quantised into words) and what the Lepton's focal plane sees (``thermal_k``:
apparent temperature per pixel in kelvin, before quantisation, saturation and the camera's
own flat-field freezes, which the camera simulator adds; ``ffc_active`` says when the
shutter is closed).

``StaticRoom`` is a quiet room. The scenario engine (``edge.sim.scenarios``) provides scenes
with fires and nuisances through the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.types import ZERO_C_K

KelvinArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AirSample:
    """What the SCD41's element reads at one instant."""

    co2_ppm: float
    temperature_c: float
    humidity_pct: float


class Scene(Protocol):
    """Anything the simulated SCD41 and Lepton can sense."""

    def air(self, t: float) -> AirSample: ...

    def thermal_k(self, t: float, height: int, width: int) -> KelvinArray: ...

    def ffc_active(self, t: float) -> bool: ...


class StaticRoom:
    """A quiet room: steady air with a little sensor noise, a radiator and a seated person.

    Deterministic for a given ``seed``: the same ``t`` always gives the same answer.
    """

    def __init__(
        self,
        seed: int = 0,
        co2_ppm: float = 450.0,
        temperature_c: float = 21.5,
        humidity_pct: float = 40.0,
        wall_c: float = 21.0,
        ffc_period_s: float = 240.0,
        ffc_duration_s: float = 0.5,
    ) -> None:
        self.seed = seed
        self.co2_ppm = co2_ppm
        self.temperature_c = temperature_c
        self.humidity_pct = humidity_pct
        self.wall_c = wall_c
        self.ffc_period_s = ffc_period_s
        self.ffc_duration_s = ffc_duration_s
        self._cache: dict[tuple[int, int], KelvinArray] = {}

    def air(self, t: float) -> AirSample:
        rng = np.random.default_rng((self.seed, round(t * 1000)))
        noise = rng.normal(0.0, 1.0, 3)
        return AirSample(
            co2_ppm=max(0.0, self.co2_ppm + 8.0 * noise[0]),
            temperature_c=self.temperature_c + 0.05 * noise[1],
            humidity_pct=float(np.clip(self.humidity_pct + 0.2 * noise[2], 0.0, 100.0)),
        )

    def _base(self, height: int, width: int) -> KelvinArray:
        key = (height, width)
        if key not in self._cache:
            rng = np.random.default_rng(self.seed)
            img = np.full((height, width), self.wall_c + ZERO_C_K)
            img += rng.normal(0.0, 0.3, (height, width))  # surfaces are never uniform
            # A radiator along the lower left wall at ~45 °C.
            img[int(height * 0.7) : int(height * 0.85), : int(width * 0.25)] = 45.0 + ZERO_C_K
            # A seated person at ~33 °C skin temperature.
            r0, c0 = int(height * 0.4), int(width * 0.6)
            img[r0 : r0 + height // 4, c0 : c0 + width // 10] = 33.0 + ZERO_C_K
            self._cache[key] = img
        return self._cache[key]

    def thermal_k(self, t: float, height: int, width: int) -> KelvinArray:
        rng = np.random.default_rng((self.seed, 1, round(t * 1000)))
        return self._base(height, width) + rng.normal(0.0, 0.05, (height, width))  # NETD

    def ffc_active(self, t: float) -> bool:
        return self.ffc_period_s > 0 and (t % self.ffc_period_s) < self.ffc_duration_s
