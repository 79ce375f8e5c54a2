"""A simulated PureThermal USB board: a stand-in for flirpy's ``Lepton`` and its capture.

``SimulatedPureThermal(scene, clock)`` has the parts of ``flirpy.camera.lepton.Lepton`` the
driver uses (``find_video_device``, ``setup_video``, ``cap``, ``grab``, ``release``) and
reproduces two pitfalls of the real stack: its constructor calls ``logging.basicConfig()``
as flirpy does, and the capture starts in the 160×120 mode, where the board drops two image
rows (118 image rows + the 2-row telemetry footer) until someone sets
``CAP_PROP_FRAME_HEIGHT`` to 122. ``read`` blocks on the clock until the next frame (~8.7 Hz).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import numpy.typing as npt

from edge.clock import Clock
from edge.sensors import vospi
from edge.sim.lepton import FPA_TEMP_K, FRAME_RATE_HZ, quantise, saturation_k
from edge.sim.scene import Scene
from edge.types import FrameArray

CAP_PROP_FRAME_WIDTH = 3
CAP_PROP_FRAME_HEIGHT = 4
RESOLUTION_K = 0.01  # TLinear on, the board's default resolution


class SimulatedCapture:
    """A ``cv2.VideoCapture`` on the board: Y16 frames of 160×120 or 160×122."""

    def __init__(self, scene: Scene, clock: Clock) -> None:
        self.scene = scene
        self.clock = clock
        self.props: dict[int, float] = {CAP_PROP_FRAME_WIDTH: 160.0, CAP_PROP_FRAME_HEIGHT: 120.0}
        self.opened = True
        self.fail_reads = 0  # fault injection: the next N reads fail
        self.period_s = 1.0 / FRAME_RATE_HZ
        self._next_t = clock.monotonic()
        self._index = 0
        self._last: FrameArray | None = None

    def isOpened(self) -> bool:  # OpenCV's name
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        if prop == CAP_PROP_FRAME_HEIGHT and value in (120, 122):
            self.props[prop] = float(value)
            return True
        return False

    def get(self, prop: int) -> float:
        return self.props.get(prop, 0.0)

    def release(self) -> None:
        self.opened = False

    def read(self) -> tuple[bool, npt.NDArray[np.uint16] | None]:
        wait = self._next_t - self.clock.monotonic()
        if wait > 0:
            self.clock.sleep(wait)
        t = self.clock.monotonic()
        self._next_t = t + self.period_s
        if not self.opened or self.fail_reads > 0:
            self.fail_reads = max(0, self.fail_reads - 1)
            return False, None
        frame = self.render(t)
        if self.props[CAP_PROP_FRAME_HEIGHT] == 120:
            frame = np.concatenate([frame[:59], frame[60:119], frame[120:]])  # 2 rows lost
        return True, frame

    def render(self, t: float) -> npt.NDArray[np.uint16]:
        """The full 122-row frame at ``t``: 120 image rows and the telemetry footer."""
        ffc = self.scene.ffc_active(t)
        if ffc and self._last is not None:
            pixels = self._last
        else:
            kelvin = self.scene.thermal_k(t, 120, 160)
            pixels = quantise(kelvin, RESOLUTION_K, saturation_k(0, RESOLUTION_K))
            self._last = pixels
        self._index += 1
        footer = vospi.encode_telemetry(
            320,
            uptime_ms=math.floor(t * 1000),
            ffc_state="in_progress" if ffc else "never",
            frame_counter=self._index * 3,
            frame_mean=int(pixels.mean()),
            fpa_temp_k=FPA_TEMP_K,
        )
        return np.concatenate([pixels, footer.reshape(2, 160)])


class SimulatedPureThermal:
    """Stand-in for ``flirpy.camera.lepton.Lepton`` on a simulated board."""

    def __init__(self, scene: Scene, clock: Clock, connected: bool = True) -> None:
        logging.basicConfig(level=logging.WARNING)  # what flirpy's Lepton() does
        self.scene = scene
        self.clock = clock
        self.connected = connected
        self.cap: SimulatedCapture | None = None

    def find_video_device(self) -> int | None:
        return 0 if self.connected else None

    def setup_video(self, device_id: int | None = None) -> None:
        if device_id is None:
            device_id = self.find_video_device()
        if device_id is None:
            raise ValueError("Lepton not connected.")
        self.cap = SimulatedCapture(self.scene, self.clock)

    def grab(
        self,
        device_id: int | None = None,
        telemetry_mode: str = "footer",
        strip_telemetry: bool = True,
    ) -> npt.NDArray[np.uint16] | None:
        if self.cap is None:
            self.setup_video(device_id)
        assert self.cap is not None
        ok, image = self.cap.read()
        if ok and image is not None and strip_telemetry:
            image = image[:-2]  # flirpy strips 2 rows whatever the mode
        return image if ok else None

    def release(self) -> None:
        if self.cap is not None:
            self.cap.release()
