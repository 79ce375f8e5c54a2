"""Models of feature set fd-v2 end to end: trained by cloud/train.py from recordings, verified
and loaded by the device, replayed; seed-v1 models keep scoring the fd-v2 extractor's prefix;
unknown sets are refused by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cloud.train import main as train
from edge.config.model import ModelConfig
from edge.features import FEATURE_SETS, FeatureExtractor, FeatureParams
from edge.model.holder import ModelHolder, load_model
from edge.model.rules import RULES_VERSION
from edge.model.verify import load_public_key
from edge.recording import load_recording
from edge.types import ThermalFrame
from tests.modelkit import train_on_recordings
from tests.test_features import make_recording, stream
from tests.test_train_cli import SMALL, write_json_groups

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = ROOT / "tests" / "data" / "seed-v1-model" / "20261129T000800Z-7e67e658.tar.gz"
DEMO_KEY = ROOT / "tests" / "data" / "seed-v1-model" / "model-signing.pub.pem"
FAMILIES = ("fast_flaming", "kitchen_grease_fire", "occupancy", "gas_cooking")


@pytest.fixture(scope="module")
def fdv2_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A tiny fd-v2 model trained on short simulated recordings of four families (three runs
    each, so validation and test get one of each); returns (its tarball, its public key, a
    fire recording)."""
    tarball, key, data = train_on_recordings(tmp_path_factory, "fd-v2", FAMILIES, 11, 330.0)
    return tarball, key, data / "fast_flaming-0.npz"


class TestTrainedFdV2Model:
    def test_manifest_names_the_set(self, fdv2_run: tuple[Path, Path, Path]) -> None:
        """The artifact's manifest names fd-v2, its 33 features and its parameters."""
        tarball, _, _ = fdv2_run
        folder = tarball.parent / tarball.name.removesuffix(".tar.gz")
        fs = json.loads((folder / "manifest.json").read_text())["feature_set"]
        assert fs["name"] == "fd-v2"
        assert fs["names"] == list(FEATURE_SETS["fd-v2"])
        assert fs["params"] == FeatureParams().as_dict("fd-v2")

    def test_device_loads_and_scores(self, fdv2_run: tuple[Path, Path, Path]) -> None:
        """Verified and held by the device, the model scores the extractor's vectors and its
        top features are fd-v2 names."""
        tarball, pub, fire = fdv2_run
        holder = ModelHolder(ModelConfig(public_key=pub))
        holder.swap(holder.load(tarball))
        _, x = stream(load_recording(fire), feature_set="fd-v2")
        scores = [holder.score(row) for row in x]
        assert all(s.model_version != RULES_VERSION for s in scores)
        assert all(0.0 <= s.probability <= 1.0 for s in scores)
        names = {n for row in x[::5] for n, _ in holder.explain(row).top_features}
        assert names <= set(FEATURE_SETS["fd-v2"])
        assert names - set(FEATURE_SETS["seed-v1"])  # the history features are used

    def test_replay_with_the_model(self, fdv2_run: tuple[Path, Path, Path]) -> None:
        """`firedetect replay --model <fd-v2 tarball>` runs the recording through it."""
        tarball, pub, fire = fdv2_run
        done = subprocess.run(
            [sys.executable, "-m", "edge.cli", "replay", str(fire), "--model", str(tarball),
             "--public-key", str(pub)],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        assert "refused" not in done.stderr and "rule fallback" not in done.stderr


    def test_gas_only_score_blanks_the_camera_history(
        self, fdv2_run: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The watches' gas-only score hides every camera column, fd-v2's history included."""
        from edge.config import Config
        from edge.detect.pipeline import build_pipeline

        tarball, pub, fire = fdv2_run
        holder = ModelHolder(ModelConfig(public_key=pub))
        holder.swap(holder.load(tarball))
        pipeline = build_pipeline(Config(), holder)
        _, x = stream(load_recording(fire), feature_set="fd-v2")
        seen: list[np.ndarray] = []
        real = holder.score
        monkeypatch.setattr(holder, "score", lambda v: seen.append(np.array(v)) or real(v))
        pipeline._gas_only(x[-1])
        (blind,) = seen
        camera = list(range(12)) + list(range(18, 26))
        assert np.isnan(blind[camera]).all()
        np.testing.assert_array_equal(np.delete(blind, camera), np.delete(x[-1], camera))


class TestSeedModelsKeepWorking:
    def test_demo_model_scores_the_prefix(self) -> None:
        """The seed-v1 demo model scores an fd-v2 vector exactly as its first 18 numbers."""
        model = load_model(DEMO_MODEL, public_key=load_public_key(DEMO_KEY))
        _, x = stream(make_recording(duration_s=20.0), feature_set="fd-v2")
        for row in x[::25]:
            full, prefix = model.explain(row), model.explain(row[:18])
            assert full.probability == prefix.probability
            assert full.top_features == prefix.top_features
            assert {n for n, _ in full.top_features} <= set(FEATURE_SETS["seed-v1"])

    def test_rule_fallback_reads_the_prefix(self) -> None:
        """With no model the rule fallback scores the fd-v2 vector's seed-v1 prefix."""
        from edge.model.rules import rule_score

        rec = make_recording(duration_s=1.0)
        x = FeatureExtractor().add_frame(ThermalFrame(t=0.0, pixels=rec.frames[0]))
        assert rule_score(x).probability == rule_score(x[:18]).probability

    def test_short_vector_is_refused(self) -> None:
        """A vector shorter than the model's feature set is a ValueError naming the shape."""
        model = load_model(DEMO_MODEL, public_key=load_public_key(DEMO_KEY))
        with pytest.raises(ValueError, match="shape"):
            model.score(np.zeros(17))


def test_json_samples_refused_for_fd_v2(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    """Training fd-v2 from the seed's JSON samples fails clearly, naming the file and set."""
    data = write_json_groups(tmp_path / "json", n_files=2, rows=20)
    status = train(["--data", str(data), "--feature-set", "fd-v2", "--strict", "--unsigned",
                    "--out", str(tmp_path / "m"), *SMALL])
    assert status == 2
    err = capsys.readouterr().err
    assert "flir_scd41_data_0.json" in err and "'fd-v2'" in err and "seed-v1" in err


def test_fd_v2_model_scores_the_fd_v3_prefix(fdv2_run: tuple[Path, Path, Path]) -> None:
    """An fd-v2 model scores the fd-v3 extractor's vector exactly as its first 33 numbers."""
    tarball, pub, fire = fdv2_run
    holder = ModelHolder(ModelConfig(public_key=pub))
    holder.swap(holder.load(tarball))
    _, x = stream(load_recording(fire), feature_set="fd-v3")
    for row in x[::20]:
        full, prefix = holder.explain(row), holder.explain(row[:33])
        assert full.probability == prefix.probability
        assert full.top_features == prefix.top_features
