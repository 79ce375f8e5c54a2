"""What the validation runs say about the ensemble: what each member adds (drop-one), and
the threshold's false alarms and detection per physics engine.

Both are on the VALIDATION runs, where the weights, the calibration and the threshold are
chosen. A drop-one variant is the ensemble without one member, re-weighted from the
remaining members' validation scores by the same formula, re-calibrated and given its own
threshold the same way, so a member that adds nothing shows as a variant no worse than the
whole.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from cloud.training.calibrate import fit_calibration
from cloud.training.data import Dataset
from cloud.training.ensemble import Ensemble, EnsembleConfig, choose_threshold, weights_from_scores
from cloud.training.evaluate import selection_groups, streams_of
from cloud.training.metrics import run_events, summarise_runs
from cloud.training.splits import engine_of
from cloud.training.threshold import Stream, count_alarms, event_threshold
from edge.model.calibration import Calibration, apply_calibration

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]


def _streams(ds: Dataset, rows: npt.NDArray[np.intp], p: Array, groups: Sequence[int]
             ) -> list[Stream]:
    """No-fire score streams of the recordings among ``groups``: no-fire runs whole, fire
    runs up to their onset."""
    return streams_of(ds, rows, p, [g for g in groups if ds.groups[g].kind == "recording"])


def _runs(ds: Dataset, rows: npt.NDArray[np.intp], p: Array, threshold: float,
          groups: Sequence[int]) -> list[dict[str, Any]]:
    row_group = ds.group[rows]
    out = []
    for g in groups:
        info = ds.groups[g]
        if info.kind == "recording":
            sel = row_group == g
            out.append(run_events(ds.t[rows][sel], p[sel], threshold, info.fire_start_s))
    return out


def _events(ds: Dataset, rows: npt.NDArray[np.intp], p: Array, threshold: float,
            groups: Sequence[int]) -> dict[str, Any]:
    """Detection and false alarms of runs ``groups`` (frames above the threshold, as the
    test report counts them) and how many of them the device's alarm logic alarms before
    the fire (``device_false_alarm_runs``)."""
    s = summarise_runs(_runs(ds, rows, p, threshold, groups))
    s["device_false_alarm_runs"] = count_alarms(_streams(ds, rows, p, groups),
                                                threshold)
    s.pop("tta_s", None)
    return s


def engine_events(ds: Dataset, ens: Ensemble, groups: Sequence[int]) -> dict[str, Any]:
    """Per engine: the validation runs' detection and false alarms at the ensemble's
    threshold, on its calibrated score."""
    rows = ds.rows_of(list(groups))
    p = ens.predict_proba(ds.X[rows].astype(np.float64))
    by_engine: dict[str, list[int]] = {}
    for g in groups:
        info = ds.groups[g]
        by_engine.setdefault(engine_of(info.name, info.family, info.kind), []).append(g)
    return {e: _events(ds, rows, p, ens.threshold, gs) for e, gs in sorted(by_engine.items())}


def _threshold(ds: Dataset, rows: npt.NDArray[np.intp], p: Array, groups: Sequence[int],
               cfg: EnsembleConfig) -> float:
    keep = ds.scored[rows]
    if cfg.threshold_mode == "events":
        streams = _streams(ds, rows, p, groups)
        if streams:
            return event_threshold(streams, cfg.event_margin)
    return choose_threshold(ds.y[rows][keep], p[keep], cfg.target_far)


def drop_one(ds: Dataset, ens: Ensemble, groups: Sequence[int], cfg: EnsembleConfig
             ) -> dict[str, dict[str, Any]]:
    """The ensemble (``all``) and each ``without <member>`` variant on the validation runs
    ``groups``: weights, calibration method, threshold, frame ROC-AUC, detection and false
    alarms (see the module docstring)."""
    from sklearn.metrics import roc_auc_score

    rows = ds.rows_of(list(groups))
    keep = ds.scored[rows]
    y = ds.y[rows]
    member_p = ens.member_proba(ds.X[rows].astype(np.float64))
    names = sorted(ens.weights)
    variants: list[tuple[str, list[str]]] = [("all", names)]
    if len(names) > 1:
        variants += [(f"without {m}", [n for n in names if n != m]) for m in names]
    out: dict[str, dict[str, Any]] = {}
    for label, kept in variants:
        if label == "all":
            weights, cal, thr = dict(ens.weights), ens.calibration, ens.threshold
            p = ens.score(member_p)
        else:
            weights = weights_from_scores({n: ens.validation_scores[n] for n in kept})
            raw = sum((weights[n] * member_p[n] for n in sorted(kept)), np.zeros(rows.size))
            cal = _calibrate(raw[keep], y[keep], ds.group[rows][keep])
            p = apply_calibration(cal, raw)
            thr = _threshold(ds, rows, p, selection_groups(ds, groups, cfg), cfg)
        auc = (float(roc_auc_score(y[keep], p[keep])) if len(np.unique(y[keep])) == 2
               else None)
        out[label] = {"members": kept, "weights": weights, "threshold": thr,
                      "calibration": None if cal is None else cal.method, "frame_roc_auc": auc,
                      **_events(ds, rows, p, thr, groups)}
    return out


def _calibrate(p: Array, y: npt.NDArray[Any], groups: npt.NDArray[Any]) -> Calibration | None:
    try:
        return fit_calibration(p, y, groups).calibration
    except ValueError as exc:
        log.warning("drop-one variant left uncalibrated: %s", exc)
        return None


def validation_report(ds: Dataset, ens: Ensemble, groups: Sequence[int],
                      cfg: EnsembleConfig) -> Mapping[str, Any]:
    """``engines`` (``engine_events``) and ``drop_one`` for metrics.json."""
    return {"engines": engine_events(ds, ens, groups),
            "drop_one": drop_one(ds, ens, groups, cfg)}
