"""The view's masked rectangles ([lepton] mask, edge.detect.mask): what the detector ignores."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edge.config import Config, FlameConfig
from edge.config.alarm import AlarmConfig
from edge.config.sensors import LeptonConfig
from edge.detect.alarm import AlarmStateMachine
from edge.detect.evidence import FlameSource
from edge.detect.mask import FrameMask
from edge.detect.pipeline import Pipeline, build_pipeline
from edge.detect.scene import SceneMemory
from edge.features import FeatureExtractor
from edge.types import ThermalFrame
from tests.fixedscore import FixedScorer
from tests.test_flame import growing_flame


class TestConfig:
    def test_rectangles_must_lie_in_the_view(self) -> None:
        """A rectangle outside the model's frame, or empty, is refused naming it and the
        allowed bounds of that model."""
        assert LeptonConfig(mask=((60, 40, 100, 90),)).mask == ((60, 40, 100, 90),)
        with pytest.raises(ValidationError, match=r"mask\[1\] = \[0, 0, 161, 10\].*"
                                                  r"x1 ≤ 160 and 0 ≤ y0 < y1 ≤ 120"):
            LeptonConfig(mask=((0, 0, 10, 10), (0, 0, 161, 10)))
        with pytest.raises(ValidationError, match=r"Lepton 2.5 is 80×60"):
            LeptonConfig(model="2.5", mask=((0, 0, 100, 10),))
        with pytest.raises(ValidationError, match=r"mask\[0\]"):
            LeptonConfig(mask=((10, 10, 10, 20),))

    def test_build_pipeline_takes_the_configured_mask(self) -> None:
        """The daemon's and replay's pipeline masks what [lepton] mask says; none by default."""
        from edge.model.holder import ModelHolder

        holder = ModelHolder(Config().model)
        assert build_pipeline(Config(), holder).mask is None
        cfg = Config.model_validate({"sensors": {"lepton": {"mask": [[1, 2, 3, 4]]}}})
        mask = build_pipeline(cfg, holder).mask
        assert mask is not None and mask.rects == ((1, 2, 3, 4),)


class TestFrameMask:
    def test_masked_pixels_read_as_the_rest_of_the_view(self) -> None:
        """Masked pixels take the median of the unmasked ones; the others and the input stay."""
        pixels = np.arange(12, dtype=np.uint16).reshape(3, 4) + 29_000
        out = FrameMask([(0, 0, 2, 1)]).apply(pixels)
        rest = np.sort(pixels.ravel()[2:])
        assert out[0, 0] == out[0, 1] == rest[rest.size // 2]
        assert (out.ravel()[2:] == pixels.ravel()[2:]).all()
        assert pixels[0, 0] == 29_000  # not modified in place

    def test_a_rectangle_past_a_smaller_frame_is_cut(self) -> None:
        """A rectangle reaching past the frame covers what is in it; a full mask leaves the
        frame as it is (there is nothing to read it from)."""
        pixels = np.full((4, 4), 30_000, np.uint16)
        pixels[3, 3] = 40_000
        assert FrameMask([(2, 2, 160, 120)]).apply(pixels)[3, 3] == 30_000
        assert (FrameMask([(0, 0, 160, 120)]).apply(pixels) == pixels).all()


def alarms(mask: FrameMask | None) -> list[str]:
    """Reasons of the alarms a growing flame at (80, 60) raises, with a corroborating score."""
    memory = SceneMemory()
    pipe = Pipeline(FeatureExtractor(), FixedScorer(0.6),
                    AlarmStateMachine(AlarmConfig(pre_alarm_s=3.0), 0.8),
                    stale_after_s={"scd41": 1e6, "lepton": 1e6},
                    sources=[FlameSource(FlameConfig(), memory)], scene=memory, mask=mask)
    scene = growing_flame(100.0)
    out = []
    for t in np.arange(0.0, 200.0, 1.0):
        frame = ThermalFrame(float(t), np.round((scene(float(t)) + 273.15) / 0.1)
                             .astype(np.uint16), 0.1)
        out += [ev.alarm.reason for ev in pipe.frame(frame).events
                if ev.kind == "alarm" and ev.alarm is not None]
    return out


class TestPipeline:
    def test_a_flame_in_a_masked_rectangle_does_not_alarm(self) -> None:
        """A growing flame inside the masked rectangle raises nothing; masked elsewhere in
        the view, the same flame alarms (flame_growth)."""
        assert alarms(FrameMask([(40, 20, 120, 100)])) == []
        assert alarms(FrameMask([(0, 0, 30, 30)])) == ["flame_growth"]
        assert alarms(None) == ["flame_growth"]
