"""How well the model answers the flame watch's question, and whether a model trained on that
question alone would answer it better (issue 14, session 23).

The device asks the model to corroborate a new hot region the flame watch sees grow
(``edge.detect.evidence.FlameSource``). This script collects exactly those rows from suite
runs: it re-renders every run of the suite directories given, computes the training rows
(``cloud.training.data.recording_rows``: fd-v3 features and the watches' verdicts) and keeps
the rows the flame watch calls growing, with the run's dumped fused score. Fire rows are the
first ``--early-s`` seconds of each fire run's growth (what decides how soon it alarms); no-fire
rows are every growing row of nuisance runs and of fire runs before ignition.

It reports, per test set (runs grouped by their seed prefix: 74/75 development, 76/77 fresh,
73 held-out):

- the ROC-AUC of the dumped score, and of each feature alone (the best few);
- a gradient-boosted model fitted on the development set's rows alone (``--train`` prefixes),
  tested on the others: its ROC-AUC;
- per stream, which decides an alarm (one frame over the bar is enough): the highest no-fire
  streams' highest scores, and how many fires' highest score in their first seconds of growth
  clears the highest no-fire stream's, for the model and for the one fitted alone.

    PYTHONPATH=. python docs/evaluation/issue14/s23/corroboration.py \
        --rows /tmp/rows.npz /work/eval/s22/{dstd,fresh,held}-er
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np


def watch_rows(r: dict[str, Any]) -> dict[str, Any] | None:
    """The growing rows of one suite run (None: CFAST could not compute it)."""
    from cloud.heldout.engines import render
    from cloud.heldout.suite import HeldoutRun
    from cloud.training.data import recording_rows
    from edge.features import FeatureParams
    from edge.sim.cfast.run import CfastError

    run = HeldoutRun(r["scenario"], r["seed"], r["duration_s"], r["rate_hz"], r["engine"])
    try:
        rec = render(run, None)
    except CfastError:
        return None
    ds = recording_rows(rec, "run", FeatureParams(), labels="observable", feature_set="fd-v3")
    grow = ds.watch != 0
    stream = r["modes"]["fused"]
    t_dump, p_dump = np.asarray(stream["t"]), np.asarray(stream["p"])
    at = np.clip(np.searchsorted(t_dump, ds.t[grow]), 0, len(t_dump) - 1)
    t0 = rec.fire_start_s
    return {"X": ds.X[grow], "t": ds.t[grow], "p": p_dump[at],
            "fire": np.zeros(int(grow.sum()), bool) if t0 is None else ds.t[grow] >= t0,
            "seed": np.full(int(grow.sum()), r["seed"], np.int64),
            "scenario": np.full(int(grow.sum()), r["scenario"])}


def collect(dirs: list[Path], workers: int) -> dict[str, np.ndarray]:
    from cloud.heldout.raw import load_raw

    runs = [r for d in dirs for r in load_raw(d) if "modes" in r]
    with ProcessPoolExecutor(workers) as ex:
        parts = [p for p in ex.map(watch_rows, runs, chunksize=2) if p and p["t"].size]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def first_seconds(rows: dict[str, np.ndarray], early_s: float) -> dict[str, np.ndarray]:
    """Fire rows within ``early_s`` of their run's first growing fire row; no-fire rows all."""
    keep = ~rows["fire"]
    for s in np.unique(rows["seed"][rows["fire"]]):
        k = (rows["seed"] == s) & rows["fire"]
        keep |= k & (rows["t"] <= rows["t"][k].min() + early_s)
    return {k: v[keep] for k, v in rows.items()}


def by_stream(seed: np.ndarray, fire: np.ndarray, scenario: np.ndarray, score: np.ndarray
              ) -> str:
    """The three highest no-fire streams (highest score, scenario), and the fire streams
    whose highest score clears the highest of them."""
    quiet = sorted(((float(score[(seed == s) & ~fire].max()),
                     str(scenario[(seed == s) & ~fire][0])) for s in np.unique(seed[~fire])),
                   reverse=True)
    fires = [score[(seed == s) & fire].max() for s in np.unique(seed[fire])]
    top = quiet[0][0] if quiet else -np.inf
    shown = ", ".join(f"{v:.3f} {n}" for v, n in quiet[:3])
    return f"highest no-fire streams {shown}; fires over them {sum(f > top for f in fires)}/" \
           f"{len(fires)}"


def main() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    from edge.featuresets.registry import FEATURE_SETS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="suite output folders (raw/*.json)")
    ap.add_argument("--rows", type=Path, required=True, help="the rows' cache (.npz)")
    ap.add_argument("--early-s", type=float, default=30.0)
    ap.add_argument("--train", default="74,75", help="seed prefixes the dedicated model fits")
    ap.add_argument("--skip", default="cfast_fireplace_open",
                    help="scenarios left out (default: the open fireplace, which is masked)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if args.rows.exists():
        rows = dict(np.load(args.rows))
    else:
        rows = collect(args.dirs, args.workers)
        np.savez_compressed(args.rows, **rows)
    rows = first_seconds(rows, args.early_s)
    names = FEATURE_SETS["fd-v3"]
    prefix = np.array([str(s)[:2] for s in rows["seed"]])
    train = np.isin(prefix, args.train.split(","))
    X, fire, p, seed = rows["X"].astype(np.float64), rows["fire"], rows["p"], rows["seed"]
    scenario = rows["scenario"]
    if args.skip:  # e.g. the open fireplace, which an installer masks
        keep = ~np.isin(scenario, args.skip.split(","))
        X, fire, p, seed, scenario, prefix = (a[keep] for a in (X, fire, p, seed, scenario,
                                                                 prefix))
        train = train[keep]
    print(f"growing rows: {int(fire.sum())} fire (first {args.early_s:g} s), "
          f"{int((~fire).sum())} no-fire")
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                           l2_regularization=1.0, class_weight="balanced",
                                           random_state=0).fit(X[train], fire[train])
    for name, sets in (("fresh", ("76", "77")), ("held-out", ("73",))):
        te = np.isin(prefix, sets)
        if not (fire[te].any() and (~fire[te]).any()):
            continue
        solo = []
        for j, feature in enumerate(names):
            ok = te & np.isfinite(X[:, j])
            if fire[ok].any() and (~fire[ok]).any():
                solo.append((roc_auc_score(fire[ok], X[ok, j]), feature))
        best = ", ".join(f"{f} {a:.3f}" for a, f in sorted(solo, reverse=True)[:3])
        q = model.predict_proba(X[te])[:, 1]
        print(f"{name}: model ROC-AUC {roc_auc_score(fire[te], p[te]):.3f}; best alone: {best}; "
              f"fitted on these rows alone: {roc_auc_score(fire[te], q):.3f}")
        for who, score in (("model", p[te]), ("fitted alone", q)):
            print(f"  {who}: {by_stream(seed[te], fire[te], scenario[te], score)}")


if __name__ == "__main__":
    main()
