"""Scenario scenes: ``make_scene`` draws one run of a family, ``render_recording`` renders it.

``make_scene(name, seed, duration_s, **overrides)`` draws every parameter from its
documented range with ``numpy.random.default_rng(seed)`` — the same arguments give the same
scene — and returns a ``ScenarioScene`` (an ``edge.sim.scene.Scene``) with its ``truth``.
Fires ignite 30–50 % into the span (``SPAN_S``, 600 s: 180–300 s), over a nuisance
background drawn from the family's list. Nothing drawn depends on ``duration_s``: the same
seed gives the same scene however long it is rendered, and a shorter rendering is the start
of a longer one (up to the span; beyond it the noise is drawn afresh). A rendering that ends
before the drawn ignition shows no fire: that is the caller's choice of duration.

``render_recording`` goes straight to an ``edge.recording.Recording``, vectorised over
frames: the frames are what ``thermal_k`` gives at each frame time, quantised, clipped and
frozen through the FFCs like a Lepton's; the gas readings are ``air`` every 5 s, quantised
like the SCD41's words.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.recording import Recording
from edge.sim.scenarios.air import AirModel, AirParams, quantise_like_scd41
from edge.sim.scenarios.base import COMMON_RANGES, SPAN_S, Ctx, Draw
from edge.sim.scenarios.camera import LEPTON_SHAPES, Camera, CameraParams
from edge.sim.scenarios.families import QUIET, SCENARIOS
from edge.sim.scenarios.signals import total
from edge.sim.scenarios.thermal import ThermalObject, background_k
from edge.sim.scene import AirSample
from edge.types import FloatArray

log = logging.getLogger(__name__)
F32Array = npt.NDArray[np.float32]
FIRE_START_FRAC = (0.3, 0.5)
_CHUNK = 64  # frames rendered at once


class VectorScene:
    """The ``Scene`` protocol answered from a scene's vectorised parts — ``air_at(times)``,
    ``render_k(times, h, w)`` and its camera's shutter — as both engines' scenes are built."""

    camera: Camera
    truth: dict[str, Any]

    def air_at(self, ts: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """CO2 (ppm), temperature (°C) and RH (%) the SCD41's element reads at ``ts``."""
        raise NotImplementedError

    def render_k(self, ts: FloatArray, height: int, width: int) -> F32Array:
        """Focal-plane apparent temperatures (K) for frame times ``ts``: (n, height, width)."""
        raise NotImplementedError

    def air(self, t: float) -> AirSample:
        co2, temp, rh = self.air_at(np.array([t], dtype=np.float64))
        return AirSample(float(co2[0]), float(temp[0]), float(rh[0]))

    def ffc_active(self, t: float) -> bool:
        return bool(self.camera.ffc_active(np.array([t], dtype=np.float64))[0])

    def thermal_k(self, t: float, height: int, width: int) -> FloatArray:
        frame = self.render_k(np.array([t], dtype=np.float64), height, width)[0]
        return np.asarray(frame, dtype=np.float64)


class ScenarioScene(VectorScene):
    """One drawn run of a scenario family; answers the ``Scene`` protocol at any time."""

    def __init__(self, truth: dict[str, Any], ctx: Ctx, camera: Camera, air: AirModel) -> None:
        self.truth = truth
        self.camera = camera
        self.air_model = air
        self._ctx = ctx
        self._wall = total(ctx.parts.wall_warming_k)
        self._backgrounds: dict[tuple[int, int], F32Array] = {}

    @property
    def duration_s(self) -> float:
        return float(self.truth["duration_s"])

    @property
    def objects(self) -> list[ThermalObject]:
        """The thermal objects painted over the room, in order (the variation restyles the
        flames among them)."""
        return self._ctx.parts.objects

    def air_at(self, ts: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        return self.air_model.at(ts)

    def render_k(self, ts: FloatArray, height: int, width: int) -> F32Array:
        key = (height, width)
        if key not in self._backgrounds:
            self._backgrounds[key] = background_k(height, width, self._ctx.seed,
                                                  self._ctx.room_c)
        temp = np.empty((ts.size, height, width), dtype=np.float32)
        temp[:] = self._backgrounds[key]
        temp += self._wall(ts).astype(np.float32)[:, None, None]
        for obj in self._ctx.parts.objects:
            obj.paint(ts, temp)
        self.camera.add_focal_plane(ts, temp)
        return temp


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and tuples as lists (for JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def make_scene(name: str, seed: int, duration_s: float, co_nuisance: str | None = None,
               **overrides: Any) -> ScenarioScene:
    """Draw one run of family ``name``; ``overrides`` pin parameters by their truth name.

    ``co_nuisance``: a nuisance family running in the same room as well (a fire starting
    while someone cooks), drawn from its own stream ``default_rng((seed, 7, 1))`` so the
    run's own draws stay as they are; its parameters are in ``truth["co_nuisance"]``.

    :raises ValueError: unknown family or co-nuisance, non-positive duration, or an override
        that names no parameter of this scenario.
    """
    family = SCENARIOS.get(name)
    if family is None:
        raise ValueError(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}")
    if co_nuisance is not None and (co_nuisance not in SCENARIOS
                                    or SCENARIOS[co_nuisance].is_fire):
        raise ValueError(f"co-nuisance {co_nuisance!r}; allowed: one of the nuisance "
                         f"families {', '.join(n for n, f in SCENARIOS.items() if not f.is_fire)}")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration_s}")
    rng = np.random.default_rng(seed)
    params: dict[str, Any] = {}
    ranges = dict(COMMON_RANGES)
    for bg in family.backgrounds:
        if bg != QUIET:
            ranges.update(SCENARIOS[bg].ranges)
    ranges.update(family.ranges)
    d = Draw(rng, ranges, dict(overrides), params)
    room_c = d.uniform("room_temp_c")
    fire_start = None
    if family.is_fire:
        fire_start = float(d.record("fire_start_s", float(rng.uniform(*FIRE_START_FRAC))
                                    * SPAN_S))
    ctx = Ctx(draw=d, duration_s=duration_s, fire_start_s=fire_start, room_c=room_c,
              volume_m3=d.uniform("room_volume_m3"), ceiling_m=d.uniform("room_ceiling_m"),
              distance_m=d.uniform("camera_distance_m"),
              visible=1.0 - d.uniform("camera_occlusion"), seed=seed,
              baseline_ppm=d.uniform("co2_baseline_ppm"))
    for key in ("room_ach", "room_rh_pct", "sensor_radius_m", "gas_phase_s"):
        d.uniform(key)
    background = name
    anchors = {}
    if family.is_fire:
        background = d.choice("background", family.backgrounds)
        if background != QUIET:
            build = SCENARIOS[background].build_nuisance
            assert build is not None
            anchors = build(ctx)
        assert family.build_fire is not None
        family.build_fire(ctx, anchors)
    else:
        assert family.build_nuisance is not None
        family.build_nuisance(ctx)
    co = _co_nuisance(co_nuisance, ctx) if co_nuisance is not None else None
    camera = _camera(d, ctx, duration_s)
    air = AirModel(_air_params(d, ctx), ctx.parts, seed, ctx.horizon_s)
    unknown = sorted(set(overrides) - d.used)
    if unknown:
        raise ValueError(f"override(s) {', '.join(unknown)} name no parameter of scenario "
                         f"{name!r}; its parameters are: {', '.join(sorted(d.used))}")
    truth = {"scenario": name, "family": family.code, "label": family.label,
             "fire_start_s": fire_start, "seed": int(seed), "duration_s": float(duration_s),
             "background": background if family.is_fire else None, "params": jsonable(params)}
    if co is not None:
        truth["co_nuisance"] = co
    log.debug("scene %s seed %d: %s", name, seed, truth)
    return ScenarioScene(truth, ctx, camera, air)


def _co_nuisance(name: str, ctx: Ctx) -> dict[str, Any]:
    """Build nuisance ``name`` into ``ctx``'s parts from its own random stream; its truth."""
    params: dict[str, Any] = {}
    own = Draw(np.random.default_rng((ctx.seed, 7, 1)),
               {**COMMON_RANGES, **SCENARIOS[name].ranges}, {}, params)
    build = SCENARIOS[name].build_nuisance
    assert build is not None
    build(dataclasses.replace(ctx, draw=own))  # the same parts: one room, two sources
    return {"family": name, "params": jsonable(params)}


def _camera(d: Draw, ctx: Ctx, duration_s: float) -> Camera:
    low_gain = d.flag("camera_low_gain", 0.6)
    fine = d.flag("camera_fine_resolution", 0.3 if low_gain else 1.0)
    resolution = d.record("camera_resolution_k", 0.01 if fine else 0.1)
    period = d.uniform("camera_ffc_period_s")
    n = int(ctx.span_s // period) + 2 + len(ctx.parts.extra_ffc_s)  # cycled in longer runs
    lo, hi = d.ranges["camera_ffc_freeze_frames"]
    freeze = [int(x) for x in d.rng.integers(round(lo), round(hi) + 1, n)]
    settle = [float(x) for x in d.rng.uniform(*d.ranges["camera_ffc_settle_s"], n)]
    settle_k = [float(x) for x in d.rng.uniform(*d.ranges["camera_ffc_settle_k"], n)]
    p = CameraParams(
        low_gain=low_gain, resolution_k=float(resolution),
        high_gain_clip_c=d.uniform("camera_high_gain_clip_c"),
        low_gain_clip_c=d.uniform("camera_low_gain_clip_c"), netd_k=d.uniform("camera_netd_k"),
        fpn_k=d.uniform("camera_fpn_k"), drift_k_per_min=d.uniform("camera_drift_k_per_min"),
        ffc_period_s=period, ffc_phase=d.uniform("camera_ffc_phase"),
        ffc_freeze_frames=list(d.record("camera_ffc_freeze_frames", freeze)),
        ffc_settle_s=list(d.record("camera_ffc_settle_s", settle)),
        ffc_settle_k=list(d.record("camera_ffc_settle_k", settle_k)),
        extra_ffc_s=list(ctx.parts.extra_ffc_s), offsets_k=list(ctx.parts.camera_offsets_k))
    return Camera(p, ctx.sub_seed(3), duration_s)


def _air_params(d: Draw, ctx: Ctx) -> AirParams:
    step = d.flag("sensor_asc_step", 0.1)
    step_ppm = d.uniform("sensor_asc_step_ppm")
    step_at = float(d.rng.uniform(0.0, ctx.span_s))
    return AirParams(
        volume_m3=ctx.volume_m3, ach=float(d.params["room_ach"]), room_c=ctx.room_c,
        rh_pct=float(d.params["room_rh_pct"]), baseline_ppm=ctx.baseline_ppm,
        stratification=float(d.params.get("fire_stratification", 1.0)),
        transport_delay_s=d.uniform("sensor_transport_delay_s"), tau_s=d.uniform("sensor_tau_s"),
        co2_offset_ppm=d.uniform("sensor_co2_offset_ppm"),
        co2_gain_error=d.uniform("sensor_co2_gain_error"),
        co2_wander_ppm=d.uniform("sensor_co2_wander_ppm"),
        co2_noise_ppm=d.uniform("sensor_co2_noise_ppm"),
        asc_drift_ppm_h=d.uniform("sensor_asc_drift_ppm_h"),
        asc_step_ppm=step_ppm, asc_step_s=d.record("sensor_asc_step_s", step_at if step else None),
        self_heating_c=d.uniform("sensor_self_heating_c"), t_tau_s=d.uniform("sensor_t_tau_s"))


def render_recording(name: str, seed: int, duration_s: float, frame_rate_hz: float = 8.7,
                     gas_period_s: float = 5.0, lepton: str = "3.5",
                     co_nuisance: str | None = None, **overrides: Any) -> Recording:
    """Render a run of family ``name`` straight to a recording whose ``meta`` is the truth.

    :raises ValueError: as ``make_scene``, or a bad rate, gas period or Lepton model.
    """
    check_render(frame_rate_hz, gas_period_s, lepton)
    scene = make_scene(name, seed, duration_s, co_nuisance, **overrides)
    return record_scene(scene, duration_s, frame_rate_hz, gas_period_s, lepton,
                        "edge.sim.scenarios", f"scenario {name} seed {seed}")


def check_render(frame_rate_hz: float, gas_period_s: float, lepton: str) -> None:
    """:raises ValueError: a frame rate or gas period that is not a positive number, or an
    unknown Lepton model."""
    if lepton not in LEPTON_SHAPES:
        raise ValueError(f"unknown Lepton {lepton!r}; choose one of: {', '.join(LEPTON_SHAPES)}")
    for what, value in (("frame rate", frame_rate_hz), ("gas period", gas_period_s)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{what} must be a positive number, got {value}")


def record_scene(scene: VectorScene, duration_s: float, frame_rate_hz: float,
                 gas_period_s: float, lepton: str, generator: str, what: str) -> Recording:
    """A validated recording of ``scene`` (of either engine; its ``truth`` becomes the
    ``meta``): frames at ``frame_rate_hz`` with the camera's FFC freezes,
    SCD41 readings every ``gas_period_s``."""
    height, width = LEPTON_SHAPES[lepton]
    frame_t = np.arange(math.ceil(duration_s * frame_rate_hz)) / frame_rate_hz
    frame_t = frame_t[frame_t < duration_s]
    frames = np.empty((frame_t.size, height, width), dtype=np.uint16)
    for i in range(0, frame_t.size, _CHUNK):
        ts = frame_t[i:i + _CHUNK]
        frames[i:i + ts.size] = scene.camera.quantise(scene.render_k(ts, height, width))
    src = scene.camera.freeze_sources(frame_t)
    frozen = np.nonzero(src != np.arange(frame_t.size))[0]
    frames[frozen] = frames[src[frozen]]
    phase = float(scene.truth["params"]["gas_phase_s"]) % gas_period_s
    gas_t = np.arange(phase, duration_s, gas_period_s, dtype=np.float64)
    co2, temp, rh = quantise_like_scd41(*scene.air_at(gas_t))
    meta = dict(scene.truth, lepton=lepton, frame_rate_hz=float(frame_rate_hz),
                gas_period_s=float(gas_period_s), generator=generator)
    rec = Recording(frame_t=frame_t.astype(np.float64), frames=frames, gas_t=gas_t,
                    co2_ppm=co2, temperature_c=temp, humidity_pct=rh,
                    frame_resolution_k=scene.camera.p.resolution_k, meta=meta)
    rec.validate(what)
    return rec
