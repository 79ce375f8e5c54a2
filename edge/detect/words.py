"""Reasons in words: what an event's evidence says, for a person reading a phone at 3 a.m.

The alarm logic (:mod:`edge.detect.alarm`) and the evidence sources (:mod:`edge.detect.evidence`)
each say their own part (``AlarmEvent.why``: what the score did, or what the flame or smoulder
watch saw). :func:`explain_alarm` adds what else was actually used: the features that pushed
the model's score most, the gas history when the fd-v2 features are there ("CO2 rose 180 ppm in
120 s with no person-like humidity rise"), and the sensors that are faulted, with what the
device decides on instead ("camera faulted; deciding on gas alone"). :func:`explain_fault`
says a sensor fault the same way. Pure functions of their arguments: tested on constructed
evidence; numbers are rounded to what a person can use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from edge.detect.alarm import AlarmEvent
from edge.detect.evidence import Evidence
from edge.featuresets.registry import FEATURE_SETS

__all__ = ["SCORE_REASONS", "explain_alarm", "explain_fault", "feature_values", "gas_words",
           "sensor_words"]

#: A person adds water vapour with the CO2 they breathe out: exhaled air holds ~6 % water to
#: ~4 % CO2 (≈ 1.5 ppm per ppm), more with sweat. Flames of dry fuel give less (cellulose:
#: 5 H2O per 6 CO2 ≈ 0.8), and the room's air dilutes both alike. At or above this ratio the
#: rise looks like people.
PERSON_H2O_PER_CO2 = 1.0
#: Below this CO2 rise over 120 s (ppm) the gas says nothing worth a word (the fd-v2
#: ratio features' own floor, edge/featuresets/gas.py).
MIN_CO2_RISE_PPM = 20.0
#: How many of the model's top features are named.
TOP_NAMED = 2

_SENSOR_NAMES = {"lepton": "camera", "scd41": "gas sensor"}
_FALLBACK = {"lepton": "deciding on gas alone", "scd41": "deciding on the camera alone"}
#: The alarm reasons the model's score decided (the rest are evidence sources' triggers).
SCORE_REASONS = ("persistent", "fast_path", "sustained")


def feature_values(vector: np.ndarray | None) -> dict[str, float]:
    """A feature vector's values by name (empty when its length matches no feature set)."""
    if vector is None:
        return {}
    for names in FEATURE_SETS.values():
        if len(names) == vector.shape[0]:
            return {n: float(v) for n, v in zip(names, vector, strict=True)}
    return {}


def gas_words(values: Mapping[str, float]) -> str:
    """The gas history in words from the fd-v2 values (``""`` when absent or flat)."""
    slope = values.get("co2_slope_120s", math.nan)  # ppm/min over 120 s
    if not math.isfinite(slope):
        return ""
    rise = slope * 2.0
    if rise < MIN_CO2_RISE_PPM:
        return ""
    said = f"CO2 rose {_round_ppm(rise)} ppm in 120 s"
    ratio = values.get("h2o_per_co2_120s", math.nan)
    if math.isfinite(ratio):
        if ratio >= PERSON_H2O_PER_CO2:
            said += (f" with a person-like humidity rise ({ratio:.1f} ppm water per ppm "
                     "CO2)")
        else:
            said += " with no person-like humidity rise"
    return said


def sensor_words(faults: Mapping[str, str | None]) -> str:
    """The faulted sensors and what the device decides on instead (``""`` when none)."""
    bad = [s for s in sorted(faults) if faults[s]]
    if not bad:
        return ""
    if len(bad) > 1:
        return "both sensors faulted; no sensor left to decide on"
    sensor = bad[0]
    return f"{_SENSOR_NAMES.get(sensor, sensor)} faulted; {_FALLBACK.get(sensor, 'degraded')}"


def explain_alarm(
    event: AlarmEvent,
    top_features: Sequence[tuple[str, float]] = (),
    values: Mapping[str, float] | None = None,
    faults: Mapping[str, str | None] | None = None,
    evidence: Sequence[Evidence] = (),
    alone: tuple[float, float] | None = None,
) -> str:
    """An ``alarm`` or ``clear`` in words: the alarm logic's own ``why``, then (score reasons
    only) the model's top features, what each sensor alone scores (``alone``: the gas's, the
    camera's) and any cap an evidence source put on the score (the known-scene rule), then
    the gas history and the faulted sensors."""
    parts = [event.why or event.reason]
    if event.kind == "alarm":
        if event.reason in SCORE_REASONS:
            named = [n for n, _ in top_features[:TOP_NAMED]]
            if named:
                parts.append(f"top features: {', '.join(named)}")
            if alone is not None and all(math.isfinite(a) for a in alone):
                parts.append(f"the gas alone scores {alone[0]:.2f}, the camera alone "
                             f"{alone[1]:.2f}")
            parts += [ev.why for ev in evidence if ev.cap is not None and ev.why]
        gas = gas_words(values or {})
        if gas:
            parts.append(gas)
    degraded = sensor_words(faults or {})
    if degraded:
        parts.append(degraded)
    return "; ".join(parts)


def explain_fault(sensor: str, reason: str, faults: Mapping[str, str | None]) -> str:
    """A sensor ``fault`` in words: which sensor, why, and what the device decides on now."""
    name = _SENSOR_NAMES.get(sensor, sensor)
    others = {s: r for s, r in faults.items() if r and s != sensor}
    if others:
        return f"{name} faulted ({reason}); both sensors faulted; no sensor left to decide on"
    return f"{name} faulted ({reason}); {_FALLBACK.get(sensor, 'degraded')}"


def _round_ppm(x: float) -> int:
    """ppm to two significant figures, at least to the ppm (183 → 180, 17 → 17)."""
    if x < 100:
        return round(x)
    digits = math.floor(math.log10(x)) - 1
    return int(round(x, -digits))
