"""The runs the threshold and the bars are chosen on, saved and chosen on again
(cloud.training.choice)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from cloud.training.choice import FORMAT, ChoiceRuns, choice_runs, choose_bars, load_choice, main
from cloud.training.corroborate import WATCH_GROWING
from cloud.training.data import Dataset, Group
from cloud.training.ensemble import Ensemble


def _dataset() -> Dataset:
    """Three 100-s recordings at 1 Hz: a hob whose growing flame the model scores 0.6, a fire
    lit at 50 s, and a heater (left out of the choice below)."""
    t = np.tile(np.arange(100.0), 3)
    group = np.repeat(np.arange(3, dtype=np.int32), 100)
    y = np.zeros(300, np.int8)
    y[100 + 50:200] = 1
    watch = np.zeros(300, np.int8)
    watch[40:60] = WATCH_GROWING
    watch[100 + 55:200] = WATCH_GROWING
    groups = [Group("sim:gas_cooking:1", "gas_cooking", None, 100.0, "recording"),
              Group("sim:fast_flaming:2", "fast_flaming", 50.0, 100.0, "recording"),
              Group("sim:heaters_appliances:3", "heaters_appliances", None, 100.0, "recording")]
    grown = np.full(300, np.nan, np.float32)
    grown[40:60] = np.arange(20.0)
    grown[100 + 55:200] = np.arange(45.0)
    return Dataset(np.zeros((300, 2), np.float32), y, group, t, np.ones(300, bool), groups,
                   watch=watch, watch_s=grown)


def _scores() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    p = np.full(300, 0.1)
    p[40:60] = 0.6  # the hob while its flame grows
    p[100 + 55:200] = 0.97  # the fire
    p[200:] = 0.3
    return p, np.full(300, 0.05)


def _runs() -> tuple[Dataset, ChoiceRuns]:
    ds = _dataset()
    p, p_gas = _scores()
    keep = [0, 1]
    rows = ds.rows_of(keep)
    return ds, choice_runs(ds, rows, p[rows], p_gas[rows], keep, keep, keep)


def _bars(runs: ChoiceRuns) -> Ensemble:
    ens = Ensemble(pipelines={}, weights={})
    choose_bars(ens, runs, "events", 0.05)
    return ens


class TestChoiceRuns:
    def test_subset_renumbered(self) -> None:
        """Only the chosen-on runs' rows are kept, their runs numbered from 0, no features."""
        _, runs = _runs()
        ds = runs.ds
        assert [g.name for g in ds.groups] == ["sim:gas_cooking:1", "sim:fast_flaming:2"]
        assert ds.X.shape == (200, 0)
        assert sorted(set(ds.group.tolist())) == [0, 1]
        assert runs.watched == [0, 1] and runs.gassed == [0, 1]

    def test_bars_chosen_on_the_runs(self) -> None:
        """The hob's growing flame at 0.6 sets the flame bar at 0.65; the fire clears it."""
        ens = _bars(_runs()[1])
        assert ens.flame_bar is not None
        assert ens.flame_bar.bar == pytest.approx(0.65)
        assert ens.flame_bar.highest_stream == "sim:gas_cooking:1"
        assert ens.flame_bar.fires_corroborated == 1
        assert 0.6 < ens.threshold <= 0.95  # the hob's 0.6 for 20 s must not alarm

    def test_round_trip_chooses_the_same(self, tmp_path: Path) -> None:
        """Saved and loaded, the runs give the same threshold and bars, array for array."""
        _, runs = _runs()
        path = runs.save(tmp_path / "deep" / "choice.npz")
        back = load_choice(path)
        for name in ("y", "group", "t", "scored", "watch", "smoulder", "smoulder_steps",
                     "watch_s"):
            np.testing.assert_array_equal(getattr(back.ds, name), getattr(runs.ds, name))
        np.testing.assert_array_equal(back.p, runs.p)
        assert back.ds.groups == runs.ds.groups
        a, b = _bars(runs), _bars(back)
        assert (a.threshold, a.detection()) == (b.threshold, b.detection())

    def test_file_without_growing_times_loads_without_a_ladder(self, tmp_path: Path) -> None:
        """A file written before the flame ladder (no ``watch_s``) loads with no growing times:
        the same bars, and no ladder."""
        _, runs = _runs()
        path = runs.save(tmp_path / "choice.npz")
        with np.load(path) as npz:
            data = {k: npz[k] for k in npz.files if k != "watch_s"}
        old = tmp_path / "old.npz"
        np.savez(old, **data)
        back = load_choice(old)
        assert np.isnan(back.ds.watch_s).all() and back.ds.watch_s.size == runs.p.size
        a, b = _bars(runs), _bars(back)
        assert a.flame_bar is not None and b.flame_bar is not None
        assert a.flame_bar.bar == b.flame_bar.bar and b.flame_bar.ladder == ()

    def test_stray_run_refused(self) -> None:
        ds = _dataset()
        p, p_gas = _scores()
        rows = ds.rows_of([0])
        with pytest.raises(ValueError, match=r"runs \[2\] are watched"):
            choice_runs(ds, rows, p[rows], p_gas[rows], [0], [0, 2], [0])
        with pytest.raises(ValueError, match="scores"):
            choice_runs(ds, rows, p[:3], p_gas[rows], [0], [0], [0])

    def test_cli_prints_the_bars(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                 ) -> None:
        """``python -m cloud.training.choice FILE`` chooses again; a wider margin raises the
        flame bar by as much."""
        path = _runs()[1].save(tmp_path / "choice.npz")
        assert main([str(path)]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["flame_bar"]["bar"] == pytest.approx(0.65)
        assert main([str(path), "--margin", "0.1"]) == 0
        assert json.loads(capsys.readouterr().out)["flame_bar"]["bar"] == pytest.approx(0.7)


class TestBadFiles:
    def _write(self, tmp_path: Path, meta: object = None, drop: str | None = None,
               **change: npt.NDArray[np.generic]) -> Path:
        path = _runs()[1].save(tmp_path / "good.npz")
        with np.load(path) as npz:
            data = {k: npz[k] for k in npz.files}
        if meta is not None:
            data["meta"] = np.asarray(json.dumps(meta))
        if drop:
            del data[drop]
        data.update(change)
        bad = tmp_path / "bad.npz"
        np.savez(bad, **data)
        return bad

    def test_not_npz(self, tmp_path: Path) -> None:
        path = tmp_path / "choice.npz"
        path.write_text("not numpy")
        with pytest.raises(ValueError, match="not a choice file"):
            load_choice(path)

    def test_other_format(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=f"format 'other'; allowed: {FORMAT}"):
            load_choice(self._write(tmp_path, meta={"format": "other"}))

    def test_no_meta(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="no readable 'meta'"):
            load_choice(self._write(tmp_path, drop="meta"))

    def test_missing_array(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=r"arrays \['p_gas'\] missing"):
            load_choice(self._write(tmp_path, drop="p_gas"))

    def test_missized_array(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=r"\['p'\] are not one value per row"):
            load_choice(self._write(tmp_path, p=np.zeros(3)))

    def test_array_not_of_numbers(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="an array is not of numbers"):
            load_choice(self._write(tmp_path, p=np.full(200, "x")))

    def test_row_names_no_run(self, tmp_path: Path) -> None:
        group = np.full(200, 5, np.int32)
        with pytest.raises(ValueError, match="outside the 2 the file lists"):
            load_choice(self._write(tmp_path, group=group))

    def test_cli_names_the_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                ) -> None:
        path = tmp_path / "x.npz"
        path.write_bytes(b"\x00" * 10)
        assert main([str(path)]) == 2
        assert str(path) in capsys.readouterr().err
