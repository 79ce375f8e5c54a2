"""Noise banks regenerated frame by frame equal the banks held whole, bit for bit."""

from __future__ import annotations

import numpy as np

from edge.sim.scenarios import make_scene
from edge.sim.scenarios.noisebank import NoiseBank
from edge.sim.sources import make_scene as live_scene


class TestNoiseBank:
    def test_regenerated_equals_held(self) -> None:
        """Every frame, in any order, is the same whether held or drawn again; so is the stream."""
        held_rng = np.random.default_rng((3, 11, 120))
        lazy_rng = np.random.default_rng((3, 11, 120))
        held = NoiseBank(held_rng, 0.035, 61, 120, 160, keep=True)
        lazy = NoiseBank(lazy_rng, 0.035, 61, 120, 160, keep=False)
        index = np.array([60, 0, 17, 17, 59, 1], dtype=np.intp)
        assert lazy.take(index).tobytes() == held.take(index).tobytes()
        assert lazy_rng.normal(size=5).tobytes() == held_rng.normal(size=5).tobytes()

    def test_equals_one_draw_of_the_whole_bank(self) -> None:
        """A held bank is exactly ``rng.normal(0, sd, (count, h, w))`` as float32."""
        ref = np.random.default_rng(9).normal(0.0, 0.05, (7, 4, 5)).astype(np.float32)
        bank = NoiseBank(np.random.default_rng(9), 0.05, 7, 4, 5, keep=False)
        assert bank.take(np.arange(7)).tobytes() == ref.tobytes()
        assert bank.nbytes == 0

    def test_live_scene_renders_the_same_frames(self) -> None:
        """The daemon's simulated scene holds no bank and renders the recording's frames."""
        live, _ = live_scene("flaming_upholstery", 2, 120.0)
        chunked = make_scene("flaming_upholstery", 2, 120.0)
        ts = np.array([0.0, 0.115, 50.3, 119.9])
        for t in ts:
            a = live.thermal_k(float(t), 120, 160)
            b = chunked.render_k(ts, 120, 160)[list(ts).index(t)]
            assert a.tobytes() == np.asarray(b, dtype=np.float64).tobytes()
        assert all(bank.nbytes == 0 for bank in live.camera._cache[(120, 160)][:2])
        assert all(bank.nbytes > 0 for bank in chunked.camera._cache[(120, 160)][:2])
