"""Judge across engines: train on one physics engine, test on the other, both ways, and on
the mix (issue 14).

``python -m cloud.heldout.cross --out DIR`` trains one model per training set (``ours``,
``cfast``, ``both``: ``--train-sets``) with the project's own training code on TRAINING
seeds (``cloud.heldout.xcorpus``), signs each with a throwaway key made in a temporary
folder, and replays HELD-OUT runs of each engine (seeds disjoint from training, checked
before any work and again against each model's manifest) through the device's pipeline
with each model, in the modes fused, thermal only, CO2 only and no watches
(``cloud.heldout.xrun``). It writes ``DIR/runs.json`` (every run's truth, events and scores
per model and mode), ``DIR/summary.json`` and ``DIR/table.md`` (``cloud.heldout.xtable``),
and keeps the models under ``DIR/models``.

Renders are cached between training and testing and between invocations (``--cache``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cloud.heldout.suite import DEFAULT_SEED_BASE
from cloud.heldout.xcorpus import ENGINE_SETS, SELECT_SEED_OFFSET, TRAIN_SEED_BASE, default_cache
from cloud.heldout.xrun import XMODES

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cloud.heldout.cross",
                                description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="report folder (created; empty)")
    p.add_argument("--train-sets", default="ours,cfast,both",
                   help="training engine sets, from ours,cfast,both (default all three)")
    p.add_argument("--test-engines", default="ours,cfast",
                   help="engines of the held-out runs, from ours,cfast (default both)")
    p.add_argument("--runs-train", type=int, default=4, help="training runs per family")
    p.add_argument("--runs-test", type=int, default=3, help="held-out runs per family")
    p.add_argument("--runs-select", type=int, default=0,
                   help="runs per family of each training set's engines that only help choose "
                        "its threshold and flame bar (cloud/train.py --select-runs; default 0)")
    p.add_argument("--duration", type=float, default=600.0, help="run length, s")
    p.add_argument("--slow-duration", type=float, default=None,
                   help="run length of the slow families (F3–F5, cfast_smoulder), s; "
                        "default --duration")
    p.add_argument("--nuisance-duration", type=float, default=None,
                   help="run length of the nuisance families (training, selection and "
                        "held-out runs alike), s; cloud/train.py --sim-nuisance-duration; "
                        "default --duration")
    p.add_argument("--rate", type=float, default=1.0, help="frame rate, Hz")
    p.add_argument("--families", default="",
                   help="comma-separated families of either engine (default: all)")
    p.add_argument("--feature-set", default="fd-v3",
                   help="feature set to train on: seed-v1, fd-v2, fd-v3, fd-v4, fd-v5 or fd-v6 "
                        "(default fd-v3, as cloud/train.py)")
    p.add_argument("--labels", choices=("onset", "observable"), default="observable",
                   help="fire rows' labels (default observable, as cloud/train.py)")
    p.add_argument("--modes", default=",".join(XMODES),
                   help=f"replays, from {','.join(XMODES)} (default all)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=42, help="seed of splits and models")
    p.add_argument("--train-seed-base", type=int, default=TRAIN_SEED_BASE)
    p.add_argument("--select-seed-base", type=int, default=TRAIN_SEED_BASE + SELECT_SEED_OFFSET,
                   help="seed base of the --runs-select runs")
    p.add_argument("--seed-base", type=int, default=DEFAULT_SEED_BASE,
                   help="seed base of the held-out runs")
    p.add_argument("--cache", type=Path, default=None,
                   help="render cache (default $FIREDETECT_XEVAL_CACHE or "
                        "~/.cache/firedetect/xeval)")
    p.add_argument("--no-cache", action="store_true", help="render everything afresh")
    p.add_argument("--lag", type=float, default=30.0,
                   help="seconds after ignition left out of frame scores")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def _choices(text: str, allowed: Sequence[str], option: str) -> list[str]:
    items = [x for x in text.split(",") if x]
    bad = [x for x in items if x not in allowed]
    if bad or not items:
        raise ValueError(f"{option} {text!r}; allowed: a comma-separated subset of "
                         f"{','.join(allowed)}")
    return items


def summarise(results: Sequence[dict[str, Any]], train_sets: Sequence[str],
              modes: Sequence[str], lag_s: float) -> dict[str, Any]:
    """Every (training set, held-out engine, mode) cell with its stats and, fused, targets."""
    from cloud.heldout.xrun import per_model
    from cloud.heldout.xtable import cell_stats, targets

    cells = []
    for name in train_sets:
        runs = per_model(results, name)
        for engine in sorted({r["engine"] for r in runs}, key=("ours", "cfast").index):
            sub = [r for r in runs if r["engine"] == engine]
            for mode in modes:
                cell: dict[str, Any] = {"train": name, "test": engine, "mode": mode,
                                        "cross": engine not in ENGINE_SETS[name],
                                        "stats": cell_stats(sub, mode, lag_s)}
                if mode == "fused":
                    cell["targets"] = targets(sub, lag_s)
                cells.append(cell)
    return {"cells": cells, "lag_s": lag_s}


def main(argv: Sequence[str] | None = None) -> int:
    from cloud.artifact.signing import generate_keypair
    from cloud.heldout.raw import _plain
    from cloud.heldout.suite import _HOLDERS, check_disjoint, model_holder
    from cloud.heldout.xcorpus import (
        check_seeds_disjoint,
        feature_set_kwargs,
        manifest_seeds,
        plan_set,
        train_model,
    )
    from cloud.heldout.xrun import XJob, run_xjobs
    from cloud.heldout.xtable import markdown
    from edge.errors import ModelError

    args = build_parser().parse_args(argv)
    from cloud.heldout.logs import configure_logging

    configure_logging(args.verbose)
    families = [f for f in args.families.split(",") if f]
    try:
        train_sets = _choices(args.train_sets, list(ENGINE_SETS), "--train-sets")
        engines = _choices(args.test_engines, ["ours", "cfast"], "--test-engines")
        modes = _choices(args.modes, XMODES, "--modes")
        if "fused" not in modes:
            modes.insert(0, "fused")  # the targets are on the fused replay
        feature_set_kwargs(args.feature_set)
        if args.runs_train < 1 or args.runs_test < 1 or args.workers < 1:
            raise ValueError(f"--runs-train {args.runs_train}, --runs-test {args.runs_test}, "
                             f"--workers {args.workers}; allowed: each ≥ 1")
        if args.runs_select < 0:
            raise ValueError(f"--runs-select {args.runs_select}; allowed: 0 or more")
        train_plans = {n: plan_set(ENGINE_SETS[n], args.runs_train, args.duration, args.rate,
                                   seed_base=args.train_seed_base, families=families,
                                   slow_duration_s=args.slow_duration,
                                   nuisance_duration_s=args.nuisance_duration)
                       for n in train_sets}
        test_runs = plan_set(engines, args.runs_test, args.duration, args.rate,
                             seed_base=args.seed_base, families=families,
                             slow_duration_s=args.slow_duration,
                             nuisance_duration_s=args.nuisance_duration)
        select_plans = {n: plan_set(ENGINE_SETS[n], args.runs_select, args.duration,
                                    args.rate, seed_base=args.select_seed_base,
                                    families=families, slow_duration_s=args.slow_duration,
                                    nuisance_duration_s=args.nuisance_duration)
                        if args.runs_select else [] for n in train_sets}
        for name, plan in train_plans.items():
            check_seeds_disjoint(plan, test_runs)
            check_seeds_disjoint(select_plans[name], test_runs)
            check_seeds_disjoint(plan, select_plans[name])
    except ValueError as exc:
        print(f"cross: {exc}", file=sys.stderr)
        return 2
    if args.out.exists() and any(args.out.iterdir()):
        print(f"cross: {args.out} is not empty; refusing to overwrite a report",
              file=sys.stderr)
        return 2
    cache = None if args.no_cache else (args.cache or default_cache())
    models: list[tuple[str, Path]] = []
    training: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="xeval-key-") as keydir:
        pub = Path(keydir) / "model-signing.pub.pem"
        key = generate_keypair(Path(keydir) / "model-signing.pem", pub)
        try:
            for name, plan in train_plans.items():
                print(f"cross: training on {name} ({len(plan)} runs)", file=sys.stderr)
                path, info = train_model(plan, args.out / "models" / name, key,
                                         feature_set=args.feature_set, cache=cache,
                                         workers=args.workers, seed=args.seed, name=name,
                                         labels=args.labels, select=select_plans[name])
                models.append((name, path))
                training[name] = info
                holder = model_holder(path, pub, False)  # verified exactly as on a device
                check_disjoint(test_runs, manifest_seeds(holder.model.manifest))
        except (ValueError, ModelError) as exc:
            print(f"cross: {exc}", file=sys.stderr)
            return 2
        _HOLDERS.clear()  # workers load their own copy after the fork
        jobs = [XJob(r, tuple(models), pub, tuple(modes), cache) for r in test_runs]
        results = run_xjobs(jobs, args.workers)
    failed = [r for r in results if "failed" in r]
    summary = summarise(results, train_sets, modes, args.lag)
    summary.update(training=training, failed_runs=[
        {k: r[k] for k in ("engine", "scenario", "seed", "failed")} for r in failed],
        command="python -m cloud.heldout.cross " + " ".join(
            sys.argv[1:] if argv is None else argv))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runs.json").write_text(json.dumps(_plain(results)), encoding="utf-8")
    (args.out / "summary.json").write_text(json.dumps(_plain(summary), indent=1, default=str),
                                           encoding="utf-8")
    (args.out / "table.md").write_text(markdown(summary), encoding="utf-8")
    print(f"table: {args.out / 'table.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
