"""What the daemon tells about itself: the STATUS line, the retained health, the telemetry.

:class:`Reporter` reads the pipeline (sensors, alarm state, last score and readings), the
link's :class:`~edge.mqtt.base.LinkStatus`, the model holder and the storage watch, and
builds the three reports; the daemon decides when to send them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from edge.detect.pipeline import Pipeline
from edge.features import FEATURE_NAMES
from edge.model.holder import ModelHolder
from edge.mqtt.base import Link
from edge.mqtt.payloads import health_payload, iso_utc, telemetry_payload
from edge.service.fleet import FleetReport
from edge.service.storage import StorageWatch

T_MAX = FEATURE_NAMES.index("t_max")


class Reporter:
    """The daemon's reports, built from its parts.

    :param uptime: seconds since the daemon started (wall clock).
    """

    def __init__(self, pipeline: Pipeline, link: Link, holder: ModelHolder,
                 storage: StorageWatch, uptime: Callable[[], float]) -> None:
        self.pipeline = pipeline
        self.link = link
        self.holder = holder
        self.storage = storage
        self.uptime = uptime
        #: The fleet extras (channel, cohort, shadow, failures) for ``model`` in the health.
        self.fleet: FleetReport | None = None

    def model_version(self) -> str:
        """The version of the model in use, or the rule fallback's."""
        from edge.model.rules import RULES_VERSION

        model = self.holder.model
        return str(model.version) if model is not None else RULES_VERSION

    def status_line(self) -> str:
        """``state=idle score=0.02 lepton=ok scd41=ok outbox=0 mqtt=connected``.

        A sensor reads ``fault`` (stale), ``retrying`` (its driver complains, data not yet
        stale), ``starting`` (no data yet) or ``ok``.
        """
        last = self.pipeline.last_score
        score = "-" if last is None or not math.isfinite(last.probability) else (
            f"{last.probability:.2f}")
        st = self.link.status()
        shown = {}
        for name, state in self.pipeline.sensors_state.items():
            shown[name] = ("fault" if state.status == "fault" else "retrying"
                           if state.driver_reason else "starting" if state.last_t is None
                           else "ok")
        sensors = " ".join(f"{k}={v}" for k, v in sorted(shown.items()))
        return (f"state={self.pipeline.alarm.state} score={score} {sensors} "
                f"{self.storage.status_word(st.outbox_depth)} mqtt={st.state}")

    def health(self) -> bytes:
        """The retained health payload (docs/mqtt.md)."""
        st = self.link.status()
        extra: dict[str, Any] = {
            "mqtt": {"state": st.state, "last_error": st.last_error},
            "alarm_state": self.pipeline.alarm.state,
            "drivers": {k: v or "ok" for k, v in self.pipeline.driver_reasons().items()},
            "scd41_rejected": self.pipeline.plausibility.rejected,  # implausible readings
            "model_error": self.holder.status().last_error,
            "outbox": self.storage.report(),
        }
        if self.fleet is not None:
            extra["model"] = {"version": self.model_version(),
                              "degraded": self.holder.model is None,
                              **self.fleet.health_model()}
        faults = self.storage.faults()
        extra.update(faults)
        if extra["outbox"]["status"] != "ok" or faults:
            extra["status"] = "degraded"
        return health_payload(
            self.pipeline.sensors(), self.pipeline.reasons(), self.model_version(),
            self.holder.model is None, self.uptime(), st.outbox_depth, iso_utc(), extra,
        )

    def telemetry(self, score: float | None) -> bytes:
        """The telemetry payload: the last SCD41 reading, the hottest pixel and the score."""
        gas = self.pipeline.last_gas
        vec = self.pipeline.last_vector
        return telemetry_payload(
            None if gas is None else gas.co2_ppm,
            None if gas is None else gas.temperature_c,
            None if gas is None else gas.humidity_pct,
            None if vec is None else float(vec[T_MAX]),
            score, iso_utc(),
        )
