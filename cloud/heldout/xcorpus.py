"""Cross-engine evaluation, the training side: plan, render (cached) and train per engine set.

- ``ENGINE_SETS``: what each training set renders from (``ours``, ``cfast``, ``both``).
- ``plan_set(...)``: the runs of an engine set, on seeds from ``seed_base`` (training and
  held-out plans use different bases; ``check_seeds_disjoint`` refuses any overlap).
- ``render_cached(run, cache)``: a run's recording, rendered once and kept under ``cache``
  (``$FIREDETECT_XEVAL_CACHE``, default ``~/.cache/firedetect/xeval``) for later invocations.
- ``train_model(...)``: the project's own training (``cloud.training``: the members, weighting
  and event threshold of ``cloud/train.py`` with its default options) on rendered runs,
  written as an artifact signed with the given key.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.featuresets.blas import one_blas_thread, single_blas

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cloud.heldout.suite import HeldoutRun
    from cloud.training.data import Dataset
    from edge.recording import Recording

log = logging.getLogger(__name__)

ENGINE_SETS: dict[str, tuple[str, ...]] = {"ours": ("ours",), "cfast": ("cfast",),
                                           "both": ("ours", "cfast")}
TRAIN_SEED_BASE = 7_100_000_000  # training runs; held-out runs use suite.DEFAULT_SEED_BASE
#: Selection runs (``cross --runs-select``) from TRAIN_SEED_BASE + this: a family's seeds are
#: 10 000 apart, so fewer than 5 000 runs per family never meet the training ones.
SELECT_SEED_OFFSET = 5_000
CACHE_ENV = "FIREDETECT_XEVAL_CACHE"


def default_cache() -> Path:
    """``$FIREDETECT_XEVAL_CACHE``, else ``~/.cache/firedetect/xeval``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "firedetect" / "xeval"


def plan_set(engines: Sequence[str], runs_per_family: int, duration_s: float, rate_hz: float,
             *, seed_base: int, families: Sequence[str] = (), full_rate_runs: int = 0,
             slow_duration_s: float | None = None,
             nuisance_duration_s: float | None = None) -> list[HeldoutRun]:
    """The runs of every engine in ``engines``; ``families`` (of either engine) narrows each
    engine to its own named families (an engine with none named renders all of its own);
    the slow families (smoulders, overheating) last ``slow_duration_s`` and the nuisances
    ``nuisance_duration_s`` when given.

    :raises ValueError: for an unknown engine or family, or non-positive sizes.
    """
    from cloud.heldout.engines import plan_engine_runs
    from edge.sim.cfast import CFAST_FAMILIES
    from edge.sim.scenarios import SCENARIOS

    unknown = [f for f in families if f not in CFAST_FAMILIES and f not in SCENARIOS]
    if unknown:
        raise ValueError(f"--families: unknown famil(ies) {unknown}; choose from: "
                         f"{', '.join([*SCENARIOS, *CFAST_FAMILIES])}")
    out: list[HeldoutRun] = []
    for engine in engines:
        own = [f for f in families if (f in CFAST_FAMILIES) == (engine == "cfast")]
        out += plan_engine_runs(engine, runs_per_family, duration_s, rate_hz,
                                full_rate_runs=full_rate_runs, seed_base=seed_base,
                                families=own, slow_duration_s=slow_duration_s,
                                nuisance_duration_s=nuisance_duration_s)
    return out


def check_seeds_disjoint(train: Iterable[HeldoutRun], test: Iterable[HeldoutRun]) -> None:
    """:raises ValueError: when a held-out run's seed is also a training run's seed."""
    seen = {r.seed for r in train}
    clash = sorted({r.seed for r in test if r.seed in seen})
    if clash:
        raise ValueError(f"held-out seeds {clash[:5]} are also training seeds; choose seed "
                         f"bases further apart (--train-seed-base / --select-seed-base / "
                         f"--seed-base)")


def cache_path(run: HeldoutRun, cache: Path) -> Path:
    """Where ``render_cached`` keeps ``run``: engine, family, seed, length, rate and (when
    not the default Lepton 3.5) camera."""
    from cloud.heldout.suite import LEPTONS

    camera = "" if run.lepton == LEPTONS[0] else f"-lepton{run.lepton}"
    return cache / run.engine / (f"{run.scenario}-{run.seed}-{run.duration_s:g}s-"
                                 f"{run.rate_hz:g}Hz{camera}.npz")


def render_cached(run: HeldoutRun, cache: Path | None) -> Recording:
    """The recording of ``run`` from its engine, from ``cache`` when rendered before.

    :raises CfastError: when CFAST cannot compute the run (never cached).
    """
    from cloud.heldout.engines import render
    from edge.errors import RecordingError
    from edge.recording import load_recording, save_recording

    if cache is None:
        return render(run)
    path = cache_path(run, cache)
    if path.exists():
        try:
            return load_recording(path)
        except RecordingError as exc:  # a damaged cache file is rendered again, not trusted
            log.warning("%s: unreadable cached render (%s); rendering again", path, exc)
            path.unlink(missing_ok=True)
    rec = render(run)
    with contextlib.suppress(FileExistsError):  # another process rendered it meanwhile
        save_recording(rec, path)
    return rec


@dataclass(frozen=True)
class CorpusJob:
    """One training run to render (cached) and featurise (picklable for workers)."""

    run: HeldoutRun
    cache: Path | None
    lag_s: float
    feature_set: str = "seed-v1"  # checked by feature_set_kwargs before any job is made
    labels: str = "onset"


def featurise(job: CorpusJob) -> Dataset | None:
    """The feature rows of one training run (``cloud.training.data.recording_rows``); None
    when CFAST cannot compute it (logged)."""
    from cloud.training.data import recording_rows
    from edge.features import FeatureParams
    from edge.sim.cfast.run import CfastError

    r = job.run
    try:
        rec = render_cached(r, job.cache)
    except CfastError as exc:
        log.warning("training run %s seed %d not rendered: %s", r.scenario, r.seed,
                    str(exc).splitlines()[0])
        return None
    return recording_rows(rec, f"{r.engine}:{r.scenario}:{r.seed}", FeatureParams(), job.lag_s,
                          job.labels, job.feature_set)


def corpus(runs: Sequence[HeldoutRun], cache: Path | None, workers: int, lag_s: float = 30.0,
           feature_set: str = "seed-v1", labels: str = "onset"
           ) -> tuple[Dataset, list[HeldoutRun]]:
    """The training rows of ``runs`` and the runs that could not be rendered."""
    from cloud.training.data import Dataset

    jobs = [CorpusJob(r, cache, lag_s, feature_set, labels) for r in runs]
    if workers <= 1 or len(jobs) <= 1:
        with single_blas():
            parts = [featurise(j) for j in jobs]
    else:
        ctx = multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        with ctx.Pool(min(workers, os.cpu_count() or 1, len(jobs)),
                      initializer=one_blas_thread) as pool:
            parts = list(pool.imap(featurise, jobs, chunksize=1))
    failed = [r for r, p in zip(runs, parts, strict=True) if p is None]
    return Dataset.concat([p for p in parts if p is not None]), failed


def feature_set_kwargs(feature_set: str) -> dict[str, Any]:
    """What the artifact call gets for ``feature_set`` (its name, names and parameters;
    ``featurise`` gets the name through its job).

    :raises ValueError: for a set the training code does not offer.
    """
    from edge.features import FEATURE_SETS, FeatureParams

    if feature_set not in FEATURE_SETS:
        raise ValueError(f"--feature-set {feature_set!r}; allowed: {', '.join(FEATURE_SETS)}")
    return {"feature_set": feature_set, "feature_names": FEATURE_SETS[feature_set],
            "feature_params": FeatureParams().as_dict(feature_set)}


def train_model(runs: Sequence[HeldoutRun], out: Path, key: Ed25519PrivateKey, *,
                feature_set: str, cache: Path | None, workers: int, seed: int = 42,
                name: str = "", labels: str = "onset", select: Sequence[HeldoutRun] = ()
                ) -> tuple[Path, dict[str, Any]]:
    """Train on ``runs`` as ``cloud/train.py`` does with its default options (split by
    recording, members fitted, weighted and thresholded on validation recordings) and write
    the artifact under ``out``, signed with ``key``. Returns the artifact folder and a short
    training summary (rows, recordings, threshold, runs CFAST could not compute).

    ``select``: runs that only help choose the threshold and the flame bar, beside the
    validation runs (``cloud/train.py --select-runs``): never fitted, weighted or calibrated.

    :raises ValueError: for too little data, or a feature set the training does not offer.
    """
    import numpy as np

    from cloud.artifact.write import write_artifact
    from cloud.training import options as train_cli
    from cloud.training.evaluate import fit_on_split
    from cloud.training.splits import recording_split

    extra = feature_set_kwargs(feature_set)
    ds, failed = corpus(runs, cache, workers, feature_set=feature_set, labels=labels)
    if len(ds) == 0:
        raise ValueError(f"training set {name!r}: no run could be rendered")
    cfg = train_cli.ensemble_config(train_cli.parse(["--seed", str(seed)]))
    split = recording_split(ds, seed)
    failed = list(failed)
    rows_fit, groups_fit, fingerprint = len(ds), len(ds.groups), ds.fingerprint()
    if select:
        from dataclasses import replace

        from cloud.training.data import Dataset

        chosen, lost = corpus(select, cache, workers, feature_set=feature_set, labels=labels)
        failed += lost
        if len(chosen.groups):
            first = len(ds.groups)
            ds = Dataset.concat([ds, chosen])
            split = replace(split, select=tuple(range(first, len(ds.groups))))
    ens = fit_on_split(ds, split, cfg)
    rng = np.random.default_rng(seed)
    rows = ds.rows_of(list(split.val) or list(split.train))
    check = ds.X[np.sort(rng.choice(rows, min(2000, rows.size), replace=False))]
    golden = ds.X[np.sort(rng.choice(rows, min(32, rows.size), replace=False))]
    sources = [f"render:{r.engine}:{r.scenario},seed={r.seed},{r.duration_s:g}s@{r.rate_hz:g}Hz"
               for r in runs if r not in failed]
    sources += [f"select:{r.engine}:{r.scenario},seed={r.seed},{r.duration_s:g}s@{r.rate_hz:g}Hz"
                for r in select if r not in failed]
    info = write_artifact(
        out, pipelines=ens.pipelines, weights=ens.weights, threshold=ens.threshold,
        metrics={"cross_engine_training_set": name},
        training_data={"id": fingerprint, "n_samples": rows_fit,
                       "n_groups": groups_fit, "sources": sources,
                       "seeds": sorted(r.seed for r in (*runs, *select))},
        golden_inputs=golden.astype(np.float64), X_check=check.astype(np.float64),
        private_key=key,
        calibration=None if ens.calibration is None else ens.calibration.as_dict(),
        **ens.detection(), **extra)
    summary = {"rows": rows_fit, "recordings": groups_fit, "threshold": ens.threshold,
               "selection_recordings": len(split.select),
               "flame_bar": None if ens.flame_bar is None else ens.flame_bar.as_dict(),
               "hold_bar": None if ens.hold_bar is None else ens.hold_bar.as_dict(),
               "smoulder_bar": None if ens.smoulder_bar is None else ens.smoulder_bar.as_dict(),
               "weights": dict(ens.weights), "version": info.version,
               "failed_runs": [{"engine": r.engine, "scenario": r.scenario, "seed": r.seed}
                               for r in failed]}
    return info.path, summary


def manifest_seeds(manifest: dict[str, Any]) -> set[int]:
    """The render seeds a cross-engine model names in its manifest (``training_data.seeds``)."""
    seeds = manifest.get("training_data", {}).get("seeds", [])
    return {int(s) for s in seeds} if isinstance(seeds, list) else set()
