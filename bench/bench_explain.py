"""What an event's explanation costs, beside the per-frame score (issue 14, session 19).

``Model.score`` runs for every frame; ``Model.explain`` (the score plus which features moved
it, ``top_features``) only for an ``alarm`` or ``clear`` event: one batch of N rows, each
feature in turn at its training mean. Both are measured on the demo model (``demo/config.toml``)
over the fd-v3 vectors of one rendered kitchen fire, alternating call by call so both see the
same machine.

Run: .venv/bin/python bench/bench_explain.py [--seconds S] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's cloud/, edge/

from edge.features import FeatureParams, featurize_recording
from edge.model.holder import load_model
from edge.model.verify import load_public_key
from edge.sim.scenarios.scene import render_recording

ROOT = Path(__file__).resolve().parents[1]


def vectors(seconds: float) -> npt.NDArray[np.float64]:
    """The fd-v3 vectors of a kitchen fire rendered at 1 Hz (what the device would compute)."""
    rec = render_recording("kitchen_grease_fire", 1, seconds, frame_rate_hz=1.0)
    return featurize_recording(rec, FeatureParams(), "fd-v3")[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="length of the fire run")
    ap.add_argument("--repeat", type=int, default=3, help="passes over the vectors")
    args = ap.parse_args()
    cfg = tomllib.loads((ROOT / "demo" / "config.toml").read_text())["model"]
    model = load_model(ROOT / cfg["path"], public_key=load_public_key(ROOT / cfg["public_key"]))
    xs = vectors(args.seconds)
    took: dict[str, list[float]] = {"score": [], "explain": []}
    for _ in range(args.repeat):
        for x in xs:
            for name, call in (("score", model.score), ("explain", model.explain)):
                t = time.perf_counter()
                call(x)
                took[name].append((time.perf_counter() - t) * 1e3)
    print(f"model {model.version}, {len(xs)} vectors × {args.repeat}")
    for name, ms in took.items():
        q = statistics.quantiles(ms, n=100)
        print(f"{name:8s} median {statistics.median(ms):.3f} ms  p99 {q[98]:.3f} ms")


if __name__ == "__main__":
    main()
