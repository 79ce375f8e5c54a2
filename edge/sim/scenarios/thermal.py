"""What the camera sees: a room background and hot objects painted over it in radiance.

Every object paints into a block of frames ``temp[n, h, w]`` (kelvin, float32) for frame
times ``ts[n]``, only inside its own bounding box, by mixing radiance (physics.py):
``L ← L + f·ε·(B(T_obj) − L)`` per pixel, with ``f`` the share of the pixel the object
covers. Objects paint back to front; a flame paints its flickering envelope, then its core.
Sizes are physical (metres at ``distance_m``, through the Lepton's IFOV) unless ``px=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.sim.scenarios.physics import (
    FlickerSignal,
    band_radiance,
    band_temperature,
    fire_diameter_m,
    heskestad_height_m,
    ifov_rad,
)
from edge.sim.scenarios.signals import Signal
from edge.sim.scenarios.spline import upsample_cubic
from edge.types import ZERO_C_K, FloatArray

F32Array = npt.NDArray[np.float32]
INTEGRATION_S = 1.0 / 27.0  # one frame of the Lepton core (27 Hz; 8.7 Hz are passed on)
SUBSTEPS = 4  # samples per integration window: 108 Hz, above the ≥ 50 Hz asked for


class ThermalObject(Protocol):
    """Something that paints itself into frames."""

    def paint(self, ts: FloatArray, temp: F32Array) -> None: ...


def _overlap(lo: FloatArray, hi: FloatArray, cells: FloatArray) -> FloatArray:
    """Length of [lo, hi] inside each unit cell [c, c+1]; broadcasts ``lo``/``hi`` against cells."""
    out: FloatArray = np.minimum(hi, cells + 1.0) - np.maximum(lo, cells)
    np.maximum(out, 0.0, out=out)
    np.minimum(out, 1.0, out=out)
    return out


def _px_per_m(width_px: int, distance_m: float) -> float:
    return 1.0 / (ifov_rad(width_px) * distance_m)


def _mix_box(temp: F32Array, frames: npt.NDArray[np.intp], rows: slice, cols: slice,
             layers: list[tuple[FloatArray, FloatArray | np.float64]]) -> None:
    """Paint ``layers`` of (coverage·ε, object radiance) into a box of some frames, in order."""
    rad = band_radiance(temp[frames, rows, cols].astype(np.float64))
    for weight, target in layers:
        rad += weight * (target - rad)
    temp[frames, rows, cols] = band_temperature(rad)


def background_k(height: int, width: int, seed: int, room_c: float) -> F32Array:
    """A room at ``room_c``: walls, furniture, a window and floor-to-ceiling stratification.

    Smooth structure of a few kelvin, the same for a seed at any resolution.
    """
    rng = np.random.default_rng((seed, 7))
    coarse = rng.normal(0.0, 0.6, (6, 8))
    yy = (np.arange(height) + 0.5) / height * 6 - 0.5
    xx = (np.arange(width) + 0.5) / width * 8 - 0.5
    img = upsample_cubic(coarse, yy, xx)  # scipy's map_coordinates(order=3, mode="nearest")
    img += 1.0 * (0.5 - (np.arange(height) + 0.5) / height)[:, None]  # warmer near the ceiling
    for _ in range(int(rng.integers(2, 5))):  # furniture, a door, a window: flat blocks
        y0, x0 = rng.uniform(0.2, 0.9), rng.uniform(0.0, 0.9)
        hh, ww = rng.uniform(0.08, 0.4), rng.uniform(0.05, 0.3)
        r0, r1 = int(y0 * height), min(height, int((y0 + hh) * height))
        c0, c1 = int(x0 * width), min(width, int((x0 + ww) * width))
        img[r0:r1, c0:c1] += rng.uniform(-3.0, 2.0)
    return np.asarray(img + room_c + ZERO_C_K, dtype=np.float32)


@dataclass
class Patch:
    """A warm or hot rectangle: smoulder char, a hob, a heater, a person, a sun patch.

    ``u``, ``v`` are the centre in frame fractions; ``width``/``height`` are metres at
    ``distance_m`` (or pixels of a 160-column frame if ``px``); ``temp_k`` kelvin; ``weight``
    multiplies the coverage (emissivity × the visible share, or a fabric cover factor).

    ``hidden`` is the share of the rectangle's height behind an opaque object in front of it
    (a chair, a table edge: occlusion from below). The hidden part paints nothing; the rest
    shows at its full radiance. For a spot smaller than a pixel this is the same as scaling
    ``weight`` by ``1 − hidden``; for an extended object it is not: a char area 70 % hidden
    still shows its top 30 % at the char's temperature, where dimming every pixel would show
    a lukewarm smear (fire-science.md §2.3: mix radiance by the share of the pixel covered).
    """

    u: Signal
    v: Signal
    width: Signal
    height: Signal
    temp_k: Signal
    emissivity: float = 0.95
    weight: float = 1.0
    distance_m: float = 3.0
    px: bool = False
    active: Signal | None = None
    hidden: float = 0.0

    def paint(self, ts: FloatArray, temp: F32Array) -> None:
        n, h, w = temp.shape
        scale = w / 160.0 if self.px else _px_per_m(w, self.distance_m)
        on = np.ones(n, dtype=bool) if self.active is None else self.active(ts) > 0.5
        idx = np.nonzero(on)[0]
        if idx.size == 0:
            return
        t = ts[idx]
        xc, yc = self.u(t) * w, self.v(t) * h
        hw, hh = 0.5 * self.width(t) * scale, 0.5 * self.height(t) * scale
        x0, x1, y0, y1 = xc - hw, xc + hw, yc - hh, yc + hh
        y1 = y1 - min(max(self.hidden, 0.0), 1.0) * (y1 - y0)  # rows grow downwards
        c0, c1 = max(0, int(np.floor(x0.min()))), min(w, int(np.ceil(x1.max())))
        r0, r1 = max(0, int(np.floor(y0.min()))), min(h, int(np.ceil(y1.max())))
        if c1 <= c0 or r1 <= r0:
            return
        fx = _overlap(x0[:, None], x1[:, None], np.arange(c0, c1, dtype=np.float64)[None, :])
        fy = _overlap(y0[:, None], y1[:, None], np.arange(r0, r1, dtype=np.float64)[None, :])
        cover = fy[:, :, None] * fx[:, None, :] * (self.emissivity * self.weight)
        target = band_radiance(self.temp_k(t))[:, None, None]
        _mix_box(temp, idx, slice(r0, r1), slice(c0, c1), [(cover, target)])


@dataclass
class Flame:
    """A flame on a t² fire: a steady core and a puffing envelope, Heskestad-high.

    ``hrr_kw`` gives the heat release; the burning diameter follows from ``hrr_per_area``
    up to ``d_max_m``, the height from Heskestad. The envelope's height and width puff with
    ``flicker`` (depth ``flicker_depth``); the camera integrates it over ``INTEGRATION_S``.
    ``u``, ``v``: base centre, frame fractions. ``visible``: 1 − occlusion.

    The painted geometry (``edge.sim.flame_shape``: another renderer's flame model) is set by
    ``height_factor`` (× the mean height), ``width_factor`` (× the painted base width, not the
    burning diameter the height follows from), ``outline_exponent`` (the envelope's half-width
    narrows as ``(1 − z)^exponent`` up the flame: 0.5 a paraboloid, lower blunter, higher
    spikier) and ``core_fraction`` (the steady core's share of the height). The defaults
    1 / 1 / 0.5 / 0.4 paint today's flame, byte for byte. ``fire`` marks a fire's flame (not
    a candle's or a hob's): ``edge.sim.surroundings`` may warm what is around it.
    """

    u: float
    v: float
    distance_m: float
    hrr_kw: Signal
    hrr_per_area_kw_m2: float
    d_max_m: float
    core_k: float
    core_emissivity: float
    envelope_k: float
    envelope_emissivity: float
    flicker: FlickerSignal
    flicker_depth: float = 0.3
    core_fraction: float = 0.4
    visible: float = 1.0
    height_factor: float = 1.0
    width_factor: float = 1.0
    outline_exponent: float = 0.5
    fire: bool = False  # a fire's flame (not a nuisance's): its surroundings may warm

    def size_m(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(diameter, mean height) in metres at times ``t``."""
        q = self.hrr_kw(t)
        d = fire_diameter_m(q, self.hrr_per_area_kw_m2, self.d_max_m)
        return d, heskestad_height_m(q, d)

    def paint(self, ts: FloatArray, temp: F32Array) -> None:
        _, h, w = temp.shape
        sub = ts[:, None] - INTEGRATION_S * (np.arange(SUBSTEPS) + 0.5)[None, :] / SUBSTEPS
        d, height = self.size_m(sub)
        on = np.nonzero(height.max(axis=1) > 0.0)[0]
        if on.size == 0:
            return
        sub, d, height = sub[on], d[on], height[on]
        if self.height_factor != 1.0:
            height = height * self.height_factor
        if self.width_factor != 1.0:
            d = d * self.width_factor
        scale = _px_per_m(w, self.distance_m)
        puff = 1.0 + self.flicker_depth * self.flicker(sub)
        env_h, env_d = height * puff * scale, d * (1.0 + 0.3 * (puff - 1.0)) * scale
        # The core is steady: one sample per frame is enough.
        core_h, core_d = height[:, :1] * self.core_fraction * scale, d[:, :1] * 0.7 * scale
        xc, yb = self.u * w, self.v * h
        half = 0.5 * float(env_d.max())
        c0, c1 = max(0, int(np.floor(xc - half))), min(w, int(np.ceil(xc + half)))
        r0, r1 = max(0, int(np.floor(yb - float(env_h.max())))), min(h, int(np.ceil(yb)))
        if c1 <= c0 or r1 <= r0:
            return
        rows = np.arange(r0, r1, dtype=np.float64)
        cols = np.arange(c0, c1, dtype=np.float64)
        layers: list[tuple[FloatArray, FloatArray | np.float64]] = []
        for hp, dp, t_k, eps in ((env_h, env_d, self.envelope_k, self.envelope_emissivity),
                                 (core_h, core_d, self.core_k, self.core_emissivity)):
            # The bolometer integrates over its exposure: coverage averaged over substeps
            # (exact for the envelope, as the core over it does not flicker).
            cover = self._cover(hp, dp, xc, yb, rows, cols, self.outline_exponent).mean(axis=1)
            layers.append((cover * (eps * self.visible), np.float64(band_radiance(t_k))))
        _mix_box(temp, on, slice(r0, r1), slice(c0, c1), layers)

    @staticmethod
    def _cover(hp: FloatArray, dp: FloatArray, xc: float, yb: float, rows: FloatArray,
               cols: FloatArray, exponent: float = 0.5) -> FloatArray:
        """Share of each pixel a flame of height ``hp``, base width ``dp`` (px) and outline
        ``(1 − z)^exponent`` covers: (n, K, rows, cols) for (n, K) sizes."""
        top = yb - hp[..., None]  # (n, K, 1)
        fy = _overlap(top, np.full_like(top, yb), rows)  # (n, K, bh)
        # The flame narrows towards its tip: width at the middle of the row's part of it.
        mid = 0.5 * (np.maximum(rows, top) + np.minimum(rows + 1.0, yb))
        z = np.clip((yb - mid) / np.maximum(hp[..., None], 1e-9), 0.0, 1.0)
        rise = np.sqrt(1.0 - z) if exponent == 0.5 else np.power(1.0 - z, exponent)
        half_w = 0.5 * dp[..., None] * rise
        fx = _overlap((xc - half_w)[..., None], (xc + half_w)[..., None], cols)
        out: FloatArray = fy[..., None] * fx
        return out


@dataclass
class SmokeLayer:
    """The hot smoke layer of a flaming fire: descends from the ceiling, dims what is behind.

    Rows above the layer's front mix towards the smoke's own temperature with ``opacity``:
    hot objects seen through it look cooler, the ceiling looks warmer.
    """

    front: Signal  # lower edge of the layer, frame fraction from the top (0 = none)
    opacity: Signal  # 0 … 1
    temp_k: Signal

    def paint(self, ts: FloatArray, temp: F32Array) -> None:
        _, h, w = temp.shape
        front_px = self.front(ts) * h
        opacity = self.opacity(ts)
        idx = np.nonzero((front_px > 0.0) & (opacity > 0.0))[0]
        if idx.size == 0:
            return
        r1 = min(h, int(np.ceil(front_px[idx].max() + 2.0)))
        rows = np.arange(r1, dtype=np.float64)
        edge = np.clip((front_px[idx, None] - rows[None, :]) / 3.0, 0.0, 1.0)  # a soft edge
        cover = (edge * opacity[idx, None])[:, :, None] * np.ones((1, 1, w))
        target = band_radiance(self.temp_k(ts[idx]))[:, None, None]
        _mix_box(temp, idx, slice(0, r1), slice(0, w), [(cover, target)])
