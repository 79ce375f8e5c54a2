"""The JSON payloads the daemon publishes (docs/mqtt.md), built from pipeline state.

Pure functions: no clock is read here (the caller passes ``ts``), so tests pin every byte.
NaN is not JSON: a missing number is ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from edge.detect.pipeline import DetectionEvent, ScoreLike


def iso_utc(when: datetime | float | None = None) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``: ``2026-11-26T04:31:15.123Z``."""
    if when is None:
        dt = datetime.now(UTC)
    elif isinstance(when, datetime):
        dt = when.astimezone(UTC)
    else:
        dt = datetime.fromtimestamp(when, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def num(x: float | None, ndigits: int = 4) -> float | None:
    """A finite float rounded for a payload, or None (JSON null) for NaN/inf/None."""
    if x is None:
        return None
    x = float(x)
    return round(x, ndigits) if math.isfinite(x) else None


def dumps(obj: Mapping[str, Any]) -> bytes:
    """Compact JSON bytes; refuses NaN so a payload is always valid JSON."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def event_payload(
    event: DetectionEvent,
    seq: int,
    ts: str,
    sensors: Mapping[str, str],
    degraded: bool,
    model_version: str,
    reasons: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """An ``alarm``/``clear``/``fault`` event: mqtt.md's fields plus ``t`` and ``top_features``."""
    detail: ScoreLike | None = event.detail
    out: dict[str, Any] = {
        "event": event.kind,
        "seq": seq,
        "ts": ts,
        "score": num(event.score),
        "model": detail.model_version if detail is not None else model_version,
        "degraded": bool(degraded or (detail is not None and detail.degraded)),
        "members": {k: num(v) for k, v in detail.members.items()} if detail else {},
        "sensors": dict(sensors),
        "t": num(event.t, 3),
        "top_features": [
            {"name": name, "contribution": num(c)} for name, c in (detail.top_features if detail
                                                                   else [])
        ],
    }
    if event.kind == "fault":
        out["sensor"] = event.sensor
        out["reason"] = event.reason
        out["why"] = event.why or f"{event.sensor} faulted ({event.reason})"
    elif event.alarm is not None:
        out["reason"] = event.alarm.reason
        out["why"] = event.why or event.alarm.why
    if reasons:
        out["faults"] = {k: v for k, v in reasons.items() if v}
    return out


def test_payload(
    seq: int, ts: str, sensors: Mapping[str, str], degraded: bool, model_version: str,
    score: float | None, t: float,
) -> dict[str, Any]:
    """The answer to ``<base>/cmd/test``: an event subscribers can check end to end."""
    return {
        "event": "test", "seq": seq, "ts": ts, "score": num(score), "model": model_version,
        "degraded": degraded, "members": {}, "sensors": dict(sensors), "t": num(t, 3),
        "top_features": [],
    }


def state_payload(state: str, since_ts: str, since_t: float | None, score: float | None,
                  last_event: Mapping[str, Any] | None = None,
                  reason: tuple[str, str] | None = None) -> bytes:
    """Retained ``<base>/state``: current alarm state, since when, last score, (in
    ``pre_alarm``) its ``reason`` and ``why``, and (once there is one) the last event in brief
    (:func:`last_event_brief`)."""
    body: dict[str, Any] = {"state": state, "since": since_ts, "since_t": num(since_t, 3),
                            "score": num(score)}
    if reason is not None:
        body["reason"], body["why"] = reason
    if last_event is not None:
        body["last_event"] = dict(last_event)
    return dumps(body)


def last_event_brief(body: Mapping[str, Any], seq: int) -> dict[str, Any]:
    """The retained state's ``last_event``: an event payload's kind, seq, time and words."""
    return {"event": body.get("event"), "seq": seq, "ts": body.get("ts"),
            "reason": body.get("reason"), "why": body.get("why")}


def health_payload(
    sensors: Mapping[str, str],
    reasons: Mapping[str, str | None],
    model_version: str,
    model_degraded: bool,
    uptime_s: float,
    outbox_depth: int | None,
    ts: str,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """Retained ``<base>/health``: per-sensor status with reason, model, uptime, outbox."""
    body: dict[str, Any] = {
        "status": "ok" if all(v == "ok" for v in sensors.values()) else "degraded",
        "sensors": {
            name: {"status": status, "reason": reasons.get(name)}
            for name, status in sensors.items()
        },
        "model": {"version": model_version, "degraded": model_degraded},
        "uptime_s": round(uptime_s, 1),
        "outbox_depth": outbox_depth,
        "ts": ts,
    }
    if extra:
        body.update(extra)
    return dumps(body)


def telemetry_payload(
    co2_ppm: float | None,
    temperature_c: float | None,
    humidity_pct: float | None,
    t_max_c: float | None,
    score: float | None,
    ts: str,
) -> bytes:
    """``<base>/telemetry`` (QoS 0): the latest readings and score."""
    return dumps({
        "co2_ppm": num(co2_ppm, 1), "temperature_c": num(temperature_c, 2),
        "humidity_pct": num(humidity_pct, 2), "t_max_c": num(t_max_c, 2),
        "score": num(score), "ts": ts,
    })
