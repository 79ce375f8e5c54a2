"""``CfastScene``: an ``edge.sim.scene.Scene`` whose room physics is a CFAST run.

Air (what the SCD41's element reads): CFAST's layer at the sensor's mounting height — the
upper layer when the interface has come down past the sensor, else the lower layer, blended
over a ±15 cm mixing zone — for CO2 (CFAST's combustion CO2 over the room's drawn baseline),
temperature and water vapour (RH at the sensor's temperature). The chip's part is ours: a
short transport delay into the housing, the first-order lag (τ ≈ 60 s), gain and offset
errors, white noise and the 40 000 ppm ceiling; the board's slower thermal lag and
self-heating for temperature.

Thermal (the Lepton's focal plane): the scene renderer of ``edge.sim.scenarios`` (room
background, ``Flame``, ``Patch``, ``SmokeLayer``) driven by CFAST: the flame's heat release
is CFAST's actual HRR, the smoke layer's front is where CFAST's interface height falls in
the image, its temperature CFAST's upper-layer temperature and its LWIR opacity from the
layer's soot and water vapour along the line of sight. The camera's focal-plane noise, FFCs
and gain come from ``edge.sim.scenarios.camera``.

Before ignition (or switch-on) the room is CFAST's ambient state; after the end of the
CFAST run the last state holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.sim.cfast.run import CfastResult
from edge.sim.scenarios.air import CO2_MAX_PPM
from edge.sim.scenarios.camera import Camera
from edge.sim.scenarios.physics import ifov_rad, saturation_vapour_hpa
from edge.sim.scenarios.scene import VectorScene
from edge.sim.scenarios.signals import first_order
from edge.sim.scenarios.thermal import SmokeLayer, ThermalObject, background_k
from edge.types import ZERO_C_K, FloatArray

F32Array = npt.NDArray[np.float32]
ATM_HPA = 1013.25
MIXING_ZONE_M = 0.3  # the interface is a zone, not a plane: blend across it
_DT = 1.0
# LWIR (≈ 10 µm) absorption of soot in the Rayleigh limit, κ = 6π·E(m)·f_v/λ, E(m) ≈ 0.35,
# soot density 1.8 g/cm³; and a crude grey absorption of the 8–14 µm window by the layer's
# excess CO2 + H2O (per metre per unit mole fraction). Approximate: enough to make a thick,
# hot, sooty layer visible and a clean thin one faint.
_SOOT_K_PER_MG_M3 = 6.0 * math.pi * 0.35 / 10e-6 / 1.8e9
_GAS_K_PER_MOLFRAC = 1.0


@dataclass
class SensorParams:
    """The SCD41's placement and imperfections for one run."""

    height_m: float
    baseline_ppm: float
    transport_delay_s: float
    tau_s: float
    t_tau_s: float
    co2_offset_ppm: float
    co2_gain_error: float
    co2_noise_ppm: float
    self_heating_c: float


@dataclass
class View:
    """Where the camera is: its height, the horizontal distance to the source and the far
    wall behind it, and its downward pitch (radians)."""

    camera_height_m: float
    distance_m: float
    wall_distance_m: float
    pitch_rad: float

    def row_fraction(self, height_m: FloatArray | float, at_m: float) -> FloatArray:
        """Image row (fraction from the top) of a point ``height_m`` high at ``at_m``."""
        vfov = ifov_rad(160) * 120.0  # the Lepton 3.x's 57° × 43°
        down = np.arctan((self.camera_height_m - np.asarray(height_m, dtype=np.float64))
                         / at_m)
        out: FloatArray = 0.5 + (down - self.pitch_rad) / vfov
        return out


@dataclass
class CfastSceneParts:
    """What a family builder hands the scene."""

    result: CfastResult | None  # None: a scene with no CFAST source (not used yet)
    start_s: float  # scene time of CFAST's time 0 (ignition, or a burner switched on)
    room_c: float
    room_rh_pct: float
    sensor: SensorParams
    view: View
    objects: list[ThermalObject] = field(default_factory=list)


class CfastScene(VectorScene):
    """One drawn CFAST run, rendered for the SCD41 and the Lepton; see the module docstring."""

    def __init__(self, truth: dict[str, Any], parts: CfastSceneParts, camera: Camera,
                 seed: int, horizon_s: float) -> None:
        self.truth = truth
        self.parts = parts
        self.camera = camera
        self.seed = seed
        self._backgrounds: dict[tuple[int, int], F32Array] = {}
        self._air_grid(horizon_s)
        if parts.result is not None:
            parts.objects.append(self._smoke_layer(parts.result))

    @property
    def duration_s(self) -> float:
        return float(self.truth["duration_s"])

    # --- what CFAST says, in scene time -------------------------------------------------
    def cfast_at(self, name: str, t: FloatArray) -> FloatArray:
        """CFAST's series ``name`` (a ``CfastResult`` field) at scene times ``t``; ambient
        (its first value) before CFAST's time 0, its last value after its end."""
        r = self.parts.result
        if r is None:
            raise ValueError("this scene has no CFAST run")
        series = getattr(r, name)
        return np.asarray(np.interp(np.asarray(t, dtype=np.float64) - self.parts.start_s,
                                    r.t_s, series), dtype=np.float64)

    def at_sensor(self, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(CO2 ppm, gas °C, H2O mole fraction) of the layer the sensor is in."""
        p = self.parts
        if p.result is None:
            n = np.shape(t)
            water = p.room_rh_pct / 100.0 * saturation_vapour_hpa(p.room_c) / ATM_HPA
            return (np.full(n, p.sensor.baseline_ppm), np.full(n, p.room_c),
                    np.full(n, float(water)))
        interface = self.cfast_at("layer_height_m", t)
        w = np.clip((p.sensor.height_m - interface) / MIXING_ZONE_M + 0.5, 0.0, 1.0)

        def mix(upper: str, lower: str) -> FloatArray:
            out: FloatArray = w * self.cfast_at(upper, t) + (1.0 - w) * self.cfast_at(lower, t)
            return out

        co2 = p.sensor.baseline_ppm + 1e6 * mix("upper_co2", "lower_co2")
        return co2, mix("upper_c", "lower_c"), mix("upper_h2o", "lower_h2o")

    def _air_grid(self, horizon_s: float) -> None:
        s = self.parts.sensor
        rng = np.random.default_rng((self.seed, 23))
        pre = 3.0 * max(s.tau_s, s.t_tau_s)
        t = np.arange(-pre, horizon_s + 10.0, _DT)
        self._t0 = float(t[0])
        co2, gas_c, water = self.at_sensor(t - s.transport_delay_s)
        lagged = first_order(co2, _DT, s.tau_s)
        read = lagged * (1.0 + s.co2_gain_error) + s.co2_offset_ppm
        self.co2_ppm = np.clip(read + rng.normal(0.0, s.co2_noise_ppm, t.size), 0.0,
                               CO2_MAX_PPM)
        board_c = first_order(gas_c, _DT, s.t_tau_s) + s.self_heating_c
        self.temperature_c = board_c + rng.normal(0.0, 0.02, t.size)
        vapour_hpa = first_order(water * ATM_HPA, _DT, 20.0)
        rh = 100.0 * vapour_hpa / saturation_vapour_hpa(self.temperature_c)
        self.humidity_pct = np.clip(rh + rng.normal(0.0, 0.1, t.size), 0.0, 100.0)

    def air_at(self, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(CO2 ppm, °C, RH %) the SCD41's element reads at times ``t`` (nearest 1-s sample)."""
        i = np.clip(np.round((np.asarray(t) - self._t0) / _DT).astype(np.intp), 0,
                    self.co2_ppm.size - 1)
        return self.co2_ppm[i], self.temperature_c[i], self.humidity_pct[i]

    # --- Scene protocol (VectorScene answers air, ffc_active, thermal_k) ---------------
    def render_k(self, ts: FloatArray, height: int, width: int) -> F32Array:
        """Focal-plane apparent temperatures (K) for frame times ``ts``: (n, height, width)."""
        key = (height, width)
        if key not in self._backgrounds:
            self._backgrounds[key] = background_k(height, width, self.seed, self.parts.room_c)
        temp = np.empty((ts.size, height, width), dtype=np.float32)
        temp[:] = self._backgrounds[key]
        if self.parts.result is not None:
            # Walls and furniture follow the lower layer's warming, damped by their mass.
            warm = 0.5 * (self.cfast_at("lower_c", ts) - self.parts.room_c)
            temp += warm.astype(np.float32)[:, None, None]
        for obj in self.parts.objects:
            obj.paint(ts, temp)
        self.camera.add_focal_plane(ts, temp)
        return temp

    def _smoke_layer(self, r: CfastResult) -> SmokeLayer:
        view = self.parts.view
        path_m = view.wall_distance_m

        def front(t: FloatArray) -> FloatArray:
            interface = self.cfast_at("layer_height_m", t)
            frac = view.row_fraction(interface, view.wall_distance_m)
            # No layer (the interface at the ceiling) paints nothing.
            has_layer = interface < float(r.layer_height_m[0]) - 0.05
            return np.where(has_layer, np.clip(frac, 0.0, 1.0), 0.0)

        def opacity(t: FloatArray) -> FloatArray:
            soot = self.cfast_at("upper_soot_mg_m3", t)
            water0 = float(r.upper_h2o[0])
            gas = self.cfast_at("upper_co2", t) + np.maximum(
                self.cfast_at("upper_h2o", t) - water0, 0.0)
            kappa = _SOOT_K_PER_MG_M3 * soot + _GAS_K_PER_MOLFRAC * gas
            out: FloatArray = -np.expm1(-kappa * path_m)
            return out

        def temp_k(t: FloatArray) -> FloatArray:
            out: FloatArray = self.cfast_at("upper_c", t) + ZERO_C_K
            return out

        return SmokeLayer(front=front, opacity=opacity, temp_k=temp_k)
