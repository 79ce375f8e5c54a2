"""The simulated room's background: numpy cubic B-spline upsampling equal to scipy's."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.ndimage import map_coordinates  # only here: the daemon must not need it

from edge.sim.scenarios.spline import upsample_cubic
from edge.sim.scenarios.thermal import background_k
from edge.types import ZERO_C_K

SHAPES = [(120, 160), (60, 80), (1, 1), (2, 3), (7, 5)]


def grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample positions background_k uses on its 6 × 8 coarse grid."""
    yy = (np.arange(height) + 0.5) / height * 6 - 0.5
    xx = (np.arange(width) + 0.5) / width * 8 - 0.5
    return yy, xx


class TestUpsampleCubic:
    @pytest.mark.parametrize(("height", "width"), SHAPES)
    def test_equals_scipy_map_coordinates(self, height: int, width: int) -> None:
        """On 200 random coarse grids the values agree with map_coordinates to 1e-12."""
        yy, xx = grid(height, width)
        gy, gx = np.meshgrid(yy, xx, indexing="ij")
        for seed in range(200):
            coarse = np.random.default_rng(seed).normal(0.0, 0.6, (6, 8))
            ref = map_coordinates(coarse, [gy, gx], order=3, mode="nearest")
            assert np.abs(upsample_cubic(coarse, yy, xx) - ref).max() < 1e-12

    def test_far_outside_extends_the_edge(self) -> None:
        """Positions beyond the padding take the edge values, as mode "nearest" does."""
        coarse = np.random.default_rng(1).normal(0.0, 1.0, (6, 8))
        yy = np.array([-40.0, 50.0])
        xx = np.array([-40.0, 70.0])
        gy, gx = np.meshgrid(yy, xx, indexing="ij")
        ref = map_coordinates(coarse, [gy, gx], order=3, mode="nearest")
        assert np.allclose(upsample_cubic(coarse, yy, xx), ref, atol=1e-12)

    def test_background_bit_identical_to_scipy(self) -> None:
        """background_k's float32 frames are the bits the scipy version gave, on 300 seeds."""
        for seed in range(300):
            for height, width in SHAPES[:2]:
                rng = np.random.default_rng((seed, 7))
                coarse = rng.normal(0.0, 0.6, (6, 8))
                yy, xx = grid(height, width)
                gy, gx = np.meshgrid(yy, xx, indexing="ij")
                img = map_coordinates(coarse, [gy, gx], order=3, mode="nearest")
                img += 1.0 * (0.5 - (np.arange(height) + 0.5) / height)[:, None]
                for _ in range(int(rng.integers(2, 5))):
                    y0, x0 = rng.uniform(0.2, 0.9), rng.uniform(0.0, 0.9)
                    hh, ww = rng.uniform(0.08, 0.4), rng.uniform(0.05, 0.3)
                    r0, r1 = int(y0 * height), min(height, int((y0 + hh) * height))
                    c0, c1 = int(x0 * width), min(width, int((x0 + ww) * width))
                    img[r0:r1, c0:c1] += rng.uniform(-3.0, 2.0)
                ref = np.asarray(img + 21.0 + ZERO_C_K, dtype=np.float32)
                assert background_k(height, width, seed, 21.0).tobytes() == ref.tobytes()


def test_simulated_daemon_path_does_not_import_scipy() -> None:
    """The simulator, the features and the pipeline run without importing scipy."""
    code = (
        "import sys, numpy as np\n"
        "import edge.sim.sources, edge.detect.pipeline\n"
        "from edge.sim.scenarios import render_recording\n"
        "from edge.features import featurize_recording\n"
        "rec = render_recording('flaming_upholstery', seed=2, duration_s=20.0, frame_rate_hz=2.0)\n"
        "featurize_recording(rec)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
