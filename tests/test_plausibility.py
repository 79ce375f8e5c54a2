"""The SCD41 plausibility filter (edge.detect.plausibility): what it rejects, holds, passes."""

from __future__ import annotations

import math

import pytest

from edge.detect.plausibility import (
    CO2_AIR_MAX_PPM,
    CO2_AIR_MIN_PPM,
    CO2_NOISE_PPM,
    FAULT_WINDOW,
    GAIN_TOL,
    REANCHOR_AFTER,
    GasPlausibility,
    lag_bounds,
    plausible_mask,
)
from edge.sim import scenarios
from edge.types import GasReading


def quiet(t: float, co2: float = 420.0, temp: float = 22.0, rh: float = 40.0) -> GasReading:
    return GasReading(t, co2, temp, rh)


def settled(n: int = 6) -> GasPlausibility:
    """A filter that has seen ``n`` quiet readings 5 s apart (t = 0 … 5·(n−1))."""
    f = GasPlausibility()
    for i in range(n):
        assert f.check(quiet(5.0 * i)) == [quiet(5.0 * i)]
    return f


class TestGasPlausibility:
    @pytest.mark.parametrize("outlier", [2000.0, 5000.0, 40_000.0])
    def test_single_outlier_is_held_then_rejected(self, outlier: float) -> None:
        """A single high sample never reaches the features; the reading after it does."""
        f = settled()
        assert f.check(quiet(30.0, outlier)) == []
        assert f.check(quiet(35.0, 425.0)) == [quiet(35.0, 425.0)]
        assert f.rejected == 1 and f.fault is None

    @pytest.mark.parametrize("reading", [
        quiet(30.0, 0.0),  # the chip's no-CO2 value: a dropout
        quiet(30.0, 65535.0),  # past full scale
        quiet(30.0, temp=-45.0),  # an all-zero temperature word
        quiet(30.0, rh=101.0),
        quiet(30.0, math.nan),
    ])
    def test_out_of_range_is_rejected(self, reading: GasReading) -> None:
        """Values the chip gives on errors, or cannot give, are rejected and counted."""
        f = settled()
        assert f.check(reading) == []
        assert f.rejected == 1

    def test_saturated_hot_chip_is_kept(self) -> None:
        """40 000 ppm and 130 °C (the top of the words) are kept: a saturated chip in a fire."""
        f = GasPlausibility()
        fed = [f.check(quiet(5.0 * i, 40_000.0 if i else 39_000.0, 120.0 + 2 * i))
               for i in range(6)]
        assert sum(len(x) for x in fed) == 6  # one is held a reading; none is lost
        assert f.rejected == 0

    def test_sudden_drop_is_rejected(self) -> None:
        """A fall no lagged sensor can make (420 → 250 ppm in 5 s) is rejected."""
        f = settled()
        assert f.check(quiet(30.0, 250.0)) == []

    def test_rise_past_room_air_is_held_and_released(self) -> None:
        """A rise too fast for air within 10 000 ppm is held one reading; when the next one
        continues it, both are released in time order."""
        f = settled()
        a, b = quiet(30.0, 4600.0), quiet(35.0, 8000.0)
        assert f.check(a) == []
        assert f.check(b) == [a, b]
        assert f.rejected == 0 and f.held_count == 1

    def test_dropout_does_not_decide_a_held_rise(self) -> None:
        """A 0-ppm dropout after a held rise is rejected alone; the next reading still
        confirms the held one."""
        f = settled()
        a, b = quiet(30.0, 4600.0), quiet(40.0, 9000.0)
        assert f.check(a) == []
        assert f.check(quiet(35.0, 0.0)) == []
        assert f.check(b) == [a, b]
        assert f.rejected == 1

    def test_wrong_first_anchor_does_not_lock_out(self) -> None:
        """After a bad first reading, consistent readings are accepted again."""
        f = GasPlausibility()
        f.check(quiet(0.0, 5000.0))
        fed = [f.check(quiet(5.0 * i, 420.0)) for i in range(1, REANCHOR_AFTER + 1)]
        assert fed[-1] == [quiet(5.0 * REANCHOR_AFTER, 420.0)]

    def test_keeps_failing_is_a_fault_that_clears(self) -> None:
        """Half of a minute's readings rejected is a fault naming the last reason; it clears
        once plausible readings push them out of the window."""
        f = settled()
        for i in range(FAULT_WINDOW):
            f.check(quiet(30.0 + 5.0 * i, 0.0 if i % 2 == 0 else 420.0))
        assert f.fault is not None and "0 ppm" in f.fault
        f.check(quiet(30.0 + 5.0 * FAULT_WINDOW))
        f.check(quiet(35.0 + 5.0 * FAULT_WINDOW))
        assert f.fault is None

    def test_mask_matches_the_stream(self) -> None:
        """The batch mask (training) keeps exactly the readings the stream feeds."""
        co2 = [420.0, 421.0, 5000.0, 419.0, 0.0, 420.0]
        assert plausible_mask([5.0 * i for i in range(6)], co2, [22.0] * 6, [40.0] * 6) == [
            True, True, False, True, False, True]


class TestRealFires:
    @pytest.mark.parametrize("family", ["fast_flaming", "kitchen_grease_fire",
                                        "flaming_upholstery"])
    def test_no_fire_reading_is_rejected(self, family: str) -> None:
        """The fastest fire runs at full CO2 (the simulator's 60-s sensor lag) lose no
        reading, step well inside the hard bound, and are held only past 3 000 ppm."""
        for seed in range(2):
            scene = scenarios.make_scene(family, seed, 900.0)
            f, prev, worst = GasPlausibility(), None, 0.0
            for i in range(180):
                a = scene.air(5.0 * i)
                r = GasReading(5.0 * i, float(round(min(a.co2_ppm, 40_000.0))),
                               a.temperature_c, a.humidity_pct)
                before = f.held_count
                f.check(r)
                if f.held_count > before:
                    assert r.co2_ppm > 3_000.0
                if prev is not None:
                    lo, hi = lag_bounds(prev, 5.0, CO2_AIR_MIN_PPM, CO2_AIR_MAX_PPM, GAIN_TOL,
                                        CO2_NOISE_PPM)
                    step = r.co2_ppm - prev
                    worst = max(worst, step / (hi - prev) if step > 0 else -step / (prev - lo))
                prev = r.co2_ppm
            assert f.rejected == 0
            assert worst < 0.5  # measured: ≤ 0.33 of the bound
