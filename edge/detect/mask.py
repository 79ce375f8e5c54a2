"""The view's masked rectangles (``[lepton] mask``): parts of the scene the detector ignores.

An open fireplace, a wood stove or a gas hob in full view is a flame that is lit, grows and
burns in view as a fire does; no detector can tell them apart from the pixels, and a flame
detector (EN 54-10) is installed so that it does not see one. Where the camera must see the
room around one, the installer masks it: its pixels read as the rest of the view (the median
of the unmasked pixels of the same frame), before the features, the scene memory and the
watches see the frame. Recordings keep the raw frames; ``firedetect replay`` applies the
config's mask as the daemon does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["FrameMask"]


class FrameMask:
    """Rectangles ``(x0, y0, x1, y1)`` (columns x0 ≤ x < x1, rows y0 ≤ y < y1) of the view to
    ignore; a rectangle reaching past a smaller frame is cut to it."""

    def __init__(self, rects: Sequence[tuple[int, int, int, int]]) -> None:
        self.rects = tuple(rects)
        self._shape: tuple[int, ...] | None = None
        self._masked: npt.NDArray[np.bool_] | None = None

    def __bool__(self) -> bool:
        return bool(self.rects)

    def masked(self, shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
        """The masked pixels of a frame of ``shape`` (rows, columns)."""
        if self._masked is None or self._shape != shape:
            masked = np.zeros(shape, bool)
            for x0, y0, x1, y1 in self.rects:
                masked[y0:y1, x0:x1] = True
            self._shape, self._masked = shape, masked
        return self._masked

    def apply(self, pixels: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint16]:
        """A copy of ``pixels`` with the masked ones at the median of the others (the frame
        itself when nothing is masked, or everything is)."""
        masked = self.masked(pixels.shape)
        if not masked.any() or masked.all():
            return pixels
        rest = pixels[~masked]
        fill = np.partition(rest, rest.size // 2)[rest.size // 2]
        out = pixels.copy()
        out[masked] = fill
        return out
