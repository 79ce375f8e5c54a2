"""``firedetect plot --replay``: score, threshold, evidence sources and events beside thumbnails."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.config import Config
from edge.recording import Recording, save_recording

ROOM_RAW = int((22.0 + 273.15) * 100)
FIRE_RAW = int((350.0 + 273.15) * 100)


def spreading_fire(duration_s: float = 150.0, fire_at: float = 90.0) -> Recording:
    """A quiet room; from ``fire_at`` a 350 °C region new to the scene grows by 4 px per 2 s,
    and CO2 rises 3 ppm/s."""
    ft = np.arange(0.0, duration_s, 0.5)
    frames = np.full((len(ft), 120, 160), ROOM_RAW, np.uint16)
    for i, t in enumerate(ft):
        if t >= fire_at:
            n = np.arange(min(int((t - fire_at) / 2) * 4 + 4, 400))
            frames[i, 40 + n // 20, 60 + n % 20] = FIRE_RAW
    gt = np.arange(5.0, duration_s, 5.0)
    co2 = np.where(gt > fire_at, 450.0 + (gt - fire_at) * 3.0, 450.0).astype(np.float32)
    return Recording(ft, frames, gt, co2, np.full(len(gt), 22.0, np.float32),
                     np.full(len(gt), 40.0, np.float32), meta={"fire_start_s": fire_at})


class TestPlotReplay:
    def test_svg_has_the_panels_and_the_alarm(self, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
        """The picture is written with the score, evidence and readings panels, and the
        alarm's thumbnail and words."""
        pytest.importorskip("matplotlib")
        src = tmp_path / "fire.npz"
        save_recording(spreading_fire(), src)
        out = tmp_path / "fire.svg"
        assert main(["plot", str(src), "--out", str(out), "--replay"]) == 0
        assert "1 alarm(s)" in capsys.readouterr().out
        svg = out.read_text(encoding="utf-8")
        for text in ("fire score and alarm threshold", "evidence sources",
                     "hottest pixel and CO2", "flame_growth", "threshold",
                     "alarm, max 350 °C", "1 alarm(s), first at"):
            assert text in svg, text

    def test_trace_and_titles(self, tmp_path: Path) -> None:
        """The trace holds the score, the threshold in use, the watch that spoke and the
        event; the thumbnails include the alarm's moment."""
        pytest.importorskip("matplotlib")
        from edge.commands.replay import replay_pipeline
        from edge.plot_replay import TITLES, plot_replay, trace_replay

        rec = spreading_fire()
        pipeline = replay_pipeline(Config())
        assert not isinstance(pipeline, str)
        trace = trace_replay(rec, pipeline)
        assert [kind for _, kind, _ in trace.events] == ["alarm"]
        alarm_t = trace.events[0][0]
        assert trace.active["flame_growth"] and min(trace.active["flame_growth"]) >= 90.0
        assert set(trace.threshold) == {pipeline.alarm.threshold}
        titles = plot_replay(rec, trace, tmp_path / "p.png")
        assert titles[-3:] == list(TITLES)
        assert f"{alarm_t:.0f} s alarm, max 350 °C" in titles[:-3]
        assert (tmp_path / "p.png").stat().st_size > 0

    def test_without_matplotlib(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
        """Without matplotlib the command names the train extra and exits 2, writing nothing."""
        monkeypatch.setitem(sys.modules, "matplotlib", None)
        src = tmp_path / "fire.npz"
        save_recording(spreading_fire(duration_s=10.0), src)
        out = tmp_path / "x.png"
        assert main(["plot", str(src), "--out", str(out), "--replay"]) == 2
        assert "matplotlib, which is in the train extra" in capsys.readouterr().err
        assert not out.exists()

    def test_model_options_need_replay(self, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
        """--model without --replay is refused, naming the option."""
        assert main(["plot", "r.npz", "--out", str(tmp_path / "x.png"),
                     "--model", "m.tar.gz"]) == 2
        assert "--replay" in capsys.readouterr().err
