"""A fire's surroundings warming with its cumulative heat (edge.sim.surroundings), and its
per-run draw in the installation variation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.sim.scenarios import make_scene
from edge.sim.scenarios.physics import FlickerSignal
from edge.sim.scenarios.scene import ScenarioScene, record_scene
from edge.sim.scenarios.signals import const
from edge.sim.scenarios.thermal import Flame
from edge.sim.surroundings import MAX_RISE_K, Halo, heat_surroundings
from edge.sim.variation import (
    SURROUNDINGS_NONE_P,
    VARIATION_RANGES,
    draw_variation,
    render_installation,
)

PINS = {"camera_occlusion": 0.0, "camera_distance_m": 2.0}


def steady_flame(kw: float) -> Flame:
    """A fire's flame releasing ``kw`` from time 0 on."""
    return Flame(u=0.5, v=0.9, distance_m=2.0, hrr_kw=const(kw), hrr_per_area_kw_m2=250.0,
                 d_max_m=0.3, core_k=1100.0, core_emissivity=0.9, envelope_k=800.0,
                 envelope_emissivity=0.5, flicker=FlickerSignal(lambda t: t * 0 + 3.0, 5.0, 1),
                 fire=True)


def rendered(scene: ScenarioScene, duration_s: float) -> tuple[np.ndarray, float]:
    """The scene's frames (TLinear counts) at 1 Hz and their resolution (K)."""
    rec = record_scene(scene, duration_s, 1.0, 5.0, "3.5", "t", "t")
    return rec.frames, rec.frame_resolution_k


class TestHalo:
    def test_the_rise_follows_the_root_of_the_heat_released_and_is_capped(self) -> None:
        """A steady 10 kW fire has released 1000 kJ at 100 s: the rise is k·√1000 K, and it
        never passes the cap."""
        halo = Halo(steady_flame(10.0), 0.5)
        ts = np.array([0.0, 100.0, 400.0])
        assert halo.energy_kj(ts) == pytest.approx([0.0, 1000.0, 4000.0], rel=1e-6)
        assert halo.rise_k(ts)[1] == pytest.approx(0.5 * math.sqrt(1000.0), rel=1e-6)
        assert Halo(steady_flame(1000.0), 5.0).rise_k(np.array([3600.0]))[0] == MAX_RISE_K

    def test_the_surroundings_warm_over_minutes_and_not_before_the_fire(self) -> None:
        """With k = 1 the frames before the fire are the same bytes; after it, pixels the
        flame does not cover (within a few K of the room without the halo) warm, more at
        the end of the run than a minute after ignition."""
        plain_scene = make_scene("flaming_upholstery", 4, 420.0, **PINS)
        warm_scene = make_scene("flaming_upholstery", 4, 420.0, **PINS)
        assert heat_surroundings(warm_scene.objects, 1.0) == 1
        (plain, res), (warm, _) = rendered(plain_scene, 420.0), rendered(warm_scene, 420.0)
        before = math.floor(float(plain_scene.truth["fire_start_s"]))
        assert plain[:before].tobytes() == warm[:before].tobytes()
        room = np.median(plain[before - 1])
        early, late = before + 60, plain.shape[0] - 1
        gains = []
        for i in (early, late):
            outside = np.abs(plain[i].astype(float) - room) * res < 5.0
            diff = (warm[i].astype(float) - plain[i].astype(float)) * res
            gains.append(float(diff[outside].max()))
        assert gains[0] > 1.0 and gains[1] > gains[0] + 2.0

    def test_no_heating_adds_nothing_and_nuisance_flames_get_none(self) -> None:
        """k = 0 adds no object and changes no byte; a fireplace's flame (a nuisance) gets no
        halo whatever k; a negative k is refused by name."""
        scene = make_scene("flaming_upholstery", 4, 60.0, **PINS)
        count = len(scene.objects)
        assert heat_surroundings(scene.objects, 0.0) == 0 and len(scene.objects) == count
        fireplace = make_scene("candles_fireplace", 3, 60.0, **PINS)
        assert any(isinstance(o, Flame) for o in fireplace.objects)
        assert heat_surroundings(fireplace.objects, 1.0) == 0
        with pytest.raises(ValueError, match=r"surroundings.*allowed"):
            heat_surroundings(scene.objects, -0.1)

    def test_the_halo_is_painted_under_the_flame(self) -> None:
        """The halo goes just before its flame in the painting order, so the flame covers it."""
        flame = steady_flame(10.0)
        objects: list = [flame]
        heat_surroundings(objects, 0.4)
        assert isinstance(objects[0], Halo) and objects[0].flame is flame and objects[1] is flame


class TestSurroundingsDraw:
    def test_the_draw_gives_none_in_about_its_share_and_stays_in_range(self) -> None:
        """Over 300 seeds about 30 % draw no heating; the rest stay within 0.1–1 K/√kJ and
        reach near both ends."""
        ks = [draw_variation(s, 600.0).surroundings_k for s in range(300)]
        none = sum(k == 0.0 for k in ks) / len(ks)
        assert abs(none - SURROUNDINGS_NONE_P) < 0.08
        lo, hi = VARIATION_RANGES["surroundings_k"]
        some = [k for k in ks if k > 0.0]
        assert lo <= min(some) < 1.2 * lo and 0.85 * hi < max(some) <= hi

    def test_a_varied_fire_records_and_shows_its_heating(self) -> None:
        """A run with k = 1 records it in meta and is warmer after the fire than the same run
        with k = 0."""
        v = draw_variation(4, 420.0)
        from dataclasses import replace

        base = replace(v, frame_rate_hz=1.0, co_nuisance=None, gaps=[], ffc_extra=[],
                       glitches=[], view_mode="full", occlusion=0.0, occlude_after_s=None)
        sums = []
        for k in (0.0, 1.0):
            rec = render_installation("ours", "flaming_upholstery", 4, 420.0,
                                      replace(base, surroundings_k=k))
            assert rec.meta["variation"]["surroundings_k"] == k
            assert rec.fire_start_s is not None
            sums.append(int(rec.frames[rec.frame_t >= rec.fire_start_s].astype(np.int64).sum()))
        assert sums[1] > sums[0]


@pytest.mark.skipif(__import__("edge.sim.cfast", fromlist=["find_cfast"]).find_cfast() is None,
                    reason="the CFAST binary is not installed")
def test_cfast_fires_flames_are_marked_and_its_nuisances_are_not() -> None:
    """A CFAST fire's flame is a fire's (its surroundings may warm); a CFAST candle's is not."""
    from edge.sim.cfast import make_cfast_scene

    view = {"camera_in_view": True, "camera_occlusion": 0.0}
    fire = make_cfast_scene("cfast_flaming_t2", 3, 300.0, **view)
    candle = make_cfast_scene("cfast_candle", 3, 300.0, **view)
    fire_flames = [o for o in fire.parts.objects if isinstance(o, Flame)]
    candle_flames = [o for o in candle.parts.objects if isinstance(o, Flame)]
    assert fire_flames and all(f.fire for f in fire_flames)
    assert candle_flames and not any(f.fire for f in candle_flames)
    assert heat_surroundings(fire.parts.objects, 0.5) == len(fire_flames)
    assert heat_surroundings(candle.parts.objects, 0.5) == 0
