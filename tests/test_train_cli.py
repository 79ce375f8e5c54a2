"""``python cloud/train.py``: options, key handling, end-to-end runs, report, upload."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import boto3
import numpy as np
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from cloud.train import main
from edge.features import FEATURE_NAMES
from edge.model.holder import load_model
from tests.modelkit import synthetic_features
from tests.s3server import S3Bucket

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--param", "rf.n_estimators=8", "--param", "gb.max_iter=8",
         "--param", "gb.max_depth=2"]


def write_json_groups(folder: Path, n_files: int = 6, rows: int = 150, seed: int = 0) -> Path:
    """``n_files`` seed-format JSON files of synthetic feature rows."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        X, y = synthetic_features(rows, seed + i)
        samples = [{"features": {n: (None if np.isnan(v) else float(v))
                                 for n, v in zip(FEATURE_NAMES, row, strict=True)},
                    "label": int(lab)} for row, lab in zip(X, y, strict=True)]
        (folder / f"flir_scd41_data_{i}.json").write_text(json.dumps({"samples": samples}))
    return folder


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A key pair made by ``--keygen``."""
    folder = tmp_path_factory.mktemp("keys")
    assert main(["--keygen", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def json_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_json_groups(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory, keys: Path, json_data: Path) -> Path:
    """A signed training run on JSON files; returns its --out folder."""
    out = tmp_path_factory.mktemp("run")
    status = main(["--data", str(json_data), "--out", str(out / "models"), "--signing-key",
                   str(keys / "model-signing.pem"), "--target-far", "0.01", *SMALL])
    assert status == 0
    return out / "models"


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


class TestKeygen:
    def test_pair(self, keys: Path) -> None:
        """--keygen writes a 0600 private key and a public key beside it."""
        priv = keys / "model-signing.pem"
        assert stat.S_IMODE(priv.stat().st_mode) == 0o600
        assert b"PRIVATE KEY" in priv.read_bytes()
        load_pem_public_key((keys / "model-signing.pub.pem").read_bytes())

    def test_never_overwrites(self, keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A second --keygen into the same folder is refused and keeps the key."""
        before = (keys / "model-signing.pem").read_bytes()
        assert main(["--keygen", str(keys)]) == 2
        assert "refusing to overwrite" in capsys.readouterr().err
        assert (keys / "model-signing.pem").read_bytes() == before


class TestRefusedBeforeTraining:
    def test_no_key(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
        """Neither a key nor --unsigned: a clear error, exit 2, nothing simulated or written."""
        monkeypatch.delenv("FIREDETECT_SIGNING_KEY", raising=False)
        assert main(["--simulate", "400", "--out", str(tmp_path / "m")]) == 2
        err = capsys.readouterr().err
        assert "no signing key" in err and "--unsigned" in err and "simulate" not in err
        assert not (tmp_path / "m").exists()

    def test_key_and_unsigned(self, tmp_path: Path, keys: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
        """--unsigned together with --signing-key is refused."""
        assert main(["--simulate", "4", "--unsigned", "--signing-key",
                     str(keys / "model-signing.pem"), "--out", str(tmp_path)]) == 2
        assert "choose one" in capsys.readouterr().err

    def test_bad_key_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A key file that is not an Ed25519 PEM key is refused, naming the file."""
        bad = tmp_path / "k.pem"
        bad.write_text("not a key")
        assert main(["--simulate", "4", "--signing-key", str(bad)]) == 2
        assert str(bad) in capsys.readouterr().err

    @pytest.mark.parametrize("option, message", [
        (["--param", "rf.depth=3"], "no hyperparameter 'depth'"),
        (["--members", "rf,svm"], "unknown member 'svm'"),
        (["--target-far", "1.5"], "--target-far 1.5; allowed"),
        (["--degraded-fraction", "1.5"], "--degraded-fraction 1.5; allowed: 0 ≤ F ≤ 1"),
        (["--event-margin", "-0.1"], "--event-margin -0.1; allowed"),
        (["--unselected", "fireplace"], "--unselected fireplace: unknown family; allowed"),
    ])
    def test_bad_model_options(self, option: list[str], message: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
        """Bad member options stop the run before any data is touched."""
        assert main(["--simulate", "400", "--unsigned", *option]) == 2
        assert message in capsys.readouterr().err

    @pytest.mark.parametrize("option", ["--select-runs", "--select-slow-runs"])
    @pytest.mark.parametrize("argv", [["--simulate", "4", "OPT", "-1"], ["OPT", "3"]])
    def test_bad_select_runs(self, argv: list[str], option: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
        """--select-runs / --select-slow-runs below 0, or without --simulate, exits 2 naming
        what is allowed."""
        with pytest.raises(SystemExit) as err:
            main(["--unsigned", *[option if a == "OPT" else a for a in argv]])
        assert err.value.code == 2
        assert option in capsys.readouterr().err

    def test_no_data(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """No data at all is an error, not a crash."""
        assert main(["--unsigned", "--out", str(tmp_path)]) == 2
        assert "no training data" in capsys.readouterr().err


class TestJsonRun:
    def test_artifact_verifies(self, json_run: Path, keys: Path) -> None:
        """The artifact loads on a device with the public key and scores like in training."""
        public = load_pem_public_key((keys / "model-signing.pub.pem").read_bytes())
        tarball = only(json_run, "*.tar.gz")
        model = load_model(tarball, public_key=public)  # type: ignore[arg-type]
        manifest = json.loads((json_run / model.version / "manifest.json").read_text())
        assert set(manifest["members"]) == {"rf", "gb", "lr"}
        assert manifest["training_data"]["n_samples"] == 900
        assert manifest["threshold"] == model.threshold
        assert sum(m["weight"] for m in manifest["members"].values()) == pytest.approx(1)
        rf = json_run / model.version / "members" / "rf.joblib"
        import joblib

        assert joblib.load(rf).named_steps["clf"].n_jobs == 1

    def test_report(self, json_run: Path) -> None:
        """metrics.json has every member and the ensemble beside the seed's numbers; the
        HTML report embeds its plots."""
        report = only(json_run, "*-report")
        metrics = json.loads((report / "metrics.json").read_text())
        assert set(metrics["frame"]) == {"rf", "gb", "lr", "ensemble", "ensemble@0.5"}
        for m in metrics["frame"].values():
            assert {"accuracy", "f1", "roc_auc", "pr_auc"} <= set(m)
        assert metrics["frame"]["ensemble"]["roc_auc"] > 0.9
        assert metrics["data"]["test_groups"] >= 1 and metrics["holdout_families"] == {}
        html = (report / "report.html").read_text()
        assert html.count("data:image/png;base64,") >= 2 and "0.7544" in html

    def test_reproducible(self, json_run: Path, json_data: Path, tmp_path: Path) -> None:
        """The same data and seed give the same scores, unsigned or not."""
        out = tmp_path / "again"
        assert main(["--data", str(json_data), "--out", str(out), "--unsigned",
                     "--target-far", "0.01", *SMALL]) == 0
        a = json.loads((only(json_run, "*-report") / "metrics.json").read_text())
        b = json.loads((only(out, "*-report") / "metrics.json").read_text())
        assert a["frame"] == b["frame"] and a["weights"] == b["weights"]
        assert a["threshold"] == b["threshold"]


class TestBadData:
    def test_skips_reported(self, tmp_path: Path, json_data: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
        """A bad file among good ones is skipped and named in the summary on stderr."""
        bad = tmp_path / "bad.json"
        bad.write_text('{"samples": [{"features": {"t_mean": 1}, "label": 0}]}')
        assert main(["--data", str(json_data), "--data", str(bad), "--unsigned",
                     "--no-holdout-families", "--out", str(tmp_path / "m"), *SMALL]) == 0
        err = capsys.readouterr().err
        assert "1 file(s) skipped" in err and "bad.json: sample 0: features missing" in err

    def test_strict(self, tmp_path: Path, json_data: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
        """--strict stops at the bad file with exit 2 and its reason; nothing is written."""
        bad = tmp_path / "bad.json"
        bad.write_text("{not json")
        assert main(["--data", str(json_data), "--data", str(bad), "--strict", "--unsigned",
                     "--out", str(tmp_path / "m")]) == 2
        assert "bad.json: not JSON" in capsys.readouterr().err
        assert not (tmp_path / "m").exists()

    def test_too_few_groups(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Two files cannot be split train/validation/test by recording: a clear error."""
        data = write_json_groups(tmp_path / "d", n_files=2)
        assert main(["--data", str(data), "--unsigned", "--out", str(tmp_path / "m")]) == 2
        assert "too little data" in capsys.readouterr().err


class TestSimulatedRun:
    @pytest.mark.slow
    def test_simulate_and_upload(self, tmp_path: Path, s3_bucket: S3Bucket) -> None:
        """The script, run as a program on simulated recordings, writes a signed artifact with
        a per-family report and the leave-one-family-out table, and publishes it to S3."""
        keydir = tmp_path / "keys"
        assert main(["--keygen", str(keydir)]) == 0
        env = dict(os.environ, FIREDETECT_SIGNING_KEY=(keydir / "model-signing.pem").read_text())
        out = tmp_path / "models"
        proc = subprocess.run(
            [sys.executable, str(ROOT / "cloud" / "train.py"), "--simulate", "12",
             "--sim-duration", "360", "--sim-rate", "1", "--sim-engines", "ours",
             "--sim-variation", "false", "--out", str(out), "--upload",
             s3_bucket.url("models"), "--s3-endpoint-url", s3_bucket.endpoint_url, *SMALL],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout == ""  # everything goes to stderr
        assert "simulate" in proc.stderr  # progress bars
        metrics = json.loads((only(out, "*-report") / "metrics.json").read_text())
        assert set(metrics["holdout_families"]) == {
            "candles_fireplace", "electric_cooking", "electrical_overheat", "fast_flaming",
            "flaming_upholstery", "gas_cooking", "heaters_appliances", "kitchen_grease_fire",
            "occupancy", "smoulder_in_view", "smoulder_out_of_view", "sun_steam_breath_ffc"}
        for fam in metrics["families"].values():
            assert {"runs", "runs_with_false_alarm", "false_alarms_per_device_day"} <= set(fam)
        # The runs the threshold and bars were chosen on, saved beside the report, give the
        # manifest's threshold and bars when chosen on again (cloud.training.choice)
        from cloud.training.choice import choose_bars, load_choice
        from cloud.training.ensemble import Ensemble

        again = Ensemble(pipelines={}, weights={})
        choose_bars(again, load_choice(only(out, "*-report") / "choice.npz"))
        with tarfile.open(only(out, "*.tar.gz")) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("/manifest.json"))
            manifest = json.load(tar.extractfile(member))  # type: ignore[arg-type]
        assert again.threshold == pytest.approx(manifest["threshold"])
        assert again.flame_bar is not None
        assert again.flame_bar.bar == pytest.approx(manifest["detection"]["flame_min_score"])
        s3 = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url)
        latest = json.loads(s3.get_object(Bucket=s3_bucket.name,
                                          Key="models/latest.json")["Body"].read())
        assert latest["key"] == f"versions/{only(out, '*.tar.gz').name}"
        public = load_pem_public_key((keydir / "model-signing.pub.pem").read_bytes())
        load_model(only(out, "*.tar.gz"), public_key=public)  # type: ignore[arg-type]


class TestModelOptionValues:
    def test_degraded_fraction_reaches_config(self) -> None:
        """--degraded-fraction, --threshold-mode and --event-margin end up in the config."""
        from cloud.training.options import ensemble_config, parse

        cfg = ensemble_config(parse(["--simulate", "4", "--degraded-fraction", "0.5",
                                     "--threshold-mode", "frames", "--event-margin", "0.02"]))
        assert (cfg.degraded_fraction, cfg.threshold_mode, cfg.event_margin) == (0.5, "frames",
                                                                                  0.02)
        default = ensemble_config(parse(["--simulate", "4"]))
        assert (default.degraded_fraction, default.threshold_mode) == (0.1, "events")


class TestDefaultFeatureSet:
    def test_json_samples_alone_default_to_seed_v1(self, json_data: Path) -> None:
        """A folder of the original JSON samples trains seed-v1 by default (they carry the 18)."""
        from cloud.training.options import parse

        assert parse(["--data", str(json_data)]).feature_set == "seed-v1"
        assert parse(["--data", str(json_data / "x.json")]).feature_set == "seed-v1"

    def test_simulation_and_recordings_default_to_fd_v3(self, json_data: Path) -> None:
        """Simulated runs, or data beside them, train fd-v3 unless a set is named."""
        from cloud.training.options import parse

        assert parse(["--simulate", "3"]).feature_set == "fd-v3"
        assert parse(["--simulate", "3", "--data", str(json_data)]).feature_set == "fd-v3"
        assert parse(["--data", "s3://bucket/clips/"]).feature_set == "fd-v3"
        assert parse(["--data", str(json_data), "--feature-set", "fd-v2"]).feature_set == "fd-v2"
