"""Simulated training data: scenario recordings rendered, then featurised by the device's code.

``sim_jobs`` balances ``n`` recordings across the twelve families with seeds derived from one
seed; ``simulate`` renders and featurises them (in worker processes), as
:func:`cloud.training.data.recording_rows` does for a recording on disk.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cloud.training.data import (
    DEFAULT_LAG_S,
    LABEL_MODES,
    SLOW_CODES,
    Dataset,
    recording_rows,
)
from edge.features import FeatureParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimJob:
    """One recording to render and featurise."""

    scenario: str
    seed: int
    duration_s: float
    rate_hz: float
    lag_s: float
    params: FeatureParams
    labels: str = "onset"
    feature_set: str = "seed-v1"


def sim_jobs(n: int, seed: int, duration_s: float, rate_hz: float,
             lag_s: float = DEFAULT_LAG_S, params: FeatureParams | None = None, *,
             slow_duration_s: float | None = None, labels: str = "onset",
             feature_set: str = "seed-v1") -> list[SimJob]:
    """``n`` jobs balanced across the twelve families, seeds derived from ``seed``; the slow
    families (F3–F5) last ``slow_duration_s`` when given."""
    from edge.sim.scenarios import SCENARIOS

    if n < 1:
        raise ValueError(f"--simulate {n}; allowed: at least 1 recording")
    if duration_s <= 0 or rate_hz <= 0:
        raise ValueError(f"duration {duration_s} s at {rate_hz} Hz; allowed: both > 0")
    if slow_duration_s is not None and slow_duration_s <= 0:
        raise ValueError(f"slow-family duration {slow_duration_s} s; allowed: > 0")
    if labels not in LABEL_MODES:
        raise ValueError(f"labels {labels!r}; allowed: {', '.join(LABEL_MODES)}")
    from edge.sim.scenarios.base import SPAN_S
    from edge.sim.scenarios.scene import FIRE_START_FRAC

    first, last = (f * SPAN_S for f in FIRE_START_FRAC)
    shortest = min(duration_s, slow_duration_s or duration_s)
    if shortest < last:
        log.warning("simulated runs of %g s: fires ignite %g–%g s into a scenario, so some "
                    "fire runs end before their fire", shortest, first, last)
    names = sorted(SCENARIOS)
    fp = params if params is not None else FeatureParams()
    jobs = []
    for i in range(n):
        name = names[i % len(names)]
        dur = duration_s
        if slow_duration_s is not None and SCENARIOS[name].code in SLOW_CODES:
            dur = slow_duration_s
        jobs.append(SimJob(name, seed * 100_003 + i, dur, rate_hz, lag_s, fp, labels,
                           feature_set))
    return jobs


def run_sim_job(job: SimJob) -> Dataset:
    """Render one scenario recording and featurise it with the device's code."""
    from edge.sim.scenarios import render_recording

    rec = render_recording(job.scenario, job.seed, job.duration_s, frame_rate_hz=job.rate_hz)
    return recording_rows(rec, f"sim:{job.scenario}:{job.seed}", job.params, job.lag_s,
                          job.labels, job.feature_set)


def simulate(jobs: Sequence[SimJob], *, workers: int = 2, progress: bool = True) -> Dataset:
    """Run the jobs (in ``workers`` processes when > 1); rows in job order."""
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="simulate", unit="rec", disable=not progress)
    parts: list[Dataset] = []
    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                parts.append(run_sim_job(job))
                bar.update()
        else:
            # fork: the children need no re-import of the (script) main module.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            ctx = multiprocessing.get_context(method)
            with ctx.Pool(min(workers, os.cpu_count() or 1, len(jobs))) as pool:
                for part in pool.imap(run_sim_job, jobs, chunksize=1):
                    parts.append(part)
                    bar.update()
    finally:
        bar.close()
    return Dataset.concat(parts)
