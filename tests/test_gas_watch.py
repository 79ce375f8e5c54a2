"""The gas watch (edge.detect.evidence.GasSource): the model's score with the camera blanked,
held at or above a bar for ``[gas] hold_s``, alarms with reason ``gas``.

The pipeline here is the daemon's (features, alarm logic, evidence sources) over a quiet
room's frames and SCD41 readings; the scorer says ``full`` of a whole vector and ``gas`` of one
whose camera columns are blanked, so each test sets what the gas alone says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from edge.cli import main
from edge.config import Config
from edge.config.alarm import AlarmConfig
from edge.detect.alarm import AlarmStateMachine
from edge.detect.evidence import ModelBars, build_sources
from edge.detect.pipeline import Pipeline
from edge.detect.scene import SceneMemory
from edge.features import FeatureExtractor, camera_columns
from edge.recording import save_recording
from edge.sim.scenarios import render_recording
from edge.types import GasReading, ThermalFrame
from tests.fixedscore import FixedScore

ROOT = Path(__file__).resolve().parent.parent
ROOM = np.full((120, 160), round((22.0 + 273.15) / 0.01), np.uint16)


class SplitScorer:
    """``full`` for a vector with camera features, ``gas(t)`` for one with them blanked."""

    def __init__(self, full: float, gas: dict[float, float], empty: float = 0.0) -> None:
        self.full = full
        self.gas = gas  # from time t on (s), the gas-only score
        self.empty = empty  # the score of a vector with no feature at all
        self.t = 0.0
        self.gas_calls = 0

    def score(self, x: np.ndarray) -> FixedScore:
        cam = camera_columns(x.shape[0])
        if np.isnan(x).all():
            return FixedScore(self.empty)
        if np.isnan(x[cam]).all():
            self.gas_calls += 1
            now = max((t for t in self.gas if t <= self.t), default=None)
            return FixedScore(0.0 if now is None else self.gas[now])
        return FixedScore(self.full)


def gas_alarms(scorer: SplitScorer, seconds: float, bars: ModelBars,
               settings: dict[str, object] | None = None, startup_s: float = 0.0,
               gas_until: float = float("inf")) -> list[tuple[float, str]]:
    """(t, reason) of each alarm over ``seconds`` of frames at 1 Hz and readings every 5 s
    (none from ``gas_until``), the alarm threshold 0.8."""
    cfg = Config.model_validate({"gas": settings or {}})
    memory = SceneMemory(cfg.flame)
    pipe = Pipeline(FeatureExtractor(), scorer, AlarmStateMachine(AlarmConfig(), 0.8),
                    stale_after_s={"scd41": 1e6, "lepton": 1e6}, startup_s=startup_s,
                    sources=build_sources(cfg, memory), scene=memory,
                    model_bars=lambda: bars)
    out = []
    for t in np.arange(0.0, seconds, 1.0):
        scorer.t = float(t)
        steps = [pipe.frame(ThermalFrame(float(t), ROOM, 0.01))]
        if t % 5 == 0 and t < gas_until:
            steps.append(pipe.gas(GasReading(float(t), 800.0 + t, 22.0, 40.0)))
        out += [(ev.t, ev.alarm.reason) for s in steps for ev in s.events
                if ev.kind == "alarm" and ev.alarm is not None]
    return out


def test_the_gas_alone_held_over_the_bar_alarms() -> None:
    """The whole score stays low (the camera sees nothing); the gas alone rises to 0.8 at
    100 s, over the model's bar 0.7: the alarm comes ``hold_s`` (10 s) later, reason gas."""
    found = gas_alarms(SplitScorer(0.3, {0.0: 0.1, 100.0: 0.8}), 200.0, ModelBars(gas=0.7))
    assert [r for _, r in found] == ["gas"]
    assert 110.0 <= found[0][0] <= 111.0


def test_one_reading_over_the_bar_does_not_alarm() -> None:
    """A single SCD41 reading (5 s) whose gas-only score is 0.99 is not held for 10 s."""
    found = gas_alarms(SplitScorer(0.3, {0.0: 0.1, 100.0: 0.99, 105.0: 0.1}), 200.0,
                       ModelBars(gas=0.7))
    assert found == []


def test_no_bar_no_gas_alarm() -> None:
    """Neither the model nor the config gives a bar: the gas watch is off."""
    assert gas_alarms(SplitScorer(0.3, {0.0: 0.99}), 200.0, ModelBars(flame=0.5)) == []


def test_the_config_overrides_the_model() -> None:
    scorer = {0.0: 0.1, 100.0: 0.8}
    assert gas_alarms(SplitScorer(0.3, scorer), 200.0, ModelBars(gas=0.7),
                      {"min_score": 0.9}) == []
    assert [r for _, r in gas_alarms(SplitScorer(0.3, scorer), 200.0, ModelBars(),
                                     {"min_score": 0.75})] == ["gas"]
    assert gas_alarms(SplitScorer(0.3, scorer), 200.0, ModelBars(gas=0.7),
                      {"enabled": False}) == []
    found = gas_alarms(SplitScorer(0.3, scorer), 200.0, ModelBars(gas=0.7), {"hold_s": 30.0})
    assert 130.0 <= found[0][0] <= 131.0


def test_not_during_the_start_up_guard() -> None:
    """The gas alone high from the start: nothing until the start-up guard ends (60 s), then
    the hold counts from there."""
    found = gas_alarms(SplitScorer(0.3, {0.0: 0.9}), 200.0, ModelBars(gas=0.7), startup_s=60.0)
    assert [r for _, r in found] == ["gas"] and 70.0 <= found[0][0] <= 71.0


def test_stale_gas_says_nothing() -> None:
    """The SCD41 stops reading at 50 s; 30 s later its features are stale (NaN), and a model
    may score a vector with no feature at all as anything (here 0.9): the gas says nothing."""
    found = gas_alarms(SplitScorer(0.3, {0.0: 0.1}, empty=0.9), 250.0, ModelBars(gas=0.7),
                       gas_until=50.0)
    assert found == []


def test_the_gas_alone_alarms_with_the_camera_dead() -> None:
    """No frame at all: each SCD41 reading is scored on its own (the camera's columns NaN,
    so the whole score is the gas-only one, 0.75, under the threshold 0.8). The gas watch is
    asked on those readings too, and alarms after ``hold_s``, as it would with a live camera
    that sees nothing."""
    cfg = Config.model_validate({})
    memory = SceneMemory(cfg.flame)
    scorer = SplitScorer(0.3, {0.0: 0.1, 100.0: 0.75})
    pipe = Pipeline(FeatureExtractor(), scorer, AlarmStateMachine(AlarmConfig(), 0.8),
                    stale_after_s={"scd41": 1e6, "lepton": 1e6},
                    sources=build_sources(cfg, memory), scene=memory,
                    model_bars=lambda: ModelBars(gas=0.7))
    found = []
    for t in np.arange(0.0, 200.0, 5.0):
        scorer.t = float(t)
        found += [(ev.t, ev.alarm.reason) for ev in
                  pipe.gas(GasReading(float(t), 800.0 + t, 22.0, 40.0)).events
                  if ev.kind == "alarm" and ev.alarm is not None]
    assert [r for _, r in found] == ["gas"] and found[0][0] == 110.0


def test_the_gas_only_score_is_scored_once_per_reading() -> None:
    """The gas watch asks every frame; the blanked vector changes with each SCD41 reading,
    so it is scored once per reading, not once per frame."""
    scorer = SplitScorer(0.3, {0.0: 0.1})
    gas_alarms(scorer, 100.0, ModelBars(gas=0.7))
    assert 0 < scorer.gas_calls <= 100 / 5 + 1


def test_out_of_range_settings_are_named() -> None:
    with pytest.raises(ValidationError, match="min_score"):
        Config.model_validate({"gas": {"min_score": 1.5}})
    with pytest.raises(ValidationError, match="hold_s"):
        Config.model_validate({"gas": {"hold_s": -1}})
    with pytest.raises(ValidationError, match="hold"):
        Config.model_validate({"gas": {"hold": 10}})


@pytest.fixture(scope="module")
def hidden_fire(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fast_flaming`` seed 7400030003, 420 s at 1 Hz: a flaming fire from 226.0 s that the
    camera, 4.9 m away, never sees as 4 px of flame; CO2 rises ~600 ppm in two minutes. The
    shipped device of session 22 did not alarm on it in 600 s (development suite)."""
    path = tmp_path_factory.mktemp("gas") / "hidden.npz"
    save_recording(render_recording("fast_flaming", 7400030003, 420.0, frame_rate_hz=1.0), path)
    return path


def _replay(path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main(["replay", str(path), "--config", str(config)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_the_demo_model_alarms_on_a_hidden_fire_by_its_gas(
        hidden_fire: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``firedetect replay`` with the demo config: the fire nobody sees alarms with reason
    ``gas`` (157 s after ignition with session 28's demo model, 172 s with session 22's); with
    the gas watch off it alarms later or not at all (session 28's model scores this fire past
    its own threshold 3 s after the gas watch: ``persistent`` at 386 s; session 22's never)."""
    events = _replay(hidden_fire, ROOT / "demo" / "config.toml", capsys)
    alarms = [e for e in events if e["event"] == "alarm"]
    assert [a["reason"] for a in alarms] == ["gas"], events
    assert 226.0 + 60.0 <= alarms[0]["t"] <= 226.0 + 190.0
    assert alarms[0]["why"].startswith("the gas alone scores ")
    off = tmp_path / "off.toml"
    off.write_text((ROOT / "demo" / "config.toml").read_text().replace(
        'path = "demo/', f'path = "{ROOT}/demo/').replace(
        'public_key = "demo/', f'public_key = "{ROOT}/demo/').replace(
        "\n[gas]\n", "\n[gas]\nenabled = false\n"))
    without = [e for e in _replay(hidden_fire, off, capsys) if e["event"] == "alarm"]
    assert all(e["reason"] != "gas" for e in without), without
    assert not without or without[0]["t"] > alarms[0]["t"], (alarms, without)
