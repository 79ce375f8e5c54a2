"""Physics of the scenarios: band radiance, radiance mixing, t² fires, flame size and flicker.

Everything here is a pure function of its arguments (numpy in, numpy out), so the scenes can
evaluate it for many frame times at once.

- ``band_radiance(T)``: Planck radiance integrated over the Lepton's 8–14 µm band, W/(m²·sr),
  from a lookup table, and ``band_temperature(L)`` its inverse. A pixel that sees several
  things sees the sum of their radiance, never the mean of their temperatures
  (fire-science.md §2.3): ``L_pix = B(T_bg) + f·ε·[B(T_hot) − B(T_bg)]``.
- ``t2_hrr_kw``: the NFPA t² design fire ``Q = α·(t − t0)²``, capped.
- ``heskestad_height_m``: mean flame height ``L = 0.235·Q^0.4 − 1.02·D`` (m, kW, m).
- ``FlickerSignal``: a narrow-band puffing signal at ``f ≈ 1.5/√D`` Hz with a slowly wandering
  phase, defined at any time so a camera can integrate it over its own exposure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.types import FloatArray

ArrayLike = float | npt.NDArray[np.floating[Any]]

_H = 6.62607015e-34  # Planck constant, J·s
_C = 2.99792458e8  # speed of light, m/s
_KB = 1.380649e-23  # Boltzmann constant, J/K
BAND_M = (8e-6, 14e-6)  # the Lepton's spectral band
LUT_T_K = (100.0, 3000.0)  # the range of the lookup table
_LUT_STEP_K = 0.5

HFOV_LEPTON_3_RAD = math.radians(57.0)  # over 160 columns: IFOV ≈ 6.2 mrad
CO2_PPM_MIN_PER_KW_G_KJ = 32800.0  # dC/dt = 32 800·Q·(Y/ΔH)/V (fire-science.md §2.1)


def planck_band_radiance(t_k: ArrayLike, n_lambda: int = 601) -> FloatArray:
    """Planck radiance over 8–14 µm, W/(m²·sr), by quadrature (slow: the LUT's source).

    ``B = ∫ 2hc²/λ⁵ / (exp(hc/(λkT)) − 1) dλ`` by the trapezoid rule.
    """
    t = np.atleast_1d(np.asarray(t_k, dtype=np.float64))
    lam = np.linspace(BAND_M[0], BAND_M[1], n_lambda)
    c1 = 2.0 * _H * _C**2 / lam**5
    x = (_H * _C / (lam * _KB))[None, :] / t[:, None]
    spectral = c1[None, :] / np.expm1(x)
    return np.asarray(np.trapezoid(spectral, lam, axis=1), dtype=np.float64)


@cache
def _lut() -> tuple[FloatArray, FloatArray]:
    temps = np.arange(LUT_T_K[0], LUT_T_K[1] + _LUT_STEP_K, _LUT_STEP_K)
    return temps, planck_band_radiance(temps, n_lambda=121)  # within 4e-5 of 601 points


def band_radiance(t_k: ArrayLike) -> FloatArray:
    """B(T): 8–14 µm band radiance for kelvin ``t_k`` (any shape), from the lookup table."""
    temps, rad = _lut()
    return np.asarray(np.interp(t_k, temps, rad), dtype=np.float64)


def band_temperature(radiance: ArrayLike) -> FloatArray:
    """B⁻¹(L): the blackbody temperature (K) whose band radiance is ``radiance``."""
    temps, rad = _lut()
    return np.asarray(np.interp(radiance, rad, temps), dtype=np.float64)


def apparent_temperature_k(
    t_bg_k: ArrayLike, t_hot_k: ArrayLike, fill: ArrayLike, emissivity: ArrayLike = 1.0
) -> FloatArray:
    """What a pixel reads when a hot object fills ``fill`` of it over a background.

    ``T_app = B⁻¹(B(T_bg) + f·ε·[B(T_hot) − B(T_bg)])`` (fire-science.md §2.3).
    """
    l_bg = band_radiance(t_bg_k)
    return band_temperature(l_bg + np.asarray(fill) * np.asarray(emissivity) *
                            (band_radiance(t_hot_k) - l_bg))


def t2_hrr_kw(
    t: ArrayLike, alpha_kw_s2: float, t0_s: float, q_max_kw: float = math.inf
) -> FloatArray:
    """Heat release rate of a t² fire: ``α·(t − t0)²`` after ignition at ``t0``, capped."""
    dt = np.maximum(np.asarray(t, dtype=np.float64) - t0_s, 0.0)
    return np.minimum(alpha_kw_s2 * dt * dt, q_max_kw)


def fire_diameter_m(q_kw: ArrayLike, hrr_per_area_kw_m2: float, d_max_m: float) -> FloatArray:
    """Diameter of the burning area of a fire releasing ``q_kw`` at ``hrr_per_area_kw_m2``."""
    q = np.maximum(np.asarray(q_kw, dtype=np.float64), 0.0)
    return np.minimum(np.sqrt(4.0 * q / (math.pi * hrr_per_area_kw_m2)), d_max_m)


def heskestad_height_m(q_kw: ArrayLike, diameter_m: ArrayLike) -> FloatArray:
    """Mean flame height ``L = 0.235·Q^0.4 − 1.02·D`` (m), never below half the diameter."""
    q = np.maximum(np.asarray(q_kw, dtype=np.float64), 0.0)
    d = np.asarray(diameter_m, dtype=np.float64)
    height = 0.235 * q**0.4 - 1.02 * d
    return np.where(q > 0.0, np.maximum(height, 0.5 * d), 0.0)


def puffing_hz(diameter_m: ArrayLike) -> FloatArray:
    """Puffing frequency of a flame of base ``diameter_m``: ``f ≈ 1.5/√D`` Hz."""
    return 1.5 / np.sqrt(np.maximum(np.asarray(diameter_m, dtype=np.float64), 1e-3))


def ifov_rad(width_px: int) -> float:
    """Angle one pixel subtends: 57° over 160 columns (6.2 mrad); twice that at 80."""
    return HFOV_LEPTON_3_RAD / 160.0 * (160.0 / width_px)


def co2_ppm_per_min(q_kw: ArrayLike, yield_g_per_kj: float, volume_m3: float) -> FloatArray:
    """Well-mixed CO2 rise rate of a fire: ``32 800·Q·(Y/ΔH)/V`` ppm/min (§2.1)."""
    return CO2_PPM_MIN_PER_KW_G_KJ * np.asarray(q_kw, dtype=np.float64) * yield_g_per_kj / volume_m3


def co2_ppm_per_min_from_mass(mass_g_per_min: ArrayLike, volume_m3: float) -> FloatArray:
    """CO2 rise of ``mass_g_per_min`` of CO2 into a well-mixed room (CO2 at 1.83 g/L)."""
    return np.asarray(mass_g_per_min, dtype=np.float64) / 1.83 / (volume_m3 * 1000.0) * 1e6


def ceiling_jet_rise_k(q_kw: ArrayLike, ceiling_m: float, radius_m: float) -> FloatArray:
    """Alpert's ceiling-jet temperature rise at ``radius_m`` from the plume axis (K).

    ``ΔT = 16.9·Q^(2/3)/H^(5/3)`` for r/H ≤ 0.18, else ``5.38·(Q/r)^(2/3)/H``.
    """
    q = np.maximum(np.asarray(q_kw, dtype=np.float64), 0.0)
    if radius_m / ceiling_m <= 0.18:
        rise = 16.9 * q ** (2.0 / 3.0) / ceiling_m ** (5.0 / 3.0)
    else:
        rise = 5.38 * (q / radius_m) ** (2.0 / 3.0) / ceiling_m
    return np.asarray(rise, dtype=np.float64)


def saturation_vapour_hpa(t_c: ArrayLike) -> FloatArray:
    """Magnus formula: saturation vapour pressure over water (hPa)."""
    t = np.asarray(t_c, dtype=np.float64)
    return 6.112 * np.exp(17.62 * t / (243.12 + t))


class FlickerSignal:
    """A flame's puffing: ``sin(φ(t))`` with ``dφ/dt = 2π·f(t)`` plus a slow random phase walk.

    The phase is tabulated at ``grid_hz`` (≥ 50 Hz) and interpolated, so the signal is
    defined at any time and a camera model can average it over its exposure.
    """

    def __init__(
        self,
        freq_hz: Callable[[FloatArray], FloatArray],
        t_end_s: float,
        seed: int,
        bandwidth_hz: float = 0.15,
        grid_hz: float = 50.0,
    ) -> None:
        if grid_hz < 50.0:
            raise ValueError(f"flicker must be simulated at ≥ 50 Hz, got {grid_hz}")
        n = math.ceil((t_end_s + 2.0) * grid_hz) + 2
        self._t0 = -1.0
        self._dt = 1.0 / grid_hz
        grid = self._t0 + self._dt * np.arange(n, dtype=np.float64)
        rng = np.random.default_rng(seed)
        # A random walk of the phase spreads the line to a width of about bandwidth_hz.
        walk = np.cumsum(rng.normal(0.0, math.sqrt(2.0 * math.pi * bandwidth_hz * self._dt), n))
        phase = 2.0 * math.pi * np.cumsum(freq_hz(grid)) * self._dt + walk
        self._phase = np.asarray(phase, dtype=np.float64)
        self._phase += rng.uniform(0.0, 2.0 * math.pi)

    def __call__(self, t: FloatArray) -> FloatArray:
        """The signal in [−1, 1] at times ``t`` (s)."""
        pos = (np.asarray(t, dtype=np.float64) - self._t0) / self._dt
        pos = np.clip(pos, 0.0, self._phase.size - 1.001)
        i = pos.astype(np.int64)
        frac = pos - i
        phase = self._phase[i] * (1.0 - frac) + self._phase[i + 1] * frac
        out: FloatArray = np.sin(phase)
        return out
