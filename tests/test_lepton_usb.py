"""The PureThermal/flirpy path against the simulated board: rows, logging, errors."""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from edge.config import LeptonConfig
from edge.errors import SensorError, SensorSetupError, SensorTimeout
from edge.sensors.flir_lepton import open_lepton
from edge.sensors.lepton_usb import LeptonUsb, keep_root_logging, open_purethermal
from edge.sim.clock import ManualClock
from edge.sim.lepton import quantise, saturation_k
from edge.sim.purethermal import CAP_PROP_FRAME_HEIGHT, SimulatedPureThermal
from edge.sim.scene import StaticRoom


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger with no handlers at DEBUG (as before logging is set up), then restored.

    Used inside the test body: pytest adds its capture handlers only for the call phase.
    """
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    for h in saved:
        root.removeHandler(h)
    root.setLevel(logging.DEBUG)
    try:
        yield root
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved:
            root.addHandler(h)
        root.setLevel(level)


def board(
    scene: StaticRoom | None = None, connected: bool = True
) -> tuple[SimulatedPureThermal, ManualClock, StaticRoom]:
    clock = ManualClock()
    scene = scene or StaticRoom(seed=9, ffc_period_s=0)
    with keep_root_logging():
        cam = SimulatedPureThermal(scene, clock, connected=connected)
    return cam, clock, scene


class TestOpenPureThermal:
    def test_frames_equal_scene(self) -> None:
        """Frames are uint16 (120, 160) at 0.01 K, equal to the scene, at ~8.7 Hz."""
        cam, clock, scene = board()
        usb = LeptonUsb(open_purethermal(lambda: cam), clock)
        assert cam.cap is not None and cam.cap.get(CAP_PROP_FRAME_HEIGHT) == 122
        frames = [usb.read_frame() for _ in range(10)]
        for f in frames:
            assert f.pixels.dtype == np.uint16 and f.pixels.shape == (120, 160)
            want = quantise(scene.thermal_k(f.t, 120, 160), 0.01, saturation_k(0, 0.01))
            assert np.array_equal(f.pixels, want)
            assert f.telemetry["ffc_state"] == "never"
        rate = (len(frames) - 1) / (frames[-1].t - frames[0].t)
        assert rate == pytest.approx(8.7, rel=0.01)
        assert usb.health().status == "ok" and usb.health().frames == 10

    def test_logging_untouched(self) -> None:
        """flirpy's basicConfig side effect is undone: no root handler added, level unchanged."""
        clock = ManualClock()
        with bare_root() as root:
            open_purethermal(lambda: SimulatedPureThermal(StaticRoom(), clock))
            assert root.handlers == [] and root.level == logging.DEBUG

    def test_side_effect_is_real(self) -> None:
        """The simulated board really does what flirpy does: a root handler and WARNING level."""
        with bare_root() as root:
            SimulatedPureThermal(StaticRoom(), ManualClock())
            assert len(root.handlers) == 1 and root.level == logging.WARNING

    def test_not_connected(self) -> None:
        """No board with USB id 1e4e:0100 is a setup error saying what to check."""
        cam, _, _ = board(connected=False)
        with pytest.raises(SensorSetupError, match=r"1e4e:0100.*group video"):
            open_purethermal(lambda: cam)

    def test_flirpy_missing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without flirpy installed the error names the extra to install."""
        monkeypatch.setitem(sys.modules, "flirpy", None)
        monkeypatch.setitem(sys.modules, "flirpy.camera.lepton", None)
        with pytest.raises(SensorSetupError, match=r"firedetect\[lepton-usb\]"):
            open_purethermal()

    def test_open_lepton_usb(self) -> None:
        """open_lepton with kind "usb" builds the camera from the injected flirpy factory."""
        cam, clock, _ = board()
        usb = open_lepton(LeptonConfig(kind="usb"), clock, flirpy_factory=lambda: cam)
        assert usb.read_frame().pixels.shape == (120, 160)
        usb.close()
        assert cam.cap is not None and not cam.cap.opened


class TestRowsPitfall:
    def test_120_row_mode_refused(self) -> None:
        """Left in the 160×120 mode the board drops 2 image rows; we raise, naming what came."""
        cam, clock, _ = board()
        cam.setup_video(0)  # no height set: what plain flirpy does
        usb = LeptonUsb(cam, clock)
        with pytest.raises(SensorError, match=r"got uint16 \(120, 160\).*ask for 122 rows"):
            usb.read_frame()
        assert usb.health().status == "faulted"

    def test_flirpy_strip_in_120_mode_gives_118_rows(self) -> None:
        """The pitfall as flirpy users meet it: grab() silently returns 118 rows."""
        cam, _, _ = board()
        image = cam.grab()
        assert image is not None and image.shape == (118, 160)

    def test_wrong_dtype_refused(self) -> None:
        """An 8-bit image (RGB conversion left on) is refused with its dtype named."""
        cam, clock, _ = board()

        class Rgb:
            def grab(self, strip_telemetry: bool = True) -> np.ndarray:
                image = cam.grab(strip_telemetry=False)
                assert image is not None
                return (image >> 8).astype(np.uint8)

        cam.setup_video(0)
        assert cam.cap is not None
        cam.cap.set(CAP_PROP_FRAME_HEIGHT, 122)
        with pytest.raises(SensorError, match="uint8"):
            LeptonUsb(Rgb(), clock).read_frame()


class TestReadFrame:
    def test_no_image_is_timeout_then_recovers(self) -> None:
        """grab() returning None raises SensorTimeout; the next good image clears the fault."""
        cam, clock, _ = board()
        usb = LeptonUsb(open_purethermal(lambda: cam), clock)
        assert cam.cap is not None
        cam.cap.fail_reads = 1
        with pytest.raises(SensorTimeout, match="no image"):
            usb.read_frame()
        assert usb.health().status == "faulted" and usb.health().timeouts == 1
        usb.read_frame()
        assert usb.health().status == "ok"

    def test_ffc_frozen(self) -> None:
        """Frames during the board's FFC are flagged frozen and repeat the last live image."""
        scene = StaticRoom(seed=1, ffc_period_s=2.0, ffc_duration_s=0.5)
        cam, clock, _ = board(scene)
        clock.advance(1.0)
        usb = LeptonUsb(open_purethermal(lambda: cam), clock)
        frames = [usb.read_frame() for _ in range(20)]
        for prev, f in itertools.pairwise(frames):
            assert f.frozen == scene.ffc_active(f.t)
            if f.frozen:
                assert np.array_equal(f.pixels, prev.pixels)
        assert sum(f.frozen for f in frames) == 5
