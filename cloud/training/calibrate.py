"""Calibrating the ensemble's score on the validation runs, so a score means a probability.

Two candidate maps are fitted to the weighted ensemble score of the VALIDATION rows (never
the training rows, which the members have seen):

- ``platt``: a logistic regression on ``logit(p)`` (two numbers);
- ``isotonic``: isotonic regression, stored as knots at the centre of each constant block
  (linear between them), so the map is continuous and small.

Which one is kept is chosen by the log-loss of each fitted on some validation runs and
scored on the others (grouped k-fold over runs; in-sample isotonic always wins), Brier
breaking a tie; with fewer than two validation runs Platt is kept. The chosen method is then
refitted on every validation row. The device applies the same map
(``edge.model.calibration.apply_calibration``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.model.calibration import (
    EPS,
    MAX_KNOTS,
    Calibration,
    apply_calibration,
    parse_calibration,
)

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]
N_FOLDS = 5
N_BINS = 10


def _logit(p: Array) -> Array:
    q = np.clip(p, EPS, 1.0 - EPS)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


def fit_platt(p: npt.ArrayLike, y: npt.ArrayLike) -> Calibration:
    """Platt scaling: logistic regression of ``y`` on ``logit(p)`` (slope kept > 0)."""
    from sklearn.linear_model import LogisticRegression

    pp, yy = np.asarray(p, dtype=np.float64), np.asarray(y).astype(np.int64)
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(_logit(pp).reshape(-1, 1), yy)
    a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if not (math.isfinite(a) and a > 0.0 and math.isfinite(b)):
        log.warning("Platt fit gave slope %r: kept the identity map", a)
        a, b = 1.0, 0.0
    return Calibration("platt", a=a, b=b)


def fit_isotonic(p: npt.ArrayLike, y: npt.ArrayLike) -> Calibration:
    """Isotonic regression of ``y`` on ``p``, as knots at the centre of each constant block
    (continuous, at most ``MAX_KNOTS``)."""
    from sklearn.isotonic import IsotonicRegression

    pp, yy = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(pp, yy)
    xs = np.unique(np.clip(pp, 0.0, 1.0))
    fitted = np.asarray(iso.predict(xs), dtype=np.float64)
    starts = np.flatnonzero(np.concatenate([[True], np.diff(fitted) != 0.0]))
    ends = np.concatenate([starts[1:], [xs.size]]) - 1
    kx = (xs[starts] + xs[ends]) / 2.0
    ky = fitted[starts]
    if kx.size > MAX_KNOTS:  # keep every k-th block (still monotone, still continuous)
        keep = np.unique(np.linspace(0, kx.size - 1, MAX_KNOTS).round().astype(int))
        kx, ky = kx[keep], ky[keep]
    if kx.size < 2:  # one block: a flat map would erase the ranking; keep the order
        lo, hi = float(xs[0]), float(xs[-1])
        kx = np.array([lo, hi if hi > lo else min(lo + EPS, 1.0)])
        ky = np.array([float(fitted[0]), float(fitted[0])])
        if kx[1] <= kx[0]:
            kx = np.array([max(lo - EPS, 0.0), lo])
    return parse_calibration({"method": "isotonic", "x": [float(v) for v in kx],
                              "y": [float(v) for v in ky]})


FITTERS = {"platt": fit_platt, "isotonic": fit_isotonic}


def log_loss(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean negative log-likelihood, probabilities clipped to [EPS, 1 − EPS]."""
    yy = np.asarray(y, dtype=np.float64)
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)
    if yy.size == 0:
        return math.nan
    return float(-np.mean(yy * np.log(q) + (1.0 - yy) * np.log1p(-q)))


def brier(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean squared error of the probabilities."""
    yy, pp = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    return float(np.mean((pp - yy) ** 2)) if yy.size else math.nan


def reliability(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = N_BINS
                ) -> list[dict[str, Any]]:
    """The reliability table: per equal-width bin of ``p``, rows, mean score, fire share."""
    yy, pp = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    idx = np.minimum((pp * n_bins).astype(int), n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = idx == b
        n = int(sel.sum())
        out.append({"bin": f"{b / n_bins:.1f}-{(b + 1) / n_bins:.1f}", "rows": n,
                    "mean_score": float(pp[sel].mean()) if n else None,
                    "fire_share": float(yy[sel].mean()) if n else None})
    return out


def _cv_scores(p: Array, y: npt.NDArray[np.int64], groups: npt.NDArray[Any]
               ) -> dict[str, dict[str, float]]:
    """Out-of-fold log-loss and Brier of each method, folds by run."""
    from sklearn.model_selection import GroupKFold

    k = min(N_FOLDS, len(np.unique(groups)))
    oof = {m: np.full(p.size, np.nan) for m in FITTERS}
    for tr, te in GroupKFold(n_splits=k).split(p, y, groups):
        for m, fit in FITTERS.items():
            if len(np.unique(y[tr])) < 2:
                oof[m][te] = p[te]  # a fold of one class: leave it raw for both
            else:
                oof[m][te] = apply_calibration(fit(p[tr], y[tr]), p[te])
    return {m: {"log_loss": log_loss(y, q), "brier": brier(y, q)} for m, q in oof.items()}


@dataclass(frozen=True)
class CalibrationFit:
    """The chosen map and the numbers that chose it."""

    calibration: Calibration
    report: dict[str, Any]


def fit_calibration(p: npt.ArrayLike, y: npt.ArrayLike,
                    groups: npt.ArrayLike | None = None) -> CalibrationFit:
    """Choose and fit the calibration map on validation scores ``p`` with labels ``y`` from
    runs ``groups`` (see the module docstring); the report holds the choice, the out-of-fold
    scores, Brier/log-loss and the reliability table before and after.

    :raises ValueError: for empty or one-class validation rows.
    """
    pp = np.asarray(p, dtype=np.float64)
    yy = np.asarray(y).astype(np.int64)
    if pp.size == 0 or len(np.unique(yy)) < 2:
        raise ValueError("calibration needs validation rows of both classes")
    g = np.zeros(pp.size, np.int64) if groups is None else np.asarray(groups)
    cv: dict[str, dict[str, float]] = {}
    if len(np.unique(g)) >= 2:
        cv = _cv_scores(pp, yy, g)
        method = min(cv, key=lambda m: (cv[m]["log_loss"], cv[m]["brier"], m != "platt"))
    else:
        method = "platt"
    cal = FITTERS[method](pp, yy)
    after = apply_calibration(cal, pp)
    report: dict[str, Any] = {
        "method": method,
        "chosen_by": ("out-of-fold log-loss over validation runs" if cv
                      else "one validation run: Platt (two parameters)"),
        "cross_validated": cv,
        "validation_rows": int(pp.size),
        "before": {"brier": brier(yy, pp), "log_loss": log_loss(yy, pp),
                   "reliability": reliability(yy, pp)},
        "after": {"brier": brier(yy, after), "log_loss": log_loss(yy, after),
                  "reliability": reliability(yy, after)},
    }
    log.info("calibration: %s (validation log-loss %.4f → %.4f, Brier %.4f → %.4f)", method,
             report["before"]["log_loss"], report["after"]["log_loss"],
             report["before"]["brier"], report["after"]["brier"])
    return CalibrationFit(cal, report)
