"""The demo model that `./bootstrap.sh run` uses stays loadable by the device code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.config import load_config
from edge.features import N_FEATURES
from edge.model.holder import load_model
from edge.model.verify import load_public_key
from edge.recording import save_recording
from edge.sim.scenarios import render_recording

ROOT = Path(__file__).resolve().parent.parent


class TestDemoModel:
    def test_verifies_self_tests_and_scores(self) -> None:
        """The shipped model passes signature, hashes, feature set and golden self-test."""
        config = load_config(ROOT / "demo" / "config.toml")
        assert config.model.path is not None and config.model.public_key is not None
        model = load_model(
            ROOT / config.model.path, public_key=load_public_key(ROOT / config.model.public_key)
        )
        # The demo model learns fd-v5 (the 18, then history, minutes of it, its acceleration
        # and the camera's ceiling), calibrated (issue 14).
        assert model.manifest["feature_set"]["name"] == "fd-v5"
        assert model.manifest.get("calibration") is not None
        seed = [21.0, 0.5, 23.0, 22.0] + [0.0] * 8 + [21.0, 0.0, 0.0, 450.0, 0.0, 0.0]
        assert len(seed) == N_FEATURES
        quiet = np.array(seed + [0.0] * (len(model.feature_names) - N_FEATURES))
        score = model.score(quiet)
        assert 0.0 <= score.probability < score.threshold
        assert set(score.members) == {"rf", "gb", "lr"}

    def test_detects_a_simulated_fire_in_replay(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`firedetect replay --config demo/config.toml` alarms on a grease fire after ignition."""
        rec = render_recording("kitchen_grease_fire", seed=1, duration_s=400.0, frame_rate_hz=2.0)
        fire_start = rec.fire_start_s
        assert fire_start is not None
        path = save_recording(rec, tmp_path / "fire.npz")
        monkeypatch.chdir(ROOT)  # the demo config's paths are relative to the repository
        assert main(["replay", str(path), "--config", "demo/config.toml"]) == 0
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        alarms = [e for e in events if e["event"] == "alarm"]
        assert alarms, f"no alarm in {events}"
        assert fire_start <= alarms[0]["t"] <= fire_start + 120.0

    @pytest.mark.parametrize("seed", [1000, 1006])
    def test_smoulder_in_view_alarms_and_stays_alarmed(
        self, seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A smouldering seat in view (training-side seeds) alarms on the smoulder watch and the
        alarm is not cleared while the seat still smoulders in view."""
        rec = render_recording("smoulder_in_view", seed=seed, duration_s=1200.0,
                               frame_rate_hz=1.0)
        assert rec.fire_start_s is not None
        path = save_recording(rec, tmp_path / "smoulder.npz")
        monkeypatch.chdir(ROOT)
        assert main(["replay", str(path), "--config", "demo/config.toml"]) == 0
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        alarms = [e for e in events if e["event"] == "alarm"]
        assert alarms and alarms[0]["t"] >= rec.fire_start_s, f"no alarm in {events}"
        assert not [e for e in events if e["event"] == "clear"], events
