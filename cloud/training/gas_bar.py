"""When the gas alone says fire: the bar chosen on validation runs.

A fire the camera cannot see (behind furniture, round a corner, in the next room with the
door open) reaches the device through the SCD41 only. The model's score then says less than
its gas evidence: it learned that most fires are in view, so a camera that sees nothing new
pulls the score down. In session 25's development runs (both engines), of six flaming fires
the camera never saw as 4 px of flame, the same vectors with the camera's features blanked
(the *gas-only* score, what the device already quotes in an alarm's words) reached 0.5
10–40 s before the whole score reached its threshold in five, and in the sixth the whole
score never did in 600 s.

The gas watch (``edge.detect.evidence.GasSource``) alarms when the gas-only score stays at or
above a bar for ``[gas] hold_s`` (two SCD41 readings or more, so no single reading can). The
bar belongs to the model, so training chooses it as the flame watch's
(``cloud.training.corroborate``): on the VALIDATION runs of both engines, the highest gas-only
score any no-fire stream (nuisance runs whole, fire runs up to ignition) *holds* for
``hold_s``, plus a margin, at least ``FLOOR``. Gas hobs and ovens, flueless heaters, candles,
breath and people are all among those runs: what they make of the air is what the bar must
clear. With the bar over ``CEILING`` (the model alone alarms there) the gas says nothing the
score does not, and none is written. It adds a way to alarm, so as the early smoulder rule
it is written only over at least ``MIN_STREAMS`` (300) validation no-fire streams: none of
300 alarming bounds the per-run rate under 1 % with 95 % confidence (the rule of three).

The bar goes into the manifest (``detection.gas_min_score``); the device uses it unless
``[gas] min_score`` is set; with neither, the watch is off.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge.config.gas import GasConfig

if TYPE_CHECKING:
    from cloud.training.data import Dataset

log = logging.getLogger(__name__)

__all__ = ["CEILING", "CURVE_BARS", "FLOOR", "MIN_STREAMS", "GasBar", "choose_gas_bar",
           "held_scores"]

#: Never below this: the gas alone alarms only when it calls fire more likely than not...
FLOOR = 0.5
#: ... and never above the alarm threshold's own ceiling.
CEILING = 0.95
#: Fewest validation no-fire streams to write a bar on (the rule of three: 1 % at 300).
MIN_STREAMS = 300
#: The bars the report's trade-off curve is read at (``GasBar.curve``).
CURVE_BARS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class GasBar:
    """The chosen bar (None: none, see the module docstring) and what it rests on.

    ``highest_nuisance``: the highest gas-only score a validation no-fire stream held for
    ``hold_s`` (None: no stream), ``highest_stream`` its recording's name; ``streams``: those
    streams; ``fires``: validation fire runs;
    ``fires_alarmed``: those the bar alarms on, ``median_tta_s`` their median time from
    ignition; ``curve``: per bar in ``CURVE_BARS``, the no-fire streams that would alarm, the
    fires alarmed and their median time from ignition; ``bar_if_chosen``: the bar the
    nuisances give, written or not.
    """

    bar: float | None
    margin: float
    hold_s: float
    highest_nuisance: float | None
    streams: int
    fires: int
    fires_alarmed: int
    median_tta_s: float | None
    min_streams: int = MIN_STREAMS
    bar_if_chosen: float | None = None
    curve: tuple[tuple[float, int, int, float | None], ...] = ()
    highest_stream: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def held_scores(t: npt.NDArray[np.float64], p: npt.NDArray[np.float64], hold_s: float
                ) -> npt.NDArray[np.float64]:
    """Per row, the lowest score of the rows in the last ``hold_s`` (itself included): the
    score held that long (NaN until ``hold_s`` has passed since the first row, or while a
    row in the window has no score). ``t`` ascending."""
    out = np.full(t.shape, math.nan)
    window: deque[tuple[float, float]] = deque()  # (t, p), p ascending (a monotonic queue)
    gaps: deque[float] = deque()  # the times of the unscored rows in the window
    for i in range(t.size):
        ti, pi = float(t[i]), float(p[i])
        if math.isnan(pi):
            gaps.append(ti)
        else:
            while window and window[-1][1] >= pi:
                window.pop()
            window.append((ti, pi))
        while window and window[0][0] < ti - hold_s:
            window.popleft()
        while gaps and gaps[0] < ti - hold_s:
            gaps.popleft()
        if ti - float(t[0]) >= hold_s and window and not gaps:
            out[i] = window[0][1]
    return out


def choose_gas_bar(ds: Dataset, p_gas: npt.NDArray[np.float64], rows: npt.NDArray[np.intp],
                   groups: Sequence[int], margin: float = 0.05, hold_s: float | None = None,
                   min_streams: int = MIN_STREAMS) -> GasBar:
    """The bar for the validation recordings ``groups`` (``rows``: their rows, ``p_gas``: the
    gas-only calibrated score of each); see the module docstring. ``hold_s``: the watch's
    (default ``GasConfig().hold_s``).

    :raises ValueError: ``p_gas`` not one score per row, a margin outside [0, 1), a hold
        under 0.
    """
    if p_gas.shape != rows.shape:
        raise ValueError(f"{p_gas.size} gas-only scores for {rows.size} rows")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"gas bar margin {margin}; allowed: 0 ≤ margin < 1")
    hold = GasConfig().hold_s if hold_s is None else hold_s
    if not (hold >= 0.0 and math.isfinite(hold)):
        raise ValueError(f"gas hold {hold} s; allowed: 0 or more seconds")
    row_group, t = ds.group[rows], ds.t[rows]
    peaks: list[tuple[float, str]] = []  # per no-fire stream: its held peak, its name
    fire_runs: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = []
    for g in groups:
        info = ds.groups[g]
        if info.kind != "recording":
            continue
        sel = row_group == g  # a recording's rows are in time order (featurize_recording)
        ts, held = t[sel], held_scores(t[sel], p_gas[sel], hold)
        t0 = info.fire_start_s
        quiet = ts < t0 if t0 is not None else np.ones(ts.shape, bool)
        if quiet.any():
            peaks.append((_nanmax(held[quiet]), info.name))
        if t0 is not None and (~quiet).any():
            fire_runs.append((ts[~quiet] - t0, held[~quiet]))
    seen = [(pk, name) for pk, name in peaks if not math.isnan(pk)]
    top = max(seen, default=None)
    highest = None if top is None else top[0]
    candidate = max((highest if highest is not None else 0.0) + margin, FLOOR)
    bar: float | None = candidate
    if candidate > CEILING:
        log.warning("gas bar: validation no-fire streams hold a gas-only score of %.3f; none "
                    "written (over %.2f)", highest, CEILING)
        bar = None
    elif len(peaks) < min_streams:
        log.warning("gas bar: %d validation no-fire streams, fewer than %d; none written (it "
                    "would be %.3f)", len(peaks), min_streams, candidate)
        bar = None
    curve = []
    for b in CURVE_BARS:
        n_alarmed, b_ttas = _fires_at(fire_runs, b)
        curve.append((b, sum(pk >= b for pk, _ in seen), n_alarmed,
                      float(np.median(b_ttas)) if b_ttas else None))
    alarmed, ttas = _fires_at(fire_runs, math.inf if bar is None else bar)
    out = GasBar(bar, margin, hold, highest, len(peaks), len(fire_runs), alarmed,
                 float(np.median(ttas)) if ttas else None, min_streams, candidate, tuple(curve),
                 None if top is None else top[1])
    log.info("gas bar %s: %s", "none" if bar is None else f"{bar:.3f}", out)
    return out


def _fires_at(runs: Sequence[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]],
              bar: float) -> tuple[int, list[float]]:
    """Fire runs whose held gas-only score reaches ``bar``, and when (s after ignition)."""
    ttas = [float(since[int(np.argmax(held >= bar))]) for since, held in runs
            if (held >= bar).any()]
    return len(ttas), ttas


def _nanmax(values: npt.NDArray[np.float64]) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else math.nan
