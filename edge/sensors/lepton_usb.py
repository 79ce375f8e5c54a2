"""The Lepton on a PureThermal USB board, through flirpy (``pip install 'firedetect[lepton-usb]'``).

flirpy is imported lazily, in ``open_purethermal``. Its ``Lepton()`` calls
``logging.basicConfig()``, which adds a stderr handler to the root logger and sets its
level; we snapshot the root logger before and restore it after, so our logging stays ours.
The board (USB 1e4e:0100) offers 160×120 and 160×122; flirpy never chooses, and at 160×120
two image rows are silently lost. We ask for 122 rows (120 image + 2 telemetry), grab
without flirpy's stripping, check shape and dtype, and strip the footer ourselves.

There is no CCI on this path: gain, FFC and TLinear resolution are the board's (TLinear on,
0.01 K, per flirpy #53/#74/#86).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from edge.clock import Clock
from edge.errors import SensorError, SensorSetupError, SensorTimeout
from edge.sensors import vospi
from edge.sensors.lepton_health import FailureCounters, LeptonHealth
from edge.types import FrameArray, ThermalFrame

log = logging.getLogger(__name__)

SENSOR = "lepton-usb"
CAP_PROP_FRAME_WIDTH = 3  # cv2.CAP_PROP_FRAME_WIDTH (a stable OpenCV enum value)
CAP_PROP_FRAME_HEIGHT = 4  # cv2.CAP_PROP_FRAME_HEIGHT
ROWS_WITH_TELEMETRY = 122
IMAGE_SHAPE = (120, 160)


@contextmanager
def keep_root_logging() -> Iterator[None]:
    """Undo whatever a library's ``logging.basicConfig()`` does to the root logger."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def _flirpy_lepton() -> Callable[[], Any]:
    try:
        with keep_root_logging():
            from flirpy.camera.lepton import Lepton
    except ImportError as err:
        raise SensorSetupError(
            SENSOR, "flirpy is not installed", "pip install 'firedetect[lepton-usb]'"
        ) from err
    factory: Callable[[], Any] = Lepton
    return factory


def open_purethermal(factory: Callable[[], Any] | None = None) -> Any:
    """A flirpy ``Lepton`` (or ``factory()``, same interface) set up for 160×122 frames.

    :raises SensorSetupError: no board with USB id 1e4e:0100, or it cannot be opened.
    """
    factory = factory or _flirpy_lepton()
    with keep_root_logging():
        camera = factory()
    index = camera.find_video_device()
    if index is None:
        raise SensorSetupError(
            SENSOR,
            "no PureThermal board (USB 1e4e:0100) found",
            "plug it in and add the user to group video (sudo usermod -aG video USER)",
        )
    try:
        camera.setup_video(index)
    except (OSError, ValueError) as err:
        raise SensorSetupError(
            SENSOR, f"cannot open video device {index}: {err}", "check the group video"
        ) from err
    camera.cap.set(CAP_PROP_FRAME_HEIGHT, ROWS_WITH_TELEMETRY)
    rows = camera.cap.get(CAP_PROP_FRAME_HEIGHT)
    if rows != ROWS_WITH_TELEMETRY:
        log.warning("PureThermal reports %s rows after asking for 122; frames are checked", rows)
    return camera


class LeptonUsb:
    """Frames from a PureThermal board through a flirpy ``Lepton``-like ``camera``."""

    def __init__(self, camera: Any, clock: Clock) -> None:
        self.camera = camera
        self.clock = clock
        self.resolution_k = 0.01
        self._n = FailureCounters()
        self._frame_id = 0
        self._prev: FrameArray | None = None

    def read_frame(self) -> ThermalFrame:
        """The next frame; ``frozen`` when telemetry says FFC or it repeats the previous one.

        :raises SensorTimeout: the board gave no image.
        :raises SensorError: the image is not uint16 (122, 160) (e.g. the 120-row mode).
        """
        try:
            raw = self.camera.grab(strip_telemetry=False)
        except (OSError, ValueError) as err:
            raise self._fail(SensorError(SENSOR, f"grab failed: {err}")) from err
        if raw is None:
            raise self._fail(SensorTimeout(SENSOR, "the PureThermal returned no image"))
        image = np.asarray(raw)
        if image.dtype != np.uint16 or image.shape != (ROWS_WITH_TELEMETRY, IMAGE_SHAPE[1]):
            hint = ""
            if image.shape == IMAGE_SHAPE:
                hint = " (the 160×120 mode, which drops 2 image rows: ask for 122 rows)"
            raise self._fail(
                SensorError(
                    SENSOR,
                    f"expected uint16 (122, 160) with the telemetry footer, got "
                    f"{image.dtype} {image.shape}{hint}",
                )
            )
        pixels = np.ascontiguousarray(image[: IMAGE_SHAPE[0]])
        telemetry = vospi.parse_telemetry(image[IMAGE_SHAPE[0]].ravel())
        frozen = telemetry["ffc_state"] == "in_progress" or (
            self._prev is not None and np.array_equal(pixels, self._prev)
        )
        self._prev = pixels
        self._frame_id += 1
        frame = ThermalFrame(
            t=self.clock.monotonic(),
            pixels=pixels,
            resolution_k=self.resolution_k,
            frame_id=self._frame_id,
            frozen=frozen,
            telemetry=telemetry,
        )
        if self._n.consecutive:
            log.info("Lepton USB recovered after %d failure(s)", self._n.consecutive)
        self._n.good(frame)
        return frame

    def _fail(self, err: SensorError) -> SensorError:
        self._n.failure(err)
        if self._n.consecutive == 1:
            log.warning("Lepton USB: %s", err)
        self._n.faulted = True
        return err

    def health(self) -> LeptonHealth:
        """Counters and state for the daemon's status reports."""
        return self._n.health()

    def close(self) -> None:
        """Release the capture device."""
        release = getattr(self.camera, "release", None)
        if release is not None:
            release()
