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

**The early bar** (:class:`EarlyBar`). The watch's five one-minute steps alone take five
minutes, while fire-science.md asks for a smoulder in view within three. Its early verdict
(the same rule over ``early_steps``, three steps) is met by hobs and pans coming up to
temperature too, so there the model must say fire firmly, and this bar is chosen as the
flame watch's is: the lowest score no validation no-fire stream reaches on a frame the early
verdict holds, plus the margin, at least ``EARLY_FLOOR`` (more likely fire than not). When the
nuisances reach ``EARLY_CEILING`` less the margin, or none meets the early verdict (nothing to
choose on), no bar is written and the early watch stays off. Reported: the validation fires it
alarms on before the full watch would, and by how much. Manifest
``detection.smoulder_early_min_score``; the device uses it unless ``[smoulder]
early_min_score`` is set.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge.config.smoulder import SmoulderConfig

if TYPE_CHECKING:
    from cloud.training.data import Dataset

log = logging.getLogger(__name__)

__all__ = ["CURVE_BARS", "EARLY_CEILING", "EARLY_FLOOR", "MIN_FIRES", "ODDS_FACTOR",
           "EarlyBar", "SmoulderBar", "choose_smoulder_bar", "odds_scaled"]

#: The bar is the weakest validation fire's score when found at this share of its odds.
ODDS_FACTOR = 0.5
#: Fewest fires found to choose a bar on: the weakest of 59 lies under the 5th percentile
#: with 95 % confidence (0.95 ** 59 < 0.05).
MIN_FIRES = 59
#: The bars the report's trade-off curve is read at (``SmoulderBar.curve``).
CURVE_BARS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
#: The early bar is never under this (a spot heating for three minutes alarms only when the
#: model calls fire more likely than not)...
EARLY_FLOOR = 0.5
#: ... and is not written above this (the alarm threshold's own ceiling: the model alone
#: alarms there).
EARLY_CEILING = 0.95


@dataclass(frozen=True)
class EarlyBar:
    """The early watch's bar (None: not chosen; see the module docstring) and what it rests on.

    ``highest_nuisance``: the highest score of a no-fire stream on a frame the early verdict
    holds (None: no stream meets it); ``streams``: no-fire streams that meet it; ``fires``:
    validation fires it meets after ignition; ``sooner``: those it alarms on at the bar
    before the full watch does at the smoulder bar (or alone); ``median_gain_s``: by how much,
    the median over those (a fire the full watch never alarms on is not counted in it).
    """

    bar: float | None
    margin: float
    highest_nuisance: float | None
    streams: int
    fires: int
    sooner: int
    median_gain_s: float | None


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
                        margin: float = 0.05) -> SmoulderBar:
    """The bars for the validation recordings ``groups`` (``rows``: their rows, ``p``: the
    calibrated score of each); see the module docstring. ``step_s``: the watch's step
    (default ``SmoulderConfig().step_s``); ``margin``: the early bar's over the nuisances.

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
    row_group, t, smoulder = ds.group[rows], ds.t[rows], ds.smoulder[rows]
    peaks: list[float] = []  # per no-fire stream the watch smoulders in: its highest score there
    streams = 0
    found: list[tuple[float, float]] = []  # per fire found: (score when found, highest score)
    for g in groups:
        info = ds.groups[g]
        if info.kind != "recording":
            continue
        sel = row_group == g
        t0 = info.fire_start_s
        quiet = sel & (t < t0) if t0 is not None else sel
        if quiet.any():
            streams += 1
            hot = quiet & smoulder
            if hot.any():
                peaks.append(_nanmax(p[hot]))
        if t0 is None:
            continue
        hot = sel & (t >= t0) & smoulder
        if not hot.any():
            continue
        first = float(t[hot].min())
        when_found = _nanmax(p[hot & (t < first + step)])
        if math.isnan(when_found):
            log.warning("%s: smouldering with no score in the watch's first step; not counted",
                        info.name)
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
    early = _early_bar(ds, p, rows, groups, 0.0 if bar is None else bar, margin)
    out = SmoulderBar(bar, odds_factor, weakest, len(found), streams, len(peaks), silenced,
                      step, min_fires, candidate, curve, early)
    log.info("smoulder bar %s: %s", "none" if bar is None else f"{bar:.3f}", out)
    return out


def _early_bar(ds: Dataset, p: npt.NDArray[np.float64], rows: npt.NDArray[np.intp],
               groups: Sequence[int], full_bar: float, margin: float) -> EarlyBar:
    """The early watch's bar (module docstring); ``full_bar``: the full watch's, to measure
    what the early one gains."""
    row_group, t = ds.group[rows], ds.t[rows]
    smoulder, early = ds.smoulder[rows], ds.smoulder_early[rows]
    peaks: list[float] = []
    fire_runs: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                          npt.NDArray[np.bool_], npt.NDArray[np.bool_]]] = []
    for g in groups:
        info = ds.groups[g]
        if info.kind != "recording":
            continue
        sel = row_group == g
        t0 = info.fire_start_s
        quiet = sel & (t < t0) if t0 is not None else sel
        if (quiet & early).any():
            peaks.append(_nanmax(p[quiet & early]))
        if t0 is not None:
            fire = sel & (t >= t0)
            fire_runs.append((t[fire], p[fire], early[fire], smoulder[fire]))
    highest = max((pk for pk in peaks if not math.isnan(pk)), default=None)
    bar = None
    if highest is None:
        log.warning("smoulder early bar: no validation no-fire stream meets the early verdict; "
                    "none written (nothing to choose on)")
    elif highest + margin > EARLY_CEILING:
        log.warning("smoulder early bar: validation nuisances meet the early verdict at %.3f; "
                    "none written (over %.2f with the margin)", highest, EARLY_CEILING)
    else:
        bar = max(highest + margin, EARLY_FLOOR, full_bar)
    fires = sooner = 0
    gains: list[float] = []
    for ft, fp, fe, fs in fire_runs:
        if not fe.any():
            continue
        fires += 1
        if bar is None:
            continue
        by_early = fe & (fp >= bar)
        if not by_early.any():
            continue
        t_early = float(ft[int(np.argmax(by_early))])
        by_full = fs & (fp >= full_bar)
        t_full = float(ft[int(np.argmax(by_full))]) if by_full.any() else math.inf
        if t_early < t_full:
            sooner += 1
            if math.isfinite(t_full):
                gains.append(t_full - t_early)
    return EarlyBar(bar, margin, highest, len(peaks), fires, sooner,
                    float(np.median(gains)) if gains else None)


def _nanmax(values: npt.NDArray[np.float64]) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else math.nan
