"""ModelHolder: atomic swaps under concurrent scoring, last-known-good cache, rollback."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge.config import ModelConfig
from edge.errors import ModelError, ModelIntegrityError
from edge.model.holder import Model, ModelHolder, load_model
from edge.model.rules import RULES_VERSION
from tests.modelkit import Kit, build, clean_row, copy_artifact, kit, resign, rows

__all__ = ["kit"]


def load_signed(path: Path, kit: Kit) -> Model:
    return load_model(path, public_key=kit.key.public_key())


class TestModelHolder:
    def _holder(self, kit: Kit, state: Path, **cfg: object) -> ModelHolder:
        config = ModelConfig(public_key=kit.public_key, **cfg)  # type: ignore[arg-type]
        return ModelHolder(config, state)

    def test_no_model_uses_rules(self, kit: Kit, tmp_path: Path) -> None:
        """With no model anywhere the rules score, degraded."""
        holder = self._holder(kit, tmp_path)
        assert holder.load_initial() is None
        s = holder.score(np.zeros(18))
        assert s.model_version == RULES_VERSION and s.degraded
        assert holder.status().degraded

    def test_refused_tarball_is_named_as_given(self, kit: Kit, tmp_path: Path) -> None:
        """An install refusal names the .tar.gz given, not the cache's staging folder."""
        holder = ModelHolder(ModelConfig(), tmp_path)  # no public key: the signature refuses
        with pytest.raises(ModelIntegrityError) as err:
            holder.install(kit.a.tarball)
        assert str(err.value).startswith(f"{kit.a.tarball}: ")
        assert str(tmp_path / "models") not in str(err.value)
        assert holder.last_error is not None and "staging" not in holder.last_error

    def test_install_persists_and_restarts_offline(self, kit: Kit, tmp_path: Path) -> None:
        """An installed model is the one a fresh holder starts with, from the cache alone."""
        holder = self._holder(kit, tmp_path)
        holder.install(kit.a.tarball)
        holder.install(kit.b.tarball)
        state = json.loads((tmp_path / "models/state.json").read_text())
        assert state["current"] == "model-b" and state["previous"] == "model-a"
        restarted = self._holder(kit, tmp_path)
        assert restarted.load_initial() is not None
        assert restarted.score(rows()[60]).model_version == "model-b"

    def test_cache_prunes_to_current_and_previous(self, kit: Kit, tmp_path: Path) -> None:
        """Only the current and previous versions stay on disk."""
        holder = self._holder(kit, tmp_path)
        c = build(tmp_path / "out", kit.pipelines_a, kit.key, version="model-c")
        for info in (kit.a, kit.b, c):
            holder.install(info.tarball)
        kept = {p.name for p in (tmp_path / "models").iterdir() if p.is_dir()}
        assert kept == {"model-b", "model-c"}

    def test_tampered_cache_falls_back_to_previous(self, kit: Kit, tmp_path: Path) -> None:
        """A cached current model that no longer verifies is skipped for the previous one."""
        holder = self._holder(kit, tmp_path)
        holder.install(kit.a.tarball)
        holder.install(kit.b.tarball)
        (tmp_path / "models/model-b/golden.json").write_text("{}")
        restarted = self._holder(kit, tmp_path)
        model = restarted.load_initial()
        assert model is not None and model.version == "model-a"
        assert "model-b" in (restarted.last_error or "")

    def test_configured_path_is_installed_when_newer(self, kit: Kit, tmp_path: Path) -> None:
        """config.path with a newer model than the cache is used and cached."""
        self._holder(kit, tmp_path).install(kit.a.tarball)
        newer = copy_artifact(kit.b, tmp_path / "cfg")
        resign(newer, kit.key, version="model-z", created="2099-01-01T00:00:00Z")
        holder = self._holder(kit, tmp_path, path=newer)
        model = holder.load_initial()
        assert model is not None and model.version == "model-z"
        assert json.loads((tmp_path / "models/state.json").read_text())["current"] == "model-z"

    def test_configured_path_older_than_cache_is_not_used(
        self, kit: Kit, tmp_path: Path
    ) -> None:
        """A cached model newer than config.path (an S3 update) survives a restart."""
        older = copy_artifact(kit.a, tmp_path / "cfg")
        resign(older, kit.key, version="model-old", created="2000-01-01T00:00:00Z")
        self._holder(kit, tmp_path).install(kit.b.tarball)
        holder = self._holder(kit, tmp_path, path=older)
        model = holder.load_initial()
        assert model is not None and model.version == "model-b"

    def test_status_reports_versions(self, kit: Kit, tmp_path: Path) -> None:
        """status() names the model in use and the previous one."""
        holder = self._holder(kit, tmp_path)
        assert holder.status().version is None and holder.status().degraded
        holder.install(kit.a.tarball)
        holder.install(kit.b.tarball)
        st = holder.status()
        assert (st.version, st.previous_version, st.degraded) == ("model-b", "model-a", False)

    def test_unsigned_install_needs_allow_unsigned(self, kit: Kit, tmp_path: Path) -> None:
        """An unsigned artifact installs only when model.allow_unsigned is set."""
        info = build(tmp_path / "out", kit.pipelines_a, None, version="model-u")
        with pytest.raises(ModelIntegrityError, match="unsigned"):
            self._holder(kit, tmp_path / "s1").install(info.tarball)
        holder = self._holder(kit, tmp_path / "s2", allow_unsigned=True)
        assert holder.install(info.tarball).version == "model-u"

    def test_failed_install_keeps_running_model(self, kit: Kit, tmp_path: Path) -> None:
        """A model refused on install leaves the running one in place, with the reason."""
        holder = self._holder(kit, tmp_path)
        holder.install(kit.a.tarball)
        folder = copy_artifact(kit.b, tmp_path / "bad")
        (folder / "members/lr.onnx").write_bytes(b"junk")
        with pytest.raises(ModelIntegrityError):
            holder.install(folder)
        assert holder.model is not None and holder.model.version == "model-a"
        assert "lr.onnx" in (holder.last_error or "")
        assert json.loads((tmp_path / "models/state.json").read_text())["current"] == "model-a"

    def test_swap_is_atomic_under_concurrent_scoring(self, kit: Kit, tmp_path: Path) -> None:
        """While models swap back and forth, every score comes whole from A or from B."""
        holder = self._holder(kit, tmp_path)
        a, b = load_signed(kit.a.path, kit), load_signed(kit.b.path, kit)
        x = rows()[70]
        expect = {m.version: m.score(x).members for m in (a, b)}
        holder.swap(a)
        stop, errors, seen, count = threading.Event(), [], set(), [0]

        def scorer() -> None:
            try:
                while not stop.is_set():
                    s = holder.score(x)
                    assert s.members == expect[s.model_version]
                    seen.add(s.model_version)
                    count[0] += 1
            except Exception as exc:  # reported to the main thread below
                errors.append(exc)

        threads = [threading.Thread(target=scorer) for _ in range(2)]
        for t in threads:
            t.start()
        deadline, i = time.monotonic() + 10.0, 0
        while time.monotonic() < deadline and (len(seen) < 2 or count[0] < 400) and not errors:
            holder.swap(b if i % 2 == 0 else a)
            i += 1
            time.sleep(0.0005)
        stop.set()
        for t in threads:
            t.join()
        assert errors == [] and seen == {"model-a", "model-b"}

    def test_model_failing_at_runtime_rolls_back(
        self, kit: Kit, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A model that raises while scoring is replaced by the previous one, reported."""
        holder = self._holder(kit, tmp_path)
        holder.install(kit.a.tarball)
        holder.install(kit.b.tarball)
        broken = holder.model
        assert broken is not None

        class Boom:
            def proba(self, X: np.ndarray) -> dict[str, np.ndarray]:
                raise RuntimeError("onnxruntime exploded")

        broken.ensemble = Boom()
        with caplog.at_level(logging.ERROR, logger="edge.model.holder"):
            s = holder.score(clean_row())
        assert s.model_version == "model-a" and not s.degraded
        assert holder.is_rejected("model-b")
        assert "onnxruntime exploded" in (holder.last_error or "")
        assert "rolled back to model-a" in caplog.text
        state = json.loads((tmp_path / "models/state.json").read_text())
        assert state["current"] == "model-a" and "model-b" in state["rejected"]

    def test_rollback_on_a_read_only_state_folder_keeps_scoring(
        self, kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A failing model is rolled back in memory even when state.json cannot be written."""
        import errno

        holder = self._holder(kit, tmp_path)
        holder.install(kit.a.tarball)
        holder.install(kit.b.tarball)
        broken = holder.model
        assert broken is not None and holder.cache is not None

        class Boom:
            def proba(self, X: np.ndarray) -> dict[str, np.ndarray]:
                raise RuntimeError("onnxruntime exploded")

        def read_only(state: object) -> None:
            raise OSError(errno.EROFS, "Read-only file system")

        broken.ensemble = Boom()
        monkeypatch.setattr(holder.cache, "write_state", read_only)
        s = holder.score(clean_row())
        assert s.model_version == "model-a" and holder.is_rejected("model-b")
        assert "cannot be written" in (holder.last_error or "")

    def test_rollback_with_nothing_left_uses_rules(self, kit: Kit, tmp_path: Path) -> None:
        """A failing only model falls back to the rules rather than raising."""
        holder = self._holder(kit, tmp_path)
        model = holder.install(kit.a.tarball)

        class NaNEnsemble:
            def proba(self, X: np.ndarray) -> dict[str, np.ndarray]:
                return {n: np.full(X.shape[0], np.nan) for n in ("rf", "gb", "lr")}

        model.ensemble = NaNEnsemble()
        s = holder.score(np.zeros(18))
        assert s.model_version == RULES_VERSION and holder.model is None

    def test_unreadable_public_key_is_reported(self, kit: Kit, tmp_path: Path) -> None:
        """A missing key file refuses models with the file named, and rules keep scoring."""
        holder = ModelHolder(ModelConfig(public_key=tmp_path / "nope.pem"), tmp_path)
        with pytest.raises(ModelError, match=r"nope.pem"):
            holder.install(kit.a.tarball)
        assert holder.score(np.zeros(18)).model_version == RULES_VERSION
