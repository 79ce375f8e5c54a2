"""Two held-out evaluations compared run by run (cloud.heldout.compare)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloud.heldout.compare import compare, load_runs, main
from cloud.heldout.summary import run_outcome

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"


def run(scenario: str, seed: int, alarms: list[tuple[float, str]],
        fire_start_s: float | None = 100.0, engine: str = "ours") -> dict[str, Any]:
    """A run as ``runs.json`` holds it: its truth and its fused replay's events."""
    events = [{"kind": "alarm" if why != "cleared" else "clear", "t": t, "score": 0.9,
               "sensor": None, "reason": why} for t, why in alarms]
    truth = {"fire_start_s": fire_start_s, "duration_s": 600.0}
    outcome = run_outcome({**truth, "modes": {"fused": {"events": events}}}, "fused")
    return {"scenario": scenario, "seed": seed, "engine": engine, "rate_hz": 1.0,
            "label": "fire" if fire_start_s is not None else "no-fire", **truth,
            "outcomes": {"fused": outcome}, "events": {"fused": events}}


def write(folder: Path, runs: list[dict[str, Any]]) -> Path:
    folder.mkdir()
    (folder / "runs.json").write_text(json.dumps(runs))
    return folder


BEFORE = [run("fast_flaming", 1, [(110.0, "flame_growth")]),        # lost
          run("fast_flaming", 2, []),                               # gained
          run("fast_flaming", 3, [(150.0, "persistent")]),          # 40 s faster
          run("fast_flaming", 4, [(105.0, "flame_growth")]),        # 0.5 s: the same
          run("smoulder_in_view", 5, [(400.0, "smoulder")]),        # 60 s slower
          run("gas_cooking", 6, [], None),                          # a new false alarm
          run("candles_fireplace", 7, [(50.0, "flame_growth")], None),  # fixed
          run("cfast_chair", 8, [(120.0, "flame_growth")], engine="cfast")]  # unchanged
AFTER = [run("fast_flaming", 1, []),
         run("fast_flaming", 2, [(130.0, "persistent")]),
         run("fast_flaming", 3, [(110.0, "flame_growth")]),
         run("fast_flaming", 4, [(105.5, "flame_growth")]),
         run("smoulder_in_view", 5, [(460.0, "smoulder")]),
         run("gas_cooking", 6, [(300.0, "flame_growth")], None),
         run("candles_fireplace", 7, [], None),
         run("cfast_chair", 8, [(120.0, "flame_growth")], engine="cfast"),
         run("fast_flaming", 9, [])]  # only after: not compared


class TestCompare:
    def test_each_kind_of_change_is_counted(self, tmp_path: Path) -> None:
        """Lost and gained fires, faster and slower ones (a change within --min-change is
        none), fixed and new false alarms; a run in one evaluation only is counted apart."""
        c = compare(load_runs(write(tmp_path / "a", BEFORE)),
                    load_runs(write(tmp_path / "b", AFTER)))
        assert (c.matched, c.only_before, c.only_after, c.fires) == (8, 0, 1, 6)
        assert c.lost == [("ours", "fast_flaming", 1)]
        assert c.gained == [("ours", "fast_flaming", 2)]
        assert (c.faster, c.slower) == (1, 1)
        assert sorted(c.tta_change_s) == pytest.approx([-40.0, 0.0, 0.5, 60.0])
        assert c.fixed == [("ours", "candles_fireplace", 7)]
        assert c.new == [("ours", "gas_cooking", 6)]
        assert len(c.rows) == 6  # every changed run, and only those

    def test_a_pre_ignition_alarm_is_a_false_alarm(self) -> None:
        """A fire run alarming (and clearing) before its ignition (a pan heating) is a new
        false alarm, and the fire itself still counts as found both times."""
        b = {("ours", "kitchen_grease_fire", 1): run("kitchen_grease_fire", 1, [(120.0, "x")])}
        a = {("ours", "kitchen_grease_fire", 1): run(
            "kitchen_grease_fire", 1, [(80.0, "smoulder"), (90.0, "cleared"), (120.0, "x")])}
        c = compare(b, a)
        assert c.new == [("ours", "kitchen_grease_fire", 1)] and not c.lost
        assert c.tta_change_s == [0.0]

    def test_an_alarm_standing_at_ignition_detects_at_once(self) -> None:
        """As the suite counts it, an alarm raised before ignition and still standing there
        finds the fire at 0 s (``run_outcome``): 20 s sooner than one raised after."""
        b = {("ours", "kitchen_grease_fire", 1): run("kitchen_grease_fire", 1, [(120.0, "x")])}
        a = {("ours", "kitchen_grease_fire", 1): run("kitchen_grease_fire", 1,
                                                     [(80.0, "smoulder")])}
        c = compare(b, a)
        assert c.tta_change_s == [-20.0] and c.faster == 1
        assert c.rows == ["| ours | kitchen_grease_fire | 1 | 1.0 | none (quiet) | "
                          "80.0 s (smoulder) (quiet) |"]

    def test_markdown_names_the_runs_that_changed(self, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
        """The command prints the counts and one row per changed run, times from ignition."""
        rc = main([str(write(tmp_path / "a", BEFORE)), str(write(tmp_path / "b", AFTER))])
        out = capsys.readouterr().out
        assert rc == 0
        assert "| fires found before only (lost) | 1 |" in out
        assert "| runs alarming while quiet, after only (new false alarms) | 1 |" in out
        assert "| ours | fast_flaming | 3 | 1.0 | 50.0 s (persistent) | 10.0 s (flame_growth) |" \
            in out
        assert "cfast_chair" not in out


class TestOnRealSuites:
    def test_the_watches_off_show_as_a_slower_fire(self, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
        """Two real suite runs of the same flaming fire with the demo model, the watches on
        and off: compare finds the one run whose alarm came later, and says why each came
        (``flame_growth`` against the score alone); the same suite twice changes nothing."""
        from cloud.heldout.suite import main as suite

        off = tmp_path / "off.toml"
        off.write_text("[flame]\nenabled = false\n[smoulder]\nenabled = false\n")
        common = ["--model", str(next((DEMO / "model").glob("*9d5b220e.tar.gz"))),
                  "--public-key", str(DEMO / "model-signing.pub.pem"), "--engine", "ours",
                  "--families", "flaming_upholstery", "--runs", "1", "--duration", "400",
                  "--rate", "1", "--full-rate-runs", "0", "--ablation-runs", "0",
                  "--workers", "1"]
        on_a, on_b, no = tmp_path / "on-a", tmp_path / "on-b", tmp_path / "off"
        assert suite([*common, "--out", str(on_a), "--config", str(DEMO / "config.toml")]) == 0
        assert suite([*common, "--out", str(on_b), "--config", str(DEMO / "config.toml")]) == 0
        assert suite([*common, "--out", str(no), "--config", str(off)]) == 0
        same = compare(load_runs(on_a), load_runs(on_b))
        assert (same.matched, same.rows, same.tta_change_s) == (1, [], [0.0])
        capsys.readouterr()
        assert main([str(on_a), str(no)]) == 0
        out = capsys.readouterr().out
        assert "| found both times: faster / slower (by more than the least change) | 0 / 1 |" \
            in out
        row = [line for line in out.splitlines() if "flaming_upholstery" in line]
        assert len(row) == 1 and "(flame_growth)" in row[0] and "(persistent)" in row[0]


class TestBadInput:
    def test_missing_folder_is_named(self, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
        rc = main([str(tmp_path / "nope"), str(tmp_path / "nope2")])
        assert rc == 2
        err = capsys.readouterr().err
        assert "nope/runs.json: no such file" in err and "cloud.heldout.suite" in err

    def test_not_a_suites_runs(self, tmp_path: Path) -> None:
        folder = tmp_path / "x"
        folder.mkdir()
        (folder / "runs.json").write_text('[{"seed": 1}]')
        with pytest.raises(ValueError, match="not a held-out suite's runs"):
            load_runs(folder)

    def test_no_shared_run(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        a = write(tmp_path / "a", [run("fast_flaming", 1, [])])
        b = write(tmp_path / "b", [run("fast_flaming", 2, [])])
        assert main([str(a), str(b)]) == 2
        assert "share no run" in capsys.readouterr().err

    def test_unknown_mode_and_negative_change(self, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
        a = write(tmp_path / "a", BEFORE)
        assert main([str(a), str(a), "--mode", "thermal_only"]) == 2
        assert "no 'thermal_only' replay; allowed: fused" in capsys.readouterr().err
        assert main([str(a), str(a), "--min-change", "-1"]) == 2
        assert "--min-change" in capsys.readouterr().err
