"""Tests of the sample weights (cloud.training.weighting: run phases, growing frames) and how
training uses them."""

from __future__ import annotations

import numpy as np
import pytest

from cloud.training.corroborate import WATCH_GROWING, WATCH_NONE, WATCH_SURE
from cloud.training.data import Dataset, Group
from cloud.training.ensemble import EnsembleConfig
from cloud.training.evaluate import train_weights
from cloud.training.weighting import growing_weights, phase_weights, run_onset
from edge.featuresets.registry import SEED_NAMES

T_MAX = SEED_NAMES.index("t_max")
CO2 = SEED_NAMES.index("gas_val")


def _run(n: int, *, fire_at: int | None = None, rise_at: int | None = None,
         co2_at: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One 1-Hz run of ``n`` rows: 25 °C hottest pixel and 450 ppm, rising at the given rows."""
    X = np.zeros((n, len(SEED_NAMES)), np.float32)
    X[:, T_MAX] = 25.0
    X[:, CO2] = 450.0
    if rise_at is not None:
        X[rise_at:, T_MAX] = 80.0
    if co2_at is not None:
        X[co2_at:, CO2] = 700.0
    y = np.zeros(n, np.int8)
    if fire_at is not None:
        y[fire_at:] = 1
    return X, y, np.arange(n, dtype=np.float64)


def _dataset(*runs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Dataset:
    groups = [Group(f"run{i}", "fam", 0.0 if r[1].any() else None, float(len(r[1])),
                    "recording") for i, r in enumerate(runs)]
    return Dataset(X=np.vstack([r[0] for r in runs]), y=np.concatenate([r[1] for r in runs]),
                   group=np.concatenate([np.full(len(r[1]), i, np.int32)
                                         for i, r in enumerate(runs)]),
                   t=np.concatenate([r[2] for r in runs]),
                   scored=np.ones(sum(len(r[1]) for r in runs), bool), groups=groups)


class TestRunOnset:
    def test_fire_run_onset_is_first_fire_label(self) -> None:
        """A fire run's onset is its first fire-labelled row."""
        X, y, t = _run(300, fire_at=100, rise_at=50)
        assert run_onset(t, y, X) == 100.0

    def test_nuisance_onset_from_hottest_pixel_or_co2(self) -> None:
        """A no-fire run's onset is where its hottest pixel or its CO2 first rises."""
        assert run_onset(*_args(300, 140, None)) == 140.0
        assert run_onset(*_args(300, None, 90)) == 90.0
        assert run_onset(*_args(300, 200, 90)) == 90.0

    def test_quiet_run_has_no_onset(self) -> None:
        """A run where nothing rises has no onset."""
        assert run_onset(*_args(300, None, None)) == float("inf")


def _args(n: int, rise_at: int | None, co2_at: int | None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y, t = _run(n, rise_at=rise_at, co2_at=co2_at)
    return t, y, X


class TestPhaseWeights:
    def test_phases_weigh_the_same(self) -> None:
        """A fire run's before, early (120 s) and late phases each carry a third of its weight."""
        ds = _dataset(_run(400, fire_at=100))
        w = phase_weights(ds, early_s=120.0)
        t = ds.t
        sums = [w[t < 100].sum(), w[(t >= 100) & (t < 220)].sum(), w[t >= 220].sum()]
        assert sums == pytest.approx([400 / 3] * 3, rel=1e-5)
        assert w.sum() == pytest.approx(400, rel=1e-5)

    def test_nuisance_switching_on_weighs_like_its_steady_state(self) -> None:
        """A nuisance's first 120 s after its source comes on weigh as much as its later rows."""
        ds = _dataset(_run(600, rise_at=60))
        w = phase_weights(ds)
        early = (ds.t >= 60) & (ds.t < 180)
        assert w[early].sum() == pytest.approx(w[ds.t >= 180].sum(), rel=1e-5)
        assert w[early].mean() > w[ds.t >= 180].mean()

    def test_quiet_run_is_unweighted(self) -> None:
        """A run where nothing rises keeps weight 1 on every row."""
        ds = _dataset(_run(200))
        assert (phase_weights(ds) == 1.0).all()

    def test_weights_capped(self) -> None:
        """A phase of a few rows is never weighted above max_weight."""
        ds = _dataset(_run(1000, fire_at=998))
        assert phase_weights(ds, max_weight=5.0).max() == 5.0

    def test_runs_are_independent(self) -> None:
        """Each run is weighted on its own: a second run does not change the first's weights."""
        a = _run(300, fire_at=100)
        alone = phase_weights(_dataset(a))
        both = phase_weights(_dataset(a, _run(500, rise_at=30)))
        assert both[:300] == pytest.approx(alone)

    @pytest.mark.parametrize("early_s, cap", [(0.0, 20.0), (float("nan"), 20.0), (120.0, 0.0)])
    def test_bad_settings_refused(self, early_s: float, cap: float) -> None:
        """A non-positive early phase or cap is refused with what is allowed."""
        with pytest.raises(ValueError, match="allowed"):
            phase_weights(_dataset(_run(50)), early_s=early_s, max_weight=cap)


class TestTrainWeights:
    def test_phases_weigh_training_rows(self) -> None:
        """With phases on, the training rows carry their run-phase weights."""
        ds = _dataset(_run(400, fire_at=100))
        rows = np.arange(100, 400)
        w = train_weights(ds, rows, EnsembleConfig(sample_weighting="phases"))
        assert w is not None
        assert w == pytest.approx(phase_weights(ds)[rows])

    def test_off_by_default(self) -> None:
        """By default (none) every row trains once: no weights are passed (issue 14's
        experiments: phases are faster but false-alarm more across engines)."""
        ds = _dataset(_run(400, fire_at=100))
        assert EnsembleConfig().sample_weighting == "none"
        assert train_weights(ds, np.arange(400), EnsembleConfig()) is None

    def test_cli_reaches_config(self) -> None:
        """--sample-weighting and --early-s reach the ensemble's config."""
        from cloud.training.options import ensemble_config, parse

        cfg = ensemble_config(parse(["--simulate", "4", "--sample-weighting", "phases",
                                     "--early-s", "90"]))
        assert (cfg.sample_weighting, cfg.early_s) == ("phases", 90.0)

    def test_fleet_weights_multiply(self) -> None:
        """Phase weights multiply a row's existing (fleet-rule) weight."""
        ds = _dataset(_run(400, fire_at=100))
        ds.w[:] = 0.5
        w = train_weights(ds, np.arange(400), EnsembleConfig(sample_weighting="phases"))
        assert w == pytest.approx(0.5 * phase_weights(ds))

    def test_unknown_weighting_refused(self) -> None:
        """An unknown weighting names itself and the allowed ones."""
        ds = _dataset(_run(50))
        with pytest.raises(ValueError, match="'bogus'; allowed: phases, growing, none"):
            train_weights(ds, np.arange(50), EnsembleConfig(sample_weighting="bogus"))


class TestGrowingWeights:
    @staticmethod
    def _watched() -> Dataset:
        """A fire run and a no-fire run, each with frames the flame watch calls growing (a
        young flame; a burner catching) and, in the fire, frames it is sure of."""
        ds = _dataset(_run(100, fire_at=40), _run(100))
        ds.watch[45:52] = WATCH_GROWING
        ds.watch[52:60] = WATCH_SURE
        ds.watch[100 + 30:100 + 34] = WATCH_GROWING
        return ds

    def test_growing_frames_of_both_classes_weigh_more(self) -> None:
        """Growing frames weigh the given weight, in fire and no-fire runs alike; frames the
        watch is sure of (they alarm whatever the score) and the rest weigh 1."""
        ds = self._watched()
        w = growing_weights(ds, 10.0)
        growing = ds.watch == WATCH_GROWING
        assert (w[growing] == 10.0).all() and growing.sum() == 11
        assert (w[~growing] == 1.0).all()
        assert (w[ds.watch == WATCH_SURE] == 1.0).all()
        assert (ds.y[growing] == 0).any() and (ds.y[growing] == 1).any()

    def test_no_watch_no_weights(self) -> None:
        """Rows without a watch verdict (JSON samples, SCD41 rows) all weigh 1: training on
        them with growing weights passes no weights."""
        ds = _dataset(_run(200, fire_at=50))
        assert (ds.watch == WATCH_NONE).all()
        assert train_weights(ds, np.arange(200), EnsembleConfig(sample_weighting="growing")) is None

    def test_train_weights_multiply_fleet_weights(self) -> None:
        """Growing weights multiply a row's fleet weight, on the training rows given."""
        ds = self._watched()
        ds.w[:] = 0.5
        rows = np.arange(20, 150)
        cfg = EnsembleConfig(sample_weighting="growing", growing_weight=4.0)
        w = train_weights(ds, rows, cfg)
        assert w is not None
        assert w == pytest.approx(0.5 * growing_weights(ds, 4.0)[rows])
        assert w.max() == pytest.approx(2.0)

    @pytest.mark.parametrize("weight", [0.5, float("nan"), float("inf")])
    def test_bad_weight_refused(self, weight: float) -> None:
        """A weight under 1 or not finite is refused, naming what is allowed."""
        with pytest.raises(ValueError, match="allowed: a finite number ≥ 1"):
            growing_weights(self._watched(), weight)

    def test_cli_reaches_config(self) -> None:
        """--sample-weighting growing and --growing-weight reach the ensemble's config; a
        weight under 1 is refused, naming the option."""
        from cloud.training.options import ensemble_config, parse

        cfg = ensemble_config(parse(["--simulate", "4", "--sample-weighting", "growing",
                                     "--growing-weight", "20"]))
        assert (cfg.sample_weighting, cfg.growing_weight) == ("growing", 20.0)
        assert ensemble_config(parse(["--simulate", "4"])).growing_weight == 10.0
        with pytest.raises(ValueError, match=r"--growing-weight 0\.5; allowed"):
            ensemble_config(parse(["--simulate", "4", "--growing-weight", "0.5"]))
