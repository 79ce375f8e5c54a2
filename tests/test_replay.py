"""``firedetect replay``: recording.md's "Replay output", through the daemon's own pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.recording import Recording, load_recording, readings, save_recording
from edge.types import GasReading, ThermalFrame

ROOT = Path(__file__).resolve().parent.parent
ROOM_RAW = int((22.0 + 273.15) * 100)


def synthetic(
    duration_s: float = 120.0,
    fire_at: float | None = 40.0,
    gas_gap: tuple[float, float] | None = None,
    frame_gap: tuple[float, float] | None = None,
    rate_hz: float = 2.0,
    peak_c: float = 350.0,
    co2_ppm_per_s: float = 20.0,
) -> Recording:
    """A room at 22 °C; from ``fire_at`` a 10×10 px hot spot heating 10 K/s and CO2 +20 ppm/s."""
    ft = np.arange(0.0, duration_s, 1.0 / rate_hz)
    if frame_gap:
        ft = ft[(ft < frame_gap[0]) | (ft >= frame_gap[1])]
    frames = np.full((len(ft), 120, 160), ROOM_RAW, np.uint16)
    if fire_at is not None:
        for i, t in enumerate(ft):
            if t > fire_at:
                c = min(22.0 + (t - fire_at) * 10.0, peak_c)
                frames[i, 50:60, 70:80] = int((c + 273.15) * 100)
    gt = np.arange(5.0, duration_s, 5.0)
    if gas_gap:
        gt = gt[(gt < gas_gap[0]) | (gt >= gas_gap[1])]
    co2 = np.full(len(gt), 450.0)
    if fire_at is not None:
        co2 = np.where(gt > fire_at, 450.0 + (gt - fire_at) * co2_ppm_per_s, 450.0)
    return Recording(
        ft, frames, gt, co2.astype(np.float32), np.full(len(gt), 22.0, np.float32),
        np.full(len(gt), 40.0, np.float32), meta={"fire_start_s": fire_at},
    )


def replay_lines(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict]:
    assert main(["replay", str(path), *extra]) == 0
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


class TestReadings:
    def test_merged_in_time_order(self) -> None:
        """Frames and SCD41 readings come out in time order, a reading first at equal t."""
        rec = synthetic(duration_s=12.0, fire_at=None)
        items = list(readings(rec))
        ts = [r.t for r in items]
        assert ts == sorted(ts)
        assert len(items) == len(rec.frame_t) + len(rec.gas_t)
        at5 = [type(r) for r in items if r.t == 5.0]
        assert at5 == [GasReading, ThermalFrame]


class TestReplayOutput:
    def test_fire_gives_one_alarm_after_ignition(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A growing hot spot gives exactly one alarm line, after the fire started."""
        path = save_recording(synthetic(), tmp_path / "fire.npz")
        lines = replay_lines(path, capsys)
        alarms = [ln for ln in lines if ln["event"] == "alarm"]
        assert len(alarms) == 1
        assert 40.0 < alarms[0]["t"] < 120.0
        assert 0.5 <= alarms[0]["score"] <= 1.0
        assert list(alarms[0])[:3] == ["t", "event", "score"]

    def test_quiet_room_prints_nothing(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No fire, no sensor gap: stdout stays empty (logs go to stderr only)."""
        path = save_recording(synthetic(fire_at=None), tmp_path / "quiet.npz")
        assert main(["-v", "replay", str(path)]) == 0
        captured = capsys.readouterr()
        assert captured.out == ""

    def test_gas_gap_is_a_fault(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """SCD41 readings missing for 60 s give one scd41 fault once 30 s stale."""
        path = save_recording(
            synthetic(fire_at=None, gas_gap=(30.0, 90.0)), tmp_path / "gap.npz"
        )
        lines = replay_lines(path, capsys)
        assert [(ln["event"], ln["sensor"]) for ln in lines] == [("fault", "scd41")]
        assert 55.0 < lines[0]["t"] <= 57.0  # last reading at 25 s + 30 s limit

    def test_frame_gap_is_a_fault(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Frames missing for 20 s give one lepton fault, seen on an SCD41 reading."""
        path = save_recording(
            synthetic(fire_at=None, frame_gap=(50.0, 70.0)), tmp_path / "fgap.npz"
        )
        lines = replay_lines(path, capsys)
        assert [(ln["event"], ln["sensor"]) for ln in lines] == [("fault", "lepton")]
        assert lines[0]["t"] == 55.0

    def test_deterministic(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Replaying the same recording twice gives the same lines."""
        path = save_recording(synthetic(gas_gap=(60.0, 110.0)), tmp_path / "f.npz")
        assert replay_lines(path, capsys) == replay_lines(path, capsys)

    def test_alarm_settings_come_from_config(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A longer pre-alarm in --config delays the alarm by that much."""
        # Peak 250 °C and flat CO2 keep the score below the fast path, which would cut in.
        path = save_recording(synthetic(peak_c=250.0, co2_ppm_per_s=0.0), tmp_path / "f.npz")
        base = next(ln for ln in replay_lines(path, capsys) if ln["event"] == "alarm")["t"]
        cfg = tmp_path / "c.toml"
        cfg.write_text("[alarm]\npre_alarm_s = 20.0\n")
        slow = next(ln for ln in replay_lines(path, capsys, "--config", str(cfg))
                if ln["event"] == "alarm")["t"]
        assert slow >= base + 15.0


class TestReplayErrors:
    def test_broken_recording_exit_2_no_traceback(self, tmp_path: Path) -> None:
        """A truncated file: its RecordingError on stderr, exit 2, nothing on stdout."""
        good = save_recording(synthetic(duration_s=20.0), tmp_path / "ok.npz")
        bad = tmp_path / "bad.npz"
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        res = subprocess.run(
            [sys.executable, "-m", "edge.cli", "replay", str(bad)],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert res.returncode == 2
        assert res.stdout == ""
        assert str(bad) in res.stderr
        assert "Traceback" not in res.stderr

    def test_rule_broken_names_the_array(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A recording whose gas_t goes back in time is refused naming gas_t."""
        path = tmp_path / "back.npz"
        rec = synthetic(duration_s=20.0)
        arrays = {
            "frame_t": rec.frame_t, "frames": rec.frames, "gas_t": rec.gas_t[::-1].copy(),
            "co2_ppm": rec.co2_ppm, "temperature_c": rec.temperature_c,
            "humidity_pct": rec.humidity_pct,
        }
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
        assert main(["replay", str(path)]) == 2
        err = capsys.readouterr()
        assert err.out == ""
        assert "gas_t" in err.err

    def test_bad_model_path_exit_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A --model that does not exist is refused with its path, exit 2."""
        path = save_recording(synthetic(duration_s=20.0), tmp_path / "ok.npz")
        assert main(["replay", str(path), "--model", str(tmp_path / "nope")]) == 2
        assert "nope" in capsys.readouterr().err


class TestModelOptions:
    DEMO_MODEL = "tests/data/seed-v1-model/20261129T000800Z-7e67e658.tar.gz"
    DEMO_KEY = "tests/data/seed-v1-model/model-signing.pub.pem"

    def _replay(self, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        rec = save_recording(synthetic(duration_s=120.0), tmp_path / "fire.npz")
        return subprocess.run(
            [sys.executable, "-m", "edge.cli", "replay", str(rec), *extra],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )

    def test_signed_tarball_loads_with_public_key_option(self, tmp_path: Path) -> None:
        """--public-key checks a signed .tar.gz given with --model, with no config file."""
        done = self._replay(tmp_path, "--model", self.DEMO_MODEL, "--public-key", self.DEMO_KEY)
        assert done.returncode == 0, done.stderr
        assert "refused" not in done.stderr and "rule fallback" not in done.stderr

    def test_missing_key_is_said_once_naming_the_archive(self, tmp_path: Path) -> None:
        """Without a key the refusal is one stderr line naming the .tar.gz and --public-key."""
        done = self._replay(tmp_path, "--model", self.DEMO_MODEL)
        assert done.returncode == 2 and done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"{self.DEMO_MODEL}: model refused: ")
        assert "--public-key" in lines[0] and "firedetect-model-" not in lines[0]


class TestSamePipeline:
    def test_replay_equals_batch_features_model_alarm(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Replay's alarm/clear events equal the batch path: featurize → score → alarm logic."""
        from edge.config import AlarmConfig
        from edge.detect.alarm import AlarmStateMachine
        from edge.detect.plausibility import plausible_recording
        from edge.features import featurize_recording
        from edge.model.rules import RULES_THRESHOLD, rule_score

        rec = synthetic(duration_s=240.0, fire_at=40.0)
        # The fire burns out at 150 s so the alarm also clears.
        rec.frames[rec.frame_t > 150.0] = ROOM_RAW
        rec.co2_ppm[rec.gas_t > 150.0] = 450.0
        path = save_recording(rec, tmp_path / "burnout.npz")
        got = [(ln["event"], ln["t"], ln["score"]) for ln in replay_lines(path, capsys)]
        sm = AlarmStateMachine(AlarmConfig(), RULES_THRESHOLD)
        want = []
        # the batch path with the pipeline's SCD41 filter, as training uses it (the sudden
        # 2650 → 450 ppm burnout is faster than the sensor's lag: readings held back)
        for t, x in zip(*featurize_recording(plausible_recording(rec)), strict=True):
            for ev in sm.update(float(t), rule_score(x).probability):
                want.append((ev.kind, round(ev.t, 3), round(ev.score, 4)))
        assert [e[0] for e in want] == ["alarm", "clear"]
        assert got == want


class TestReplayScenario:
    def test_scenario_fire_alarms(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A rendered flaming-fire scenario raises an alarm (rule fallback: no model given)."""
        scenarios = pytest.importorskip("edge.sim.scenarios")
        if not hasattr(scenarios, "render_recording"):
            pytest.skip("the scenario engine has no render_recording yet")
        rec = scenarios.render_recording("flaming_upholstery", 1, 180.0, frame_rate_hz=2.0,
                                         fire_start_s=72.0)  # ignition inside the 180 s
        path = save_recording(rec, tmp_path / "upholstery.npz")
        assert load_recording(path).fire_start_s is not None
        lines = replay_lines(path, capsys)
        alarms = [ln for ln in lines if ln["event"] == "alarm"]
        assert alarms, lines
        assert all(ln["model"] == "rules-v1" and ln["degraded"] for ln in alarms)
