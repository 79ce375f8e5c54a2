"""Another lens and Lepton unit over recorded frames (edge.sim.camera_unit), and its draw in
the installation variation (edge.sim.variation)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest

from edge.recording import Recording
from edge.sim.camera_unit import apply_camera_unit, saturation_count
from edge.sim.scenarios import render_recording
from edge.sim.scenarios.physics import band_radiance
from edge.sim.variation import (
    LOW_GAIN_ERROR_FACTOR,
    VARIATION_RANGES,
    Variation,
    apply_variation,
    draw_variation,
    render_installation,
    render_varied,
)

UNIT_FIELDS = ("psf_sigma_px", "radiometric_offset_k", "radiometric_gain_err",
               "high_gain_clip_c")
FLAME_FIELDS = ("flame_temp_factor", "flame_emissivity_factor", "flame_flicker_factor")
#: The flame geometry's draws (edge.sim.flame_shape), added after this hash was taken.
SHAPE_FIELDS = ("flame_height_factor", "flame_width_factor", "flame_outline_exponent",
                "flame_core_fraction", "surroundings_k")
#: sha256 of ``draw_variation(s, 600).as_meta()`` for seeds 0–19 without the camera-unit and
#: flame fields, computed on the code before they existed (commit f7e2266).
OLD_DRAWS_SHA256 = "e70873f3293b858b0beaf3a8b8b2c824b1b1b22df507936db6aa2d5ce0745c13"


def plain(**changes: object) -> Variation:
    """A variation that changes nothing but what ``changes`` names."""
    base: dict[str, object] = dict(
        seed=0, frame_rate_hz=2.0, low_gain=True, camera_distance_m=3.0, view_mode="full",
        view_angle_deg=0.0, occlusion=0.0, occlude_after_s=None, room_volume_m3=40.0,
        room_ceiling_m=2.5, room_ach=0.5, door_open=False, sensor_co2_noise_ppm=5.0)
    base.update(changes)
    return Variation(**base)  # type: ignore[arg-type]


def hot_spot(resolution_k: float = 0.1, hot_k: float = 700.0) -> np.ndarray:
    """One 32×32 frame at 300 K with a single pixel at ``hot_k`` in the middle."""
    frame = np.full((1, 32, 32), round(300.0 / resolution_k), dtype=np.uint16)
    frame[0, 16, 16] = round(hot_k / resolution_k)
    return frame


@pytest.fixture(scope="module")
def fire() -> Recording:
    """A flaming fire in full view, 360 s at 2 Hz, low gain: its FFCs freeze frames."""
    return render_recording("flaming_upholstery", 4, 360.0, frame_rate_hz=2.0,
                            camera_occlusion=0.0, camera_distance_m=2.0, camera_low_gain=True)


class TestCameraUnit:
    def test_no_blur_and_no_error_leaves_the_frames_byte_identical(self, fire: Recording) -> None:
        """Sigma 0 and zero error give the same bytes, in a new array."""
        out = apply_camera_unit(fire.frames, fire.frame_resolution_k, 65535, 0.0, 0.0, 0.0)
        assert out.tobytes() == fire.frames.tobytes() and out is not fire.frames
        varied = apply_variation(fire, plain())
        assert varied.frames.tobytes() == fire.frames.tobytes()

    def test_blur_conserves_band_radiance_and_lowers_a_hot_pixel(self) -> None:
        """Blurring a one-pixel 700 K spot keeps the frame's band radiance (away from the
        edges), lowers the spot's peak and warms its neighbours."""
        frame = hot_spot()
        out = apply_camera_unit(frame, 0.1, 65535, 1.0, 0.0, 0.0)
        assert (frame == hot_spot()).all()  # the input is left alone
        inner = (slice(4, 28), slice(4, 28))
        before = band_radiance(frame[0][inner] * 0.1).sum()
        after = band_radiance(out[0][inner] * 0.1).sum()
        assert after == pytest.approx(before, rel=1e-4)
        assert out[0, 16, 16] < frame[0, 16, 16] - 1000  # > 100 K dimmer
        assert out[0, 16, 17] > frame[0, 16, 17] + 100  # > 10 K warmer
        assert out[0, 0, 0] == frame[0, 0, 0]  # far away: untouched

    def test_blur_in_radiance_reads_hotter_than_in_temperature(self) -> None:
        """The blurred spot is hotter than a blur of temperatures would make it (radiance is
        convex in T): the lens mixes radiance, not degrees."""
        frame = hot_spot()
        out = apply_camera_unit(frame, 0.1, 65535, 1.0, 0.0, 0.0)
        from scipy.ndimage import gaussian_filter

        in_temp = gaussian_filter(frame[0].astype(np.float64) * 0.1, 1.0, mode="nearest",
                                  truncate=3.0)
        assert out[0, 16, 16] * 0.1 > in_temp[16, 16] + 20.0

    def test_radiometric_error_moves_a_300k_pixel_by_the_offset_only(self) -> None:
        """At 300 K only the offset shows; 100 K hotter the gain error adds gain_err × 100 K."""
        frame = np.array([[[30000, 40000]]], dtype=np.uint16)  # 300 K, 400 K at 0.01 K
        out = apply_camera_unit(frame, 0.01, 65535, 0.0, 2.0, 0.05)
        assert out[0, 0, 0] == 30200  # + 2 K
        assert out[0, 0, 1] == 40700  # + 2 K + 0.05 × 100 K

    @pytest.mark.parametrize("sigma", [0.0, 1.2])
    def test_saturated_pixels_stay_at_the_ceiling_and_nothing_exceeds_it(
            self, sigma: float) -> None:
        """A saturated pixel stays at the gain's ceiling through a blur and a negative error;
        a positive error never reads past the ceiling."""
        ceiling = 45000
        frame = np.full((1, 16, 16), 30000, dtype=np.uint16)
        frame[0, 8, 8] = ceiling
        frame[0, 2, 2] = 44900  # just under the ceiling
        down = apply_camera_unit(frame, 0.01, ceiling, sigma, -3.0, -0.06)
        assert down[0, 8, 8] == ceiling
        up = apply_camera_unit(frame, 0.01, ceiling, sigma, 3.0, 0.06)
        assert up.max() == ceiling and up[0, 8, 8] == ceiling
        assert sigma > 0 or up[0, 2, 2] == ceiling  # 449 K + 3 + 0.06 × 149 K: clipped

    def test_the_ceiling_comes_from_the_recordings_camera(self, fire: Recording) -> None:
        """The saturation count is the recording's gain clip, as the renderer clipped it;
        a recording that does not say gets the uint16 range."""
        clip_c = fire.meta["params"]["camera_low_gain_clip_c"]
        assert saturation_count(fire.meta, 0.1) == round((clip_c + 273.15) / 0.1)
        assert saturation_count(fire.meta, 0.01) == 65535  # past 382.2 °C at 0.01 K
        high = {"params": {"camera_low_gain": False, "camera_high_gain_clip_c": 150.0}}
        assert saturation_count(high, 0.01) == 42315
        assert saturation_count({}, 0.01) == 65535

    def test_frozen_frames_stay_copies_of_the_frame_they_repeat(self, fire: Recording) -> None:
        """The renderer's FFC freezes and an extra FFC stay byte-identical to the frame they
        repeat after the blur and the radiometric error."""
        same = [i for i in range(1, len(fire.frames))
                if (fire.frames[i] == fire.frames[i - 1]).all()]
        assert same  # the renderer froze frames through its FFCs
        var = plain(ffc_extra=[(50.0, 2.0)], psf_sigma_px=1.1, radiometric_offset_k=-2.5,
                    radiometric_gain_err=0.04)
        out = apply_variation(fire, var)
        assert not (out.frames == fire.frames).all()
        extra = np.flatnonzero((out.frame_t >= 50.0) & (out.frame_t < 52.0))
        for i in same + list(extra):
            assert out.frames[i].tobytes() == out.frames[i - 1].tobytes(), i

    @pytest.mark.parametrize("bad", [dict(psf_sigma_px=-0.5), dict(offset_k=float("nan")),
                                     dict(gain_err=-1.0), dict(max_count=0)])
    def test_bad_parameters_are_refused_by_name(self, bad: dict[str, float]) -> None:
        """A negative sigma, a non-finite offset, a −100 % gain or a zero ceiling raises."""
        args: dict[str, float] = dict(psf_sigma_px=0.5, offset_k=0.0, gain_err=0.0,
                                      max_count=65535)
        args.update(bad)
        name = next(iter(bad)).split("_")[0]
        with pytest.raises(ValueError, match=name):
            apply_camera_unit(hot_spot(), 0.1, int(args["max_count"]), args["psf_sigma_px"],
                              args["offset_k"], args["gain_err"])


class TestUnitDraw:
    def test_the_older_draws_do_not_move(self) -> None:
        """Every value drawn before the camera unit and the flame look existed is the same
        for seeds 0–19."""
        docs = [{k: v for k, v in draw_variation(s, 600.0).as_meta().items()
                 if k not in UNIT_FIELDS + FLAME_FIELDS + SHAPE_FIELDS} for s in range(20)]
        digest = hashlib.sha256(json.dumps(docs, sort_keys=True).encode()).hexdigest()
        assert digest == OLD_DRAWS_SHA256

    def test_unit_draws_stay_in_their_ranges_and_are_wider_in_low_gain(self) -> None:
        """Sigma covers 0–1.2 px; the error stays within ±3 K / ±6 % in high gain and within
        twice that in low gain, and uses the wider range there; the flame factors stay in
        theirs."""
        high, low = [], []
        for seed in range(300):
            v = draw_variation(seed, 600.0)
            factor = LOW_GAIN_ERROR_FACTOR if v.low_gain else 1.0
            (low if v.low_gain else high).append(abs(v.radiometric_offset_k))
            assert VARIATION_RANGES["psf_sigma_px"][0] <= v.psf_sigma_px <= 1.2
            assert abs(v.radiometric_offset_k) <= 3.0 * factor
            assert abs(v.radiometric_gain_err) <= 0.06 * factor
            for name in FLAME_FIELDS:
                lo, hi = VARIATION_RANGES[name]
                assert lo <= getattr(v, name) <= hi, name
        assert max(high) > 2.5 and max(low) > 5.0

    def test_the_high_gain_ceiling_covers_the_spec_and_is_what_the_camera_shows(self) -> None:
        """The unit's high-gain ceiling is drawn over 140 ±5 °C and up to 182 °C, so some units
        top out under 140 °C; a flame seen in high gain saturates at exactly that ceiling."""
        clips = [draw_variation(seed, 600.0).high_gain_clip_c for seed in range(300)]
        assert all(c is not None and 135.0 <= c <= 182.0 for c in clips)
        assert sum(c is not None and c < 140.0 for c in clips) > 10
        seed = next(s for s in range(300) if (v := draw_variation(s, 400.0)).view_mode == "full"
                    and not v.low_gain and v.high_gain_clip_c is not None
                    and v.high_gain_clip_c < 140.0)
        v = draw_variation(seed, 400.0)
        rec = render_varied("ours", "flaming_upholstery", seed, 400.0, rate_hz=1.0)
        assert rec.meta["params"]["camera_high_gain_clip_c"] == v.high_gain_clip_c
        top = saturation_count(rec.meta, rec.frame_resolution_k)
        assert int(rec.frames.max()) == top
        assert top * rec.frame_resolution_k - 273.15 < 140.0

    def test_the_unit_is_recorded_and_reproducible_from_the_seed(self) -> None:
        """A varied run records its blur and error in meta and renders the same bytes twice."""
        v = draw_variation(8, 60.0)
        a = render_varied("ours", "flaming_upholstery", 8, 60.0, rate_hz=1.0)
        b = render_varied("ours", "flaming_upholstery", 8, 60.0, rate_hz=1.0)
        assert v.psf_sigma_px > 0.0
        for name in UNIT_FIELDS:
            assert a.meta["variation"][name] == getattr(v, name), name
        assert a.frames.tobytes() == b.frames.tobytes()


class TestFlameLook:
    def test_the_flames_are_restyled_by_the_drawn_factors(self) -> None:
        """Every flame of a built scene gets the factors: temperatures scaled, emissivity and
        flicker depth scaled within their caps; other objects are left alone."""
        from edge.sim.flame_look import MAX_FLICKER_DEPTH, restyle_flames
        from edge.sim.scenarios import make_scene
        from edge.sim.scenarios.thermal import Flame

        scene = make_scene("flaming_upholstery", 4, 300.0)
        flames = [o for o in scene.objects if isinstance(o, Flame)]
        others = [o for o in scene.objects if not isinstance(o, Flame)]
        assert flames and others
        before = [(f.core_k, f.envelope_k, f.core_emissivity, f.flicker_depth) for f in flames]
        assert restyle_flames(scene.objects, 1.1, 1.5, 2.0) == len(flames)
        for f, (core, env, eps, depth) in zip(flames, before, strict=True):
            assert f.core_k == pytest.approx(core * 1.1)
            assert f.envelope_k == pytest.approx(env * 1.1)
            assert f.core_emissivity == pytest.approx(min(eps * 1.5, 1.0))
            assert f.flicker_depth == pytest.approx(min(depth * 2.0, MAX_FLICKER_DEPTH))
        with pytest.raises(ValueError, match="temp_factor"):
            restyle_flames(scene.objects, 0.0, 1.0, 1.0)

    def test_a_hotter_flame_model_reads_hotter_and_is_recorded(self) -> None:
        """Two runs of the same seed differ only in the flame factors: the hotter, more
        emissive flame gives a hotter hottest pixel; the factors are in meta."""
        seed = 8
        v = draw_variation(seed, 400.0)
        assert v.flame_temp_factor != 1.0
        rec = render_varied("ours", "flaming_upholstery", seed, 400.0, rate_hz=1.0)
        for name in FLAME_FIELDS:
            assert rec.meta["variation"][name] == getattr(v, name), name
        sums = []
        for temp, eps in ((0.85, 0.5), (1.15, 1.5)):
            look = replace(v, frame_rate_hz=1.0, co_nuisance=None, flame_temp_factor=temp,
                           flame_emissivity_factor=eps)
            r = render_installation("ours", "flaming_upholstery", seed, 400.0, look)
            assert r.fire_start_s is not None
            sums.append(int(r.frames[r.frame_t >= r.fire_start_s].astype(np.int64).sum()))
        assert sums[1] > sums[0]
