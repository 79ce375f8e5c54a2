"""SCD41 plausibility: keep readings the chip cannot physically give away from the features.

The pipeline (daemon, ``replay``, evaluation) and the training featuriser
(``cloud/training/data.py``) pass every SCD41 reading through :class:`GasPlausibility`. A
rejected reading is treated as missing (the gas features go stale after ``gas_stale_s``, as
for a dropped reading).

**Range.** CO2 in ``[CO2_FLOOR_PPM, 40 000]``: 0 ppm is what the chip reports when it has no
CO2 value (``measure_single_shot_rht_only``, an aborted measurement), > 40 000 is past its
full scale, and fresh air is ≥ ~415 ppm, so an honest reading (±(40 ppm + 5 %), ASC drift) is
never below ~300. Temperature above −40 °C (an all-zero word decodes to −45 °C; the top of
the word, 130 °C, is kept: a chip in a fire's hot layer saturates there). RH in 0–100 %.
NaN/inf never pass.

**Rate, from the sensor's physics.** The reading ``r`` follows the air at the element ``C``
through a first-order lag, ``dr/dt = (C − r)/τ`` (datasheet τ63 ≈ 60 s; the scenario
simulator draws 55–65 s). Whatever the air does, ``dt`` seconds later::

    r_prev − (r_prev − C_min)·k  ≤  r  ≤  r_prev + (C_max − r_prev)·k,   k = 1 − exp(−dt/τ)

taken with τ = ``TAU_S`` = 50 s (a faster sensor must never be rejected), widened by the
chip's gain error (×1.05) and ``CO2_NOISE_PPM``. Two ``C_max``:

- *hard* ``CO2_AIR_MAX_PPM`` = 210 000 ppm: every O2 molecule of air turned into CO2. Outside
  this the reading is impossible: rejected. Downwards (C_min = 0) it is tight: at 420 ppm a
  reading can fall by at most 102 ppm in 5 s, so a 0-ppm dropout or the return from an
  outlier is caught. Upwards it is loose: a fire plume at the element can be far above the
  chip's 40 000-ppm full scale (the simulator's ceiling plumes reach ~9 %), so a *single*
  5000-ppm sample is not impossible by the rate alone.
- *soft* ``CO2_SOFT_AIR_PPM`` = 10 000 ppm at the element: a rise faster than such air
  could drive (at 420 ppm: +1 018 ppm in 5 s) is *held* for one reading. If the next
  reading could follow it (hard bound), both are released in order; if it falls back as no
  lagged sensor can (an outlier), the held one is rejected. So a single outlier stepping
  more than that never reaches the features, and a real rise that fast is delayed by one
  reading, never lost: in the fast flaming scenarios that first happens above ~4 000 ppm,
  100 s or more after ignition and after the alarm (tests/test_plausibility.py,
  bench/plausibility_tta.py). Single outliers under the soft bound still pass.

Temperature: the same lag bound with the air in −40…600 °C; RH may move by k·100 % plus
what the temperature step does to it (≈ 7 %RH per °C at constant vapour).

**Re-anchoring.** The bounds are taken from the last *accepted* reading (the anchor). After
``REANCHOR_AFTER`` hard rejections that are plausible among themselves the latest is
accepted: a wrong anchor (a bad first reading) cannot lock the sensor out.

**Fault.** ``FAULT_AFTER`` rejections in a row, or ``FAULT_WINDOW_REJECTED`` of the last
``FAULT_WINDOW`` readings, make :attr:`GasPlausibility.fault` a reason string (the pipeline
reports the SCD41 faulted with it); it clears when plausible readings push them out.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import deque
from collections.abc import Iterable

import numpy as np

from edge.recording import Recording
from edge.types import GasReading

log = logging.getLogger(__name__)

TAU_S = 50.0
CO2_FULL_SCALE_PPM = 40_000.0
CO2_FLOOR_PPM = 200.0
CO2_AIR_MIN_PPM = 0.0
CO2_AIR_MAX_PPM = 210_000.0
CO2_SOFT_AIR_PPM = 10_000.0
CO2_NOISE_PPM = 60.0
GAIN_TOL = 0.05
T_FLOOR_C = -40.0  # exclusive: an all-zero word decodes to −45 °C
T_AIR_C = (-40.0, 600.0)  # the air at the element: up to a flashover's hot layer
T_NOISE_C = 0.5
RH_PER_C = 7.0  # |dRH/dT| at constant vapour, 100 %RH, 20 °C (Magnus), rounded up
RH_NOISE_PCT = 2.0
REANCHOR_AFTER = 3
FAULT_AFTER = 3
FAULT_WINDOW = 12  # one minute of 5-s readings
FAULT_WINDOW_REJECTED = 6


def lag_bounds(prev: float, dt: float, lo: float, hi: float, tol: float,
               noise: float) -> tuple[float, float]:
    """Where a first-order-lag reading at ``prev`` can be ``dt`` s later, the air in [lo, hi]."""
    k = -math.expm1(-max(dt, 0.0) / TAU_S)
    return (prev - (1.0 + tol) * max(prev - lo, 0.0) * k - noise,
            prev + (1.0 + tol) * max(hi - prev, 0.0) * k + noise)


def range_problem(r: GasReading) -> str | None:
    """Why ``r`` is outside what the chip can honestly report (None: it is inside)."""
    values = (r.co2_ppm, r.temperature_c, r.humidity_pct)
    if not all(math.isfinite(v) for v in values):
        return f"not a number: co2 {r.co2_ppm} ppm, T {r.temperature_c} °C, RH {r.humidity_pct} %"
    if not CO2_FLOOR_PPM <= r.co2_ppm <= CO2_FULL_SCALE_PPM:
        return (f"co2 {r.co2_ppm:g} ppm outside {CO2_FLOOR_PPM:g}–{CO2_FULL_SCALE_PPM:g} ppm"
                + (" (the chip's no-value 0)" if r.co2_ppm == 0 else ""))
    if not r.temperature_c > T_FLOOR_C:
        return f"temperature {r.temperature_c:g} °C ≤ {T_FLOOR_C:g} °C (an all-zero word)"
    if not 0.0 <= r.humidity_pct <= 100.0:
        return f"humidity {r.humidity_pct:g} % outside 0–100 %"
    return None


def rate_problem(prev: GasReading, r: GasReading,
                 co2_max: float = CO2_AIR_MAX_PPM) -> str | None:
    """Why ``r`` cannot follow ``prev`` through the sensor's lag (None: it can), the air's
    CO2 at most ``co2_max``."""
    dt = r.t - prev.t
    lo, hi = lag_bounds(prev.co2_ppm, dt, CO2_AIR_MIN_PPM, co2_max, GAIN_TOL, CO2_NOISE_PPM)
    if not lo <= r.co2_ppm <= hi:
        return (f"co2 {prev.co2_ppm:g} → {r.co2_ppm:g} ppm in {dt:.1f} s (the sensor's lag "
                f"allows {lo:.0f}…{hi:.0f})")
    lo, hi = lag_bounds(prev.temperature_c, dt, *T_AIR_C, GAIN_TOL, T_NOISE_C)
    if not lo <= r.temperature_c <= hi:
        return (f"temperature {prev.temperature_c:.2f} → {r.temperature_c:.2f} °C in {dt:.1f} s "
                f"(allowed {lo:.2f}…{hi:.2f})")
    d_rh = abs(r.humidity_pct - prev.humidity_pct)
    allowed = (100.0 * -math.expm1(-max(dt, 0.0) / TAU_S) + RH_PER_C
               * abs(r.temperature_c - prev.temperature_c) + RH_NOISE_PCT)
    if d_rh > allowed:
        return (f"humidity {prev.humidity_pct:.1f} → {r.humidity_pct:.1f} % in {dt:.1f} s "
                f"(allowed ±{allowed:.1f})")
    return None


class GasPlausibility:
    """The stateful filter: :meth:`check` each reading in time order, feed what it releases."""

    def __init__(self) -> None:
        self.anchor: GasReading | None = None
        self.held: GasReading | None = None  # a rise past the soft bound, awaiting the next
        self.pending: list[GasReading] = []  # hard rejections since the anchor
        self.rejected = 0
        self.held_count = 0
        self.consecutive = 0
        self.last_reason: str | None = None
        self._window: deque[bool] = deque(maxlen=FAULT_WINDOW)

    def check(self, r: GasReading) -> list[GasReading]:
        """The readings to feed now, in order: ``[r]``, ``[]`` (rejected or held), or
        ``[held, r]`` when ``r`` confirms the held one."""
        if self.held is not None and range_problem(r) is None:
            held, self.held = self.held, None
            if rate_problem(held, r) is None:
                self._count(None)
                self._count(None)
                self._accept(r)
                return [held, r]
            self._count(f"an outlier: {rate_problem(self.anchor or held, held, CO2_SOFT_AIR_PPM)}"
                        f"; then {r.co2_ppm:g} ppm")
        problem = range_problem(r)
        if problem is None and self.anchor is not None:
            problem = rate_problem(self.anchor, r)
            if problem is not None and self._agrees(r):
                log.info("scd41: re-anchored on %g ppm after %d implausible readings",
                         r.co2_ppm, len(self.pending))
                problem = None
            elif problem is not None:
                self.pending.append(r)
                del self.pending[:-REANCHOR_AFTER]
            elif rate_problem(self.anchor, r, CO2_SOFT_AIR_PPM) is not None:
                self.held = r
                self.held_count += 1
                return []
        self._count(problem)
        if problem is not None:
            return []
        self._accept(r)
        return [r]

    @property
    def fault(self) -> str | None:
        """Why the sensor is faulted by its implausible readings (None: it is not)."""
        in_window = sum(self._window)
        if self.consecutive >= FAULT_AFTER or in_window >= FAULT_WINDOW_REJECTED:
            return (f"implausible readings ({self.consecutive} in a row, {in_window} of the "
                    f"last {len(self._window)}): {self.last_reason}")
        return None

    def _count(self, problem: str | None) -> None:
        self._window.append(problem is not None)
        if problem is None:
            self.consecutive = 0
            return
        self.rejected += 1
        self.consecutive += 1
        self.last_reason = problem
        log.warning("scd41: reading rejected (%d in a row, %d in all): %s",
                    self.consecutive, self.rejected, problem)

    def _agrees(self, r: GasReading) -> bool:
        chain = [*self.pending, r]
        return len(chain) >= REANCHOR_AFTER and all(
            rate_problem(x, y) is None for x, y in zip(chain[-REANCHOR_AFTER:],
                                                        chain[-REANCHOR_AFTER + 1:], strict=False))

    def _accept(self, r: GasReading) -> None:
        self.anchor = r
        self.pending.clear()


def plausible_mask(t: Iterable[float], co2_ppm: Iterable[float], temperature_c: Iterable[float],
                   humidity_pct: Iterable[float]) -> list[bool]:
    """Which readings of a recording (time order) the pipeline's filter accepts."""
    f = GasPlausibility()
    fed: set[int] = set()
    readings = [GasReading(float(a), float(b), float(c), float(d))
                for a, b, c, d in zip(t, co2_ppm, temperature_c, humidity_pct, strict=True)]
    index = {id(r): i for i, r in enumerate(readings)}
    for r in readings:
        fed.update(index[id(x)] for x in f.check(r))
    return [i in fed for i in range(len(readings))]


def plausible_recording(rec: Recording) -> Recording:
    """``rec`` without the SCD41 readings the pipeline would not feed (so a model trains on
    what it will see on the device); ``rec`` itself when every reading passes."""
    keep = np.asarray(plausible_mask(rec.gas_t, rec.co2_ppm, rec.temperature_c,
                                     rec.humidity_pct), dtype=bool)
    if keep.all():
        return rec
    return dataclasses.replace(rec, gas_t=rec.gas_t[keep], co2_ppm=rec.co2_ppm[keep],
                               temperature_c=rec.temperature_c[keep],
                               humidity_pct=rec.humidity_pct[keep])
