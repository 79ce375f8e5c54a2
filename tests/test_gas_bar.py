"""The gas watch's bar: chosen on validation runs (cloud.training.gas_bar), carried by the
model's manifest (detection.gas_min_score), refused out of range."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cloud.training.data import Dataset
from cloud.training.evaluate import gas_only_scores
from cloud.training.gas_bar import CEILING, FLOOR, GasBar, choose_gas_bar, held_scores
from tests.test_corroborate import dataset as flame_dataset


def dataset(runs: list[tuple[float | None, list[float]]]) -> Dataset:
    """Runs of (fire start, gas-only scores), one row a second, the scores in the first
    column (the tests pass them as ``p_gas``); the flame bar's builder, no watch verdicts."""
    return flame_dataset([(t0, p, [0] * len(p)) for t0, p in runs])


def choose(runs: list[tuple[float | None, list[float]]], **kw: float) -> GasBar:
    ds = dataset(runs)
    rows = np.arange(len(ds))
    return choose_gas_bar(ds, ds.X[:, 0].astype(np.float64), rows, range(len(ds.groups)),
                          hold_s=kw.pop("hold_s", 3.0), min_streams=int(kw.pop("min_streams", 1)),
                          **kw)


class TestHeldScores:
    def test_the_lowest_score_of_the_window(self) -> None:
        t = np.arange(8, dtype=np.float64)
        p = np.array([0.9, 0.9, 0.2, 0.9, 0.9, 0.9, 0.9, 0.5])
        held = held_scores(t, p, 3.0)
        assert np.isnan(held[:3]).all()  # 3 s have not passed yet
        assert held[3:].tolist() == [0.2, 0.2, 0.2, 0.9, 0.5]  # the window is [t - 3, t]

    def test_an_unscored_row_holds_nothing_while_in_the_window(self) -> None:
        t = np.arange(7, dtype=np.float64)
        p = np.array([0.9, 0.9, 0.9, math.nan, 0.9, 0.9, 0.9])
        held = held_scores(t, p, 2.0)
        assert np.isnan(held[3:6]).all() and held[2] == 0.9 and held[6] == 0.9

    def test_a_hold_of_zero_is_the_score_itself(self) -> None:
        p = np.array([0.1, 0.7, 0.3])
        assert held_scores(np.arange(3.0), p, 0.0).tolist() == p.tolist()


class TestChooseGasBar:
    def test_the_highest_held_nuisance_plus_the_margin(self) -> None:
        """A nuisance's one-reading spike to 0.9 is not held; its held 0.6 sets the bar."""
        nuis = [0.1] * 10 + [0.9] + [0.6] * 6 + [0.1] * 5
        fire = [0.1] * 10 + [0.8] * 10
        gb = choose([(None, nuis), (10.0, fire)])
        assert gb.highest_nuisance == pytest.approx(0.6) and gb.highest_stream == "r0"
        assert gb.bar == pytest.approx(0.65)
        assert (gb.fires, gb.fires_alarmed) == (1, 1)
        assert gb.median_tta_s == pytest.approx(3.0)  # held 3 s from ignition

    def test_a_fire_run_before_ignition_is_a_no_fire_stream(self) -> None:
        """A fire run's gas before ignition (a pan heating, people) counts as a nuisance."""
        fire = [0.1] * 5 + [0.7] * 5 + [0.1] * 5 + [0.9] * 10
        gb = choose([(15.0, fire), (None, [0.1] * 20)])
        assert gb.highest_nuisance == pytest.approx(0.7)
        assert gb.bar == pytest.approx(0.75) and gb.fires_alarmed == 1

    def test_never_under_the_floor(self) -> None:
        gb = choose([(None, [0.05] * 20), (5.0, [0.0] * 5 + [0.9] * 10)])
        assert gb.bar == FLOOR

    def test_none_over_the_ceiling(self) -> None:
        """Nuisances hold the gas-only score near 1: the gas says nothing the score does not."""
        gb = choose([(None, [0.97] * 20), (5.0, [0.0] * 5 + [1.0] * 10)])
        assert gb.bar is None and gb.bar_if_chosen is not None
        assert gb.bar_if_chosen > CEILING and gb.fires_alarmed == 0

    def test_none_over_too_few_streams(self, caplog: pytest.LogCaptureFixture) -> None:
        gb = choose([(None, [0.2] * 20), (5.0, [0.0] * 5 + [0.9] * 10)], min_streams=3)
        assert gb.bar is None and gb.bar_if_chosen == pytest.approx(FLOOR)
        assert "fewer than 3" in caplog.text

    def test_the_curve_counts_streams_and_fires_per_bar(self) -> None:
        gb = choose([(None, [0.65] * 20), (5.0, [0.0] * 5 + [0.85] * 10),
                     (5.0, [0.0] * 5 + [0.55] * 10)])
        curve = {b: (n, c) for b, n, c, _ in gb.curve}
        assert curve[0.5] == (1, 2) and curve[0.6] == (1, 1) and curve[0.7] == (0, 1)
        assert curve[0.9] == (0, 0)

    def test_bad_arguments_are_named(self) -> None:
        ds = dataset([(None, [0.1] * 5)])
        rows = np.arange(len(ds))
        with pytest.raises(ValueError, match="margin"):
            choose_gas_bar(ds, np.zeros(5), rows, [0], margin=1.0)
        with pytest.raises(ValueError, match="gas hold"):
            choose_gas_bar(ds, np.zeros(5), rows, [0], hold_s=-1.0)
        with pytest.raises(ValueError, match="gas-only scores for"):
            choose_gas_bar(ds, np.zeros(4), rows, [0])


class _Ens:
    """Scores a row by how many of its columns are NaN (to see which were blanked)."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.isnan(X).sum(axis=1) / X.shape[1]


def test_gas_only_scores_blank_exactly_the_camera_columns() -> None:
    from edge.features import camera_columns
    from edge.featuresets.registry import FEATURE_SETS

    n = len(FEATURE_SETS["fd-v3"])
    X = np.ones((2, n), np.float32)
    p = gas_only_scores(_Ens(), X)  # type: ignore[arg-type]
    assert p.tolist() == pytest.approx([camera_columns(n).sum() / n] * 2)
    assert 0 < camera_columns(n).sum() < n
    assert gas_only_scores(_Ens(), X[:0]).size == 0  # type: ignore[arg-type]
