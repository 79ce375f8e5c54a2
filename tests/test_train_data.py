"""Training data: the seed's JSON files, .npz recordings, S3 prefixes, simulation, skips."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from cloud.training.data import (
    Dataset,
    load_paths,
    observable_time,
    parse_json_samples,
    recording_rows,
    skip_summary,
)
from cloud.training.simulated import WATCHED_SLOW, run_sim_job, sim_jobs
from edge.errors import TrainingDataError
from edge.features import FEATURE_NAMES, FeatureParams
from edge.recording import Recording, save_recording
from tests.s3server import S3Bucket


def sample(label: Any = 0, **changes: Any) -> dict[str, Any]:
    """One JSON sample with all 18 features; ``changes`` replace or (None key) drop some."""
    feats: dict[str, Any] = {name: float(i) for i, name in enumerate(FEATURE_NAMES)}
    feats.update(changes)
    return {"features": feats, "label": label}


def json_file(path: Path, samples: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"samples": samples}))
    return path


def recording(fire_start_s: float | None, duration_s: float = 60.0,
              scenario: str = "test_room") -> Recording:
    """A small valid recording: 60×80 frames at 1 Hz, gas every 5 s, hotter after onset."""
    t = np.arange(0.0, duration_s, 1.0)
    frames = np.full((t.size, 60, 80), 29_500, np.uint16)
    if fire_start_s is not None:
        frames[t >= fire_start_s, 20:24, 30:34] = 45_000
    gt = np.arange(0.0, duration_s, 5.0)
    co2 = np.full(gt.size, 450.0)
    if fire_start_s is not None:
        co2[gt >= fire_start_s] = 900.0
    meta = {"scenario": scenario, "fire_start_s": fire_start_s}
    return Recording(t, frames, gt, co2.astype(np.float32), np.full(gt.size, 22.0, np.float32),
                     np.full(gt.size, 40.0, np.float32), 0.01, meta)


class TestJsonSamples:
    def test_good_file(self) -> None:
        """A seed JSON file gives one group, features in FEATURE_NAMES order, its labels."""
        data = json.dumps({"samples": [sample(0), sample(1, gas_val=1200, t_max=None)]})
        ds = parse_json_samples(data.encode(), "a.json")
        assert ds.X.shape == (2, 18) and list(ds.y) == [0, 1]
        assert ds.X[1, FEATURE_NAMES.index("gas_val")] == 1200
        assert np.isnan(ds.X[1, FEATURE_NAMES.index("t_max")])  # null = missing sensor
        assert ds.X[0, 5] == 5.0 and len(ds.groups) == 1 and ds.groups[0].kind == "json"

    @pytest.mark.parametrize("content, reason", [
        (b"\x00\xff garbage", "not JSON"),
        (b'{"samples": [', "not JSON"),
        (b"[1, 2]", 'expected an object {"samples"'),
        (b'{"samples": []}', "holds no samples"),
        (b'{"samples": [5]}', "sample 0: expected"),
    ])
    def test_corrupt(self, content: bytes, reason: str) -> None:
        """Unreadable or wrongly shaped files are refused with the file name and reason."""
        with pytest.raises(TrainingDataError, match=f"^bad.json: .*{reason}"):
            parse_json_samples(content, "bad.json")

    def test_missing_feature(self) -> None:
        """A sample without one of the 18 features is refused, naming it."""
        s = sample(0)
        del s["features"]["gas_vel"]
        with pytest.raises(TrainingDataError, match=r"sample 0: features missing \['gas_vel'\]"):
            parse_json_samples(json.dumps({"samples": [s]}).encode(), "f.json")

    def test_extra_feature(self) -> None:
        """A sample with a feature outside the set is refused, naming it."""
        s = sample(0, co_ppm=3.0)
        with pytest.raises(TrainingDataError, match=r"unknown \['co_ppm'\]"):
            parse_json_samples(json.dumps({"samples": [sample(1), s]}).encode(), "f.json")

    @pytest.mark.parametrize("value", ["25.0", True, [1], {"v": 1}])
    def test_non_numeric(self, value: Any) -> None:
        """A non-numeric feature value is refused with the feature and what is allowed."""
        data = json.dumps({"samples": [sample(0, t_mean=value)]}).encode()
        with pytest.raises(TrainingDataError, match=r"feature 't_mean' .* allowed: a finite"):
            parse_json_samples(data, "f.json")

    def test_infinite(self) -> None:
        """Infinity is not a feature value."""
        doc = {"samples": [sample(0, t_max=float("inf"))]}
        with pytest.raises(TrainingDataError, match="'t_max' is inf"):
            parse_json_samples(json.dumps(doc).encode(), "f.json")

    @pytest.mark.parametrize("label", [2, -1, 0.5, "1", True, None])
    def test_bad_label(self, label: Any) -> None:
        """Labels other than 0 or 1 are refused."""
        data = json.dumps({"samples": [sample(label)]}).encode()
        with pytest.raises(TrainingDataError, match=r"label .*; allowed: 0 or 1"):
            parse_json_samples(data, "f.json")


class TestRecordings:
    def test_labels_and_lag(self) -> None:
        """Rows at t ≥ fire_start_s are fire; [t0, t0+Δ] is left out of frame scoring."""
        ds = recording_rows(recording(30.0), "r.npz", FeatureParams(), lag_s=10.0)
        assert np.all(ds.y[ds.t >= 30.0] == 1) and np.all(ds.y[ds.t < 30.0] == 0)
        window = (ds.t >= 30.0) & (ds.t <= 40.0)
        assert window.any() and not ds.scored[window].any()
        assert ds.scored[~window].all()
        assert ds.groups[0].family == "test_room" and ds.groups[0].fire_start_s == 30.0

    def test_no_fire(self) -> None:
        """A recording without a fire is all no-fire, all scored."""
        ds = recording_rows(recording(None), "n.npz", FeatureParams())
        assert not ds.y.any() and ds.scored.all()


class TestLoadPaths:
    def test_mix_and_skips(self, tmp_path: Path) -> None:
        """A folder of good and bad files loads the good ones and lists each bad one with its
        reason; nothing crashes."""
        json_file(tmp_path / "good.json", [sample(0), sample(1)])
        save_recording(recording(30.0), tmp_path / "fire.npz")
        (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
        json_file(tmp_path / "badlabel.json", [sample(3)])
        (tmp_path / "notes.txt").write_text("ignored: not training data")
        np.savez(tmp_path / "wrong.npz", frame_t=np.zeros(3))
        ds, skipped = load_paths([str(tmp_path)], progress=False)
        assert len(ds.groups) == 2 and {g.kind for g in ds.groups} == {"json", "recording"}
        reasons = {Path(s.name).name: s.reason for s in skipped}
        assert set(reasons) == {"broken.npz", "badlabel.json", "wrong.npz"}
        assert ".npz" in reasons["broken.npz"]
        assert "label 3" in reasons["badlabel.json"]
        assert "'frames'" in reasons["wrong.npz"] and "missing" in reasons["wrong.npz"]
        summary = skip_summary(skipped)
        assert summary.startswith("3 file(s) skipped") and "broken.npz" in summary

    def test_strict(self, tmp_path: Path) -> None:
        """Strict mode stops at the bad file with its name and reason."""
        json_file(tmp_path / "a.json", [sample(0)])
        json_file(tmp_path / "b.json", [sample(0, t_std="hot")])
        with pytest.raises(TrainingDataError, match=r"b\.json: sample 0: feature 't_std'"):
            load_paths([str(tmp_path)], strict=True, progress=False)

    def test_missing_path(self, tmp_path: Path) -> None:
        """A path that does not exist is reported, not a crash."""
        ds, skipped = load_paths([str(tmp_path / "nope")], progress=False)
        assert len(ds) == 0 and skipped[0].reason == "no such file or folder"

    def test_groups_renumbered(self, tmp_path: Path) -> None:
        """Every file is its own group, numbered in load order."""
        for i in range(3):
            json_file(tmp_path / f"f{i}.json", [sample(i % 2)] * (i + 1))
        ds, _ = load_paths([str(tmp_path)], progress=False)
        assert list(ds.group) == [0, 1, 1, 2, 2, 2]
        assert Dataset.concat([ds, ds]).group.max() == 5

    def test_s3_prefix(self, s3_bucket: S3Bucket, tmp_path: Path) -> None:
        """JSON and .npz objects under an s3:// prefix load from a real S3 API; a bad object
        is skipped with its s3:// name; objects outside the prefix are not read."""
        s3 = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url)
        b = s3_bucket.name
        s3.put_object(Bucket=b, Key="data/a.json",
                      Body=json.dumps({"samples": [sample(0), sample(1)]}).encode())
        save_recording(recording(20.0), tmp_path / "r.npz")
        s3.put_object(Bucket=b, Key="data/sub/r.npz", Body=(tmp_path / "r.npz").read_bytes())
        s3.put_object(Bucket=b, Key="data/bad.npz", Body=b"nonsense")
        s3.put_object(Bucket=b, Key="other/x.json", Body=b"{}")
        ds, skipped = load_paths([f"s3://{b}/data/"], endpoint_url=s3_bucket.endpoint_url,
                                 progress=False)
        assert sorted(g.name for g in ds.groups) == [f"s3://{b}/data/a.json",
                                                     f"s3://{b}/data/sub/r.npz"]
        assert [s.name for s in skipped] == [f"s3://{b}/data/bad.npz"]
        assert ".npz" in skipped[0].reason
        assert "/tmp" not in skipped[0].reason


class TestSimulation:
    def test_jobs_balanced(self) -> None:
        """Jobs cycle through the twelve families with distinct seeds."""
        jobs = sim_jobs(24, 7, 60.0, 1.0)
        names = [j.scenario for j in jobs]
        assert len(set(names)) == 12 and all(names.count(n) == 2 for n in names)
        assert len({j.seed for j in jobs}) == 24
        assert sim_jobs(24, 7, 60.0, 1.0) == jobs

    def test_jobs_of_named_families(self) -> None:
        """``families`` keeps each engine to the named families it has, balanced; an engine
        with none of them renders none; unknown names are refused, naming the allowed."""
        jobs = sim_jobs(6, 7, 60.0, 1.0, families=WATCHED_SLOW[:2])
        names = [j.scenario for j in jobs]
        assert set(names) == set(WATCHED_SLOW[:2]) and names[:2] * 3 == names
        assert [j.seed for j in jobs] == [j.seed for j in sim_jobs(6, 7, 60.0, 1.0)]
        with pytest.raises(ValueError, match=r"volcano.*allowed: families of ours"):
            sim_jobs(6, 7, 60.0, 1.0, families=("volcano",))
        with pytest.raises(ValueError, match="allowed: families of ours"):
            sim_jobs(6, 7, 60.0, 1.0, families=("cfast_smoulder",))
        # Another engine's family beside one of ours (--select-slow-runs with --sim-engines
        # ours): ours only.
        assert {j.scenario for j in sim_jobs(4, 7, 60.0, 1.0, families=WATCHED_SLOW)} == {
            f for f in WATCHED_SLOW if not f.startswith("cfast_")}

    @pytest.mark.parametrize("n, dur, rate", [(0, 60.0, 1.0), (3, 0.0, 1.0), (3, 60.0, -1.0)])
    def test_bad_jobs(self, n: int, dur: float, rate: float) -> None:
        """Nonsense counts, durations or rates are refused."""
        with pytest.raises(ValueError, match="allowed"):
            sim_jobs(n, 1, dur, rate)

    def test_runs_shorter_than_ignition_are_warned_about(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Simulated runs that may end before their fire ignites (< 300 s) log a warning."""
        with caplog.at_level(logging.WARNING, logger="cloud.training.data"):
            sim_jobs(12, 3, 600.0, 1.0)
            assert not caplog.records
            sim_jobs(12, 3, 90.0, 1.0)
        assert "90 s" in caplog.text and "180–300 s" in caplog.text

    def test_rendered_fire(self) -> None:
        """A simulated fire recording is featurised by the device code and labelled from its
        onset."""
        job = next(j for j in sim_jobs(12, 3, 300.0, 1.0) if j.scenario == "fast_flaming")
        ds = run_sim_job(job)
        t0 = ds.groups[0].fire_start_s
        assert t0 is not None and ds.groups[0].family == "fast_flaming"
        assert np.all(ds.y == (ds.t >= t0)) and ds.y.any() and not ds.y.all()
        assert ds.X.shape[1] == 18


def late_recording(fire_start_s: float, hot_from_s: float | None, co2_from_s: float | None
                   ) -> Recording:
    """A 120-s recording whose fire shows on the camera and/or in CO2 only later."""
    t = np.arange(0.0, 120.0, 1.0)
    frames = np.full((t.size, 60, 80), 29_500, np.uint16)  # 22 °C
    if hot_from_s is not None:
        frames[t >= hot_from_s, 20:22, 30:32] = 40_000  # 127 °C
    gt = np.arange(0.0, 120.0, 5.0)
    co2 = np.full(gt.size, 450.0)
    if co2_from_s is not None:
        co2[gt >= co2_from_s] = 700.0
    return Recording(t, frames, gt, co2.astype(np.float32), np.full(gt.size, 22.0, np.float32),
                     np.full(gt.size, 40.0, np.float32), 0.01,
                     {"scenario": "test_room", "fire_start_s": fire_start_s})


class TestObservableLabels:
    def test_observable_time_first_sensor(self) -> None:
        """The fire shows at the earlier of a new hot pixel and a CO2 rise over baseline."""
        assert observable_time(late_recording(30.0, 50.0, 80.0)) == 50.0
        assert observable_time(late_recording(30.0, 90.0, 65.0)) == 65.0
        assert observable_time(late_recording(30.0, None, None)) is None

    def test_pixel_hot_before_onset_is_not_new(self) -> None:
        """A spot already hot before the onset (a hob that was on) does not count."""
        assert observable_time(late_recording(30.0, 10.0, 80.0)) == 80.0

    def test_rows_before_observable_left_out(self) -> None:
        """Rows from onset to observable are neither fire nor no-fire: left out."""
        ds = recording_rows(late_recording(30.0, 50.0, None), "r.npz", FeatureParams(),
                            labels="observable")
        assert np.all(ds.y[ds.t >= 50.0] == 1) and np.all(ds.y[ds.t < 50.0] == 0)
        hidden = (ds.t >= 30.0) & (ds.t < 50.0)
        assert hidden.any() and not ds.scored[hidden].any()
        assert ds.scored[~hidden].all()

    def test_never_observable_fire_all_left_out(self) -> None:
        """A fire no sensor ever sees gives no fire rows, and its post-onset rows are unused."""
        ds = recording_rows(late_recording(30.0, None, None), "r.npz", FeatureParams(),
                            labels="observable")
        assert not ds.y.any()
        assert ds.scored[ds.t < 30.0].all() and not ds.scored[ds.t >= 30.0].any()

    def test_unknown_label_mode(self) -> None:
        """An unknown label mode is refused, naming the allowed ones."""
        with pytest.raises(ValueError, match="allowed: onset, observable"):
            recording_rows(late_recording(30.0, 50.0, None), "r.npz", FeatureParams(),
                           labels="ignition")

    def test_slow_families_run_longer(self) -> None:
        """With a slow duration, F3–F5 jobs get it and the other families keep theirs."""
        from edge.sim.scenarios import SCENARIOS

        jobs = sim_jobs(24, 7, 600.0, 1.0, slow_duration_s=2400.0, labels="observable")
        for j in jobs:
            slow = SCENARIOS[j.scenario].code in ("F3", "F4", "F5")
            assert j.duration_s == (2400.0 if slow else 600.0) and j.labels == "observable"
        assert sum(j.duration_s == 2400.0 for j in jobs) == 6

    def test_nuisances_run_their_own_length(self) -> None:
        """With a nuisance duration, N1–N6 jobs get it, F3–F5 the slow one, F1/F2/F6 the
        default; a length of 0 s is refused by name."""
        from edge.sim.scenarios import SCENARIOS

        jobs = sim_jobs(24, 7, 600.0, 1.0, slow_duration_s=2400.0, nuisance_duration_s=1200.0)
        by = {SCENARIOS[j.scenario].code: j.duration_s for j in jobs}
        assert by == {"F1": 600.0, "F2": 600.0, "F6": 600.0, "F3": 2400.0, "F4": 2400.0,
                      "F5": 2400.0, **{f"N{i}": 1200.0 for i in range(1, 7)}}
        with pytest.raises(ValueError, match="nuisance duration"):
            sim_jobs(24, 7, 600.0, 1.0, nuisance_duration_s=0.0)


def test_has_fire_per_group() -> None:
    """``Dataset.has_fire`` says, per group, whether any of its rows is labelled fire —
    including a last group without rows and groups whose rows are interleaved."""
    from cloud.training.data import Group

    groups = [Group(f"g{i}", "f", None, 1.0, "recording") for i in range(4)]
    y = np.array([0, 1, 0, 0, 0, 1], np.int8)
    group = np.array([0, 0, 1, 2, 1, 2], np.int32)
    ds = Dataset(np.zeros((6, len(FEATURE_NAMES)), np.float32), y, group,
                 np.arange(6, dtype=np.float64), np.ones(6, bool), groups)
    assert ds.has_fire() == [True, False, True, False]
