"""The detection pipeline shared by the daemon and ``firedetect replay``: features → score → alarm.

``Pipeline`` is fed readings in time order (``frame``, ``gas``) and the passage of time
(``check``); it returns the events the device would publish:

- ``alarm`` / ``clear`` from :class:`edge.alarm.AlarmStateMachine`, decided on every frame's
  score, and on SCD41 readings while frames are stale (degraded mode: the extractor only
  returns a gas vector then);
- ``fault`` when a sensor goes from ok to faulted: its driver reports a fault, or its data is
  older than its ``stale_after_s`` (on the readings' own clock, so a recording's gaps give the
  same faults in a replay as they did live). Recovery is not an event; it shows in
  :meth:`Pipeline.sensors` (the daemon's retained health).

It owns no thread and reads no clock: the daemon calls it from its processing thread with
the device clock, a replay with the recording's timestamps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from edge.alarm import AlarmEvent, AlarmStateMachine
from edge.config import Config
from edge.flame import FlameEvidence, FlameWatch
from edge.plausibility import GasPlausibility
from edge.smoulder import SmoulderEvidence, SmoulderWatch
from edge.types import GasReading, ThermalFrame

log = logging.getLogger(__name__)

SENSORS = ("scd41", "lepton")
Vector = npt.NDArray[np.float64]
EventKind = Literal["alarm", "clear", "fault"]


class ScoreLike(Protocol):
    """What the pipeline needs of :class:`edge.model.Score`."""

    @property
    def probability(self) -> float: ...

    @property
    def members(self) -> Mapping[str, float]: ...

    @property
    def top_features(self) -> list[tuple[str, float]]: ...

    @property
    def degraded(self) -> bool: ...

    @property
    def model_version(self) -> str: ...


class Scorer(Protocol):
    """:class:`edge.model.ModelHolder`: one feature vector in, one score out."""

    def score(self, x: Vector) -> ScoreLike: ...


class Extractor(Protocol):
    """:class:`edge.features.FeatureExtractor`."""

    def add_frame(self, frame: ThermalFrame) -> Vector | None: ...

    def add_gas(self, reading: GasReading) -> Vector | None: ...


@dataclass(frozen=True, slots=True)
class DetectionEvent:
    """One event the device publishes (``alarm``, ``clear`` or ``fault``).

    ``score`` is the fire probability at that moment (NaN when nothing was scored yet);
    ``detail`` the full score behind it; ``sensor``/``reason`` say what faulted.
    """

    kind: EventKind
    t: float
    score: float
    detail: ScoreLike | None = None
    sensor: str | None = None
    reason: str | None = None
    alarm: AlarmEvent | None = None


@dataclass
class SensorState:
    """What the pipeline knows about one sensor's health.

    A sensor is faulted when its newest data is older than ``stale_after_s``; the driver's
    own fault report (``driver_reason``) only explains why. A fault the driver heals before
    the data goes stale (a CRC error, a resync) is therefore not a device fault: it shows in
    the health report's driver status but raises no ``fault`` event and no flapping.
    """

    stale_after_s: float
    startup_grace_s: float = 0.0  # extra time for the first reading (warm-up, first sample)
    last_t: float | None = None
    driver_reason: str | None = None
    stale_reason: str | None = None
    implausible: str | None = None  # why its readings are rejected (edge.plausibility)
    reported: bool = False  # a fault event was published for the current fault

    @property
    def reason(self) -> str | None:
        if self.implausible is not None:
            return self.implausible
        if self.stale_reason is None:
            return None
        if self.driver_reason:
            return f"{self.driver_reason} ({self.stale_reason})"
        return self.stale_reason

    @property
    def status(self) -> str:
        return "ok" if self.reason is None else "fault"


@dataclass
class Step:
    """The outcome of one reading: its score (None if not scored) and the events it caused."""

    t: float
    score: ScoreLike | None = None
    vector: Vector | None = None
    events: list[DetectionEvent] = field(default_factory=list)


class Pipeline:
    """Features → model → alarm logic, plus per-sensor fault tracking.

    :param extractor: the streaming feature extractor.
    :param scorer: the model holder (thread-safe; may swap models underneath).
    :param alarm: the alarm state machine.
    :param stale_after_s: per sensor, how old its newest data may be before it is faulted.
    :param start_t: the time the pipeline starts at (a sensor that never reports is stale
        ``stale_after_s`` + its ``startup_grace_s`` after it).
    :param startup_grace_s: per sensor, how much longer its first reading may take (the
        SCD41 drops its first sample: its first reading comes two intervals after start).
    :param startup_s: for this long after ``start_t`` a score below the alarm's fast-path
        score cannot raise an alarm (the alarm logic sees NaN, no evidence): the feature
        windows are still filling and the first SCD41 reading is pending. A fast-path score
        still alarms at once, and a raised alarm clears as usual.
    :param flame: the growing-flame watch (``edge.flame``); None switches it off.
    :param flame_min_score: a growing flame alarms when the score is at least this (the
        model corroborates it); while its new region lasts, an alarm does not clear.
    :param flame_alarms: False keeps the flame watch as the scene memory of ``smoulder``
        only (``[flame] enabled = false``).
    :param smoulder: the smoulder watch (``edge.smoulder``; needs ``flame`` for its memory).
    :param smoulder_min_score: a smouldering spot alarms when the score is at least this;
        while it keeps heating or spreading, an alarm does not clear.
    :param scene_threshold: while every hot pixel in view is part of the scene the flame
        watch knows (``FlameEvidence.scene_only``), what the camera sees is explained, so a
        score under this alarms only if the gas alone says fire too: the evidence passed to
        the alarm is the lesser of the score and the score with the thermal features blanked
        (the model's own degraded mode). A score at or above it counts as it is. ``"halfway"``:
        halfway from the alarm's threshold to 1, following the alarm logic in use (a new
        model brings its own threshold). None: no such rule.
    """

    def __init__(
        self,
        extractor: Extractor,
        scorer: Scorer,
        alarm: AlarmStateMachine,
        stale_after_s: Mapping[str, float],
        start_t: float = 0.0,
        startup_grace_s: Mapping[str, float] | None = None,
        startup_s: float = 0.0,
        flame: FlameWatch | None = None,
        flame_min_score: float = 0.2,
        flame_alarms: bool = True,
        smoulder: SmoulderWatch | None = None,
        smoulder_min_score: float = 0.0,
        scene_threshold: float | Literal["halfway"] | None = None,
    ) -> None:
        if not (math.isfinite(startup_s) and startup_s >= 0.0):
            raise ValueError(f"startup_s must be a finite number ≥ 0, got {startup_s!r}")
        missing = [s for s in SENSORS if s not in stale_after_s]
        if missing:
            raise ValueError(f"stale_after_s needs a value for {missing}")
        self.extractor = extractor
        self.scorer = scorer
        self.alarm = alarm
        self.start_t = start_t
        self.startup_s = startup_s
        grace = startup_grace_s or {}
        self.sensors_state = {
            s: SensorState(stale_after_s[s], grace.get(s, 0.0)) for s in SENSORS
        }
        if smoulder is not None and flame is None:
            raise ValueError("the smoulder watch needs the flame watch (its scene memory)")
        self.flame = flame
        self.flame_min_score = flame_min_score
        self.flame_alarms = flame_alarms
        self.smoulder = smoulder
        self.smoulder_min_score = smoulder_min_score
        self.scene_threshold = scene_threshold
        self.last_flame: FlameEvidence | None = None
        self.last_smoulder: SmoulderEvidence | None = None
        self.last_score: ScoreLike | None = None
        self.last_vector: Vector | None = None
        self.last_gas: GasReading | None = None
        self.plausibility = GasPlausibility()
        self.scored = 0

    # ----------------------------------------------------------------- readings

    def frame(self, frame: ThermalFrame) -> Step:
        """One camera frame. A frozen (FFC) frame is not new data: it does not count as the
        camera being alive, so a shutter stuck closed faults the camera once stale."""
        events = self.check(frame.t) if frame.frozen else self._seen("lepton", frame.t)
        vector = self.extractor.add_frame(frame)
        if self.flame is not None and not frame.frozen:
            celsius = frame.pixels * np.float32(frame.resolution_k) - np.float32(273.15)
            self.last_flame = self.flame.update(frame.t, celsius)
            if self.smoulder is not None:
                self.last_smoulder = self.smoulder.update(frame.t, celsius, self.flame.onset)
        return self._score(frame.t, vector, events, self.last_flame, self.last_smoulder)

    def gas(self, reading: GasReading) -> Step:
        """One SCD41 reading; scored only when frames are stale (the extractor decides). The
        plausibility filter (``edge.plausibility``) may reject it (then it is missing), hold
        it one reading, or release a held one with it."""
        step = Step(reading.t, None, None, [])
        for r in self.plausibility.check(reading):
            step = self._gas(r, step.events)
        self.sensors_state["scd41"].implausible = self.plausibility.fault
        step.events += self.check(reading.t)
        return step if step.t == reading.t else Step(reading.t, None, None, step.events)

    def _gas(self, reading: GasReading, events: list[DetectionEvent]) -> Step:
        events = events + self._seen("scd41", reading.t)
        self.last_gas = reading
        vector = self.extractor.add_gas(reading)
        return self._score(reading.t, vector, events)

    def check(self, now: float) -> list[DetectionEvent]:
        """Mark sensors whose data is older than their limit at ``now`` as faulted."""
        events: list[DetectionEvent] = []
        for name, st in self.sensors_state.items():
            last = st.last_t if st.last_t is not None else self.start_t
            age = now - last
            limit = st.stale_after_s + (st.startup_grace_s if st.last_t is None else 0.0)
            if age > limit and st.stale_reason is None:
                st.stale_reason = (
                    f"no data for {age:.1f} s (limit {st.stale_after_s:g} s)"
                    if st.last_t is not None
                    else f"no data since start ({age:.1f} s)"
                )
            events += self._maybe_report(name, now)
        return events

    def driver_status(self, sensor: str, status: str) -> None:
        """The driver's own view (``ok``/``starting``/``fault: <reason>``): the why of a fault."""
        st = self.sensors_state[sensor]
        if status.startswith("fault"):
            st.driver_reason = status.partition(":")[2].strip() or status
        else:
            st.driver_reason = None

    # ------------------------------------------------------------------- queries

    def sensors(self) -> dict[str, str]:
        """Sensor → ``ok`` or ``fault`` (the alarm payload's ``sensors``)."""
        return {name: st.status for name, st in self.sensors_state.items()}

    def reasons(self) -> dict[str, str | None]:
        """Sensor → why it is faulted (None when ok)."""
        return {name: st.reason for name, st in self.sensors_state.items()}

    def driver_reasons(self) -> dict[str, str | None]:
        """Sensor → the driver's current complaint, even one it is healing (health detail)."""
        return {name: st.driver_reason for name, st in self.sensors_state.items()}

    @property
    def degraded(self) -> bool:
        """True while a sensor is faulted or the model scores in degraded mode."""
        if any(st.reason for st in self.sensors_state.values()):
            return True
        return bool(self.last_score is not None and self.last_score.degraded)

    # ----------------------------------------------------------------- internals

    def _seen(self, sensor: str, t: float) -> list[DetectionEvent]:
        st = self.sensors_state[sensor]
        st.last_t = t if st.last_t is None else max(st.last_t, t)
        st.stale_reason = None
        return self.check(t)

    def _maybe_report(self, sensor: str, t: float) -> list[DetectionEvent]:
        st = self.sensors_state[sensor]
        if st.reason is None:
            if st.reported:
                log.info("%s: recovered", sensor)
            st.reported = False
            return []
        if st.reported:
            return []
        st.reported = True
        log.warning("%s: fault: %s", sensor, st.reason)
        return [
            DetectionEvent(
                "fault", t, self._last_probability(), self.last_score, sensor, st.reason
            )
        ]

    def _last_probability(self) -> float:
        return math.nan if self.last_score is None else float(self.last_score.probability)

    def _score(self, t: float, vector: Vector | None, events: list[DetectionEvent],
               flame: FlameEvidence | None = None,
               smoulder: SmoulderEvidence | None = None) -> Step:
        if vector is None:
            return Step(t, None, None, events)
        score = self.scorer.score(vector)
        self.last_score = score
        self.last_vector = vector
        self.scored += 1
        p = float(score.probability)
        evidence = p if math.isfinite(p) else math.nan
        if (t - self.start_t < self.startup_s and self.alarm.state != "alarm"
                and not evidence >= self.alarm.fast_path_score):
            evidence = math.nan  # start-up: only overwhelming evidence raises an alarm
        trigger, hold = None, False
        if (flame is not None and flame.t == t and flame.scene_only
                and evidence < self.scene_bar):
            evidence = min(evidence, self._gas_only(vector))
        if flame is not None and flame.t == t and self.flame_alarms:
            if flame.growing and (p >= self.flame_min_score or flame.sure):
                trigger = "flame_growth"
            hold = flame.growing or (self.flame is not None
                                     and flame.new_px >= self.flame.cfg.min_px)
        if smoulder is not None and smoulder.t == t and smoulder.smouldering:
            if trigger is None and p >= self.smoulder_min_score:
                trigger = "smoulder"
            hold = True
        for ev in self.alarm.update(t, evidence, trigger=trigger, hold=hold):
            events.append(DetectionEvent(ev.kind, ev.t, ev.score, score, alarm=ev))
        return Step(t, score, vector, events)

    @property
    def scene_bar(self) -> float:
        """The score at which the known-scene rule stops applying (NaN: no rule)."""
        if self.scene_threshold is None:
            return math.nan
        if self.scene_threshold == "halfway":
            return (self.alarm.threshold + 1.0) / 2.0
        return max(self.scene_threshold, self.alarm.threshold)

    def _gas_only(self, vector: Vector) -> float:
        """The score of ``vector`` with its thermal features blanked (NaN if none)."""
        from edge.features import THERMAL_FEATURES

        blind = vector.copy()
        blind[: len(THERMAL_FEATURES)] = np.nan
        p = float(self.scorer.score(blind).probability)
        return p if math.isfinite(p) else math.nan


class ModelSource(Scorer, Protocol):
    """:class:`edge.model.ModelHolder`: scores, and says which model (if any) is in use."""

    @property
    def model(self) -> Any: ...


def model_threshold(holder: ModelSource) -> float:
    """The alarm threshold of the model in use, or the rule fallback's."""
    from edge.rules import RULES_THRESHOLD

    model = holder.model
    return float(model.threshold) if model is not None else RULES_THRESHOLD


def build_pipeline(config: Config, holder: ModelSource, start_t: float = 0.0) -> Pipeline:
    """The pipeline the daemon and ``replay`` both run: seed-v1 features, ``holder``'s model,
    the configured alarm logic and the sensors' staleness limits."""
    from edge.features import FeatureExtractor
    from edge.sensors.scd41_reader import INTERVAL_S

    watching = config.flame.enabled or config.smoulder.enabled
    return Pipeline(
        FeatureExtractor(),
        holder,
        AlarmStateMachine(config.alarm, model_threshold(holder)),
        stale_after_s={
            "scd41": config.sensors.scd41.stale_after_s,
            "lepton": config.sensors.lepton.stale_after_s,
        },
        start_t=start_t,
        startup_grace_s={
            # power-up, clean start, the dropped first sample, then the first reading
            "scd41": 2.0 * INTERVAL_S[config.sensors.scd41.mode] + 5.0,
            "lepton": 5.0,  # camera boot and the first FFC
        },
        startup_s=config.alarm.startup_s,
        flame=FlameWatch(config.flame) if watching else None,
        flame_min_score=config.flame.min_score,
        flame_alarms=config.flame.enabled,
        smoulder=(SmoulderWatch(config.smoulder, config.flame)
                  if config.smoulder.enabled else None),
        smoulder_min_score=config.smoulder.min_score,
        scene_threshold=(config.alarm.scene_threshold or "halfway") if watching else None,
    )
