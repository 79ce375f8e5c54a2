"""The scenario engine: families, determinism, truth, camera and CO2 behaviour, commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.cli import main
from edge.config.sensors import LeptonConfig, Scd41Config
from edge.recording import Recording, load_recording, save_recording
from edge.sensors.scd41 import SCD41
from edge.sensors.scd41_reader import Scd41Reader
from edge.sim.clock import ManualClock
from edge.sim.scd41 import SimulatedSCD41
from edge.sim.scenarios import (
    FIRE_FAMILIES,
    NUISANCE_FAMILIES,
    SCENARIOS,
    make_scene,
    render_recording,
)
from edge.sim.scenarios.base import COMMON_RANGES, SPAN_S
from edge.sim.scenarios.camera import LEPTON_SHAPES
from edge.sim.scene import Scene
from edge.sim.sources import open_simulated_lepton

K0 = 273.15
FAST: dict[str, Any] = {"frame_rate_hz": 2.0, "lepton": "2.5"}
# A sensor without slow wander or drift, to measure a source's own rate.
QUIET_SENSOR: dict[str, Any] = {"sensor_co2_wander_ppm": 2.0, "sensor_asc_drift_ppm_h": 0.0,
                                "sensor_asc_step": False}


def _slope_ppm_min(rec: Recording, window_s: float = 120.0) -> np.ndarray:
    """Least-squares CO2 slopes over sliding windows, ppm/min."""
    t, c = rec.gas_t.astype(float), rec.co2_ppm.astype(float)
    n = int(window_s // 5.0)
    out = [np.polyfit(t[i:i + n], c[i:i + n], 1)[0] * 60.0 for i in range(t.size - n)]
    return np.array(out)


def _ranges(name: str) -> dict[str, tuple[float, float]]:
    ranges = dict(COMMON_RANGES)
    for bg in SCENARIOS[name].backgrounds:
        if bg in SCENARIOS:
            ranges.update(SCENARIOS[bg].ranges)
    ranges.update(SCENARIOS[name].ranges)
    return ranges


class TestRegistry:
    def test_twelve_families(self) -> None:
        """There are six fire and six nuisance families with codes F1–F6 and N1–N6."""
        assert len(SCENARIOS) == 12
        assert sorted(SCENARIOS[n].code for n in FIRE_FAMILIES) == [f"F{i}" for i in range(1, 7)]
        assert sorted(SCENARIOS[n].code for n in NUISANCE_FAMILIES) == [
            f"N{i}" for i in range(1, 7)]
        assert all(SCENARIOS[n].label == "fire" for n in FIRE_FAMILIES)
        assert all(SCENARIOS[n].label == "no-fire" for n in NUISANCE_FAMILIES)

    def test_backgrounds_are_nuisances(self) -> None:
        """Fires are laid over nuisance families (or a quiet room); the grease fire over cooking."""
        for name in FIRE_FAMILIES:
            assert set(SCENARIOS[name].backgrounds) <= {"none", *NUISANCE_FAMILIES}
        assert SCENARIOS["kitchen_grease_fire"].backgrounds == ("electric_cooking",)

    def test_unknown_scenario_lists_names(self) -> None:
        """An unknown family is refused with the list of known ones."""
        with pytest.raises(ValueError, match=r"flaming_upholstery.*gas_cooking"):
            make_scene("bonfire", 1, 60.0)

    def test_unknown_override_refused(self) -> None:
        """An override naming no parameter of the scenario is refused, naming it."""
        with pytest.raises(ValueError, match="volume_litres"):
            make_scene("occupancy", 1, 60.0, volume_litres=3.0)

    @pytest.mark.parametrize(("name", "value"), [("camera_distance_m", "far"),
                                                 ("camera_distance_m", float("nan")),
                                                 ("occ_door", "yes"), ("occ_people", 2.5)])
    def test_override_of_wrong_type_refused(self, name: str, value: object) -> None:
        """An override of the wrong type is refused with the parameter's name."""
        with pytest.raises(ValueError, match=name):
            make_scene("occupancy", 1, 60.0, **{name: value})

    def test_override_choice_must_be_known(self) -> None:
        """A choice override must be one of the options, which the error lists."""
        with pytest.raises(ValueError, match="occupancy"):
            make_scene("flaming_upholstery", 1, 60.0, background="garage")

    def test_bad_duration_and_camera(self) -> None:
        """A non-positive duration or an unknown Lepton is refused."""
        with pytest.raises(ValueError, match="duration"):
            make_scene("occupancy", 1, 0.0)
        with pytest.raises(ValueError, match=r"3\.5"):
            render_recording("occupancy", 1, 10.0, lepton="9")


class TestDeterminism:
    def test_same_seed_same_recording(self) -> None:
        """The same (name, seed, duration) renders identical arrays and truth."""
        a = render_recording("kitchen_grease_fire", 7, 60.0, **FAST)
        b = render_recording("kitchen_grease_fire", 7, 60.0, **FAST)
        assert np.array_equal(a.frames, b.frames) and np.array_equal(a.co2_ppm, b.co2_ppm)
        assert np.array_equal(a.temperature_c, b.temperature_c)
        assert a.meta == b.meta

    @pytest.mark.parametrize("name", sorted(SCENARIOS))
    def test_duration_does_not_change_the_draw(self, name: str) -> None:
        """The same seed is the same scenario at any duration: parameters and ignition, and a
        shorter rendering is the start of a longer one."""

        def drawn(p: dict[str, Any]) -> dict[str, Any]:  # less when Q passes 10/50/100 kW
            return {k: v for k, v in p.items() if not k.startswith("fire_q")}  # in the run

        short = render_recording(name, 2, 140.0, **FAST)
        longer = render_recording(name, 2, 240.0, **FAST)
        far = make_scene(name, 2, 1800.0).truth
        assert short.fire_start_s == longer.fire_start_s == far["fire_start_s"]
        assert drawn(short.meta["params"]) == drawn(longer.meta["params"]) == drawn(
            far["params"])
        n, m = short.frame_t.size, short.gas_t.size
        assert np.array_equal(short.frames, longer.frames[:n])
        for key in ("co2_ppm", "temperature_c", "humidity_pct"):
            assert np.array_equal(getattr(short, key), getattr(longer, key)[:m])

    def test_ignition_is_drawn_on_the_span(self) -> None:
        """A fire ignites 30–50 % into the 600-s span whatever the duration (seed 2: 215.8 s)."""
        for duration in (140.0, 240.0, 600.0, 2400.0):
            start = make_scene("flaming_upholstery", 2, duration).truth["fire_start_s"]
            assert start == pytest.approx(215.82, abs=0.01)
            assert 0.3 * SPAN_S <= start <= 0.5 * SPAN_S

    def test_different_seed_different_params(self) -> None:
        """Another seed draws other parameters and other frames."""
        a = render_recording("occupancy", 1, 30.0, **FAST)
        b = render_recording("occupancy", 2, 30.0, **FAST)
        assert a.meta["params"] != b.meta["params"]
        assert not np.array_equal(a.frames, b.frames)

    def test_override_pins_one_parameter_only(self) -> None:
        """Pinning one parameter leaves every other drawn parameter unchanged."""
        a = make_scene("flaming_upholstery", 3, 300.0).truth["params"]
        b = make_scene("flaming_upholstery", 3, 300.0, camera_netd_k=0.055).truth["params"]
        assert b["camera_netd_k"] == 0.055 != a["camera_netd_k"]
        assert {k: v for k, v in a.items() if k != "camera_netd_k"} == {
            k: v for k, v in b.items() if k != "camera_netd_k"}

    def test_scene_is_a_pure_function_of_time(self) -> None:
        """Asking the scene twice, in any order, gives the same answers."""
        scene = make_scene("candles_fireplace", 4, 120.0)
        first = scene.thermal_k(50.0, 60, 80)
        scene.thermal_k(10.0, 60, 80)
        assert np.array_equal(first, scene.thermal_k(50.0, 60, 80))
        assert scene.air(33.0) == scene.air(33.0)


@pytest.mark.parametrize("name", list(SCENARIOS))
class TestEveryFamily:
    def test_renders_a_valid_recording(self, name: str, tmp_path: Path) -> None:
        """Each family renders a recording that saves and loads under the spec, truth intact."""
        rec = render_recording(name, 11, 90.0, **FAST)
        path = save_recording(rec, tmp_path / f"{name}.npz")
        back = load_recording(path)
        fam = SCENARIOS[name]
        assert back.frames.shape[1:] == LEPTON_SHAPES["2.5"]
        assert back.meta["scenario"] == name and back.meta["family"] == fam.code
        assert back.meta["label"] == fam.label
        assert back.gas_t.size == 18 and np.all(np.diff(back.frame_t) > 0)
        if fam.is_fire:
            assert back.fire_start_s is not None
            assert 0.3 * SPAN_S <= back.fire_start_s <= 0.5 * SPAN_S  # may be after the end
        else:
            assert back.fire_start_s is None
        json.dumps(back.meta)

    def test_scene_protocol(self, name: str) -> None:
        """The scene answers the Scene protocol with kelvin frames of the asked size."""
        scene: Scene = make_scene(name, 5, 60.0)
        frame = scene.thermal_k(30.0, 60, 80)
        assert frame.shape == (60, 80) and frame.dtype == np.float64
        assert float(frame.min()) > 250.0 and float(np.median(frame)) < 320.0
        sample = scene.air(30.0)
        assert 0.0 <= sample.co2_ppm <= 40000.0 and 0.0 <= sample.humidity_pct <= 100.0
        assert isinstance(scene.ffc_active(30.0), bool)

    def test_params_within_documented_ranges(self, name: str) -> None:
        """Every drawn parameter with a documented range lies inside it, over several seeds."""
        ranges = _ranges(name)
        checked = 0
        for seed in range(6):
            params = make_scene(name, seed, 1800.0).truth["params"]
            for key, value in params.items():
                if key not in ranges or value is None or isinstance(value, bool | str):
                    continue
                lo, hi = ranges[key]
                for v in value if isinstance(value, list) else [value]:
                    assert lo - 1e-9 <= v <= hi + 1e-9, f"{key}={v} outside [{lo}, {hi}]"
                    checked += 1
        assert checked > 30


class TestTruth:
    def test_heat_release_milestones(self) -> None:
        """A flaming fire's truth says when it passes 10, 50 and 100 kW: √(Q/α) after ignition."""
        truth = make_scene("flaming_upholstery", 9, 900.0).truth
        p, t0 = truth["params"], truth["fire_start_s"]
        for kw in (10, 50, 100):
            want = t0 + (kw / p["flame_alpha_kw_s2"]) ** 0.5
            assert p[f"fire_q{kw}_s"] == pytest.approx(want, abs=0.6)

    def test_nuisance_truth(self) -> None:
        """A nuisance run has no fire onset, no background and the no-fire label."""
        truth = make_scene("gas_cooking", 9, 300.0).truth
        assert truth["fire_start_s"] is None and truth["label"] == "no-fire"
        assert truth["background"] is None and truth["family"] == "N3"


class TestOcclusion:
    @staticmethod
    def _hot_px(name: str, pins: dict[str, Any], after_s: float, hot_c: float) -> tuple[int, int]:
        scene = make_scene(name, 4, 1200.0, **pins)
        t0 = float(scene.truth["fire_start_s"])
        before = scene.thermal_k(t0 - 1.0, 120, 160) - K0
        after = scene.thermal_k(t0 + after_s, 120, 160) - K0
        return int((before >= hot_c).sum()), int((after >= hot_c).sum())

    def test_partly_hidden_smoulder_shows_its_char_temperature(self) -> None:
        """A smoulder 70 % hidden behind an opaque object still shows its uncovered char at
        the char's temperature once it spreads over several pixels (occlusion hides area, it
        does not dim every pixel)."""
        pins = {"camera_occlusion": 0.7, "camera_distance_m": 3.0, "smoulder_cover": 1.0,
                "smoulder_t0_c": 300.0, "smoulder_t1_c": 300.0,
                "smoulder_spread_mm_min": 15.0, "smoulder_size0_m": 0.02}
        before, after = self._hot_px("smoulder_in_view", pins, 600.0, 250.0)
        assert before == 0 and after >= 4

    def test_partly_hidden_hot_spot_shows_its_own_temperature(self) -> None:
        """An overheating contact 60 % hidden shows its uncovered part at the contact's own
        temperature, as the unhidden spot does (an occluder hides area; it does not dim)."""
        pins = {"camera_distance_m": 1.5, "hotspot_size_m": 0.04, "hotspot_t0_c": 350.0,
                "hotspot_t1_c": 350.0, "hotspot_flaming_p": 0.0}
        peaks = []
        for occ in (0.0, 0.6):
            scene = make_scene("electrical_overheat", 4, 1200.0,
                               **{**pins, "camera_occlusion": occ})
            t0 = float(scene.truth["fire_start_s"])
            peaks.append(float(scene.thermal_k(t0 + 60.0, 120, 160).max()) - K0)
        assert peaks[0] > 250.0
        assert peaks[1] > 0.8 * peaks[0]

    def test_occlusion_still_hides(self) -> None:
        """The more of the smoulder is hidden, the fewer hot pixels the camera sees."""
        pins = {"camera_distance_m": 3.0, "smoulder_cover": 1.0, "smoulder_t0_c": 300.0,
                "smoulder_t1_c": 300.0, "smoulder_spread_mm_min": 15.0}
        seen = [self._hot_px("smoulder_in_view", {**pins, "camera_occlusion": occ}, 600.0,
                             150.0)[1] for occ in (0.0, 0.4, 0.8)]
        assert seen[0] > seen[1] > seen[2] > 0


class TestCamera:
    def test_frames_are_quantised_thermal_k(self) -> None:
        """A recorded frame is the scene's thermal_k at its time, quantised and clipped."""
        rec = render_recording("heaters_appliances", 2, 20.0, **FAST)
        scene = make_scene("heaters_appliances", 2, 20.0)
        res, top = rec.frame_resolution_k, scene.camera.p.max_count
        for i in (3, 17, 30):
            if scene.ffc_active(float(rec.frame_t[i])):
                continue
            want = np.clip(np.floor(scene.thermal_k(float(rec.frame_t[i]), 60, 80)
                                    .astype(np.float32) / np.float32(res) + 0.5), 0, top)
            assert np.abs(rec.frames[i].astype(float) - want).max() <= 1.0

    def test_high_gain_clips(self) -> None:
        """In high gain a flaming fire clips at the drawn ceiling (140–182 °C), held flat."""
        rec = render_recording("flaming_upholstery", 1, 200.0, frame_rate_hz=1.0, lepton="2.5",
                               fire_start_s=80.0,  # ignition inside the 200-s run
                               camera_low_gain=False, camera_high_gain_clip_c=150.0,
                               camera_occlusion=0.0, background="none")
        top = round((150.0 + K0) / 0.01)
        assert rec.frame_resolution_k == 0.01 and int(rec.frames.max()) == top
        assert (rec.frames[-1] == top).sum() >= 4

    def test_centikelvin_caps_at_382_c(self) -> None:
        """Low gain at 0.01 K tops out at 65535 (382.2 °C)."""
        rec = render_recording("flaming_upholstery", 1, 200.0, frame_rate_hz=1.0, lepton="2.5",
                               fire_start_s=80.0,  # ignition inside the 200-s run
                               camera_low_gain=True, camera_fine_resolution=True,
                               camera_occlusion=0.0, background="none", flame_core_c=900.0,
                               flame_core_emissivity=0.9)
        assert int(rec.frames.max()) == 65535

    def test_decikelvin_goes_above_382_c(self) -> None:
        """Low gain at 0.1 K reports hotter than 382 °C, up to its own ceiling."""
        rec = render_recording("flaming_upholstery", 1, 200.0, frame_rate_hz=1.0, lepton="2.5",
                               fire_start_s=80.0,  # ignition inside the 200-s run
                               camera_low_gain=True, camera_fine_resolution=False,
                               camera_low_gain_clip_c=420.0, camera_occlusion=0.0,
                               background="none", flame_core_c=900.0,
                               flame_core_emissivity=0.9)
        assert rec.frame_resolution_k == 0.1
        assert float(rec.frames.max()) * 0.1 - K0 == pytest.approx(420.0, abs=0.1)

    def test_ffc_freezes_frames(self) -> None:
        """During an FFC the camera repeats the last frame for 4–10 frames, then goes on."""
        rec = render_recording("occupancy", 3, 40.0, frame_rate_hz=8.7, lepton="2.5",
                               camera_ffc_period_s=200.0, camera_ffc_phase=0.1)
        scene = make_scene("occupancy", 3, 40.0, camera_ffc_period_s=200.0,
                           camera_ffc_phase=0.1)
        frozen = np.array([scene.ffc_active(float(t)) for t in rec.frame_t])
        first = int(np.argmax(frozen))
        count = int(frozen.sum())
        assert rec.frame_t[first] == pytest.approx(20.0, abs=0.2)
        assert 4 <= count <= 10 and frozen[first:first + count].all()
        for i in range(first, first + count):
            assert np.array_equal(rec.frames[i], rec.frames[first - 1])
        assert not np.array_equal(rec.frames[first + count], rec.frames[first - 1])


class TestThroughTheDrivers:
    def test_lepton_driver_sees_the_fire(self) -> None:
        """The real Lepton driver, reading VoSPI from the simulated camera, sees the flame."""
        scene = make_scene("flaming_upholstery", 2, 300.0, background="none",
                           camera_occlusion=0.0, camera_distance_m=3.0)
        fs = scene.truth["fire_start_s"]
        hottest = []
        for t0 in (fs - 30.0, fs + 40.0):
            cam = open_simulated_lepton(LeptonConfig(), ManualClock(start=t0), scene)
            frame = cam.read_frame()
            hottest.append(float(frame.pixels.max()) * frame.resolution_k - K0)
        assert hottest[0] < 40.0 < 300.0 < hottest[1]


    def test_scd41_driver_reads_the_scene(self) -> None:
        """The real SCD41 driver, over the byte-level chip simulator, reads the scene's air."""
        scene = make_scene("gas_cooking", 5, 1200.0, gas_start_frac=0.0, **QUIET_SENSOR)
        clock = ManualClock(start=300.0)
        reader = Scd41Reader(SCD41(SimulatedSCD41(scene, clock), clock), Scd41Config())
        assert reader.start()
        got = []
        while len(got) < 12 and clock.monotonic() < 500.0:
            r = reader.read_next(clock.monotonic() + 7.0)
            if r is not None:
                got.append(r)
        assert len(got) == 12
        for r in got:  # each reading is the scene's air at some instant of the last interval
            window = [scene.air(r.t - k * 0.5).co2_ppm for k in range(13)]
            assert min(window) - 1.0 <= r.co2_ppm <= max(window) + 1.0
        assert got[-1].co2_ppm - got[0].co2_ppm > 20.0  # the hob is on: CO2 climbs


class TestCo2Rates:
    def test_occupancy_rate(self) -> None:
        """Occupancy raises CO2 at its drawn 4–40 ppm/min, as measured from the recording."""
        rec = render_recording("occupancy", 4, 900.0, frame_rate_hz=0.2, lepton="2.5",
                               occ_door=False, occ_arrive_frac=0.05, occ_stay_frac=1.5,
                               room_ach=0.2, **QUIET_SENSOR)
        want = rec.meta["params"]["occ_co2_ppm_min"]
        assert 4.0 <= want <= 40.0
        # Well after arrival + transport + lag, the slope is the source's (minus a little
        # ventilation at 0.2 ACH).
        late = rec.gas_t > 45.0 + 120.0 + 240.0
        slope = np.polyfit(rec.gas_t[late], rec.co2_ppm[late].astype(float), 1)[0] * 60.0
        assert slope == pytest.approx(want, rel=0.15)

    def test_gas_cooking_rate(self) -> None:
        """A gas hob adds its drawn 40–150 ppm/min: the main CO2 confuser."""
        rec = render_recording("gas_cooking", 5, 900.0, frame_rate_hz=0.2, lepton="2.5",
                               gas_start_frac=0.05, gas_on_min=12.0, room_ach=0.2,
                               **QUIET_SENSOR)
        want = rec.meta["params"]["gas_co2_ppm_min"]
        assert 40.0 <= want <= 150.0
        assert np.max(_slope_ppm_min(rec)) == pytest.approx(want, rel=0.15)

    def test_flaming_fire_rate(self) -> None:
        """A flaming fire drives CO2 up by hundreds to thousands of ppm/min."""
        rec = render_recording("flaming_upholstery", 6, 600.0, frame_rate_hz=0.2, lepton="2.5",
                               background="none")
        fs = rec.fire_start_s
        assert fs is not None
        before = rec.co2_ppm[rec.gas_t < fs]
        assert np.ptp(before) < 150.0
        assert np.max(_slope_ppm_min(rec, 60.0)) > 500.0

    def test_smoulder_rate_overlaps_occupancy(self) -> None:
        """A smoulder adds only 0.5–15 ppm/min: it overlaps occupancy."""
        rec = render_recording("smoulder_out_of_view", 8, 1500.0, frame_rate_hz=0.1,
                               lepton="2.5", background="none", room_ach=0.2)
        slopes = _slope_ppm_min(rec, 300.0)
        assert 0.3 < np.max(slopes) < 20.0


class TestCommands:
    @pytest.fixture(autouse=True)
    def _capture(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def _cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.capsys.readouterr()
        code = main(list(args))
        out = self.capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out.out, out.err)

    def test_simulate_and_refuse_overwrite(self, tmp_path: Path) -> None:
        """simulate writes a recording, then refuses to overwrite it without --force."""
        out = tmp_path / "f2.npz"
        args = ("simulate", "--scenario", "fast_flaming", "--seed", "3", "--duration", "30",
                "--rate", "2", "--lepton", "2.5", "--out", str(out))
        assert self._cli(*args).returncode == 0
        rec = load_recording(out)
        assert rec.meta["scenario"] == "fast_flaming" and rec.meta["seed"] == 3
        before = out.read_bytes()
        again = self._cli(*args)
        assert again.returncode == 2 and "overwrite" in again.stderr
        assert out.read_bytes() == before
        assert self._cli(*args, "--force").returncode == 0

    def test_simulate_unknown_scenario(self, tmp_path: Path) -> None:
        """An unknown scenario exits 2 and lists the known names."""
        res = self._cli("simulate", "--scenario", "bonfire", "--out", str(tmp_path / "x.npz"))
        assert res.returncode == 2 and "smoulder_in_view" in res.stderr
        assert not (tmp_path / "x.npz").exists()

    def test_simulate_help_lists_every_scenario(self) -> None:
        """simulate --help names every scenario family (fire and nuisance)."""
        with pytest.raises(SystemExit) as done:
            main(["simulate", "--help"])
        assert done.value.code == 0
        out = self.capsys.readouterr().out
        assert all(name in out for name in SCENARIOS), out

    def test_simulate_set_pins_parameters(self, tmp_path: Path) -> None:
        """--set NAME=VALUE pins a parameter; an unknown name or a malformed item exits 2."""
        out = tmp_path / "f1.npz"
        base = ("simulate", "--scenario", "flaming_upholstery", "--duration", "20", "--rate", "1",
                "--lepton", "2.5", "--out", str(out))
        assert self._cli(*base, "--set", "background=none", "--set",
                         "camera_distance_m=2.5").returncode == 0
        params = load_recording(out).meta["params"]
        assert params["background"] == "none" and params["camera_distance_m"] == 2.5
        bad = self._cli(*base, "--force", "--set", "wattage=3")
        assert bad.returncode == 2 and "wattage" in bad.stderr
        assert self._cli(*base, "--force", "--set", "background").returncode == 2

    def test_plot(self, tmp_path: Path) -> None:
        """plot draws a PNG of a recording; a broken recording exits 2."""
        pytest.importorskip("matplotlib")
        rec = render_recording("smoulder_in_view", 2, 60.0, **FAST)
        src = save_recording(rec, tmp_path / "r.npz")
        res = self._cli("plot", str(src), "--out", str(tmp_path / "r.png"))
        assert res.returncode == 0, res.stderr
        assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        (tmp_path / "bad.npz").write_bytes(b"nope")
        bad = self._cli("plot", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "b.png"))
        assert bad.returncode == 2 and "bad.npz" in bad.stderr


def test_first_order_filter_matches_lfilter() -> None:
    """The written-out first-order IIR filter gives exactly what scipy.signal.lfilter gives."""
    from scipy.signal import lfilter

    from edge.sim.scenarios.signals import iir1

    x = np.random.default_rng(4).normal(size=500)
    ref, _ = lfilter([0.25], [1.0, -0.75], x, zi=np.array([0.4]))
    assert np.array_equal(iir1(0.25, 0.75, x, 0.4), ref)


def test_scenarios_do_not_import_scipy_signal() -> None:
    """Rendering a scenario (in the daemon's process when simulating) leaves scipy.signal out."""
    code = (
        "import sys\n"
        "from edge.sim.scenarios import make_scene\n"
        "for family in ('flaming_upholstery', 'kitchen_grease_fire', 'occupancy'):\n"
        "    scene = make_scene(family, 2, 240.0)\n"
        "    scene.air(100.0); scene.thermal_k(100.0, 120, 160)\n"
        "assert 'scipy.signal' not in sys.modules, 'scipy.signal was imported'\n"
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
