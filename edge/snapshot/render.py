"""Render an alarm snapshot: the thermal frame at the decision as a small palette PNG.

The picture (``render``): the frame in °C, colour-mapped with an iron-like palette (black →
purple → red → orange → pale yellow) between the frame's own minimum and maximum, scaled to
640 px wide by pixel repetition (×4 for a 160×120 Lepton 3.5, ×8 for an 80×60 Lepton 2.5);
the hot region that drove the decision outlined in green; under it a scale bar in °C with its
minimum and maximum, and a caption: the time (UTC), the event, the score, CO2 and its rise over
60 s, and the reason in words. Everything is numpy plus the built-in font
(:mod:`edge.snapshot.font`) and PNG encoder (:mod:`edge.snapshot.png`).
"""

from __future__ import annotations

import math
import textwrap
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.snapshot.font import GLYPH_H, text_mask, text_width
from edge.snapshot.png import encode_palette_png

__all__ = ["LUT_SIZE", "OUTLINE", "PALETTE", "Shot", "hottest_blob", "render", "render_indices"]

Celsius = npt.NDArray[np.floating]
Mask = npt.NDArray[np.bool_]

WIDTH = 640
FONT_SCALE = 2
LINE_H = GLYPH_H * FONT_SCALE + 4
CAPTION_LINES = 5
BAR_H = 14
PANEL_H = 8 + BAR_H + 8 + CAPTION_LINES * LINE_H + 4

#: Palette indices: 0…LUT_SIZE-1 the colour map, then the fixed colours.
LUT_SIZE = 240
BACKGROUND, TEXT, OUTLINE = 240, 241, 242

_STOPS = np.array([  # position, R, G, B: an iron / inferno-like ramp
    (0.00, 0, 0, 4), (0.25, 87, 16, 110), (0.50, 188, 55, 84),
    (0.75, 249, 142, 9), (1.00, 252, 255, 164),
], dtype=np.float64)


def _palette() -> npt.NDArray[np.uint8]:
    x = np.linspace(0.0, 1.0, LUT_SIZE)
    lut = np.stack([np.interp(x, _STOPS[:, 0], _STOPS[:, i]) for i in (1, 2, 3)], axis=1)
    fixed = np.array([(16, 16, 16), (255, 255, 255), (0, 255, 96)], dtype=np.float64)
    return np.round(np.concatenate([lut, fixed])).astype(np.uint8)


#: The PNG's palette (RGB per index).
PALETTE = _palette()


@dataclass(frozen=True, slots=True)
class Shot:
    """What the snapshot shows, captured at the decision (the frame is a copy).

    ``region``: the pixels that drove the decision (same shape as ``celsius``), or None to
    outline the hottest blob. ``co2_rise_ppm``: CO2 now minus 60 s before (None: unknown).
    ``after_seq``: the event it belongs to, published first (None: on demand).
    """

    celsius: Celsius | None
    region: Mask | None
    wall_t: float
    kind: str
    reason: str
    score: float | None
    co2_ppm: float | None
    co2_rise_ppm: float | None
    after_seq: int | None = None


def hottest_blob(celsius: Celsius) -> Mask:
    """The hottest pixel's connected region (4-neighbours) of pixels within the top fifth
    between the frame's median and its maximum."""
    c = np.nan_to_num(np.asarray(celsius, dtype=np.float64), nan=-math.inf)
    hi = float(c.max())
    med = float(np.median(c[np.isfinite(c)])) if np.isfinite(c).any() else hi
    allowed = c >= hi - 0.2 * max(hi - med, 1.0)
    blob = np.zeros_like(allowed)
    blob[np.unravel_index(int(np.argmax(c)), c.shape)] = True
    for _ in range(c.size):  # grow inside ``allowed`` until it stops
        grown = blob.copy()
        grown[1:] |= blob[:-1]
        grown[:-1] |= blob[1:]
        grown[:, 1:] |= blob[:, :-1]
        grown[:, :-1] |= blob[:, 1:]
        grown &= allowed
        if np.array_equal(grown, blob):
            break
        blob = grown
    return blob


def _dilate(mask: Mask, r: int) -> Mask:
    out = mask.copy()
    for _ in range(r):
        m = out.copy()
        m[1:] |= out[:-1]
        m[:-1] |= out[1:]
        m[:, 1:] |= out[:, :-1]
        m[:, :-1] |= out[:, 1:]
        out = m
    return out


def _put_text(img: npt.NDArray[np.uint8], text: str, x: int, y: int) -> None:
    ink = text_mask(text, FONT_SCALE)
    h = min(ink.shape[0], img.shape[0] - y)
    w = min(ink.shape[1], img.shape[1] - x)
    if h > 0 and w > 0:
        img[y:y + h, x:x + w][ink[:h, :w]] = TEXT


def _deg(c: float) -> str:
    return f"{c:.0f}°C" if abs(c) >= 100 else f"{c:.1f}°C"


def caption_lines(shot: Shot) -> list[str]:
    """The caption: time, event, score, CO2 and its rise; then the reason, wrapped."""
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(shot.wall_t))
    head = f"{when}  {shot.kind.upper()}"
    if shot.score is not None and math.isfinite(shot.score):
        head += f"  score {shot.score:.2f}"
    lines = [head]
    if shot.co2_ppm is not None and math.isfinite(shot.co2_ppm):
        co2 = f"CO2 {shot.co2_ppm:.0f} ppm"
        if shot.co2_rise_ppm is not None and math.isfinite(shot.co2_rise_ppm):
            co2 += f", {shot.co2_rise_ppm:+.0f} ppm in 60 s"
        lines.append(co2)
    per_line = (WIDTH - 16) // (text_width("00", FONT_SCALE) - text_width("0", FONT_SCALE))
    lines += textwrap.wrap(shot.reason, per_line)
    if len(lines) > CAPTION_LINES:
        lines = lines[:CAPTION_LINES]
        lines[-1] = lines[-1][:per_line - 3] + "..."
    return lines


def render_indices(shot: Shot) -> npt.NDArray[np.uint8]:
    """The snapshot as palette indices (:data:`PALETTE`), ``WIDTH`` wide."""
    if shot.celsius is None or shot.celsius.ndim != 2 or shot.celsius.size == 0:
        idx = np.full((240, WIDTH), BACKGROUND, dtype=np.uint8)
        lo = hi = math.nan
        _put_text(idx, "NO THERMAL FRAME", 8, 8)
    else:
        c = np.asarray(shot.celsius, dtype=np.float32)
        finite = np.isfinite(c)
        lo = float(c[finite].min()) if finite.any() else 0.0
        hi = float(c[finite].max()) if finite.any() else 1.0
        span = max(hi - lo, 1.0)
        small = np.clip((np.nan_to_num(c, nan=lo) - lo) * ((LUT_SIZE - 1) / span),
                        0, LUT_SIZE - 1).astype(np.uint8)
        scale = max(1, WIDTH // c.shape[1])
        idx = np.repeat(np.repeat(small, scale, axis=0), scale, axis=1)
        if idx.shape[1] < WIDTH:
            idx = np.pad(idx, ((0, 0), (0, WIDTH - idx.shape[1])), constant_values=BACKGROUND)
        region = shot.region if shot.region is not None and shot.region.any() else None
        if region is None or region.shape != c.shape:
            region = hottest_blob(c)
        big = np.repeat(np.repeat(region, scale, axis=0), scale, axis=1)
        ring = _dilate(big, 2) & ~big
        idx[:ring.shape[0], :ring.shape[1]][ring] = OUTLINE
    panel = np.full((PANEL_H, WIDTH), BACKGROUND, dtype=np.uint8)
    if math.isfinite(lo):
        lo_txt, hi_txt = _deg(lo), _deg(hi)
        x0 = 8 + text_width("-000.0°C", FONT_SCALE) + 8
        x1 = WIDTH - x0
        panel[8:8 + BAR_H, x0:x1] = np.linspace(0, LUT_SIZE - 1, x1 - x0).astype(np.uint8)
        _put_text(panel, lo_txt, x0 - 8 - text_width(lo_txt, FONT_SCALE), 8)
        _put_text(panel, hi_txt, x1 + 8, 8)
    y = 8 + BAR_H + 8
    for line in caption_lines(shot):
        _put_text(panel, line, 8, y)
        y += LINE_H
    return np.concatenate([idx, panel])


def render(shot: Shot) -> bytes:
    """The snapshot as PNG bytes (8-bit palette)."""
    return encode_palette_png(render_indices(shot), PALETTE)
