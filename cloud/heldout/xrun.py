"""Cross-engine evaluation, the held-out side: each held-out run rendered once (cached) and
replayed through the device's pipeline with every trained model, in every mode.

Modes (``XMODES``): ``fused`` (both sensors, as on a device); ``thermal_only`` (the SCD41
readings removed from the recording: the device runs degraded, its gas features NaN);
``co2_only`` (the camera frames removed); ``no_watches`` (both sensors, the flame and
smoulder watches off). ``ablate`` makes the sensor ablations' recordings.

A result has the shape of ``cloud.heldout.suite.evaluate_run``'s, one per model
(``{"models": {name: {"modes": ...}}}``), plus ``visible_s``: the first frame at/after the
ignition with a new pixel ≥ 60 °C (``cloud.training.data.observable_time``, camera only).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.featuresets.blas import one_blas_thread, single_blas

if TYPE_CHECKING:
    from cloud.heldout.suite import HeldoutRun
    from edge.recording import Recording

log = logging.getLogger(__name__)

XMODES = ("fused", "thermal_only", "co2_only", "no_watches")


def ablate(rec: Recording, mode: str) -> Recording:
    """``rec`` with one sensor removed: ``thermal_only`` drops every SCD41 reading,
    ``co2_only`` every camera frame; ``fused`` and ``no_watches`` keep both.

    :raises ValueError: for an unknown mode.
    """
    if mode not in XMODES:
        raise ValueError(f"mode {mode!r}; allowed: {', '.join(XMODES)}")
    if mode == "thermal_only":
        return dataclasses.replace(rec, gas_t=np.zeros(0, np.float64),
                                   co2_ppm=np.zeros(0, np.float32),
                                   temperature_c=np.zeros(0, np.float32),
                                   humidity_pct=np.zeros(0, np.float32))
    if mode == "co2_only":
        return dataclasses.replace(rec, frame_t=np.zeros(0, np.float64),
                                   frames=np.zeros((0, *rec.frames.shape[1:]), np.uint16))
    return rec


def visible_s(rec: Recording) -> float | None:
    """When the fire first shows on the camera: a new pixel ≥ 60 °C (None: never, or no fire)."""
    from cloud.training.data import observable_time

    return observable_time(rec, co2_excess_ppm=math.inf)


@dataclass(frozen=True)
class XJob:
    """One held-out run and the models to replay it with (picklable for workers)."""

    run: HeldoutRun
    models: tuple[tuple[str, Path], ...]
    public_key: Path
    modes: tuple[str, ...]
    cache: Path | None


def evaluate_xrun(job: XJob) -> dict[str, Any]:
    """Render (or load) one held-out run and replay it with each model in each mode; a run
    CFAST cannot compute comes back as ``{..., "failed": why}`` (reported, never scored)."""
    from cloud.heldout.suite import model_holder, replay_mode
    from cloud.heldout.xcorpus import render_cached
    from edge.sim.cfast.run import CfastError

    r = job.run
    try:
        rec = render_cached(r, job.cache)
    except CfastError as exc:
        why = str(exc).splitlines()[0]
        log.warning("held-out run %s seed %d not rendered: %s", r.scenario, r.seed, why)
        return {**asdict(r), "failed": why}
    out: dict[str, Any] = {**asdict(r), "family": rec.meta["family"], "label": rec.meta["label"],
                           "fire_start_s": rec.fire_start_s, "visible_s": visible_s(rec),
                           "models": {}}
    for key in ("smoke_detector_s", "heat_detector_s"):
        if key in rec.meta:
            out[key] = rec.meta[key]
    for name, path in job.models:
        holder = model_holder(path, job.public_key, False)
        modes: dict[str, Any] = {}
        for mode in job.modes:
            played = replay_mode(ablate(rec, mode), holder, "no_watches" if mode == "no_watches"
                                 else "fused")
            modes[mode] = {"events": played["events"], "t": played["t"].tolist(),
                           "p": played["p"].tolist(), "threshold": played["threshold"]}
        out["models"][name] = {"modes": modes, "model_version": holder.model.version}
    return out


def run_xjobs(jobs: Sequence[XJob], workers: int,
              sink: Callable[[int, dict[str, Any]], None] | None = None
              ) -> list[dict[str, Any]]:
    """Every job, in ``workers`` processes; results in job order, each handed to ``sink``."""
    from tqdm import tqdm

    results: list[dict[str, Any]] = []
    bar = tqdm(total=len(jobs), desc="held-out runs", unit="run", disable=len(jobs) < 2)
    try:
        if workers <= 1 or len(jobs) <= 1:
            with single_blas():
                for res in map(evaluate_xrun, jobs):
                    _keep(results, res, sink)
                    bar.update()
        else:
            ctx = multiprocessing.get_context(
                "fork" if "fork" in multiprocessing.get_all_start_methods() else None)
            with ctx.Pool(min(workers, os.cpu_count() or 1, len(jobs)),
                          initializer=one_blas_thread) as pool:
                for res in pool.imap(evaluate_xrun, jobs, chunksize=1):
                    _keep(results, res, sink)
                    bar.update()
    finally:
        bar.close()
    return results


def _keep(results: list[dict[str, Any]], res: dict[str, Any],
          sink: Callable[[int, dict[str, Any]], None] | None) -> None:
    if sink is not None:
        sink(len(results), res)
    results.append(res)


def per_model(results: Sequence[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The results of one model in ``cloud.heldout.summary``'s shape (``{"modes": ...}``)."""
    out = []
    for r in results:
        if "failed" in r or name not in r["models"]:
            continue
        flat = {k: v for k, v in r.items() if k != "models"}
        out.append({**flat, **r["models"][name]})
    return out
