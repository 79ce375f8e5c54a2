"""The cooking zone ([lepton] cooking_zone): a pan heating on the hob warns, flames alarm.

A pan left on a hob heats steadily towards its oil's ignition, as an electrical overheat (F5)
does; the installer marks where food is cooked, and there the smoulder watch's steady heating
becomes a warning (the ``pre_alarm`` state, reason ``cooking_zone``) instead of an alarm.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pydantic import ValidationError

from edge.config import Config
from edge.config.alarm import AlarmConfig
from edge.config.sensors import LeptonConfig
from edge.detect.alarm import AlarmStateMachine
from edge.detect.evidence import build_sources
from edge.detect.pipeline import Pipeline
from edge.detect.scene import SceneMemory
from edge.detect.smoulder import SmoulderWatch
from edge.features import FeatureExtractor
from edge.types import ThermalFrame
from tests.fixedscore import FixedScorer
from tests.test_flame import ROOM_C, SHAPE, disc

HOB = (30, 20, 50, 40)  # the zone around the pan at (40, 30): [x0, y0, x1, y1]
Scene = Callable[[float], np.ndarray]


def pan(on_s: float, ignites_s: float | None = None, cx: float = 40.0,
        cy: float = 30.0) -> Scene:
    """A pan put on at ``on_s`` at 110 °C, heating a steady 8 K/min; from ``ignites_s`` its
    oil burns: a 450 °C flame growing out of it at 0.4 px/s."""
    def frame(t: float) -> np.ndarray:
        if t < on_s:
            return np.full(SHAPE, ROOM_C, np.float32)
        out = disc(cx, cy, 2.5, 110.0 + 8.0 * (t - on_s) / 60.0)
        if ignites_s is not None and t >= ignites_s:  # the flame is hotter than the pan
            out = np.maximum(out, disc(cx, cy - 3.0, 1.0 + 0.4 * (t - ignites_s), 450.0))
        return out
    return frame


def run(scene: Scene, seconds: float, zone: tuple[tuple[int, int, int, int], ...],
        frozen_every: int = 0) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """The alarms (t, reason) and the pre-alarm reasons seen (t, reason, at their start) of
    the daemon's sources for ``[lepton] cooking_zone = zone``, a score of 0.5 (threshold 0.8)
    and one frame a second (every ``frozen_every``-th an FFC repeat)."""
    cfg = Config.model_validate({"sensors": {"lepton": {"cooking_zone": [list(z) for z in zone]}}})
    memory = SceneMemory(cfg.flame)
    pipe = Pipeline(FeatureExtractor(), FixedScorer(0.5),
                    AlarmStateMachine(AlarmConfig(pre_alarm_s=3.0), 0.8),
                    stale_after_s={"scd41": 1e6, "lepton": 1e6},
                    sources=build_sources(cfg, memory), scene=memory)
    alarms: list[tuple[float, str]] = []
    warned: list[tuple[float, str]] = []
    last = None
    pixels = np.zeros(SHAPE, np.uint16)
    for i, t in enumerate(np.arange(0.0, seconds, 1.0)):
        frozen = bool(frozen_every) and i % frozen_every == 0 and i > 0
        if not frozen:
            pixels = np.round((scene(float(t)) + 273.15) / 0.1).astype(np.uint16)
        step = pipe.frame(ThermalFrame(float(t), pixels, 0.1, frozen=frozen))
        alarms += [(ev.t, ev.alarm.reason) for ev in step.events
                   if ev.kind == "alarm" and ev.alarm is not None]
        said = pipe.alarm.pre_alarm_reason
        reason = None if said is None else said[0]
        if reason != last and reason is not None:
            warned.append((float(t), reason))
        last = reason
    return alarms, warned


class TestConfig:
    def test_zone_rectangles_must_lie_in_the_view(self) -> None:
        """A cooking-zone rectangle outside the frame is refused naming the key and bounds."""
        assert LeptonConfig(cooking_zone=(HOB,)).cooking_zone == (HOB,)
        with pytest.raises(ValidationError, match=r"cooking_zone\[0\] = \[0, 0, 170, 10\].*"
                                                  r"0 ≤ x0 < x1 ≤ 160"):
            LeptonConfig(cooking_zone=((0, 0, 170, 10),))


class TestSmoulderWatchZone:
    def test_in_zone_only_when_every_new_hot_pixel_is_in_it(self) -> None:
        """in_zone: the new hot pixels all lie in the zone; one outside, or none, is not."""
        from edge.detect.flame import FlameWatch

        zone = np.zeros(SHAPE, bool)
        zone[20:40, 30:50] = True
        flame, watch = FlameWatch(), SmoulderWatch()
        quiet = np.full(SHAPE, ROOM_C, np.float32)
        for t in range(0, 40):
            flame.update(float(t), quiet)
            assert not watch.update(float(t), quiet, flame.onset, zone).in_zone
        hot = disc(40, 30, 2.5, 150.0)
        flame.update(40.0, hot)
        assert watch.update(40.0, hot, flame.onset, zone).in_zone
        both = np.maximum(hot, disc(100, 80, 1.0, 150.0))
        flame.update(41.0, both)
        assert not watch.update(41.0, both, flame.onset, zone).in_zone
        assert not watch.update(42.0, hot, flame.onset, None).in_zone

    def test_zone_of_another_shape_is_refused(self) -> None:
        from edge.detect.flame import FlameWatch

        flame, watch = FlameWatch(), SmoulderWatch()
        frame = np.full(SHAPE, ROOM_C, np.float32)
        flame.update(0.0, frame)
        with pytest.raises(ValueError, match=r"cooking zone of shape \(60, 80\)"):
            watch.update(0.0, frame, flame.onset, np.zeros((60, 80), bool))


class TestPipelineZone:
    def test_without_a_zone_the_heating_pan_alarms_as_a_smoulder(self) -> None:
        """The control: the same pan, no zone, alarms (smoulder) minutes after it is on."""
        alarms, _ = run(pan(60.0), 900.0, ())
        assert [r for _, r in alarms] == ["smoulder"] and 360.0 <= alarms[0][0] <= 500.0

    def test_a_heating_pan_in_the_zone_warns_and_does_not_alarm(self) -> None:
        """In the zone the same pan raises no alarm in 15 minutes: it warns (pre_alarm,
        cooking_zone) from when the watch finds it heating, as long as it heats."""
        alarms, warned = run(pan(60.0), 900.0, (HOB,))
        assert alarms == []
        assert [r for _, r in warned] == ["cooking_zone"]
        assert 360.0 <= warned[0][0] <= 500.0

    def test_the_warning_lasts_through_ffc_frames(self) -> None:
        """FFC repeats (no new data, not judged) do not end the warning between frames."""
        alarms, warned = run(pan(60.0), 900.0, (HOB,), frozen_every=37)
        assert alarms == [] and [r for _, r in warned] == ["cooking_zone"]

    def test_the_pan_catching_fire_alarms(self) -> None:
        """When the oil ignites, its flame grows in the zone and alarms (flame_growth)
        within seconds, out of the warning."""
        alarms, warned = run(pan(60.0, ignites_s=700.0), 800.0, (HOB,))
        assert [r for _, r in warned] == ["cooking_zone"] and warned[0][0] < 700.0
        assert [r for _, r in alarms] == ["flame_growth"]
        assert 700.0 < alarms[0][0] <= 715.0

    def test_a_spot_heating_outside_the_zone_alarms(self) -> None:
        """The zone covers the hob only: an overheating spot elsewhere alarms as before."""
        alarms, _ = run(pan(60.0, cx=120.0, cy=90.0), 900.0, (HOB,))
        assert [r for _, r in alarms] == ["smoulder"]
