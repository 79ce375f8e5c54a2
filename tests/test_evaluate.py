"""Tests of the held-out evaluation: its statistics, run plan, replay modes and report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cloud.heldout.metrics import kaplan_meier, poisson_rate_ci, tta_summary, wilson_ci
from cloud.heldout.report import write_report
from cloud.heldout.suite import (
    MODES,
    HeldoutRun,
    Job,
    check_disjoint,
    evaluate_run,
    main,
    plan_runs,
    readings,
    training_seeds,
)
from cloud.heldout.summary import (
    FLAMING_KIND,
    family_stats,
    fire_kind,
    frame_by_kind,
    frame_stats,
    run_outcome,
    summarise,
)
from edge.sim.scenarios import SCENARIOS, render_recording
from edge.types import GasReading, ThermalFrame
from tests.modelkit import Kit, build, kit  # noqa: F401  (session fixture)


class TestWilsonCi:
    def test_known_interval(self) -> None:
        """8 of 10 gives the textbook Wilson interval 0.490–0.943."""
        lo, hi = wilson_ci(8, 10)
        assert lo == pytest.approx(0.4902, abs=1e-4)
        assert hi == pytest.approx(0.9433, abs=1e-4)

    def test_all_and_none(self) -> None:
        """k = n has upper bound exactly 1 and k = 0 lower bound exactly 0; 20/20 ≥ 83.9 %."""
        assert wilson_ci(20, 20)[1] == 1.0
        assert wilson_ci(20, 20)[0] == pytest.approx(0.8389, abs=1e-4)
        assert wilson_ci(0, 20)[0] == 0.0

    def test_no_runs_and_bad_counts(self) -> None:
        """n = 0 is undefined (NaN); k outside [0, n] is refused."""
        assert all(math.isnan(v) for v in wilson_ci(0, 0))
        with pytest.raises(ValueError, match="0 ≤ k ≤ n"):
            wilson_ci(3, 2)


class TestPoissonRateCi:
    def test_zero_events(self) -> None:
        """Zero alarms over 10 device-days bounds the rate below 3.689/10 per day."""
        rate, lo, hi = poisson_rate_ci(0, 10.0)
        assert (rate, lo) == (0.0, 0.0)
        assert hi == pytest.approx(0.3689, abs=1e-4)

    def test_known_interval(self) -> None:
        """5 events over 1 unit give Garwood's 1.624–11.668."""
        rate, lo, hi = poisson_rate_ci(5, 1.0)
        assert rate == 5.0
        assert lo == pytest.approx(1.6235, abs=1e-3)
        assert hi == pytest.approx(11.668, abs=1e-3)

    def test_no_exposure_and_negative(self) -> None:
        """No exposure is undefined; a negative count is refused."""
        assert math.isnan(poisson_rate_ci(0, 0.0)[0])
        with pytest.raises(ValueError):
            poisson_rate_ci(-1, 1.0)


class TestKaplanMeier:
    def test_censoring(self) -> None:
        """A miss censored at 2 s leaves the risk set: 1 → 2/3 at 1 s → 0 at 3 s."""
        km = kaplan_meier([1.0, 2.0, 3.0], [True, False, True])
        assert km.survival == pytest.approx((1.0, 2 / 3, 0.0))
        assert km.median() == 3.0

    def test_tta_summary_counts_misses(self) -> None:
        """Two of four detected: plain median 10 s over detections, KM median 15 s (half the
        runs alarmed by then), KM p95 never reached."""
        s = tta_summary([5.0, 15.0], [100.0, 100.0])
        assert s["median_s"] == 10.0
        assert s["n_censored"] == 2
        assert s["km_median_s"] == 15.0
        assert math.isnan(float(s["km_p95_s"]))


class TestPlanRuns:
    def test_counts_rates_and_seeds(self) -> None:
        """N runs per family, the first k at 8.7 Hz, every seed distinct."""
        runs = plan_runs(3, 120.0, 1.0, full_rate_runs=1)
        assert len(runs) == 3 * len(SCENARIOS)
        assert sum(r.rate_hz == 8.7 for r in runs) == len(SCENARIOS)
        assert len({r.seed for r in runs}) == len(runs)

    def test_slow_duration_only_for_slow_fires(self) -> None:
        """F3–F5 get the slow duration; the rest the normal one."""
        runs = plan_runs(1, 100.0, 1.0, full_rate_runs=0, slow_duration_s=900.0)
        slow = {SCENARIOS[r.scenario].code for r in runs if r.duration_s == 900.0}
        assert slow == {"F3", "F4", "F5"}

    def test_nuisance_duration_only_for_nuisances(self) -> None:
        """N1–N6 get the nuisance duration, F3–F5 the slow one, the flaming fires neither."""
        runs = plan_runs(1, 100.0, 1.0, full_rate_runs=0, slow_duration_s=900.0,
                         nuisance_duration_s=1200.0)
        by = {SCENARIOS[r.scenario].code: r.duration_s for r in runs}
        assert {c for c, d in by.items() if d == 1200.0} == {f"N{i}" for i in range(1, 7)}
        assert {c for c, d in by.items() if d == 900.0} == {"F3", "F4", "F5"}
        assert by["F1"] == by["F2"] == by["F6"] == 100.0

    @pytest.mark.parametrize("kw", ["slow_duration_s", "nuisance_duration_s"])
    def test_bad_durations_named(self, kw: str) -> None:
        """A slow-fire or nuisance length of 0 s or less is refused, naming the option."""
        option = "--" + kw.removesuffix("_s").replace("_", "-")
        with pytest.raises(ValueError, match=option):
            plan_runs(1, 100.0, 1.0, full_rate_runs=0, **{kw: 0.0})

    def test_unknown_family(self) -> None:
        """An unknown family name is refused with the allowed names."""
        with pytest.raises(ValueError, match="flaming_upholstery"):
            plan_runs(1, 10.0, 1.0, full_rate_runs=0, families=["bonfire"])

    def test_training_seeds_are_refused(self) -> None:
        """A seed the manifest's training data used is refused."""
        manifest = {"training_data": {"sources": ["simulate:50x600s@1Hz,seed=7"]}}
        seeds = training_seeds(manifest)
        assert seeds == {7 * 100_003 + i for i in range(50)}
        clash = [HeldoutRun("occupancy", 7 * 100_003 + 3, 10.0, 1.0)]
        with pytest.raises(ValueError, match="used to train"):
            check_disjoint(clash, seeds)
        check_disjoint(plan_runs(20, 10.0, 1.0, full_rate_runs=0), seeds)


class TestReadings:
    def test_modes_drop_one_sensor(self) -> None:
        """Fused keeps both streams; each ablation drops exactly one, in time order."""
        rec = render_recording("occupancy", 5, 20.0, frame_rate_hz=1.0)
        kinds = {m: [type(r) for r in readings(rec, m)] for m in MODES}
        assert kinds["fused"].count(ThermalFrame) == rec.frame_t.size
        assert kinds["fused"].count(GasReading) == rec.gas_t.size
        assert set(kinds["thermal_only"]) == {ThermalFrame}
        assert set(kinds["co2_only"]) == {GasReading}
        ts = [r.t for r in readings(rec, "fused")]
        assert ts == sorted(ts)
        with pytest.raises(ValueError, match="mode"):
            list(readings(rec, "smell_only"))


def _run(events: list[dict[str, Any]], t0: float | None, duration: float = 100.0
         ) -> dict[str, Any]:
    return {"fire_start_s": t0, "duration_s": duration, "family": "F1",
            "modes": {"fused": {"events": events, "t": [], "p": [], "threshold": 0.5}}}


class TestVisibleTimes:
    def test_new_hot_pixels_only(self) -> None:
        """A hob hot before the onset does not count; 1 new hot px, then 4, are found."""
        from cloud.heldout.suite import visible_times
        from edge.recording import Recording

        k = 0.1
        cold, hot = round(295.0 / k), round((150.0 + 273.15) / k)
        frames = np.full((6, 10, 10), cold, np.uint16)
        frames[:, 0, 0] = hot  # the hob, on all along
        frames[3:, 5, 5] = hot  # one new pixel at t = 3
        frames[5:, 6, 6:9] = hot  # three more at t = 5
        rec = Recording(frame_t=np.arange(6.0), frames=frames, frame_resolution_k=k,
                        gas_t=np.array([0.0]), co2_ppm=np.array([400.0]),
                        temperature_c=np.array([20.0]), humidity_pct=np.array([40.0]),
                        meta={"fire_start_s": 2.0})
        assert visible_times(rec) == {"spot_s": 3.0, "flame_4px_s": 5.0}
        rec.meta["fire_start_s"] = None
        assert visible_times(rec) == {"spot_s": None, "flame_4px_s": None}


class TestRunOutcome:
    def test_detection_and_tta(self) -> None:
        """An alarm 12 s after t0 is a detection with TTA 12 s and no false alarm; 7 s after
        the flame showed on 4 px."""
        run = _run([{"kind": "alarm", "t": 52.0, "sensor": None}], 40.0)
        run |= {"flame_4px_s": 45.0, "spot_s": None}
        o = run_outcome(run, "fused")
        assert (o["detected"], o["tta_s"], o["false_alarms"]) == (True, 12.0, 0)
        assert o["from_flame_4px_s"] == {"tta_s": 7.0, "detected": True}
        assert o["from_spot_s"] is None

    def test_alarm_standing_at_onset(self) -> None:
        """An uncleared alarm before t0 detects the fire at TTA 0 and is a false alarm."""
        o = run_outcome(_run([{"kind": "alarm", "t": 10.0, "sensor": None}], 40.0), "fused")
        assert (o["detected"], o["tta_s"], o["false_alarms"], o["standing_at_t0"]) == (
            True, 0.0, 1, True)

    def test_cleared_alarm_before_onset_is_not_a_detection(self) -> None:
        """An alarm raised and cleared before t0 is only a false alarm."""
        ev = [{"kind": "alarm", "t": 5.0, "sensor": None},
              {"kind": "clear", "t": 30.0, "sensor": None}]
        o = run_outcome(_run(ev, 40.0), "fused")
        assert (o["detected"], o["false_alarms"]) == (False, 1)
        assert o["fire_s"] == 60.0

    def test_nuisance_false_alarms_per_day(self) -> None:
        """Two alarms over 2 × 43 200 s of nuisance is 2 per device-day."""
        runs = [_run([{"kind": "alarm", "t": 1.0, "sensor": None}], None, 43_200.0),
                _run([{"kind": "alarm", "t": 9.0, "sensor": None}], None, 43_200.0)]
        st = family_stats(runs, "fused")
        assert st["fa_per_device_day"] == pytest.approx(2.0)
        assert st["runs_alarming_pct"] == 100.0


def _scored(family: str, t0: float | None, p: list[float]) -> dict[str, Any]:
    """A run scored once a second: ``p[i]`` at t = i s."""
    return {"fire_start_s": t0, "duration_s": float(len(p)), "family": family,
            "scenario": family.lower(), "rate_hz": 1.0, "engine": "ours",
            "modes": {"fused": {"events": [], "t": [float(i) for i in range(len(p))],
                                "p": p, "threshold": 0.5}}}


class TestFrameByKind:
    def test_kinds_of_families(self) -> None:
        """F3, F5 and CFAST's smoulder (CF2) are smouldering, F4 is out of view, every other
        fire flaming; a nuisance has no kind."""
        kinds = {f: fire_kind({"fire_start_s": 1.0, "family": f})
                 for f in ("F1", "F2", "F3", "F4", "F5", "F6", "CF1", "CF2", "CF7")}
        assert {f for f, k in kinds.items() if k == FLAMING_KIND} == {"F1", "F2", "F6", "CF1",
                                                                       "CF7"}
        assert {f for f, k in kinds.items() if k and "smouldering" in k} == {"F3", "F5", "CF2"}
        assert kinds["F4"] is not None and "F4" in kinds["F4"]
        assert fire_kind({"fire_start_s": None, "family": "N3"}) is None

    def test_a_kind_ranked_below_the_nuisances_shows_by_itself(self) -> None:
        """A flaming fire scored above every no-fire frame ranks perfectly; an F4 scored under
        the nuisance's frames ranks at 0; together they are in between. Each kind is judged
        against every no-fire frame, the fire runs' own frames before t0 included; the lag
        window [t0, t0 + lag] is left out."""
        flame = _scored("F1", 3.0, [0.1, 0.1, 0.1, 0.2, 0.2, 0.9, 0.9])  # t = 3, 4: the lag
        f4 = _scored("F4", 2.0, [0.1, 0.1, 0.05, 0.05, 0.05, 0.05])
        nuisance = _scored("N3", None, [0.3, 0.4, 0.3, 0.2])
        runs = [flame, f4, nuisance]
        by = frame_by_kind(runs, "fused", lag_s=1.0)
        assert list(by) == [FLAMING_KIND, "out of view, CO2 only (F4)"]
        assert by[FLAMING_KIND]["roc_auc"] == 1.0
        assert by[FLAMING_KIND]["positives"] == 2  # t = 5, 6
        assert by[FLAMING_KIND]["n"] == 2 + 3 + 2 + 4  # + flame's and F4's frames before t0
        assert by["out of view, CO2 only (F4)"]["roc_auc"] == 0.0
        assert by["out of view, CO2 only (F4)"]["positives"] == 2  # t = 4, 5 (lag: 2, 3)
        overall = frame_stats(runs, "fused", lag_s=1.0)["roc_auc"]
        assert 0.0 < overall < 1.0
        summary = summarise(runs, lag_s=1.0)
        assert summary["modes"]["fused"]["frame_by_fire_kind"] == by
        info = [t for t in summary["targets"] if t["target"].startswith("frame roc_auc, ")]
        assert [t["value"] for t in info] == [1.0, 0.0]
        assert all(t["met"] is None for t in info)


TINY_S = 320  # fires ignite 180–300 s in (the F2 run here at 267 s)


@pytest.fixture(scope="module")
def tiny_results() -> list[dict[str, Any]]:
    """One short run per family through the rule fallback (every mode)."""
    runs = plan_runs(1, float(TINY_S), 1.0, full_rate_runs=0, seed_base=123_000)
    return [evaluate_run(Job(r, None, None, False)) for r in runs]


class TestEndToEnd:
    def test_modes_report_the_missing_sensor(self, tiny_results: list[dict[str, Any]]) -> None:
        """Every CO2-only replay faults the Lepton; a thermal-only one never faults the camera
        (only the SCD41 it lacks); a fused one faults nothing."""
        for r in tiny_results:
            assert {e["sensor"] for e in r["modes"]["thermal_only"]["events"]
                    if e["kind"] == "fault"} <= {"scd41"}
            assert {e["sensor"] for e in r["modes"]["co2_only"]["events"]
                    if e["kind"] == "fault"} == {"lepton"}
            assert not [e for e in r["modes"]["fused"]["events"] if e["kind"] == "fault"]

    def test_scores_every_reading(self, tiny_results: list[dict[str, Any]]) -> None:
        """Fused scores once per frame; CO2-only once per SCD41 reading."""
        for r in tiny_results:
            assert len(r["modes"]["fused"]["p"]) == TINY_S
            assert len(r["modes"]["co2_only"]["p"]) == TINY_S // 5

    def test_flaming_fire_is_detected(self, tiny_results: list[dict[str, Any]]) -> None:
        """The rule fallback detects the short fast flaming run after its onset."""
        (f2,) = [r for r in tiny_results if r["family"] == "F2"]
        o = run_outcome(f2, "fused")
        assert o["detected"] and 0.0 <= o["tta_s"] < TINY_S - 267.0

    def test_ablations_on_some_runs_only(self, tiny_results: list[dict[str, Any]]) -> None:
        """Runs replayed only fused (``--ablation-runs``) count in fused tables only."""
        mixed = [r if i % 2 else r | {"modes": {"fused": r["modes"]["fused"]}}
                 for i, r in enumerate(tiny_results)]
        summary = summarise(mixed)
        fused = sum(s["runs"] for s in summary["modes"]["fused"]["families"].values())
        ablated = sum(s["runs"] for s in summary["modes"]["co2_only"]["families"].values())
        assert (fused, ablated) == (len(mixed), len(mixed) // 2)

    def test_report_files(self, tiny_results: list[dict[str, Any]], tmp_path: Path) -> None:
        """summary.json, runs.json, report.md and five plots are written; one row per family."""
        some = [r for r in tiny_results if r["family"] in ("F1", "F2", "N1", "N3")]
        summary = summarise(some)
        summary |= {"model": {"version": "rules-v1"}, "command": "test"}
        write_report(tmp_path, some, summary, {"holdout_families": {}})
        names = {p.name for p in tmp_path.iterdir()}
        assert {"summary.json", "runs.json", "report.md", "detection.png", "tta_km.png",
                "roc_pr.png", "nuisance.png", "traces.png"} <= names
        doc = json.loads((tmp_path / "summary.json").read_text())
        assert len(doc["modes"]["fused"]["families"]) == 4
        assert "| flaming F1/F2/F6 detected |" in (tmp_path / "report.md").read_text()

    def test_report_of_nuisances_only(self, tiny_results: list[dict[str, Any]],
                                      tmp_path: Path) -> None:
        """A suite of nuisance runs only (``--families N2,N3``) still writes every file:
        the detection plot says there is nothing to detect; the false alarms are reported."""
        some = [r for r in tiny_results if r["label"] != "fire"]
        summary = summarise(some) | {"model": {"version": "rules-v1"}, "command": "test"}
        write_report(tmp_path, some, summary, {"holdout_families": {}})
        assert {"report.md", "detection.png", "tta_km.png", "nuisance.png"} <= {
            p.name for p in tmp_path.iterdir()}
        assert "| cooking N2/N3 runs alarming |" in (tmp_path / "report.md").read_text()


class TestMain:
    def test_refuses_a_non_empty_out(self, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
        """An existing report folder is never overwritten (exit 2, file untouched)."""
        (tmp_path / "report.md").write_text("keep me")
        assert main(["--out", str(tmp_path), "--runs", "1", "--families", "occupancy"]) == 2
        assert "not empty" in capsys.readouterr().err
        assert (tmp_path / "report.md").read_text() == "keep me"

    def test_bad_config_named_before_any_run(self, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
        """--config with a bad key stops at once (exit 2) naming it; nothing is written."""
        bad = tmp_path / "bad.toml"
        bad.write_text('[flame]\nhot_c = "hot"\n')
        out = tmp_path / "r"
        assert main(["--out", str(out), "--runs", "1", "--config", str(bad)]) == 2
        assert "flame.hot_c" in capsys.readouterr().err
        assert not out.exists()

    def test_refuses_a_model_trained_on_the_seeds(self, kit: Kit, tmp_path: Path,  # noqa: F811
                                                  capsys: pytest.CaptureFixture[str]) -> None:
        """A model whose training seeds overlap the held-out plan is refused before any run."""
        seed = 73_000  # candles_fireplace (first by name) gets seed_base + i
        info = build(tmp_path / "m", kit.pipelines_a, kit.key, version="clash",
                     training_data={"id": "x", "n_samples": 1,
                                    "sources": [f"simulate:5x60s@1Hz,seed={seed}"]})
        base = seed * 100_003
        code = main(["--out", str(tmp_path / "r"), "--runs", "1", "--model", str(info.path),
                     "--public-key", str(kit.public_key), "--seed-base", str(base),
                     "--families", "candles_fireplace"])
        assert code == 2
        assert "used to train" in capsys.readouterr().err

    def test_signed_model_end_to_end(self, kit: Kit, tmp_path: Path) -> None:  # noqa: F811
        """A signed artifact is evaluated: its version and threshold are in the summary."""
        out = tmp_path / "r"
        code = main(["--out", str(out), "--runs", "1", "--duration", "20", "--model",
                     str(kit.a.path), "--public-key", str(kit.public_key), "--families",
                     "fast_flaming", "--full-rate-runs", "0"])
        assert code == 0
        doc = json.loads((out / "summary.json").read_text())
        assert doc["model"]["version"] == "model-a"
        assert set(doc["modes"]) == set(MODES)
        assert np.isfinite(doc["modes"]["fused"]["frame"]["n"])
        assert len(list((out / "raw").glob("*.json"))) == 1
        again = tmp_path / "again"
        assert main(["--out", str(again), "--from-raw", str(out), "--runs", "1"]) == 0
        redo = json.loads((again / "summary.json").read_text())
        assert redo["modes"] == doc["modes"] and redo["model"]["version"] == "model-a"
