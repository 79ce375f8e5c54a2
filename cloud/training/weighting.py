"""Sample weights that make the hard frames of each run count (issue 14).

A ten-minute run is mostly steady state: a nuisance burning quietly, a fire long past its
first minutes. Left alone, those easy frames dominate the fit, while what the device must get
right is the first minutes after a fire shows (alarm early) and the minutes while a
nuisance source switches on and heats up (stay quiet). ``phases`` splits each run at its
onset into three phases and gives each phase the same total weight:

- ``before``: the rows before the onset;
- ``early``: the first ``early_s`` seconds from the onset;
- ``late``: the rest.

The onset of a fire run is its first fire-labelled row (with ``--labels observable``: when
the fire first shows to a sensor). A no-fire run has no label to go by, so its onset is read
from its own seed-v1 features: the first row whose hottest pixel (``t_max``) is
``ONSET_RISE_K`` above the run's first ``HEAD_S`` seconds, or whose CO2 (``gas_val``) is
``ONSET_CO2_PPM`` above them — a source switching on. A run where nothing rises is one phase.
A phase's rows are never weighted above ``max_weight`` (a run with a few early rows would
otherwise hang on them). Weights multiply whatever weight a row already has (fleet clips).

``growing`` weighs the frames the device asks the model about when a region grows: every row
the flame watch calls growing (``Dataset.watch`` == ``WATCH_GROWING``, fire and no-fire runs
alike) weighs ``growing_weight`` (default ``GROWING_WEIGHT``), the others 1. On those frames
the device alarms when the score reaches the model's flame bar, and the bar is set by the
no-fire frames that grow (a burner catching); a young flame scored under that bar is what lets
a ceiling smoke detector go off first (docs/evaluation.md, "Issue 14, session 32"). They are
under 1 % of the rows, so left alone the fit spends little on ranking them. Frames the watch
is sure of alarm whatever the score and keep weight 1.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from edge.featuresets.registry import SEED_NAMES

if TYPE_CHECKING:
    from cloud.training.data import Dataset

#: ``--sample-weighting`` choices: ``phases``, ``growing`` (this module) or ``none`` (every
#: row 1).
SAMPLE_WEIGHTINGS = ("phases", "growing", "none")
GROWING_WEIGHT = 10.0
EARLY_S = 120.0
MAX_WEIGHT = 20.0
HEAD_S = 30.0
ONSET_RISE_K = 10.0
ONSET_CO2_PPM = 100.0
_T_MAX = SEED_NAMES.index("t_max")
_CO2 = SEED_NAMES.index("gas_val")


def run_onset(t: npt.NDArray[np.float64], y: npt.NDArray[np.int8],
              X: npt.NDArray[np.floating]) -> float:
    """When a run's hard part begins (see the module docstring); ``inf`` if never."""
    if y.any():
        return float(t[int(np.argmax(y == 1))])
    head = t < t[0] + HEAD_S
    rising = np.zeros(t.size, bool)
    for col, rise in ((_T_MAX, ONSET_RISE_K), (_CO2, ONSET_CO2_PPM)):
        base = X[head, col]
        base = base[np.isfinite(base)]
        if base.size:
            with np.errstate(invalid="ignore"):
                rising |= X[:, col] > float(np.median(base)) + rise
    return float(t[int(np.argmax(rising))]) if rising.any() else math.inf


def phase_weights(ds: Dataset, early_s: float = EARLY_S,
                  max_weight: float = MAX_WEIGHT) -> npt.NDArray[np.float32]:
    """One weight per row of ``ds``: within each run the before/early/late phases carry
    equal total weight, and the run's total stays its row count.

    :raises ValueError: for ``early_s`` or ``max_weight`` not positive.
    """
    if not (early_s > 0 and math.isfinite(early_s)):
        raise ValueError(f"early phase {early_s} s; allowed: a positive number of seconds")
    if not max_weight > 0:
        raise ValueError(f"max_weight {max_weight}; allowed: > 0")
    w = np.ones(len(ds.y), np.float32)
    order = np.argsort(ds.group, kind="stable")
    bounds = np.searchsorted(ds.group[order], np.arange(len(ds.groups) + 1))
    for g in range(len(ds.groups)):
        rows = order[bounds[g]:bounds[g + 1]]
        if rows.size == 0 or ds.groups[g].kind == "json":
            continue  # JSON sample files have no time
        rows = rows[np.argsort(ds.t[rows], kind="stable")]
        t = ds.t[rows]
        onset = run_onset(t, ds.y[rows], ds.X[rows])
        phase = np.where(t < onset, 0, np.where(t < onset + early_s, 1, 2))
        present = [k for k in range(3) if (phase == k).any()]
        for k in present:
            sel = phase == k
            w[rows[sel]] = min(max_weight, rows.size / len(present) / int(sel.sum()))
    return w


def growing_weights(ds: Dataset, growing_weight: float = GROWING_WEIGHT
                    ) -> npt.NDArray[np.float32]:
    """One weight per row of ``ds``: ``growing_weight`` where the flame watch calls the frame
    growing (``WATCH_GROWING``), 1 elsewhere.

    :raises ValueError: for a weight that is not a finite number ≥ 1.
    """
    if not (math.isfinite(growing_weight) and growing_weight >= 1.0):
        raise ValueError(f"growing weight {growing_weight}; allowed: a finite number ≥ 1")
    from cloud.training.corroborate import WATCH_GROWING

    w = np.ones(len(ds.y), np.float32)
    w[ds.watch == WATCH_GROWING] = growing_weight
    return w
