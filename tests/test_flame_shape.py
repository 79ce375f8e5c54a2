"""Another flame geometry (edge.sim.flame_shape): the Flame's painted height, width, outline
and core share, their per-run draw in the installation variation, and the held-out suite's
``--flame-shape``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cloud.heldout.suite import main
from edge.sim.flame_shape import SHAPE_LIMITS, reshape_flames
from edge.sim.scenarios import make_scene, render_recording
from edge.sim.scenarios.physics import FlickerSignal
from edge.sim.scenarios.scene import record_scene
from edge.sim.scenarios.signals import const
from edge.sim.scenarios.thermal import Flame
from edge.sim.variation import (
    VARIATION_RANGES,
    draw_variation,
    render_installation,
    render_varied,
)

SHAPE_FIELDS = ("flame_height_factor", "flame_width_factor", "flame_outline_exponent",
                "flame_core_fraction")
#: Drawn from the same sub-stream (seed, 7, 4) after the geometry.
NEW_FIELDS = (*SHAPE_FIELDS, "surroundings_k")
#: Drawn after this hash was taken, from the camera unit's sub-stream (seed, 7, 2): the unit's
#: high-gain ceiling (session 31).
LATER_FIELDS = ("high_gain_clip_c",)
#: sha256 of ``draw_variation(s, 600).as_meta()`` for seeds 0–19, computed on the code before
#: the flame geometry existed (commit edcfd62).
PRE_SHAPE_DRAWS_SHA256 = "23e21d434eab07df781a2696a6e3fe6d5ac70c8629c91c0348773fa8fda19550"
#: sha256 of the frames of two runs with flames in view, rendered by the code before the
#: flame geometry existed (commit edcfd62): (family, seed, duration s) → digest.
PRE_SHAPE_FRAMES_SHA256 = {
    ("flaming_upholstery", 4, 300.0):
        "e70294aa13c833d93add355a2156e6c0b6a29529f51445bcb3f2a66c3472f314",
    ("candles_fireplace", 3, 60.0):
        "8af4b12eaa92a25efa3da47afcce1354ac530bf427786a3f7ed45b04aab4cb25",
}
ROOM_K = 295.0
SHAPE = (120, 160)


def paint_one(**geometry: float) -> np.ndarray:
    """One frame (K) of a steady 60 kW flame 2 m away on a uniform room, no puffing, painted
    with ``geometry`` set on the Flame."""
    flame = Flame(u=0.5, v=0.9, distance_m=2.0, hrr_kw=const(60.0), hrr_per_area_kw_m2=250.0,
                  d_max_m=1.0, core_k=1100.0, core_emissivity=0.9, envelope_k=800.0,
                  envelope_emissivity=0.5, flicker=FlickerSignal(lambda t: t * 0 + 3.0, 5.0, 1),
                  flicker_depth=0.0, **geometry)  # type: ignore[arg-type]
    temp = np.full((1, *SHAPE), ROOM_K, dtype=np.float32)
    flame.paint(np.array([2.0]), temp)
    return temp[0]


def lit_rows(frame: np.ndarray, above_k: float = 5.0) -> np.ndarray:
    """Indices of the rows where some pixel is ``above_k`` warmer than the room."""
    return np.flatnonzero((frame > ROOM_K + above_k).any(axis=1))


class TestFlameGeometry:
    @pytest.mark.parametrize("run", list(PRE_SHAPE_FRAMES_SHA256))
    def test_the_default_geometry_paints_the_frames_of_before(
            self, run: tuple[str, int, float]) -> None:
        """With the defaults (1, 1, 0.5, 0.4) a fire and a fireplace render byte-identical to
        the code before the geometry existed."""
        family, seed, duration = run
        rec = render_recording(family, seed, duration, frame_rate_hz=1.0,
                               camera_occlusion=0.0, camera_distance_m=2.0)
        digest = hashlib.sha256(rec.frames.tobytes()).hexdigest()
        assert digest == PRE_SHAPE_FRAMES_SHA256[run]

    def test_reshaping_to_todays_values_changes_no_byte(self) -> None:
        """Setting 1 / 1 / 0.5 / 0.4 on every flame of a built scene renders the same bytes."""
        frames = []
        for reshape in (False, True):
            scene = make_scene("flaming_upholstery", 4, 300.0, camera_occlusion=0.0,
                               camera_distance_m=2.0)
            if reshape:
                assert reshape_flames(scene.objects, 1.0, 1.0, 0.5, 0.4) == 1
            frames.append(record_scene(scene, 300.0, 1.0, 5.0, "3.5", "t", "t").frames)
        assert frames[0].tobytes() == frames[1].tobytes()

    def test_a_taller_factor_paints_taller(self) -> None:
        """× 1.5 height lights rows higher up than × 1, and × 0.6 fewer; the base stays put."""
        rows = {f: lit_rows(paint_one(height_factor=f)) for f in (0.6, 1.0, 1.5)}
        assert rows[1.5][0] < rows[1.0][0] < rows[0.6][0]  # rows grow downwards
        assert rows[1.5][-1] == rows[1.0][-1] == rows[0.6][-1]
        tall = rows[1.5][-1] - rows[1.5][0]
        assert tall > 1.3 * (rows[1.0][-1] - rows[1.0][0])

    def test_a_wider_factor_paints_a_wider_base(self) -> None:
        """× 1.4 width lights more columns at the base than × 0.7."""
        base = lit_rows(paint_one())[-1]
        wide = int((paint_one(width_factor=1.4)[base] > ROOM_K + 5.0).sum())
        narrow = int((paint_one(width_factor=0.7)[base] > ROOM_K + 5.0).sum())
        assert wide > narrow + 2

    def test_the_outline_exponent_sets_the_width_at_mid_height(self) -> None:
        """At mid-height a blunt flame (0.3) covers more than the paraboloid (0.5), a spiky
        one (1.0) less; the height is the same."""
        rows = lit_rows(paint_one())
        mid = (rows[0] + rows[-1]) // 2
        heat = {e: float((paint_one(outline_exponent=e)[mid] - ROOM_K).sum())
                for e in (0.3, 0.5, 1.0)}
        assert heat[0.3] > 1.05 * heat[0.5] and heat[0.5] > 1.05 * heat[1.0]
        for e in (0.3, 1.0):
            assert lit_rows(paint_one(outline_exponent=e))[0] == rows[0]

    def test_the_core_fraction_sets_how_high_the_core_reaches(self) -> None:
        """A core of 60 % of the height reads hotter higher up than one of 25 %."""
        low, high = paint_one(core_fraction=0.25), paint_one(core_fraction=0.6)
        hot = ROOM_K + 0.5 * (1100.0 - ROOM_K)  # clearly core, not envelope
        assert lit_rows(high, hot - ROOM_K)[0] < lit_rows(low, hot - ROOM_K)[0]

    @pytest.mark.parametrize("bad", [dict(height_factor=0.0), dict(width_factor=-1.0),
                                     dict(outline_exponent=float("nan")),
                                     dict(core_fraction=1.5)])
    def test_a_bad_geometry_is_refused_by_name(self, bad: dict[str, float]) -> None:
        """A factor, exponent or core share outside its limits raises, naming it and what is
        allowed; no flame is changed."""
        scene = make_scene("flaming_upholstery", 4, 60.0)
        args = dict(height_factor=1.0, width_factor=1.0, outline_exponent=0.5,
                    core_fraction=0.4) | bad
        name = next(iter(bad))
        with pytest.raises(ValueError, match=f"{name}.*allowed"):
            reshape_flames(scene.objects, **args)
        today = {"height_factor": 1.0, "width_factor": 1.0, "outline_exponent": 0.5,
                 "core_fraction": 0.4}
        flames = [o for o in scene.objects if isinstance(o, Flame)]
        assert flames and all(getattr(f, n) == x for f in flames for n, x in today.items())


class TestShapeDraw:
    def test_the_older_draws_do_not_move(self) -> None:
        """Every value drawn before the flame geometry existed (camera unit and flame look
        included) is the same for seeds 0–19."""
        docs = [{k: v for k, v in draw_variation(s, 600.0).as_meta().items()
                 if k not in NEW_FIELDS + LATER_FIELDS} for s in range(20)]
        digest = hashlib.sha256(json.dumps(docs, sort_keys=True).encode()).hexdigest()
        assert digest == PRE_SHAPE_DRAWS_SHA256

    def test_the_draws_cover_their_ranges(self) -> None:
        """Over 300 seeds every geometry value stays in its documented range and reaches
        near both ends."""
        for name in SHAPE_FIELDS:
            lo, hi = VARIATION_RANGES[name]
            values = [getattr(draw_variation(s, 600.0), name) for s in range(300)]
            assert lo <= min(values) < lo + 0.1 * (hi - lo), name
            assert hi - 0.1 * (hi - lo) < max(values) <= hi, name
            short = name.removeprefix("flame_")
            assert SHAPE_LIMITS[short][0] <= lo and hi <= SHAPE_LIMITS[short][1]

    def test_the_geometry_is_recorded_and_reproducible_and_shows(self) -> None:
        """A varied run records its geometry in meta and renders the same bytes twice; the
        same run with today's geometry renders other bytes."""
        seed = 8
        v = draw_variation(seed, 400.0)
        a = render_varied("ours", "flaming_upholstery", seed, 400.0, rate_hz=1.0)
        b = render_varied("ours", "flaming_upholstery", seed, 400.0, rate_hz=1.0)
        for name in SHAPE_FIELDS:
            assert a.meta["variation"][name] == getattr(v, name), name
        assert a.frames.tobytes() == b.frames.tobytes()
        today = replace(v, frame_rate_hz=1.0, co_nuisance=None, surroundings_k=0.0,
                        flame_height_factor=1.0,
                        flame_width_factor=1.0, flame_outline_exponent=0.5,
                        flame_core_fraction=0.4)
        mine = replace(today, **{n: getattr(v, n) for n in SHAPE_FIELDS})
        plain = render_installation("ours", "flaming_upholstery", seed, 400.0, today)
        shaped = render_installation("ours", "flaming_upholstery", seed, 400.0, mine)
        assert plain.fire_start_s is not None
        after = plain.frame_t >= plain.fire_start_s
        assert plain.frames[after].tobytes() != shaped.frames[after].tobytes()

    def test_frozen_frames_stay_copies(self) -> None:
        """With another geometry and warming surroundings, the renderer's FFC freezes and an
        extra FFC still repeat their frame byte for byte."""
        v = replace(draw_variation(4, 360.0), frame_rate_hz=2.0, low_gain=True,
                    co_nuisance=None, gaps=[], ffc_extra=[(300.0, 2.0)], glitches=[],
                    flame_height_factor=1.5, flame_outline_exponent=0.3, surroundings_k=1.0)
        rec = render_installation("ours", "flaming_upholstery", 4, 360.0, v)
        base = replace(v, ffc_extra=[])
        plain = render_installation("ours", "flaming_upholstery", 4, 360.0, base)
        same = [i for i in range(1, len(plain.frames))
                if (plain.frames[i] == plain.frames[i - 1]).all()]
        assert same  # the renderer froze frames through its FFCs
        extra = np.flatnonzero((rec.frame_t >= 300.0) & (rec.frame_t < 302.0))
        assert extra.size
        for i in same + list(extra):
            assert rec.frames[i].tobytes() == rec.frames[i - 1].tobytes(), i


class TestHeldoutFlameShape:
    def test_a_fixed_shape_repaints_a_heldout_run_and_is_noted(self) -> None:
        """``render(run, (1.5, 1.0, 1.0))`` paints the same run with a taller, spikier flame:
        the frames before the fire are the same bytes, after it differ; meta says so; without
        a shape the run renders as ``render_recording`` does."""
        from cloud.heldout.engines import render
        from cloud.heldout.suite import HeldoutRun

        run = HeldoutRun("fast_flaming", 7_300_080_001, 300.0, 1.0)
        plain = render(run)
        same = render_recording("fast_flaming", 7_300_080_001, 300.0, frame_rate_hz=1.0)
        assert plain.frames.tobytes() == same.frames.tobytes()
        assert "flame_shape" not in plain.meta
        shaped = render(run, (1.5, 1.0, 1.0))
        assert shaped.meta["flame_shape"] == {"height_factor": 1.5, "width_factor": 1.0,
                                              "outline_exponent": 1.0}
        assert plain.fire_start_s is not None
        after = plain.frame_t >= plain.fire_start_s
        assert plain.frames[~after].tobytes() == shaped.frames[~after].tobytes()
        assert plain.frames[after].tobytes() != shaped.frames[after].tobytes()

    @pytest.mark.parametrize("text", ["1.4,0.8", "a,b,c", "0,1,0.5", "1,1,9", "1,nan,0.5",
                                      "1,1,0.5,0.4"])
    def test_a_bad_flame_shape_is_refused_by_name(self, text: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
        """A --flame-shape that is not three numbers within their limits exits 2 naming the
        option and the allowed ranges, before anything renders."""
        assert main(["--out", str(tmp_path / "r"), "--runs", "1", f"--flame-shape={text}"]) == 2
        err = capsys.readouterr().err
        assert "--flame-shape" in err and "allowed" in err and "outline_exponent" in err
        assert not (tmp_path / "r").exists()
