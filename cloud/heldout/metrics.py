"""Statistics of the held-out evaluation (fire-science.md §5): intervals and time to alarm.

- ``wilson_ci(k, n)`` — the Wilson score interval of a detection rate k/n (95 % by default).
- ``poisson_rate_ci(k, exposure)`` — the exact (Garwood) interval of an event rate: k false
  alarms over ``exposure`` device-days.
- ``tta_summary(times, censored_at)`` — median, p90 and p95 of the time to alarm over the
  detected runs, plus a Kaplan–Meier estimate where misses are censored at their run's end.
- ``kaplan_meier(times, observed)`` — the survival curve behind it ("not yet alarmed").
- ``before_smoke_detector(runs)`` — the share of fires alarmed before a ceiling smoke
  detector (CFAST's, ``smoke_detector_s``), with its Wilson interval.

Pure functions over plain numbers; NaN where a statistic is undefined (no runs, no exposure).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def _z(confidence: float) -> float:
    from scipy.stats import norm

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence}; allowed: strictly between 0 and 1")
    return float(norm.ppf(0.5 + confidence / 2.0))


def wilson_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k/n``; (nan, nan) when ``n == 0``.

    :raises ValueError: for ``k`` outside ``[0, n]`` or a confidence outside (0, 1).
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"k={k}, n={n}; allowed: 0 ≤ k ≤ n")
    z = _z(confidence)
    if n == 0:
        return math.nan, math.nan
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At k = 0 or k = n the exact bound is 0 or 1; rounding must not move it.
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def poisson_rate_ci(k: int, exposure: float, confidence: float = 0.95
                    ) -> tuple[float, float, float]:
    """Rate ``k/exposure`` with its exact (Garwood, chi-square) interval.

    With k = 0 the lower bound is 0 and the upper bound is ``-ln(α/2)/exposure`` (3.69/T at
    95 %): zero false alarms over T device-days only shows the rate is below that.

    :raises ValueError: for a negative count or exposure.
    """
    from scipy.stats import chi2

    if k < 0 or not exposure >= 0:
        raise ValueError(f"k={k}, exposure={exposure}; allowed: k ≥ 0, exposure ≥ 0")
    _z(confidence)  # validates
    if exposure == 0:
        return math.nan, math.nan, math.nan
    alpha = 1.0 - confidence
    lo = 0.0 if k == 0 else float(chi2.ppf(alpha / 2, 2 * k)) / 2.0
    hi = float(chi2.ppf(1 - alpha / 2, 2 * k + 2)) / 2.0
    return k / exposure, lo / exposure, hi / exposure


@dataclass(frozen=True)
class KaplanMeier:
    """A step survival curve: ``survival[i]`` holds from ``times[i]`` on."""

    times: tuple[float, ...]
    survival: tuple[float, ...]

    def median(self) -> float:
        """The first time survival drops to 0.5 or below (NaN if it never does)."""
        for t, s in zip(self.times, self.survival, strict=True):
            if s <= 0.5:
                return t
        return math.nan

    def quantile(self, q: float) -> float:
        """The first time at which a fraction ``q`` of runs has alarmed (NaN if never)."""
        for t, s in zip(self.times, self.survival, strict=True):
            if 1.0 - s >= q - 1e-12:
                return t
        return math.nan


def kaplan_meier(times: Sequence[float], observed: Sequence[bool]) -> KaplanMeier:
    """Kaplan–Meier estimate; ``observed[i]`` False = censored at ``times[i]`` (a miss).

    :raises ValueError: when the two sequences differ in length or a time is not finite.
    """
    if len(times) != len(observed):
        raise ValueError(f"{len(times)} times but {len(observed)} observed flags")
    t = np.asarray(times, dtype=np.float64)
    if t.size and not np.isfinite(t).all():
        raise ValueError("times must be finite")
    obs = np.asarray(observed, dtype=bool)
    s = 1.0
    out_t: list[float] = [0.0]
    out_s: list[float] = [1.0]
    for u in np.unique(t[obs]):
        at_risk = int((t >= u).sum())
        events = int(((t == u) & obs).sum())
        s *= 1.0 - events / at_risk
        out_t.append(float(u))
        out_s.append(s)
    return KaplanMeier(tuple(out_t), tuple(out_s))


def tta_summary(tta_s: Sequence[float], censored_at_s: Sequence[float] = ()
                ) -> dict[str, float | int]:
    """Time-to-alarm statistics over detected runs (``tta_s``) and misses (``censored_at_s``,
    each run's fire time up to its end). Plain percentiles ignore the misses; the KM figures
    count them as "not yet alarmed"."""
    detected = np.asarray(tta_s, dtype=np.float64)
    nan = math.nan
    out: dict[str, float | int] = {
        "n_detected": int(detected.size),
        "n_censored": len(censored_at_s),
        "median_s": float(np.median(detected)) if detected.size else nan,
        "p90_s": float(np.percentile(detected, 90)) if detected.size else nan,
        "p95_s": float(np.percentile(detected, 95)) if detected.size else nan,
        "max_s": float(detected.max()) if detected.size else nan,
    }
    km = kaplan_meier([*detected.tolist(), *censored_at_s],
                      [True] * detected.size + [False] * len(censored_at_s))
    out["km_median_s"] = km.median()
    out["km_p95_s"] = km.quantile(0.95)
    return out


def before_smoke_detector(runs: Sequence[tuple[float | None, float | None, float]],
                          confidence: float = 0.95) -> dict[str, Any]:
    """The share of fire runs the device alarmed on strictly before the ceiling smoke detector.

    Each run is ``(alarm_s, smoke_s, end_s)``: the device's first alarm on the fire and the
    smoke detector's activation, in scene seconds, each None if it never came, and the end
    of the rendered run. A run counts as "before" when the device alarmed and the detector
    activated later or never (a fire the detector never notices is beaten by any alarm); a
    run where the detector came first, or the device missed a fire the detector caught within
    the run, is not. A run where neither came within the run is **undecided** (the device's
    miss is censored at the run's end; the detector may come later) and left out of the
    share. Also: the Wilson interval, how many detectors never activated, and the median
    lead ``smoke_s − alarm_s`` over runs with both (negative: the detector was first).

    :raises ValueError: for a time that is not finite.
    """
    k = n = never = undecided = 0
    leads: list[float] = []
    for alarm_s, smoke_s, end_s in runs:
        for v in (alarm_s, smoke_s, end_s):
            if v is not None and not math.isfinite(v):
                raise ValueError(f"alarm/smoke-detector/end time {v}; allowed: a finite "
                                 f"number (or None for the first two)")
        never += smoke_s is None
        if alarm_s is None and (smoke_s is None or smoke_s >= end_s):
            undecided += 1
            continue
        n += 1
        if alarm_s is not None and (smoke_s is None or alarm_s < smoke_s):
            k += 1
        if alarm_s is not None and smoke_s is not None:
            leads.append(smoke_s - alarm_s)
    lo, hi = wilson_ci(k, n, confidence)
    return {"fire_runs": n, "before": k, "pct": 100.0 * k / n if n else math.nan,
            "ci95_pct": [100 * lo, 100 * hi], "detector_never": never,
            "undecided": undecided,
            "median_lead_s": float(np.median(leads)) if leads else math.nan}
