"""
Train the firedetect ensemble
=============================

Simulated recordings (or recorded ones, or the seed's JSON samples) are turned into the
features of ``--feature-set`` (``seed-v1``: the 18; ``fd-v2``: with history; ``fd-v3``: with
minutes of history) by the very code the device runs, split by recording into train /
validation / test (stratified by engine and family; validation holds runs of every engine),
and used to fit the seed's ensemble (random
forest + gradient boosting + logistic regression). The members are weighted by their
validation score, the weighted score is calibrated on the validation runs (Platt or
isotonic), the alarm threshold is chosen on the calibrated score,
and the result is scored per frame and per fire event, written as a signed artifact with its
report, and optionally uploaded to S3.

::

    python cloud/train.py --keygen keys/                 # once: a signing key pair
    python cloud/train.py --simulate 400 --signing-key keys/model-signing.pem --out models/
    python cloud/train.py --rollback VERSION --upload s3://bucket/prod/ --signing-key keys/...

Run ``python cloud/train.py --help`` for every option; ``--sagemaker`` runs the same script
as a SageMaker training job (cloud/sagemaker.py).
"""

# %%
# Setup
# -----
# The script runs from a checkout (``python cloud/train.py``) and inside the SageMaker
# container, where the source folder is unpacked and this file is started by path.
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from cloud.training import options as train_cli
from cloud.training.data import Dataset, Skipped, load_paths, skip_summary
from cloud.training.evaluate import evaluate, fit_on_split, holdout_families
from cloud.training.fleet_report import fleet_heldout, fleet_summary
from cloud.training.report import feature_importances, write_report
from cloud.training.simulated import WATCHED_SLOW, sim_jobs, simulate
from cloud.training.splits import recording_split, split_devices
from cloud.training.validation import validation_report
from edge.errors import TrainingDataError
from edge.features import FEATURE_SETS, FeatureParams

log = logging.getLogger("cloud.train")


def main(argv: Sequence[str] | None = None) -> int:
    # %%
    # Options, and the signing key — checked before any work starts
    # ------------------------------------------------------------
    args = train_cli.parse(argv)
    train_cli.configure_logging(args.verbose)
    if args.keygen is not None:
        return train_cli.keygen(args.keygen)
    if args.rollback is not None:
        return train_cli.rollback(args)
    if args.sagemaker:
        from cloud.sagemaker import launch_from_args

        return launch_from_args(args)
    try:
        key = train_cli.signing_key(args)
        cfg = train_cli.ensemble_config(args)
    except ValueError as exc:
        return train_cli.fail(str(exc))
    params = FeatureParams()

    # %%
    # Data: simulated recordings and/or files, featurised with edge.features
    # -----------------------------------------------------------------------
    parts: list[Dataset] = []
    skipped: list[Skipped] = []
    select: Dataset | None = None  # --select(-slow)-runs: they only choose threshold and bars
    try:
        if args.simulate:
            jobs = sim_jobs(args.simulate, args.seed, args.sim_duration, args.sim_rate,
                            args.lag, params, slow_duration_s=args.sim_slow_duration,
                            nuisance_duration_s=args.sim_nuisance_duration,
                            labels=args.labels, engines=args.sim_engines,
                            vary=args.sim_variation, feature_set=args.feature_set)
            parts.append(simulate(jobs, workers=args.workers))
        chosen: list[Dataset] = []
        for n, offset, families in ((args.select_runs, 1, None),
                                    (args.select_slow_runs, 2, WATCHED_SLOW)):
            if not (n and args.simulate):
                continue
            # Their own seeds: the main jobs take seed·100003 + i, the selection runs
            # (seed + 1)·100003 + i, the slow selection runs (seed + 2)·100003 + i
            jobs = sim_jobs(n, args.seed + offset, args.sim_duration, args.sim_rate,
                            args.lag, params, slow_duration_s=args.sim_slow_duration,
                            nuisance_duration_s=args.sim_nuisance_duration,
                            labels=args.labels, engines=args.sim_engines,
                            vary=args.sim_variation, feature_set=args.feature_set,
                            families=families)
            chosen.append(simulate(jobs, workers=args.workers))
        if chosen:
            select = Dataset.concat(chosen)
        if args.data:
            loaded, skipped = load_paths(args.data, params=params, strict=args.strict,
                                         endpoint_url=args.s3_endpoint_url, lag_s=args.lag,
                                         labels=args.labels, feature_set=args.feature_set)
            parts.append(loaded)
    except (TrainingDataError, ValueError) as exc:
        return train_cli.fail(str(exc))
    if args.data:
        print(skip_summary(skipped), file=sys.stderr)
    ds = Dataset.concat(parts)
    if len(ds) == 0:
        return train_cli.fail("no training data: give --simulate N and/or --data PATH with "
                              "usable files")
    log.info("%d rows from %d recordings/files", len(ds), len(ds.groups))

    # %%
    # Split by recording (never by row), stratified by engine and family; the validation
    # runs (where the threshold is chosen) hold fire and no-fire runs of every engine
    # -----------------------------------------------------------------------------------
    split = recording_split(ds, args.seed)
    # Fleet clips go by device: every clip of a held-out device is held out
    split = split_devices(split, [g.device for g in ds.groups], ds.has_fire(), seed=args.seed)
    # The selection runs join the data after the split: they choose, never fit or report
    if select is not None and len(select.groups):
        first = len(ds.groups)
        ds = Dataset.concat([ds, select])
        split = replace(split, select=tuple(range(first, len(ds.groups))))

    # %%
    # Fit the members, weight them, calibrate, choose the threshold on validation recordings
    # -------------------------------------------------------------------------------------
    try:
        ens = fit_on_split(ds, split, cfg, progress=True)
    except ValueError as exc:
        return train_cli.fail(str(exc))

    # %%
    # Score the held-out test recordings: frames and events per family
    # -----------------------------------------------------------------
    ev = evaluate(ds, ens, split.test)
    holdout = ({} if not args.holdout_families
               else holdout_families(ds, split, cfg, progress=True))
    metrics = train_cli.metrics_doc(args, ds, split, ens, ev, holdout)
    metrics["calibration"] = ens.calibration_report
    metrics["validation"] = dict(validation_report(ds, ens, split.val, cfg))
    if ens.flame_bar is not None:
        metrics["flame_bar"] = ens.flame_bar.as_dict()
    if ens.hold_bar is not None:
        metrics["hold_bar"] = ens.hold_bar.as_dict()
    if ens.smoulder_bar is not None:
        metrics["smoulder_bar"] = ens.smoulder_bar.as_dict()
    if ens.gas_bar is not None:
        metrics["gas_bar"] = ens.gas_bar.as_dict()
    if ds.clips:  # how much fleet data went in, and the model on the held-out devices' clips
        metrics["fleet"] = fleet_summary(ds) | {"heldout": fleet_heldout(ds, ens, split.test)}
    train_cli.print_summary(metrics)
    cal = ens.calibration_report
    print(f"  calibration: {cal['method']} (validation log-loss {cal['before']['log_loss']:.4f}"
          f" → {cal['after']['log_loss']:.4f}, Brier {cal['before']['brier']:.4f} → "
          f"{cal['after']['brier']:.4f}); threshold {ens.threshold:.4f}", file=sys.stderr)
    if ens.flame_bar is not None:
        fb = ens.flame_bar
        top = "–" if fb.highest_nuisance is None else f"{fb.highest_nuisance:.3f}"
        print(f"  flame corroboration: {fb.bar:.3f} (validation nuisances growing with a score "
              f"up to {top}" + ("" if fb.highest_stream is None else f" in {fb.highest_stream}")
              + f", in {fb.growing_streams} of {fb.streams} streams; "
              f"{fb.fires_corroborated} of {fb.fires} growing fires corroborated)",
              file=sys.stderr)
        print("  flame bar → no-fire streams alarming, growing fires alarmed, median wait: "
              + "; ".join(f"{b:g} → {n}, {c}, " + ("–" if w is None else f"{w:.1f} s")
                          for b, n, c, w in fb.curve), file=sys.stderr)
        print("  flame ladder (growing for → bar, no-fire streams growing that long, highest): "
              + "; ".join(f"{sec:g} s → " + ("–" if b is None else f"{b:.3f}")
                          + f", {n}" + ("" if who is None else f", {who}")
                          for sec, b, n, who in fb.ladder_rungs)
              + "; rungs kept: " + (", ".join(f"{sec:g} s at {b:.3f}" for sec, b in fb.ladder)
                                    or "none"), file=sys.stderr)

    if ens.hold_bar is not None:
        hb = ens.hold_bar
        print("  sustained alarm: " + ("none" if hb.bar is None else f"{hb.bar:.3f}")
              + f" held {hb.seconds:g} s (validation no-fire runs hold up to "
              f"{hb.highest_nuisance:.3f}, {hb.streams} streams; {hb.fires_held} of {hb.fires} "
              "fire runs reach it)", file=sys.stderr)
    if ens.smoulder_bar is not None:
        sb = ens.smoulder_bar
        weakest = "–" if sb.weakest_fire is None else f"{sb.weakest_fire:.3f}"
        unset = ("none" if sb.bar_if_chosen is None else
                 f"none (fewer than {sb.min_fires} fires; it would be {sb.bar_if_chosen:.3f})")
        print("  smoulder corroboration: " + (unset if sb.bar is None else f"{sb.bar:.3f}")
              + f" ({sb.fires} validation fires found smouldering, the weakest scoring {weakest}"
              f" within {sb.step_s:g} s; {sb.silenced} of {sb.smouldering_streams} smouldering "
              f"no-fire streams under it, of {sb.streams})", file=sys.stderr)
        print("  smoulder bar → no-fire streams alarming, fires within a step, fires at all: "
              + "; ".join(f"{b:g} → {n}, {c}, {a}" for b, n, c, a in sb.curve), file=sys.stderr)
        if sb.early is not None:
            eb = sb.early
            print("  early smoulder: " + ("none" if eb.rule is None
                                          else f"{eb.steps} steps at {eb.bar:.3f}")
                  + " (per step count: bar; highest no-fire score, streams; fires sooner of "
                  "those seen; median gain: " + "; ".join(
                      f"{c.steps} → {'–' if c.bar is None else f'{c.bar:.3f}'}; "
                      f"{'–' if c.highest_nuisance is None else f'{c.highest_nuisance:.3f}'}, "
                      f"{c.streams}; {c.sooner} of {c.fires}; "
                      f"{'–' if c.median_gain_s is None else f'{c.median_gain_s:.0f} s'}"
                      for c in eb.candidates) + ")", file=sys.stderr)

    if ens.gas_bar is not None:
        gb = ens.gas_bar
        top = "–" if gb.highest_nuisance is None else f"{gb.highest_nuisance:.3f}"
        print("  gas alone: " + ("none" if gb.bar is None else f"{gb.bar:.3f}")
              + f" held {gb.hold_s:g} s (validation no-fire streams hold up to {top}"
              + ("" if gb.highest_stream is None else f" in {gb.highest_stream}") + ", "
              f"{gb.streams} streams; {gb.fires_alarmed} of {gb.fires} fire runs reach it)",
              file=sys.stderr)
        print("  gas bar → no-fire streams alarming, fires alarmed, median time from ignition: "
              + "; ".join(f"{b:g} → {n}, {c}, " + ("–" if m is None else f"{m:.0f} s")
                          for b, n, c, m in gb.curve), file=sys.stderr)

    # %%
    # The signed artifact (ONNX + joblib members, golden scores, manifest)
    # --------------------------------------------------------------------
    from cloud.artifact.write import write_artifact

    test_rows = ds.rows_of(list(split.test))
    rng = np.random.default_rng(args.seed)
    check = ds.X[np.sort(rng.choice(test_rows, min(2000, test_rows.size), replace=False))]
    golden = ds.X[np.sort(rng.choice(test_rows, min(32, test_rows.size), replace=False))]
    info = write_artifact(
        args.out,
        pipelines=ens.pipelines,
        weights=ens.weights,
        threshold=ens.threshold,
        feature_params=params.as_dict(args.feature_set),
        feature_set=args.feature_set,
        feature_names=FEATURE_SETS[args.feature_set],
        metrics=train_cli.manifest_metrics(metrics),
        training_data={"id": ds.fingerprint(), "n_samples": len(ds),
                       "n_groups": len(ds.groups), "sources": train_cli.sources(args)},
        golden_inputs=golden.astype(np.float64),
        X_check=check.astype(np.float64),
        private_key=key,
        unsigned=key is None,
        calibration=None if ens.calibration is None else ens.calibration.as_dict(),
        **ens.detection(),
    )
    print(f"artifact: {info.path} ({info.tarball.name})", file=sys.stderr)

    # %%
    # The report: metrics.json and report.html with the plots
    # --------------------------------------------------------
    report_dir = args.report_dir or info.path.parent / f"{info.version}-report"
    metrics["version"] = info.version
    write_report(Path(report_dir), metrics, y_test=ev.y.astype(np.float64),
                 test_probs=ev.probs, importance=feature_importances(ens.pipelines,
                                                                     FEATURE_SETS[args.feature_set]))
    print(f"report: {report_dir}/report.html", file=sys.stderr)
    if ens.choice is not None:  # the runs the bars were chosen on: audit or choose again
        choice = ens.choice.save(Path(report_dir) / "choice.npz")
        print(f"chosen on: {choice} (python -m cloud.training.choice {choice})", file=sys.stderr)

    # %%
    # Publish to S3 (versions/<version>.tar.gz, then latest.json)
    # ------------------------------------------------------------
    if args.upload:
        from cloud.artifact.s3 import upload_artifact

        key_name = upload_artifact(info.tarball, args.upload, endpoint_url=args.s3_endpoint_url,
                                   private_key=key)  # key None (--unsigned): unsigned pointer
        print(f"uploaded: {key_name} under {args.upload}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
