"""The ``gb`` member is a HistGradientBoostingClassifier: it exports to ONNX (the workaround in
cloud/artifact/onnx_compat.py), routes NaN like scikit-learn, and goes through the fused
artifact to the device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.artifact.onnx import (
    ONNX_TOLERANCE,
    compare_member,
    export_member,
    onnx_member_proba,
    sklearn_member_proba,
)
from cloud.artifact.onnx_compat import MISSING_ATTR
from cloud.artifact.signing import public_key_pem
from cloud.training.ensemble import DEFAULT_PARAMS, blank_blocks, build_member
from edge.model.holder import load_model
from edge.model.runtime import Backend
from edge.model.verify import load_public_key
from tests.modelkit import WEIGHTS, build, synthetic_features

N_FEATURES = 18


def nan_rows(seed: int) -> npt.NDArray[np.float64]:
    """Rows with the gas block blanked, the thermal block blanked, scattered NaN, all NaN."""
    X, _ = synthetic_features(120, seed)
    X[:30, 12:] = np.nan
    X[30:60, :12] = np.nan
    X[60] = np.nan
    return X


def fit_hist_gb(seed: int, max_iter: int = 20) -> Any:
    """The ``gb`` member as training builds it, fitted on rows holding NaN (3 % + blocks)."""
    X, y = synthetic_features(1500, seed)
    extra, src = blank_blocks(X, 0.1, 12, np.random.default_rng(seed))
    params = dict(DEFAULT_PARAMS["gb"], max_iter=max_iter)
    pipe = build_member("gb", params, seed=seed)
    return pipe.fit(np.vstack([X, extra]), np.concatenate([y, y[src]]))


@pytest.fixture(scope="module")
def hist_gb() -> Any:
    """A small fitted HistGB member."""
    return fit_hist_gb(3)


class TestHistGradientBoostingExport:
    def test_gb_member_is_hist_gb_without_imputer(self, hist_gb: Any) -> None:
        """Training's gb member is a HistGradientBoostingClassifier that sees NaN itself."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        assert [type(s).__name__ for _, s in hist_gb.steps] == ["HistGradientBoostingClassifier"]
        assert isinstance(hist_gb.steps[-1][1], HistGradientBoostingClassifier)

    def test_exports_with_parity_on_nan_rows(self, hist_gb: Any) -> None:
        """HistGB trained on NaN exports, and ONNX matches scikit-learn ≤ 1e-5 on NaN rows."""
        onnx_bytes = export_member("gb", hist_gb, N_FEATURES)
        X = nan_rows(5)
        p_onnx = onnx_member_proba(onnx_bytes, X)
        p_skl = sklearn_member_proba(hist_gb, X)
        assert np.all(np.isfinite(p_onnx))
        assert float(np.max(np.abs(p_onnx - p_skl))) <= ONNX_TOLERANCE
        compare_member("gb", hist_gb, onnx_bytes, X)  # the artifact writer's own check

    def test_missing_value_routing_is_carried_as_ints(self, hist_gb: Any) -> None:
        """The exported trees keep scikit-learn's learned NaN side: ints, some 1 (left)."""
        model = onnx.load_from_string(export_member("gb", hist_gb, N_FEATURES))
        attrs = [a for n in model.graph.node if n.op_type.startswith("TreeEnsemble")
                 for a in n.attribute if a.name == MISSING_ATTR]
        assert len(attrs) == 1
        values = list(attrs[0].ints)
        assert set(values) <= {0, 1} and 1 in values

    def test_nan_scores_differ_from_a_typical_reading(self, hist_gb: Any) -> None:
        """Through ONNX, a missing gas block is not scored as if it were some real value."""
        X, _ = synthetic_features(40, 9)
        X = X[~np.isnan(X).any(axis=1)][:10]
        blank = X.copy()
        blank[:, 12:] = np.nan
        onnx_bytes = export_member("gb", hist_gb, N_FEATURES)
        np.testing.assert_allclose(onnx_member_proba(onnx_bytes, blank),
                                   sklearn_member_proba(hist_gb, blank), atol=ONNX_TOLERANCE)
        assert not np.allclose(onnx_member_proba(onnx_bytes, blank),
                               onnx_member_proba(onnx_bytes, X))

    @pytest.mark.parametrize("backend", ["auto", "onnx-members", "joblib"])
    def test_signed_artifact_with_hist_gb_loads_and_scores(
        self, tmp_path: Path, hist_gb: Any, backend: Backend
    ) -> None:
        """A signed artifact whose gb is HistGB passes the device's checks and scores NaN rows
        like scikit-learn (fused graph, per-member ONNX, joblib)."""
        X, y = synthetic_features(1500, 4)
        pipes = {name: build_member(name, {"n_estimators": 8} if name == "rf" else {}, seed=4)
                 for name in ("rf", "lr")}
        for p in pipes.values():
            p.fit(X, y)
        pipes["gb"] = hist_gb
        key = Ed25519PrivateKey.generate()
        (tmp_path / "pub.pem").write_bytes(public_key_pem(key))
        info = build(tmp_path / "out", pipes, key, version="hgb-1")
        assert info.manifest["members"]["gb"]["estimator"] == "HistGradientBoostingClassifier"
        assert info.manifest["members"]["rf"]["estimator"] == "RandomForestClassifier"
        model = load_model(info.path, public_key=load_public_key(tmp_path / "pub.pem"),
                           backend=backend)
        if backend == "auto":
            assert model.backend == "onnx-fused"
        for row in nan_rows(6)[:62:7]:
            x32 = row.astype(np.float32).astype(np.float64)[None, :]
            want = {n: float(p.predict_proba(x32)[0, 1]) for n, p in pipes.items()}
            score = model.score(row)
            for name in pipes:
                assert score.members[name] == pytest.approx(want[name], abs=ONNX_TOLERANCE)
            assert score.probability == pytest.approx(
                sum(WEIGHTS[n] * want[n] for n in pipes), abs=ONNX_TOLERANCE)

    def test_report_importances_without_rf(self, hist_gb: Any) -> None:
        """With ``--members gb,lr`` the report falls back to LR coefficients (HistGB has no
        impurity importances) instead of failing."""
        from cloud.training.report import feature_importances
        from edge.features import FEATURE_NAMES

        X, y = synthetic_features(600, 8)
        lr = build_member("lr", {}, seed=8).fit(X, y)
        kind, imp = feature_importances({"gb": hist_gb, "lr": lr}, FEATURE_NAMES)
        assert kind == "|LR coefficient|" and set(imp) == set(FEATURE_NAMES)
