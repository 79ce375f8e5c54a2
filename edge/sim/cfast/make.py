"""``make_cfast_scene`` draws one CFAST run of a family; ``render_cfast_recording`` renders it.

Seeded and deterministic: ``numpy.random.default_rng(seed)`` draws the room (20–80 m³,
2.3–3 m high, door open or closed, leakage, 0.2–2 air changes/h), the device on the wall
opposite the door (the SCD41 and the camera at 1.5–2.2 m), the source (families.py) and the
camera's characteristics (``COMMON_RANGES``). The ignition (or switch-on) falls 30–50 % into
``SPAN_S``; nothing drawn depends on ``duration_s`` (CFAST simulates a fixed 15 min after
it, more only for longer renderings, and a longer simulation starts the same).

The truth carries ``engine: "cfast"``, ``fire_start_s`` (None for nuisances),
``source_on_s``, ``smoke_detector_s`` (CFAST's ceiling smoke detector with a drawn entry
lag), ``smoke_detector_cfast_s`` (CFAST's own, no entry lag) and ``heat_detector_s``, in
scene time (None when they never activate), beside every drawn parameter.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from edge.recording import Recording
from edge.sim.cfast.beside import draw_beside, paint_beside, shifted
from edge.sim.cfast.families import CFAST_FAMILIES, FIRE, Placement
from edge.sim.cfast.inputs import CfastCase, Room
from edge.sim.cfast.run import run_case, smoke_alarm_s
from edge.sim.cfast.scene import CfastScene, CfastSceneParts, SensorParams, View
from edge.sim.scenarios.base import COMMON_RANGES, SPAN_S, Draw, Range
from edge.sim.scenarios.camera import Camera, CameraParams
from edge.sim.scenarios.scene import check_render, jsonable, record_scene
from edge.sim.scenarios.signals import Signal
from edge.sim.scenarios.thermal import Flame

log = logging.getLogger(__name__)
START_FRAC = (0.3, 0.5)
CFAST_SIM_S = 900  # after ignition; longer renderings extend it in 600-s blocks
_CHUNK = 64

CFAST_RANGES: dict[str, Range] = {
    **COMMON_RANGES,
    "room_aspect": (1.0, 1.6),
    "room_leak_wall": (1.7e-4, 7e-4),  # leakage area / wall area: tight to leaky
    "sensor_height_m": (1.5, 2.2),
    "device_x_frac": (0.2, 0.8),
    "source_x_frac": (0.15, 0.85),
    "source_y_frac": (0.1, 0.5),
    "source_u": (0.3, 0.7),
    # CFAST carries the smoke across the room; this is only the way into the housing.
    "sensor_transport_delay_s": (5.0, 20.0),
    # The ceiling smoke detector's entry lag (Heskestad's characteristic length, m):
    # ionisation ≈ 1.8–3.2, photoelectric up to ≈ 15 (SFPE Handbook; approximate).
    "smoke_detector_length_m": (1.8, 8.0),
}


def _camera(d: Draw, duration_s: float, seed: int) -> Camera:
    low_gain = d.flag("camera_low_gain", 0.6)
    fine = d.flag("camera_fine_resolution", 0.3 if low_gain else 1.0)
    period = d.uniform("camera_ffc_period_s")
    n = int(max(duration_s, SPAN_S) // period) + 2
    lo, hi = d.ranges["camera_ffc_freeze_frames"]
    p = CameraParams(
        low_gain=low_gain, resolution_k=float(d.record("camera_resolution_k",
                                                       0.01 if fine else 0.1)),
        high_gain_clip_c=d.uniform("camera_high_gain_clip_c"),
        low_gain_clip_c=d.uniform("camera_low_gain_clip_c"), netd_k=d.uniform("camera_netd_k"),
        fpn_k=d.uniform("camera_fpn_k"), drift_k_per_min=d.uniform("camera_drift_k_per_min"),
        ffc_period_s=period, ffc_phase=d.uniform("camera_ffc_phase"),
        ffc_freeze_frames=[int(x) for x in d.rng.integers(round(lo), round(hi) + 1, n)],
        ffc_settle_s=[float(x) for x in d.rng.uniform(*d.ranges["camera_ffc_settle_s"], n)],
        ffc_settle_k=[float(x) for x in d.rng.uniform(*d.ranges["camera_ffc_settle_k"], n)])
    return Camera(p, int(np.random.default_rng((seed, 3)).integers(2**62)), duration_s)


def make_cfast_scene(family: str, seed: int, duration_s: float, co_nuisance: str | None = None,
                     **overrides: Any) -> CfastScene:
    """Draw and run one CFAST scene of ``family``; ``overrides`` pin parameters by name.

    ``co_nuisance``: a CFAST nuisance family running beside a fire (beside.py), switched on
    before it; a second ``&FIRE`` in CFAST's input, painted in the camera's view; the labels
    and ``fire_start_s`` stay the fire's; its draws are in ``truth["co_nuisance"]``.

    :raises ValueError: unknown family, non-positive duration, or an override that names no
        parameter of this family.
    :raises edge.sim.cfast.run.CfastError: CFAST missing or failing.
    """
    fam = CFAST_FAMILIES.get(family)
    if fam is None:
        raise ValueError(f"unknown CFAST family {family!r}; choose one of: "
                         f"{', '.join(CFAST_FAMILIES)}")
    if co_nuisance is not None and fam.label != FIRE:
        raise ValueError(f"co-nuisance {co_nuisance!r} beside {family!r}: a second source "
                         f"goes beside a fire family only")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration_s}")
    rng = np.random.default_rng(seed)
    params: dict[str, Any] = {}
    d = Draw(rng, {**CFAST_RANGES, **fam.ranges}, dict(overrides), params)
    start = float(d.record("source_start_s", float(rng.uniform(*START_FRAC)) * SPAN_S))
    volume, height = d.uniform("room_volume_m3"), d.uniform("room_ceiling_m")
    area = volume / height
    width = math.sqrt(area * d.uniform("room_aspect"))
    depth = area / width
    room_c, rh = d.uniform("room_temp_c"), d.uniform("room_rh_pct")
    room = Room(width=width, depth=depth, height=height, door_open=d.flag("door_open", 0.5),
                door_height=min(2.0, height - 0.1), leak_wall=d.uniform("room_leak_wall"),
                ach=d.uniform("room_ach"), temperature_c=room_c, rh_pct=rh)
    sensor_h = d.uniform("sensor_height_m")
    device = (d.uniform("device_x_frac") * width, depth - 0.05)
    src_xy = (d.uniform("source_x_frac") * width, d.uniform("source_y_frac") * depth)
    u = d.uniform("source_u")
    source = fam.build(d)
    distance = float(d.record("camera_distance_m", max(
        1.0, math.hypot(src_xy[0] - device[0], src_xy[1] - device[1]))))
    in_view = d.flag("camera_in_view", 0.85)
    occlusion = d.uniform("camera_occlusion")  # drawn either way: the draws stay in step
    visible = (1.0 - occlusion) if in_view else 0.0
    beside = None if co_nuisance is None else draw_beside(co_nuisance, seed, width, depth)
    lead = 0.0 if beside is None else beside.lead_s
    cfast0 = start - lead  # scene time of CFAST's time 0: the first source's start
    sim_s = CFAST_SIM_S + 60 * math.ceil(lead / 60.0)
    if duration_s - cfast0 > sim_s:
        sim_s = int(math.ceil((duration_s - cfast0) / 600.0) * 600)
    case = CfastCase(room=room, curve=shifted(source.curve, lead), fuel=source.fuel,
                     fire_xy=src_xy, fire_z=source.z_m,
                     sensor_xyz=(device[0], device[1], sensor_h),
                     detector_xy=(width / 2.0, depth / 2.0), simulation_s=sim_s,
                     title=f"{family} seed {seed}",
                     extra_fires=() if beside is None else (beside.extra_fire(),))
    result = run_case(case)
    smoke_s = smoke_alarm_s(result, d.uniform("smoke_detector_length_m"))
    sensor = SensorParams(
        height_m=sensor_h, baseline_ppm=d.uniform("co2_baseline_ppm"),
        transport_delay_s=d.uniform("sensor_transport_delay_s"), tau_s=d.uniform("sensor_tau_s"),
        t_tau_s=d.uniform("sensor_t_tau_s"), co2_offset_ppm=d.uniform("sensor_co2_offset_ppm"),
        co2_gain_error=d.uniform("sensor_co2_gain_error"),
        co2_noise_ppm=d.uniform("sensor_co2_noise_ppm"),
        self_heating_c=d.uniform("sensor_self_heating_c"))
    pitch = math.atan((sensor_h - 1.0) / distance)  # aimed at 1 m above the source's floor
    view = View(camera_height_m=sensor_h, distance_m=distance,
                wall_distance_m=max(distance, depth - 0.1), pitch_rad=pitch)
    v = float(np.clip(view.row_fraction(source.z_m, distance), 0.05, 0.98))
    d.uniform("gas_phase_s")
    camera = _camera(d, duration_s, seed)
    unknown = sorted(set(overrides) - d.used)
    if unknown:
        raise ValueError(f"override(s) {', '.join(unknown)} name no parameter of CFAST family "
                         f"{family!r}; its parameters are: {', '.join(sorted(d.used))}")
    parts = CfastSceneParts(result=result, start_s=cfast0, room_c=room_c, room_rh_pct=rh,
                            sensor=sensor, view=view)
    horizon = max(duration_s, SPAN_S)
    scene_truth: dict[str, Any] = {}
    scene = CfastScene(scene_truth, parts, camera, seed, horizon)

    def seen_hrr(t: Any) -> Any:
        return scene.cfast_at("hrr_kw", t)

    hrr: Signal = seen_hrr
    at = Placement(u=u, v=v, distance_m=distance, visible=visible, room_c=room_c, horizon_s=horizon,
                   seed=int(np.random.default_rng((seed, 31)).integers(2**62)), start_s=start)
    painted = source.paint(hrr, at)
    for obj in painted:
        if isinstance(obj, Flame):
            obj.fire = fam.label == FIRE  # its surroundings may warm (edge.sim.surroundings)
    parts.objects[:0] = painted  # under the smoke layer
    if beside is not None:
        parts.objects[:0] = paint_beside(beside, view, at, cfast0, device)

    def scene_time(s: float | None) -> float | None:
        return None if s is None else cfast0 + s

    is_fire = fam.label == FIRE
    scene_truth.update({
        "scenario": family, "family": family, "engine": "cfast", "label": fam.label,
        "fire_start_s": start if is_fire else None, "source_on_s": start,
        "smoke_detector_s": scene_time(smoke_s),
        "smoke_detector_cfast_s": scene_time(result.detector_s("smoke")),
        "heat_detector_s": scene_time(result.detector_s("heat")),
        "seed": int(seed), "duration_s": float(duration_s), "background": None,
        "cfast": {"peak_hrr_kw": float(result.hrr_kw.max()),
                  "peak_upper_c": float(result.upper_c.max()),
                  "min_layer_height_m": float(result.layer_height_m.min()),
                  "peak_upper_co2_ppm": float(result.upper_co2.max() * 1e6),
                  "simulation_s": sim_s, "room_fraction": source.room_fraction},
        "params": jsonable(params)})
    if beside is not None:
        scene_truth["co_nuisance"] = jsonable(beside.truth(cfast0))
    log.debug("CFAST scene %s seed %d: %s", family, seed, scene_truth)
    return scene


def render_cfast_recording(family: str, seed: int, duration_s: float,
                           frame_rate_hz: float = 8.7, gas_period_s: float = 5.0,
                           lepton: str = "3.5", co_nuisance: str | None = None,
                           **overrides: Any) -> Recording:
    """Render a CFAST run straight to a recording whose ``meta`` is the truth.

    :raises ValueError: as ``make_cfast_scene``, or a bad rate, gas period or Lepton model.
    """
    check_render(frame_rate_hz, gas_period_s, lepton)
    scene = make_cfast_scene(family, seed, duration_s, co_nuisance, **overrides)
    return record_scene(scene, duration_s, frame_rate_hz, gas_period_s, lepton,
                        "edge.sim.cfast", f"CFAST scene {family} seed {seed}")
