"""An fd-v4 model, trained by cloud/train.py, loads and scores on the device (an fd-v3 model
scoring the fd-v4 extractor's prefix: tests/test_fdv3_model.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.config.model import ModelConfig
from edge.features import FEATURE_SETS, FeatureParams
from edge.model.holder import ModelHolder
from edge.recording import load_recording
from tests.modelkit import train_on_recordings
from tests.test_features import stream

FAMILIES = ("fast_flaming", "smoulder_in_view", "occupancy", "gas_cooking")


@pytest.fixture(scope="module")
def fdv4_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A tiny fd-v4 model trained on short simulated recordings of four families (three runs
    each); returns (its tarball, its public key, a fire recording)."""
    tarball, key, data = train_on_recordings(tmp_path_factory, "fd-v4", FAMILIES, 31, 420.0)
    return tarball, key, data / "smoulder_in_view-1.npz"


def test_manifest_names_the_set(fdv4_run: tuple[Path, Path, Path]) -> None:
    """The artifact's manifest names fd-v4, its 45 features and fd-v2's parameters."""
    tarball, _, _ = fdv4_run
    folder = tarball.parent / tarball.name.removesuffix(".tar.gz")
    fs = json.loads((folder / "manifest.json").read_text())["feature_set"]
    assert fs["name"] == "fd-v4"
    assert fs["names"] == list(FEATURE_SETS["fd-v4"])
    assert fs["params"] == FeatureParams().as_dict("fd-v4")


def test_device_scores_and_blinds_the_acceleration(
    fdv4_run: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held by the device, the model scores the default extractor's 45-column vectors with
    probabilities in 0–1; the watches' gas-only score hides every camera column, the
    acceleration (42–45) included, and keeps the SCD41's."""
    from edge.config import Config
    from edge.detect.pipeline import build_pipeline

    tarball, pub, fire = fdv4_run
    holder = ModelHolder(ModelConfig(public_key=pub))
    holder.swap(holder.load(tarball))
    _, x = stream(load_recording(fire), feature_set="fd-v4")
    assert x.shape[1] == 45
    assert all(0.0 <= holder.score(row).probability <= 1.0 for row in x[::10])
    pipeline = build_pipeline(Config(), holder)
    seen: list[np.ndarray] = []
    real = holder.score
    monkeypatch.setattr(holder, "score", lambda v: seen.append(np.array(v)) or real(v))
    pipeline._gas_only(x[-1])
    (blind,) = seen
    camera = list(range(12)) + list(range(18, 26)) + list(range(33, 39)) + list(range(41, 45))
    assert np.isnan(blind[camera]).all()
    np.testing.assert_array_equal(np.delete(blind, camera), np.delete(x[-1], camera))
