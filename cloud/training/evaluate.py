"""Fit on a split and score the held-out recordings; the leave-one-family-out report."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cloud.training.choice import choice_runs, choose_bars
from cloud.training.data import Dataset
from cloud.training.ensemble import Ensemble, EnsembleConfig, fit_ensemble
from cloud.training.metrics import family_events, frame_metrics, summarise_runs
from cloud.training.splits import GroupSplit, family_holdouts
from cloud.training.threshold import Stream
from cloud.training.weighting import SAMPLE_WEIGHTINGS, growing_weights, phase_weights

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]


@dataclass
class Evaluation:
    """Scores of one ensemble on held-out groups."""

    frame: dict[str, dict[str, float]]
    families: dict[str, dict[str, Any]]
    y: npt.NDArray[np.int8]  # labels of the scored test rows (for the curves)
    probs: dict[str, Array]  # member and ensemble scores of those rows


def rows_for(ds: Dataset, groups: Sequence[int]) -> npt.NDArray[np.intp]:
    """Row indices of ``groups``."""
    return ds.rows_of(list(groups))


def fit_on_split(ds: Dataset, split: GroupSplit, cfg: EnsembleConfig, *,
                 max_rows: int | None = None, progress: bool = False) -> Ensemble:
    """Fit on the split's train groups, weight and threshold on its validation groups.

    Only rows that count in frame scoring are used on both sides: the lag window after a
    fire's onset, when the sensors cannot have seen it yet, would teach the model to call
    quiet frames fire."""
    tr = rows_for(ds, [g for g in split.train if ds.groups[g].family not in cfg.untrained])
    tr = tr[ds.scored[tr]]
    if max_rows is not None and tr.size > max_rows:
        rng = np.random.default_rng(cfg.seed)
        tr = np.sort(rng.choice(tr, size=max_rows, replace=False))
    va = rows_for(ds, split.val)
    va = va[ds.scored[va]]
    if tr.size == 0 or va.size == 0:
        raise ValueError(f"too little data to split by recording: {len(split.train)} training "
                         f"and {len(split.val)} validation recordings/files; give more")
    if len(np.unique(ds.y[va])) < 2:
        raise ValueError("the validation recordings hold one class only; give more "
                         "recordings (both fire and no-fire)")
    weights = train_weights(ds, tr, cfg)
    ens = fit_ensemble(ds.X[tr].astype(np.float64), ds.y[tr], ds.X[va].astype(np.float64),
                       ds.y[va], cfg, progress=progress, val_groups=ds.group[va],
                       sample_weight=weights)
    # The runs the threshold and the bars (flame, smoulder, gas, hold) are chosen on, scored
    # once and kept (``ens.choice``: cloud/train.py writes them beside the report)
    chosen_on = timed_groups(ds, selection_groups(ds, (*split.val, *split.select), cfg))
    rows = ds.rows_of(chosen_on)
    p = ens.predict_proba(ds.X[rows].astype(np.float64)) if rows.size else np.zeros(0)
    p_gas = gas_only_scores(ens, ds.X[rows]) if rows.size else np.zeros(0)
    watched = camera_recordings(ds, rows, chosen_on)
    gassed = [g for g in chosen_on if ds.groups[g].kind == "recording"]
    ens.choice = choice_runs(ds, rows, np.asarray(p, np.float64), p_gas, chosen_on, watched,
                             gassed)
    choose_bars(ens, ens.choice, cfg.threshold_mode, cfg.event_margin)
    return ens


def gas_only_scores(ens: Ensemble, X: npt.NDArray[np.float32]) -> Array:
    """The calibrated score of each row of ``X`` with its camera columns blanked (NaN), as
    the device scores the gas alone (``edge.detect.pipeline.Pipeline._gas_only``)."""
    from edge.features import camera_columns

    if X.shape[0] == 0:
        return np.zeros(0)
    blind = X.astype(np.float64)
    blind[:, camera_columns(X.shape[1])] = np.nan
    return np.asarray(ens.predict_proba(blind), dtype=np.float64)


def selection_groups(ds: Dataset, groups: Sequence[int], cfg: EnsembleConfig) -> list[int]:
    """The validation groups the alarm threshold and the flame bar are chosen on: all but
    the runs of ``cfg.unselected`` families (``cloud.training.options.UNSELECTED``)."""
    return [g for g in groups if ds.groups[g].family not in cfg.unselected]


def timed_groups(ds: Dataset, groups: Sequence[int]) -> list[int]:
    """The recordings and fleet clips among ``groups`` (JSON sample files have no time)."""
    return [g for g in groups if ds.groups[g].kind in ("recording", "fleet")]


def camera_recordings(ds: Dataset, rows: npt.NDArray[np.intp], groups: Sequence[int]
                      ) -> list[int]:
    """The recordings among ``groups`` (``rows``: their rows), the watches' bars are chosen
    on; none when none of them has a camera frame (the watches then say nothing)."""
    rec = [g for g in groups if ds.groups[g].kind == "recording"]
    if not rec or not np.isfinite(ds.X[rows[np.isin(ds.group[rows], rec)], 0]).any():
        return []
    return rec


def train_weights(ds: Dataset, rows: npt.NDArray[np.intp], cfg: EnsembleConfig
                  ) -> npt.NDArray[np.float32] | None:
    """The training rows' weights: fleet rules' (``ds.w``) times the run phases' when
    ``cfg.sample_weighting`` is ``phases``, or the growing frames' when it is ``growing``;
    None when every row weighs 1.

    :raises ValueError: for an unknown weighting.
    """
    if cfg.sample_weighting not in SAMPLE_WEIGHTINGS:
        raise ValueError(f"sample weighting {cfg.sample_weighting!r}; allowed: "
                         f"{', '.join(SAMPLE_WEIGHTINGS)}")
    w = ds.w[rows]
    if cfg.sample_weighting == "phases":
        w = w * phase_weights(ds, cfg.early_s)[rows]
    elif cfg.sample_weighting == "growing":
        w = w * growing_weights(ds, cfg.growing_weight)[rows]
    return w if (w != 1.0).any() else None


def no_fire_streams(ds: Dataset, ens: Ensemble, groups: Sequence[int]) -> list[Stream]:
    """The ensemble's score streams of the recordings among ``groups``: no-fire recordings
    whole, fire recordings up to their onset; fleet clips likewise (JSON sample files have
    no time: left out)."""
    timed = timed_groups(ds, groups)
    rows = ds.rows_of(timed)
    if rows.size == 0:
        return []
    return streams_of(ds, rows, ens.predict_proba(ds.X[rows].astype(np.float64)), timed)


def streams_of(ds: Dataset, rows: npt.NDArray[np.intp], p: Array, groups: Sequence[int]
               ) -> list[Stream]:
    """The no-fire score streams of ``groups`` from their ``rows`` scored ``p``: each run
    whole, or up to its fire's onset."""
    row_group, t = ds.group[rows], ds.t[rows]
    out = []
    for g in groups:
        info = ds.groups[g]
        sel = row_group == g
        if info.fire_start_s is not None:
            sel &= t < info.fire_start_s
        if sel.any():
            out.append(Stream(t[sel], p[sel], name=info.name))
    return out


def evaluate(ds: Dataset, ens: Ensemble, groups: Sequence[int]) -> Evaluation:
    """Frame metrics (members at 0.5, the calibrated ensemble at its threshold and at 0.5)
    and event metrics per family on ``groups``."""
    rows = rows_for(ds, groups)
    member_p = ens.member_proba(ds.X[rows].astype(np.float64))
    p = ens.score(member_p)
    keep = ds.scored[rows]
    y = ds.y[rows][keep]
    frame = {name: frame_metrics(y, mp[keep], 0.5) for name, mp in member_p.items()}
    frame["ensemble"] = frame_metrics(y, p[keep], ens.threshold)
    frame["ensemble@0.5"] = frame_metrics(y, p[keep], 0.5)
    families = family_events(ds, rows, p, ens.threshold, groups)
    probs = {name: mp[keep] for name, mp in member_p.items()} | {"ensemble": p[keep]}
    return Evaluation(frame, families, y, probs)


def holdout_families(ds: Dataset, split: GroupSplit, cfg: EnsembleConfig, *,
                     max_trees: int = 50, max_rows: int = 60_000,
                     progress: bool = True) -> dict[str, dict[str, Any]]:
    """Per family: train without it (at most ``max_trees`` trees, ``max_rows`` rows), test
    on all its runs. Families whose removal leaves too little data are reported as skipped."""
    from tqdm import tqdm

    families = ds.families
    rec_families = sorted({g.family for g in ds.groups if g.kind == "recording"})
    if len(rec_families) < 2:
        return {}
    quick = cfg.scaled(max_trees)
    out: dict[str, dict[str, Any]] = {}
    folds = [(f, s) for f, s in family_holdouts(families, split) if f in rec_families]
    for fam, fold in tqdm(folds, desc="leave one family out", disable=not progress):
        try:
            ens = fit_on_split(ds, fold, quick, max_rows=max_rows)
        except ValueError as exc:
            log.warning("leave-out %s skipped: %s", fam, exc)
            out[fam] = {"runs": len(fold.test), "skipped": str(exc),
                        "runs_with_false_alarm": 0, "false_alarms_per_device_day": None}
            continue
        ev = evaluate(ds, ens, fold.test)
        out[fam] = ev.families.get(fam, summarise_runs([]))
        out[fam]["threshold"] = ens.threshold
    return out
