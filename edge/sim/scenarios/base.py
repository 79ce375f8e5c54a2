"""What scenario builders share: drawing parameters, and the parts a scene is built from.

A family builder gets a ``Ctx`` (the room, the camera placement, the run's timing and a
``Draw`` for its own parameters) and adds ``Parts``: thermal objects for the camera and
sources for the air model. Every drawn number goes into the truth through ``Draw``, from its
documented range, and can be pinned with an override of the same name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.sim.scenarios.signals import Signal

if TYPE_CHECKING:
    from edge.sim.scenarios.thermal import ThermalObject

Range = tuple[float, float]
# Events (an ignition, arrivals, a hob switched on) are drawn as fractions of this time scale,
# never of the rendered duration: the same seed is the same scenario however long it is
# rendered. 600 s, the usual run length, so 600-s runs are what they always were.
SPAN_S = 600.0

# Every run randomises these (fire-science.md §3, first paragraph, and §2.2–2.4).
COMMON_RANGES: dict[str, Range] = {
    "room_volume_m3": (20.0, 80.0),
    "room_ach": (0.2, 2.0),
    "room_temp_c": (15.0, 30.0),
    "room_rh_pct": (25.0, 65.0),
    "room_ceiling_m": (2.3, 3.0),
    "co2_baseline_ppm": (400.0, 1200.0),
    "camera_distance_m": (1.5, 6.0),
    "camera_occlusion": (0.0, 0.8),
    "camera_high_gain_clip_c": (140.0, 182.0),
    "camera_low_gain_clip_c": (400.0, 450.0),
    "camera_netd_k": (0.04, 0.06),
    "camera_fpn_k": (0.03, 0.1),
    "camera_drift_k_per_min": (0.0, 0.1),
    "camera_ffc_period_s": (180.0, 300.0),
    "camera_ffc_phase": (0.05, 1.0),
    "camera_ffc_freeze_frames": (4.0, 10.0),
    "camera_ffc_settle_s": (1.0, 3.0),
    "camera_ffc_settle_k": (-1.0, 1.0),
    "sensor_transport_delay_s": (10.0, 120.0),
    "sensor_tau_s": (55.0, 65.0),
    "sensor_co2_offset_ppm": (-30.0, 30.0),
    "sensor_co2_gain_error": (-0.04, 0.04),
    "sensor_co2_wander_ppm": (2.0, 10.0),
    "sensor_co2_noise_ppm": (2.0, 8.0),
    "sensor_asc_drift_ppm_h": (-20.0, 20.0),
    "sensor_asc_step_ppm": (-50.0, 50.0),
    "sensor_self_heating_c": (0.0, 1.5),
    "sensor_t_tau_s": (120.0, 300.0),
    "sensor_radius_m": (0.5, 4.0),
    "gas_phase_s": (0.0, 5.0),
}


class Draw:
    """Draws named parameters from their ranges, records them, and honours overrides.

    The random number is always drawn, even when an override replaces it, so pinning one
    parameter leaves every other draw of the run unchanged.
    """

    def __init__(self, rng: np.random.Generator, ranges: dict[str, Range],
                 overrides: dict[str, Any], params: dict[str, Any]) -> None:
        self.rng = rng
        self.ranges = ranges
        self.overrides = overrides
        self.params = params
        self.used: set[str] = set()

    def _take(self, name: str, drawn: Any) -> Any:
        self.used.add(name)
        value = self.overrides.get(name, drawn)
        self.params[name] = value
        return value

    def typed(self, name: str, value: Any, kind: type, what: str) -> Any:
        """``value`` as ``kind``; a ``ValueError`` naming the parameter if it is not one."""
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and \
                math.isfinite(value)
        if not ok:
            raise ValueError(f"parameter {name} must be {what}, got {value!r}")
        return kind(value)

    def uniform(self, name: str) -> float:
        """A number uniform in the documented range of ``name``."""
        lo, hi = self.ranges[name]
        return float(self.typed(name, self._take(name, float(self.rng.uniform(lo, hi))), float,
                                 "a finite number"))

    def log_uniform(self, name: str) -> float:
        """A number log-uniform in the documented range of ``name`` (for rates over decades)."""
        lo, hi = self.ranges[name]
        drawn = float(np.exp(self.rng.uniform(np.log(lo), np.log(hi))))
        return float(self.typed(name, self._take(name, drawn), float, "a finite number"))

    def integer(self, name: str) -> int:
        """An integer in the documented range of ``name``, ends included."""
        lo, hi = self.ranges[name]
        drawn = int(self.rng.integers(int(lo), int(hi) + 1))
        return int(self.typed(name, self._take(name, drawn), int, "an integer"))

    def flag(self, name: str, p: float) -> bool:
        """True with probability ``p``."""
        drawn = bool(self.rng.random() < p)
        return bool(self.typed(name, self._take(name, drawn), bool, "true or false"))

    def choice(self, name: str, options: Sequence[str]) -> str:
        """One of ``options``."""
        value = self._take(name, str(options[int(self.rng.integers(len(options)))]))
        if value not in options:
            raise ValueError(f"parameter {name} must be one of {', '.join(options)}, "
                             f"got {value!r}")
        return str(value)

    def record(self, name: str, value: Any) -> Any:
        """Record a derived value in the truth (overridable like a drawn one)."""
        return self._take(name, value)


@dataclass
class Parts:
    """The pieces a scene is built from."""

    objects: list[ThermalObject] = field(default_factory=list)
    co2_rate: list[Signal] = field(default_factory=list)  # ppm/min into the well-mixed room
    fire_co2_rate: list[Signal] = field(default_factory=list)  # ditto, stratified at the ceiling
    co2_at_sensor: list[Signal] = field(default_factory=list)  # ppm added at the sensor only
    extra_ach: list[Signal] = field(default_factory=list)  # air changes/h (doors, windows)
    heat_k: list[Signal] = field(default_factory=list)  # air temperature rise at the sensor, K
    vapour_rh: list[Signal] = field(default_factory=list)  # water vapour, as %RH at room temp
    water_rate: list[Signal] = field(default_factory=list)  # ppm/min of H2O, well mixed
    fire_water_rate: list[Signal] = field(default_factory=list)  # ditto, stratified
    wall_warming_k: list[Signal] = field(default_factory=list)  # background surfaces warming
    camera_offsets_k: list[Signal] = field(default_factory=list)  # gain-switch transients
    extra_ffc_s: list[float] = field(default_factory=list)  # FFCs triggered by events


@dataclass
class Ctx:
    """What a builder needs to know about the run it is part of."""

    draw: Draw
    duration_s: float  # how long the run is rendered: never part of a draw
    fire_start_s: float | None
    room_c: float
    volume_m3: float
    ceiling_m: float
    distance_m: float
    visible: float  # 1 − occlusion, for the fire's own objects
    seed: int
    baseline_ppm: float
    span_s: float = SPAN_S  # the time scale events are placed on, whatever the duration
    parts: Parts = field(default_factory=Parts)

    @property
    def horizon_s(self) -> float:
        """How far the noise processes are drawn: at least the span, so a shorter rendering
        sees the same noise as a longer one up to its end."""
        return max(self.duration_s, self.span_s)

    def sub_seed(self, tag: int) -> int:
        """A seed for a sub-process of the run (flicker, motion), distinct per ``tag``."""
        return int(np.random.default_rng((self.seed, tag)).integers(2**62))
