"""Scores of a trained ensemble: frame level (held-out rows) and event level (per family).

Frame level (fire-science.md §5, items 5–6): accuracy, F1, ROC-AUC, PR-AUC, balanced
accuracy, Brier score, over rows that count (``Dataset.scored``: the lag window after the
onset is left out). Members are scored at 0.5 like the seed; the ensemble at its operating
threshold (and at 0.5 for the comparison with the seed).

Event level (items 1–3), per recording: a fire run is detected when any frame after
``fire_start_s`` scores above the threshold; its time to alarm is that frame's time minus
the onset; a false alarm is any frame above the threshold before the onset (or anywhere in a
nuisance run). False alarms per device-day count alarm onsets (rising edges) per day of
no-fire time. Raw frames, no debounce: the daemon's pre-alarm delay comes on top.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from cloud.heldout.metrics import wilson_ci
from cloud.training.data import Dataset

# SUCCESS_SUMMARY.md of the seed (seed.md): test accuracy, F1, ROC-AUC per model.
SEED_PUBLISHED: dict[str, dict[str, float]] = {
    "rf": {"accuracy": 0.6942, "f1": 0.6454, "roc_auc": 0.7536},
    "gb": {"accuracy": 0.6952, "f1": 0.6480, "roc_auc": 0.7523},
    "lr": {"accuracy": 0.6419, "f1": 0.5853, "roc_auc": 0.6819},
    "ensemble": {"accuracy": 0.6952, "f1": 0.6491, "roc_auc": 0.7544},
}

Array = npt.NDArray[np.float64]


def frame_metrics(y: npt.ArrayLike, p: npt.ArrayLike, threshold: float) -> dict[str, float]:
    """Frame-level scores of probabilities ``p`` against labels ``y`` (NaN when undefined)."""
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        balanced_accuracy_score,
        brier_score_loss,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    yy = np.asarray(y).astype(int)
    pp = np.asarray(p, dtype=np.float64)
    pred = pp > threshold
    both = len(np.unique(yy)) == 2
    return {
        "n": int(yy.size),
        "positives": int(yy.sum()),
        "threshold": float(threshold),
        "accuracy": float(accuracy_score(yy, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(yy, pred)) if both else math.nan,
        "precision": float(precision_score(yy, pred, zero_division=0)),
        "recall": float(recall_score(yy, pred, zero_division=0)),
        "f1": float(f1_score(yy, pred, zero_division=0)),
        "fpr": float(pred[yy == 0].mean()) if (yy == 0).any() else math.nan,
        "roc_auc": float(roc_auc_score(yy, pp)) if both else math.nan,
        "pr_auc": float(average_precision_score(yy, pp)) if both else math.nan,
        "brier": float(brier_score_loss(yy, pp)) if yy.size else math.nan,
    }


def run_events(t: Array, score: Array, threshold: float, fire_start_s: float | None
               ) -> dict[str, Any]:
    """One run's events: detection, time to alarm, false alarms (rows in time order)."""
    order = np.argsort(t, kind="stable")
    t, alarm = t[order], score[order] > threshold
    fire = np.zeros(t.size, bool) if fire_start_s is None else t >= fire_start_s
    quiet = ~fire
    onsets = alarm & ~np.concatenate([[False], alarm[:-1]])
    out: dict[str, Any] = {
        "fire": fire_start_s is not None,
        "false_alarm": bool((alarm & quiet).any()),
        "false_alarm_onsets": int((onsets & quiet).sum()),
        "quiet_s": float(_span(t[quiet])),
    }
    if fire_start_s is not None:
        hits = np.flatnonzero(alarm & fire)
        out["detected"] = bool(hits.size)
        out["tta_s"] = float(t[hits[0]] - fire_start_s) if hits.size else None
        out["fire_s"] = float(t[-1] - fire_start_s) if t.size else 0.0
    return out


def _span(t: Array) -> float:
    if t.size < 2:
        return 0.0
    steps = np.diff(t)
    typical = float(np.median(steps)) if steps.size else 0.0
    return float(np.minimum(steps, 10 * typical + 1e-9).sum() + typical)


def family_events(ds: Dataset, rows: npt.NDArray[np.intp], score: Array, threshold: float,
                  groups: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Event-level results per family over the given (recording) groups."""
    by_family: dict[str, list[dict[str, Any]]] = {}
    row_group = ds.group[rows]
    for g in groups:
        info = ds.groups[g]
        if info.kind != "recording":
            continue
        sel = row_group == g
        ev = run_events(ds.t[rows][sel], score[sel], threshold, info.fire_start_s)
        by_family.setdefault(info.family, []).append(ev)
    return {fam: summarise_runs(evs) for fam, evs in sorted(by_family.items())}


def summarise_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Detection rate (Wilson CI), TTA percentiles, false alarms of a family's runs."""
    fires = [r for r in runs if r["fire"]]
    n_fa = sum(r["false_alarm"] for r in runs)
    quiet_days = sum(r["quiet_s"] for r in runs) / 86400.0
    onsets = sum(r["false_alarm_onsets"] for r in runs)
    out: dict[str, Any] = {
        "runs": len(runs),
        "runs_with_false_alarm": int(n_fa),
        "false_alarm_run_rate": n_fa / len(runs) if runs else math.nan,
        "false_alarms_per_device_day": onsets / quiet_days if quiet_days > 0 else math.nan,
    }
    if fires:
        k = sum(r["detected"] for r in fires)
        tta = np.array([r["tta_s"] for r in fires if r["detected"]], dtype=np.float64)
        lo, hi = wilson_ci(k, len(fires))
        out.update({
            "fire_runs": len(fires),
            "detected": int(k),
            "detection_rate": k / len(fires),
            "detection_ci95": [lo, hi],
            "tta_s": [float(v) for v in tta],
            "tta_median_s": float(np.median(tta)) if tta.size else None,
            "tta_p90_s": float(np.percentile(tta, 90)) if tta.size else None,
            "tta_max_s": float(tta.max()) if tta.size else None,
        })
    return out


def clean_json(obj: Any) -> Any:
    """NaN/inf → None and numpy scalars → Python, recursively (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
