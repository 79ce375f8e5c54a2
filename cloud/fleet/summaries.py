"""Read the devices' daily summaries and decide whether a canary may be promoted.

Summaries live at ``<prefix>_summaries/<YYYY-MM-DD>/<device_id>.json`` (the fleet contract,
docs/fleet.md). A summary counts toward a channel by the model it ran (``model_version``):
one summary = one *device-day*. The rules (docs/fleet.md, "Rollout"), in order:

1. **Failure → roll back.** Any summary naming the canary version with
   ``self_test_failures > 0`` or a ``model_failures`` entry for it (self-test or runtime
   error on a device): the verdict is ``rollback`` (``rollout.py watch`` does it).
2. **Enough data.** At least ``min_device_days`` canary device-days, else ``wait``.
3. **No more alarms.** The canary's alarms per device-day must not exceed the stable's upper
   95 % bound: ``(A + 1.96·√(A+1)) / D`` for ``A`` stable alarms over ``D`` stable
   device-days (Poisson, normal approximation); with no stable data the canary must have
   raised no alarm. Otherwise ``refuse``.
4. Else ``promote``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge.model.channels import summary_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["Assessment", "ChannelStats", "assess", "read_summaries", "summary_key"]

log = logging.getLogger(__name__)

Z95 = 1.96


def read_summaries(s3: S3Client, bucket: str, prefix: str, days: int,
                   today: dt.date | None = None) -> list[dict[str, Any]]:
    """Every readable summary of the last ``days`` days (today included); bad ones are logged
    and skipped."""
    today = today or dt.datetime.now(dt.UTC).date()
    out: list[dict[str, Any]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for back in range(days):
        day = today - dt.timedelta(days=back)
        folder = summary_key(prefix, day, "x")[: -len("x.json")]
        for page in paginator.paginate(Bucket=bucket, Prefix=folder):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read(1 << 20)
                try:
                    doc = json.loads(body)
                    if not isinstance(doc, dict) or not isinstance(doc.get("device_id"), str):
                        raise ValueError("not a summary object")
                except ValueError as exc:
                    log.warning("s3://%s/%s skipped: %s", bucket, obj["Key"], exc)
                    continue
                out.append(doc)
    return out


@dataclass
class ChannelStats:
    """One model version's device-days."""

    version: str | None
    devices: set[str] = field(default_factory=set)
    device_days: int = 0
    alarms: int = 0
    self_test_failures: int = 0

    @property
    def alarms_per_device_day(self) -> float:
        """Alarms / device-days (NaN with none)."""
        return self.alarms / self.device_days if self.device_days else math.nan

    def as_dict(self) -> dict[str, Any]:
        """For the JSON status."""
        rate = self.alarms_per_device_day
        return {"version": self.version, "devices": len(self.devices),
                "device_days": self.device_days, "alarms": self.alarms,
                "alarms_per_device_day": None if math.isnan(rate) else round(rate, 4),
                "self_test_failures": self.self_test_failures}


@dataclass
class Assessment:
    """What ``rollout.py status`` says: ``promote``, ``wait``, ``refuse``, ``rollback`` or
    ``none`` (no canary), with the reasons and the per-channel numbers."""

    verdict: str
    reasons: list[str]
    stable: ChannelStats
    canary: ChannelStats
    failures: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """For the JSON status."""
        return {"verdict": self.verdict, "reasons": self.reasons,
                "stats": {"stable": self.stable.as_dict(), "canary": self.canary.as_dict()},
                "failures": self.failures}


def _failures_for(doc: dict[str, Any], version: str) -> list[dict[str, Any]]:
    found = [dict(f, device_id=doc["device_id"]) for f in doc.get("model_failures") or []
             if isinstance(f, dict) and f.get("version") == version]
    if doc.get("model_version") == version and int(doc.get("self_test_failures") or 0) > 0:
        found.append({"device_id": doc["device_id"], "version": version, "kind": "self_test",
                      "reason": "self_test_failures in the summary"})
    return found


def assess(summaries: list[dict[str, Any]], stable_version: str | None,
           canary_version: str | None, *, min_device_days: int = 20) -> Assessment:
    """Apply the module's rules to the summaries."""
    stable, canary = ChannelStats(stable_version), ChannelStats(canary_version)
    failures: list[dict[str, Any]] = []
    for doc in summaries:
        if canary_version is not None:
            failures.extend(_failures_for(doc, canary_version))
        for stats in (stable, canary):
            if stats.version is not None and doc.get("model_version") == stats.version:
                stats.devices.add(doc["device_id"])
                stats.device_days += 1
                stats.alarms += int(doc.get("alarms") or 0)
                stats.self_test_failures += int(doc.get("self_test_failures") or 0)
    if canary_version is None:
        return Assessment("none", ["no canary"], stable, canary, failures)
    if failures:
        devs = sorted({str(f["device_id"]) for f in failures})
        return Assessment("rollback", [f"model {canary_version} failed on {len(devs)} device(s)"
                                       f" ({', '.join(devs[:5])}): roll the canary back"],
                          stable, canary, failures)
    if canary.device_days < min_device_days:
        return Assessment("wait", [f"{canary.device_days} canary device-days; promotion needs "
                                   f"at least {min_device_days}"], stable, canary, failures)
    if stable.device_days:
        bound = (stable.alarms + Z95 * math.sqrt(stable.alarms + 1)) / stable.device_days
    else:
        bound = 0.0
    rate = canary.alarms_per_device_day
    if rate > bound:
        return Assessment("refuse", [f"canary {rate:.3f} alarms per device-day is above the "
                                     f"stable's upper 95 % bound {bound:.3f}"],
                          stable, canary, failures)
    return Assessment("promote", [f"{canary.device_days} canary device-days, {rate:.3f} alarms "
                                  f"per device-day (stable bound {bound:.3f}), no failures"],
                      stable, canary, failures)
