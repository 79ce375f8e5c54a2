"""Training from fleet clips: the labelling rule, verdict files, de-duplication, weights,
the split by device, and cloud/train.py on clips in a real S3 (moto server)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import boto3
import numpy as np
import pytest

from cloud.training.data import Dataset, Group, load_paths
from cloud.training.ensemble import EnsembleConfig, fit_ensemble
from cloud.training.evaluate import fit_on_split
from cloud.training.splits import GroupSplit, engine_of, split_devices
from edge.errors import TrainingDataError
from edge.features import FEATURE_SETS, FeatureParams
from tests.fleet_helpers import (
    BASE_UNIX,
    label_bytes,
    make_clip,
    put_clip,
    put_label,
    stretch,
    write_clip,
)
from tests.s3server import S3Bucket

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--param", "rf.n_estimators=8", "--param", "gb.max_iter=8",
         "--param", "gb.max_depth=2"]


def load(folder: Path, strict: bool = False) -> tuple[Dataset, list[str]]:
    ds, skipped = load_paths([str(folder)], params=FeatureParams(), strict=strict,
                             progress=False)
    return ds, [f"{s.name}: {s.reason}" for s in skipped]


class TestLabellingRule:
    def test_false_alarm_verdict_outranks_the_alarm(self, tmp_path: Path) -> None:
        """An alarm clip judged false_alarm gives every row label 0 at full weight."""
        clip = make_clip(stretch(120, hot_from_s=40), 0, 120, device_id="d1", reason="alarm",
                         seq=7, trigger_s=60)
        write_clip(tmp_path, clip, label_bytes(7, "false_alarm", "d1"))
        ds, skipped = load(tmp_path)
        assert skipped == []
        assert len(ds) > 0 and not ds.y.any() and (ds.w == 1.0).all()
        assert [g.kind for g in ds.groups] == ["fleet"] and ds.groups[0].device == "d1"
        assert [c.use for c in ds.clips] == ["false_alarm"]

    def test_fire_verdict_labels_from_trigger_minus_30s(self, tmp_path: Path) -> None:
        """A fire verdict labels rows from trigger_t − 30 s as fire and leaves earlier rows
        out."""
        clip = make_clip(stretch(200, hot_from_s=90), 20, 200, device_id="d1",
                         reason="alarm", seq=3, trigger_s=110)
        write_clip(tmp_path, clip, label_bytes(3, "fire", "d1"))
        ds, _ = load(tmp_path)
        # trigger at recording second 110 = clip second 90: rows from clip second 60 on
        assert ds.t.min() >= 60.0 and ds.y.all()
        assert ds.groups[0].fire_start_s == pytest.approx(60.0)

    @pytest.mark.parametrize(("reason", "verdict"), [("alarm", "test"), ("alarm", None),
                                                      ("near_miss", "test"),
                                                      ("verdict", None)])
    def test_left_out(self, tmp_path: Path, reason: str, verdict: str | None) -> None:
        """Test clips and alarm clips nobody judged give no rows but are counted."""
        clip = make_clip(stretch(60), 0, 60, device_id="d1", reason=reason, seq=1,
                         trigger_s=30)
        write_clip(tmp_path, clip, None if verdict is None else label_bytes(1, verdict, "d1"))
        ds, skipped = load(tmp_path)
        assert len(ds) == 0 and skipped == []
        assert [(c.use, c.verdict) for c in ds.clips] == [("left_out", verdict)]

    def test_left_out_clip_beside_used_clips_fd_v2(self, tmp_path: Path) -> None:
        """A left-out clip loads beside used ones in a feature set wider than seed-v1."""
        rec = stretch(300)
        write_clip(tmp_path, make_clip(rec, 0, 60, device_id="d1", reason="alarm", seq=1,
                                       trigger_s=30))
        write_clip(tmp_path, make_clip(rec, 100, 200, device_id="d1", reason="near_miss",
                                       seq=None, trigger_s=150))
        ds, skipped = load_paths([str(tmp_path)], params=FeatureParams(), progress=False,
                                 feature_set="fd-v2")
        assert skipped == [] and ds.X.shape[1] == len(FEATURE_SETS["fd-v2"]) and len(ds) > 0
        assert sorted(c.use for c in ds.clips) == ["left_out", "unlabelled"]

    @pytest.mark.parametrize("reason", ["near_miss", "fault"])
    def test_unlabelled_near_miss_and_fault_weighted(self, tmp_path: Path, reason: str) -> None:
        """Near-miss and fault clips without a verdict are label 0 with weight 0.3."""
        clip = make_clip(stretch(60), 0, 60, device_id="d1", reason=reason, seq=None,
                         trigger_s=30)
        write_clip(tmp_path, clip)
        ds, _ = load(tmp_path)
        assert len(ds) > 0 and not ds.y.any()
        np.testing.assert_allclose(ds.w, 0.3)

    def test_bad_clip_meta_named(self, tmp_path: Path) -> None:
        """A clip whose meta breaks the contract is skipped naming the file and meta key."""
        clip = make_clip(stretch(60), 0, 60, device_id="d1", reason="alarm", seq=1,
                         trigger_s=30)
        clip.meta["clip"]["reason"] = "smoke"
        path = write_clip(tmp_path, clip)
        _, skipped = load(tmp_path)
        assert skipped == [f"{path}: meta 'clip.reason' is 'smoke'; allowed: alarm, "
                           f"near_miss, fault, verdict"]


class TestLabelFiles:
    @pytest.mark.parametrize(("body", "why"), [
        (b"{not json", "not JSON"),
        (b'{"seq": 1, "verdict": "toaster"}', "'verdict' is 'toaster'; allowed: false_alarm"),
        (b'{"seq": 2, "verdict": "fire"}', "'seq' is 2, the clip's is 1"),
        (b'[1]', "expected an object"),
    ])
    def test_malformed_label_named_clip_unlabelled(
            self, tmp_path: Path, body: bytes, why: str,
            caplog: pytest.LogCaptureFixture) -> None:
        """A label that cannot be used is reported with its key; its near-miss clip is used
        as unlabelled (weight 0.3)."""
        clip = make_clip(stretch(60), 0, 60, device_id="d1", reason="near_miss", seq=1,
                         trigger_s=30)
        path = write_clip(tmp_path, clip, body)
        label = str(path).removesuffix(".npz") + ".label.json"
        with caplog.at_level(logging.WARNING):
            ds, skipped = load(tmp_path)
        assert len(skipped) == 1 and skipped[0].startswith(f"{label}: ")
        assert why in skipped[0] and skipped[0].endswith("(the clip is used as unlabelled)")
        assert label in caplog.text
        assert [c.use for c in ds.clips] == ["unlabelled"]
        np.testing.assert_allclose(ds.w, 0.3)

    def test_malformed_label_strict(self, tmp_path: Path) -> None:
        """In strict mode a malformed label stops the load, naming the label's key."""
        clip = make_clip(stretch(60), 0, 60, device_id="d1", reason="alarm", seq=1,
                         trigger_s=30)
        path = write_clip(tmp_path, clip, b"{")
        with pytest.raises(TrainingDataError, match=r"\.label\.json: not JSON"):
            load(tmp_path, strict=True)
        assert path.exists()

    def test_label_files_are_not_json_samples(self, tmp_path: Path) -> None:
        """A .label.json is read as a verdict, never as a seed JSON sample file."""
        clip = make_clip(stretch(60), 0, 60, device_id="d1", reason="alarm", seq=4,
                         trigger_s=30)
        write_clip(tmp_path, clip, label_bytes(4, "false_alarm", "d1"))
        ds, skipped = load(tmp_path)
        assert skipped == [] and [g.kind for g in ds.groups] == ["fleet"]


class TestDedup:
    def test_overlap_kept_once_higher_priority_wins(self, tmp_path: Path) -> None:
        """A near-miss then an alarm 20 s later on one device: the shared seconds are kept
        once, labelled by the judged alarm clip."""
        rec = stretch(200, hot_from_s=150)
        near = make_clip(rec, 40, 120, device_id="d1", reason="near_miss", seq=None,
                         trigger_s=80)
        alarm = make_clip(rec, 60, 140, device_id="d1", reason="alarm", seq=9, trigger_s=100)
        write_clip(tmp_path, near)
        write_clip(tmp_path, alarm, label_bytes(9, "false_alarm", "d1"))
        other = make_clip(rec, 40, 120, device_id="d2", reason="near_miss", seq=None,
                          trigger_s=80)
        write_clip(tmp_path, other)  # same times, another device: kept
        ds, _ = load(tmp_path)

        def seconds(kind: str, device: str, start_s: float) -> np.ndarray:
            """The device-clock seconds of a clip's rows kept in the dataset."""
            (i,) = [i for i, g in enumerate(ds.groups) if kind in g.name and g.device == device]
            return BASE_UNIX + start_s + ds.t[ds.group == i]

        near_t, alarm_t = seconds("near_miss", "d1", 40), seconds("alarm", "d1", 60)
        assert np.intersect1d(near_t, alarm_t).size == 0
        assert near_t.max() < BASE_UNIX + 60  # the near-miss keeps its seconds before the alarm
        i_alarm = next(i for i, g in enumerate(ds.groups) if "alarm" in g.name)
        assert (ds.w[ds.group == i_alarm] == 1.0).all() and not ds.y.any()
        assert len([g for g in ds.groups if g.device == "d2"]) == 1

    def test_left_out_clip_claims_its_span(self, tmp_path: Path) -> None:
        """An unjudged alarm clip is left out and takes the overlapping near-miss seconds
        with it (the alarm outranks the near-miss)."""
        rec = stretch(200)
        write_clip(tmp_path, make_clip(rec, 40, 120, device_id="d1", reason="near_miss",
                                       seq=None, trigger_s=80))
        write_clip(tmp_path, make_clip(rec, 60, 140, device_id="d1", reason="alarm", seq=2,
                                       trigger_s=100))
        ds, _ = load(tmp_path)
        assert len(ds.groups) == 1 and ds.t.max() < 20.0  # near-miss seconds 40..59 only
        assert sorted(c.use for c in ds.clips) == ["left_out", "unlabelled"]


class TestWeightsAndSplits:
    def test_fit_ensemble_rejects_bad_weights(self) -> None:
        """Weights that do not match the training rows are refused with a clear error."""
        rng = np.random.default_rng(0)
        X = rng.normal(size=(40, 3))
        y = (X[:, 0] > 0).astype(int)
        cfg = EnsembleConfig(members=("lr",), degraded_fraction=0.0, threshold_mode="frames")
        with pytest.raises(ValueError, match="sample_weight: 39 finite weights"):
            fit_ensemble(X, y, X, y, cfg, n_thermal=1, sample_weight=np.ones(39))

    def test_zero_weight_rows_do_not_count(self) -> None:
        """Rows of weight 0 (carried from Dataset.w through fit_on_split) change nothing:
        the fit equals the fit without them."""
        rng = np.random.default_rng(1)
        X = rng.normal(size=(300, 18)).astype(np.float32)
        y = (X[:, 0] > 0).astype(np.int8)
        bad = np.arange(300) < 60
        y_noisy = y.copy()
        y_noisy[bad] = 1 - y_noisy[bad]  # mislabelled rows ...
        w = np.where(bad, 0.0, 1.0).astype(np.float32)  # ... weighed out
        grp = (np.arange(300) // 30).astype(np.int32)
        groups = [Group(f"g{i}", "f", None, 30.0, "recording") for i in range(10)]
        t = np.arange(300, dtype=np.float64)
        cfg = EnsembleConfig(members=("lr",), degraded_fraction=0.0, threshold_mode="frames")
        split = GroupSplit(tuple(range(8)), (8, 9), ())
        weighted = fit_on_split(Dataset(X, y_noisy, grp, t, np.ones(300, bool), groups, w),
                                split, cfg)
        keep = ~bad
        clean = fit_on_split(Dataset(X[keep], y[keep], grp[keep], t[keep],
                                     np.ones(int(keep.sum()), bool), groups), split, cfg)
        np.testing.assert_allclose(weighted.predict_proba(X), clean.predict_proba(X),
                                   atol=1e-4)

    def test_fleet_split_by_device(self) -> None:
        """All clips of one device land on one side; other groups keep their place."""
        devices: list[str | None] = [None] * 6 + [f"d{i % 7}" for i in range(35)]
        has_fire = [False] * 6 + [i % 7 == 0 for i in range(35)]
        base = GroupSplit((0, 1, 2, 3), (4,), (5,))
        s = split_devices(base, devices, has_fire, seed=3)
        sides = {d: {k for k, ids in (("tr", s.train), ("va", s.val), ("te", s.test))
                     for g in ids if devices[g] == d} for d in set(devices) - {None}}
        assert all(len(v) == 1 for v in sides.values())
        assert {k for v in sides.values() for k in v} >= {"tr", "te"}
        assert [g for g in s.train if g < 6] == [0, 1, 2, 3] and 4 in s.val and 5 in s.test
        assert engine_of("s3://b/p/d0/x.npz", "fleet", "fleet") == "fleet"


@pytest.fixture
def fleet_bucket(s3_bucket: S3Bucket) -> S3Bucket:
    """A bucket holding simulated fleet clips of nine devices under ``fleet/``: rendered
    scenario runs cut as devices cut them, with and without verdicts, one label broken."""
    from edge.sim.scenarios import render_recording

    s3 = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url)
    prefix = "fleet/"
    for i, fam in enumerate(["flaming_upholstery", "fast_flaming", "kitchen_grease_fire"]):
        rec = render_recording(fam, 100 + i, 420, frame_rate_hz=1)
        t_f = float(rec.fire_start_s or 200.0)
        dev = f"pi-fire-{i}"
        clip = make_clip(rec, t_f - 60, t_f + 90, device_id=dev, reason="alarm", seq=i + 1,
                         trigger_s=t_f + 30)
        put_label(s3, s3_bucket.name, put_clip(s3, s3_bucket.name, prefix, clip),
                  label_bytes(i + 1, "fire", dev))
    for i, fam in enumerate(["gas_cooking", "electric_cooking", "heaters_appliances",
                             "candles_fireplace", "occupancy", "sun_steam_breath_ffc"]):
        rec = render_recording(fam, 200 + i, 240, frame_rate_hz=1)
        dev = f"pi-home-{i}"
        alarm = make_clip(rec, 60, 200, device_id=dev, reason="alarm", seq=10 + i,
                          trigger_s=120)
        near = make_clip(rec, 20, 100, device_id=dev, reason="near_miss", seq=None,
                         trigger_s=60)
        key = put_clip(s3, s3_bucket.name, prefix, alarm)
        verdict = "test" if i == 5 else "false_alarm"
        put_label(s3, s3_bucket.name, key, label_bytes(10 + i, verdict, dev))
        near_key = put_clip(s3, s3_bucket.name, prefix, near)
        if i == 4:
            put_label(s3, s3_bucket.name, near_key, b"{broken")
    lone = make_clip(render_recording("occupancy", 300, 120, frame_rate_hz=1), 0, 120,
                     device_id="pi-home-0", reason="alarm", seq=99, trigger_s=60,
                     base_unix=BASE_UNIX + 86_400)
    put_clip(s3, s3_bucket.name, prefix, lone)  # unjudged alarm: left out
    return s3_bucket


class TestTrainFromS3:
    @pytest.mark.slow
    def test_train_with_fleet_clips(self, tmp_path: Path, fleet_bucket: S3Bucket) -> None:
        """cloud/train.py on simulation plus fleet clips in S3 trains, and its report shows
        the fleet counts and the held-out fleet clips; the broken label is named."""
        out = tmp_path / "models"
        proc = subprocess.run(
            [sys.executable, str(ROOT / "cloud" / "train.py"), "--simulate", "12",
             "--sim-duration", "360", "--sim-rate", "1", "--sim-engines", "ours",
             "--sim-variation", "false", "--unsigned", "--out", str(out),
             "--data", fleet_bucket.url("fleet"), "--s3-endpoint-url",
             fleet_bucket.endpoint_url, *SMALL],
            cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        broken = [ln for ln in proc.stderr.splitlines() if "{broken" in ln or "not JSON" in ln]
        assert any("pi-home-4/" in ln and ".label.json" in ln for ln in broken), broken
        report = next(out.glob("*-report"))
        fleet = json.loads((report / "metrics.json").read_text())["fleet"]
        assert fleet["clips"] == 16
        assert fleet["by_reason"] == {"alarm": 10, "near_miss": 6}
        assert fleet["by_verdict"] == {"false_alarm": 5, "fire": 3, "none": 7, "test": 1}
        assert fleet["by_use"] == {"false_alarm": 5, "fire": 3, "left_out": 2,
                                   "unlabelled": 6}
        assert fleet["devices"] == 9 and fleet["label_problems"] == 1
        assert fleet["rows"] > 0 and fleet["fire_rows"] > 0 and fleet["hours"] > 0
        assert fleet["heldout"]["clips"] >= 1 and fleet["heldout"]["devices"] >= 1
        html = (report / "report.html").read_text()
        assert "Fleet data" in html and "Held-out fleet clips" in html
