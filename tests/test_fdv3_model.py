"""An fd-v3 model, trained by cloud/train.py, loads and scores on the device; an fd-v2 model
keeps scoring the fd-v3 extractor's vectors (its prefix)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.config.model import ModelConfig
from edge.features import FEATURE_SETS, FeatureParams
from edge.model.holder import ModelHolder
from edge.model.rules import RULES_VERSION
from edge.recording import load_recording
from tests.modelkit import train_on_recordings
from tests.test_features import stream

FAMILIES = ("fast_flaming", "smoulder_in_view", "occupancy", "gas_cooking")


@pytest.fixture(scope="module")
def fdv3_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A tiny fd-v3 model trained on short simulated recordings of four families (three runs
    each); returns (its tarball, its public key, a fire recording)."""
    tarball, key, data = train_on_recordings(tmp_path_factory, "fd-v3", FAMILIES, 21, 420.0)
    return tarball, key, data / "smoulder_in_view-1.npz"


class TestTrainedFdV3Model:
    def test_manifest_names_the_set(self, fdv3_run: tuple[Path, Path, Path]) -> None:
        """The artifact's manifest names fd-v3, its 41 features and fd-v2's parameters."""
        tarball, _, _ = fdv3_run
        folder = tarball.parent / tarball.name.removesuffix(".tar.gz")
        fs = json.loads((folder / "manifest.json").read_text())["feature_set"]
        assert fs["name"] == "fd-v3"
        assert fs["names"] == list(FEATURE_SETS["fd-v3"])
        assert fs["params"] == FeatureParams().as_dict("fd-v3")

    def test_device_loads_and_scores(self, fdv3_run: tuple[Path, Path, Path]) -> None:
        """Verified and held by the device, the model scores the default extractor's vectors
        (NaN rows included) with probabilities in 0–1."""
        tarball, pub, fire = fdv3_run
        holder = ModelHolder(ModelConfig(public_key=pub))
        holder.swap(holder.load(tarball))
        _, x = stream(load_recording(fire), feature_set="fd-v3")
        assert x.shape[1] == 41
        scores = [holder.score(row) for row in x[::10]]
        assert all(s.model_version != RULES_VERSION for s in scores)
        assert all(0.0 <= s.probability <= 1.0 for s in scores)
        names = {n for row in x[::10] for n, _ in holder.explain(row).top_features}
        assert names <= set(FEATURE_SETS["fd-v3"]) and names

    def test_gas_only_score_blanks_the_long_camera_history(
        self, fdv3_run: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The watches' gas-only score hides every camera column, fd-v3's long thermal history
        included, and keeps the long gas history."""
        from edge.config import Config
        from edge.detect.pipeline import build_pipeline

        tarball, pub, fire = fdv3_run
        holder = ModelHolder(ModelConfig(public_key=pub))
        holder.swap(holder.load(tarball))
        pipeline = build_pipeline(Config(), holder)
        _, x = stream(load_recording(fire), feature_set="fd-v3")
        seen: list[np.ndarray] = []
        real = holder.score
        monkeypatch.setattr(holder, "score", lambda v: seen.append(np.array(v)) or real(v))
        pipeline._gas_only(x[-1])
        (blind,) = seen
        camera = list(range(12)) + list(range(18, 26)) + list(range(33, 39))
        assert np.isnan(blind[camera]).all()
        np.testing.assert_array_equal(np.delete(blind, camera), np.delete(x[-1], camera))


    def test_scores_the_fd_v4_prefix(self, fdv3_run: tuple[Path, Path, Path]) -> None:
        """The model gives the same scores on fd-v4 vectors as on fd-v3 vectors: it scores the
        first 41 columns, so a device computing fd-v4 keeps serving fd-v3 models."""
        tarball, pub, fire = fdv3_run
        holder = ModelHolder(ModelConfig(public_key=pub))
        holder.swap(holder.load(tarball))
        rec = load_recording(fire)
        _, x3 = stream(rec, feature_set="fd-v3")
        _, x4 = stream(rec, feature_set="fd-v4")
        np.testing.assert_array_equal(x4[:, :41], x3)
        for a, b in zip(x3[::7], x4[::7], strict=True):
            assert holder.score(a).probability == holder.score(b).probability


class TestCommandLines:
    def test_train_accepts_fd_v3_and_keeps_the_fd_v2_default(self) -> None:
        """cloud/train.py takes --feature-set fd-v3 (the default for recordings since the
        fd-v3 demo model) and still takes fd-v2."""
        from cloud.training.options import parse

        assert parse(["--simulate", "2", "--feature-set", "fd-v3"]).feature_set == "fd-v3"
        assert parse(["--simulate", "2"]).feature_set == "fd-v3"
        assert parse(["--simulate", "2", "--feature-set", "fd-v2"]).feature_set == "fd-v2"

    def test_cross_eval_accepts_fd_v3(self) -> None:
        """cloud/heldout/cross.py takes --feature-set fd-v3, and the artifact gets fd-v3's 41
        names and fd-v2's parameters; an unknown set is refused by name."""
        from cloud.heldout.cross import build_parser
        from cloud.heldout.xcorpus import feature_set_kwargs

        args = build_parser().parse_args(["--out", "report", "--feature-set", "fd-v3"])
        kw = feature_set_kwargs(args.feature_set)
        assert kw["feature_names"] == FEATURE_SETS["fd-v3"]
        assert kw["feature_params"] == FeatureParams().as_dict("fd-v2")
        with pytest.raises(ValueError, match=r"'fd-v9'.*fd-v3"):
            feature_set_kwargs("fd-v9")
