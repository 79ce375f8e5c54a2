"""The physics of the scenario engine against fire-science.md's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from edge.sim.scenarios.air import AirModel, AirParams
from edge.sim.scenarios.base import Parts
from edge.sim.scenarios.physics import (
    FlickerSignal,
    apparent_temperature_k,
    band_radiance,
    band_temperature,
    heskestad_height_m,
    ifov_rad,
    planck_band_radiance,
    puffing_hz,
    t2_hrr_kw,
)
from edge.sim.scenarios.signals import const, scaled, step
from edge.sim.scenarios.thermal import Flame

K0 = 273.15

# fire-science.md §2.3: apparent °C for a 22 °C background, ε = 1.
TABLE = {
    300: (34, 49, 72, 125, 194, 300),
    500: (46, 76, 116, 205, 318, 500),
    800: (66, 115, 177, 316, 496, 800),
    1000: (79, 139, 214, 384, 610, 1000),
}
FILLS = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


def _dominant_hz(series: np.ndarray, rate_hz: float) -> float:
    x = series - series.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1.0 / rate_hz)
    spectrum[freqs < 0.2] = 0.0
    return float(freqs[int(np.argmax(spectrum))])


class TestBandRadiance:
    def test_lookup_matches_planck(self) -> None:
        """The lookup table agrees with the full Planck integral to 1e-4."""
        temps = np.array([250.0, 295.15, 400.5, 773.15, 1273.15, 2000.0])
        exact = planck_band_radiance(temps)
        assert np.allclose(band_radiance(temps), exact, rtol=1e-4)

    def test_inverse_round_trips(self) -> None:
        """B⁻¹(B(T)) gives T back within 0.01 K over the camera's range."""
        temps = np.linspace(260.0, 1500.0, 97)
        assert np.allclose(band_temperature(band_radiance(temps)), temps, atol=0.01)

    def test_room_temperature_value(self) -> None:
        """A 300 K blackbody radiates about 55 W/(m²·sr) in 8–14 µm."""
        assert band_radiance(300.0) == pytest.approx(54.9, rel=0.01)


class TestRadianceMixing:
    @pytest.mark.parametrize("true_c", sorted(TABLE))
    def test_partial_fill_matches_table(self, true_c: int) -> None:
        """Mixing radiance reproduces the apparent-temperature table of §2.3 within 1 °C."""
        got = apparent_temperature_k(22.0 + K0, true_c + K0, np.array(FILLS)) - K0
        assert np.allclose(got, TABLE[true_c], atol=1.0)

    def test_sub_pixel_flame_one_pixel(self) -> None:
        """1000 °C filling 10 % of a pixel reads about 214 °C, not the 120 °C of a mean."""
        got = float(apparent_temperature_k(22.0 + K0, 1000.0 + K0, 0.1)) - K0
        assert got == pytest.approx(214.0, abs=1.0)

    @pytest.mark.parametrize(("eps", "want_c"), [(0.3, 433.0), (0.1, 214.0)])
    def test_low_emissivity_flames_look_cool(self, eps: float, want_c: float) -> None:
        """A filled pixel of 1000 °C flame at ε 0.3 / 0.1 reads 433 / 214 °C."""
        got = float(apparent_temperature_k(22.0 + K0, 1000.0 + K0, 1.0, eps)) - K0
        assert got == pytest.approx(want_c, abs=1.0)


class TestFireGrowth:
    @pytest.mark.parametrize(("alpha", "seconds"), [(0.1876, 75), (0.0469, 150),
                                                    (0.0117, 300), (0.00293, 600)])
    def test_t2_reaches_1055_kw(self, alpha: float, seconds: int) -> None:
        """Each NFPA growth class reaches 1055 kW at its tabulated time (±1 %)."""
        q = float(t2_hrr_kw(np.array([seconds + 10.0]), alpha, 10.0)[0])
        assert q == pytest.approx(1055.0, rel=0.01)

    def test_no_heat_before_ignition(self) -> None:
        """A t² fire releases nothing before its ignition time and respects its cap."""
        q = t2_hrr_kw(np.array([0.0, 9.9, 1000.0]), 0.05, 10.0, q_max_kw=500.0)
        assert q[0] == 0.0 and q[1] == 0.0 and q[2] == 500.0

    @pytest.mark.parametrize(("q_kw", "px"), [(10.0, 16), (50.0, 43), (100.0, 64)])
    def test_heskestad_pixels_at_3_m(self, q_kw: float, px: int) -> None:
        """A D = 0.3 m flame seen from 3 m is 16 / 43 / 64 px tall at 10 / 50 / 100 kW (±15 %)."""
        height = float(heskestad_height_m(q_kw, 0.3))
        assert height / (ifov_rad(160) * 3.0) == pytest.approx(px, rel=0.15)

    def test_ifov(self) -> None:
        """One Lepton 3.5 pixel spans 6.2 mrad; a Lepton 2.5 pixel twice that."""
        assert ifov_rad(160) == pytest.approx(6.2e-3, rel=0.01)
        assert ifov_rad(80) == pytest.approx(2 * ifov_rad(160))


class TestFlicker:
    @pytest.mark.parametrize(("d_m", "hz"), [(0.05, 6.7), (0.3, 2.7)])
    def test_puffing_frequency(self, d_m: float, hz: float) -> None:
        """Flames puff at 1.5/√D: 6.7 Hz at 5 cm, 2.7 Hz at 30 cm."""
        assert float(puffing_hz(d_m)) == pytest.approx(hz, abs=0.05)

    def test_signal_has_its_frequency(self) -> None:
        """Sampled fast, a 4.7 Hz flicker signal peaks at 4.7 Hz."""
        sig = FlickerSignal(lambda t: np.full(np.shape(t), 4.7), 60.0, seed=1)
        t = np.arange(0.0, 60.0, 1.0 / 100.0)
        assert _dominant_hz(sig(t), 100.0) == pytest.approx(4.7, abs=0.15)

    def test_simulated_at_50_hz_or_more(self) -> None:
        """A flicker grid coarser than 50 Hz is refused."""
        with pytest.raises(ValueError, match="50 Hz"):
            FlickerSignal(lambda t: t, 10.0, seed=1, grid_hz=20.0)

    @pytest.mark.parametrize(("flicker_hz", "alias_hz"), [(6.7, 2.0), (4.7, 4.0), (11.6, 2.9)])
    def test_camera_aliases_flicker(self, flicker_hz: float, alias_hz: float) -> None:
        """A sub-pixel flame flickering at f, seen at 8.7 Hz, puts t_max's peak at |f − k·8.7|."""
        flame = Flame(u=0.5, v=0.5, distance_m=4.0, hrr_kw=const(0.15), hrr_per_area_kw_m2=300.0,
                      d_max_m=0.02, core_k=1200.0, core_emissivity=0.3, envelope_k=900.0,
                      envelope_emissivity=0.3,
                      flicker=FlickerSignal(lambda t: np.full(np.shape(t), flicker_hz), 70.0, 5),
                      flicker_depth=0.4)
        ts = np.arange(0.0, 60.0, 1.0 / 8.7)
        temp = np.full((ts.size, 60, 80), 295.0, dtype=np.float32)
        flame.paint(ts, temp)
        t_max = temp.reshape(ts.size, -1).max(axis=1)
        assert t_max.max() - t_max.min() > 1.0  # the flicker shows
        assert _dominant_hz(t_max, 8.7) == pytest.approx(alias_hz, abs=0.25)


def _quiet_air(**changes: float) -> AirParams:
    base = dict(volume_m3=30.0, ach=0.0, room_c=21.0, rh_pct=40.0, baseline_ppm=400.0,
                stratification=1.0, transport_delay_s=0.0, tau_s=60.0, co2_offset_ppm=0.0,
                co2_gain_error=0.0, co2_wander_ppm=0.0, co2_noise_ppm=0.0, asc_drift_ppm_h=0.0,
                asc_step_ppm=0.0, asc_step_s=None, self_heating_c=0.0, t_tau_s=200.0)
    base.update(changes)
    return AirParams(**base)  # type: ignore[arg-type]


class TestSensorModel:
    def test_first_order_lag_tau_60_s(self) -> None:
        """A 1000 ppm step at the sensor reaches 63 % after τ ≈ 60 s."""
        parts = Parts(co2_at_sensor=[step(100.0, 0.0, 1000.0)])
        air = AirModel(_quiet_air(), parts, seed=1, duration_s=500.0)
        t = np.arange(100.0, 400.0, 1.0)
        co2 = air.at(t)[0] - 400.0
        t63 = float(t[np.argmax(co2 >= 632.0)]) - 100.0
        assert t63 == pytest.approx(60.0, abs=2.0)

    def test_transport_delay(self) -> None:
        """Nothing reaches the element before the transport delay has passed."""
        parts = Parts(co2_at_sensor=[], co2_rate=[step(100.0, 0.0, 600.0)])
        air = AirModel(_quiet_air(transport_delay_s=40.0), parts, seed=1, duration_s=400.0)
        co2 = air.at(np.array([139.0, 200.0]))[0]
        assert co2[0] == pytest.approx(400.0, abs=0.5) and co2[1] > 420.0

    def test_room_mass_balance(self) -> None:
        """A steady source in a ventilated room settles at rate/λ above baseline."""
        parts = Parts(co2_rate=[const(10.0)])  # ppm/min
        air = AirModel(_quiet_air(ach=2.0), parts, seed=1, duration_s=3 * 3600.0)
        co2 = float(air.at(np.array([3 * 3600.0]))[0][0])
        assert co2 - 400.0 == pytest.approx(10.0 * 60.0 / 2.0, rel=0.02)

    def test_saturates_at_40000(self) -> None:
        """The element never reads above 40 000 ppm."""
        parts = Parts(co2_rate=[const(20000.0)])
        air = AirModel(_quiet_air(), parts, seed=1, duration_s=600.0)
        assert air.co2_ppm.max() == 40000.0

    def test_heating_dries_the_air(self) -> None:
        """Warming the sensor at constant vapour lowers its relative humidity."""
        parts = Parts(heat_k=[step(100.0, 0.0, 10.0)])
        air = AirModel(_quiet_air(t_tau_s=60.0), parts, seed=1, duration_s=1200.0)
        _, temp, rh = air.at(np.array([50.0, 1100.0]))
        assert temp[1] - temp[0] == pytest.approx(10.0, abs=0.2)
        assert rh[1] < rh[0] - 10.0


def _water_ppm(temp_c: np.ndarray, rh_pct: np.ndarray) -> np.ndarray:
    from edge.featuresets.gas import h2o_ppm

    return np.array([h2o_ppm(float(a), float(b)) for a, b in zip(temp_c, rh_pct, strict=True)])


class TestWater:
    def test_water_follows_its_co2(self) -> None:
        """Water added with CO2 at 1.5 mol per mol reads, in a settled room, as 1.5 ppm of
        vapour per ppm of CO2 (the sensor's own T and RH, as the features read them); the
        fire's water is stratified at the ceiling as its CO2 is."""
        rate = step(100.0, 0.0, 30.0)
        for strat in (1.0, 3.0):
            parts = Parts(fire_co2_rate=[rate], fire_water_rate=[scaled(rate, 1.5)])
            air = AirModel(_quiet_air(stratification=strat), parts, seed=1,
                           duration_s=1500.0)
            co2, temp, rh = air.at(np.array([90.0, 1490.0]))
            water = _water_ppm(temp, rh)
            assert co2[1] - co2[0] == pytest.approx(strat * 30.0 * 1390.0 / 60.0, rel=0.05)
            assert (water[1] - water[0]) / (co2[1] - co2[0]) == pytest.approx(1.5, rel=0.05)

    def test_without_water_the_air_stays_as_dry(self) -> None:
        """CO2 alone leaves the vapour where it was."""
        air = AirModel(_quiet_air(), Parts(co2_rate=[step(100.0, 0.0, 30.0)]), seed=1,
                       duration_s=1500.0)
        _, temp, rh = air.at(np.array([90.0, 1490.0]))
        assert abs(float(np.diff(_water_ppm(temp, rh))[0])) < 60.0  # RH noise 0.1 % ≈ 25 ppm

    @pytest.mark.parametrize(("family", "name", "kind"), [
        ("flaming_upholstery", "flame_h2o_per_co2", "upholstery"),
        ("kitchen_grease_fire", "flame_h2o_per_co2", "cooking_oil"),
        ("smoulder_out_of_view", "smoulder_h2o_per_co2", "smoulder"),
        ("electrical_overheat", "smoulder_h2o_per_co2", "cable"),
        ("occupancy", "occ_h2o_per_co2", "people"),
    ])
    def test_each_source_draws_its_chemistry(self, family: str, name: str, kind: str) -> None:
        """Fires and people record a water-per-CO2 ratio in their fuel's range, adding it
        left every other draw of the seed unchanged, and it can be pinned."""
        from edge.sim.scenarios.scene import make_scene
        from edge.sim.scenarios.water import H2O_PER_CO2

        scene = make_scene(family, 5, 600.0)
        lo, hi = H2O_PER_CO2[kind]
        assert lo <= scene.truth["params"][name] <= hi
        pinned = make_scene(family, 5, 600.0, **{name: 0.25})
        assert pinned.truth["params"][name] == 0.25
        others = {k: v for k, v in scene.truth["params"].items() if k != name}
        assert others == {k: v for k, v in pinned.truth["params"].items() if k != name}

    def test_a_pinned_ratio_must_be_a_number(self) -> None:
        """A water ratio pinned to something that is not a finite number is refused by name."""
        from edge.sim.scenarios.scene import make_scene

        for bad in ("wet", float("nan")):
            with pytest.raises(ValueError, match="occ_h2o_per_co2 must be a finite number"):
                make_scene("occupancy", 5, 600.0, occ_h2o_per_co2=bad)

    def test_a_fast_fire_burns_its_fuel_into_water(self) -> None:
        """F2's water is its fuel's: alcohol wets the air more per CO2 than paper."""
        from edge.sim.scenarios.scene import make_scene
        from edge.sim.scenarios.water import H2O_PER_CO2

        for fuel in ("paper", "heptane", "alcohol"):
            p = make_scene("fast_flaming", 3, 600.0, fuel=fuel).truth["params"]
            lo, hi = H2O_PER_CO2[fuel]
            assert lo <= p["flame_h2o_per_co2"] <= hi
