"""``firedetect sensors`` and ``firedetect record``: the real drivers, on simulated chips or missing
hardware."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.recording import load_recording

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(
    r"t=\s*[\d.]+ s  scd41: CO2 (\d+) ppm, ([\d.-]+) °C, ([\d.]+) %RH  \|  "
    r"lepton: frame \d+ 160×120 min ([\d.-]+) mean ([\d.-]+) max ([\d.-]+) °C"
)


class TestSensorsCommand:
    def test_simulated_readings_through_the_drivers(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--simulate prints one line per reading with the quiet room's values."""
        assert main(["sensors", "--simulate", "--count", "3"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 3
        for line in lines:
            m = LINE.match(line)
            assert m, line
            co2, t, rh, tmin, tmean, tmax = (float(x) for x in m.groups())
            assert 400 <= co2 <= 500 and 20 < t < 23 and 38 < rh < 42
            assert 18 < tmin < tmean < 25 and 43 < tmax < 47  # the radiator at ~45 °C

    def test_closed_pipe_stops_quietly(self) -> None:
        """`firedetect sensors | head -1`: the reader leaving ends it without a traceback."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "sensors", "--simulate"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        assert LINE.match(proc.stdout.readline())
        proc.stdout.close()  # as `head` does after its line
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 1
        assert "Traceback" not in err and "BrokenPipeError" not in err, err

    def test_missing_hardware_says_what_and_how(self, tmp_path: Path) -> None:
        """No I2C bus and no SPI device: both named with a fix, exit 1, no traceback."""
        cfg = tmp_path / "hw.toml"
        cfg.write_text('[sensors.scd41]\nbus = "/dev/i2c-99"\n'
                       "[sensors.lepton]\nspi_bus = 6\ncci_bus = 19\n")
        res = subprocess.run(
            [sys.executable, "-m", "edge.cli", "sensors", "--config", str(cfg), "--count", "1"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )
        assert res.returncode == 1
        assert "Traceback" not in res.stderr
        problems = [ln for ln in res.stderr.splitlines() if ln.startswith("problem:")]
        assert len(problems) == 2, res.stderr
        assert problems[0].startswith("problem: scd41:") and "/dev/i2c-99" in problems[0]
        assert problems[1].startswith("problem: lepton:")
        assert all(" — " in p for p in problems)  # each carries its hint
        assert res.stdout == ""

    def test_bad_count_and_config(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A negative count or a bad config exits 2 with a message."""
        assert main(["sensors", "--simulate", "--count", "-1"]) == 2
        cfg = tmp_path / "bad.toml"
        cfg.write_text("[sensors.scd41]\naddress = 999\n")
        assert main(["sensors", "--config", str(cfg)]) == 2
        assert "sensors.scd41.address" in capsys.readouterr().err


class TestRecordCommand:
    def test_simulated_recording_is_valid_and_never_overwritten(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A simulated 15 s recording loads per the spec; a second run refuses to overwrite."""
        out = tmp_path / "rec.npz"
        assert main(["record", "--out", str(out), "--simulate", "static", "--duration", "15",
                     "--speed", "3"]) == 0
        rec = load_recording(out)
        assert rec.frames.shape[1:] == (120, 160)
        rate = len(rec.frame_t) / 15.0
        assert 4.0 < rate < 9.5, rate  # ~8.7 Hz less FFC repeats and scheduling gaps
        assert np.all(np.diff(rec.frame_t) > 0) and rec.frame_t[0] >= 0
        assert len(rec.gas_t) >= 1 and 400 < rec.co2_ppm[0] < 500
        assert rec.meta["scenario"] == "static" and rec.meta["fire_start_s"] is None
        before = out.read_bytes()
        assert main(["record", "--out", str(out), "--simulate", "static",
                     "--duration", "1"]) == 1
        assert "refusing to overwrite" in capsys.readouterr().err
        assert out.read_bytes() == before

    def test_unknown_scenario_lists_names(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unknown scenario exits 2 and lists the known ones."""
        assert main(["record", "--out", str(tmp_path / "x.npz"), "--simulate", "bonfire",
                     "--duration", "1"]) == 2
        err = capsys.readouterr().err
        assert "bonfire" in err and "fast_flaming" in err and "static" in err
        assert not (tmp_path / "x.npz").exists()
