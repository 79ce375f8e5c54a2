"""Cross-engine evaluation harness for issue 14 (learn helper).

One training variant, three scenarios, one table:
  a) mixed: train on the train split of both engines, threshold on the validation runs
     (as fit_on_split), report on the test split;
  b) ours -> CFAST: train + threshold on the scene engine's train/val groups, test on every
     CFAST group;
  c) CFAST -> ours: the reverse.
Events come from the device's alarm state machine (model alone, no watches).

    python harness.py NAME [--weights phase] [--early-s 120] [--drop BLOCK,..]
                      [--scen a,b,c] [train.py flags such as --param gb.max_leaf_nodes=31]

Needs the pickled corpus (--pkl, a cloud.training.data.Dataset of the demo model's 480 runs)
and smoke.json beside this file (python smoke.py PKL: each CFAST fire's smoke_detector_s,
re-drawn from the cached CFAST runs). Appends one line per variant to results.jsonl here;
python table.py turns those into the markdown table. An experiment script, not library code.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root

from cloud.heldout.metrics import before_smoke_detector
from cloud.training import options as train_cli
from cloud.training.ensemble import EnsembleConfig
from cloud.training.evaluate import fit_on_split, no_fire_streams
from cloud.training.splits import (
    GroupSplit,
    engine_of,
    ensure_engines_validated,
    split_groups,
    strata,
)
from cloud.training.threshold import CEILING, Stream
from edge.config.alarm import AlarmConfig
from edge.detect.alarm import AlarmStateMachine
from edge.featuresets.registry import (
    FD_V2_NAMES,
    GAS_HISTORY_NAMES,
    THERMAL_HISTORY_NAMES,
)

HERE = Path(__file__).parent
SMOKE = json.loads((HERE / "smoke.json").read_text())
BLOCKS = {
    "thermal_hist": list(THERMAL_HISTORY_NAMES), "gas_hist": list(GAS_HISTORY_NAMES),
    "seed_thermal": list(FD_V2_NAMES[:12]), "seed_gas": list(FD_V2_NAMES[12:18]),
}
log = logging.getLogger("harness")


def first_alarm(t: np.ndarray, p: np.ndarray, thr: float, t_from: float) -> float | None:
    """First time at/after ``t_from`` that the device's state machine is in alarm (start-up
    guard as cloud.training.threshold)."""
    cfg = AlarmConfig()
    sm = AlarmStateMachine(cfg, thr)
    for tt, pp in zip(t.tolist(), p.tolist(), strict=True):
        ev_p = pp if math.isfinite(pp) else math.nan
        if tt < cfg.startup_s and sm.state != "alarm" and not ev_p >= sm.fast_path_score:
            ev_p = math.nan
        sm.update(tt, ev_p)
        if sm.state == "alarm" and tt >= t_from:
            return tt
    return None


def quiet_threshold(s: Stream) -> float:
    """The lowest threshold at which this stream does not alarm (to 0.002)."""
    from cloud.training.threshold import count_alarms
    lo, hi = 0.0, 0.999
    if count_alarms([s], hi):
        return 1.0
    while hi - lo > 0.002:
        mid = (lo + hi) / 2
        if count_alarms([s], mid):
            lo = mid
        else:
            hi = mid
    return hi


def thresholds(streams: list[Stream], seed: int = 0) -> dict[str, float]:
    """Candidate event thresholds from the validation no-fire streams."""
    q = np.array(sorted(quiet_threshold(s) for s in streams))
    qmax = float(q[-1])
    rng = np.random.default_rng(seed)
    boot = np.array([rng.choice(q, q.size).max() for _ in range(2000)])
    jack = qmax + (q.size - 1) / q.size * (qmax - float(q[-2]))
    cap = lambda v: float(min(max(v, 0.3), CEILING))  # noqa: E731
    return {"m0": cap(qmax), "m0.05": cap(qmax + 0.05), "jack": cap(jack),
            "bootsd": cap(qmax + float(boot.std())), "_qmax": qmax,
            "_q_top": [round(float(v), 3) for v in q[-5:]]}


def phase_weights(ds, early_s: float, cap: float) -> np.ndarray:
    """Per run: the pre-onset, early (first ``early_s`` s after the onset) and late phases
    each carry a third of the run's weight (capped at ``cap`` per row). Onset: the first
    labelled-fire row for a fire run; for a no-fire run, the first row where the hottest
    pixel rose 10 K or CO2 100 ppm above the run's first 30 s (a source switching on)."""
    w = np.ones(len(ds.y), np.float32)
    for g in range(len(ds.groups)):
        rows = np.flatnonzero(ds.group == g)
        if rows.size == 0:
            continue
        t = ds.t[rows]
        y = ds.y[rows]
        if y.any():
            onset = float(t[np.argmax(y == 1)])
        else:
            x = ds.X[rows]
            head = t < t[0] + 30
            tmax0 = np.nanmedian(x[head, 2]) if np.isfinite(x[head, 2]).any() else np.nan
            co20 = np.nanmedian(x[head, 15]) if np.isfinite(x[head, 15]).any() else np.nan
            act = (x[:, 2] > tmax0 + 10) | (x[:, 15] > co20 + 100)
            onset = float(t[np.argmax(act)]) if act.any() else math.inf
        phase = np.where(t < onset, 0, np.where(t < onset + early_s, 1, 2))
        present = [k for k in range(3) if (phase == k).any()]
        for k in present:
            sel = phase == k
            w[rows[sel]] = min(cap, rows.size / len(present) / sel.sum())
    return w


def evaluate(ds, ens, groups, thr: float) -> dict:
    rows = ds.rows_of(list(groups))
    p = ens.predict_proba(ds.X[rows].astype(np.float64))
    from sklearn.metrics import roc_auc_score
    keep = ds.scored[rows]
    auc = float(roc_auc_score(ds.y[rows][keep], p[keep]))
    rg = ds.group[rows]
    fires, tta, nofire_alarm, prefire_alarm, smoke = 0, [], 0, 0, []
    n_fire = n_nofire = 0
    for g in groups:
        info = ds.groups[g]
        sel = rg == g
        t, pg = ds.t[rows][sel], p[sel]
        if info.fire_start_s is None:
            n_nofire += 1
            nofire_alarm += first_alarm(t, pg, thr, -math.inf) is not None
            continue
        n_fire += 1
        pre = t < info.fire_start_s
        if pre.any() and first_alarm(t[pre], pg[pre], thr, -math.inf) is not None:
            prefire_alarm += 1
        a = first_alarm(t, pg, thr, info.fire_start_s)
        if a is not None:
            fires += 1
            tta.append(a - info.fire_start_s)
        if info.name in SMOKE:
            sm = SMOKE[info.name]
            smoke.append((a, sm["smoke_detector_s"], float(t[-1])))
    bsd = before_smoke_detector(smoke) if smoke else None
    return {"auc": auc, "fires": fires, "n_fire": n_fire,
            "tta_med": float(np.median(tta)) if tta else math.nan,
            "nofire_alarms": nofire_alarm, "n_nofire": n_nofire, "prefire_alarms": prefire_alarm,
            "before_sd": None if bsd is None else [bsd["before"], bsd["fire_runs"]]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--weights", default="none", choices=["none", "phase"])
    ap.add_argument("--early-s", type=float, default=120.0)
    ap.add_argument("--wcap", type=float, default=20.0)
    ap.add_argument("--drop", default="")
    ap.add_argument("--scen", default="a,b,c")
    ap.add_argument("--pkl", default="/work/exp/ds480.pkl")
    ns, rest = ap.parse_known_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("edge.detect.alarm").setLevel(logging.ERROR)
    with open(ns.pkl, "rb") as fh:
        ds = pickle.load(fh)  # noqa: S301  (our own experiment pickle)
    ds.w = np.ones(len(ds.y), np.float32)
    if ns.weights == "phase":
        ds.w = phase_weights(ds, ns.early_s, ns.wcap)
    if ns.drop:
        for b in ns.drop.split(","):
            for n in BLOCKS.get(b, [b]):
                ds.X[:, FD_V2_NAMES.index(n)] = 0.0
    args = train_cli.parse([*rest, "--simulate", "1"])
    cfg: EnsembleConfig = train_cli.ensemble_config(args)
    has_fire = [bool(ds.y[ds.group == g].any()) for g in range(len(ds.groups))]
    engines = [engine_of(g.name, g.family, g.kind) for g in ds.groups]
    split = split_groups(strata(ds.families, has_fire, engines=engines), seed=args.seed)
    split = ensure_engines_validated(split, engines, has_fire, seed=args.seed)
    scen = {
        "a": split,
        "b": GroupSplit(tuple(g for g in split.train if engines[g] == "scene"),
                        tuple(g for g in split.val if engines[g] == "scene"),
                        tuple(g for g in range(len(ds.groups)) if engines[g] == "cfast")),
        "c": GroupSplit(tuple(g for g in split.train if engines[g] == "cfast"),
                        tuple(g for g in split.val if engines[g] == "cfast"),
                        tuple(g for g in range(len(ds.groups)) if engines[g] == "scene")),
    }
    out = {"name": ns.name, "argv": sys.argv[1:], "scen": {}}
    for key in ns.scen.split(","):
        sp = scen[key]
        t0 = time.time()
        ens = fit_on_split(ds, sp, cfg)
        fit_s = time.time() - t0
        streams = no_fire_streams(ds, ens, sp.val)
        thr = thresholds(streams)
        res = {"fit_s": round(fit_s), "thr": thr, "weights": ens.weights, "at": {}}
        for m in ("m0", "m0.05", "jack", "bootsd"):
            res["at"][m] = evaluate(ds, ens, sp.test, thr[m])
        if key == "a":
            res["val@m0.05"] = evaluate(ds, ens, sp.val, thr["m0.05"])
        out["scen"][key] = res
        print(key, json.dumps(res), flush=True)
    with open(HERE / "results.jsonl", "a") as fh:
        fh.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
