"""The detection pipeline shared by the daemon and ``firedetect replay``: features → score → alarm.

``Pipeline`` is fed readings in time order (``frame``, ``gas``) and the passage of time
(``check``); it returns the events the device would publish:

- ``alarm`` / ``clear`` from :class:`edge.detect.alarm.AlarmStateMachine`, decided on every
  frame's score and the evidence sources' word on it (``edge.detect.evidence``: the flame and
  smoulder watches, the known-scene rule, over one shared ``edge.detect.scene.SceneMemory``;
  the smoulder watch also keeps its own at its lower line),
  and on SCD41 readings while frames are stale (degraded mode: the extractor only returns a
  gas vector then);
- ``fault`` when a sensor goes from ok to faulted: its driver reports a fault, or its data is
  older than its ``stale_after_s`` (on the readings' own clock, so a recording's gaps give the
  same faults in a replay as they did live). Recovery is not an event; it shows in
  :meth:`Pipeline.sensors` (the daemon's retained health).

The alarm threshold has one owner, the pipeline's :class:`AlarmStateMachine` (``[alarm]
threshold``, else the model's, :func:`model_threshold`): :func:`build_pipeline` builds it once,
and :meth:`Pipeline.retune` changes it when the model or the settings change, while idle.

It owns no thread and reads no clock: the daemon calls it from its processing thread with
the device clock, a replay with the recording's timestamps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from edge.config import Config
from edge.config.alarm import AlarmConfig
from edge.detect.alarm import AlarmEvent, AlarmStateMachine, Hold
from edge.detect.evidence import (
    NO_BARS,
    Evidence,
    EvidenceSource,
    Look,
    ModelBars,
    build_sources,
    combine,
    scene_bar,
)
from edge.detect.mask import FrameMask
from edge.detect.plausibility import GasPlausibility
from edge.detect.scene import SceneMemory
from edge.detect.words import SCORE_REASONS, explain_alarm, explain_fault, feature_values
from edge.model.runtime import Model
from edge.types import ZERO_C_K, EventKind, GasReading, ThermalFrame, Vector

log = logging.getLogger(__name__)

SENSORS = ("scd41", "lepton")


class ScoreLike(Protocol):
    """What the pipeline needs of :class:`edge.model.holder.Score`."""

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
    """:class:`edge.model.holder.ModelHolder`: one feature vector in, one score out."""

    def score(self, x: Vector) -> ScoreLike: ...


@runtime_checkable
class Explainer(Protocol):
    """A scorer that can also say which features moved a score (asked only for an event):
    :meth:`edge.model.holder.ModelHolder.explain`."""

    def explain(self, x: Vector) -> ScoreLike: ...


class Extractor(Protocol):
    """:class:`edge.features.FeatureExtractor`."""

    def add_frame(self, frame: ThermalFrame) -> Vector | None: ...

    def add_gas(self, reading: GasReading) -> Vector | None: ...


@dataclass(frozen=True, slots=True)
class DetectionEvent:
    """One event the device publishes (``alarm``, ``clear`` or ``fault``).

    ``score`` is the fire probability at that moment (NaN when nothing was scored yet);
    ``detail`` the full score behind it; ``sensor``/``reason`` say what faulted; ``why``
    says it all in words (:mod:`edge.detect.words`).
    """

    kind: EventKind
    t: float
    score: float
    detail: ScoreLike | None = None
    sensor: str | None = None
    reason: str | None = None
    alarm: AlarmEvent | None = None
    why: str = ""


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
    implausible: str | None = None  # why its readings are rejected (edge.detect.plausibility)
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
    """The outcome of one reading: its score (None if not scored), the evidence sources'
    word on it, and the events it caused."""

    t: float
    score: ScoreLike | None = None
    vector: Vector | None = None
    events: list[DetectionEvent] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


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
    :param sources: the evidence sources besides the model (``edge.detect.evidence``), asked
        about every real camera frame in this order; empty: the score alone decides.
    :param scene: the scene memory they share, updated once per real camera frame (a fresh
        one when None).
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
        sources: Sequence[EvidenceSource] = (),
        scene: SceneMemory | None = None,
        model_bars: Callable[[], ModelBars] | None = None,
        mask: FrameMask | None = None,
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
        self.sources = list(sources)
        #: The sources also asked on a step without a judged frame (the gas watch).
        self._frameless = [s for s in self.sources if getattr(s, "frameless", False)]
        #: The model in use's corroboration bars for its watches (none: it has none).
        self.model_bars: Callable[[], ModelBars] = model_bars or (lambda: NO_BARS)
        self.mask = mask if mask else None  # [lepton] mask: the view's ignored rectangles
        self.scene = scene if scene is not None else SceneMemory()
        self.last_evidence: list[Evidence] = []
        self._warning: Evidence | None = None  # the last judged frame's warning, if any
        self.last_score: ScoreLike | None = None
        self.last_vector: Vector | None = None
        self.last_gas: GasReading | None = None
        #: The last gas-only score, with the model and the gas features it is for: the gas
        #: features change with each SCD41 reading, not with each frame the gas watch asks on.
        self._gas_only_last: tuple[object, bytes, float] | None = None
        self.plausibility = GasPlausibility()
        self.scored = 0
        #: ``edge.detect.shadow.ShadowScorer.observe``, called after each scored vector.
        self.shadow: Callable[[float, Vector, float, float, bool], None] | None = None

    # ----------------------------------------------------------------- readings

    def frame(self, frame: ThermalFrame) -> Step:
        """One camera frame. A frozen (FFC) frame is not new data: it does not count as the
        camera being alive, so a shutter stuck closed faults the camera once stale."""
        events = self.check(frame.t) if frame.frozen else self._seen("lepton", frame.t)
        if self.mask is not None:
            frame = replace(frame, pixels=self.mask.apply(frame.pixels))
        vector = self.extractor.add_frame(frame)
        celsius: npt.NDArray[np.float32] | None = None
        if self.sources and not frame.frozen:
            celsius = frame.pixels * np.float32(frame.resolution_k) - np.float32(ZERO_C_K)
            self.scene.update(frame.t, celsius)
        return self._score(frame.t, vector, events, celsius)

    def gas(self, reading: GasReading) -> Step:
        """One SCD41 reading (the one way gas enters the pipeline); scored only when frames
        are stale (the extractor decides). The evidence sources are not asked. The
        plausibility filter (``edge.detect.plausibility``) may reject it (then it is
        missing), hold it one reading, or release a held one with it."""
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
        why = explain_fault(sensor, st.reason, self.reasons())
        log.warning("%s: fault: %s", sensor, why)
        return [DetectionEvent("fault", t, self._last_probability(), self.last_score, sensor,
                               st.reason, why=why)]

    def _last_probability(self) -> float:
        return math.nan if self.last_score is None else float(self.last_score.probability)

    def _score(self, t: float, vector: Vector | None, events: list[DetectionEvent],
               celsius: npt.NDArray[np.float32] | None = None) -> Step:
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
        found: list[Evidence] = []
        # A judged frame asks every source; a step without one (an FFC repeat, an SCD41
        # reading scored while the camera is stale) asks those that read no frame: the gas
        # watch, so a dead camera does not make the gas count for less than a live one.
        asked = self.sources if celsius is not None else self._frameless
        if asked:
            v = vector
            look = Look(t, _NO_FRAME if celsius is None else celsius, p, evidence,
                        self.alarm.threshold, self.alarm.config.scene_threshold,
                        lambda: self._gas_only(v), self.model_bars, lambda: _has_gas(v))
            for source in asked:
                said = source.update(look, self.scene)
                if said is not None:
                    found.append(said)
        self.last_evidence = found
        verdict = combine(evidence, found)
        trigger = verdict.trigger
        if celsius is not None:  # a frame the sources judged; else their last warning stands
            self._warning = verdict.warning
        warning = self._warning
        detail: ScoreLike | None = None
        for ev in self.alarm.update(t, verdict.score, hold=verdict.hold,
                                    trigger=None if trigger is None else trigger.source,
                                    why="" if trigger is None else trigger.why,
                                    warning=None if warning is None
                                    else (warning.source, warning.why)):
            if detail is None:  # the features behind the score: worth a batch for an event
                detail = self._explained(vector, score)
            alone = (self._alone(vector)
                     if ev.kind == "alarm" and ev.reason in SCORE_REASONS else None)
            why = explain_alarm(ev, detail.top_features, feature_values(vector),
                                self.reasons(), found, alone)
            events.append(DetectionEvent(ev.kind, ev.t, ev.score, detail, alarm=ev, why=why))
        if self.shadow is not None:
            self.shadow(t, vector, p, self.alarm.threshold, any(e.kind == "alarm" for e in events))
        return Step(t, score, vector, events, found)

    @property
    def scene_bar(self) -> float:
        """The score at which the known-scene rule stops applying (NaN: no rule)."""
        if not any(s.name == "known_scene" for s in self.sources):
            return math.nan
        return scene_bar(self.alarm.config.scene_threshold, self.alarm.threshold)

    def retune(self, alarm: AlarmConfig, model_threshold: float,
               model_hold: Hold | None = None) -> bool:
        """New ``[alarm]`` settings or a new model's threshold and hold: the alarm logic (and
        with it the known-scene rule's bar) uses them from now on. Only while idle: returns
        False, changing nothing, while an alarm or pre-alarm is in progress."""
        if self.alarm.state != "idle":
            return False
        if self.alarm.retune(alarm, model_threshold, model_hold):
            hold = self.alarm.hold
            log.info("alarm threshold now %.3f; sustained alarm %s", self.alarm.threshold,
                     "off" if hold is None else f"{hold.score:.3f} held {hold.seconds:g} s")
        return True

    def _explained(self, vector: Vector, score: ScoreLike) -> ScoreLike:
        """``score`` with the features that pushed it (the scorer's ``explain``); ``score``
        itself if the scorer cannot say or fails to: an explanation never costs an event."""
        if not isinstance(self.scorer, Explainer):
            return score
        try:
            return self.scorer.explain(vector)
        except Exception:
            log.exception("explaining an event's score failed; it is published without")
            return score

    def _alone(self, vector: Vector) -> tuple[float, float] | None:
        """What the gas alone and the camera alone score (None if that cannot be said)."""
        try:
            return self._gas_only(vector), self._camera_only(vector)
        except Exception:
            log.exception("scoring each sensor alone failed; the event is published without")
            return None

    def _gas_only(self, vector: Vector) -> float:
        """The score of ``vector`` with its camera features blanked (NaN if none); scored
        once per model and gas features."""
        from edge.features import camera_columns

        key = vector[~camera_columns(vector.shape[0])].tobytes()
        model = getattr(self.scorer, "model", self.scorer)
        last = self._gas_only_last
        if last is not None and last[0] is model and last[1] == key:
            return last[2]
        p = self._blanked(vector, camera=True)
        self._gas_only_last = (model, key, p)
        return p

    def _camera_only(self, vector: Vector) -> float:
        """The score of ``vector`` with its gas features blanked (NaN if none)."""
        return self._blanked(vector, camera=False)

    def _blanked(self, vector: Vector, camera: bool) -> float:
        from edge.features import camera_columns

        blind = vector.copy()
        cols = camera_columns(blind.shape[0])
        blind[cols if camera else ~cols] = np.nan
        p = float(self.scorer.score(blind).probability)
        return p if math.isfinite(p) else math.nan


#: The frame a frameless source's look carries (it does not read it).
_NO_FRAME = np.zeros((0, 0), np.float32)


def _has_gas(vector: Vector) -> bool:
    """Whether ``vector`` holds a gas feature (not all NaN: the SCD41's readings are fresh)."""
    from edge.features import camera_columns

    return bool(np.isfinite(vector[~camera_columns(vector.shape[0])]).any())


class ModelSource(Scorer, Protocol):
    """:class:`edge.model.holder.ModelHolder`: scores, and says which model (if any) is in use."""

    @property
    def model(self) -> Model | None: ...


def model_threshold(holder: ModelSource) -> float:
    """The alarm threshold of the model in use, or the rule fallback's."""
    from edge.model.rules import RULES_THRESHOLD

    model = holder.model
    return float(model.threshold) if model is not None else RULES_THRESHOLD


def model_hold(holder: ModelSource) -> Hold | None:
    """The sustained alarm of the model in use (None: no model, or it has none)."""
    model = holder.model
    return None if model is None else Hold.of(model.hold)


def model_bars(holder: ModelSource) -> ModelBars:
    """The watches' corroboration bars of the model in use (none: no model, or it has none)."""
    model = holder.model
    return NO_BARS if model is None else ModelBars(model.flame_min_score,
                                                   model.smoulder_min_score,
                                                   model.smoulder_early,
                                                   model.gas_min_score,
                                                   model.flame_ladder)


def build_pipeline(config: Config, holder: ModelSource, start_t: float = 0.0) -> Pipeline:
    """The pipeline the daemon and ``replay`` both run: the richest feature set (every
    model scores its prefix, so a swap keeps the history), ``holder``'s model,
    the configured alarm logic, evidence sources and the sensors' staleness limits."""
    from edge.features import FeatureExtractor

    sensors = config.sensors
    scene = SceneMemory(config.flame)
    return Pipeline(
        FeatureExtractor(),
        holder,
        AlarmStateMachine(config.alarm, model_threshold(holder), model_hold(holder)),
        stale_after_s={"scd41": sensors.scd41.stale_after_s,
                       "lepton": sensors.lepton.stale_after_s},
        start_t=start_t,
        startup_grace_s={"scd41": sensors.scd41.startup_grace_s,
                         "lepton": sensors.lepton.startup_grace_s},
        startup_s=config.alarm.startup_s,
        sources=build_sources(config, scene),
        scene=scene,
        model_bars=lambda: model_bars(holder),
        mask=FrameMask(sensors.lepton.mask),
    )
