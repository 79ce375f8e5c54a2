"""On-device model loading: verification, safe extraction, backends, scoring."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
import pickle
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.artifact.signing import public_key_pem
from edge.errors import (
    ModelCompatibilityError,
    ModelIntegrityError,
    ModelSelfTestError,
)
from edge.features import FEATURE_NAMES, FEATURE_SETS, FeatureParams
from edge.model.holder import Model, load_model
from edge.model.runtime import JoblibMember, MemberEnsemble
from tests.modelkit import (
    IDX,
    Kit,
    build,
    clean_row,
    copy_artifact,
    kit,
    resign,
    rows,
    synthetic_features,
)

__all__ = ["kit"]


def _load(path: Path, kit: Kit, **kw: object) -> Model:
    return load_model(path, public_key=kit.key.public_key(), **kw)  # type: ignore[arg-type]


class _Marker:
    """Unpickling this creates a file: proof that a pickle was (not) loaded."""

    path = ""

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (Path(self.path), "unpickled"))  # type: ignore[return-value]


class TestVerification:
    def test_tarball_error_names_the_archive_not_a_temporary_folder(self, kit: Kit) -> None:
        """A refused .tar.gz is named as given, not by the folder it was unpacked into."""
        with pytest.raises(ModelIntegrityError) as err:
            load_model(kit.a.tarball, public_key=None)
        assert str(err.value).startswith(f"{kit.a.tarball}: ")
        assert "firedetect-model-" not in str(err.value)

    def test_good_model_loads_from_folder_and_tarball(self, kit: Kit) -> None:
        """A signed, intact artifact loads from its folder and from its .tar.gz alike."""
        a, b = _load(kit.a.path, kit), _load(kit.a.tarball, kit)
        assert a.version == b.version == "model-a" and a.threshold == 0.5
        X = rows()
        assert np.array_equal(a.score_batch(X)[0], b.score_batch(X)[0])

    def test_changed_file_is_refused_by_name(self, kit: Kit, tmp_path: Path) -> None:
        """One changed byte in a member file refuses the model, naming the file."""
        folder = copy_artifact(kit.a, tmp_path)
        data = bytearray((folder / "members/gb.onnx").read_bytes())
        data[-1] ^= 0x01
        (folder / "members/gb.onnx").write_bytes(bytes(data))
        with pytest.raises(ModelIntegrityError, match=r"members/gb\.onnx.*SHA-256"):
            _load(folder, kit)

    def test_malicious_pickle_is_never_unpickled(self, kit: Kit, tmp_path: Path) -> None:
        """A swapped joblib file is refused by its hash before anything is deserialised."""
        folder = copy_artifact(kit.a, tmp_path)
        marker = tmp_path / "pwned"
        _Marker.path = str(marker)
        (folder / "members/rf.joblib").write_bytes(pickle.dumps(_Marker()))
        for backend in ("joblib", "onnx"):
            with pytest.raises(ModelIntegrityError, match=r"rf.joblib"):
                _load(folder, kit, backend=backend)
        assert not marker.exists()

    def test_missing_file_is_refused(self, kit: Kit, tmp_path: Path) -> None:
        """A listed file that is absent refuses the model."""
        folder = copy_artifact(kit.a, tmp_path)
        (folder / "golden.json").unlink()
        with pytest.raises(ModelIntegrityError, match=r"'golden.json' is missing"):
            _load(folder, kit)

    def test_unlisted_file_is_refused(self, kit: Kit, tmp_path: Path) -> None:
        """A file the manifest does not list refuses the model."""
        folder = copy_artifact(kit.a, tmp_path)
        (folder / "members/extra.joblib").write_bytes(b"x")
        with pytest.raises(ModelIntegrityError, match="not listed"):
            _load(folder, kit)

    def test_edited_manifest_fails_the_signature(self, kit: Kit, tmp_path: Path) -> None:
        """Changing the manifest (here a weight) breaks its signature."""
        folder = copy_artifact(kit.a, tmp_path)
        m = json.loads((folder / "manifest.json").read_bytes())
        m["members"]["lr"]["weight"], m["members"]["rf"]["weight"] = 0.5, 0.2
        (folder / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
        with pytest.raises(ModelIntegrityError, match="does not verify"):
            _load(folder, kit)

    def test_other_signer_is_refused(self, kit: Kit, tmp_path: Path) -> None:
        """A model signed with another key does not verify against the device's key."""
        folder = copy_artifact(kit.a, tmp_path)
        resign(folder, Ed25519PrivateKey.generate())
        with pytest.raises(ModelIntegrityError, match="does not verify"):
            _load(folder, kit)

    def test_unsigned_refused_unless_allowed(self, kit: Kit, tmp_path: Path) -> None:
        """Without a signature the model is refused; allow_unsigned lets it through."""
        folder = copy_artifact(kit.a, tmp_path)
        (folder / "manifest.json.sig").unlink()
        with pytest.raises(ModelIntegrityError, match="unsigned models are refused"):
            _load(folder, kit)
        assert _load(folder, kit, allow_unsigned=True).version == "model-a"

    def test_no_public_key_refuses(self, kit: Kit) -> None:
        """A signed model cannot be accepted when the device has no key to check it with."""
        with pytest.raises(ModelIntegrityError, match=r"no model.public_key"):
            load_model(kit.a.path, public_key=None)

    def test_other_feature_set_is_refused(self, kit: Kit, tmp_path: Path) -> None:
        """A model trained on another feature set is incompatible."""
        info = build(tmp_path, kit.pipelines_a, kit.key, version="fs", feature_set="seed-v2")
        with pytest.raises(ModelCompatibilityError, match="'seed-v2'"):
            _load(info.path, kit)

    def test_unknown_feature_set_names_the_known_ones(self, kit: Kit, tmp_path: Path) -> None:
        """The refusal of an unknown set names it and the sets this device computes."""
        info = build(tmp_path, kit.pipelines_a, kit.key, version="fs", feature_set="fd-v9")
        with pytest.raises(ModelCompatibilityError,
                           match=r"'fd-v9', which this device does not.*"
                                 r"allowed: fd-v2, fd-v3, fd-v4, fd-v5, fd-v6, seed-v1"):
            _load(info.path, kit)

    def test_fd_v2_names_must_match_the_registry(self, kit: Kit, tmp_path: Path) -> None:
        """A model claiming fd-v2 with the seed-v1 names is refused (names or order)."""
        params = FeatureParams().as_dict("fd-v2")
        info = build(tmp_path, kit.pipelines_a, kit.key, version="fs", feature_set="fd-v2",
                     feature_params=params)
        with pytest.raises(ModelCompatibilityError, match="fd-v2 features"):
            _load(info.path, kit)

    def test_fd_v2_model_with_seed_params_is_refused(self, kit: Kit, tmp_path: Path) -> None:
        """An fd-v2 manifest without the scene-memory parameters is refused, naming them."""
        folder = copy_artifact(kit.a, tmp_path)
        m = json.loads((folder / "manifest.json").read_bytes())
        m["feature_set"] = {"name": "fd-v2", "names": list(FEATURE_SETS["fd-v2"]),
                            "params": FeatureParams().as_dict("seed-v1")}
        (folder / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
        resign(folder, kit.key)
        with pytest.raises(ModelCompatibilityError, match="scene_memory_s"):
            _load(folder, kit)

    def test_flame_bar_travels_in_the_manifest(self, kit: Kit, tmp_path: Path) -> None:
        """The flame corroboration bar training chose reaches the device with the model; a
        model without one says None."""
        info = build(tmp_path, kit.pipelines_a, kit.key, version="fb", flame_min_score=0.72)
        assert _load(info.path, kit).flame_min_score == pytest.approx(0.72)
        assert _load(kit.a.path, kit).flame_min_score is None

    def test_flame_ladder_travels_in_the_manifest(self, kit: Kit, tmp_path: Path) -> None:
        """The flame ladder training chose reaches the device with the model, as (seconds,
        score) rungs; a model without one has none; the writer refuses a ladder that does not
        fall, or one without a flame bar."""
        info = build(tmp_path, kit.pipelines_a, kit.key, version="fl", flame_min_score=0.9,
                     flame_ladder=((6.0, 0.56), (10.0, 0.46)))
        assert _load(info.path, kit).flame_ladder == ((6.0, 0.56), (10.0, 0.46))
        assert _load(kit.a.path, kit).flame_ladder == ()
        for n, (top, ladder) in enumerate(((0.9, ((6.0, 0.5), (10.0, 0.6))),
                                           (0.4, ((6.0, 0.5),)), (None, ((6.0, 0.5),)),
                                           (0.9, ((0.0, 0.5),)))):
            with pytest.raises(ValueError, match=r"flame_ladder .*allowed: a list of 1 to 8"):
                build(tmp_path, kit.pipelines_a, kit.key, version=f"fl-bad-{n}",
                      flame_min_score=top, flame_ladder=ladder)

    def test_hold_travels_in_the_manifest(self, kit: Kit, tmp_path: Path) -> None:
        """The sustained alarm's bar and time training chose reach the device with the model,
        beside the flame bar; a model without them says None."""
        info = build(tmp_path, kit.pipelines_a, kit.key, version="hb", flame_min_score=0.72,
                     hold=(0.71, 300.0))
        m = _load(info.path, kit)
        assert m.hold == (pytest.approx(0.71), 300.0)
        assert m.flame_min_score == pytest.approx(0.72)
        assert _load(kit.a.path, kit).hold is None
        folder = copy_artifact(kit.a, tmp_path)
        resign(folder, kit.key, detection={"hold_min_score": 0.6, "hold_s": 1})
        assert _load(folder, kit).hold == (0.6, 1.0)

    def test_smoulder_bar_travels_in_the_manifest(self, kit: Kit, tmp_path: Path) -> None:
        """The smoulder corroboration bar training chose reaches the device with the model,
        beside the others; a model without one says None."""
        info = build(tmp_path, kit.pipelines_a, kit.key, version="sb", flame_min_score=0.72,
                     hold=(0.71, 300.0), smoulder_min_score=0.09,
                     smoulder_early=(3, 0.83))
        m = _load(info.path, kit)
        assert m.smoulder_min_score == pytest.approx(0.09)
        assert m.smoulder_early == (3, pytest.approx(0.83))
        assert _load(kit.a.path, kit).smoulder_early is None
        for n, (key, value, says) in enumerate((
                ("smoulder_min_score", 1.5, "smoulder_min_score 1.5; allowed: 0 ≤"),
                ("smoulder_early", (3, 1.5), "smoulder_early score 1.5; allowed: 0 ≤"),
                ("smoulder_early", (1, 0.8), "smoulder_early steps 1; allowed: a whole"),
                ("smoulder_early", (2.5, 0.8), "smoulder_early steps 2.5; allowed: a whole"))):
            with pytest.raises(ValueError, match=says):
                build(tmp_path, kit.pipelines_a, kit.key, version=f"bad-{n}", **{key: value})
        assert m.flame_min_score == pytest.approx(0.72) and m.hold is not None
        assert _load(kit.a.path, kit).smoulder_min_score is None
        folder = copy_artifact(kit.a, tmp_path)
        resign(folder, kit.key, detection={"smoulder_min_score": 0})
        assert _load(folder, kit).smoulder_min_score == 0.0

    def test_gas_bar_travels_in_the_manifest(self, kit: Kit, tmp_path: Path) -> None:
        """The gas watch's bar training chose reaches the device with the model; a model
        without one says None (the gas watch is off); out of range, the writer refuses it."""
        info = build(tmp_path, kit.pipelines_a, kit.key, version="gb", gas_min_score=0.81)
        assert _load(info.path, kit).gas_min_score == pytest.approx(0.81)
        assert _load(kit.a.path, kit).gas_min_score is None
        with pytest.raises(ValueError, match=r"gas_min_score 1\.2; allowed: 0 ≤"):
            build(tmp_path, kit.pipelines_a, kit.key, version="gb-bad", gas_min_score=1.2)

    @pytest.mark.parametrize("detection", [{"flame_min_score": 1.5}, {"flame_min_score": "x"},
                                           {"gas_min_score": 1.5}, {"gas_min_score": -0.2},
                                           {"gas_min_score": True},
                                           {"flame_min_score": True}, {"other": 1}, [0.5],
                                           {"hold_min_score": 0.7},
                                           {"hold_s": 300},
                                           {"hold_min_score": 1.2, "hold_s": 300},
                                           {"hold_min_score": 1.0, "hold_s": 300},
                                           {"hold_min_score": 0, "hold_s": 300},
                                           {"hold_min_score": 0.7, "hold_s": 0},
                                           {"hold_min_score": 0.7, "hold_s": 7200},
                                           {"hold_min_score": 0.7, "hold_s": "5 min"},
                                           {"smoulder_min_score": -0.1},
                                           {"smoulder_min_score": 1.01},
                                           {"smoulder_min_score": False},
                                           {"smoulder_min_score": "low"},
                                           {"smoulder_early_min_score": 1.2,
                                            "smoulder_early_steps": 3},
                                           {"smoulder_early_min_score": 0.8,
                                            "smoulder_early_steps": 2.5},
                                           {"smoulder_early_min_score": 0.8,
                                            "smoulder_early_steps": 60},
                                           {"smoulder_early_min_score": 0.8},
                                           {"smoulder_early_steps": 3},
                                           {"flame_ladder": [[6, 0.5]]},
                                           {"flame_min_score": 0.9, "flame_ladder": []},
                                           {"flame_min_score": 0.9, "flame_ladder": [[6, 0.95]]},
                                           {"flame_min_score": 0.9,
                                            "flame_ladder": [[6, 0.5], [4, 0.4]]},
                                           {"flame_min_score": 0.9,
                                            "flame_ladder": [[6, 0.5], [8, 0.5]]},
                                           {"flame_min_score": 0.9, "flame_ladder": [[6]]},
                                           {"flame_min_score": 0.9,
                                            "flame_ladder": [[6, "low"]]},
                                           {"flame_min_score": 0.9,
                                            "flame_ladder": [[True, 0.5]]},
                                           {"flame_min_score": 0.9,
                                            "flame_ladder": [[601, 0.5]]},
                                           {"flame_min_score": 0.9,
                                            "flame_ladder": {"6": 0.5}}])
    def test_bad_flame_bar_is_refused(self, kit: Kit, tmp_path: Path,
                                      detection: object) -> None:
        """A manifest's detection field outside {flame_min_score: 0…1} refuses the model,
        naming the field and what is allowed."""
        folder = copy_artifact(kit.a, tmp_path)
        resign(folder, kit.key, detection=detection)
        with pytest.raises(ModelCompatibilityError, match=r"'detection.*allowed"):
            _load(folder, kit)

    def test_other_feature_params_are_refused(self, kit: Kit, tmp_path: Path) -> None:
        """A different hot threshold is a different feature set: refused, naming the param."""
        params = {**FeatureParams().as_dict(), "hot_threshold_c": 40.0}
        info = build(tmp_path, kit.pipelines_a, kit.key, version="fp", feature_params=params)
        with pytest.raises(ModelCompatibilityError, match="hot_threshold_c"):
            _load(info.path, kit)

    def test_reordered_feature_names_are_refused(self, kit: Kit, tmp_path: Path) -> None:
        """Same names in another order is incompatible."""
        folder = copy_artifact(kit.a, tmp_path)
        names = list(FEATURE_NAMES)
        names[0], names[1] = names[1], names[0]
        fs = {"name": "seed-v1", "names": names, "params": FeatureParams().as_dict()}
        resign(folder, kit.key, feature_set=fs)
        with pytest.raises(ModelCompatibilityError, match="names or order"):
            _load(folder, kit)

    def test_failing_golden_is_a_self_test_error(self, kit: Kit, tmp_path: Path) -> None:
        """A validly signed model whose golden scores are off by 1e-4 fails its self-test."""
        folder = copy_artifact(kit.a, tmp_path)
        golden = json.loads((folder / "golden.json").read_bytes())
        golden["members"]["gb"][3] += 1e-4
        (folder / "golden.json").write_text(json.dumps(golden))
        resign(folder, kit.key)
        with pytest.raises(ModelSelfTestError, match=r"gb scores .* golden row 3"):
            _load(folder, kit)


def _tar_with(path: Path, entries: list[tarfile.TarInfo], data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in entries:
            if info.isfile():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


class TestTarballExtraction:
    @pytest.mark.parametrize(
        ("name", "kind", "match"),
        [
            ("v/../../evil", tarfile.REGTYPE, "unsafe path"),
            ("/etc/evil", tarfile.REGTYPE, "unsafe path"),
            ("v/link", tarfile.SYMTYPE, "link or special"),
            ("v/hard", tarfile.LNKTYPE, "link or special"),
        ],
    )
    def test_unsafe_entries_are_refused(
        self, kit: Kit, tmp_path: Path, name: str, kind: bytes, match: str
    ) -> None:
        """Archives with escaping paths or links are refused before anything is used."""
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = "/etc/passwd"
        bad = _tar_with(tmp_path / "bad.tar.gz", [tarfile.TarInfo("v/manifest.json"), info])
        with pytest.raises(ModelIntegrityError, match=match):
            _load(bad, kit)
        assert not (tmp_path.parent / "evil").exists()

    def test_unpacked_size_is_bounded(self, kit: Kit, tmp_path: Path) -> None:
        """An archive unpacking to more than the limit is refused (no decompression bomb)."""
        from edge.model.verify import extract_tarball

        with pytest.raises(ModelIntegrityError, match="more than 10000 bytes"):
            extract_tarball(kit.a.tarball, tmp_path / "x", max_bytes=10_000)

    def test_many_entries_are_refused_at_the_first_past_the_limit(self, tmp_path: Path) -> None:
        """A .tar.gz of 300,000 entries is refused naming the limit, without reading them all."""
        import gzip
        import tracemalloc

        from edge.model.verify import MAX_ARTIFACT_FILES, extract_tarball

        entry = tarfile.TarInfo("v/")
        entry.type = tarfile.DIRTYPE
        block = entry.tobuf(format=tarfile.USTAR_FORMAT) * 1000
        bomb = tmp_path / "bomb.tar.gz"
        with gzip.open(bomb, "wb", compresslevel=1) as gz:
            for _ in range(300):
                gz.write(block)
            gz.write(b"\0" * 2 * tarfile.BLOCKSIZE)
        tracemalloc.start()
        try:
            with pytest.raises(ModelIntegrityError, match=f"allowed ≤ {MAX_ARTIFACT_FILES}") as err:
                extract_tarball(bomb, tmp_path / "x")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert f"stopped reading at entry {MAX_ARTIFACT_FILES + 1}" in str(err.value)
        assert peak < 8 * 1024 * 1024  # reading all 300,000 headers took ~240 MB

    def test_oversized_member_is_refused_before_its_data(self, tmp_path: Path) -> None:
        """A file whose header claims more than the per-file limit is refused from the header."""
        from edge.model.verify import MAX_MEMBER_BYTES, extract_tarball

        big = tarfile.TarInfo("v/members/rf.onnx")
        big.size = MAX_MEMBER_BYTES + 1
        path = tmp_path / "big.tar.gz"
        with tarfile.open(path, "w:gz") as tar:  # header only: the data is never written
            tar.fileobj.write(big.tobuf(format=tarfile.GNU_FORMAT))  # type: ignore[union-attr]
        with pytest.raises(ModelIntegrityError, match="per file"):
            extract_tarball(path, tmp_path / "x")
        assert not (tmp_path / "x/v/members/rf.onnx").exists()

    def test_device_and_sparse_entries_are_refused(self, tmp_path: Path) -> None:
        """Character devices, FIFOs and sparse files are special entries, refused by name."""
        from edge.model.verify import extract_tarball

        for kind in (tarfile.CHRTYPE, tarfile.FIFOTYPE, tarfile.GNUTYPE_SPARSE):
            info = tarfile.TarInfo("v/dev")
            info.type = kind
            bad = _tar_with(tmp_path / f"bad-{kind!r}.tar.gz", [info])
            with pytest.raises(ModelIntegrityError, match="'v/dev' is a link or special"):
                extract_tarball(bad, tmp_path / f"x-{kind!r}")

    def test_only_a_kept_copy_is_fsynced(
        self, kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Unpacking for the cache syncs every file; loading an archive once syncs none."""
        from edge.model.verify import extract_tarball

        synced: list[int] = []
        real = os.fsync

        def spy(fd: int) -> None:
            synced.append(fd)
            real(fd)

        monkeypatch.setattr(os, "fsync", spy)
        folder = extract_tarball(kit.a.tarball, tmp_path / "kept")
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert len(synced) == len(files) > 0
        synced.clear()
        assert _load(kit.a.tarball, kit).version == kit.a.version
        assert synced == []

    def test_truncated_tarball_is_refused(self, kit: Kit, tmp_path: Path) -> None:
        """A cut-off .tar.gz is an integrity error, not a crash."""
        cut = tmp_path / "cut.tar.gz"
        cut.write_bytes(kit.a.tarball.read_bytes()[:2000])
        with pytest.raises(ModelIntegrityError, match="not a readable"):
            _load(cut, kit)


class TestBackends:
    def test_all_backends_agree(self, kit: Kit) -> None:
        """Fused ONNX, per-member ONNX and joblib give the same ensemble and member scores to
        1e-5, NaN rows included."""
        models = [_load(kit.a.path, kit, backend=b) for b in ("onnx", "onnx-members", "joblib")]
        assert [m.backend for m in models] == ["onnx-fused", "onnx-members", "joblib"]
        X = rows()
        (p0, m0), *others = [m.score_batch(X) for m in models]
        for p, m in others:
            assert np.max(np.abs(p - p0)) <= 1e-5
            for name in m0:
                assert np.max(np.abs(m[name] - m0[name])) <= 1e-5

    def test_one_vector_scores_like_the_batch(self, kit: Kit) -> None:
        """score(x) gives the ensemble probability of score_batch on that row (float32 sums
        may differ in the last bits with the batch size)."""
        model = _load(kit.a.path, kit)
        X = rows(50)
        batch = model.score_batch(X)[0]
        assert [model.score(x).probability for x in X] == pytest.approx(list(batch), abs=1e-6)

    def test_falls_back_to_joblib_without_onnxruntime(
        self, kit: Kit, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """When onnxruntime cannot be imported the joblib members score, with a warning."""
        monkeypatch.setitem(sys.modules, "onnxruntime", None)
        with caplog.at_level(logging.WARNING, logger="edge.model.runtime"):
            model = _load(kit.a.path, kit)
        assert model.backend == "joblib"
        assert "onnxruntime is not installed" in caplog.text

    def test_joblib_forest_runs_single_threaded(self, kit: Kit) -> None:
        """The RF, trained with n_jobs=-1, scores with n_jobs=1 on the device."""
        model = _load(kit.a.path, kit, backend="joblib")
        assert isinstance(model.ensemble, MemberEnsemble)
        rf = model.ensemble.members["rf"]
        assert isinstance(rf, JoblibMember)
        assert rf.model.steps[-1][1].n_jobs == 1


class TestScore:
    def test_score_fields(self, kit: Kit) -> None:
        """A score carries the ensemble, every member, version, threshold and top features."""
        model = _load(kit.a.path, kit)
        s = model.score(clean_row())
        assert set(s.members) == {"rf", "gb", "lr"}
        expect = 0.5 * s.members["rf"] + 0.3 * s.members["gb"] + 0.2 * s.members["lr"]
        assert s.probability == pytest.approx(expect, abs=1e-6)
        assert all(0.0 <= p <= 1.0 for p in s.members.values())
        assert s.model_version == "model-a" and s.threshold == 0.5 and not s.degraded
        assert s.top_features == []  # every frame: no attribution (explain() has it)

    def test_explain_names_what_moved_the_ensemble(self, kit: Kit) -> None:
        """explain(): the same score, and the three features whose training mean would lower
        the calibrated ensemble score most, each by exactly that much, largest first."""
        model = _load(kit.a.path, kit)
        x = clean_row()
        s, e = model.score(x), model.explain(x)
        assert e.probability == pytest.approx(s.probability, abs=1e-9)
        assert e.members == s.members and e.model_version == s.model_version
        assert len(e.top_features) == 3
        mags = [c for _, c in e.top_features]
        assert mags == sorted(mags, reverse=True) and mags[-1] > 0
        center = np.asarray(kit.a.manifest["attribution"]["center"], dtype=np.float64)
        for name, c in e.top_features:
            i = FEATURE_NAMES.index(name)
            moved = np.asarray(x, dtype=np.float64).copy()
            moved[i] = center[i]
            assert c == pytest.approx(s.probability - model.score(moved).probability, abs=1e-4)
        # no feature left out pushes it toward fire more than the smallest reported
        others = set(FEATURE_NAMES) - {n for n, _ in e.top_features}
        for name in others:
            i = FEATURE_NAMES.index(name)
            moved = np.asarray(x, dtype=np.float64).copy()
            moved[i] = center[i]
            assert s.probability - model.score(moved).probability <= mags[-1] + 1e-4

    def test_explain_without_a_usable_reference_names_nothing(
        self, kit: Kit, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A manifest whose attribution center is not one number per feature (or absent)
        still scores and explains, naming no features, and says so in the log."""
        model = _load(kit.a.path, kit)
        x = clean_row()
        short = dict(model.manifest, attribution={"method": "linear", "center": [0.0] * 5})
        with caplog.at_level(logging.WARNING, logger="edge.model.runtime"):
            bad = dataclasses.replace(model, manifest=short)
        assert "attribution center is not 18 numbers" in caplog.text
        none = dataclasses.replace(model, manifest={k: v for k, v in model.manifest.items()
                                                    if k != "attribution"})
        for m in (bad, none):
            e = m.explain(x)
            assert e.top_features == []
            assert e.probability == pytest.approx(model.score(x).probability, abs=1e-9)

    def test_fire_scores_high_and_names_the_hot_spot(self, kit: Kit) -> None:
        """A clear fire row scores above threshold and a fire feature pushes it up."""
        model = _load(kit.a.path, kit)
        x = np.nanmedian(synthetic_features(400, 4)[0], axis=0)
        x[IDX["t_max"]], x[IDX["gas_vel"]], x[IDX["t_hot_area_pct"]] = 450.0, 700.0, 2.0
        s = model.explain(x)
        assert s.probability > 0.5
        assert s.top_features[0][1] > 0

    def test_nan_inputs_are_degraded_not_errors(self, kit: Kit) -> None:
        """A vector with a missing sensor scores, marked degraded; missing features add 0."""
        model = _load(kit.a.path, kit)
        x = rows()[5]
        assert np.isnan(x[:12]).all()
        s = model.explain(x)
        assert s.degraded and math.isfinite(s.probability)
        assert all(FEATURE_NAMES.index(n) >= 12 for n, c in s.top_features if c != 0)

    def test_wrong_shape_is_a_value_error(self, kit: Kit) -> None:
        """A vector that is not 18 numbers is refused by name."""
        model = _load(kit.a.path, kit)
        with pytest.raises(ValueError, match="shape"):
            model.score(np.zeros(17))


def test_public_key_helper_roundtrip(tmp_path: Path) -> None:
    """The public key PEM written by cloud.artifact.signing is what edge.model.verify reads."""
    from edge.model.verify import load_public_key

    key = Ed25519PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(public_key_pem(key))
    assert load_public_key(tmp_path / "k.pem") == key.public_key()
    shutil.rmtree(tmp_path)
