"""The ensemble: members, weights by name, threshold, degraded rows, splits, metrics."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from cloud.artifact.onnx import compare_member, export_member
from cloud.heldout.metrics import wilson_ci
from cloud.training.ensemble import (
    DEFAULT_PARAMS,
    Ensemble,
    EnsembleConfig,
    blank_blocks,
    build_member,
    choose_threshold,
    fit_ensemble,
    parse_members,
    parse_params,
    weights_from_scores,
)
from cloud.training.metrics import frame_metrics, run_events, summarise_runs
from cloud.training.splits import family_holdouts, split_groups, strata
from edge.model.calibration import apply_calibration
from tests.modelkit import synthetic_features

SMALL = {"rf": {"n_estimators": 8, "max_depth": 6}, "gb": {"max_iter": 8, "max_depth": 3},
         "lr": {"max_iter": 500}}


@pytest.fixture(scope="module")
def fitted() -> tuple[Ensemble, np.ndarray, np.ndarray]:
    """A small ensemble fitted on synthetic rows, and held-out rows to score."""
    X, y = synthetic_features(1500, 3)
    Xv, yv = synthetic_features(600, 4)
    ens = fit_ensemble(X, y, Xv, yv, EnsembleConfig(params=SMALL, seed=1, n_jobs=1))
    Xt, yt = synthetic_features(300, 5)
    return ens, Xt, yt


class TestWeights:
    def test_seed_formula(self) -> None:
        """Scores (a, a, min) give the seed's e³ : e³ : 1 weights (49 % / 49 % / 2.4 %)."""
        w = weights_from_scores({"rf": 0.75, "gb": 0.75, "lr": 0.68})
        total = 2 * math.exp(3) + 1
        assert w["rf"] == pytest.approx(math.exp(3) / total)
        assert w["lr"] == pytest.approx(1 / total)
        assert sum(w.values()) == pytest.approx(1.0)

    def test_equal_scores_equal_weights(self) -> None:
        """Equal scores give 1/n each."""
        assert weights_from_scores({"a": 0.9, "b": 0.9, "c": 0.9}) == pytest.approx(
            {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})

    def test_keyed_by_name_not_order(self) -> None:
        """The same scores in another order give each name the same weight."""
        a = weights_from_scores({"rf": 0.9, "gb": 0.8, "lr": 0.6})
        b = weights_from_scores({"lr": 0.6, "rf": 0.9, "gb": 0.8})
        assert a == pytest.approx(b)


class TestThreshold:
    def test_meets_target_far(self) -> None:
        """At most the target share of negatives score strictly above the threshold."""
        rng = np.random.default_rng(0)
        y = np.r_[np.zeros(10_000), np.ones(500)]
        p = np.r_[rng.random(10_000) * 0.8, 0.7 + 0.3 * rng.random(500)]
        thr = choose_threshold(y, p, 0.001)
        assert (p[y == 0] > thr).mean() <= 0.001
        assert (p[y == 0] >= thr).mean() > 0.0009  # and not needlessly high

    def test_ties_do_not_break_the_target(self) -> None:
        """Many negatives on one value: the threshold sits at it, none above it alarm."""
        y = np.zeros(100)
        p = np.full(100, 0.3)
        thr = choose_threshold(y, p, 0.05)
        assert (p > thr).sum() == 0

    def test_within_config_bounds(self) -> None:
        """The threshold is strictly between 0 and 1, as the alarm config requires."""
        assert 0 < choose_threshold([0, 0, 1], [0.0, 0.0, 1.0], 0.0) < 1
        assert 0 < choose_threshold([0, 0, 1], [1.0, 1.0, 1.0], 0.0) < 1

    @pytest.mark.parametrize("far", [-0.1, 1.0, 2.0])
    def test_bad_target(self, far: float) -> None:
        """A target outside [0, 1) is refused with the allowed range."""
        with pytest.raises(ValueError, match="allowed"):
            choose_threshold([0, 1], [0.1, 0.9], far)

    def test_no_negatives(self) -> None:
        """Without no-fire rows there is nothing to set a threshold on."""
        with pytest.raises(ValueError, match="no negative"):
            choose_threshold([1, 1], [0.1, 0.9], 0.01)


class TestParams:
    def test_override(self) -> None:
        """MEMBER.KEY=VALUE updates one hyperparameter, read as JSON."""
        p = parse_params(["rf.n_estimators=50", "gb.learning_rate=0.05", "rf.max_depth=null"])
        assert p["rf"]["n_estimators"] == 50 and p["rf"]["max_depth"] is None
        assert p["gb"]["learning_rate"] == 0.05
        assert DEFAULT_PARAMS["rf"]["n_estimators"] == 100  # defaults untouched

    @pytest.mark.parametrize("item, match", [
        ("rf.n_estimators", "MEMBER.KEY=VALUE"),
        ("xgb.depth=3", "unknown member 'xgb'; allowed: rf, gb, lr"),
        ("rf.depth=3", "no hyperparameter 'depth'; allowed: .*max_depth"),
        ("rf.random_state=3", "no hyperparameter 'random_state'"),
        ("gb.n_estimators=100", "'n_estimators' \\(gb is HistGradientBoostingClassifier: its "
                                "stages are gb.max_iter\\); allowed: .*max_iter"),
    ])
    def test_bad_override(self, item: str, match: str) -> None:
        """A malformed or unknown override names what is allowed."""
        with pytest.raises(ValueError, match=match):
            parse_params([item])

    def test_members(self) -> None:
        """Member lists are checked against the known names."""
        assert parse_members("rf, lr") == ("rf", "lr")
        for bad in ("", "rf,rf", "rf,svm"):
            with pytest.raises(ValueError, match="--members"):
                parse_members(bad)


class TestMembers:
    @pytest.mark.parametrize("name", ["rf", "gb", "lr"])
    def test_scores_nan_rows_and_exports(self, name: str) -> None:
        """Each member scores rows with a blanked sensor block, and its ONNX export agrees."""
        X, y = synthetic_features(600, 1)
        pipe = build_member(name, SMALL[name], seed=0).fit(X, y)
        Xn = X[:50].copy()
        Xn[:25, 12:] = np.nan
        Xn[25:, :12] = np.nan
        p = pipe.predict_proba(Xn)[:, 1]
        assert np.all(np.isfinite(p))
        compare_member(name, pipe, export_member(name, pipe, 18), Xn)

    @pytest.mark.parametrize(("name", "hint"), [("rf", True), ("gb", True), ("lr", False)])
    def test_a_disagreeing_export_is_refused_with_a_hint(self, name: str, hint: bool) -> None:
        """An export that scores unlike its member is refused naming it and the gap; a tree
        member's refusal says what a float32 split does and what to do about it."""
        from cloud.artifact.onnx import ArtifactExportError

        X, y = synthetic_features(600, 1)
        pipe = build_member(name, SMALL[name], seed=0).fit(X, y)
        other = build_member(name, SMALL[name], seed=1).fit(X[:, ::-1].copy(), y)
        with pytest.raises(ArtifactExportError, match=rf"member '{name}': ONNX and "
                           r"scikit-learn disagree by") as err:
            compare_member(name, pipe, export_member(name, other, 18), X[:50])
        assert ("float32" in str(err.value)) is hint

    @pytest.mark.parametrize("name", ["rf", "gb"])
    def test_missing_is_not_typical(self, name: str) -> None:
        """A tree member tells a missing gas block from a typical (low) gas reading."""
        rng = np.random.default_rng(0)
        X = rng.normal(0, 1, (400, 18))
        X[:, 15] = rng.uniform(400, 2000, 400)
        y = (X[:, 15] > 1500).astype(int)
        X[:100, 12:] = np.nan  # rows without the SCD41 here are all fires
        y[:100] = 1
        pipe = build_member(name, SMALL[name], seed=0).fit(X, y)
        typical = X[200:201].copy()
        typical[0, 15] = 600.0
        blank = typical.copy()
        blank[0, 12:] = np.nan
        assert pipe.predict_proba(typical)[0, 1] < 0.5 < pipe.predict_proba(blank)[0, 1]


class TestBlankBlocks:
    def test_blocks(self) -> None:
        """Copies blank exactly the gas block or the thermal block of their source rows."""
        X = np.arange(100 * 18, dtype=float).reshape(100, 18)
        extra, src = blank_blocks(X, 0.1, 12, np.random.default_rng(0))
        assert extra.shape == (20, 18) and src.shape == (20,)
        assert np.isnan(extra[:10, 12:]).all() and not np.isnan(extra[:10, :12]).any()
        assert np.isnan(extra[10:, :12]).all() and not np.isnan(extra[10:, 12:]).any()
        np.testing.assert_array_equal(extra[:10, :12], X[src[:10], :12])


class TestEnsemble:
    def test_fit(self, fitted: tuple[Ensemble, np.ndarray, np.ndarray]) -> None:
        """The fitted ensemble separates synthetic fires, weights sum to 1, RF runs 1 job."""
        ens, Xt, yt = fitted
        m = frame_metrics(yt, ens.predict_proba(Xt), ens.threshold)
        assert m["roc_auc"] > 0.9
        assert sum(ens.weights.values()) == pytest.approx(1)
        assert set(ens.weights) == set(ens.validation_scores) == {"rf", "gb", "lr"}
        assert ens.pipelines["rf"].named_steps["clf"].n_jobs == 1

    def test_order_does_not_matter(self, fitted: tuple[Ensemble, np.ndarray, np.ndarray]
                                   ) -> None:
        """Shuffling member order changes no score (weights are looked up by name)."""
        ens, Xt, _ = fitted
        shuffled = Ensemble(dict(reversed(list(ens.pipelines.items()))),
                            dict(reversed(list(ens.weights.items()))), ens.threshold,
                            calibration=ens.calibration)
        np.testing.assert_allclose(shuffled.predict_proba(Xt), ens.predict_proba(Xt))

    def test_score_is_weighted_sum(self, fitted: tuple[Ensemble, np.ndarray, np.ndarray]
                                   ) -> None:
        """The score is the calibration map of Σ weight · member probability."""
        ens, Xt, _ = fitted
        mp = ens.member_proba(Xt)
        expect = sum(ens.weights[n] * mp[n] for n in mp)
        np.testing.assert_allclose(ens.combine(mp), expect)
        assert ens.calibration is not None
        np.testing.assert_allclose(ens.predict_proba(Xt),
                                   apply_calibration(ens.calibration, expect))
        np.testing.assert_array_equal(ens.predict(Xt), ens.predict_proba(Xt) > ens.threshold)

    def test_reproducible(self) -> None:
        """Same data and seed → identical scores."""
        X, y = synthetic_features(800, 8)
        Xv, yv = synthetic_features(300, 9)
        cfg = EnsembleConfig(params=SMALL, seed=5, n_jobs=2)
        a = fit_ensemble(X, y, Xv, yv, cfg)
        b = fit_ensemble(X, y, Xv, yv, cfg)
        np.testing.assert_array_equal(a.predict_proba(Xv), b.predict_proba(Xv))
        assert a.threshold == b.threshold and a.weights == b.weights

    def test_one_class_refused(self) -> None:
        """Training rows of one class only are refused with the reason."""
        X, _ = synthetic_features(100, 1)
        with pytest.raises(ValueError, match="one class"):
            fit_ensemble(X, np.zeros(100), X, np.r_[np.zeros(50), np.ones(50)],
                         EnsembleConfig(params=SMALL))


class TestSplits:
    def test_groups_never_cut(self) -> None:
        """Every group lands on exactly one side, every stratum of ≥ 3 on all three."""
        fams = [f"f{i % 4}" for i in range(40)]
        s = split_groups(fams, seed=1)
        sides = [set(s.train), set(s.val), set(s.test)]
        assert set().union(*sides) == set(range(40))
        assert sum(len(x) for x in sides) == 40
        for fam in {"f0", "f1", "f2", "f3"}:
            for side in sides:
                assert any(fams[g] == fam for g in side)

    def test_seeded(self) -> None:
        """The same seed gives the same split; another seed another one."""
        fams = ["a"] * 20
        assert split_groups(fams, seed=1) == split_groups(fams, seed=1)
        assert split_groups(fams, seed=1) != split_groups(fams, seed=2)

    def test_small_families_pool_by_label(self) -> None:
        """Families with fewer than 3 runs are stratified as fire / no-fire instead."""
        assert strata(["a", "b", "c", "c", "c"], [True, False, True, True, True]) == [
            "fire", "no-fire", "c", "c", "c"]

    def test_family_holdouts(self) -> None:
        """Each fold trains without the family and tests on all of its groups."""
        fams = ["a", "b", "a", "b", "a", "b"]
        s = split_groups(fams, seed=0)
        for fam, fold in family_holdouts(fams, s):
            assert all(fams[g] != fam for g in fold.train + fold.val)
            assert sorted(fold.test) == [g for g, f in enumerate(fams) if f == fam]


class TestEventMetrics:
    def test_detection_and_tta(self) -> None:
        """A fire run is detected at its first frame above threshold after the onset."""
        t = np.arange(0.0, 100.0)
        score = np.where(t >= 62, 0.9, 0.1)
        ev = run_events(t, score, 0.5, 50.0)
        assert ev["detected"] and ev["tta_s"] == 12.0 and not ev["false_alarm"]

    def test_false_alarm_before_onset(self) -> None:
        """An alarm before the onset of a fire run is a false alarm, counted by onsets."""
        t = np.arange(0.0, 100.0)
        score = np.where((t > 10) & (t < 15) | (t > 20) & (t < 22), 0.9, 0.1)
        ev = run_events(t, score, 0.5, 50.0)
        assert ev["false_alarm"] and ev["false_alarm_onsets"] == 2 and not ev["detected"]

    def test_summary(self) -> None:
        """Family summary: detection rate with its Wilson interval, TTA median."""
        runs = [run_events(np.arange(100.0), np.where(np.arange(100) > k, 1.0, 0.0), 0.5, 50.0)
                for k in (55, 65, 99)]
        s = summarise_runs(runs)
        assert s["detected"] == 2 and s["detection_rate"] == pytest.approx(2 / 3)
        assert s["tta_median_s"] == pytest.approx(11.0)
        lo, hi = wilson_ci(2, 3)
        assert s["detection_ci95"] == [lo, hi] and lo < 2 / 3 < hi


class TestFitOnSplit:
    def test_untrained_families_not_learned(self) -> None:
        """Training runs of an ``untrained`` family (--untrained) do not change the fitted
        members: the same predictions as without those runs; fitted on, they do."""
        from cloud.training.data import Dataset, Group
        from cloud.training.evaluate import fit_on_split
        from cloud.training.splits import GroupSplit

        X, y = synthetic_features(800, 12)
        y[600:] = 0  # the last two runs: fire-looking rows of a nuisance family
        X[600:] = X[:600][y[:600] == 1][:200]
        groups = np.repeat(np.arange(8), 100).astype(np.int32)
        info = [Group(f"g{i}", "fireplace" if i >= 6 else "json", None, 0.0, "json")
                for i in range(8)]
        ds = Dataset(X.astype(np.float32), y.astype(np.int8), groups, np.zeros(800),
                     np.ones(800, bool), info)
        split = GroupSplit(train=(0, 1, 2, 3, 6, 7), val=(4,), test=(5,))
        without = GroupSplit(train=(0, 1, 2, 3), val=(4,), test=(5,))
        cfg = EnsembleConfig(params=SMALL, seed=1, n_jobs=1)
        skipped = fit_on_split(ds, split, replace(cfg, untrained=("fireplace",)))
        base = fit_on_split(ds, without, cfg)
        fitted = fit_on_split(ds, split, cfg)
        fire = X[:400][y[:400] == 1]
        for name in base.pipelines:
            np.testing.assert_array_equal(
                skipped.member_proba(fire)[name], base.member_proba(fire)[name])
        assert fitted.member_proba(fire)["rf"].mean() < base.member_proba(fire)["rf"].mean()

    def test_lag_window_not_learned(self) -> None:
        """Rows in the post-onset lag window (not scored) do not change the fitted model."""
        from cloud.training.data import Dataset, Group
        from cloud.training.evaluate import fit_on_split

        X, y = synthetic_features(600, 11)
        groups = np.repeat(np.arange(6), 100).astype(np.int32)
        info = [Group(f"g{i}", "json", None, 0.0, "json") for i in range(6)]
        base = Dataset(X.astype(np.float32), y.astype(np.int8), groups, np.zeros(600),
                       np.ones(600, bool), info)
        lag_rows = X[y == 0][:100]  # quiet-looking rows labelled fire, in the lag window
        noisy = Dataset.concat([base, Dataset(
            lag_rows.astype(np.float32), np.ones(len(lag_rows), np.int8),
            np.zeros(len(lag_rows), np.int32), np.zeros(len(lag_rows)),
            np.zeros(len(lag_rows), bool), [info[0]])])
        noisy.group[600:] = 0
        noisy.groups = info
        split = split_groups(["json"] * 6, seed=0)
        cfg = EnsembleConfig(params=SMALL, seed=1, n_jobs=1)
        a, b = fit_on_split(base, split, cfg), fit_on_split(noisy, split, cfg)
        np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
