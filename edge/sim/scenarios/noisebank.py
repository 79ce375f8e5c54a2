"""A bank of pre-drawn NETD noise frames, held in memory or regenerated frame by frame.

The camera draws its banks (61 and 67 frames of ``normal(0, sd)`` noise, float32) from one
generator, one frame after the other. Held whole, a Lepton 3.5's two banks are 9.8 MiB:
right when rendering recordings 64 frames at a time, but most of the RSS the simulator adds
to a daemon that runs it in-process and renders one frame per 115 ms. ``keep=False`` stores
instead the generator's state at the start of each frame (a few hundred bytes) and draws the
frame again when it is used: the same values to the bit (numpy's ``Generator.normal`` fills
an array element by element from the stream, so frame i of one ``(n, h, w)`` call is the
i-th ``(h, w)`` call), for ~0.3 ms per frame and bank.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

F32Array = npt.NDArray[np.float32]


class NoiseBank:
    """``count`` frames of ``normal(0, sd)`` noise (height, width), float32, drawn from ``rng``.

    Drawing advances ``rng`` exactly as ``rng.normal(0, sd, (count, height, width))`` does.
    """

    def __init__(self, rng: np.random.Generator, sd: float, count: int, height: int,
                 width: int, keep: bool = True) -> None:
        self.sd = sd
        self.shape = (height, width)
        self.count = count
        self._frames: F32Array | None = None
        self._states: list[Mapping[str, Any]] = []
        if keep:
            self._frames = rng.normal(0.0, sd, (count, height, width)).astype(np.float32)
            return
        for _ in range(count):
            self._states.append(rng.bit_generator.state)
            rng.normal(0.0, sd, self.shape)  # drawn only to advance the stream past it
        self._gen = np.random.Generator(type(rng.bit_generator)())

    @property
    def nbytes(self) -> int:
        """Bytes of noise held in memory (0 when regenerated)."""
        return 0 if self._frames is None else int(self._frames.nbytes)

    def take(self, index: npt.NDArray[np.intp]) -> F32Array:
        """The frames ``index`` (n,): (n, height, width)."""
        if self._frames is not None:
            return self._frames[index]
        out = np.empty((index.size, *self.shape), dtype=np.float32)
        for j, i in enumerate(index.tolist()):
            self._gen.bit_generator.state = self._states[i]
            out[j] = self._gen.normal(0.0, self.sd, self.shape)  # float64 → float32 as astype
        return out
