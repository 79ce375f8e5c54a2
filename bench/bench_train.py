"""Training time of the full ensemble on 251,000 rows (the seed's data size), 18 features.

The seed trained its three models on 251,000 samples in 806 s (13.4 min) on an ml.m5.large
(2 vCPU). Target here: ≤ 20 s on this 2-core machine, with the real member settings
(cloud.training.ensemble.DEFAULT_PARAMS) and the degraded-mode copies the training adds.

The rows are synthetic but shaped like the real features: hot-spot statistics ordered
(t_max ≥ t_p95 ≥ t_mean), hot area and blob in percent, CO2 around room levels with rates in
ppm/min, fires and confusers overlapping, 3 % label noise.

    .venv/bin/python bench/bench_train.py            # 251,000 rows
    .venv/bin/python bench/bench_train.py --rows 50000
    .venv/bin/python bench/bench_train.py --config previous   # the exact-GB defaults before
    .venv/bin/python bench/bench_train.py --compare 20000     # side by side on a subset

Prints wall time and CPU time (all threads) per member: on a machine shared with other
work, CPU time / 2 is what an idle 2-core machine would take. ``--compare N`` fits, one after
the other on the same N rows: the original seed configuration (its RF, exact GB depth 6 and
LR, one after another, no degraded copies), the previous firedetect defaults (exact GB with
row/feature subsampling, RF 20 % bootstrap) and the current ones (HistGB, RF 5 % bootstrap).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.training.ensemble import EnsembleConfig, fit_ensemble
from edge.features import FEATURE_NAMES

IDX = {n: i for i, n in enumerate(FEATURE_NAMES)}

#: The defaults before the gb member became HistGradientBoostingClassifier (exact
#: GradientBoostingClassifier behind a sentinel imputer, 20 % bootstrap per RF tree).
PREVIOUS_PARAMS: dict[str, dict[str, Any]] = {
    "rf": {"n_estimators": 200, "max_depth": 10, "max_samples": 0.2, "min_samples_leaf": 2},
    "gb": {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.1, "subsample": 0.2,
           "max_features": 0.5},
    "lr": {"C": 1.0, "max_iter": 1000},
}


def feature_rows(n: int, seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``n`` rows like the real features; about 30 % fire, confusers among the rest."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    hot = rng.random(n) < 0.2  # cooking, heaters, sun: hot but no fire
    growth = rng.uniform(0, 1, n) * y
    X = np.empty((n, len(FEATURE_NAMES)))
    room = rng.normal(22, 3, n)
    X[:, IDX["t_mean"]] = room + 4 * growth + rng.gamma(1, 0.5, n)
    X[:, IDX["t_std"]] = rng.gamma(2, 0.8, n) + 10 * growth + 4 * hot
    spot = np.where(y == 1, rng.uniform(60, 600, n) * growth + 40,
                    np.where(hot, rng.uniform(50, 250, n), rng.normal(33, 3, n)))
    X[:, IDX["t_max"]] = spot
    X[:, IDX["t_p95"]] = X[:, IDX["t_mean"]] + (spot - X[:, IDX["t_mean"]]) * rng.uniform(
        0.05, 0.4, n)
    area = np.where(spot > 60, rng.gamma(1.2, 0.6, n) * (1 + 3 * growth), 0.0)
    X[:, IDX["t_hot_area_pct"]] = area
    X[:, IDX["t_hot_largest_blob_pct"]] = area * rng.uniform(0.4, 1.0, n)
    flicker = 1 + 3 * y * rng.random(n)
    for name in ("t_grad_mean", "t_grad_std", "t_diff_mean", "t_diff_std",
                 "flow_mag_mean", "flow_mag_std"):
        X[:, IDX[name]] = rng.gamma(2, 0.25, n) * flicker * (1 + hot)
    X[:, IDX["tproxy_val"]] = room + 1.5 + 3 * growth + rng.normal(0, 0.3, n)
    X[:, IDX["tproxy_delta"]] = rng.normal(0, 0.1, n) + 1.5 * growth
    X[:, IDX["tproxy_vel"]] = X[:, IDX["tproxy_delta"]] + rng.normal(0, 0.05, n)
    co2 = rng.normal(650, 200, n).clip(400) + rng.uniform(0, 4000, n) * growth + 300 * hot
    X[:, IDX["gas_val"]] = co2
    X[:, IDX["gas_delta"]] = rng.normal(5, 15, n) + 600 * growth + 60 * hot
    X[:, IDX["gas_vel"]] = X[:, IDX["gas_delta"]] + rng.normal(0, 10, n)
    flip = rng.random(n) < 0.03
    y[flip] = 1 - y[flip]
    return X.astype(np.float32).astype(np.float64), y


def previous_gb(params: dict[str, Any], seed: int) -> Any:
    """The previous gb member: exact gradient boosting behind the sentinel imputer."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    from cloud.training.ensemble import MISSING_SENTINEL

    return Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=MISSING_SENTINEL)),
                     ("clf", GradientBoostingClassifier(random_state=seed, **params))])


def fit_firedetect(config: str, X: npt.NDArray[np.float64], y: npt.NDArray[np.int64],
                   Xv: npt.NDArray[np.float64], yv: npt.NDArray[np.int64], seed: int) -> Any:
    """The firedetect ensemble with the ``previous`` or ``current`` defaults."""
    import unittest.mock

    import cloud.training.ensemble as ens_mod

    if config == "current":
        return fit_ensemble(X, y, Xv, yv, EnsembleConfig(seed=seed), progress=False)
    build = ens_mod.build_member

    def build_previous(name: str, params: Any, seed: int, n_jobs: int = 1) -> Any:
        return previous_gb(dict(params), seed) if name == "gb" else build(name, params, seed,
                                                                          n_jobs)

    # fit_ensemble builds members by name; the previous gb is no longer one of them.
    with unittest.mock.patch.object(ens_mod, "build_member", build_previous):
        return fit_ensemble(X, y, Xv, yv, EnsembleConfig(seed=seed, params=PREVIOUS_PARAMS),
                            progress=False)


def fit_config(config: str, X: npt.NDArray[np.float64], y: npt.NDArray[np.int64],
               Xv: npt.NDArray[np.float64], yv: npt.NDArray[np.int64],
               seed: int) -> tuple[float, float, dict[str, float], dict[str, float]]:
    """Fit one configuration; (wall s, CPU s, fit s per member, validation ROC-AUC)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if config == "seed":
        from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score

        models = {"rf": RandomForestClassifier(200, max_depth=10, n_jobs=-1, random_state=seed),
                  "gb": GradientBoostingClassifier(n_estimators=200, max_depth=6,
                                                   random_state=seed),
                  "lr": LogisticRegression(max_iter=1000, random_state=seed)}
        fit_s, auc = {}, {}
        for name, m in models.items():  # the seed fitted its models one after another
            t = time.perf_counter()
            m.fit(X, y)
            fit_s[name] = time.perf_counter() - t
            auc[name] = float(roc_auc_score(yv, m.predict_proba(Xv)[:, 1]))
    else:
        ens = fit_firedetect(config, X, y, Xv, yv, seed)
        fit_s, auc = dict(ens.fit_seconds), dict(ens.validation_scores)
    return time.perf_counter() - wall0, time.process_time() - cpu0, fit_s, auc


def _fmt(d: dict[str, float], digits: int) -> str:
    return ", ".join(f"{k} {v:.{digits}f}" for k, v in d.items())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=251_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--config", choices=("current", "previous", "seed"), default="current")
    p.add_argument("--compare", type=int, metavar="ROWS", default=0,
                   help="fit seed, previous and current side by side on ROWS rows")
    args = p.parse_args()
    Xv, yv = feature_rows(20_000, args.seed + 1)
    if args.compare:
        X, y = feature_rows(args.compare, args.seed)
        print(f"side by side on {args.compare} rows (+{int(0.2 * args.compare)} degraded "
              "copies for previous/current), 18 features, 20,000 validation rows")
        walls = {}
        for config in ("seed", "previous", "current"):
            wall, cpu, fit_s, auc = fit_config(config, X, y, Xv, yv, args.seed)
            walls[config] = wall
            print(f"  {config:8s}: {wall:6.1f} s wall, {cpu:6.1f} s CPU; fit "
                  f"{_fmt(fit_s, 1)} s; ROC-AUC {_fmt(auc, 4)}", flush=True)
        print(f"current vs seed: {walls['seed'] / walls['current']:.1f}x faster; vs previous: "
              f"{walls['previous'] / walls['current']:.1f}x")
        return 0
    X, y = feature_rows(args.rows, args.seed)
    wall, cpu, fit_s, auc = fit_config(args.config, X, y, Xv, yv, args.seed)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"config {args.config}; rows: {args.rows} (+{int(0.2 * args.rows)} degraded copies), "
          "18 features")
    for name, s in fit_s.items():
        print(f"  fit {name}: {s:7.1f} s wall")
    print(f"total (fit + validation scoring): {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"(all threads), peak RSS {rss_mb:.0f} MB")
    print(f"validation ROC-AUC {_fmt(auc, 4)}")
    print(f"the seed: 806 s on an ml.m5.large -> {806 / wall:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
