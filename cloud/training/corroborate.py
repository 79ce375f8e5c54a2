"""How much the model must corroborate a growing flame: chosen on validation runs, not set by hand.

The device alarms on a new hot region that keeps growing (the flame watch,
``edge.detect.flame``) when the model's score is at least ``[flame] min_score``
(``edge.detect.evidence.FlameSource``). That bar was a number set by hand on one engine's runs
(0.2, then 0.5). It belongs to the model: it is a score, on the model's own calibrated scale,
and a new model fetched from S3 brings a new scale.

So training chooses it the way it chooses the alarm threshold (``cloud.training.threshold``):
the device's flame watch is run over every recording's frames as the pipeline runs it
(:func:`watch_rows`: per row, ``WATCH_GROWING`` or ``WATCH_SURE``), and on the VALIDATION runs of
both engines the bar is the lowest score at which no no-fire stream — nuisance runs whole,
fire runs up to their ignition (an oil pan heating is not yet a fire) — has a growing frame the
model corroborates, plus a margin, within [``FLOOR``, ``CEILING``]. A ``sure`` growth alarms
whatever the score, so no bar removes it; those streams are counted and reported.

The bar goes into the model's manifest (``detection.flame_min_score``); the device uses it
unless ``[flame] min_score`` is set (docs/model-artifact.md).

Nuisances that grow like a flame do so for seconds, so the bar for a region the watch has
seen grow for longer is chosen the same way over the no-fire frames grown that long: the
flame ladder (:func:`choose_ladder`, manifest ``detection.flame_ladder``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge.config.flame import FlameConfig
from edge.config.smoulder import SmoulderConfig
from edge.detect.flame import FlameWatch
from edge.detect.smoulder import SmoulderWatch
from edge.features import FeatureParams
from edge.featuresets.batch import row_frames
from edge.recording import Recording
from edge.types import ZERO_C_K

if TYPE_CHECKING:
    from cloud.training.data import Dataset

log = logging.getLogger(__name__)

__all__ = ["CEILING", "FLOOR", "WATCH_GROWING", "WATCH_SURE", "FlameBar", "Watches",
           "choose_flame_bar", "watch_rows", "watches"]

WATCH_NONE, WATCH_GROWING, WATCH_SURE = 0, 1, 2
#: The bars the report's trade-off curve is read at (``FlameBar.curve``).
CURVE_BARS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
#: Never below this (a bar near 0 trusts the hand-set growth alone on what validation lacks)...
FLOOR = 0.2
#: ... and never above the alarm threshold's own ceiling (the model alone alarms there).
CEILING = 0.95
#: The growing times (s) a rung of the flame ladder may start at (:func:`choose_ladder`): past
#: a burner's or a grate's ignition, whose growth the watch sees for 4–5 s (CFAST's burners
#: ramp over 10 s) and the model may score 0.7–0.77 (held-out CFAST gas hobs and open
#: fireplaces catching, docs/evaluation.md "Issue 14, session 30"), more than validation's
#: few saw; rungs from 4 s alarmed on them...
LADDER_S = (8.0, 10.0, 12.0)
#: ... if at least this many validation no-fire streams grow that long: the highest of fewer
#: is no evidence of what the nuisances that keep growing score.
LADDER_MIN_STREAMS = 3


def watch_rows(rec: Recording, params: FeatureParams | None = None,
               config: FlameConfig | None = None) -> npt.NDArray[np.int8]:
    """What the device's flame watch says at each row :func:`edge.features.featurize_recording`
    gives over ``rec`` (``WATCH_NONE``, ``WATCH_GROWING`` or ``WATCH_SURE``), fed the frames in
    °C as the pipeline feeds them; rows of SCD41 readings say nothing."""
    return watches(rec, params, config).flame


@dataclass(frozen=True)
class Watches:
    """What the device's watches say at each row of a recording: ``flame`` (``WATCH_*``) and
    ``smoulder`` (the smoulder watch says the spot keeps heating or spreading: it would
    trigger at a high enough score; ``edge.detect.evidence.SmoulderSource``)."""

    flame: npt.NDArray[np.int8]
    smoulder: npt.NDArray[np.bool_]
    #: For how many steps in a row the smoulder watch saw the spot heat or spread
    #: (``SmoulderEvidence.steady_steps``).
    steady: npt.NDArray[np.int8]
    #: For how many seconds the flame watch has seen the region grow
    #: (``FlameEvidence.growing_s``; NaN: not growing).
    flame_s: npt.NDArray[np.float32]


def watches(rec: Recording, params: FeatureParams | None = None,
            config: FlameConfig | None = None,
            smoulder: SmoulderConfig | None = None) -> Watches:
    """Both watches over ``rec`` in one pass, as the pipeline runs them (the flame watch's
    onsets feed the smoulder watch when it keeps no memory of its own), per row of
    :func:`edge.features.featurize_recording`; rows of SCD41 readings say nothing. No cooking
    zone: a spot in one only warns, and training recordings have none."""
    flame_cfg = config or FlameConfig()
    watch = FlameWatch(flame_cfg)  # with its own scene memory
    slow = SmoulderWatch(smoulder or SmoulderConfig(), flame_cfg)
    res = np.float32(rec.frame_resolution_k)
    per_frame = np.zeros(rec.frame_t.size, np.int8)
    smouldering = np.zeros(rec.frame_t.size, bool)
    steady = np.zeros(rec.frame_t.size, np.int8)
    grown = np.full(rec.frame_t.size, np.nan, np.float32)
    for i, t in enumerate(rec.frame_t.tolist()):
        celsius = rec.frames[i] * res - np.float32(ZERO_C_K)
        seen = watch.update(t, celsius)
        if seen.growing:
            per_frame[i] = WATCH_SURE if seen.sure else WATCH_GROWING
            grown[i] = seen.growing_s
        spot = slow.update(t, celsius, watch.onset)
        smouldering[i], steady[i] = spot.smouldering, spot.steady_steps
    frames = row_frames(rec, params)
    on_frame = frames >= 0

    def per_row(verdicts: npt.NDArray[Any], fill: Any = 0) -> npt.NDArray[Any]:
        out = np.full(frames.size, fill, verdicts.dtype)
        out[on_frame] = verdicts[frames[on_frame]]
        return out

    return Watches(per_row(per_frame), per_row(smouldering), per_row(steady),
                   per_row(grown, np.nan))


@dataclass(frozen=True)
class FlameBar:
    """The chosen bar and what it rests on (for metrics.json and the manifest).

    ``highest_nuisance``: the highest score of a growing (not sure) frame in a no-fire stream
    (None: the watch saw no growth there); ``streams``/``growing_streams``: no-fire streams,
    and those with such frames; ``sure_streams``: no-fire streams the watch alarms on whatever
    the score; ``fires``/``fires_corroborated``: validation fire runs the watch saw grow, and
    those it alarms on at the bar; ``median_wait_s``: from a fire's first growing frame to its
    first corroborated one (or sure), median over those.
    """

    bar: float
    margin: float
    highest_nuisance: float | None
    streams: int
    growing_streams: int
    sure_streams: int
    fires: int
    fires_corroborated: int
    median_wait_s: float | None
    #: The trade-off the bar was picked from: per bar in ``CURVE_BARS``, the no-fire streams
    #: that would alarm at it, the growing fires it lets alarm and their median wait (s).
    curve: tuple[tuple[float, int, int, float | None], ...] = ()
    #: The no-fire stream that reaches ``highest_nuisance`` (None: none grows).
    highest_stream: str | None = None
    #: Lower bars for a flame growing longer (:func:`choose_ladder`), ``(seconds, bar)``.
    ladder: tuple[tuple[float, float], ...] = ()
    #: Per time in ``LADDER_S``: ``(seconds, bar, no-fire streams growing that long, the
    #: highest of them)``; the bar is None with too few streams.
    ladder_rungs: tuple[tuple[float, float | None, int, str | None], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_flame_bar(ds: Dataset, p: npt.NDArray[np.float64], rows: npt.NDArray[np.intp],
                     groups: Sequence[int], margin: float = 0.05) -> FlameBar:
    """The bar for the validation runs ``groups`` (``rows``: their rows, ``p``: the calibrated
    score of each); see the module docstring.

    :raises ValueError: a margin outside [0, 1), or ``p`` not one score per row.
    """
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"flame bar margin {margin}; allowed: 0 ≤ margin < 1")
    if p.shape != rows.shape:
        raise ValueError(f"{p.size} scores for {rows.size} rows")
    row_group, t, watch, grown = ds.group[rows], ds.t[rows], ds.watch[rows], ds.watch_s[rows]
    highest, highest_stream = -math.inf, None
    streams = growing_streams = sure_streams = 0
    peaks: list[float] = []  # per no-fire stream: its highest growing score (1 if sure)
    fire_runs: list[_Run] = []
    quiet_growth: list[tuple[str, npt.NDArray[np.float64], npt.NDArray[np.float32]]] = []
    for g in groups:
        info = ds.groups[g]
        if info.kind != "recording":
            continue
        sel = row_group == g
        quiet = sel & (t < info.fire_start_s) if info.fire_start_s is not None else sel
        if quiet.any():
            streams += 1
            grow = quiet & (watch == WATCH_GROWING)
            peak = -math.inf
            if grow.any():
                growing_streams += 1
                peak = float(np.nanmax(p[grow], initial=-math.inf))
                if peak > highest:
                    highest, highest_stream = peak, info.name
                quiet_growth.append((info.name, p[grow], grown[grow]))
            sure = bool((quiet & (watch == WATCH_SURE)).any())
            sure_streams += int(sure)
            peaks.append(math.inf if sure else peak)
        if info.fire_start_s is not None:
            fire = sel & (t >= info.fire_start_s)
            fire_runs.append((t[fire], p[fire], watch[fire], grown[fire]))
    seen = highest if math.isfinite(highest) else None
    bar = _clamp((highest + margin) if seen is not None else FLOOR)
    rungs = choose_ladder(quiet_growth, margin)
    ladder = _ladder(bar, rungs)
    fires, corroborated, waits = _fires_at(fire_runs, bar, ladder)
    if seen is not None and seen + margin > CEILING:
        log.warning("validation nuisances grow with a score up to %.3f: flame bar capped at %.2f",
                    seen, CEILING)
    curve = []
    for b in CURVE_BARS:
        _, n_corr, b_waits = _fires_at(fire_runs, b)
        curve.append((b, sum(pk >= b for pk in peaks), n_corr,
                      float(np.median(b_waits)) if b_waits else None))
    out = FlameBar(bar, margin, seen, streams, growing_streams, sure_streams, fires,
                   corroborated, float(np.median(waits)) if waits else None, tuple(curve),
                   highest_stream, ladder, rungs)
    log.info("flame bar %.3f: %s", bar, out)
    return out


def choose_ladder(quiet: Sequence[tuple[str, npt.NDArray[np.float64], npt.NDArray[np.float32]]],
                  margin: float) -> tuple[tuple[float, float | None, int, str | None], ...]:
    """Per time in ``LADDER_S``, the flame bar for a region that has grown that long:
    ``(seconds, bar, streams, highest stream)``. ``quiet``: per no-fire stream whose watch saw
    growth, its name, and the scores and growing times of its growing frames. The bar is the
    highest score of a stream's frame grown at least that long, plus ``margin``, within
    [``FLOOR``, ``CEILING``]; None when fewer than ``LADDER_MIN_STREAMS`` streams grow so long.

    A flame keeps spreading; what grows like one in a kitchen or a lounge (a pan's film of
    oil, a ring or a log catching, a heater's grille) does so for seconds. So the bar for a
    region that has grown for ten seconds is set by the few nuisances that grow that long,
    not by every one that grows at all."""
    out: list[tuple[float, float | None, int, str | None]] = []
    for seconds in LADDER_S:
        peaks = [(float(p[grown >= seconds].max()), name) for name, p, grown in quiet
                 if (grown >= seconds).any()]
        top = max(peaks, default=None)
        bar = (_clamp(top[0] + margin) if top is not None and len(peaks) >= LADDER_MIN_STREAMS
               else None)
        out.append((seconds, bar, len(peaks), None if top is None else top[1]))
    return tuple(out)


def _ladder(bar: float, rungs: Sequence[tuple[float, float | None, int, str | None]]
            ) -> tuple[tuple[float, float], ...]:
    """The ladder: the chosen rungs, in time order, each lower than the bar before it
    (``bar`` first); a rung no lower, or with no bar, is left out."""
    out: list[tuple[float, float]] = []
    for seconds, b, _, _ in rungs:
        if b is not None and b < (out[-1][1] if out else bar):
            out.append((seconds, b))
    return tuple(out)


def _clamp(bar: float) -> float:
    return float(min(max(bar, FLOOR), CEILING))


#: A validation fire run after ignition: times, scores, watch verdicts and growing times.
_Run = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int8],
             npt.NDArray[np.float32]]


def _fires_at(runs: Sequence[_Run], bar: float,
              ladder: Sequence[tuple[float, float]] = ()) -> tuple[int, int, list[float]]:
    """Fire runs whose flame the watch saw grow, those it alarms on at ``bar`` (lowered by
    ``ladder``'s rungs), and the waits from the first growing frame to the first that
    triggers."""
    fires = corroborated = 0
    waits: list[float] = []
    for t, p, watch, grown in runs:
        grow = watch != WATCH_NONE
        if not grow.any():
            continue
        fires += 1
        bars = np.full(p.shape, bar)
        for seconds, b in ladder:
            bars = np.where(grown >= seconds, np.minimum(bars, b), bars)
        trig = (watch == WATCH_SURE) | (grow & (p >= bars))
        if trig.any():
            corroborated += 1
            waits.append(float(t[int(np.argmax(trig))] - t[int(np.argmax(grow))]))
    return fires, corroborated, waits
