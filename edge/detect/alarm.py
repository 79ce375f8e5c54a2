"""The alarm state machine: idle → pre_alarm → alarm → (clear) → idle.

Fed one fire score at a time with the time it was computed (device clock, seconds). It never
reads a clock itself, so replaying a recording gives the same events as living through it.

Rules (thresholds from :class:`edge.config.AlarmConfig`, else the model's own):

- ``idle``: a score ≥ ``threshold`` enters ``pre_alarm``; a score ≥ ``fast_path_score``
  alarms at once (overwhelming evidence skips the wait).
- ``pre_alarm``: alarms once the score has been at or above ``threshold`` for
  ``pre_alarm_s`` and still is. Dips into the hysteresis band (``clear_threshold`` ≤ score <
  threshold) keep the pre-alarm alive, so a fire flickering around the threshold still
  alarms; a score below ``clear_threshold`` falls back to ``idle`` without an event.
- A ``warning`` (evidence that warns but is not fire, e.g. ``cooking_zone``: a pan heating
  on the hob) enters ``pre_alarm`` too, whatever the score, and keeps it while it lasts;
  :attr:`AlarmStateMachine.pre_alarm_reason` says why. The score still alarms as above
  (its ``pre_alarm_s`` counted from when it crossed the threshold), a trigger at once.
- ``alarm``: clears when scores have stayed below ``clear_threshold`` for ``clear_s`` *and*
  the alarm has lasted ``min_alarm_s``. Any score ≥ ``clear_threshold`` restarts the clear
  timer, so a score flickering around the threshold gives one alarm, not an alarm/clear storm.
- A NaN score is no evidence: it neither raises an alarm nor counts towards clearing one (it
  restarts the clear timer — an alarm never clears while the sensors are blind).
- ``sustained``: a score held at or above ``hold_threshold`` for ``hold_s`` alarms from
  ``idle`` or ``pre_alarm``, and while it stays there a raised alarm does not clear.
  Both come from ``[alarm]`` or else the model (:class:`Hold`, chosen on its validation runs
  so that no no-fire run holds it); neither set: off. A fire does not go away; a smoulder
  the model rates likely, but not past the threshold, for minutes on end is found this way.
  A NaN score (no evidence) restarts the hold.
- A ``trigger`` (other evidence, e.g. ``flame_growth`` from :mod:`edge.detect.flame`) alarms at once
  from ``idle`` or ``pre_alarm``, its name the event's reason; ``hold`` (that evidence still
  present) keeps a raised alarm from clearing, as a score above ``clear_threshold`` would.
- A timestamp earlier than the last one is treated as equal to it (time never runs
  backwards here); equal timestamps are fine.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

from edge.config.alarm import AlarmConfig
from edge.types import AlarmKind

log = logging.getLogger(__name__)

AlarmState = Literal["idle", "pre_alarm", "alarm"]

#: The default clear threshold is this fraction of the threshold (0.5 → 0.4).
DEFAULT_CLEAR_RATIO = 0.8
#: How long a score is held when ``[alarm] hold_threshold`` is set and nothing sets the time
#: (training's ``cloud.training.hold.HOLD_S``).
DEFAULT_HOLD_S = 300.0


@dataclass(frozen=True, slots=True)
class Hold:
    """A score held at or above ``score`` for ``seconds`` alarms (``sustained``)."""

    score: float
    seconds: float

    @classmethod
    def of(cls, pair: tuple[float, float] | None) -> Hold | None:
        """A model's ``hold`` (``(score, seconds)``, :attr:`edge.model.runtime.Model.hold`)
        as a :class:`Hold`; None stays None."""
        return None if pair is None else cls(*pair)


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """A change of the alarm condition: ``alarm`` raised or ``clear``-ed.

    ``state`` is the state after the event and ``since`` when it began; ``reason`` says why:
    ``persistent`` (score held through the pre-alarm), ``fast_path`` (overwhelming score),
    ``sustained`` (score held at the hold threshold for minutes) or ``cleared`` (score
    stayed low long enough), or the evidence source that triggered it (``flame_growth``,
    ``smoulder``). ``why`` says it in words, for a person.
    """

    kind: AlarmKind
    t: float
    score: float
    state: AlarmState
    since: float
    reason: str
    why: str = ""


class AlarmStateMachine:
    """Turns a stream of ``(t, score)`` into alarm and clear events, with hysteresis."""

    def __init__(self, config: AlarmConfig, model_threshold: float,
                 model_hold: Hold | None = None) -> None:
        """Use ``config``'s thresholds, falling back to ``model_threshold`` and
        ``model_hold``.

        :raises ValueError: a threshold outside (0, 1), or a clear threshold above it.
        """
        self._tune(config, model_threshold, model_hold)
        self._held_since: float | None = None
        self._state: AlarmState = "idle"
        self._since: float | None = None
        self._last_t: float | None = None
        self._last_score = math.nan
        self._low_since: float | None = None
        self._over_since: float | None = None  # in pre_alarm: the score ≥ threshold since
        self._warning: tuple[str, str] | None = None  # in pre_alarm: (reason, why)

    def retune(self, config: AlarmConfig, model_threshold: float,
               model_hold: Hold | None = None) -> bool:
        """Take new settings (a reload) or a new model's threshold, keeping the state; return
        whether the thresholds changed. Only while idle: an alarm or a pre-alarm in progress
        keeps the logic it began with.

        :raises RuntimeError: called while not idle.
        :raises ValueError: as the constructor.
        """
        if self._state != "idle":
            raise RuntimeError(f"alarm settings cannot change in state {self._state!r}")
        before = (self.threshold, self.clear_threshold, self.fast_path_score, self.hold)
        self._tune(config, model_threshold, model_hold)
        if self.hold != before[3]:
            self._held_since = None  # a new bar (a new model's scores): the hold starts over
        return before != (self.threshold, self.clear_threshold, self.fast_path_score,
                          self.hold)

    @property
    def config(self) -> AlarmConfig:
        """The settings in use."""
        return self._cfg

    def _tune(self, config: AlarmConfig, model_threshold: float,
              model_hold: Hold | None) -> None:
        threshold = config.threshold if config.threshold is not None else model_threshold
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"alarm threshold must be in (0, 1), got {threshold!r}")
        clear = (
            config.clear_threshold
            if config.clear_threshold is not None
            else threshold * DEFAULT_CLEAR_RATIO
        )
        if clear > threshold:
            raise ValueError(
                f"alarm.clear_threshold ({clear}) must not exceed the threshold ({threshold})"
            )
        self.threshold = threshold
        self.clear_threshold = clear
        self.fast_path_score = max(config.fast_path_score, threshold)
        self.hold = _hold(config, model_hold)
        self._cfg = config

    @property
    def state(self) -> AlarmState:
        """The current state."""
        return self._state

    @property
    def since(self) -> float | None:
        """When the current state began (None before the first update)."""
        return self._since

    @property
    def pre_alarm_reason(self) -> tuple[str, str] | None:
        """In ``pre_alarm``: why, as ``(reason, words)``: the warning's source, or
        ``threshold`` (the score is over it); None in other states."""
        if self._state != "pre_alarm":
            return None
        if self._warning is not None:
            return self._warning
        return "threshold", (f"the fire score is at or above the threshold "
                             f"{self.threshold:.2f}; it alarms after "
                             f"{self._cfg.pre_alarm_s:g} s there")

    @property
    def last_score(self) -> float:
        """The last score given (NaN when none, or when it was NaN)."""
        return self._last_score

    def update(self, t: float, score: float, *, trigger: str | None = None,
               hold: bool = False, why: str = "",
               warning: tuple[str, str] | None = None) -> list[AlarmEvent]:
        """Feed one score at time ``t``; return the events it causes (usually none).

        ``trigger`` names other evidence that alarms at once (``why`` says what it saw);
        ``hold`` keeps an alarm up; ``warning`` (``(reason, why)``) holds a pre-alarm.

        :raises ValueError: ``t`` not finite, or ``score`` outside [0, 1] (NaN is allowed).
        """
        if not math.isfinite(t):
            raise ValueError(f"alarm update time must be finite, got {t!r}")
        if not (math.isnan(score) or 0.0 <= score <= 1.0):
            raise ValueError(f"fire score must be in [0, 1] or NaN, got {score!r}")
        if self._last_t is not None and t < self._last_t:
            log.warning(
                "alarm: time went backwards (%.3f after %.3f); using %.3f",
                t, self._last_t, self._last_t,
            )
            t = self._last_t
        self._last_t = t
        if self._since is None:
            self._since = t
        self._last_score = score
        held = self._track_hold(t, score)
        if trigger is not None and self._state != "alarm":
            return self._raise(t, score, trigger, why or trigger)
        if held and self._state != "alarm":
            return self._raise(t, score, "sustained", self._said_sustained(score))
        if (trigger is not None or hold) and self._state == "alarm":
            self._low_since = None
            return []
        if self._state == "idle":
            return self._from_idle(t, score, warning)
        if self._state == "pre_alarm":
            return self._from_pre_alarm(t, score, warning)
        return self._from_alarm(t, score)

    def _track_hold(self, t: float, score: float) -> bool:
        """Whether the score has now been at or above the hold threshold for ``hold_s``."""
        hold = self.hold
        if hold is None or math.isnan(score) or score < hold.score:
            self._held_since = None
            return False
        if self._held_since is None:
            self._held_since = t
        return t - self._held_since >= hold.seconds

    def _began(self, t: float) -> float:
        return t if self._since is None else self._since

    def _enter(self, state: AlarmState, t: float) -> None:
        log.debug("alarm: %s → %s at %.3f", self._state, state, t)
        self._state = state
        self._since = t
        self._low_since = None
        self._over_since = None
        self._warning = None

    def _raise(self, t: float, score: float, reason: str, why: str) -> list[AlarmEvent]:
        self._enter("alarm", t)
        log.warning("alarm: ALARM at t=%.3f (%s): %s", t, reason, why)
        return [AlarmEvent("alarm", t, score, "alarm", t, reason, why)]

    def _from_idle(self, t: float, score: float,
                   warning: tuple[str, str] | None) -> list[AlarmEvent]:
        over = not math.isnan(score) and score >= self.threshold
        if over and score >= self.fast_path_score:
            return self._raise(t, score, "fast_path", self._said_fast(score))
        if over and self._cfg.pre_alarm_s <= 0.0:
            return self._raise(t, score, "persistent", self._said_persistent(score))
        if over or warning is not None:
            self._enter("pre_alarm", t)
            self._over_since = t if over else None
            self._warn(t, warning)
        return []

    def _from_pre_alarm(self, t: float, score: float,
                        warning: tuple[str, str] | None) -> list[AlarmEvent]:
        self._warn(t, warning)
        if math.isnan(score):
            if self._over_since is None and self._warning is None:
                self._enter("idle", t)  # the warning is over and no score is over the bar
            return []
        if score >= self.fast_path_score:
            return self._raise(t, score, "fast_path", self._said_fast(score))
        if score < self.clear_threshold:
            self._over_since = None
        elif score >= self.threshold and self._over_since is None:
            self._over_since = t
        if self._over_since is None:
            if self._warning is None:
                self._enter("idle", t)
            return []
        if score >= self.threshold and t - self._over_since >= self._cfg.pre_alarm_s:
            return self._raise(t, score, "persistent", self._said_persistent(score))
        return []

    def _warn(self, t: float, warning: tuple[str, str] | None) -> None:
        """Take this update's warning (None: none now); log when one begins or ends."""
        if warning is not None and self._warning is None:
            log.warning("alarm: pre-alarm at t=%.3f (%s): %s", t, *warning)
        elif warning is None and self._warning is not None:
            log.info("alarm: warning %s over at t=%.3f", self._warning[0], t)
        self._warning = warning

    def _from_alarm(self, t: float, score: float) -> list[AlarmEvent]:
        if (math.isnan(score) or score >= self.clear_threshold
                or self._held_since is not None):  # held at the hold threshold
            self._low_since = None
            return []
        if self._low_since is None:
            self._low_since = t
        lasted = t - self._began(t)
        if t - self._low_since >= self._cfg.clear_s and lasted >= self._cfg.min_alarm_s:
            self._enter("idle", t)
            why = (f"the fire score stayed under {self.clear_threshold:.2f} for "
                   f"{self._cfg.clear_s:g} s (now {score:.2f})")
            log.warning("alarm: clear at t=%.3f: %s", t, why)
            return [AlarmEvent("clear", t, score, "idle", t, "cleared", why)]
        return []

    def _said_fast(self, score: float) -> str:
        return (f"the fire score is {score:.2f}, past the fast path "
                f"({self.fast_path_score:.2f})")

    def _said_sustained(self, score: float) -> str:
        hold = self.hold
        assert hold is not None
        return (f"the fire score stayed at or above {hold.score:.2f} for {hold.seconds:g} s "
                f"(now {score:.2f})")

    def _said_persistent(self, score: float) -> str:
        return (f"the fire score stayed at or above the threshold {self.threshold:.2f} for "
                f"{self._cfg.pre_alarm_s:g} s (now {score:.2f})")


def _hold(config: AlarmConfig, model_hold: Hold | None) -> Hold | None:
    """The sustained alarm's settings: ``[alarm] hold_threshold`` / ``hold_s`` where set, the
    model's where not, ``DEFAULT_HOLD_S`` for a threshold that comes without a time; None
    (off) without a threshold, or with ``hold_s`` 0.

    :raises ValueError: a hold threshold outside (0, 1), or a negative hold time.
    """
    score = config.hold_threshold if config.hold_threshold is not None else (
        None if model_hold is None else model_hold.score)
    seconds = config.hold_s if config.hold_s is not None else (
        DEFAULT_HOLD_S if model_hold is None else model_hold.seconds)
    if score is None or seconds == 0.0:
        return None
    if not 0.0 < score < 1.0 or not (seconds > 0.0 and math.isfinite(seconds)):
        raise ValueError(f"sustained alarm: hold threshold {score!r} for {seconds!r} s; "
                         "allowed: a threshold in (0, 1) for a positive time")
    return Hold(float(score), float(seconds))
