"""The six fire families (fire-science.md §3, F1–F6).

Each builder adds the fire's thermal objects and air sources to ``ctx.parts``, igniting at
``ctx.fire_start_s``. Parameter names are shared where the physics is (every flame draws
``flame_*``) and their ranges are per family (``RANGES``), so a flaming stage that follows
a smoulder draws from F1's ranges.
"""

from __future__ import annotations

import math

import numpy as np

from edge.sim.scenarios.base import Ctx, Range
from edge.sim.scenarios.physics import (
    FlickerSignal,
    ceiling_jet_rise_k,
    co2_ppm_per_min,
    puffing_hz,
    t2_hrr_kw,
)
from edge.sim.scenarios.signals import (
    GridSignal,
    Signal,
    approach,
    const,
    ramp,
    scaled,
)
from edge.sim.scenarios.thermal import Flame, Patch, SmokeLayer
from edge.sim.scenarios.water import FIRE_TAG, SMOULDER_TAG, add_water, draw_ratio
from edge.types import ZERO_C_K, FloatArray

_FLAME_F1: dict[str, Range] = {
    "flame_alpha_kw_s2": (0.0117, 0.047),  # medium … fast t² growth
    "flame_q_max_kw": (300.0, 2000.0),
    "flame_hrr_per_area_kw_m2": (200.0, 500.0),
    "flame_d_max_m": (0.5, 1.5),
    "flame_core_c": (300.0, 900.0),
    "flame_core_emissivity": (0.3, 0.9),
    "flame_envelope_c": (100.0, 400.0),
    "flame_envelope_emissivity": (0.1, 0.5),
    "flame_flicker_min_hz": (1.5, 1.5),
    "flame_flicker_max_hz": (7.0, 7.0),
    "flame_flicker_depth": (0.2, 0.4),
    "flame_u": (0.25, 0.75),
    "flame_v": (0.6, 0.9),
    "flame_co2_yield_g_kj": (0.08, 0.1),  # flexible PU ≈ 0.091 g/kJ
    "fire_stratification": (1.0, 5.0),
    "fire_heat_share": (0.3, 1.0),  # of Alpert's ceiling-jet rise that reaches the sensor
    "smoke_delay_s": (60.0, 120.0),
    "smoke_descent_s": (120.0, 600.0),
    "smoke_front_max": (0.3, 0.6),
    "smoke_opacity_max": (0.3, 0.8),
}

RANGES: dict[str, dict[str, Range]] = {
    "flaming_upholstery": {**_FLAME_F1, "sensor_transport_delay_s": (10.0, 60.0)},
    "fast_flaming": {
        **_FLAME_F1,
        "flame_alpha_kw_s2": (0.047, 0.19),
        "flame_q_max_kw": (5.0, 60.0),
        "flame_d_max_m": (0.15, 0.4),
        "flame_core_c": (300.0, 800.0),  # heptane, paper
        "alcohol_core_c": (80.0, 250.0),
        "alcohol_emissivity": (0.05, 0.3),
        "flame_flicker_max_hz": (11.6, 11.6),
        "flame_co2_yield_g_kj": (0.069, 0.1),
        "fire_co2_total_ppm": (200.0, 2000.0),
    },
    "smoulder_in_view": {
        **_FLAME_F1,
        "smoulder_u": (0.2, 0.8),
        "smoulder_v": (0.4, 0.9),
        "smoulder_size0_m": (0.01, 0.04),
        "smoulder_spread_mm_min": (3.0, 25.0),
        "smoulder_growth_min": (10.0, 60.0),
        "smoulder_t0_c": (80.0, 250.0),
        "smoulder_t1_c": (150.0, 500.0),
        "smoulder_cover": (0.2, 1.0),
        "smoulder_halo_k": (5.0, 20.0),
        "smoulder_co2_start_ppm_min": (0.5, 3.0),
        "smoulder_co2_end_ppm_min": (3.0, 15.0),
        "smoulder_heat_k": (0.2, 1.0),
        "smoulder_flaming_p": (0.2, 0.5),
        "smoulder_flaming_after_min": (20.0, 90.0),
    },
    "electrical_overheat": {
        **_FLAME_F1,
        "hotspot_u": (0.2, 0.8),
        "hotspot_v": (0.4, 0.9),
        "hotspot_size_m": (0.01, 0.04),
        "hotspot_t0_c": (60.0, 150.0),
        "hotspot_t1_c": (250.0, 400.0),
        "hotspot_rise_min": (5.0, 30.0),
        "hotspot_co2_ppm_min": (0.2, 5.0),
        "hotspot_flaming_p": (0.5, 0.5),
        "hotspot_flaming_after_min": (0.0, 5.0),
    },
    "kitchen_grease_fire": {
        **_FLAME_F1,
        "flame_alpha_kw_s2": (0.047, 0.19),
        "flame_q_max_kw": (20.0, 150.0),
        "flame_d_max_m": (0.2, 0.35),
        "flame_core_c": (400.0, 900.0),
        "flame_flicker_min_hz": (2.0, 2.0),
        "flame_flicker_max_hz": (5.0, 5.0),
        "flame_co2_yield_g_kj": (0.07, 0.08),  # cooking oil
        "fire_energy_kj": (10000.0, 30000.0),
        "oil_preheat_s": (60.0, 240.0),
        "fire_heat_share": (0.5, 1.0),
    },
}
_F4_KEYS = ("smoulder_u", "smoulder_v", "smoulder_growth_min", "smoulder_co2_start_ppm_min",
            "smoulder_co2_end_ppm_min", "smoulder_heat_k")
RANGES["smoulder_out_of_view"] = {
    **{k: RANGES["smoulder_in_view"][k] for k in _F4_KEYS},
    "warm_area_side_px": (7.1, 20.0),  # a warm area of ≥ 50 px
    "warm_area_rise_k": (1.0, 5.0),
}


def hrr_curve(t_ign: float, alpha: float, q_peak: float, energy_kj: float,
              t_end: float) -> GridSignal:
    """Heat release: t² growth to ``q_peak``; once 70 % of ``energy_kj`` is spent, a linear
    decay that burns the rest."""
    dt = 0.5
    t = np.arange(t_ign - 1.0, max(t_end, t_ign) + 2.0, dt)
    q = t2_hrr_kw(t, alpha, t_ign, q_peak)
    if math.isfinite(energy_kj):
        spent = np.cumsum(q) * dt
        k = int(np.searchsorted(spent, 0.7 * energy_kj))
        if k < t.size:
            q_d = max(float(q[k]), 1e-6)
            t_decay = 2.0 * (energy_kj - spent[k]) / q_d
            q[k:] = q_d * np.clip(1.0 - (t[k:] - t[k]) / t_decay, 0.0, 1.0)
    return GridSignal(float(t[0]), dt, q)


def add_flaming(ctx: Ctx, t_ign: float, energy_kj: float = math.inf,
                u: float | None = None, v: float | None = None,
                core: tuple[float, float] | None = None,
                yield_g_kj: float | None = None, water: str = "upholstery") -> Signal:
    """A flaming fire igniting at ``t_ign``: flame, smoke layer, CO2 and the water that comes
    with it (``water``: the fuel, a ``H2O_PER_CO2`` key), heat. Returns Q(t)."""
    d = ctx.draw
    alpha = d.uniform("flame_alpha_kw_s2")
    q_max = d.uniform("flame_q_max_kw")
    per_area = d.uniform("flame_hrr_per_area_kw_m2")
    d_max = d.uniform("flame_d_max_m")
    core_c, core_eps = d.uniform("flame_core_c"), d.uniform("flame_core_emissivity")
    if core is not None:
        core_c, core_eps = core
    env_c, env_eps = d.uniform("flame_envelope_c"), d.uniform("flame_envelope_emissivity")
    env_c = min(env_c, core_c)
    f_lo, f_hi = d.uniform("flame_flicker_min_hz"), d.uniform("flame_flicker_max_hz")
    depth = d.uniform("flame_flicker_depth")
    fu, fv = d.uniform("flame_u"), d.uniform("flame_v")
    u = fu if u is None else u
    v = fv if v is None else v
    drawn_yield = d.uniform("flame_co2_yield_g_kj")
    yield_g_kj = drawn_yield if yield_g_kj is None else yield_g_kj
    d.record("flame_co2_yield_g_kj", yield_g_kj)
    d.uniform("fire_stratification")  # read by the air model from the truth
    heat_share = d.uniform("fire_heat_share")
    smoke_delay, descent = d.uniform("smoke_delay_s"), d.uniform("smoke_descent_s")
    front_max, opacity_max = d.uniform("smoke_front_max"), d.uniform("smoke_opacity_max")
    radius = float(ctx.draw.params.get("sensor_radius_m", 2.0))
    hrr = hrr_curve(t_ign, alpha, q_max, energy_kj, ctx.horizon_s)
    for kw in (10, 50, 100):  # for time-to-alarm from Q = 10, 50, 100 kW (fire-science.md §5)
        above = np.nonzero(hrr.values >= kw)[0]
        t_kw = float(hrr.times[above[0]]) if above.size else None
        d.record(f"fire_q{kw}_s", t_kw if t_kw is not None and t_kw <= ctx.duration_s else None)
    fixed_hz = ctx.draw.overrides.get("flicker_hz")
    if fixed_hz is not None:
        d.record("flicker_hz", float(fixed_hz))

    def freq(t: FloatArray) -> FloatArray:
        if fixed_hz is not None:
            return np.full(np.shape(t), float(fixed_hz))
        q = hrr(t)
        diameter = np.minimum(np.sqrt(4.0 * np.maximum(q, 1e-3) / (math.pi * per_area)), d_max)
        return np.clip(puffing_hz(diameter), f_lo, f_hi)

    flame = Flame(u=u, v=v, distance_m=ctx.distance_m, hrr_kw=hrr, hrr_per_area_kw_m2=per_area,
                  d_max_m=d_max, core_k=core_c + ZERO_C_K, core_emissivity=core_eps,
                  envelope_k=env_c + ZERO_C_K, envelope_emissivity=env_eps,
                  flicker=FlickerSignal(freq, ctx.horizon_s, ctx.sub_seed(31)),
                  flicker_depth=depth, visible=ctx.visible, fire=True)
    ctx.parts.objects.append(flame)

    def co2(t: FloatArray) -> FloatArray:
        return co2_ppm_per_min(hrr(t), yield_g_kj, ctx.volume_m3)

    ctx.parts.fire_co2_rate.append(co2)
    add_water(ctx, co2, draw_ratio(ctx, "flame_h2o_per_co2", water, FIRE_TAG), fire=True)

    def heat(t: FloatArray) -> FloatArray:
        return heat_share * ceiling_jet_rise_k(hrr(t), ctx.ceiling_m, radius)

    ctx.parts.heat_k.append(heat)
    ctx.parts.wall_warming_k.append(scaled(heat, 0.05))
    t_smoke = t_ign + smoke_delay
    ctx.parts.objects.append(SmokeLayer(
        front=ramp(t_smoke, t_smoke + descent, 0.0, front_max),
        opacity=ramp(t_smoke, t_smoke + descent, 0.0, opacity_max),
        temp_k=lambda t: ctx.room_c + ZERO_C_K + 0.5 * heat(t)))
    return hrr


def flaming_upholstery(ctx: Ctx) -> None:
    """F1: a t² flaming fire in upholstery (UL 217 flaming PU)."""
    assert ctx.fire_start_s is not None
    add_flaming(ctx, ctx.fire_start_s)


def fast_flaming(ctx: Ctx) -> None:
    """F2: a fast wastebasket, paper or liquid fire that burns out (EN 54 TF5)."""
    assert ctx.fire_start_s is not None
    d = ctx.draw
    fuel = d.choice("fuel", ("paper", "heptane", "alcohol"))
    alcohol = (d.uniform("alcohol_core_c"), d.uniform("alcohol_emissivity"))
    yield_g_kj = d.uniform("flame_co2_yield_g_kj")
    total_ppm = d.uniform("fire_co2_total_ppm")
    energy = total_ppm * ctx.volume_m3 / (32800.0 * yield_g_kj) * 60.0  # kJ
    d.record("fire_energy_kj", energy)
    add_flaming(ctx, ctx.fire_start_s, energy_kj=energy,
                core=alcohol if fuel == "alcohol" else None, yield_g_kj=yield_g_kj, water=fuel)


def _smoulder_air(ctx: Ctx, t0: float, growth_s: float) -> None:
    d = ctx.draw
    r0, r1 = d.uniform("smoulder_co2_start_ppm_min"), d.uniform("smoulder_co2_end_ppm_min")
    heat = d.uniform("smoulder_heat_k")

    def rate(t: FloatArray) -> FloatArray:  # accelerating: exponential from r0 to r1
        s = np.clip((t - t0) / growth_s, 0.0, 1.0)
        return np.where(t >= t0, r0 * (r1 / r0) ** s, 0.0)

    ctx.parts.co2_rate.append(rate)
    add_water(ctx, rate, draw_ratio(ctx, "smoulder_h2o_per_co2", "smoulder",
                                       SMOULDER_TAG), fire=False)
    ctx.parts.heat_k.append(ramp(t0, t0 + growth_s, 0.0, heat))
    mass = r1 * ctx.volume_m3 * 1.83e-3  # g/min of CO2 at the end
    d.record("smoulder_co2_end_g_min", mass)


def _maybe_flaming(ctx: Ctx, t_flaming: float, p_name: str,
                   u: float | None = None, v: float | None = None) -> None:
    if ctx.draw.flag("flaming_transition", ctx.draw.uniform(p_name)):
        ctx.draw.record("flaming_start_s", t_flaming)
        add_flaming(ctx, t_flaming, u=u, v=v)
    else:
        ctx.draw.record("flaming_start_s", None)


def smoulder_in_view(ctx: Ctx) -> None:
    """F3: a smouldering seat in view, growing and heating; may turn to flaming."""
    assert ctx.fire_start_s is not None
    d, t0 = ctx.draw, ctx.fire_start_s
    u, v = d.uniform("smoulder_u"), d.uniform("smoulder_v")
    size0, spread = d.uniform("smoulder_size0_m"), d.uniform("smoulder_spread_mm_min")
    growth = d.uniform("smoulder_growth_min") * 60.0
    t_a, t_b = d.uniform("smoulder_t0_c"), d.uniform("smoulder_t1_c")
    t_b = max(t_a, t_b)
    cover, halo = d.uniform("smoulder_cover"), d.uniform("smoulder_halo_k")

    def size(t: FloatArray) -> FloatArray:
        return size0 + 2e-3 * spread * np.maximum(t - t0, 0.0) / 60.0

    hot = approach(t0, t_a + ZERO_C_K, t_b + ZERO_C_K, growth / 2.0)
    room_k = ctx.room_c + ZERO_C_K
    active = lambda t: (t >= t0).astype(np.float64)  # noqa: E731
    hidden = 1.0 - ctx.visible  # an opaque occluder hides part of the seat, not all of it dimly
    ctx.parts.objects.append(Patch(
        const(u), const(v), scaled(size, 2.5), scaled(size, 2.0),
        approach(t0, room_k, room_k + halo, growth / 3.0),
        emissivity=0.9, distance_m=ctx.distance_m, active=active, hidden=hidden))
    ctx.parts.objects.append(Patch(
        const(u), const(v), size, scaled(size, 0.8), hot, emissivity=0.95,
        weight=cover, distance_m=ctx.distance_m, active=active, hidden=hidden))
    _smoulder_air(ctx, t0, growth)
    after = d.uniform("smoulder_flaming_after_min") * 60.0
    _maybe_flaming(ctx, t0 + after, "smoulder_flaming_p", u=u, v=v + 0.02)


def smoulder_out_of_view(ctx: Ctx) -> None:
    """F4: a smoulder the camera cannot see: CO2 and a faintly warming area only."""
    assert ctx.fire_start_s is not None
    d, t0 = ctx.draw, ctx.fire_start_s
    growth = d.uniform("smoulder_growth_min") * 60.0
    side, rise = d.uniform("warm_area_side_px"), d.uniform("warm_area_rise_k")
    u, v = d.uniform("smoulder_u"), d.uniform("smoulder_v")
    room_k = ctx.room_c + ZERO_C_K
    ctx.parts.objects.append(Patch(
        const(u), const(v), const(side), const(side),
        ramp(t0, t0 + growth, room_k, room_k + rise), emissivity=1.0, px=True,
        active=lambda t: (t >= t0).astype(np.float64)))
    _smoulder_air(ctx, t0, growth)


def electrical_overheat(ctx: Ctx) -> None:
    """F5: a static hot spot (a plug, a cable) heating up; may ignite into flaming."""
    assert ctx.fire_start_s is not None
    d, t0 = ctx.draw, ctx.fire_start_s
    u, v = d.uniform("hotspot_u"), d.uniform("hotspot_v")
    size = d.uniform("hotspot_size_m")
    t_a, t_b = d.uniform("hotspot_t0_c"), d.uniform("hotspot_t1_c")
    rise = d.uniform("hotspot_rise_min") * 60.0
    co2 = d.uniform("hotspot_co2_ppm_min")
    ctx.parts.objects.append(Patch(
        const(u), const(v), const(size), const(size),
        ramp(t0, t0 + rise, t_a + ZERO_C_K, t_b + ZERO_C_K), emissivity=0.9,
        distance_m=ctx.distance_m, hidden=1.0 - ctx.visible,  # hidden in part, not dimmed
        active=lambda t: (t >= t0).astype(np.float64)))
    co2_rate = ramp(t0, t0 + rise, 0.0, co2)
    ctx.parts.co2_rate.append(co2_rate)
    add_water(ctx, co2_rate, draw_ratio(ctx, "smoulder_h2o_per_co2", "cable",
                                           SMOULDER_TAG), fire=False)
    after = d.uniform("hotspot_flaming_after_min") * 60.0
    _maybe_flaming(ctx, t0 + rise + after, "hotspot_flaming_p", u=u, v=v)


def kitchen_grease_fire(ctx: Ctx, pan_uv: tuple[float, float]) -> None:
    """F6: the pan of an electric-cooking background overheats, then its oil ignites."""
    assert ctx.fire_start_s is not None
    t0 = ctx.fire_start_s
    energy = ctx.draw.uniform("fire_energy_kj")
    preheat = ctx.draw.uniform("oil_preheat_s")
    ctx.parts.objects.append(Patch(  # smoking oil climbing to its autoignition point
        const(pan_uv[0]), const(pan_uv[1] - 0.02), const(0.22), const(0.06),
        ramp(t0 - preheat, t0, 200.0 + ZERO_C_K, 370.0 + ZERO_C_K), emissivity=0.9,
        distance_m=ctx.distance_m, hidden=1.0 - ctx.visible,
        active=lambda t: (t >= t0 - preheat).astype(np.float64)))
    add_flaming(ctx, ctx.fire_start_s, energy_kj=energy, u=pan_uv[0], v=pan_uv[1],
                water="cooking_oil")
