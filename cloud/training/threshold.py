"""The alarm threshold chosen on *events*, not frames.

A per-frame false-positive rate says little about false alarms: the device alarms only when
the score holds above the threshold through the pre-alarm (``edge.detect.alarm``), so one frame
over it is harmless and a nuisance that sits just over it for seconds is an alarm. Here the
device's own alarm state machine is run over the validation recordings' score streams — the
no-fire recordings whole and the fire recordings up to their onset — and the threshold is
the lowest one at which none of them alarms, plus a margin (unseen nuisances score a little
higher than the few validation ones).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.config.alarm import AlarmConfig
from edge.detect.alarm import AlarmStateMachine

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]

#: Never below this (a threshold near 0 would alarm on noise the validation set lacks) ...
FLOOR = 0.3
#: ... and never at or above the fast path's score, which alarms without the pre-alarm.
CEILING = 0.95


@dataclass(frozen=True)
class Stream:
    """One recording's scores over time, as the device would compute them; the recording
    (and the device's start-up guard, ``AlarmConfig.startup_s``) starts at ``start_t``."""

    t: Array
    p: Array
    start_t: float = 0.0
    name: str = ""  # the recording's, for the log


def count_alarms(streams: Sequence[Stream], threshold: float,
                 config: AlarmConfig | None = None) -> int:
    """How many streams raise an ``alarm`` event with this threshold, start-up guard included
    (as ``edge.detect.pipeline``: below the fast-path score, no evidence for ``startup_s``)."""
    cfg = config or AlarmConfig()
    alarm_log = logging.getLogger("edge.detect.alarm")
    level = alarm_log.level
    alarm_log.setLevel(logging.ERROR)  # trial alarms are not device alarms
    try:
        return sum(_alarms(s, threshold, cfg) for s in streams)
    finally:
        alarm_log.setLevel(level)


def _alarms(s: Stream, threshold: float, cfg: AlarmConfig) -> int:
    sm = AlarmStateMachine(cfg, threshold)
    for t, p in zip(s.t.tolist(), s.p.tolist(), strict=True):
        ev_p = p if math.isfinite(p) else math.nan
        if (t - s.start_t < cfg.startup_s and sm.state != "alarm"
                and not ev_p >= sm.fast_path_score):
            ev_p = math.nan
        if any(ev.kind == "alarm" for ev in sm.update(t, ev_p)):
            return 1
    return 0


def event_threshold(streams: Sequence[Stream], margin: float = 0.05,
                    config: AlarmConfig | None = None) -> float:
    """The lowest threshold (to 0.001) at which no stream alarms, plus ``margin``, within
    [FLOOR, CEILING].

    :raises ValueError: for no streams or a negative margin.
    """
    if not streams:
        raise ValueError("no no-fire validation streams to choose an event threshold on")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"threshold margin {margin}; allowed: 0 ≤ margin < 1")
    lo, hi = 0.0, CEILING  # alarms at lo (or lo is 0), none at hi (or hi is the ceiling)
    if count_alarms(streams, hi, config) > 0:
        cfg = config or AlarmConfig()
        alarming = [s.name or "?" for s in streams if count_alarms([s], hi, cfg)]
        log.warning("validation no-fire recordings alarm even at %.3f: threshold capped (%s)",
                    CEILING, ", ".join(alarming))
        return CEILING
    while hi - lo > 0.001:
        mid = (lo + hi) / 2.0
        if count_alarms(streams, mid, config) > 0:
            lo = mid
        else:
            hi = mid
    thr = float(min(max(hi + margin, FLOOR), CEILING))
    log.info("event threshold: no validation alarm from %.4f; with margin %.4f", hi, thr)
    return thr
