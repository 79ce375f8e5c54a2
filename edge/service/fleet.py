"""What the device tells the fleet operator: the health's ``model`` extras and the daily summary.

:class:`FleetReport` counts the day's alarms, pre-alarms and faults (the daemon calls
``count``), and gathers the model's side: the channel followed and the cohort number, the
shadow statistics (:class:`~edge.detect.shadow.ShadowScorer`), and the models that failed here
(self-test failures recorded by the updater, versions rolled back after runtime errors by
the holder). ``maybe_upload`` runs on the model updater's thread after each poll (devices on
a channel only: one that merely follows ``latest.json`` may have read-only access): it puts
``<prefix>_summaries/<YYYY-MM-DD>/<device_id>.json`` (docs/fleet.md) once an hour, at once
when a new model failure appears (so ``rollout.py watch`` sees it within a poll), and a last
time for a day when the UTC date changes; the counters then start over.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.model.channels import cohort_number, summary_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from edge.detect.shadow import ShadowScorer
    from edge.model.holder import ModelHolder
    from edge.model.updater import ModelUpdater

__all__ = ["FleetReport"]

log = logging.getLogger(__name__)

UPLOAD_EVERY_S = 3600.0


class FleetReport:
    """Counts for the day, the health's model extras, and the summary upload."""

    def __init__(self, device_id: str, holder: ModelHolder, uptime: Callable[[], float], *,
                 updater: ModelUpdater | None = None, shadow: ShadowScorer | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.device_id = device_id
        self.holder = holder
        self.updater = updater
        self.shadow = shadow
        self.uptime = uptime
        self.wall = wall
        self._lock = threading.Lock()
        self._day = self._today()
        self.alarms = self.pre_alarms = self.faults = 0
        self._next_upload = -1.0
        self._failures_sent = 0
        self.uploads = 0

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.wall(), dt.UTC).date()

    def count(self, kind: str) -> None:
        """One more ``alarm``, ``pre_alarm`` or ``fault`` today (others are ignored)."""
        with self._lock:
            if kind == "alarm":
                self.alarms += 1
            elif kind == "pre_alarm":
                self.pre_alarms += 1
            elif kind == "fault":
                self.faults += 1

    def failures(self) -> list[dict[str, Any]]:
        """Models that failed here: self-test (updater) and runtime (holder's rejected)."""
        out = list(self.updater.failures) if self.updater is not None else []
        out += [{"version": v, "kind": "runtime"} for v in sorted(self.holder.rejected)]
        return out

    def health_model(self) -> dict[str, Any]:
        """``channel``, ``cohort``, ``shadow`` and ``failures`` for the health's ``model``."""
        return {
            "channel": None if self.updater is None else self.updater.following,
            "cohort": round(cohort_number(self.device_id), 3),
            "shadow": None if self.shadow is None else self.shadow.stats(),
            "failures": self.failures(),
        }

    def document(self) -> dict[str, Any]:
        """The daily summary (docs/fleet.md)."""
        model = self.holder.model
        stats = None if self.shadow is None else self.shadow.stats()
        failures = self.failures()
        with self._lock:
            return {
                "device_id": self.device_id, "date": f"{self._day:%Y-%m-%d}",
                "model_version": None if model is None else model.version,
                "channel": None if self.updater is None else self.updater.following,
                "uptime_s": round(self.uptime(), 1), "alarms": self.alarms,
                "pre_alarms": self.pre_alarms, "faults": self.faults,
                "shadow": None if stats is None else {
                    k: stats[k] for k in ("version", "frames", "disagreements",
                                          "alarms_shadow", "alarms_active")},
                "self_test_failures": sum(1 for f in failures if f["kind"] == "self_test"),
                "model_failures": failures,
            }

    def maybe_upload(self) -> str | None:
        """Upload the summary when it is due (see the module docstring); return the key."""
        updater = self.updater
        if updater is None or updater.config.channel is None:
            return None  # not on channels: the device may only have read access to the store
        now = self.wall()
        new_failures = len(self.failures()) != self._failures_sent
        rolled = self._today() != self._day
        if not (rolled or new_failures or now >= self._next_upload):
            return None
        doc = self.document()
        key = summary_key(updater.prefix, self._day, self.device_id)
        try:
            self._put(updater.bucket, key, doc, updater._s3())
        except Exception as exc:  # network, credentials: retried at the next poll
            log.warning("summary s3://%s/%s not uploaded: %s", updater.bucket, key, exc)
            return None
        self._failures_sent = len(doc["model_failures"])
        self._next_upload = now + UPLOAD_EVERY_S
        self.uploads += 1
        if rolled:
            with self._lock:
                self._day = self._today()
                self.alarms = self.pre_alarms = self.faults = 0
        return key

    @staticmethod
    def _put(bucket: str, key: str, doc: dict[str, Any], s3: S3Client) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(doc, sort_keys=True).encode(),
                      ContentType="application/json")
