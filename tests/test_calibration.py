"""Calibrated ensemble scores: the manifest's map, its checks, the device applying it, and the
training side fitting it on the validation runs (issue 14, "train for the device's job")."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cloud.training.calibrate import fit_calibration, fit_isotonic, fit_platt, reliability
from cloud.training.ensemble import EnsembleConfig, choose_threshold, fit_ensemble
from edge.errors import ModelCompatibilityError, ModelSelfTestError
from edge.model.calibration import (
    Calibration,
    apply_calibration,
    calibrate_one,
    parse_calibration,
)
from edge.model.holder import load_model
from tests.modelkit import (
    Kit,
    build,
    copy_artifact,
    kit,
    resign,
    rows,
    synthetic_features,
)

__all__ = ["kit"]

ROOT = Path(__file__).resolve().parent.parent
PLATT = {"method": "platt", "a": 1.7, "b": -0.4}
ISO = {"method": "isotonic", "x": [0.05, 0.4, 0.9], "y": [0.0, 0.3, 1.0]}
SMALL = {"rf": {"n_estimators": 10, "max_depth": 6}, "gb": {"max_iter": 10},
         "lr": {"max_iter": 500}}


def miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores that are the true fire probability cubed (over-confident no), labels, runs."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.0, 1.0, n)
    y = (rng.random(n) < q).astype(int)
    return q ** 3, y, np.arange(n) // 50


class TestParse:
    @pytest.mark.parametrize("block", [PLATT, ISO])
    def test_round_trip(self, block: dict[str, Any]) -> None:
        """A well-formed block parses and writes back unchanged."""
        assert parse_calibration(block).as_dict() == block

    @pytest.mark.parametrize(("block", "names"), [
        ([1, 2], "calibration is list"),
        ({"method": "beta"}, "calibration.method is 'beta'; allowed: platt, isotonic"),
        ({"method": "platt", "a": 1.0}, "calibration.b is None"),
        ({"method": "platt", "a": -1.0, "b": 0.0}, "calibration.a is -1.0; allowed: > 0"),
        ({"method": "platt", "a": math.inf, "b": 0.0}, "calibration.a is inf"),
        ({"method": "platt", "a": 1.0, "b": 0.0, "c": 1}, "unknown fields ['c']"),
        ({"method": "isotonic", "x": [0.1], "y": [0.2]}, "calibration.x is 1"),
        ({"method": "isotonic", "x": [0.1, 0.2], "y": [0.2]}, "calibration.y is 1"),
        ({"method": "isotonic", "x": [0.1, 0.2, 0.3], "y": [0.0, 0.5]},
         "calibration.x has 3 knots and calibration.y 2"),
        ({"method": "isotonic", "x": [0.2, 0.2], "y": [0.0, 0.5]},
         "calibration.x[1] = 0.2 after 0.2; allowed: strictly increasing"),
        ({"method": "isotonic", "x": [0.1, 0.2], "y": [0.5, 0.4]},
         "calibration.y[1] = 0.4 after 0.5; allowed: non-decreasing"),
        ({"method": "isotonic", "x": [0.1, 1.5], "y": [0.0, 0.5]},
         "calibration.x[1] is 1.5; allowed: 0 ≤ value ≤ 1"),
        ({"method": "isotonic", "x": [0.1, "a"], "y": [0.0, 0.5]}, "calibration.x[1] is 'a'"),
    ])
    def test_malformed_refused(self, block: Any, names: str) -> None:
        """A malformed block is refused with the field, the value and what is allowed."""
        with pytest.raises(ValueError, match="calibration") as err:
            parse_calibration(block)
        assert names in str(err.value)


class TestApply:
    def test_none_is_identity(self) -> None:
        """No calibration leaves the scores exactly as they are."""
        p = np.linspace(0, 1, 11)
        np.testing.assert_array_equal(apply_calibration(None, p), p)

    def test_platt_formula_and_order(self) -> None:
        """Platt is the logistic of a·logit(p)+b, keeps the order and stays in [0, 1]."""
        cal = parse_calibration(PLATT)
        p = np.array([0.0, 1e-9, 0.2, 0.5, 0.8, 1.0])
        out = apply_calibration(cal, p)
        q = np.clip(p, 1e-6, 1 - 1e-6)
        want = 1 / (1 + np.exp(-(1.7 * np.log(q / (1 - q)) - 0.4)))
        np.testing.assert_allclose(out, want, rtol=1e-12)
        assert (np.diff(out) >= 0).all() and out.min() >= 0 and out.max() <= 1

    def test_isotonic_interpolates_and_clamps(self) -> None:
        """Isotonic knots: linear between them, flat beyond the ends."""
        cal = parse_calibration(ISO)
        out = apply_calibration(cal, [0.0, 0.05, 0.225, 0.65, 0.95])
        np.testing.assert_allclose(out, [0.0, 0.0, 0.15, 0.65, 1.0])


class TestCalibrateOne:
    @pytest.mark.parametrize("obj", [PLATT, ISO, None])
    def test_same_value_as_apply(self, obj: dict[str, Any] | None) -> None:
        """One score calibrated alone equals ``apply_calibration`` of it, to the bit."""
        cal = None if obj is None else parse_calibration(obj)
        rng = np.random.default_rng(3)
        ps = np.concatenate([rng.random(20000), rng.random(500) * 1e-5,
                             1.0 - rng.random(500) * 1e-5, [0.0, 1.0, 1e-6, 1.0 - 1e-6, 0.5]])
        for p in ps.tolist():
            assert calibrate_one(cal, p) == float(apply_calibration(cal, [p])[0]), p

    def test_nan_stays_nan(self) -> None:
        """A NaN score stays NaN, as in ``apply_calibration``."""
        assert math.isnan(calibrate_one(parse_calibration(PLATT), math.nan))


class TestFit:
    @pytest.mark.parametrize("fit", [fit_platt, fit_isotonic])
    def test_each_method_improves_a_miscalibrated_score(self, fit: Any) -> None:
        """Both maps lower the log-loss of over-confident scores on fresh rows."""
        p, y, _ = miscalibrated(4000, 1)
        p2, y2, _ = miscalibrated(4000, 2)
        cal = fit(p, y)
        before = -np.mean(y2 * np.log(np.clip(p2, 1e-6, 1)) +
                          (1 - y2) * np.log(np.clip(1 - p2, 1e-6, 1)))
        q = np.clip(apply_calibration(cal, p2), 1e-6, 1 - 1e-6)
        after = -np.mean(y2 * np.log(q) + (1 - y2) * np.log(1 - q))
        assert after < before - 0.05

    def test_choice_and_report(self) -> None:
        """fit_calibration chooses out of fold and reports Brier, log-loss and 10 bins."""
        p, y, g = miscalibrated(3000, 3)
        fitted = fit_calibration(p, y, g)
        r = fitted.report
        assert r["method"] == fitted.calibration.method in ("platt", "isotonic")
        cv = r["cross_validated"]
        assert r["method"] == min(cv, key=lambda m: cv[m]["log_loss"])
        assert r["after"]["log_loss"] < r["before"]["log_loss"]
        assert r["after"]["brier"] < r["before"]["brier"]
        assert len(r["before"]["reliability"]) == len(r["after"]["reliability"]) == 10
        assert sum(b["rows"] for b in r["after"]["reliability"]) == p.size

    @pytest.mark.parametrize("p", [[0.2, 0.2, 0.2, 0.2], [1.0, 1.0, 1.0, 1.0],
                                   [0.9, 0.7, 0.3, 0.1]])
    def test_isotonic_degenerate_still_a_valid_map(self, p: list[float]) -> None:
        """Constant or reversed scores give a flat isotonic map that still passes the
        device's checks (two distinct knots)."""
        cal = fit_isotonic(p, [0, 1, 1, 1])
        assert parse_calibration(cal.as_dict()) == cal
        assert len(set(apply_calibration(cal, p).tolist())) == 1

    def test_one_run_keeps_platt(self) -> None:
        """With one validation run there is no out-of-fold choice: Platt (two numbers)."""
        p, y, _ = miscalibrated(500, 4)
        assert fit_calibration(p, y, np.zeros(500)).calibration.method == "platt"

    def test_one_class_refused(self) -> None:
        """Validation rows of one class cannot be calibrated: a clear error."""
        with pytest.raises(ValueError, match="both classes"):
            fit_calibration([0.1, 0.2], [0, 0])

    def test_reliability_bins(self) -> None:
        """The reliability table counts rows per tenth and their fire share."""
        table = reliability([0, 1, 1], [0.05, 0.95, 1.0])
        assert table[0] == {"bin": "0.0-0.1", "rows": 1, "mean_score": 0.05, "fire_share": 0.0}
        assert table[9]["rows"] == 2 and table[9]["fire_share"] == 1.0

    def test_threshold_on_calibrated_score(self) -> None:
        """fit_ensemble calibrates on validation and chooses the threshold on the calibrated
        score (frames mode: the target false-alarm rate holds for the calibrated score)."""
        X, y = synthetic_features(900, 21)
        Xv, yv = synthetic_features(400, 22)
        cfg = EnsembleConfig(params=SMALL, n_jobs=2, threshold_mode="frames", target_far=0.01)
        ens = fit_ensemble(X, y, Xv, yv, cfg, val_groups=np.arange(400) // 40)
        assert ens.calibration is not None
        raw = ens.combine(ens.member_proba(Xv))
        cal = ens.predict_proba(Xv)
        np.testing.assert_allclose(cal, apply_calibration(ens.calibration, raw))
        assert ens.threshold == choose_threshold(yv, cal, 0.01)
        assert ens.calibration_report["method"] == ens.calibration.method


class TestDevice:
    def test_old_manifest_scores_as_before(self) -> None:
        """The demo model (no calibration) loads and scores the plain weighted sum."""
        from edge.model.verify import load_public_key

        folder = ROOT / "tests" / "data" / "seed-v1-model"  # the previous, uncalibrated demo
        tar = next(folder.glob("*.tar.gz"))
        model = load_model(tar, public_key=load_public_key(folder / "model-signing.pub.pem"))
        assert "calibration" not in model.manifest
        for x in rows(60):
            s = model.score(x)
            want = sum(model.weights[n] * s.members[n] for n in s.members)
            assert s.probability == pytest.approx(want, abs=1e-7)

    def test_calibrated_artifact(self, kit: Kit, tmp_path: Path) -> None:
        """A calibrated artifact: manifest carries the map, golden scores are calibrated, and
        the device's probability is the map of the weighted members (members stay raw)."""
        info = build(tmp_path, kit.pipelines_a, kit.key, version="cal-a", calibration=PLATT)
        assert info.manifest["calibration"] == PLATT
        golden = json.loads((info.path / "golden.json").read_text())
        w = info.manifest["members"]
        raw = [math.fsum(w[n]["weight"] * golden["members"][n][i] for n in w)
               for i in range(len(golden["scores"]))]
        np.testing.assert_allclose(golden["scores"],
                                   apply_calibration(parse_calibration(PLATT), raw), atol=1e-15)
        model = load_model(info.tarball, public_key=_pub(kit))
        cal = Calibration("platt", a=1.7, b=-0.4)
        X = rows(40)
        total, per = model.score_batch(X)  # members raw, as the device's ONNX returns them
        weighted = sum(model.weights[n] * per[n] for n in per)
        np.testing.assert_allclose(total, apply_calibration(cal, weighted), atol=1e-12)
        assert not np.allclose(total, weighted, atol=1e-3)  # the map did change the scores
        for i, x in enumerate(X):
            assert model.score(x).probability == pytest.approx(total[i], abs=1e-6)  # float32

    def test_self_test_covers_calibration(self, kit: Kit, tmp_path: Path) -> None:
        """A signer changing the map without the golden scores is caught by the self-test."""
        info = build(tmp_path, kit.pipelines_a, kit.key, version="cal-b", calibration=PLATT)
        folder = copy_artifact(info, tmp_path / "copy")
        resign(folder, kit.key, calibration={"method": "platt", "a": 1.0, "b": 0.0})
        with pytest.raises(ModelSelfTestError, match="ensemble"):
            load_model(folder, public_key=_pub(kit))

    def test_malformed_block_refused_by_verify(self, kit: Kit, tmp_path: Path) -> None:
        """verify refuses a signed manifest whose calibration is malformed, naming the field."""
        folder = copy_artifact(kit.a, tmp_path)
        resign(folder, kit.key, calibration={"method": "isotonic", "x": [0.5, 0.1],
                                             "y": [0.0, 1.0]})
        with pytest.raises(ModelCompatibilityError,
                           match=r"calibration\.x\[1\] = 0.1 after 0.5; allowed: strictly"):
            load_model(folder, public_key=_pub(kit))

    def test_writer_refuses_bad_map(self, kit: Kit, tmp_path: Path) -> None:
        """write_artifact refuses a malformed calibration argument before writing anything."""
        with pytest.raises(ValueError, match=r"calibration argument: calibration\.a"):
            build(tmp_path, kit.pipelines_a, kit.key, version="cal-c",
                  calibration={"method": "platt", "a": 0.0, "b": 0.0})
        assert not any(tmp_path.iterdir())


def _pub(kit: Kit) -> Any:
    from edge.model.verify import load_public_key

    return load_public_key(kit.public_key)

