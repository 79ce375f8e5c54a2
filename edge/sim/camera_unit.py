"""What another lens and another Lepton unit would record from the same scene (issue 14;
docs/scenarios.md, "Installation variation").

Both of our engines are painted by one renderer, so every training frame has its optics and
its radiometric calibration. ``apply_camera_unit`` re-renders recorded TLinear frames as a
different camera would, per frame and deterministically (a frozen frame, a copy of the frame
it repeats, stays a copy):

1. **optics blur**: a Gaussian point-spread function of ``psf_sigma_px`` pixels, applied in
   8–14 µm band radiance (counts → K → ``B(T)``, blur, ``B⁻¹``), so a sub-pixel flame dims
   and spreads as through a real lens and a pixel pair never averages temperatures;
2. **radiometric error** of the unit: ``T_read = T + offset + gain_err·(T − 300 K)``;

then requantisation to the frame's resolution, clipped to the gain's range. A pixel that was
saturated stays at the camera's ceiling for its gain: the scene behind it was at least that
hot, and the device reads the ceiling as "saturated".

The blur acts on the recorded frame, so it smooths the frame's focal-plane noise as well
(NETD and fixed pattern, added by our renderer before quantisation): at σ = 1.2 px the
pixel noise drops to about a quarter. A known limit, documented with the ranges.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.sim.scenarios.physics import LUT_T_K, band_radiance, band_temperature
from edge.types import ZERO_C_K

U16Array = npt.NDArray[np.uint16]
F32Array = npt.NDArray[np.float32]
REFERENCE_K = 300.0  # the gain error pivots here: a 300 K pixel moves by the offset only
_GRID = 1 << 20  # cells of the radiance → count table
_CHUNK = 128  # frames per block: bounds the float32 working set (~10 MB at 160×120)


def saturation_count(meta: dict[str, Any], resolution_k: float) -> int:
    """The TLinear value of a saturated pixel for the recording's camera (its gain's clip in
    ``meta["params"]``, as ``CameraParams.max_count``); 65535 if the recording does not say."""
    params = meta.get("params") or {}
    key = "camera_low_gain_clip_c" if params.get("camera_low_gain") else "camera_high_gain_clip_c"
    clip_c = params.get(key)
    if not isinstance(clip_c, (int, float)) or not math.isfinite(clip_c):
        return 65535
    return min(65535, round((float(clip_c) + ZERO_C_K) / resolution_k))


@cache
def _count_radiance(resolution_k: float) -> F32Array:
    """``B(count · resolution)`` for every uint16 count (a gather table)."""
    kelvin = np.arange(65536, dtype=np.float64) * resolution_k
    return band_radiance(kelvin).astype(np.float32)


def apply_camera_unit(frames: U16Array, resolution_k: float, max_count: int,
                      psf_sigma_px: float, offset_k: float, gain_err: float,
                      in_place: bool = False) -> U16Array:
    """``frames`` (n, h, w) as a camera with this lens blur and radiometric error records
    them, byte-identical when there is neither: a new array, or ``frames`` itself changed
    when ``in_place`` (saves a copy of a whole recording).

    :raises ValueError: a negative or non-finite sigma, a non-finite offset or gain error, a
        gain error of −100 % or less, or a ceiling outside 1–65535.
    """
    if not (math.isfinite(psf_sigma_px) and psf_sigma_px >= 0.0):
        raise ValueError(f"psf_sigma_px {psf_sigma_px}; allowed: a number ≥ 0")
    if not (math.isfinite(offset_k) and math.isfinite(gain_err) and gain_err > -1.0):
        raise ValueError(f"radiometric offset {offset_k} K, gain error {gain_err}; allowed: "
                         "finite numbers, the gain error above −1")
    if not 1 <= max_count <= 65535:
        raise ValueError(f"max_count {max_count}; allowed: 1–65535")
    out = frames if in_place else frames.copy()
    if psf_sigma_px == 0.0 and offset_k == 0.0 and gain_err == 0.0:
        return out
    if psf_sigma_px == 0.0:  # the error alone: one count → count table
        table = _read_counts(np.arange(65536) * resolution_k, resolution_k, max_count,
                             offset_k, gain_err)
        table[max_count:] = max_count
        for i in range(0, frames.shape[0], _CHUNK):
            out[i:i + _CHUNK] = table[out[i:i + _CHUNK]]
        return out
    # Blurred radiance → the count the unit reads, on a uniform grid of radiance fine enough
    # (2²⁰ cells: < 0.001 K at room temperature) to look the nearest cell up per pixel.
    radiance = _count_radiance(resolution_k)
    lo, hi = float(radiance[0]), float(band_radiance(min(max_count * resolution_k, LUT_T_K[1])))
    grid = np.linspace(lo, hi, _GRID + 1)
    table = _read_counts(band_temperature(grid), resolution_k, max_count, offset_k, gain_err)
    table[-1] = max_count
    per_cell = np.float32(_GRID / (hi - lo))
    from scipy.ndimage import gaussian_filter  # lazy: scipy.ndimage costs ~31 MiB of RSS

    for i in range(0, frames.shape[0], _CHUNK):
        block = out[i:i + _CHUNK]
        # Truncated at 3 sigma (≥ 99.7 % of the PSF); scipy normalises the kernel to sum 1.
        blurred: F32Array = gaussian_filter(radiance[block], sigma=(0.0, psf_sigma_px,
                                            psf_sigma_px), mode="nearest", truncate=3.0)
        blurred -= np.float32(lo)
        blurred *= per_cell
        blurred += np.float32(0.5)  # the nearest grid point
        np.clip(blurred, 0.0, float(_GRID), out=blurred)
        result = table[blurred.astype(np.int32)]
        result[block >= max_count] = max_count  # saturated: the scene was at least that hot
        out[i:i + _CHUNK] = result
    return out


def _read_counts(kelvin: npt.NDArray[np.floating[Any]], resolution_k: float, max_count: int,
                 offset_k: float, gain_err: float) -> U16Array:
    """The counts the unit reports for true temperatures ``kelvin``: ``T + offset +
    gain_err·(T − 300 K)``, rounded to the resolution, clipped to 0–``max_count``."""
    read = kelvin + offset_k + gain_err * (kelvin - REFERENCE_K)
    counts = np.clip(np.floor(read / resolution_k + 0.5), 0.0, float(max_count))
    return counts.astype(np.uint16)
