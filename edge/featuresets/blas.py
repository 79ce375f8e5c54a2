"""One BLAS thread for the features' dot products (``edge.featuresets.thermal``).

The sums of squares over a 160×120 frame are past OpenBLAS's threading cut-off, so each
frame's ~2 µs of work would wake a second BLAS thread. On an idle machine that costs little;
with another busy process per core (the daemon's sensor loops, a training pool of one worker
per core, the held-out suite's workers) the threads wait on each other and a frame's features
took 3 ms instead of 0.1 ms (a training corpus build 4× slower). Every process that computes
features therefore holds BLAS to one thread: ``firedetect`` (``edge.cli``), and the worker
pools of training and evaluation (``initializer=one_blas_thread``, and ``single_blas()``
around the work in the calling process).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def one_blas_thread() -> bool:
    """One BLAS thread in this process from now on; False when threadpoolctl is missing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    threadpool_limits(1, user_api="blas")
    return True


@contextmanager
def single_blas() -> Iterator[None]:
    """One BLAS thread while the block runs; the previous limits afterwards."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield
