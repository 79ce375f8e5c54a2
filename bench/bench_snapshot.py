"""How fast and how small the alarm snapshot is (``edge.snapshot``), and the README's example.

1. ``render`` (colour map, ×4 or ×8 scale, outline, scale bar, caption, palette PNG) timed
   over N runs after a warm-up, on three frames: a 160×120 room with a fire in view (the usual
   case), the same at 80×60 (Lepton 2.5, ×8), and 160×120 uniform noise over 0–400 °C (the
   worst case for the PNG's size). Targets: a few ms, ≤ 50 kB.
2. ``Snapshotter.capture``: what the *processing thread* pays per snapshot (a copy of the
   frame and of the scene's new hot pixels); the render runs on the snapshot thread, after the
   event is in the outbox.

``--example PATH`` also writes the example picture of docs/img/snapshot.png (the fire frame).

Run: .venv/bin/python bench/bench_snapshot.py [--runs N] [--example docs/img/snapshot.png]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.detect.scene import SceneMemory
from edge.snapshot.render import Shot, render
from edge.snapshot.service import Snapshotter
from edge.types import ZERO_C_K, ThermalFrame

WHY = ("a new hot region grew by 26 px to 0.14 % of the view (26 px ≥ 140 °C, hottest "
       "382 °C), crossing it at 122.4 K/s")


def fire_room(h: int = 120, w: int = 160) -> tuple[npt.NDArray[np.float32],
                                                 npt.NDArray[np.bool_]]:
    """A room at ~21 °C: a warm radiator, a cool window, a person, and a fire with a hot core."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:h, :w] / np.array([h, w]).reshape(2, 1, 1)
    c = 20.0 + 2.0 * yy + rng.normal(0, 0.3, (h, w))
    c[(yy > 0.55) & (yy < 0.8) & (xx > 0.05) & (xx < 0.3)] = 48.0  # radiator
    c[(yy > 0.1) & (yy < 0.4) & (xx > 0.7) & (xx < 0.95)] = 12.0  # window
    c[((yy - 0.45) / 0.25) ** 2 + ((xx - 0.45) / 0.06) ** 2 < 1] = 33.0  # person
    d = ((yy - 0.75) / 0.12) ** 2 + ((xx - 0.62) / 0.07) ** 2
    fire = d < 1
    c[fire] = 140.0 + 250.0 * (1 - d[fire])  # a flame: 140 °C at the edge, ~390 °C inside
    return c.astype(np.float32), fire


def _shot(c: npt.NDArray[np.float32], region: npt.NDArray[np.bool_] | None) -> Shot:
    return Shot(c, region, 1_764_904_275.0, "alarm", WHY, 0.97, 1130.0, 180.0, 42)


def _time(fn: object, runs: int) -> tuple[float, float]:
    assert callable(fn)
    for _ in range(3):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return statistics.median(ts) * 1e3, ts[int(0.95 * (len(ts) - 1))] * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--example", type=Path, default=None)
    args = ap.parse_args()
    big, region = fire_room()
    small, small_region = fire_room(60, 80)
    noise = np.random.default_rng(1).uniform(0, 400, (120, 160)).astype(np.float32)
    for name, c, reg in (("fire 160x120 (x4)", big, region),
                         ("fire 80x60 (x8)", small, small_region),
                         ("noise 160x120 (x4)", noise, None)):
        png = render(_shot(c, reg))
        med, p95 = _time(lambda c=c, reg=reg: render(_shot(c, reg)), args.runs)
        print(f"render {name}: median {med:.2f} ms, p95 {p95:.2f} ms, {len(png)} bytes")
    scene = SceneMemory()
    for t in range(0, 40, 2):
        scene.update(float(t), np.full(big.shape, 21.0, dtype=np.float32))
    scene.update(40.0, big)
    snap = Snapshotter(_Sink(), 300.0)
    snap.observe(ThermalFrame(40.0, ((big + ZERO_C_K) / 0.01).astype(np.uint16)))
    med, p95 = _time(lambda: snap.capture("alarm", WHY, 0.97, scene, 1), args.runs)
    print(f"capture on the processing thread (160x120): median {med:.3f} ms, p95 {p95:.3f} ms")
    if args.example is not None:
        args.example.parent.mkdir(parents=True, exist_ok=True)
        args.example.write_bytes(render(_shot(big, region)))
        print(f"wrote {args.example}")


class _Sink:
    def is_delivered(self, seq: int) -> bool:
        return True

    def set_snapshot(self, png: bytes) -> None:
        pass


if __name__ == "__main__":
    main()
