"""The Lepton model: focal-plane noise, flat-field corrections, gain, saturation, quantisation.

Two halves, matching the seam of ``edge.sim.scene.Scene``:

- focal plane (part of ``Scene.thermal_k``): NETD temporal noise, row/column fixed-pattern
  noise, the slow offset drift that each flat-field correction (FFC) resets, the settling
  transient after an FFC, and gain-switch transients;
- readout (only in ``render_recording``; the byte-level camera simulator does its own):
  saturation at the gain's ceiling, TLinear quantisation to 0.01 K (65535 = 382.2 °C) or
  0.1 K, and frozen frames while the shutter is closed (the last frame repeats).

NETD noise comes from two banks of pre-drawn noise frames indexed by a hash of the frame
time: deterministic per time, cheap for thousands of frames, practically never repeating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.sim.scenarios.noisebank import NoiseBank
from edge.sim.scenarios.signals import Signal
from edge.types import ZERO_C_K, FloatArray

F32Array = npt.NDArray[np.float32]
LEPTON_SHAPES = {"3.5": (120, 160), "2.5": (60, 80)}
NOMINAL_RATE_HZ = 8.7  # an FFC freezes a number of frames at the camera's own rate
_BANKS = (61, 67)  # prime sizes: 4087 combinations before a pair repeats by chance


@dataclass
class CameraParams:
    """One camera's drawn characteristics (see COMMON_RANGES in base.py)."""

    low_gain: bool
    resolution_k: float
    high_gain_clip_c: float
    low_gain_clip_c: float
    netd_k: float
    fpn_k: float
    drift_k_per_min: float
    ffc_period_s: float
    ffc_phase: float
    ffc_freeze_frames: list[int]
    ffc_settle_s: list[float]
    ffc_settle_k: list[float]
    extra_ffc_s: list[float] = field(default_factory=list)
    offsets_k: list[Signal] = field(default_factory=list)

    @property
    def saturation_k(self) -> float:
        """The hottest scene the camera reports before it clips (K)."""
        clip_c = self.low_gain_clip_c if self.low_gain else self.high_gain_clip_c
        return clip_c + ZERO_C_K

    @property
    def max_count(self) -> int:
        """The uint16 value of a saturated pixel."""
        return min(65535, round(self.saturation_k / self.resolution_k))


class Camera:
    """A Lepton with its FFC schedule, deterministic for a seed."""

    def __init__(self, params: CameraParams, seed: int, duration_s: float) -> None:
        self.p = params
        self.seed = seed
        period = params.ffc_period_s
        starts = list(np.arange(params.ffc_phase * period, duration_s + period, period))
        starts += list(params.extra_ffc_s)
        order = np.argsort(starts)
        n = len(starts)
        freeze = np.resize(np.asarray(params.ffc_freeze_frames, dtype=np.float64), n)
        self.ffc_start = np.asarray(starts, dtype=np.float64)[order]
        self.ffc_end = self.ffc_start + freeze[order] / NOMINAL_RATE_HZ
        self.settle_s = np.resize(np.asarray(params.ffc_settle_s), n)[order]
        self.settle_k = np.resize(np.asarray(params.ffc_settle_k), n)[order]
        #: Hold the noise banks in memory (rendering recordings in chunks), or regenerate each
        #: frame of them when used (a live simulator, one frame at a time: 9.8 MiB less).
        self.keep_noise = True
        self._cache: dict[tuple[int, int], tuple[NoiseBank, NoiseBank, F32Array]] = {}

    def ffc_active(self, ts: FloatArray) -> npt.NDArray[np.bool_]:
        """True where the shutter is closed."""
        k = np.searchsorted(self.ffc_start, ts, side="right") - 1
        inside = (k >= 0) & (ts < self.ffc_end[np.maximum(k, 0)])
        return np.asarray(inside, dtype=bool)

    def offset_k(self, ts: FloatArray) -> FloatArray:
        """Global focal-plane offset: drift since the last FFC + its settling transient."""
        k = np.searchsorted(self.ffc_start, ts, side="right") - 1
        kk = np.maximum(k, 0)
        since = np.where(k >= 0, ts - self.ffc_end[kk], ts + self.p.ffc_period_s * 0.5)
        since = np.maximum(since, 0.0)
        drift = self.p.drift_k_per_min * since / 60.0
        settle = np.where(k >= 0, self.settle_k[kk] * np.exp(-since / (self.settle_s[kk] / 3.0)),
                          0.0)
        out: FloatArray = drift + settle
        for extra in self.p.offsets_k:
            out = out + extra(ts)
        return out

    def _noise(self, height: int, width: int) -> tuple[NoiseBank, NoiseBank, F32Array]:
        key = (height, width)
        if key not in self._cache:
            rng = np.random.default_rng((self.seed, 11, height))
            sd = self.p.netd_k / math.sqrt(2.0)
            bank_a = NoiseBank(rng, sd, _BANKS[0], height, width, self.keep_noise)
            bank_b = NoiseBank(rng, sd, _BANKS[1], height, width, self.keep_noise)
            fpn = (rng.normal(0.0, self.p.fpn_k, (height, 1))
                   + rng.normal(0.0, self.p.fpn_k, (1, width))).astype(np.float32)
            self._cache[key] = (bank_a, bank_b, fpn)
        return self._cache[key]

    def add_focal_plane(self, ts: FloatArray, temp: F32Array) -> None:
        """Add NETD noise, fixed-pattern noise and the global offset to ``temp`` in place."""
        _, height, width = temp.shape
        bank_a, bank_b, fpn = self._noise(height, width)
        key = np.round(ts * 1000.0).astype(np.int64).astype(np.uint64)
        mixed = (key * np.uint64(0x9E3779B97F4A7C15) + np.uint64(self.seed & 0xFFFFFFFF))
        mixed ^= mixed >> np.uint64(29)
        ia = (mixed % np.uint64(_BANKS[0])).astype(np.intp)
        ib = ((mixed >> np.uint64(16)) % np.uint64(_BANKS[1])).astype(np.intp)
        temp += bank_a.take(ia)
        temp += bank_b.take(ib)
        temp += fpn
        temp += self.offset_k(ts).astype(np.float32)[:, None, None]

    def quantise(self, temp: F32Array) -> npt.NDArray[np.uint16]:
        """TLinear counts: kelvin / resolution, clipped at the gain's ceiling (and 65535)."""
        counts = temp * np.float32(1.0 / self.p.resolution_k)
        counts += np.float32(0.5)
        np.clip(counts, 0.0, float(self.p.max_count), out=counts)
        return counts.astype(np.uint16)

    def freeze_sources(self, ts: FloatArray) -> npt.NDArray[np.intp]:
        """For each frame, the index of the frame the camera sends: itself, or during an FFC
        the last frame before the shutter closed (the first frame if there is none)."""
        frozen = self.ffc_active(ts)
        idx = np.arange(ts.size)
        live = np.where(frozen, -1, idx)
        src = np.maximum.accumulate(live) if ts.size else live
        first_live = int(np.argmax(~frozen)) if (~frozen).any() else 0
        return np.where(src < 0, first_live, src).astype(np.intp)
