"""Features in a pool of two worker processes on two cores (the training corpus's and the
held-out suite's default), with OpenBLAS at its default thread count against one thread
(``edge.featuresets.blas``): what an unlimited BLAS costs when every core is busy.

Each worker featurises the same rendered recording (``flaming_upholstery``, 300 s at 8.7 Hz,
``fd-v3``); the figure is the slower worker's wall time per frame. Rounds alternate the two
settings so a change of machine load falls on both.

Run: PYTHONPATH=. .venv/bin/python bench/bench_blas_pool.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

from edge.features import FeatureParams
from edge.featuresets.batch import featurize_recording
from edge.featuresets.blas import one_blas_thread
from edge.recording import Recording
from edge.sim.scenarios import render_recording

_REC: Recording | None = None


def _work(limit: bool) -> float:
    assert _REC is not None
    if limit:
        one_blas_thread()
    start = time.perf_counter()
    featurize_recording(_REC, FeatureParams(), feature_set="fd-v3")
    return time.perf_counter() - start


def main() -> None:
    global _REC
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    _REC = render_recording("flaming_upholstery", 2, 300.0, frame_rate_hz=8.7)
    n = _REC.frame_t.size
    ctx = multiprocessing.get_context("fork")  # the workers inherit the recording
    for r in range(args.rounds):
        for limit in (False, True):
            with ctx.Pool(2) as pool:
                worst = max(pool.map(_work, [limit, limit]))
            print(f"round {r}, BLAS {'one thread' if limit else 'default   '}: "
                  f"{worst:.2f} s for {n} frames = {1000 * worst / n:.3f} ms a frame")


if __name__ == "__main__":
    main()
