"""The held-out evaluation: fresh scenario runs through the whole device pipeline.

``python -m cloud.heldout.suite --model models/<version> --public-key KEY --out DIR`` renders
``--runs`` recordings per scenario family with seeds training never used (checked against
the artifact's ``training_data.sources``), replays each through ``edge.detect.pipeline`` (features
→ model → alarm state machine, exactly as ``firedetect replay``) and scores events and frames
(``cloud.heldout.summary``), then writes ``DIR/summary.json``, ``DIR/runs.json``, the plots and
``DIR/report.md`` (``cloud.heldout.report``).

``--engine`` picks who renders the runs (``cloud.heldout.engines``): our scene engine
(``ours``, the default), NIST CFAST (``cfast``: families ``cfast_*``, coded ``CF1``…/``CN1``…,
whose truth carries ``smoke_detector_s``) or ``both``.

Every run is replayed three times:

- ``fused``: both sensors, as on a device;
- ``thermal_only``: the SCD41 readings are dropped — the device's degraded mode with the
  SCD41 gone (its features are NaN; the ``scd41`` fault event is expected);
- ``co2_only``: the camera frames are dropped — degraded mode with the Lepton gone (scored
  on each SCD41 reading, the ``lepton`` fault event is expected).

- ``no_watches`` (only with ``--no-watches``): both sensors, the flame, smoulder and gas
  watches off — the model and alarm state machine alone.

The sensor ablations blank a block to NaN in the live pipeline; nothing is retrained.
Without ``--model`` the rule fallback (``edge.model.rules``) is evaluated.
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import Config, ModelConfig, load_config
from edge.detect.pipeline import build_pipeline
from edge.featuresets.blas import one_blas_thread, single_blas
from edge.recording import FrameSource, Recording
from edge.types import ZERO_C_K, GasReading, ThermalFrame

log = logging.getLogger(__name__)

MODES = ("fused", "thermal_only", "co2_only")
ALL_MODES = (*MODES, "no_watches")  # no_watches: fused, [flame]/[smoulder]/[gas] enabled = false
DEFAULT_SEED_BASE = 7_300_000_000  # far from cloud.training.simulated.sim_jobs' seed·100003 + i
FULL_RATE_HZ = 8.7
_SOURCE_RE = re.compile(r"^simulate:(\d+)x[^,]*,seed=(-?\d+)$")


#: The cameras a held-out run may be rendered for (``edge.sim.scenarios.camera``); the first
#: is the default, the one training renders for.
LEPTONS = ("3.5", "2.5")


@dataclass(frozen=True)
class HeldoutRun:
    """One held-out recording to render: family, seed, length and frame rate."""

    scenario: str
    seed: int
    duration_s: float
    rate_hz: float
    engine: str = "ours"  # or "cfast" (cloud.heldout.engines)
    lepton: str = "3.5"  # the camera (LEPTONS): a Lepton 3.5 (160 × 120) or 2.5 (80 × 60)


def plan_runs(runs_per_family: int, duration_s: float, rate_hz: float, *, full_rate_runs: int,
              seed_base: int = DEFAULT_SEED_BASE, families: Sequence[str] | None = None,
              slow_duration_s: float | None = None,
              nuisance_duration_s: float | None = None) -> list[HeldoutRun]:
    """``runs_per_family`` runs of each family; the first ``full_rate_runs`` of each at 8.7 Hz.

    Smoulders and overheating (F3–F5) last ``slow_duration_s`` when given: they take tens of
    minutes to develop. The nuisances (N1–N6) last ``nuisance_duration_s`` when given: a pan
    left on the hob, an oven or a heater do what they do over tens of minutes too.

    :raises ValueError: for an unknown family or non-positive counts, rates or durations.
    """
    from cloud.heldout.engines import run_length
    from cloud.training.data import SLOW_CODES
    from edge.sim.scenarios import SCENARIOS

    names = list(families) if families else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; choose from: {', '.join(SCENARIOS)}")
    if runs_per_family < 1 or not (duration_s > 0 and rate_hz > 0) or full_rate_runs < 0:
        raise ValueError(f"runs {runs_per_family}, duration {duration_s} s, rate {rate_hz} Hz, "
                         f"full-rate runs {full_rate_runs}; allowed: runs ≥ 1, duration and "
                         f"rate > 0, full-rate runs ≥ 0")
    check_durations(slow_duration_s, nuisance_duration_s)
    order = sorted(SCENARIOS)
    out = []
    for name in names:
        code = SCENARIOS[name].code
        dur = run_length(code, code in SLOW_CODES, duration_s, slow_duration_s,
                         nuisance_duration_s)
        base = seed_base + 10_000 * order.index(name)
        for i in range(runs_per_family):
            rate = FULL_RATE_HZ if i < full_rate_runs else rate_hz
            out.append(HeldoutRun(name, base + i, float(dur), float(rate)))
    return out


def check_durations(slow_duration_s: float | None, nuisance_duration_s: float | None) -> None:
    """:raises ValueError: a slow-fire or nuisance run length given and not above 0."""
    for option, value in (("--slow-duration", slow_duration_s),
                          ("--nuisance-duration", nuisance_duration_s)):
        if value is not None and not value > 0:
            raise ValueError(f"{option} {value} s; allowed: a run length > 0 s")


def training_seeds(manifest: dict[str, Any]) -> set[int]:
    """The simulation seeds a model was trained on, from its manifest's data sources
    (``simulate:NxDs@RHz,seed=S`` → ``S·100003 + i`` for ``i < N``, as ``cloud.training.data``)."""
    seeds: set[int] = set()
    sources = manifest.get("training_data", {}).get("sources", [])
    for src in sources if isinstance(sources, list) else []:
        m = _SOURCE_RE.match(str(src))
        if m:
            n, s = int(m.group(1)), int(m.group(2))
            seeds.update(s * 100_003 + i for i in range(n))
    return seeds


def check_disjoint(runs: Iterable[HeldoutRun], trained: set[int]) -> None:
    """:raises ValueError: when a held-out seed was used in training."""
    clash = sorted(r.seed for r in runs if r.seed in trained)
    if clash:
        raise ValueError(f"held-out seeds {clash[:5]} were used to train the model; choose "
                         f"another --seed-base")


# ----------------------------------------------------------------------------- replay


def readings(rec: FrameSource, mode: str) -> Iterator[ThermalFrame | GasReading]:
    """The recording's frames and SCD41 readings in time order, minus the blanked sensor:
    ``edge.recording.readings``, the merge ``firedetect replay`` streams through (a rendered
    recording in memory, or a file opened by ``edge.recording_stream.open_recording``)."""
    from edge.recording import readings as merged

    if mode not in ALL_MODES:
        raise ValueError(f"mode {mode!r}; allowed: {', '.join(ALL_MODES)}")
    for r in merged(rec):
        if mode == "thermal_only" and isinstance(r, GasReading):
            continue
        if mode == "co2_only" and isinstance(r, ThermalFrame):
            continue
        yield r


_HOLDERS: dict[tuple[str, str, bool], Any] = {}


def model_holder(model: Path | None, public_key: Path | None, allow_unsigned: bool) -> Any:
    """A ``ModelHolder`` with the artifact installed (rule fallback without one); one per
    process, reused across runs."""
    from edge.model.holder import ModelHolder

    key = (str(model), str(public_key), allow_unsigned)
    if key not in _HOLDERS:
        holder = ModelHolder(ModelConfig(public_key=public_key, allow_unsigned=allow_unsigned))
        if model is not None:
            holder.install(model)
        _HOLDERS[key] = holder
    return _HOLDERS[key]


def replay_mode(rec: FrameSource, holder: Any, mode: str, config: Config | None = None
                ) -> dict[str, Any]:
    """One replay: the events the device would publish and every score it computed
    (``no_watches``: both readings, the flame, smoulder and gas watches off)."""
    config = config or Config()
    if mode == "no_watches":
        config = config.model_copy(update={
            "flame": config.flame.model_copy(update={"enabled": False}),
            "smoulder": config.smoulder.model_copy(update={"enabled": False}),
            "gas": config.gas.model_copy(update={"enabled": False})})
    pipeline = build_pipeline(config, holder, start_t=0.0)
    events: list[dict[str, Any]] = []
    ts: list[float] = []
    ps: list[float] = []
    for r in readings(rec, mode):
        step = pipeline.frame(r) if isinstance(r, ThermalFrame) else pipeline.gas(r)
        if step.score is not None:
            ts.append(step.t)
            ps.append(float(step.score.probability))
        for ev in step.events:
            events.append({"kind": ev.kind, "t": float(ev.t),
                           "score": None if math.isnan(ev.score) else float(ev.score),
                           "sensor": ev.sensor,
                           "reason": ev.alarm.reason if ev.alarm is not None else ev.reason})
    return {"events": events, "t": np.asarray(ts), "p": np.asarray(ps),
            "threshold": float(pipeline.alarm.threshold)}


VISIBLE_C = 140.0  # the lowest high-gain clip (fire-science.md §2.4): hot in any gain mode


def visible_times(rec: Recording) -> dict[str, float | None]:
    """When the fire shows on the camera, from the frames themselves: the first frame at or
    after ``fire_start_s`` with ≥ 4 new pixels (``flame_4px_s``) or ≥ 1 new pixel
    (``spot_s``) at ≥ 140 °C apparent; "new" = not that hot in the last frame before the
    onset (so a hob already on does not count). None if never, or for nuisance runs."""
    t0 = rec.fire_start_s
    out: dict[str, float | None] = {"flame_4px_s": None, "spot_s": None}
    if t0 is None or rec.frame_t.size == 0:
        return out
    limit = (VISIBLE_C + ZERO_C_K) / rec.frame_resolution_k
    first = int(np.searchsorted(rec.frame_t, t0))
    base = rec.frames[first - 1] >= limit if first > 0 else np.zeros(rec.frames.shape[1:], bool)
    for i in range(first, rec.frame_t.size):
        n = int(((rec.frames[i] >= limit) & ~base).sum())
        if n >= 1 and out["spot_s"] is None:
            out["spot_s"] = float(rec.frame_t[i])
        if n >= 4:
            out["flame_4px_s"] = float(rec.frame_t[i])
            break
    return out


@dataclass(frozen=True)
class Job:
    """A run plus how to score it (picklable for worker processes)."""

    run: HeldoutRun
    model: Path | None
    public_key: Path | None
    allow_unsigned: bool
    modes: tuple[str, ...] = MODES
    config: Path | None = None  # a device config (its [alarm] and [flame]); defaults if None
    #: (lens blur σ px, offset K, gain error): every run as another camera records it
    camera_unit: tuple[float, float, float] | None = None
    #: (height factor, width factor, outline exponent): every flame painted with it
    flame_shape: tuple[float, float, float] | None = None
    #: °C: every run recorded in high gain as a camera whose high gain tops out there
    high_gain_ceiling_c: float | None = None


def evaluate_run(job: Job) -> dict[str, Any]:
    """Render one held-out run (from its engine) and replay it in every mode; a run CFAST
    cannot compute comes back as ``{..., "failed": why}`` (reported, never scored)."""
    from cloud.heldout.engines import as_another_camera, clip_high_gain, render
    from edge.sim.cfast.run import CfastError

    r = job.run
    try:
        rec = render(r, job.flame_shape)
    except CfastError as exc:
        why = str(exc).splitlines()[0]
        log.warning("held-out run %s seed %d not rendered: %s", r.scenario, r.seed, why)
        return {**asdict(r), "failed": why}
    if job.camera_unit is not None:
        as_another_camera(rec, *job.camera_unit)
    if job.high_gain_ceiling_c is not None:
        clip_high_gain(rec, job.high_gain_ceiling_c)
    holder = model_holder(job.model, job.public_key, job.allow_unsigned)
    config = load_config(job.config) if job.config is not None else None
    params = rec.meta.get("params", {})
    out: dict[str, Any] = {
        **asdict(r), "family": rec.meta["family"], "label": rec.meta["label"],
        "fire_start_s": rec.fire_start_s, "background": rec.meta.get("background"),
        "distance_m": params.get("camera_distance_m"),
        "occlusion": params.get("camera_occlusion"), **visible_times(rec), "modes": {},
        "high_gain_ceiling_c": rec.meta.get("high_gain_ceiling_c"),
        "model_version": holder.model.version if holder.model is not None else "rules-v1",
    }
    for key in ("smoke_detector_s", "heat_detector_s"):  # CFAST truth only (None: never)
        if key in rec.meta:
            out[key] = rec.meta[key]
    for mode in job.modes:
        out["modes"][mode] = replay_mode(rec, holder, mode, config)
    return out


def run_all(jobs: Sequence[Job], workers: int, progress: bool = True,
            sink: Callable[[int, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Every job, in ``workers`` processes; results in job order, each also handed to
    ``sink(index, result)`` as it arrives (so a long run keeps what it did)."""
    from tqdm import tqdm

    def keep(res: dict[str, Any]) -> None:
        if sink is not None:
            sink(len(results), res)
        results.append(res)

    bar = tqdm(total=len(jobs), desc="held-out runs", unit="run", disable=not progress)
    results: list[dict[str, Any]] = []
    try:
        if workers <= 1 or len(jobs) <= 1:
            with single_blas():
                for job in jobs:
                    keep(evaluate_run(job))
                    bar.update()
        else:
            ctx = multiprocessing.get_context(
                "fork" if "fork" in multiprocessing.get_all_start_methods() else None)
            with ctx.Pool(min(workers, os.cpu_count() or 1, len(jobs)),
                          initializer=one_blas_thread) as pool:
                for res in pool.imap(evaluate_run, jobs, chunksize=1):
                    keep(res)
                    bar.update()
    finally:
        bar.close()
    return results


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cloud.heldout.suite", description=__doc__.split(
        "\n")[0])
    p.add_argument("--model", type=Path, help="artifact folder or .tar.gz (default: rules)")
    p.add_argument("--public-key", type=Path, help="Ed25519 public key the model is signed with")
    p.add_argument("--allow-unsigned", action="store_true", help="accept an unsigned model")
    p.add_argument("--out", type=Path, required=True, help="report folder (created)")
    p.add_argument("--runs", type=int, default=20, help="runs per family (default 20)")
    p.add_argument("--duration", type=float, default=600.0, help="run length, s")
    p.add_argument("--slow-duration", type=float, default=None,
                   help="run length of F3–F5 (slow fires), s; default --duration")
    p.add_argument("--nuisance-duration", type=float, default=None,
                   help="run length of the nuisances (N1–N6, CFAST's CN*), s; default --duration")
    p.add_argument("--rate", type=float, default=1.0, help="frame rate of most runs, Hz")
    p.add_argument("--full-rate-runs", type=int, default=2,
                   help="runs per family at the Lepton's full 8.7 Hz")
    p.add_argument("--engine", choices=("ours", "cfast", "both"), default="ours",
                   help="render the runs with our scene engine, NIST CFAST (edge.sim.cfast; "
                        "families cfast_*) or both (default: ours)")
    p.add_argument("--families", default="",
                   help="comma-separated subset (default: all of the engine's families)")
    p.add_argument("--seed-base", type=int, default=DEFAULT_SEED_BASE)
    p.add_argument("--ablation-runs", type=int, default=None,
                   help="replay the thermal-only and CO2-only ablations on only the first N "
                        "runs of each family (default: every run)")
    p.add_argument("--no-watches", action="store_true",
                   help="also replay the ablation runs fused with the flame, smoulder and gas "
                        "watches off ([flame]/[smoulder]/[gas] enabled = false)")
    p.add_argument("--camera-unit", default=None, metavar="SIGMA,OFFSET,GAIN",
                   help="record every run as another camera would: a lens blur of SIGMA px "
                        "(in band radiance), a radiometric offset in K and a gain error "
                        "(edge.sim.camera_unit), e.g. 1.0,-3,-0.06 (default: as rendered)")
    p.add_argument("--flame-shape", default=None, metavar="HEIGHT,WIDTH,EXP",
                   help="paint every run's flames with this geometry (edge.sim.flame_shape): "
                        "× the flame height, × its base width, the outline exponent (0.5: our "
                        "paraboloid), e.g. 1.4,0.8,1.0 (default: as rendered)")
    p.add_argument("--lepton", choices=LEPTONS, default=LEPTONS[0],
                   help="the camera every run is rendered for: a Lepton 3.5 (160 × 120, the "
                   "default, as training renders) or 2.5 (80 × 60)")
    p.add_argument("--high-gain-ceiling", type=float, default=None, metavar="C",
                   help="record every run rendered in high gain as a camera whose high gain "
                        "tops out at C °C (the Lepton's is specified to 140 ±5 °C; ours clip "
                        "at 140–182), e.g. 138 (default: as rendered)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--config", type=Path, default=None,
                   help="replay with this device config's [alarm] and [flame] (default: the "
                        "defaults)")
    p.add_argument("--lag", type=float, default=30.0,
                   help="seconds after onset left out of frame scores (sensor lag)")
    p.add_argument("--from-raw", type=Path, default=None, metavar="DIR",
                   help="no new runs: report on the raw/*.json results an earlier (possibly "
                        "interrupted) evaluation left in DIR")
    p.add_argument("--lofo", type=Path, default=None,
                   help="the training report's metrics.json, for its leave-one-family-out part")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    import json

    from cloud.heldout.engines import parse_camera_unit, parse_flame_shape, plan_engine_runs
    from cloud.heldout.raw import load_raw, raw_sink
    from cloud.heldout.report import write_report
    from cloud.heldout.summary import summarise
    from edge.errors import ConfigError, ModelError

    args = build_parser().parse_args(argv)
    from cloud.heldout.logs import configure_logging

    configure_logging(args.verbose)
    try:
        runs = plan_engine_runs(args.engine, args.runs, args.duration, args.rate,
                                full_rate_runs=args.full_rate_runs, seed_base=args.seed_base,
                                families=[f for f in args.families.split(",") if f],
                                slow_duration_s=args.slow_duration,
                                nuisance_duration_s=args.nuisance_duration)
        runs = [replace(r, lepton=args.lepton) for r in runs]
        unit = parse_camera_unit(args.camera_unit) if args.camera_unit else None
        shape = parse_flame_shape(args.flame_shape) if args.flame_shape else None
        ceiling = args.high_gain_ceiling
        if ceiling is not None and not (math.isfinite(ceiling) and ceiling > 0.0):
            raise ValueError(f"--high-gain-ceiling {ceiling}; allowed: a temperature above "
                             "0 °C")
        if args.config is not None:
            load_config(args.config)  # a bad file stops here, named, not in every worker
        manifest: dict[str, Any] = {}
        if args.model is not None:
            holder = model_holder(args.model, args.public_key, args.allow_unsigned)
            manifest = holder.model.manifest
            check_disjoint(runs, training_seeds(manifest))
    except (ValueError, ModelError, ConfigError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    if args.out.exists() and any(args.out.iterdir()):
        print(f"evaluate: {args.out} is not empty; refusing to overwrite a report",
              file=sys.stderr)
        return 2
    _HOLDERS.clear()  # workers load their own copy after the fork
    index: dict[str, int] = {}
    jobs = []
    for r in runs:
        i = index[r.scenario] = index.get(r.scenario, -1) + 1
        full = args.ablation_runs is None or i < args.ablation_runs
        jobs.append(Job(r, args.model, args.public_key, args.allow_unsigned,
                        (MODES + ("no_watches",) * args.no_watches) if full else ("fused",),
                        args.config, unit, shape, ceiling))
    if args.from_raw is not None:
        results = load_raw(args.from_raw)
        if not results:
            print(f"evaluate: no raw/*.json results in {args.from_raw}", file=sys.stderr)
            return 2
    else:
        results = run_all(jobs, args.workers, sink=raw_sink(args.out / "raw"))
    failed = [r for r in results if "failed" in r]
    results = [r for r in results if "failed" not in r]
    if not results:
        print(f"evaluate: none of the {len(failed)} runs could be rendered: "
              f"{failed[0]['failed']}", file=sys.stderr)
        return 2
    summary = summarise(results, lag_s=args.lag)
    summary["failed_runs"] = [{k: r[k] for k in ("engine", "scenario", "seed", "failed")}
                              for r in failed]
    summary["model"] = {"version": results[0].get("model_version", "rules-v1"),
                        "training_data": manifest.get("training_data"),
                        "threshold": results[0]["modes"]["fused"]["threshold"]}
    summary["engine"] = args.engine
    summary["command"] = "python -m cloud.heldout.suite " + " ".join(
        sys.argv[1:] if argv is None else argv)
    lofo = json.loads(args.lofo.read_text()) if args.lofo else None
    write_report(args.out, results, summary, lofo)
    print(f"report: {args.out / 'report.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
