"""The six nuisance families (fire-science.md §3, N1–N6): everyday heat and CO2 that is not
a fire. Each builder adds its objects and air sources to ``ctx.parts`` and returns named
anchor points (frame fractions) a fire laid over it may use (the pan of a grease fire).
"""

from __future__ import annotations

import math

import numpy as np

from edge.sim.scenarios.base import Ctx, Range
from edge.sim.scenarios.physics import HFOV_LEPTON_3_RAD, FlickerSignal
from edge.sim.scenarios.signals import (
    approach,
    const,
    pulses,
    random_walk,
    scaled,
    thermostat,
    window,
)
from edge.sim.scenarios.thermal import Flame, Patch
from edge.sim.scenarios.water import SCENE_TAG, add_water, draw_ratio
from edge.types import ZERO_C_K, FloatArray

Anchors = dict[str, tuple[float, float]]
NATURAL_GAS_G_KJ = 0.055  # CO2 yield / heat of combustion (fire-science.md §2.1)

RANGES: dict[str, dict[str, Range]] = {
    "occupancy": {
        "occ_people": (1, 6),
        "occ_co2_l_s_person": (0.0035, 0.005),
        "occ_co2_ppm_min": (4.0, 40.0),
        "occ_skin_c": (28.0, 36.0),
        "occ_arrive_frac": (-0.5, 0.4),
        "occ_stay_frac": (0.5, 1.5),
        "occ_door_ach": (3.0, 10.0),
        "occ_door_s": (30.0, 180.0),
        "occ_pet_c": (30.0, 36.0),  # fur surface
        "occ_bedroom_baseline_ppm": (1500.0, 2500.0),
    },
    "electric_cooking": {
        "cook_start_frac": (0.0, 0.3),
        "cook_u": (0.3, 0.7),
        "cook_v": (0.55, 0.8),
        "cook_coil_c": (200.0, 700.0),
        "cook_coil_m": (0.12, 0.2),
        "cook_pan_c": (150.0, 250.0),
        "cook_pan_emissivity": (0.2, 0.6),
        "cook_pan_m": (0.2, 0.3),
        "cook_heat_tau_s": (60.0, 180.0),
        "cook_oven_c": (50.0, 90.0),
        "cook_steam_c": (40.0, 70.0),
        "cook_steam_emissivity": (0.1, 0.3),
        "cook_rh_rise_pct": (5.0, 30.0),
        "cook_temp_rise_c": (1.0, 3.0),
        "cook_co2_ppm_min": (1.0, 10.0),
        "occ_skin_c": (28.0, 36.0),
    },
    "gas_cooking": {
        "gas_start_frac": (0.0, 0.3),
        "gas_on_min": (5.0, 20.0),
        "gas_u": (0.3, 0.7),
        "gas_v": (0.55, 0.8),
        "gas_co2_ppm_min": (40.0, 150.0),
        "gas_flame_c": (60.0, 200.0),
        "gas_flame_m": (0.12, 0.25),
        "gas_flicker_hz": (8.0, 15.0),
        "gas_grate_c": (200.0, 400.0),
        "gas_rh_rise_pct": (5.0, 20.0),
        "gas_temp_rise_c": (1.0, 3.0),
        "occ_skin_c": (28.0, 36.0),
    },
    "candles_fireplace": {
        "candle_count": (1, 5),
        "candle_co2_ppm_min": (1.0, 5.0),
        "candle_core_c": (1200.0, 1400.0),
        "candle_emissivity": (0.05, 0.15),
        "candle_flicker_hz": (8.0, 12.0),
        "fireplace_q_kw": (5.0, 15.0),
        "fireplace_d_m": (0.3, 0.5),
        "fireplace_core_c": (300.0, 700.0),
        "fireplace_co2_ppm_min": (20.0, 100.0),
        "fireplace_temp_rise_c": (1.0, 3.0),
    },
    "heaters_appliances": {
        "heater_area_px": (2.0, 2000.0),
        "heater_c": (35.0, 250.0),
        "heater_period_min": (5.0, 30.0),
        "heater_duty": (0.3, 0.7),
        "heater_tau_s": (60.0, 300.0),
        "heater_u": (0.1, 0.9),
        "heater_v": (0.3, 0.9),
        "heater_temp_rise_c": (0.5, 3.0),
        "iron_c": (60.0, 200.0),
        "iron_period_s": (2.0, 10.0),
    },
    "sun_steam_breath_ffc": {
        "sun_c": (30.0, 55.0),
        "sun_drift_px_min": (1.0, 5.0),
        "sun_area_px": (100.0, 1500.0),
        "glint_c": (300.0, 1000.0),
        "glint_count": (1, 4),
        "direct_sun_s": (5.0, 60.0),
        "extra_ffc_count": (1, 3),
        "gain_switch_k": (-3.0, 3.0),
        "breath_count": (1, 4),
        "breath_ppm": (200.0, 3000.0),
        "breath_s": (5.0, 20.0),
        "shower_rh_pct": (90.0, 100.0),
        "hvac_ppm": (50.0, 200.0),
        "hvac_period_min": (5.0, 20.0),
    },
}


def _in(t: FloatArray, t0: float, t1: float) -> FloatArray:
    return ((t >= t0) & (t < t1)).astype(np.float64)


def _person(ctx: Ctx, tag: int, skin_c: float, t_in: float, t_out: float,
            u0: float | None = None) -> None:
    rng = np.random.default_rng(ctx.sub_seed(100 + tag))
    dist = float(rng.uniform(1.5, 6.0))
    start = float(rng.uniform(0.1, 0.9)) if u0 is None else u0
    walk = random_walk(rng, -700.0, ctx.horizon_s + 10.0, 0.12, 90.0)
    tall = float(rng.uniform(0.9, 1.5))  # body without the head: seated … standing
    clothes = skin_c - float(rng.uniform(2.0, 5.0))
    per_m = 1.0 / (HFOV_LEPTON_3_RAD * 0.75 * dist)  # frame heights per metre at dist
    v_body = 0.8 - 0.5 * tall * per_m
    v_head = v_body - (0.5 * tall + 0.12) * per_m

    def u(t: FloatArray) -> FloatArray:
        return np.clip(start + walk(t), 0.05, 0.95)

    def here(t: FloatArray) -> FloatArray:
        return _in(t, t_in, t_out)

    ctx.parts.objects.append(Patch(u, const(v_body), const(0.45), const(tall),
                                   const(clothes + ZERO_C_K), emissivity=0.95, distance_m=dist,
                                   active=here))
    ctx.parts.objects.append(Patch(u, const(v_head), const(0.18), const(0.24),
                                   const(skin_c + ZERO_C_K), emissivity=0.98, distance_m=dist,
                                   active=here))


def occupancy(ctx: Ctx) -> Anchors:
    """N1: people (and a pet) come and stay; a door opens; the CO2 climbs to a plateau."""
    d, span, far = ctx.draw, ctx.span_s, ctx.horizon_s
    per_person = d.uniform("occ_co2_l_s_person") * 60000.0 / ctx.volume_m3  # ppm/min
    lo, hi = RANGES["occupancy"]["occ_co2_ppm_min"]
    n_lo = max(1, math.ceil(lo / per_person))
    n_hi = max(n_lo, min(6, math.floor(hi / per_person)))
    people = int(d.typed("occ_people", d.record("occ_people", int(d.rng.integers(
        n_lo, n_hi + 1))), int, "an integer"))
    d.record("occ_co2_ppm_min", people * per_person)
    skin = d.uniform("occ_skin_c")
    t_in = d.uniform("occ_arrive_frac") * span
    t_out = t_in + d.uniform("occ_stay_frac") * span
    for i in range(people):
        _person(ctx, i, skin, t_in + 30.0 * i, t_out)

    def breath(t: FloatArray) -> FloatArray:
        return people * per_person * _in(t, t_in, t_out)

    ctx.parts.co2_rate.append(breath)
    add_water(ctx, breath, draw_ratio(ctx, "occ_h2o_per_co2", "people", SCENE_TAG), fire=False)
    if d.flag("occ_door", 0.5):
        t_door = float(d.rng.uniform(0.2, 0.9)) * span
        ach, length = d.uniform("occ_door_ach"), d.uniform("occ_door_s")
        ctx.parts.extra_ach.append(pulses([t_door], [length], [ach], rise_s=5.0))
    if d.flag("occ_pet", 0.3):
        rng = np.random.default_rng(ctx.sub_seed(99))
        walk = random_walk(rng, -700.0, far + 10.0, 0.2, 30.0)
        ctx.parts.objects.append(Patch(
            lambda t: np.clip(0.5 + walk(t), 0.05, 0.95), const(0.85), const(0.5), const(0.3),
            const(d.uniform("occ_pet_c") + ZERO_C_K), emissivity=0.95,
            distance_m=float(rng.uniform(1.5, 6.0))))
    if d.flag("occ_bedroom", 0.2):
        ctx.baseline_ppm = d.uniform("occ_bedroom_baseline_ppm")
    return {}


def electric_cooking(ctx: Ctx) -> Anchors:
    """N2: a coil ring glowing, a pan heating, steam, an oven door, the cook."""
    d, span, far = ctx.draw, ctx.span_s, ctx.horizon_s
    t0 = d.uniform("cook_start_frac") * span
    u, v = d.uniform("cook_u"), d.uniform("cook_v")
    tau = d.uniform("cook_heat_tau_s")
    room = ctx.room_c + ZERO_C_K
    coil, coil_m = d.uniform("cook_coil_c") + ZERO_C_K, d.uniform("cook_coil_m")
    pan, pan_eps = d.uniform("cook_pan_c") + ZERO_C_K, d.uniform("cook_pan_emissivity")
    pan_m = d.uniform("cook_pan_m")
    dist = ctx.distance_m
    ctx.parts.objects.append(Patch(const(u + 0.12), const(v), const(coil_m), const(0.03),
                                   approach(t0, room, coil, tau / 2.0), emissivity=0.9,
                                   distance_m=dist))
    ctx.parts.objects.append(Patch(const(u), const(v), const(pan_m), const(0.08),
                                   approach(t0, room, pan, tau), emissivity=pan_eps,
                                   distance_m=dist))
    if d.flag("cook_oven", 0.4):
        ctx.parts.objects.append(Patch(const(u), const(min(v + 0.15, 0.95)), const(0.5),
                                       const(0.35), approach(t0, room, d.uniform(
                                           "cook_oven_c") + ZERO_C_K, 600.0), distance_m=dist))
    steam_c, steam_eps = d.uniform("cook_steam_c"), d.uniform("cook_steam_emissivity")
    rng = np.random.default_rng(ctx.sub_seed(41))
    sway = random_walk(rng, -10.0, far + 10.0, 0.02, 3.0, dt=0.25)
    puff = random_walk(rng, -10.0, far + 10.0, 0.3, 1.0, dt=0.25)
    ctx.parts.objects.append(Patch(
        lambda t: u + sway(t), const(v - 0.08), const(pan_m), const(0.3),
        lambda t: room + (steam_c + ZERO_C_K - room) * np.clip(1.0 + puff(t), 0.2, 1.8),
        emissivity=steam_eps, distance_m=dist, active=lambda t: _in(t, t0 + 2 * tau, 1e9)))
    _person(ctx, 0, d.uniform("occ_skin_c"), -1e9, 1e9, u0=u - 0.2)
    rh, warm = d.uniform("cook_rh_rise_pct"), d.uniform("cook_temp_rise_c")
    ctx.parts.vapour_rh.append(approach(t0 + tau, 0.0, rh, 600.0))
    ctx.parts.heat_k.append(approach(t0, 0.0, warm, 600.0))
    food = d.uniform("cook_co2_ppm_min")
    ctx.parts.co2_rate.append(lambda t: food * (t >= t0).astype(np.float64))
    return {"pan": (u, v)}


def gas_cooking(ctx: Ctx) -> Anchors:
    """N3: blue burner flames, hot grates, and the main CO2 confuser (+40–150 ppm/min)."""
    d, span, far = ctx.draw, ctx.span_s, ctx.horizon_s
    t0 = d.uniform("gas_start_frac") * span
    t1 = t0 + d.uniform("gas_on_min") * 60.0
    u, v = d.uniform("gas_u"), d.uniform("gas_v")
    rate = d.uniform("gas_co2_ppm_min")
    d.record("gas_power_kw", rate * ctx.volume_m3 / (32800.0 * NATURAL_GAS_G_KJ))
    room = ctx.room_c + ZERO_C_K
    flame_k, ring = d.uniform("gas_flame_c") + ZERO_C_K, d.uniform("gas_flame_m")
    hz = d.uniform("gas_flicker_hz")
    flick = FlickerSignal(lambda t: np.full(np.shape(t), hz), far, ctx.sub_seed(43))
    on = window(t0, t1)
    ctx.parts.objects.append(Patch(
        const(u), const(v), const(ring), const(0.025),
        lambda t: room + (flame_k - room) * (1.0 + 0.25 * flick(t)), emissivity=1.0,
        distance_m=ctx.distance_m, active=lambda t: on(t)))
    grate = d.uniform("gas_grate_c") + ZERO_C_K
    heat_up = approach(t0, 0.0, 1.0, 180.0)
    cool = approach(t1, 0.0, 1.0, 300.0)
    ctx.parts.objects.append(Patch(
        const(u), const(v + 0.02), const(0.3), const(0.03),
        lambda t: room + (grate - room) * heat_up(t) * (1.0 - cool(t)), emissivity=0.9,
        distance_m=ctx.distance_m))
    _person(ctx, 0, d.uniform("occ_skin_c"), -1e9, 1e9, u0=u - 0.2)
    ctx.parts.co2_rate.append(lambda t: rate * on(t))
    rh, warm = d.uniform("gas_rh_rise_pct"), d.uniform("gas_temp_rise_c")
    ctx.parts.vapour_rh.append(lambda t: rh * approach(t0, 0.0, 1.0, 300.0)(t) * (
        1.0 - approach(t1, 0.0, 1.0, 900.0)(t)))
    ctx.parts.heat_k.append(lambda t: warm * heat_up(t) * (1.0 - cool(t)))
    return {"hob": (u, v)}


def candles_fireplace(ctx: Ctx) -> Anchors:
    """N4: candles (sub-pixel, aliased flicker) or a fireplace burning in a fixed zone."""
    d, far = ctx.draw, ctx.horizon_s
    if d.flag("fireplace", 0.4):
        q, dia = d.uniform("fireplace_q_kw"), d.uniform("fireplace_d_m")
        core = d.uniform("fireplace_core_c") + ZERO_C_K
        flick = FlickerSignal(lambda t: np.full(np.shape(t), 1.5 / math.sqrt(dia)), far,
                              ctx.sub_seed(44))
        ctx.parts.objects.append(Flame(
            u=0.5, v=0.8, distance_m=ctx.distance_m, hrr_kw=const(q), hrr_per_area_kw_m2=100.0,
            d_max_m=dia, core_k=core, core_emissivity=0.8, envelope_k=core - 150.0,
            envelope_emissivity=0.3, flicker=flick))
        smoke = const(d.uniform("fireplace_co2_ppm_min"))
        ctx.parts.co2_rate.append(smoke)
        add_water(ctx, smoke, draw_ratio(ctx, "fireplace_h2o_per_co2", "fireplace", SCENE_TAG),
                  fire=False)
        ctx.parts.heat_k.append(approach(-600.0, 0.0, d.uniform("fireplace_temp_rise_c"), 900.0))
        return {}
    count = d.integer("candle_count")
    rate = d.uniform("candle_co2_ppm_min")
    q_each = rate / count * ctx.volume_m3 / (32800.0 * 0.074)  # paraffin ≈ 0.074 g/kJ
    d.record("candle_q_kw", q_each)
    core, eps = d.uniform("candle_core_c") + ZERO_C_K, d.uniform("candle_emissivity")
    hz = d.uniform("candle_flicker_hz")
    rng = np.random.default_rng(ctx.sub_seed(45))
    u0, v0 = float(rng.uniform(0.2, 0.7)), float(rng.uniform(0.5, 0.8))
    for i in range(count):
        flick = FlickerSignal(lambda t: np.full(np.shape(t), hz), far, ctx.sub_seed(46 + i))
        ctx.parts.objects.append(Flame(
            u=u0 + 0.03 * i, v=v0, distance_m=ctx.distance_m, hrr_kw=const(q_each),
            hrr_per_area_kw_m2=500.0, d_max_m=0.01, core_k=core, core_emissivity=eps,
            envelope_k=core - 300.0, envelope_emissivity=eps / 2.0, flicker=flick,
            flicker_depth=0.15))
    ctx.parts.co2_rate.append(const(rate))
    add_water(ctx, const(rate), draw_ratio(ctx, "candle_h2o_per_co2", "candle", SCENE_TAG),
              fire=False)
    return {}


def heaters_appliances(ctx: Ctx) -> Anchors:
    """N5: a heater cycling on its thermostat; sometimes an iron moving back and forth."""
    d, far = ctx.draw, ctx.horizon_s
    area = d.log_uniform("heater_area_px")
    hot = d.uniform("heater_c") + ZERO_C_K
    cycle = thermostat(-700.0, far + 10.0, d.uniform("heater_period_min") * 60.0,
                       d.uniform("heater_duty"), d.uniform("heater_tau_s"),
                       float(d.rng.uniform()))
    room = ctx.room_c + ZERO_C_K
    side = math.sqrt(area)
    ctx.parts.objects.append(Patch(
        const(d.uniform("heater_u")), const(d.uniform("heater_v")), const(side * 1.5),
        const(side / 1.5), lambda t: room + (hot - room) * (0.3 + 0.7 * cycle(t)),
        emissivity=0.95, px=True))
    ctx.parts.heat_k.append(scaled(cycle, d.uniform("heater_temp_rise_c")))
    if d.flag("iron", 0.4):
        iron, period = d.uniform("iron_c") + ZERO_C_K, d.uniform("iron_period_s")
        ctx.parts.objects.append(Patch(
            lambda t: 0.5 + 0.1 * np.sin(2.0 * math.pi * t / period), const(0.7), const(0.25),
            const(0.1), const(iron), emissivity=0.6, distance_m=ctx.distance_m))
    return {}


def sun_steam_breath_ffc(ctx: Ctx) -> Anchors:
    """N6: sun patches, glints, direct sun, HVAC, a shower, breath on the sensor, camera events."""
    d, span = ctx.draw, ctx.span_s
    rng = np.random.default_rng(ctx.sub_seed(47))
    if d.flag("sun", 0.6):
        sun, drift = d.uniform("sun_c") + ZERO_C_K, d.uniform("sun_drift_px_min")
        side, u0 = math.sqrt(d.uniform("sun_area_px")), float(rng.uniform(0.2, 0.8))
        ctx.parts.objects.append(Patch(
            lambda t: u0 + drift * t / 60.0 / 160.0, const(0.8), const(side * 1.3),
            const(side / 1.3), const(sun), emissivity=1.0, px=True))
    if d.flag("glints", 0.4):
        for _ in range(d.integer("glint_count")):
            t_g = float(rng.uniform(0.0, span))
            gu, gv = float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9))
            ctx.parts.objects.append(Patch(
                const(gu), const(gv), const(0.6), const(0.6),
                const(d.uniform("glint_c") + ZERO_C_K), emissivity=1.0, px=True,
                active=window(t_g, t_g + float(rng.uniform(0.5, 3.0)), rise_s=0.01)))
    if d.flag("direct_sun", 0.15):
        t_s = float(rng.uniform(0.0, span))
        end = t_s + d.uniform("direct_sun_s")
        ctx.parts.objects.append(Patch(
            const(float(rng.uniform(0.1, 0.9))), const(0.3), const(2.0), const(2.0),
            const(2500.0), emissivity=1.0, px=True, active=lambda t: _in(t, t_s, end)))
    if d.flag("extra_ffc", 0.5):
        ctx.parts.extra_ffc_s.extend(float(x) for x in rng.uniform(
            0.0, span, d.integer("extra_ffc_count")))
    if d.flag("gain_switch", 0.3):
        t_g = float(rng.uniform(0.0, span))
        ctx.parts.camera_offsets_k.append(pulses([t_g], [float(rng.uniform(1.0, 3.0))],
                                                 [d.uniform("gain_switch_k")], rise_s=0.1))
    if d.flag("breath", 0.5):
        n = d.integer("breath_count")
        ctx.parts.co2_at_sensor.append(pulses(
            list(rng.uniform(0.0, span, n)), [d.uniform("breath_s")] * n,
            [d.uniform("breath_ppm")] * n, rise_s=2.0))
    if d.flag("shower", 0.3):
        target = d.uniform("shower_rh_pct")
        t_s = float(rng.uniform(0.0, 0.6)) * span
        need = target - float(d.params["room_rh_pct"])
        ctx.parts.vapour_rh.append(lambda t: need * approach(t_s, 0.0, 1.0, 120.0)(t) * (
            1.0 - approach(t_s + 900.0, 0.0, 1.0, 600.0)(t)))
    if d.flag("hvac", 0.5):
        amp, period = d.uniform("hvac_ppm"), d.uniform("hvac_period_min") * 60.0
        phase = float(rng.uniform(0.0, 2.0 * math.pi))
        ctx.parts.co2_at_sensor.append(
            lambda t: amp * np.sign(np.sin(2.0 * math.pi * t / period + phase)))
    return {}
