"""Installation variation for the training corpus: one place that draws, per run, what an
installation varies (issue 14; docs/scenarios.md, "Installation variation").

A run's variation comes from its own random stream, ``numpy.random.default_rng((seed, 7))``,
so the scene's own draws for the same seed are untouched (the held-out suite renders without
variation and keeps its numbers). It works in two halves:

- **scene overrides** (``Variation.overrides(engine)``): parameters both engines already
  draw, pinned to wider, installation-like values — gain (and the unit's high-gain ceiling,
  135–182 °C), camera distance 1–10 m, how much
  of the source is in view (with the viewing angle's foreshortening), room size and height,
  air changes (and, for CFAST, the door), the SCD41's noise;
- **recording effects** (``apply_variation``): what happens to the recorded streams — the
  frame rate (log-uniform 1–8.7 Hz), extra flat-field corrections (frozen frames), camera
  gaps of 5–30 s with no frames, the source occluded part-way through the run, and single
  SCD41 glitches (a spike, a 0-ppm dropout, an all-zero temperature word, a stuck value: the
  kinds ``edge.detect.plausibility`` filters);
- **a second source**: a fire may get a nuisance running beside it (a fire starting while
  someone cooks): ours ``render_recording(..., co_nuisance=NAME)``; CFAST's a second
  ``&FIRE`` switched on before the fire (``edge.sim.cfast.beside``: gas hob, oil heating,
  heater or candle), ``render_cfast_recording(..., co_nuisance=NAME)``. The same p 0.3 draw
  decides for both engines; which CFAST nuisance comes from its own stream;
- **another camera unit** (``edge.sim.camera_unit``, drawn from the sub-stream
  ``(seed, 7, 2)`` so the draws above do not move): a Gaussian lens blur in band radiance and
  the unit's radiometric offset and gain error, applied to every frame of the recording;
- **another flame model** (``edge.sim.flame_look``, sub-stream ``(seed, 7, 3)``): factors on
  every flame's drawn temperature, emissivity and flicker depth, applied to the built scene;
- **another flame geometry** (``edge.sim.flame_shape``, sub-stream ``(seed, 7, 4)``): every
  flame's painted height and width, outline and core share, set on the built scene; and a
  fire's surroundings warming with its cumulative heat (``edge.sim.surroundings``).

Every drawn value is recorded in the recording's ``meta["variation"]``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge.recording import Recording
from edge.sim.camera_unit import apply_camera_unit, saturation_count
from edge.sim.flame_look import restyle_flames
from edge.sim.flame_shape import reshape_flames
from edge.sim.scenarios.scene import ScenarioScene, check_render, make_scene, record_scene
from edge.sim.surroundings import heat_surroundings
from edge.types import FloatArray

if TYPE_CHECKING:
    from edge.sim.cfast.scene import CfastScene

VARIATION_STREAM = 7  # default_rng((seed, VARIATION_STREAM)): apart from the scene's draws
Range = tuple[float, float]

#: The documented ranges (docs/scenarios.md, "Installation variation").
VARIATION_RANGES: dict[str, Range] = {
    "frame_rate_hz": (1.0, 8.7),  # log-uniform: devices record at reduced rates
    "camera_distance_m": (1.0, 10.0),  # log-uniform
    "view_angle_deg": (0.0, 70.0),  # off-axis: projected area × cos(angle)
    "occlusion_full": (0.0, 0.2),  # "full" view: a little in the way
    "occlusion_partly": (0.3, 0.9),  # "partly" in view
    "occlude_after_s": (20.0, 300.0),  # "later": hidden this long after the source starts
    "room_volume_m3": (15.0, 150.0),  # log-uniform: a box room to an open-plan living room
    "room_ceiling_m": (2.3, 4.0),
    "room_ach": (0.1, 4.0),  # log-uniform: sealed to HVAC running
    "sensor_co2_noise_ppm": (2.0, 20.0),  # log-uniform
    "ffc_extra_count": (0.0, 3.0),  # integer
    "ffc_freeze_s": (0.5, 3.0),
    "gap_count": (0.0, 2.0),  # integer
    "gap_s": (5.0, 30.0),
    "glitch_count": (0.0, 3.0),  # integer
    "glitch_spike_ppm": (2000.0, 8000.0),
    "glitch_stuck_readings": (3.0, 12.0),  # integer
    # Another lens and Lepton unit (edge.sim.camera_unit), from the sub-stream (seed, 7, 2):
    "psf_sigma_px": (0.0, 1.2),  # Gaussian optics blur, in band radiance
    "radiometric_offset_k": (-3.0, 3.0),  # high gain; doubled in low gain (sensors.md §2.3)
    "radiometric_gain_err": (-0.06, 0.06),  # × (T − 300 K); doubled in low gain
    # The unit's high-gain ceiling: specified 140 ±5 °C, seen capped up to ≈182 °C
    # (sensors.md §2.3); the scene draws 140–182, so a unit under 140 °C only shows here.
    "camera_high_gain_clip_c": (135.0, 182.0),
    # Another flame model (edge.sim.flame_look), from the sub-stream (seed, 7, 3): factors on
    # every flame's drawn values, so each family's range widens around its own.
    "flame_temp_factor": (0.85, 1.15),  # × core and envelope temperature (K)
    "flame_emissivity_factor": (0.5, 1.5),  # × emissivities, at most 1
    "flame_flicker_factor": (0.5, 2.0),  # × flicker depth (log-uniform), at most 0.8
    # Another flame geometry (edge.sim.flame_shape), from the sub-stream (seed, 7, 4):
    "flame_height_factor": (0.6, 1.5),  # × Heskestad's mean height (log-uniform)
    "flame_width_factor": (0.7, 1.4),  # × the painted base width (log-uniform)
    "flame_outline_exponent": (0.3, 1.0),  # half-width ∝ (1 − z)^exp; 0.5 = paraboloid
    "flame_core_fraction": (0.25, 0.6),  # the steady core's share of the height
    # A fire's surroundings warming (edge.sim.surroundings), the same sub-stream: the peak
    # rise k·√(∫HRR dt), k in K/√kJ (log-uniform), none with p SURROUNDINGS_NONE_P
    "surroundings_k": (0.1, 1.0),
}
SURROUNDINGS_NONE_P = 0.3
SHAPE_STREAM = 4  # default_rng((seed, VARIATION_STREAM, SHAPE_STREAM)): the flames' geometry
FLAME_STREAM = 3  # default_rng((seed, VARIATION_STREAM, FLAME_STREAM)): the flames' look
UNIT_STREAM = 2  # default_rng((seed, VARIATION_STREAM, UNIT_STREAM)): the camera unit's draws
LOW_GAIN_ERROR_FACTOR = 2.0  # Lepton 3.5: ±5 °C in high gain, ±10 °C in low (sensors.md §2.3)
VIEW_MODES = ("full", "partly", "none", "later")
VIEW_P = (0.45, 0.25, 0.1, 0.2)
GLITCH_KINDS = ("spike", "zero", "temp_word", "stuck")
ENGINES = ("ours", "cfast")
#: A fire of ours (not the grease fire, already over cooking) gets a second, nuisance source
#: with this probability: cooking mostly, gas first (the main CO2 confuser). A CFAST fire
#: (not the cooking-oil fire) likewise, its nuisance from ``edge.sim.cfast.beside``.
CO_NUISANCE_P = 0.3
CO_NUISANCES = ("gas_cooking", "electric_cooking", "occupancy")
CO_NUISANCE_WEIGHTS = (0.5, 0.3, 0.2)
OCCLUDER_MIN_K = 20.0  # "later": pixels this much hotter than before the source get hidden


@dataclass
class Variation:
    """One run's drawn installation; every field goes into ``meta["variation"]``."""

    seed: int
    frame_rate_hz: float
    low_gain: bool
    camera_distance_m: float
    view_mode: str
    view_angle_deg: float
    occlusion: float  # of the source, angle's foreshortening included
    occlude_after_s: float | None
    room_volume_m3: float
    room_ceiling_m: float
    room_ach: float
    door_open: bool
    sensor_co2_noise_ppm: float
    ffc_extra: list[tuple[float, float]] = field(default_factory=list)  # (start, freeze s)
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (start, length s)
    glitches: list[tuple[str, float, float]] = field(default_factory=list)  # kind, t, size
    co_nuisance: str | None = None  # a nuisance (of the run's engine) beside the fire
    psf_sigma_px: float = 0.0  # the lens's Gaussian blur (px); 0: none
    radiometric_offset_k: float = 0.0  # the unit's error: T + offset + gain_err·(T − 300 K)
    radiometric_gain_err: float = 0.0
    high_gain_clip_c: float | None = None  # the unit's high-gain ceiling (°C); None: the scene's
    flame_temp_factor: float = 1.0  # another flame model: factors on every flame's draws
    flame_emissivity_factor: float = 1.0
    flame_flicker_factor: float = 1.0
    flame_height_factor: float = 1.0  # another flame geometry (edge.sim.flame_shape)
    flame_width_factor: float = 1.0
    flame_outline_exponent: float = 0.5
    flame_core_fraction: float = 0.4
    surroundings_k: float = 0.0  # a fire's surroundings warm by k·√(∫HRR dt) K; 0: none

    def overrides(self, engine: str) -> dict[str, Any]:
        """Scene parameters pinned for ``engine`` (``ours`` or ``cfast``)."""
        if engine not in ENGINES:
            raise ValueError(f"engine {engine!r}; allowed: {', '.join(ENGINES)}")
        out: dict[str, Any] = {
            "camera_low_gain": self.low_gain, "camera_distance_m": self.camera_distance_m,
            "camera_occlusion": self.occlusion, "room_volume_m3": self.room_volume_m3,
            "room_ceiling_m": self.room_ceiling_m, "room_ach": self.room_ach,
            "sensor_co2_noise_ppm": self.sensor_co2_noise_ppm}
        if self.high_gain_clip_c is not None:
            out["camera_high_gain_clip_c"] = self.high_gain_clip_c
        if engine == "cfast":
            out["door_open"] = self.door_open
            out["camera_in_view"] = self.view_mode != "none"
        return out

    def as_meta(self) -> dict[str, Any]:
        """The drawn values as JSON-ready data."""
        doc = asdict(self)
        doc["ffc_extra"] = [list(x) for x in self.ffc_extra]
        doc["gaps"] = [list(x) for x in self.gaps]
        doc["glitches"] = [list(x) for x in self.glitches]
        return doc


def _log_uniform(rng: np.random.Generator, name: str) -> float:
    lo, hi = VARIATION_RANGES[name]
    return float(np.exp(rng.uniform(math.log(lo), math.log(hi))))


def _uniform(rng: np.random.Generator, name: str) -> float:
    return float(rng.uniform(*VARIATION_RANGES[name]))


def _integer(rng: np.random.Generator, name: str) -> int:
    lo, hi = VARIATION_RANGES[name]
    return int(rng.integers(int(lo), int(hi) + 1))


def draw_variation(seed: int, duration_s: float, rate_hz: float | None = None) -> Variation:
    """The installation of run ``seed``; ``rate_hz`` pins the frame rate (None: drawn).

    Every number is drawn whatever is pinned, so the draws stay in step.

    :raises ValueError: a duration or pinned rate that is not a positive number.
    """
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration {duration_s} s; allowed: a positive number")
    if rate_hz is not None and not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"frame rate {rate_hz} Hz; allowed: a positive number or None")
    rng = np.random.default_rng((seed, VARIATION_STREAM))
    drawn_rate = _log_uniform(rng, "frame_rate_hz")
    low_gain = bool(rng.random() < 0.5)
    distance = _log_uniform(rng, "camera_distance_m")
    mode = str(VIEW_MODES[int(rng.choice(len(VIEW_MODES), p=VIEW_P))])
    angle = _uniform(rng, "view_angle_deg")
    occ_full, occ_part = _uniform(rng, "occlusion_full"), _uniform(rng, "occlusion_partly")
    after = _uniform(rng, "occlude_after_s")
    occ = {"full": occ_full, "later": occ_full, "partly": occ_part, "none": 1.0}[mode]
    occ = 1.0 - (1.0 - occ) * math.cos(math.radians(angle))
    var = Variation(
        seed=int(seed), frame_rate_hz=float(rate_hz) if rate_hz is not None else drawn_rate,
        low_gain=low_gain, camera_distance_m=distance, view_mode=mode, view_angle_deg=angle,
        occlusion=min(occ, 1.0), occlude_after_s=after if mode == "later" else None,
        room_volume_m3=_log_uniform(rng, "room_volume_m3"),
        room_ceiling_m=_uniform(rng, "room_ceiling_m"), room_ach=_log_uniform(rng, "room_ach"),
        door_open=bool(rng.random() < 0.5),
        sensor_co2_noise_ppm=_log_uniform(rng, "sensor_co2_noise_ppm"))
    for _ in range(_integer(rng, "ffc_extra_count")):
        var.ffc_extra.append((float(rng.uniform(0.0, duration_s)), _uniform(rng, "ffc_freeze_s")))
    for _ in range(_integer(rng, "gap_count")):
        length = _uniform(rng, "gap_s")
        var.gaps.append((float(rng.uniform(0.0, max(duration_s - length, 0.0))), length))
    for _ in range(_integer(rng, "glitch_count")):
        kind = str(GLITCH_KINDS[int(rng.integers(len(GLITCH_KINDS)))])
        t = float(rng.uniform(0.0, duration_s))
        size = (_uniform(rng, "glitch_spike_ppm") if kind == "spike"
                else float(_integer(rng, "glitch_stuck_readings")) if kind == "stuck" else 0.0)
        var.glitches.append((kind, t, size))
    if rng.random() < CO_NUISANCE_P:
        var.co_nuisance = str(CO_NUISANCES[int(rng.choice(len(CO_NUISANCES),
                                                          p=CO_NUISANCE_WEIGHTS))])
    unit = np.random.default_rng((seed, VARIATION_STREAM, UNIT_STREAM))  # old draws stay put
    err = LOW_GAIN_ERROR_FACTOR if var.low_gain else 1.0
    var.psf_sigma_px = _uniform(unit, "psf_sigma_px")
    var.radiometric_offset_k = err * _uniform(unit, "radiometric_offset_k")
    var.radiometric_gain_err = err * _uniform(unit, "radiometric_gain_err")
    var.high_gain_clip_c = _uniform(unit, "camera_high_gain_clip_c")  # after: the rest stay put
    look = np.random.default_rng((seed, VARIATION_STREAM, FLAME_STREAM))
    var.flame_temp_factor = _uniform(look, "flame_temp_factor")
    var.flame_emissivity_factor = _uniform(look, "flame_emissivity_factor")
    var.flame_flicker_factor = _log_uniform(look, "flame_flicker_factor")
    shape = np.random.default_rng((seed, VARIATION_STREAM, SHAPE_STREAM))
    var.flame_height_factor = _log_uniform(shape, "flame_height_factor")
    var.flame_width_factor = _log_uniform(shape, "flame_width_factor")
    var.flame_outline_exponent = _uniform(shape, "flame_outline_exponent")
    var.flame_core_fraction = _uniform(shape, "flame_core_fraction")
    none, k = bool(shape.random() < SURROUNDINGS_NONE_P), _log_uniform(shape, "surroundings_k")
    var.surroundings_k = 0.0 if none else k
    return var


def apply_variation(rec: Recording, var: Variation) -> Recording:
    """``rec`` as the varied installation recorded it: the source hidden from
    ``occlude_after_s`` on ("later"), extra FFC freezes, camera gaps (no frames), SCD41
    glitches, then the camera unit's lens blur and radiometric error on every frame;
    ``meta["variation"]`` holds ``var``. ``rec`` is left unchanged.

    The frame rate and the scene overrides are applied by rendering (``render_varied``).
    """
    frame_t, frames = rec.frame_t.copy(), rec.frames.copy()
    meta = dict(rec.meta)
    doc = var.as_meta()
    onset = rec.fire_start_s if rec.fire_start_s is not None else meta.get("source_on_s")
    hidden_px = 0
    if var.occlude_after_s is not None and onset is not None and frame_t.size:
        hidden_px = _occlude(frame_t, frames, float(onset), float(onset) + var.occlude_after_s,
                             rec.frame_resolution_k)
    doc["occluded_pixels"] = hidden_px
    for start, freeze_s in var.ffc_extra:
        inside = np.flatnonzero((frame_t >= start) & (frame_t < start + freeze_s))
        if inside.size and inside[0] > 0:
            frames[inside] = frames[inside[0] - 1]
    keep = np.ones(frame_t.size, bool)
    for start, length in var.gaps:
        keep &= ~((frame_t >= start) & (frame_t < start + length))
    if not keep.all():
        frame_t, frames = frame_t[keep], frames[keep]
    # Last, on every frame alike (a frozen frame stays a copy): the lens blurs the scene with
    # its occluder, and the unit's calibration error reads it.
    frames = apply_camera_unit(frames, rec.frame_resolution_k,
                               saturation_count(meta, rec.frame_resolution_k),
                               var.psf_sigma_px, var.radiometric_offset_k,
                               var.radiometric_gain_err, in_place=True)
    co2 = rec.co2_ppm.copy()
    temp = rec.temperature_c.copy()
    for kind, t, size in var.glitches:
        if not rec.gas_t.size:
            break
        i = int(np.clip(np.searchsorted(rec.gas_t, t), 0, rec.gas_t.size - 1))
        if kind == "spike":
            co2[i] = min(co2[i] + size, 40_000.0)
        elif kind == "zero":
            co2[i] = 0.0
        elif kind == "temp_word":
            temp[i] = -45.0  # an all-zero word: T = −45 + 175·0
        else:  # stuck: the chip repeats a reading
            co2[i:i + int(size)] = co2[i]
            temp[i:i + int(size)] = temp[i]
    meta["variation"] = doc
    out = Recording(frame_t=frame_t, frames=frames, gas_t=rec.gas_t.copy(), co2_ppm=co2,
                    temperature_c=temp, humidity_pct=rec.humidity_pct.copy(),
                    frame_resolution_k=rec.frame_resolution_k, meta=meta)
    out.validate(f"varied recording (seed {var.seed})")
    return out


def _occlude(frame_t: FloatArray, frames: npt.NDArray[np.uint16], onset_s: float,
             hide_s: float, resolution_k: float) -> int:
    """Hide, from ``hide_s`` on, the pixels the source heats by ≥ ``OCCLUDER_MIN_K`` (an
    object moved in front of it shows what was there before the source): in place; the
    number of pixels hidden."""
    before = int(np.searchsorted(frame_t, onset_s)) - 1
    first = int(np.searchsorted(frame_t, hide_s))
    if first >= frame_t.size:
        return 0
    ref = frames[max(before, 0)].astype(np.float64)
    hot = frames[first:].max(axis=0).astype(np.float64) - ref >= OCCLUDER_MIN_K / resolution_k
    if not hot.any():
        return 0
    grown = hot.copy()  # one pixel around, for the blur of the edge
    grown[1:] |= hot[:-1]
    grown[:-1] |= hot[1:]
    grown[:, 1:] |= hot[:, :-1]
    grown[:, :-1] |= hot[:, 1:]
    frames[first:, grown] = frames[max(before, 0)][grown]
    return int(grown.sum())


def render_varied(engine: str, family: str, seed: int, duration_s: float,
                  rate_hz: float | None = None, **render: Any) -> Recording:
    """Run ``seed`` of ``family`` from ``engine`` (``ours``/``cfast``) with its drawn
    installation: the scene overrides, the frame rate (``rate_hz`` pins it) and the
    recording effects.

    :raises ValueError: an unknown engine or family, or as the engine's renderer.
    """
    var = draw_variation(seed, duration_s, rate_hz)
    if var.co_nuisance is not None and engine == "cfast" and _cfast_co_nuisance_fits(family):
        from edge.sim.cfast.beside import choose_beside

        var = replace(var, co_nuisance=choose_beside(seed))
    elif engine != "ours" or not _co_nuisance_fits(family):
        var = replace(var, co_nuisance=None)
    return render_installation(engine, family, seed, duration_s, var, **render)


def render_installation(engine: str, family: str, seed: int, duration_s: float,
                        var: Variation, **render: Any) -> Recording:
    """Run ``seed`` of ``family`` from ``engine`` in the installation ``var`` (as drawn by
    ``render_varied``, or changed): the scene overrides, its flames restyled and reshaped,
    rendered at ``var.frame_rate_hz``, then the recording effects.

    :raises ValueError: an unknown engine or family, or as the engine's renderer.
    """
    gas_period_s = float(render.pop("gas_period_s", 5.0))
    lepton = str(render.pop("lepton", "3.5"))
    check_render(var.frame_rate_hz, gas_period_s, lepton)
    scene: ScenarioScene | CfastScene
    if engine == "cfast":
        from edge.sim.cfast.make import make_cfast_scene

        scene = make_cfast_scene(family, seed, duration_s, var.co_nuisance, **render,
                                 **var.overrides("cfast"))
        objects, generator, what = scene.parts.objects, "edge.sim.cfast", "CFAST scene"
    elif engine == "ours":
        scene = make_scene(family, seed, duration_s, var.co_nuisance, **render,
                           **var.overrides("ours"))
        objects, generator, what = scene.objects, "edge.sim.scenarios", "scenario"
    else:
        raise ValueError(f"engine {engine!r}; allowed: {', '.join(ENGINES)}")
    restyle_flames(objects, var.flame_temp_factor, var.flame_emissivity_factor,
                   var.flame_flicker_factor)
    reshape_flames(objects, var.flame_height_factor, var.flame_width_factor,
                   var.flame_outline_exponent, var.flame_core_fraction)
    heat_surroundings(objects, var.surroundings_k)
    rec = record_scene(scene, duration_s, var.frame_rate_hz, gas_period_s, lepton, generator,
                       f"{what} {family} seed {seed}")
    return apply_variation(rec, var)


def _co_nuisance_fits(family: str) -> bool:
    """A second source goes beside fires of ours, not the grease fire (already cooking)."""
    from edge.sim.scenarios import SCENARIOS

    fam = SCENARIOS.get(family)
    return fam is not None and fam.is_fire and family != "kitchen_grease_fire"


def _cfast_co_nuisance_fits(family: str) -> bool:
    """A second source goes beside CFAST's fires, not its cooking-oil fire (already cooking)."""
    from edge.sim.cfast import CFAST_FAMILIES
    from edge.sim.cfast.families import FIRE

    fam = CFAST_FAMILIES.get(family)
    return fam is not None and fam.label == FIRE and family != "cfast_cooking_oil"
