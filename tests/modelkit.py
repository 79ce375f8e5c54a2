"""Small trained models and signed artifacts for the model tests (session-scoped fixtures).

Models are tiny on purpose (RF 10 trees, GB 10 stages) so the tests stay fast; the data is
synthetic with the shape of real features (a hot spot and a CO2 rise mean fire).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.artifact.signing import public_key_pem, sign
from cloud.artifact.write import ArtifactInfo, write_artifact
from edge.features import FEATURE_NAMES, FeatureParams

N = len(FEATURE_NAMES)
IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def synthetic_features(n: int, seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int_]]:
    """``n`` feature rows, about a third of them fires, 3 % of values missing."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    X = np.empty((n, N))
    X[:, IDX["t_mean"]] = rng.normal(22, 3, n) + 6 * y
    X[:, IDX["t_std"]] = rng.gamma(2, 1.0, n) + 8 * y
    X[:, IDX["t_max"]] = rng.normal(35, 8, n) + y * rng.uniform(100, 500, n)
    X[:, IDX["t_p95"]] = X[:, IDX["t_mean"]] + rng.gamma(2, 1.5, n)
    X[:, IDX["t_hot_area_pct"]] = y * rng.gamma(1.5, 0.5, n)
    X[:, IDX["t_hot_largest_blob_pct"]] = X[:, IDX["t_hot_area_pct"]] * rng.uniform(0.3, 1, n)
    for name in ("t_grad_mean", "t_grad_std", "t_diff_mean", "t_diff_std",
                 "flow_mag_mean", "flow_mag_std"):
        X[:, IDX[name]] = rng.gamma(2, 0.3, n) * (1 + 2 * y)
    X[:, IDX["tproxy_val"]] = rng.normal(23, 2, n) + y * rng.uniform(0, 3, n)
    X[:, IDX["tproxy_delta"]] = rng.normal(0, 0.2, n) + y * rng.uniform(0, 2, n)
    X[:, IDX["tproxy_vel"]] = rng.normal(0, 0.2, n) + y * rng.uniform(0, 2, n)
    X[:, IDX["gas_val"]] = rng.normal(700, 200, n) + y * rng.uniform(0, 3000, n)
    X[:, IDX["gas_delta"]] = rng.normal(5, 20, n) + y * rng.uniform(0, 800, n)
    X[:, IDX["gas_vel"]] = rng.normal(5, 15, n) + y * rng.uniform(0, 900, n)
    X[rng.random(X.shape) < 0.03] = np.nan
    return X, y


def fit_pipelines(seed: int, n: int = 1500) -> dict[str, Any]:
    """RF, GB and LR pipelines (imputer in each), trained on synthetic rows."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = synthetic_features(n, seed)
    pipes: dict[str, Any] = {
        "rf": Pipeline([("impute", SimpleImputer(strategy="median")),
                        ("clf", RandomForestClassifier(10, max_depth=6, random_state=seed,
                                                       n_jobs=-1))]),
        "gb": Pipeline([("impute", SimpleImputer(strategy="median")),
                        ("clf", GradientBoostingClassifier(n_estimators=10, max_depth=3,
                                                           random_state=seed))]),
        "lr": Pipeline([("impute", SimpleImputer(strategy="median")),
                        ("scale", StandardScaler()),
                        ("clf", LogisticRegression(max_iter=500))]),
    }
    X32 = X.astype(np.float32).astype(np.float64)
    for p in pipes.values():
        p.fit(X32, y)
    return pipes


WEIGHTS = {"rf": 0.5, "gb": 0.3, "lr": 0.2}


def build(
    out_dir: Path,
    pipelines: dict[str, Any],
    key: Ed25519PrivateKey | None,
    *,
    version: str,
    seed: int = 7,
    **overrides: Any,
) -> ArtifactInfo:
    """Write an artifact with sensible defaults; ``overrides`` replace writer arguments."""
    X, _ = synthetic_features(200, seed)
    args: dict[str, Any] = {
        "pipelines": pipelines,
        "weights": dict(WEIGHTS),
        "threshold": 0.5,
        "feature_params": FeatureParams().as_dict(),
        "metrics": {"roc_auc": 0.99},
        "training_data": {"id": f"synthetic-{seed}", "n_samples": 1500},
        "golden_inputs": X[:16],
        "X_check": X,
        "private_key": key,
        "version": version,
    }
    if key is None:
        args["unsigned"] = True
    args.update(overrides)
    return write_artifact(out_dir, **args)


def resign(folder: Path, key: Ed25519PrivateKey, **manifest_changes: Any) -> None:
    """Re-hash every file, apply ``manifest_changes`` and re-sign: a *validly signed* artifact
    whose content was changed by the signer (to reach the checks after the signature)."""
    manifest = json.loads((folder / "manifest.json").read_bytes())
    manifest["files"] = {
        rel: hashlib.sha256((folder / rel).read_bytes()).hexdigest() for rel in manifest["files"]
    }
    manifest.update(manifest_changes)
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (folder / "manifest.json").write_bytes(data)
    (folder / "manifest.json.sig").write_bytes(sign(data, key) + b"\n")


def copy_artifact(info: ArtifactInfo, dest: Path) -> Path:
    """A private copy of an artifact folder to tamper with."""
    target = dest / info.version
    shutil.copytree(info.path, target)
    return target


def clean_row(seed: int = 11) -> npt.NDArray[np.float64]:
    """One synthetic feature row with no missing value."""
    X, _ = synthetic_features(100, seed)
    return X[~np.isnan(X).any(axis=1)][0]


def rows(n: int = 300, seed: int = 11) -> npt.NDArray[np.float64]:
    """Synthetic rows: the first 20 without camera, the next 20 without SCD41."""
    X, _ = synthetic_features(n, seed)
    X[:20, :12] = np.nan
    X[20:40, 12:] = np.nan
    return X


@dataclass(frozen=True)
class Kit:
    """Two signed models (A, B) with the key that signed them and its public key file."""

    key: Ed25519PrivateKey
    public_key: Path
    pipelines_a: dict[str, Any]
    pipelines_b: dict[str, Any]
    a: ArtifactInfo
    b: ArtifactInfo
    root: Path


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    """Models A and B, signed, built once per session (treat as read-only)."""
    root = tmp_path_factory.mktemp("models")
    key = Ed25519PrivateKey.generate()
    pub = root / "model-signing.pub.pem"
    pub.write_bytes(public_key_pem(key))
    pa, pb = fit_pipelines(1), fit_pipelines(2)
    a = build(root / "out", pa, key, version="model-a")
    b = build(root / "out", pb, key, version="model-b")
    return Kit(key, pub, pa, pb, a, b, root)


def train_on_recordings(tmp_path_factory: pytest.TempPathFactory, feature_set: str,
                        families: tuple[str, ...], first_seed: int, duration_s: float
                        ) -> tuple[Path, Path, Path]:
    """A tiny model of ``feature_set`` trained by ``cloud/train.py`` on three short 1-Hz
    recordings of each of ``families`` (so validation and test get one of each), signed with
    a fresh key; returns (its tarball, its public key, the folder of recordings, named
    ``<family>-<i>.npz``)."""
    from cloud.train import main as train
    from edge.recording import save_recording
    from edge.sim.scenarios import render_recording
    from tests.test_train_cli import SMALL

    data = tmp_path_factory.mktemp("recordings")
    for i, name in enumerate(families * 3):
        rec = render_recording(name, first_seed + i, duration_s, frame_rate_hz=1.0)
        save_recording(rec, data / f"{name}-{i}.npz")
    out = tmp_path_factory.mktemp("run") / "models"
    keys = tmp_path_factory.mktemp("keys")
    assert train(["--keygen", str(keys)]) == 0
    status = train(["--data", str(data), "--feature-set", feature_set, "--out", str(out),
                    "--signing-key", str(keys / "model-signing.pem"), "--target-far", "0.01",
                    "--no-holdout-families", *SMALL])
    assert status == 0
    (tarball,) = out.glob("*.tar.gz")
    return tarball, keys / "model-signing.pub.pem", data
