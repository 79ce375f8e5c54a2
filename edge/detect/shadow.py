"""Shadow scoring: a candidate model scores every vector beside the active one, never alarming.

``ShadowScorer.observe`` runs on the processing thread after the active model scored (and
after the real alarm logic ran): it scores the same vector with the shadow model, counts the
frame, a *disagreement* when the two land on different sides of their own thresholds
(``p_active >= threshold_active`` vs ``p_shadow >= threshold_shadow``), and feeds the shadow's
score to a second :class:`~edge.detect.alarm.AlarmStateMachine` whose alarms are only counted
(``alarms_shadow``), beside the alarms the active logic raised (``alarms_active``). A shadow
that raises stops scoring (counted in ``errors``) and can never affect the active score.

The statistics are kept per shadow version, from when it was loaded; ``stats()`` is what
the health (``model.shadow``) and the daily summary carry. Cost: one more model evaluation
per scored vector (docs/fleet.md, "Shadow scoring" gives the measurement).
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import numpy.typing as npt

from edge.config import AlarmConfig
from edge.detect.alarm import AlarmStateMachine, Hold
from edge.model.runtime import Model

__all__ = ["ShadowScorer"]

log = logging.getLogger(__name__)

#: How many disagreement times are kept for the health (the latest ones).
KEEP_TIMES = 20


class ShadowScorer:
    """Scores with a shadow model (when one is set) and keeps the comparison statistics."""

    def __init__(self, alarm: AlarmConfig) -> None:
        self._alarm_cfg = alarm
        self._lock = threading.Lock()
        self._model: Model | None = None
        self._machine: AlarmStateMachine | None = None
        self._reset()

    def _reset(self) -> None:
        self.frames = 0
        self.disagreements = 0
        self.alarms_shadow = 0
        self.alarms_active = 0
        self.errors = 0
        self.disagreement_times: list[float] = []

    @property
    def version(self) -> str | None:
        """The shadow model's version (None: no shadow)."""
        m = self._model
        return None if m is None else m.version

    def set_model(self, model: Model | None) -> None:
        """Put ``model`` in the shadow (None: stop shadowing); statistics restart per version."""
        with self._lock:
            if (model is None and self._model is None) or (
                    model is not None and self._model is not None
                    and model.version == self._model.version):
                return
            self._model = model
            self._machine = None if model is None else AlarmStateMachine(
                self._alarm_cfg, model.threshold, Hold.of(model.hold))
            self._reset()
        log.info("shadow model: %s", "none" if model is None else model.version)

    def observe(self, t: float, x: npt.ArrayLike, p_active: float, threshold_active: float,
                active_alarm: bool) -> None:
        """Score ``x`` with the shadow model and count the comparison with the active score."""
        with self._lock:
            model, machine = self._model, self._machine
            if model is None or machine is None:
                return
            try:
                p = float(model.score(x).probability)
            except ValueError:
                return  # a malformed vector: the active path reports it
            except Exception as exc:  # a broken shadow must never disturb the active model
                self.errors += 1
                log.error("shadow model %s failed (%s: %s); shadow dropped", model.version,
                          type(exc).__name__, exc)
                self._machine = None  # stats kept (errors shown); not scored again
                return
            self.frames += 1
            if active_alarm:
                self.alarms_active += 1
            if math.isfinite(p) and math.isfinite(p_active) and (
                    (p_active >= threshold_active) != (p >= model.threshold)):
                self.disagreements += 1
                self.disagreement_times = [*self.disagreement_times[-(KEEP_TIMES - 1):], t]
            for ev in machine.update(t, p if math.isfinite(p) else math.nan):
                if ev.kind == "alarm":
                    self.alarms_shadow += 1

    def stats(self) -> dict[str, Any] | None:
        """``{"version", "frames", "disagreements", "alarms_shadow", "alarms_active",
        "errors", "disagreement_t"}``, or None without a shadow."""
        with self._lock:
            if self._model is None:
                return None
            return {"version": self._model.version, "frames": self.frames,
                    "disagreements": self.disagreements, "alarms_shadow": self.alarms_shadow,
                    "alarms_active": self.alarms_active, "errors": self.errors,
                    "disagreement_t": list(self.disagreement_times)}
