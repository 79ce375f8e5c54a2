"""The ensemble: its members, their weights, the alarm threshold, and prediction.

Members are scikit-learn ``Pipeline`` objects over the 18 features that cope with NaN (a
missing sensor in degraded mode) and export to ONNX (``cloud.artifact.onnx``):

- ``rf``: missing values → a sentinel far below any real value (trees split it off like a
  missing-value branch), then the seed's random forest (200 trees, depth 10); each tree
  sees a 5 % bootstrap sample (15k of 301k rows) so 251k rows train in the time budget with
  the same held-out ROC-AUC (bench/bench_train.py).
- ``gb``: ``HistGradientBoostingClassifier`` (200 iterations as the seed's 200 stages, at
  most 15 leaves a tree), no imputer: it routes NaN natively (each split learns which side
  missing values go, from the degraded-mode copies). 5–9 s on one thread for the 301k rows
  bench/bench_train.py fits, where the exact ``GradientBoostingClassifier`` took 50–167 s,
  at the same ROC-AUC; its ONNX export needs the workaround in ``cloud.artifact.onnx_compat``.
- ``lr``: standardise, missing values → 0 (the training mean), logistic regression. The seed
  ran LR without scaling; here scaling is part of the member.

Weights follow the seed's formula, keyed by member NAME (never by position):
``n_i = (s_i − min s)/(max s − min s)``, ``w_i = exp(3 n_i) / Σ_j exp(3 n_j)``, equal weights
when every score is equal. The score ``s_i`` is the validation ROC-AUC by default (a ranking
metric; the seed used accuracy, one of its listed flaws) or accuracy at 0.5.

The weighted score is then calibrated on the validation runs (``cloud.training.calibrate``:
Platt or isotonic, stored in the manifest and applied on the device), and the alarm fires
when the CALIBRATED score is strictly above the threshold; the threshold is the lowest one
whose per-frame false-positive rate on the validation negatives is at most the target.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge.model.calibration import Calibration, apply_calibration

if TYPE_CHECKING:
    from cloud.training.choice import ChoiceRuns
    from cloud.training.corroborate import FlameBar
    from cloud.training.gas_bar import GasBar
    from cloud.training.hold import HoldBar
    from cloud.training.smoulder_bar import SmoulderBar

log = logging.getLogger(__name__)

MEMBER_NAMES: tuple[str, ...] = ("rf", "gb", "lr")
MISSING_SENTINEL = -1.0e6
WEIGHT_METRICS = ("roc_auc", "accuracy")
THRESHOLD_MODES = ("frames", "events")
THRESHOLD_MIN = 1e-6
THRESHOLD_MAX = 1.0 - 1e-6

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "rf": {"n_estimators": 100, "max_depth": 10, "max_samples": 0.05, "min_samples_leaf": 2},
    "gb": {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 15,
           "early_stopping": False},
    "lr": {"C": 1.0, "max_iter": 1000},
}

Array = npt.NDArray[np.float64]


def _estimator(name: str, params: Mapping[str, Any], seed: int, n_jobs: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if name == "rf":
        return RandomForestClassifier(random_state=seed, n_jobs=n_jobs, **params)
    if name == "gb":
        return HistGradientBoostingClassifier(random_state=seed, **params)
    if name == "lr":
        return LogisticRegression(random_state=seed, **params)
    raise ValueError(f"unknown member {name!r}; allowed: {', '.join(MEMBER_NAMES)}")


def build_member(name: str, params: Mapping[str, Any], seed: int, n_jobs: int = 1) -> Any:
    """An unfitted member Pipeline (NaN-tolerant, ONNX-exportable).

    :raises ValueError: for an unknown member name or hyperparameter.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    clf = _estimator(name, params, seed, n_jobs)
    if name == "gb":
        return Pipeline([("clf", clf)])  # NaN is routed by the trees themselves
    if name == "lr":
        return Pipeline([
            ("scale", StandardScaler()),
            ("impute", SimpleImputer(strategy="constant", fill_value=0.0)),
            ("clf", clf),
        ])
    impute = SimpleImputer(strategy="constant", fill_value=MISSING_SENTINEL)
    return Pipeline([("impute", impute), ("clf", clf)])


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare string such as sqrt or log_loss


def parse_params(items: Sequence[str],
                 base: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Member hyperparameters: the defaults updated by ``MEMBER.KEY=VALUE`` items.

    VALUE is read as JSON (``50``, ``0.5``, ``null``, ``true``) or else as a plain string.

    :raises ValueError: naming the item and what is allowed.
    """
    params = {k: dict(v) for k, v in (base or DEFAULT_PARAMS).items()}
    for item in items:
        key, sep, value = item.partition("=")
        member, dot, hp = key.strip().partition(".")
        if not sep or not dot or not hp:
            raise ValueError(f"--param {item!r}: allowed form MEMBER.KEY=VALUE, "
                             f"e.g. rf.n_estimators=50")
        if member not in MEMBER_NAMES:
            raise ValueError(f"--param {item!r}: unknown member {member!r}; allowed: "
                             f"{', '.join(MEMBER_NAMES)}")
        allowed = _estimator(member, {}, 0, 1).get_params()
        if hp in ("random_state", "n_jobs") or hp not in allowed:
            names = sorted(set(allowed) - {"random_state", "n_jobs"})
            hint = (" (gb is HistGradientBoostingClassifier: its stages are gb.max_iter)"
                    if (member, hp) == ("gb", "n_estimators") else "")
            raise ValueError(f"--param {item!r}: {member} has no hyperparameter {hp!r}{hint}; "
                             f"allowed: {', '.join(names)}")
        params[member][hp] = _parse_value(value.strip())
    return params


def parse_members(text: str) -> tuple[str, ...]:
    """``"rf,gb,lr"`` → ``("rf", "gb", "lr")``.

    :raises ValueError: for an empty list, an unknown name or a repeated one.
    """
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ValueError(f"--members {text!r}: name at least one of {', '.join(MEMBER_NAMES)}")
    for n in names:
        if n not in MEMBER_NAMES:
            raise ValueError(f"--members: unknown member {n!r}; allowed: "
                             f"{', '.join(MEMBER_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"--members {text!r}: a member is named twice")
    return names


def weights_from_scores(scores: Mapping[str, float], sharpness: float = 3.0) -> dict[str, float]:
    """The seed's weights: softmax of ``sharpness`` × min-max normalised scores, by name."""
    if not scores:
        raise ValueError("no member scores to weight")
    lo, hi = min(scores.values()), max(scores.values())
    if hi - lo <= 0.0 or not math.isfinite(hi - lo):
        return {name: 1.0 / len(scores) for name in scores}
    e = {name: math.exp(sharpness * (s - lo) / (hi - lo)) for name, s in scores.items()}
    total = math.fsum(e.values())
    return {name: v / total for name, v in e.items()}


def validation_score(y: npt.ArrayLike, p: npt.ArrayLike, metric: str) -> float:
    """One member's validation score for weighting."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    yy, pp = np.asarray(y), np.asarray(p)
    if metric == "roc_auc":
        if len(np.unique(yy)) < 2:
            raise ValueError("validation data holds one class only; ROC-AUC needs both")
        return float(roc_auc_score(yy, pp))
    if metric == "accuracy":
        return float(accuracy_score(yy, pp > 0.5))
    raise ValueError(f"weight metric {metric!r}; allowed: {', '.join(WEIGHT_METRICS)}")


def choose_threshold(y: npt.ArrayLike, p: npt.ArrayLike, target_far: float) -> float:
    """The lowest threshold with at most ``target_far`` of the negatives scoring above it.

    :raises ValueError: for a target outside [0, 1) or no negative rows.
    """
    if not 0.0 <= target_far < 1.0:
        raise ValueError(f"target false-alarm rate {target_far}; allowed: 0 ≤ rate < 1")
    neg = np.sort(np.asarray(p, dtype=np.float64)[np.asarray(y) == 0])[::-1]
    if neg.size == 0:
        raise ValueError("no negative (no-fire) rows to choose a threshold on")
    k = math.floor(target_far * neg.size)
    thr = float(neg[min(k, neg.size - 1)])
    if thr >= THRESHOLD_MAX:
        log.warning("validation negatives score up to %.6f: threshold capped at %.6f, the "
                    "target false-alarm rate %.4g may not hold", thr, THRESHOLD_MAX, target_far)
    return float(min(max(thr, THRESHOLD_MIN), THRESHOLD_MAX))


def blank_blocks(X: Array, fraction: float, n_thermal: int | None,
                 rng: np.random.Generator) -> tuple[Array, npt.NDArray[np.intp]]:
    """Copies of ``fraction`` of the rows with the gas block blanked and as many with the
    thermal block blanked (degraded mode in distribution); returns them and their source rows.

    ``n_thermal``: the camera's columns are the first ``n_thermal``; ``None``: those of the
    feature set as wide as ``X`` (``edge.features.camera_columns``).
    """
    from edge.features import camera_columns

    camera = (camera_columns(X.shape[1]) if n_thermal is None
              else np.arange(X.shape[1]) < n_thermal)
    n = X.shape[0]
    k = round(fraction * n)
    if k == 0:
        return X[:0].copy(), np.zeros(0, dtype=np.intp)
    gas_rows = rng.choice(n, size=k, replace=False)
    thermal_rows = rng.choice(n, size=k, replace=False)
    a = X[gas_rows].copy()
    a[:, ~camera] = np.nan
    b = X[thermal_rows].copy()
    b[:, camera] = np.nan
    return np.vstack([a, b]), np.concatenate([gas_rows, thermal_rows])


@dataclass
class Ensemble:
    """Fitted members, their weights by name, the calibration map and the alarm threshold
    (on the calibrated score)."""

    pipelines: dict[str, Any]
    weights: dict[str, float]
    threshold: float = 0.5
    validation_scores: dict[str, float] = field(default_factory=dict)
    fit_seconds: dict[str, float] = field(default_factory=dict)
    calibration: Calibration | None = None
    calibration_report: dict[str, Any] = field(default_factory=dict)
    #: The flame watch's corroboration bar chosen on validation runs
    #: (``cloud.training.corroborate``); None: not chosen (no recordings with frames).
    flame_bar: FlameBar | None = None
    #: The sustained alarm's bar chosen on validation runs (``cloud.training.hold``); None:
    #: not chosen (no recordings).
    hold_bar: HoldBar | None = None
    #: The smoulder watch's corroboration bar chosen on validation runs
    #: (``cloud.training.smoulder_bar``); None: not chosen.
    smoulder_bar: SmoulderBar | None = None
    #: The gas watch's bar chosen on validation runs (``cloud.training.gas_bar``); None: not
    #: chosen.
    gas_bar: GasBar | None = None
    #: The validation runs the threshold and the bars were chosen on, as scored
    #: (``cloud.training.choice``); None: not chosen on runs. Not part of the artifact.
    choice: ChoiceRuns | None = None

    def detection(self) -> dict[str, Any]:
        """The chosen bars as :func:`cloud.artifact.write.write_artifact`'s arguments (the
        manifest's ``detection``): the flame bar and ladder, hold, smoulder, early smoulder
        and gas bars."""
        sb, hb = self.smoulder_bar, self.hold_bar
        return {
            "gas_min_score": None if self.gas_bar is None else self.gas_bar.bar,
            "flame_min_score": None if self.flame_bar is None else self.flame_bar.bar,
            "flame_ladder": () if self.flame_bar is None else self.flame_bar.ladder,
            "hold": None if hb is None or hb.bar is None else (hb.bar, hb.seconds),
            "smoulder_min_score": None if sb is None else sb.bar,
            "smoulder_early": None if sb is None or sb.early is None else sb.early.rule,
        }

    def member_proba(self, X: npt.ArrayLike) -> dict[str, Array]:
        """Each member's fire probability, by name."""
        Xa = np.asarray(X, dtype=np.float64)
        return {name: np.asarray(p.predict_proba(Xa)[:, 1], dtype=np.float64)
                for name, p in self.pipelines.items()}

    def combine(self, member_p: Mapping[str, Array]) -> Array:
        """Σ weight[name] · p[name] — keyed by name, so member order never matters."""
        total = np.zeros_like(next(iter(member_p.values())))
        for name in sorted(self.weights):
            total = total + self.weights[name] * member_p[name]
        return total

    def score(self, member_p: Mapping[str, Array]) -> Array:
        """The calibrated ensemble score of the members' probabilities (what the device says)."""
        return apply_calibration(self.calibration, self.combine(member_p))

    def predict_proba(self, X: npt.ArrayLike) -> Array:
        """The ensemble's (calibrated) fire score per row."""
        return self.score(self.member_proba(X))

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Alarm per row: score strictly above the threshold."""
        return self.predict_proba(X) > self.threshold


@dataclass(frozen=True)
class EnsembleConfig:
    """How to train the ensemble."""

    members: tuple[str, ...] = MEMBER_NAMES
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: DEFAULT_PARAMS)
    seed: int = 42
    target_far: float = 0.001
    weight_metric: str = "roc_auc"
    degraded_fraction: float = 0.1
    n_jobs: int = -1
    #: "frames": per-frame false-positive rate ≤ target_far; "events": the device's alarm
    #: logic on the validation no-fire streams (cloud.training.threshold), plus event_margin.
    threshold_mode: str = "events"
    event_margin: float = 0.05
    #: Families whose runs do not set the alarm threshold nor the flame bar
    #: (``UNSELECTED_FAMILIES``); they stay in training and in every report.
    unselected: tuple[str, ...] = ()
    #: Families whose runs the members are not fitted on (``--untrained``); they still weight
    #: and calibrate the members, and are in every report.
    untrained: tuple[str, ...] = ()
    #: "phases": each run's before / early / late phases weigh the same in the fit;
    #: "growing": the frames the flame watch calls growing weigh ``growing_weight``
    #: (cloud.training.weighting); "none": every row counts once.
    sample_weighting: str = "none"
    early_s: float = 120.0
    growing_weight: float = 10.0

    def scaled(self, max_trees: int) -> EnsembleConfig:
        """The same with at most ``max_trees`` trees/stages per member (quick retrains)."""
        params = {k: dict(v) for k, v in self.params.items()}
        for m, key in (("rf", "n_estimators"), ("gb", "max_iter")):
            if m in params:
                n = params[m].get(key, DEFAULT_PARAMS[m][key])
                params[m][key] = min(int(n), max_trees)
        return replace(self, params=params)


def fit_ensemble(X_train: Array, y_train: npt.ArrayLike, X_val: Array, y_val: npt.ArrayLike,
                 cfg: EnsembleConfig, *, n_thermal: int | None = None,
                 progress: bool = False,
                 val_groups: npt.ArrayLike | None = None,
                 sample_weight: npt.ArrayLike | None = None) -> Ensemble:
    """Fit every member (with degraded copies of some rows; ``sample_weight``: each training
    row's weight, its copies' too, e.g. 0.3 for an unlabelled fleet clip), weight them on the
    validation rows, calibrate the weighted score there (``val_groups``: each validation
    row's run, for choosing the map out of fold), choose the threshold on the calibrated
    score; RF is set to ``n_jobs=1`` for inference afterwards."""
    from tqdm import tqdm

    from cloud.training.calibrate import fit_calibration

    if cfg.weight_metric not in WEIGHT_METRICS:
        raise ValueError(f"weight metric {cfg.weight_metric!r}; allowed: "
                         f"{', '.join(WEIGHT_METRICS)}")
    ytr = np.asarray(y_train).astype(np.int64)
    if len(np.unique(ytr)) < 2:
        raise ValueError("training data holds one class only; need fire and no-fire rows")
    rng = np.random.default_rng(cfg.seed)
    extra, src = blank_blocks(X_train, cfg.degraded_fraction, n_thermal, rng)
    Xf = np.vstack([X_train, extra])
    yf = np.concatenate([ytr, ytr[src]])
    fit_kw: dict[str, Any] = {}
    if sample_weight is not None:
        wtr = np.asarray(sample_weight, dtype=np.float64)
        if wtr.shape != ytr.shape or not (np.isfinite(wtr).all() and (wtr >= 0).all()):
            raise ValueError(f"sample_weight: {wtr.shape[0]} finite weights ≥ 0 needed, one per "
                             f"training row ({ytr.shape[0]})")
        fit_kw["clf__sample_weight"] = np.concatenate([wtr, wtr[src]])
    seconds: dict[str, float] = {}

    def fit_one(name: str) -> Any:
        pipe = build_member(name, cfg.params.get(name, {}), cfg.seed, n_jobs=cfg.n_jobs)
        kw = dict(fit_kw)
        if kw and "scale" in pipe.named_steps:  # the scaler's mean and spread are weighted too
            kw["scale__sample_weight"] = kw["clf__sample_weight"]
        log.info("fitting %s on %d rows", name, Xf.shape[0])
        start = time.perf_counter()
        if name == "gb":
            # One OpenMP thread: HistGB's many short parallel regions end in barriers that
            # stall whenever a core is taken (by the forest's jobs beside it, or another
            # process). On this 2-core VM under load, 2 threads took 35-75 s, 1 thread 5-9 s.
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=1, user_api="openmp"):
                pipe.fit(Xf, yf, **kw)
        else:
            pipe.fit(Xf, yf, **kw)
        seconds[name] = time.perf_counter() - start
        if name == "rf":
            pipe.set_params(clf__n_jobs=1)
        return pipe

    # Members fit side by side: scikit-learn's tree code releases the GIL, so the boosting
    # runs on one core (one OpenMP thread) while the forest's jobs share the rest.
    with ThreadPoolExecutor(max_workers=len(cfg.members)) as pool:
        futures = {name: pool.submit(fit_one, name) for name in cfg.members}
        bar = tqdm(total=len(futures), desc="fit members", disable=not progress, leave=False)
        for fut in as_completed(futures.values()):
            fut.result()
            bar.update()
        bar.close()
    pipelines = {name: futures[name].result() for name in cfg.members}
    ens = Ensemble(pipelines, {}, fit_seconds=seconds)
    member_p = ens.member_proba(X_val)
    ens.validation_scores = {n: validation_score(y_val, member_p[n], cfg.weight_metric)
                             for n in cfg.members}
    ens.weights = weights_from_scores(ens.validation_scores)
    fitted = fit_calibration(ens.combine(member_p), y_val, val_groups)
    ens.calibration, ens.calibration_report = fitted.calibration, fitted.report
    ens.threshold = choose_threshold(y_val, ens.score(member_p), cfg.target_far)
    log.info("weights %s, threshold %.6f", ens.weights, ens.threshold)
    return ens
