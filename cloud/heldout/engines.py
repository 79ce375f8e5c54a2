"""Which physics engine renders the held-out runs: ours (``edge.sim.scenarios``) or NIST
CFAST (``edge.sim.cfast``), or both (issue 14's cross-engine evaluation).

- ``ENGINES``: ``ours``, ``cfast``, ``both``.
- ``CFAST_CODES``: a short family code per CFAST family (``CF1``… fires, ``CN1``…
  nuisances), the way ours have ``F1``…/``N1``…, so the per-family tables read alike.
- ``plan_engine_runs(engine, ...)``: the run plan of an engine (``--families`` may name
  families of either engine; each goes to its own).
- ``render(run)``: the recording of one planned run, from its engine;
  ``as_another_camera(rec, ...)``: the same run through another lens and Lepton unit
  (``--camera-unit``: optics and a calibration the model did not train on);
  ``render(run, flame_shape=...)``: every flame painted with one fixed geometry
  (``--flame-shape``: a flame model the model did not train on).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from edge.types import ZERO_C_K

if TYPE_CHECKING:
    from cloud.heldout.suite import HeldoutRun
    from edge.recording import Recording
    from edge.sim.cfast.scene import CfastScene
    from edge.sim.scenarios.scene import ScenarioScene

ENGINES = ("ours", "cfast", "both")
CFAST_CODES = {
    "cfast_flaming_t2": "CF1", "cfast_smoulder": "CF2", "cfast_waste_basket": "CF3",
    "cfast_chair": "CF4", "cfast_mattress": "CF5", "cfast_christmas_tree": "CF6",
    "cfast_cooking_oil": "CF7",
    "cfast_gas_hob": "CN1", "cfast_gas_oven": "CN2", "cfast_candle": "CN3",
    "cfast_fireplace_open": "CN4", "cfast_fireplace_glass": "CN5",
    "cfast_oil_heating": "CN6", "cfast_heater": "CN7",
}
CFAST_SLOW = ("cfast_smoulder",)  # takes tens of minutes: rendered for --slow-duration
GAS_PERIOD_S = 5.0  # as render_recording renders by default
DEFAULT_CORE_FRACTION = 0.4  # --flame-shape keeps our core's share of the height
CFAST_SEED_OFFSET = 500_000  # CFAST seeds sit beside ours: seed_base + 500 000 + 10 000·k + i


def run_length(code: str, slow: bool, duration_s: float, slow_duration_s: float | None,
               nuisance_duration_s: float | None) -> float:
    """How long a run of family ``code`` (``F3``, ``CN6``…) lasts: ``slow_duration_s`` for a
    slow fire (``slow``), ``nuisance_duration_s`` for a nuisance (N1–N6, CFAST's CN*), when
    given; else ``duration_s``. The one rule of the held-out plans and the training corpus."""
    if slow and slow_duration_s is not None:
        return slow_duration_s
    if nuisance_duration_s is not None and code.startswith(("N", "CN")):
        return nuisance_duration_s
    return duration_s


def plan_engine_runs(engine: str, runs_per_family: int, duration_s: float, rate_hz: float, *,
                     full_rate_runs: int, seed_base: int, families: Sequence[str] = (),
                     slow_duration_s: float | None = None,
                     nuisance_duration_s: float | None = None) -> list[HeldoutRun]:
    """The held-out runs of ``engine`` (``ours``, ``cfast`` or ``both``; ours first); slow
    fires and nuisances of either engine last ``slow_duration_s`` and ``nuisance_duration_s``
    when given (``plan_runs``).

    :raises ValueError: for an unknown engine or family, or counts as ``plan_runs`` refuses.
    """
    from cloud.heldout.suite import FULL_RATE_HZ, HeldoutRun, check_durations, plan_runs
    from edge.sim.cfast import CFAST_FAMILIES

    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}; allowed: {', '.join(ENGINES)}")
    wanted = list(families)
    cfast_asked = [f for f in wanted if f in CFAST_FAMILIES]
    ours_asked = [f for f in wanted if f not in CFAST_FAMILIES]
    if engine == "ours" and cfast_asked:
        raise ValueError(f"{cfast_asked} are CFAST families; pass --engine cfast or both")
    if engine == "cfast" and ours_asked:
        raise ValueError(f"unknown CFAST famil(ies) {ours_asked}; choose from: "
                         f"{', '.join(CFAST_FAMILIES)}")
    out: list[HeldoutRun] = []
    if engine in ("ours", "both") and (ours_asked or not wanted):
        out += plan_runs(runs_per_family, duration_s, rate_hz, full_rate_runs=full_rate_runs,
                         seed_base=seed_base, families=ours_asked or None,
                         slow_duration_s=slow_duration_s,
                         nuisance_duration_s=nuisance_duration_s)
    if engine in ("cfast", "both") and (cfast_asked or not wanted):
        if runs_per_family < 1 or not (duration_s > 0 and rate_hz > 0) or full_rate_runs < 0:
            raise ValueError(f"runs {runs_per_family}, duration {duration_s} s, rate {rate_hz} "
                             f"Hz, full-rate runs {full_rate_runs}; allowed: runs ≥ 1, duration "
                             f"and rate > 0, full-rate runs ≥ 0")
        check_durations(slow_duration_s, nuisance_duration_s)
        order = list(CFAST_CODES)
        for name in cfast_asked or list(CFAST_FAMILIES):
            dur = run_length(CFAST_CODES[name], name in CFAST_SLOW, duration_s,
                             slow_duration_s, nuisance_duration_s)
            base = seed_base + CFAST_SEED_OFFSET + 10_000 * order.index(name)
            for i in range(runs_per_family):
                rate = FULL_RATE_HZ if i < full_rate_runs else rate_hz
                out.append(HeldoutRun(name, base + i, float(dur), float(rate), engine="cfast"))
    return out


def render(run: HeldoutRun, flame_shape: tuple[float, float, float] | None = None
           ) -> Recording:
    """The recording of ``run`` from its engine; a CFAST run's ``meta["family"]`` becomes its
    code (``CF1``…) and ``meta["scenario"]`` keeps the family name.

    ``flame_shape`` (height factor, width factor, outline exponent): every flame of the
    scene painted with that geometry (``edge.sim.flame_shape``; the core keeps its 40 %),
    noted in ``meta["flame_shape"]``; None renders as the engine does.
    """
    from edge.sim.scenarios.scene import record_scene

    scene: ScenarioScene | CfastScene
    if run.engine == "cfast":
        from edge.sim.cfast.make import make_cfast_scene

        scene = make_cfast_scene(run.scenario, run.seed, run.duration_s)
        objects, generator, what = scene.parts.objects, "edge.sim.cfast", "CFAST scene"
    else:
        from edge.sim.scenarios import make_scene

        scene = make_scene(run.scenario, run.seed, run.duration_s)
        objects, generator, what = scene.objects, "edge.sim.scenarios", "scenario"
    if flame_shape is not None:
        from edge.sim.flame_shape import reshape_flames

        reshape_flames(objects, *flame_shape, core_fraction=DEFAULT_CORE_FRACTION)
    rec = record_scene(scene, run.duration_s, run.rate_hz, GAS_PERIOD_S, run.lepton, generator,
                       f"{what} {run.scenario} seed {run.seed}")
    if run.engine == "cfast":
        rec.meta["family"] = CFAST_CODES[run.scenario]
    if flame_shape is not None:
        rec.meta["flame_shape"] = dict(zip(("height_factor", "width_factor",
                                            "outline_exponent"), flame_shape, strict=True))
    return rec


def clip_high_gain(rec: Recording, ceiling_c: float) -> bool:
    """Re-record ``rec``'s frames, in place, as a camera whose high gain tops out at
    ``ceiling_c`` (°C) would, when ``rec`` was recorded in high gain (its ``params`` say
    ``camera_low_gain`` false); noted in ``meta["high_gain_ceiling_c"]``. The Lepton's high gain
    is specified to 140 °C ±5 °C (sensors.md), while our cameras clip at 140–182 °C: this
    is a unit at the low end. Returns whether the frames changed.

    :raises ValueError: a ceiling that is not a finite temperature above 0 °C.
    """
    if not (math.isfinite(ceiling_c) and ceiling_c > 0.0):
        raise ValueError(f"high-gain ceiling {ceiling_c} °C; allowed: a temperature above 0 °C")
    if rec.meta.get("params", {}).get("camera_low_gain") or rec.frames.size == 0:
        return False
    top = math.floor((ceiling_c + ZERO_C_K) / rec.frame_resolution_k + 1e-9)
    np.minimum(rec.frames, np.uint16(min(top, 65535)), out=rec.frames)
    rec.meta["high_gain_ceiling_c"] = ceiling_c
    return True


def as_another_camera(rec: Recording, sigma_px: float, offset_k: float, gain_err: float
                      ) -> None:
    """Re-record ``rec``'s frames, in place, as a camera with this lens blur and radiometric
    error would (``edge.sim.camera_unit``), noted in ``meta["camera_unit"]``: the held-out
    runs seen through optics and a calibration the model did not train on."""
    from edge.sim.camera_unit import apply_camera_unit, saturation_count

    top = saturation_count(rec.meta, rec.frame_resolution_k)
    apply_camera_unit(rec.frames, rec.frame_resolution_k, top, sigma_px, offset_k, gain_err,
                      in_place=True)
    rec.meta["camera_unit"] = {"psf_sigma_px": sigma_px, "offset_k": offset_k,
                               "gain_err": gain_err}


def parse_camera_unit(text: str) -> tuple[float, float, float]:
    """``SIGMA,OFFSET,GAIN`` → floats.

    :raises ValueError: not three finite numbers with σ ≥ 0 and a gain error above −1.
    """
    parts = text.split(",")
    try:
        sigma, offset, gain = (float(x) for x in parts)
    except ValueError:
        raise ValueError(f"--camera-unit {text!r}; allowed: SIGMA_PX,OFFSET_K,GAIN_ERR, e.g. "
                         "1.0,-3,-0.06") from None
    if not (math.isfinite(sigma) and sigma >= 0 and math.isfinite(offset)
            and math.isfinite(gain) and gain > -1):
        raise ValueError(f"--camera-unit {text!r}; allowed: a blur σ ≥ 0 px, a finite offset "
                         "in K and a gain error above −1")
    return sigma, offset, gain


def parse_flame_shape(text: str) -> tuple[float, float, float]:
    """``HEIGHT,WIDTH,EXPONENT`` → floats.

    :raises ValueError: not three numbers within ``edge.sim.flame_shape.SHAPE_LIMITS``,
        naming ``--flame-shape`` and the allowed ranges.
    """
    from edge.sim.flame_shape import SHAPE_LIMITS
    from edge.sim.variation import VARIATION_RANGES

    names = ("height_factor", "width_factor", "outline_exponent")
    allowed = ", ".join(f"{n} {SHAPE_LIMITS[n][0]}–{SHAPE_LIMITS[n][1]}" for n in names)
    trained = ", ".join(f"{n} {VARIATION_RANGES['flame_' + n][0]}–"
                        f"{VARIATION_RANGES['flame_' + n][1]}" for n in names)
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(
            math.isfinite(v) and SHAPE_LIMITS[n][0] <= v <= SHAPE_LIMITS[n][1]
            for n, v in zip(names, values, strict=True)):
        raise ValueError(f"--flame-shape {text!r}; allowed: HEIGHT,WIDTH,EXPONENT with "
                         f"{allowed} (our flame: 1,1,0.5; the training variation draws "
                         f"{trained}), e.g. 1.4,0.8,1.0")
    return values[0], values[1], values[2]
