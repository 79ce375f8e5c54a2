"""How much the model must corroborate a smouldering spot: chosen on validation runs.

The smoulder watch (``edge.detect.smoulder``) alarms on a new spot that keeps heating or
spreading for five minutes (``edge.detect.evidence.SmoulderSource``) when the model's score
is at least ``[smoulder] min_score``. Until session 21 that bar was 0: a hand rule alone, so
a spot the model firmly calls no fire (a gas pan scored 0.04–0.07, a small heater 0.05 in
session 20's hour-long runs) alarmed all the same, and it made 4 of the 5 false alarms there.

The bar belongs to the model (a score on its calibrated scale), so training chooses it. The
flame watch's bar (``cloud.training.corroborate``) is the lowest score no validation nuisance
reaches. That rule does not fit here: the watch is the only thing that finds most slow fires,
their scores are low (0.1–0.4) and the nuisances it sees reach as high. So this bar is chosen
*for the fires*, and takes from the nuisances only what costs no fire:

- on the VALIDATION runs of both engines, every fire run the watch finds smouldering after
  ignition gives its *score when found*: the highest score over the watch's first step
  (``step_s``, 60 s) from the first smouldering frame, i.e. what the device would need to
  alarm within one step of the watch;
- the bar is the weakest fire's score when found, at ``ODDS_FACTOR`` (half) its odds: a
  margin on the scale a calibrated score lives on (0.17 → 0.09, 0.3 → 0.18);
- only with at least ``MIN_FIRES`` (59) such fires: then the weakest is, with 95 %
  confidence, under the 5th percentile of the scores fires of this kind are found with
  (0.95⁵⁹ < 0.05). With fewer, the weakest says too little (in session 21 the validation
  runs held 11, the weakest at 0.49, while the development suites' slow fires are found at
  0.17–0.27), and no bar is written (None; the device then uses ``[smoulder] min_score``,
  default 0). ``cloud/train.py --select-slow-runs N`` renders slow fires for this choice.

No validation fire the watch finds is lost or slowed by more than a step; the nuisances the
watch sees and the model scores under the bar are silenced. Both are reported, with the
trade-off at a few bars (``curve``). The bar goes into the manifest
(``detection.smoulder_min_score``); the device uses it unless ``[smoulder] min_score`` is set.

**The early rule** (:class:`EarlyBar`). The watch's five one-minute steps alone take five
minutes, while fire-science.md asks for a smoulder in view within three. The watch also says
for how many steps in a row a spot has heated or spread (``steady_steps``); hobs and pans
coming up to temperature do that for a few minutes too, so a spot seen for fewer steps alarms
only when the model says fire firmly. For each step count in ``EARLY_STEPS`` the bar is chosen
as the flame watch's is: the highest score of a validation no-fire stream on a frame seen for
that many steps, plus the margin, at least ``EARLY_FLOOR`` (more likely fire than not) and
the smoulder bar. A count whose nuisances reach ``EARLY_CEILING`` less the margin, or that no
nuisance reaches at all (nothing to choose on), gets no bar. Of the counts with a bar, the one
that alarms the validation fires soonest (the most seconds gained over the full watch, a fire
only it finds counting the steps it saves) is written; with none, the rule is off. It adds a
way to alarm, so it is written only when at least ``MIN_STREAMS`` (300) validation no-fire
streams were there to refute it: with none of n alarming, the chance that a nuisance run
would is under 3/n with 95 % confidence (the rule of three), 1 % at 300. Across engines a
model trained on CFAST's runs alone (4 a family) chose 2 steps at 0.5 on the 3 nuisances its
validation saw that long, and a heater of our engine then alarmed at 0.525. Manifest
``detection.smoulder_early_steps`` and ``smoulder_early_min_score``; the device uses them
unless ``[smoulder] early_steps`` / ``early_min_score`` are set.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge.config.smoulder import SmoulderConfig

if TYPE_CHECKING:
    from cloud.training.data import Dataset

log = logging.getLogger(__name__)

__all__ = ["CURVE_BARS", "EARLY_CEILING", "EARLY_FLOOR", "EARLY_STEPS", "MIN_FIRES",
           "MIN_STREAMS", "ODDS_FACTOR", "EarlyBar", "EarlyCandidate", "SmoulderBar",
           "choose_smoulder_bar", "odds_scaled"]

#: The bar is the weakest validation fire's score when found at this share of its odds.
ODDS_FACTOR = 0.5
#: Fewest fires found to choose a bar on: the weakest of 59 lies under the 5th percentile
#: with 95 % confidence (0.95 ** 59 < 0.05).
MIN_FIRES = 59
#: The bars the report's trade-off curve is read at (``SmoulderBar.curve``).
CURVE_BARS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
#: The step counts the early rule is chosen among (fewer than the watch's five).
EARLY_STEPS = (2, 3, 4)
#: Fewest validation no-fire streams to write an early rule on (the rule of three: none of
#: 300 alarming bounds the per-run rate under 1 % with 95 % confidence).
MIN_STREAMS = 300
#: The early bar is never under this (a spot heating for a few minutes alarms only when the
#: model calls fire more likely than not)...
EARLY_FLOOR = 0.5
#: ... and is not written above this (the alarm threshold's own ceiling: the model alone
#: alarms there).
EARLY_CEILING = 0.95


@dataclass(frozen=True)
class EarlyCandidate:
    """One step count of the early rule: its bar (None: none; see the module docstring) and
    what it rests on.

    ``highest_nuisance``: the highest score of a no-fire stream on a frame seen for ``steps``
    (None: no stream is); ``streams``: no-fire streams seen that long; ``fires``: validation
    fires seen that long after ignition; ``sooner``: those it alarms on at the bar before the
    full watch does at the smoulder bar (or alone); ``gain_s``: the seconds gained, summed
    (a fire only it finds counts the steps it saves); ``median_gain_s``: the median over the
    fires both alarm on.
    """

    steps: int
    bar: float | None
    highest_nuisance: float | None
    streams: int
    fires: int
    sooner: int
    gain_s: float
    median_gain_s: float | None


@dataclass(frozen=True)
class EarlyBar:
    """The early rule written (``steps``, ``bar``; None: none), every candidate, and the
    validation no-fire streams it rests on (``streams``; none is written under
    ``min_streams``)."""

    steps: int | None
    bar: float | None
    margin: float
    candidates: tuple[EarlyCandidate, ...]
    streams: int = 0
    min_streams: int = MIN_STREAMS

    @property
    def rule(self) -> tuple[int, float] | None:
        """``(steps, bar)`` for the manifest, or None."""
        return None if self.steps is None or self.bar is None else (self.steps, self.bar)


@dataclass(frozen=True)
class SmoulderBar:
    """The chosen bar (None: fewer than ``min_fires`` validation fires the watch finds) and
    what it rests on.

    ``fires``: validation fire runs the watch finds smouldering after ignition;
    ``weakest_fire``: the lowest of their scores when found (None without fires);
    ``streams``/``smouldering_streams``: no-fire streams (nuisance runs whole, fire runs up
    to ignition), and those the watch says smoulder in; ``silenced``: of those, the ones
    whose highest score while smouldering is under the bar (they no longer alarm);
    ``curve``: per bar in ``CURVE_BARS``, the no-fire streams that would alarm, the fires
    found within a step and the fires found at all; ``bar_if_chosen``: the bar the weakest
    fire gives, written or not.
    """

    bar: float | None
    odds_factor: float
    weakest_fire: float | None
    fires: int
    streams: int
    smouldering_streams: int
    silenced: int
    step_s: float
    min_fires: int = MIN_FIRES
    bar_if_chosen: float | None = None
    curve: tuple[tuple[float, int, int, int], ...] = ()
    early: EarlyBar | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def odds_scaled(p: float, factor: float) -> float:
    """The probability whose odds are ``factor`` × ``p``'s.

    :raises ValueError: ``p`` outside [0, 1) or ``factor`` not positive.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"score {p}; allowed: 0 ≤ score < 1")
    if not (factor > 0.0 and math.isfinite(factor)):
        raise ValueError(f"odds factor {factor}; allowed: a positive number")
    odds = factor * p / (1.0 - p)
    return odds / (1.0 + odds)


def choose_smoulder_bar(ds: Dataset, p: npt.NDArray[np.float64], rows: npt.NDArray[np.intp],
                        groups: Sequence[int], odds_factor: float = ODDS_FACTOR,
                        step_s: float | None = None, min_fires: int = MIN_FIRES,
                        margin: float = 0.05, min_streams: int = MIN_STREAMS
                        ) -> SmoulderBar:
    """The bars for the validation recordings ``groups`` (``rows``: their rows, ``p``: the
    calibrated score of each); see the module docstring. ``step_s``: the watch's step
    (default ``SmoulderConfig().step_s``); ``margin``: the early bar's over the nuisances;
    ``min_streams``: the fewest no-fire streams to write an early rule on.

    :raises ValueError: ``p`` not one score per row, a factor ≤ 0, a step ≤ 0,
        ``min_fires`` < 1 or a margin outside [0, 1).
    """
    if p.shape != rows.shape:
        raise ValueError(f"{p.size} scores for {rows.size} rows")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"smoulder early bar margin {margin}; allowed: 0 ≤ margin < 1")
    step = SmoulderConfig().step_s if step_s is None else step_s
    if not (step > 0.0 and math.isfinite(step)):
        raise ValueError(f"smoulder step {step} s; allowed: a positive number of seconds")
    odds_scaled(0.5, odds_factor)  # validates the factor
    if min_fires < 1:
        raise ValueError(f"min_fires {min_fires}; allowed: at least 1")
    t, smoulder = ds.t[rows], ds.smoulder[rows]
    peaks: list[float] = []  # per no-fire stream the watch smoulders in: its highest score there
    streams = 0
    found: list[tuple[float, float]] = []  # per fire found: (score when found, highest score)
    for name, quiet, fire in _streams(ds, rows, groups):
        if quiet.any():
            streams += 1
            hot = quiet & smoulder
            if hot.any():
                peaks.append(_nanmax(p[hot]))
        if fire is None:
            continue
        hot = fire & smoulder
        if not hot.any():
            continue
        first = float(t[hot].min())
        when_found = _nanmax(p[hot & (t < first + step)])
        if math.isnan(when_found):
            log.warning("%s: smouldering with no score in the watch's first step; not counted",
                        name)
            continue
        found.append((when_found, _nanmax(p[hot])))
    weakest = min(f[0] for f in found) if found else None
    candidate = None if weakest is None else odds_scaled(min(weakest, 1.0 - 1e-9), odds_factor)
    bar = candidate if len(found) >= min_fires else None
    if bar is None and candidate is not None:
        log.warning("smoulder bar: %d validation fires found smouldering, fewer than %d; none "
                    "written (the weakest would give %.3f)", len(found), min_fires, candidate)
    silenced = 0 if bar is None else sum(pk < bar for pk in peaks)
    curve = tuple((b, sum(pk >= b for pk in peaks), sum(f[0] >= b for f in found),
                   sum(f[1] >= b for f in found)) for b in CURVE_BARS)
    early = _early_bar(ds, p, rows, groups, 0.0 if bar is None else bar, margin, step,
                       min_streams)
    out = SmoulderBar(bar, odds_factor, weakest, len(found), streams, len(peaks), silenced,
                      step, min_fires, candidate, curve, early)
    log.info("smoulder bar %s: %s", "none" if bar is None else f"{bar:.3f}", out)
    return out


def _early_bar(ds: Dataset, p: npt.NDArray[np.float64], rows: npt.NDArray[np.intp],
               groups: Sequence[int], full_bar: float, margin: float, step_s: float,
               min_streams: int) -> EarlyBar:
    """The early rule (module docstring); ``full_bar``: the full watch's, to measure what the
    early one gains."""
    full_steps = SmoulderConfig().steps
    t, smoulder, seen = ds.t[rows], ds.smoulder[rows], ds.smoulder_steps[rows]
    quiet_runs: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]] = []
    fire_runs: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                          npt.NDArray[np.int8], npt.NDArray[np.bool_]]] = []
    for _, quiet, fire in _streams(ds, rows, groups):
        if quiet.any():
            quiet_runs.append((p[quiet], seen[quiet]))
        if fire is not None:
            fire_runs.append((t[fire], p[fire], seen[fire], smoulder[fire]))
    candidates = []
    for n in EARLY_STEPS:
        peaks = [_nanmax(qp[qs >= n]) for qp, qs in quiet_runs if (qs >= n).any()]
        highest = max((pk for pk in peaks if not math.isnan(pk)), default=None)
        bar = None
        if highest is not None and highest + margin <= EARLY_CEILING:
            bar = max(highest + margin, EARLY_FLOOR, full_bar)
        fires = sooner = 0
        gains: list[float] = []
        total = 0.0
        for ft, fp, fs, full in fire_runs:
            if not (fs >= n).any():
                continue
            fires += 1
            hit = (fs >= n) & (fp >= (math.inf if bar is None else bar))
            if not hit.any():
                continue
            t_early = float(ft[int(np.argmax(hit))])
            by_full = full & (fp >= full_bar)
            t_full = float(ft[int(np.argmax(by_full))]) if by_full.any() else math.inf
            if t_early < t_full:
                sooner += 1
                gain = t_full - t_early
                if math.isfinite(gain):
                    gains.append(gain)
                total += gain if math.isfinite(gain) else (full_steps - n) * step_s
        candidates.append(EarlyCandidate(n, bar, highest, len(peaks), fires, sooner, total,
                                         float(np.median(gains)) if gains else None))
    usable = [c for c in candidates if c.bar is not None and c.sooner]
    best = max(usable, key=lambda c: (c.gain_s, c.steps), default=None)
    if best is not None and len(quiet_runs) < min_streams:
        log.warning("smoulder early rule: %d validation no-fire streams, fewer than %d; none "
                    "written (it would be %d steps at %.3f)", len(quiet_runs), min_streams,
                    best.steps, best.bar)
        best = None
    elif best is None:
        log.warning("smoulder early rule: no step count of %s has a bar under %.2f that alarms "
                    "a validation fire sooner; none written", EARLY_STEPS, EARLY_CEILING)
    return EarlyBar(None if best is None else best.steps, None if best is None else best.bar,
                    margin, tuple(candidates), len(quiet_runs), min_streams)


def _streams(ds: Dataset, rows: npt.NDArray[np.intp], groups: Sequence[int]
             ) -> Iterator[tuple[str, npt.NDArray[np.bool_], npt.NDArray[np.bool_] | None]]:
    """Per recording of ``groups``: its name, its no-fire stream (the whole run, or a fire run
    up to ignition) and its fire (None: a no-fire run), as masks over ``rows``."""
    row_group, t = ds.group[rows], ds.t[rows]
    for g in groups:
        info = ds.groups[g]
        if info.kind != "recording":
            continue
        sel = row_group == g
        t0 = info.fire_start_s
        if t0 is None:
            yield info.name, sel, None
        else:
            yield info.name, sel & (t < t0), sel & (t >= t0)


def _nanmax(values: npt.NDArray[np.float64]) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else math.nan
