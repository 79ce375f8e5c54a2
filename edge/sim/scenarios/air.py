"""The room's air and what the SCD41 makes of it.

Room: a well-mixed CO2 mass balance, ``dE/dt = S(t) − λ(t)·E`` for the excess ``E`` over the
baseline, with ``S`` the sources in ppm/min (fire-science.md §2.1) and ``λ`` the air changes
per hour (plus doors and windows). Fire plumes also reach a ceiling sensor stratified: it
reads ``stratification ×`` the well-mixed excess of the fire.

Sensor: the air reaches the SCD41 after a transport delay, then the chip's own first-order
lag (τ ≈ 60 s), a gain/offset error, a slow wander, ASC drift (and sometimes an ASC step),
white noise, and the 0–40 000 ppm range. Temperature: room + heat at the sensor, through the
board's slower thermal lag, plus self-heating. Humidity: the vapour in the room over the
saturation pressure at the sensor's temperature, so heating dries and steam wets; burning and
breathing add water with their CO2 (``edge.sim.scenarios.water``), ventilated like it.

Everything is integrated once on a 1 s grid; ``air_at(t)`` interpolates it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.sim.scenarios.base import Parts
from edge.sim.scenarios.physics import saturation_vapour_hpa
from edge.sim.scenarios.signals import first_order, random_walk, total
from edge.types import FloatArray

CO2_MAX_PPM = 40000.0
PRESSURE_HPA = 1013.25  # the room's, for water vapour in ppm (as edge.featuresets.gas)
PRE_ROLL_S = 600.0  # simulate this long before t = 0 so the lags start settled
_DT = 1.0


@dataclass
class AirParams:
    """The room and sensor characteristics of one run (see COMMON_RANGES in base.py)."""

    volume_m3: float
    ach: float
    room_c: float
    rh_pct: float
    baseline_ppm: float
    stratification: float
    transport_delay_s: float
    tau_s: float
    co2_offset_ppm: float
    co2_gain_error: float
    co2_wander_ppm: float
    co2_noise_ppm: float
    asc_drift_ppm_h: float
    asc_step_ppm: float
    asc_step_s: float | None
    self_heating_c: float
    t_tau_s: float


class AirModel:
    """The SCD41's view of a room over one run, on a 1 s grid."""

    def __init__(self, p: AirParams, parts: Parts, seed: int, duration_s: float) -> None:
        self.p = p
        rng = np.random.default_rng((seed, 23))
        t = np.arange(-PRE_ROLL_S, duration_s + 10.0, _DT)
        self.t0 = float(t[0])
        lam = (p.ach + total(parts.extra_ach)(t)) / 3600.0  # 1/s
        mixed = _mass_balance(total(parts.co2_rate)(t) / 60.0, lam)
        fire = _mass_balance(total(parts.fire_co2_rate)(t) / 60.0, lam)
        self.room_excess_ppm = mixed + fire  # the well-mixed room, for the truth and tests
        at_ceiling = mixed + p.stratification * fire
        delayed = np.interp(t - p.transport_delay_s, t, at_ceiling)
        at_element = p.baseline_ppm + delayed + total(parts.co2_at_sensor)(t)
        lagged = first_order(at_element, _DT, p.tau_s)
        wander = random_walk(rng, self.t0, float(t[-1]), p.co2_wander_ppm, 900.0)(t)
        drift = p.asc_drift_ppm_h * t / 3600.0
        if p.asc_step_s is not None:
            drift = drift + np.where(t >= p.asc_step_s, p.asc_step_ppm, 0.0)
        white = rng.normal(0.0, p.co2_noise_ppm, t.size)
        co2 = lagged * (1.0 + p.co2_gain_error) + p.co2_offset_ppm + wander + drift + white
        self.co2_ppm = np.clip(co2, 0.0, CO2_MAX_PPM)

        heat = np.interp(t - p.transport_delay_s, t, total(parts.heat_k)(t))
        air_c = p.room_c + heat
        board_c = first_order(air_c, _DT, p.t_tau_s)
        self.temperature_c = board_c + p.self_heating_c + rng.normal(0.0, 0.02, t.size)
        vapour_hpa = (p.rh_pct + total(parts.vapour_rh)(t)) / 100.0 * saturation_vapour_hpa(
            p.room_c) + self._water_ppm(parts, t, lam) * 1e-6 * PRESSURE_HPA
        vapour_hpa = first_order(np.interp(t - p.transport_delay_s, t, vapour_hpa), _DT, 20.0)
        rh = 100.0 * vapour_hpa / saturation_vapour_hpa(self.temperature_c)
        self.humidity_pct = np.clip(rh + rng.normal(0.0, 0.1, t.size), 0.0, 100.0)

    def _water_ppm(self, parts: Parts, t: FloatArray, lam: FloatArray) -> FloatArray:
        """The water vapour that burning and breathing add (``edge.sim.scenarios.water``),
        ppm by mole: ventilated like CO2, the fire's stratified at the ceiling like its CO2."""
        water = np.zeros(t.size)
        if parts.water_rate:
            water += _mass_balance(total(parts.water_rate)(t) / 60.0, lam)
        if parts.fire_water_rate:
            water += self.p.stratification * _mass_balance(
                total(parts.fire_water_rate)(t) / 60.0, lam)
        return water

    def at(self, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(CO2 ppm, temperature °C, RH %) at times ``t``: the nearest grid point's sample
        (white noise must not be smoothed away by interpolation)."""
        i = np.clip(np.round((np.asarray(t) - self.t0) / _DT).astype(np.intp), 0,
                    self.co2_ppm.size - 1)
        return self.co2_ppm[i], self.temperature_c[i], self.humidity_pct[i]


def _mass_balance(source_ppm_s: FloatArray, lam_per_s: FloatArray) -> FloatArray:
    """Integrate ``dE/dt = S − λ·E`` (exactly for S, λ constant over each step), E(0) = 0."""
    decay = np.exp(-lam_per_s * _DT)
    gain = np.where(lam_per_s > 0, -np.expm1(-lam_per_s * _DT) / np.maximum(lam_per_s, 1e-12),
                    _DT)
    s = (source_ppm_s * gain).tolist()
    a = decay.tolist()
    out = [0.0] * len(s)
    e = 0.0
    for i in range(len(s)):
        e = a[i] * e + s[i]
        out[i] = e
    return np.asarray(out)


def quantise_like_scd41(co2_ppm: FloatArray, temperature_c: FloatArray,
                        humidity_pct: FloatArray) -> tuple[npt.NDArray[np.float32], ...]:
    """What the chip's words can say: integer ppm in 0–40 000, T and RH in 1/65535 steps.

    ``T = −45 + 175·w/65535``, ``RH = 100·w/65535`` (sensors.md §1.3).
    """
    co2 = np.clip(np.round(co2_ppm), 0.0, CO2_MAX_PPM)
    w_t = np.clip(np.round((temperature_c + 45.0) * 65535.0 / 175.0), 0, 65535)
    w_rh = np.clip(np.round(humidity_pct * 65535.0 / 100.0), 0, 65535)
    return (co2.astype(np.float32), (-45.0 + 175.0 * w_t / 65535.0).astype(np.float32),
            (100.0 * w_rh / 65535.0).astype(np.float32))
