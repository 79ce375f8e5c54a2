"""The options of ``cloud/train.py`` and the small steps around training (key, summary).

Inside a SageMaker training container (``SM_CHANNEL_TRAIN``, ``SM_MODEL_DIR``,
``SM_OUTPUT_DATA_DIR`` set) the defaults follow the container: data from the ``train``
channel, the artifact into the model folder, the report into the output folder. The
container passes hyperparameters as ``--name value``, so every on/off option also accepts
an explicit value (``--unsigned true``).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.training.data import LABEL_MODES, Dataset
from cloud.training.ensemble import (
    MEMBER_NAMES,
    THRESHOLD_MODES,
    WEIGHT_METRICS,
    Ensemble,
    EnsembleConfig,
    parse_members,
    parse_params,
)
from cloud.training.evaluate import Evaluation
from cloud.training.splits import GroupSplit
from cloud.training.weighting import EARLY_S, GROWING_WEIGHT, SAMPLE_WEIGHTINGS
from edge.featuresets.registry import FEATURE_SETS

#: ``--unselected`` by default: an open fireplace lit in the camera's view. It is a flame, lit
#: and growing in view, as a fire is; a flame detector (EN 54-10) in view of one alarms, and
#: installers keep it out of view or mask it. Left to set the threshold, its runs alone cap it
#: (session 14: the only validation recording that alarmed at 0.95, and the only one that
#: pushed the flame bar to 0.95). It stays in training by default (its chimney takes most of
#: its CO2, which a fire's room does not) and in every report; the demo model leaves it out of
#: the fit with ``--untrained`` (its young flames taught the model to doubt a Christmas tree's,
#: docs/evaluation.md, "Issue 14, session 32").
UNSELECTED = ("cfast_fireplace_open",)

log = logging.getLogger(__name__)

PRIVATE_KEY_FILE = "model-signing.pem"
PUBLIC_KEY_FILE = "model-signing.pub.pem"


def _bool(text: str) -> bool:
    v = text.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}; allowed: true or false")


def _flag(p: argparse._ActionsContainer, name: str, default: bool, help: str) -> None:
    p.add_argument(name, nargs="?", const=True, default=default, type=_bool, metavar="BOOL",
                   help=help)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}; allowed: a whole number ≥ 1") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r}; allowed: a whole number ≥ 1")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}; allowed: a number > 0") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text!r}; allowed: a number > 0")
    return v


def _rate(text: str) -> float | None:
    """``vary`` (None: drawn per run) or a frame rate > 0."""
    if text.strip().lower() == "vary":
        return None
    try:
        return _positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r}; allowed: 'vary' or a number > 0"
                                         ) from None


def _engines(text: str) -> tuple[str, ...]:
    from cloud.training.simulated import parse_engines

    try:
        return parse_engines(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--sim-engines ")) from None


def build_parser() -> argparse.ArgumentParser:
    """Every option of ``cloud/train.py``."""
    env = os.environ
    p = argparse.ArgumentParser(prog="cloud/train.py", description="Train, evaluate, sign and "
                                "publish the firedetect ensemble.")
    d = p.add_argument_group("data")
    d.add_argument("--simulate", type=int, default=0, metavar="N",
                   help="render N recordings from the physics engines (balanced over the "
                        "engines and each engine's 12 families)")
    d.add_argument("--select-runs", type=int, default=0, metavar="N",
                   help="render N more recordings of the same engines and families (their own "
                        "seeds) used ONLY to choose the alarm threshold and the flame bar: "
                        "more nuisances to clear than the validation runs hold (default 0)")
    d.add_argument("--select-slow-runs", type=int, default=0, metavar="N",
                   help="render N more recordings of the slow fires whose spot the smoulder "
                        "watch can see (smouldering in view, electrical overheat, CFAST's "
                        "smoulder; their own seeds), used ONLY in those choices: the smoulder "
                        "watch's bar needs enough fires (default 0)")
    d.add_argument("--sim-engines", type=_engines, default=("ours", "cfast"),
                   metavar="LIST", help="engines of the simulated recordings: ours (edge.sim."
                   "scenarios), cfast (NIST CFAST, edge.sim.cfast), or ours,cfast (default)")
    _flag(d, "--sim-variation", True, "draw each run's installation (docs/scenarios.md, "
          "'Installation variation': rate, gain, distance, view, room, noise, FFC, gaps, "
          "glitches, lens blur, radiometric error, flame look; default on)")
    d.add_argument("--sim-duration", type=_positive_float, default=600.0, metavar="S",
                   help="length of each simulated recording, s (default 600)")
    d.add_argument("--sim-rate", type=_rate, default=None, metavar="HZ",
                   help="frame rate of simulated recordings, Hz, or 'vary': log-uniform "
                        "1–8.7 Hz per run (default vary; needs --sim-variation)")
    d.add_argument("--sim-slow-duration", type=_positive_float, default=None, metavar="S",
                   help="length of simulated smoulders and overheating (F3–F5), s; they take "
                        "tens of minutes to develop (default --sim-duration)")
    d.add_argument("--sim-nuisance-duration", type=_positive_float, default=None, metavar="S",
                   help="length of simulated nuisances (N1–N6, CFAST's CN*), s: a device "
                        "watches cooking, heaters and pans for longer than ten minutes "
                        "(default --sim-duration)")
    d.add_argument("--labels", choices=LABEL_MODES, default="observable",
                   help="fire rows: 'observable' (default) = from when the fire first shows to "
                        "a sensor, the span before left out; 'onset' = from ignition, with --lag "
                        "seconds left out")
    d.add_argument("--workers", type=_positive_int, default=2, help="processes for simulation")
    d.add_argument("--data", action="append", default=[], metavar="PATH",
                   help="a .json/.npz file, a folder, or s3://bucket/prefix/ (repeatable); "
                        "fleet clips there are paired with their .label.json verdicts "
                        "(docs/fleet.md)")
    d.add_argument("--s3-endpoint-url", default=None, metavar="URL",
                   help="endpoint of an S3-compatible store (data and --upload)")
    _flag(d, "--strict", False, "stop at the first bad file (exit 2) instead of skipping it")
    d.add_argument("--lag", type=float, default=30.0, metavar="S",
                   help="seconds after a fire's onset left out of frame scores (sensor lag)")
    d.add_argument("--feature-set", choices=tuple(FEATURE_SETS), default=None,
                   help="the features the model learns (docs/features.md); fd-v2 adds history, "
                        "fd-v3 adds minutes-long history to fd-v2, fd-v4 how fast the new hot "
                        "region's heating and growth speed up or slow down, fd-v5 whether the "
                        "frame and its new hot region sit at the camera's ceiling, fd-v6 how "
                        "many times larger the new hot region grew; all need "
                        "recordings (JSON samples carry seed-v1 only). Default: "
                        "seed-v1 when every --data path is a .json file and nothing is "
                        "simulated (the original format), else fd-v3 (the demo model names "
                        "fd-v5 explicitly: demo/config.toml)")
    m = p.add_argument_group("model")
    m.add_argument("--members", default=",".join(MEMBER_NAMES),
                   help="ensemble members, from rf,gb,lr")
    m.add_argument("--param", action="append", default=[], metavar="MEMBER.KEY=VALUE",
                   help="a member hyperparameter, e.g. rf.n_estimators=50 (repeatable)")
    m.add_argument("--threshold-mode", choices=THRESHOLD_MODES, default="events",
                   help="'events' (default): the lowest threshold at which the device's alarm "
                        "logic raises no alarm on the validation no-fire recordings, plus "
                        "--event-margin (visible flames are the flame watch's job, "
                        "edge/detect/flame.py); 'frames': a per-frame false-positive rate of "
                        "--target-far")
    m.add_argument("--event-margin", type=float, default=0.05, metavar="M",
                   help="added to the event threshold (default 0.05)")
    m.add_argument("--untrained", default="", metavar="FAMILIES",
                   help="families whose training runs the members are not fitted on "
                        "(comma-separated; default none); they still weight and calibrate the "
                        "members and are in every report")
    m.add_argument("--unselected", default=",".join(UNSELECTED), metavar="FAMILIES",
                   help="families whose validation runs do not set the alarm threshold nor "
                        "the flame watch's bar (comma-separated; '' for none); they stay in "
                        "training and in every report. Default: "
                        f"{','.join(UNSELECTED)}: an open fire lit in the camera's view is a "
                        "flame to any flame detector; installations mask it (docs/model-"
                        "artifact.md)")
    m.add_argument("--target-far", type=float, default=0.001, metavar="RATE",
                   help="per-frame false-positive rate the threshold is chosen for "
                        "(--threshold-mode frames)")
    m.add_argument("--weight-metric", choices=WEIGHT_METRICS, default="roc_auc",
                   help="validation score behind the member weights")
    m.add_argument("--degraded-fraction", type=float, default=0.1, metavar="F",
                   help="fraction of training rows copied with the gas block blanked, and as "
                        "many with the thermal block blanked (degraded mode; default 0.1)")
    m.add_argument("--sample-weighting", choices=SAMPLE_WEIGHTINGS, default="none",
                   help="'phases': each run's rows before its onset, in the first --early-s "
                        "seconds after it and later weigh the same in the fit; 'growing': the "
                        "frames the flame watch calls growing weigh --growing-weight "
                        "(cloud/training/weighting.py); 'none': every row counts once")
    m.add_argument("--early-s", type=_positive_float, default=EARLY_S, metavar="S",
                   help=f"the early phase of --sample-weighting phases (default {EARLY_S:g} s)")
    m.add_argument("--growing-weight", type=_positive_float, default=GROWING_WEIGHT, metavar="W",
                   help="the weight of a growing frame with --sample-weighting growing, ≥ 1 "
                        f"(default {GROWING_WEIGHT:g})")
    m.add_argument("--seed", type=int, default=42, help="seed of data, splits and models")
    _flag(m, "--holdout-families", True, "leave-one-family-out report (default on)")
    m.add_argument("--no-holdout-families", dest="holdout_families", action="store_false",
                   help="skip the leave-one-family-out report")
    o = p.add_argument_group("output")
    o.add_argument("--out", type=Path, default=Path(env.get("SM_MODEL_DIR", "models")),
                   help="artifact folder (default models/, or $SM_MODEL_DIR)")
    out_data = env.get("SM_OUTPUT_DATA_DIR")
    o.add_argument("--report-dir", type=Path, default=Path(out_data) if out_data else None,
                   help="report folder (default <out>/<version>-report)")
    o.add_argument("--signing-key", type=Path, default=None, metavar="FILE",
                   help="Ed25519 private key (PEM); else $FIREDETECT_SIGNING_KEY holds the PEM")
    _flag(o, "--unsigned", False, "write an unsigned artifact (devices refuse it by default)")
    o.add_argument("--upload", default=None, metavar="S3_URL",
                   help="publish the artifact to s3://bucket/prefix/")
    o.add_argument("--keygen", type=Path, default=None, metavar="DIR",
                   help=f"only write a key pair {PRIVATE_KEY_FILE} (0600) + {PUBLIC_KEY_FILE}")
    o.add_argument("--rollback", default=None, metavar="VERSION",
                   help="only point --upload's latest.json back at an already published "
                        "VERSION (signed, \"rollback\": true): devices install it although "
                        "it is older than theirs")
    o.add_argument("-v", "--verbose", action="count", default=0)
    s = p.add_argument_group("SageMaker (cloud/sagemaker.py)")
    _flag(s, "--sagemaker", False, "run this training as a SageMaker job and follow it")
    s.add_argument("--role", default=env.get("SAGEMAKER_ROLE_ARN"),
                   help="execution role ARN (default $SAGEMAKER_ROLE_ARN)")
    s.add_argument("--sm-s3", default=None, metavar="S3_URL",
                   help="s3://bucket/prefix/ for the job's code and output")
    s.add_argument("--instance-type", default="ml.m5.large")
    s.add_argument("--image-uri", default=None,
                   help="training image (default: the prebuilt scikit-learn one for the region)")
    s.add_argument("--region", default=None)
    s.add_argument("--job-name", default=None)
    return p


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse, and fill container defaults (the train channel when no data was named)."""
    args = build_parser().parse_args(argv)
    # The SageMaker container passes one value per option: several --param items as a;b.
    args.param = [item for p in args.param for item in p.split(";") if item.strip()]
    channel = os.environ.get("SM_CHANNEL_TRAIN")
    if channel and not args.data and not args.simulate:
        args.data = [channel]
    if args.simulate < 0:
        build_parser().error(f"--simulate {args.simulate}; allowed: 0 or more recordings")
    if args.select_slow_runs < 0 or (args.select_slow_runs and not args.simulate):
        build_parser().error(f"--select-slow-runs {args.select_slow_runs}; allowed: 0 or more "
                             "recordings, with --simulate")
    if args.select_runs < 0 or (args.select_runs and not args.simulate):
        build_parser().error(f"--select-runs {args.select_runs}; allowed: 0 or more recordings, "
                             "with --simulate (they are simulated as its runs are)")
    if args.feature_set is None:
        args.feature_set = default_feature_set(args.simulate, args.data)
    return args


def default_feature_set(simulate: int, data: Sequence[str]) -> str:
    """``seed-v1`` when the only data are JSON sample files (the original format carries the
    18 alone), else ``fd-v3`` (the default since session 13; the demo model's command names
    ``fd-v5`` explicitly, demo/config.toml)."""
    json_only = not simulate and bool(data) and all(map(_json_only, data))
    return "seed-v1" if json_only else "fd-v3"


def _json_only(path: str) -> bool:
    """A ``--data`` path that holds JSON samples only: a .json file, or a local folder whose
    data files are all .json (an S3 prefix is not listed here: it counts as recordings)."""
    if path.lower().endswith(".json"):
        return True
    folder = Path(path)
    if path.startswith("s3://") or not folder.is_dir():
        return False
    files = [f for f in folder.rglob("*") if f.suffix.lower() in (".json", ".npz")]
    return bool(files) and all(f.suffix.lower() == ".json" for f in files)


def configure_logging(verbosity: int) -> None:
    """Logs to stderr; warnings by default."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def fail(message: str) -> int:
    """Say what is wrong on stderr; exit status 2."""
    print(f"train.py: error: {message}", file=sys.stderr)
    return 2


def keygen(folder: Path) -> int:
    """Write a new key pair into ``folder``; refuses to overwrite."""
    from cloud.artifact.signing import generate_keypair

    folder.mkdir(parents=True, exist_ok=True)
    try:
        generate_keypair(folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE)
    except FileExistsError as exc:
        return fail(str(exc))
    print(f"private key: {folder / PRIVATE_KEY_FILE} (mode 0600, keep it secret)\n"
          f"public key:  {folder / PUBLIC_KEY_FILE} (give it to devices: model.public_key)")
    return 0


def rollback(args: argparse.Namespace) -> int:
    """``--rollback VERSION --upload S3_URL``: sign a rollback pointer; exit 0, or 2 naming
    what is wrong (no key, no URL, a version never published)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cloud.artifact.s3 import publish_rollback

    if not args.upload:
        return fail("--rollback needs --upload s3://bucket/prefix/ (where latest.json is)")
    if args.unsigned:
        return fail("--rollback with --unsigned: devices honour only a signed rollback")
    try:
        key = signing_key(args)
        if key is None:  # only with --unsigned, refused above
            return fail("--rollback needs the model-signing key")
        name = publish_rollback(args.rollback, args.upload, key,
                                endpoint_url=args.s3_endpoint_url)
    except (ValueError, ClientError, BotoCoreError) as exc:
        return fail(str(exc))
    print(f"latest.json under {args.upload} rolled back to {name} (signed)", file=sys.stderr)
    return 0


def signing_key(args: argparse.Namespace) -> Ed25519PrivateKey | None:
    """The key to sign with, or None with ``--unsigned``.

    :raises ValueError: neither a key nor ``--unsigned``, both, or an unreadable key.
    """
    from cloud.artifact.signing import SIGNING_KEY_ENV, load_private_key

    has_env = bool(os.environ.get(SIGNING_KEY_ENV))
    if args.unsigned:
        if args.signing_key is not None:
            raise ValueError("--unsigned with --signing-key: choose one")
        return None
    if args.signing_key is None and not has_env:
        raise ValueError(f"no signing key: pass --signing-key FILE, put the PEM in "
                         f"${SIGNING_KEY_ENV}, or pass --unsigned explicitly (make a key pair "
                         f"with --keygen DIR)")
    return load_private_key(args.signing_key)


def parse_families(text: str, option: str) -> tuple[str, ...]:
    """The value of ``option`` (``--unselected``, ``--untrained``): a comma-separated list of
    family names, each known to one engine.

    :raises ValueError: an unknown family, naming it and the known ones.
    """
    from cloud.training.simulated import SIM_ENGINES, engine_families

    names = tuple(f.strip() for f in text.split(",") if f.strip())
    known = {f for e in SIM_ENGINES for f in engine_families(e)}
    bad = [f for f in names if f not in known]
    if bad:
        raise ValueError(f"{option} {', '.join(bad)}: unknown famil"
                         f"{'y' if len(bad) == 1 else 'ies'}; allowed: {', '.join(sorted(known))}")
    return names


def ensemble_config(args: argparse.Namespace) -> EnsembleConfig:
    """The ensemble's settings from the options.

    :raises ValueError: for unknown members or hyperparameters, or a bad target rate.
    """
    if not 0.0 <= args.target_far < 1.0:
        raise ValueError(f"--target-far {args.target_far}; allowed: 0 ≤ rate < 1")
    if not 0.0 <= args.degraded_fraction <= 1.0:
        raise ValueError(f"--degraded-fraction {args.degraded_fraction}; allowed: 0 ≤ F ≤ 1")
    if not 0.0 <= args.event_margin < 1.0:
        raise ValueError(f"--event-margin {args.event_margin}; allowed: 0 ≤ margin < 1")
    if not (math.isfinite(args.growing_weight) and args.growing_weight >= 1.0):
        raise ValueError(f"--growing-weight {args.growing_weight}; allowed: a number ≥ 1")
    return EnsembleConfig(members=parse_members(args.members), params=parse_params(args.param),
                          seed=args.seed, target_far=args.target_far,
                          weight_metric=args.weight_metric, threshold_mode=args.threshold_mode,
                          event_margin=args.event_margin,
                          unselected=parse_families(args.unselected, "--unselected"),
                          untrained=parse_families(args.untrained, "--untrained"),
                          degraded_fraction=args.degraded_fraction,
                          sample_weighting=args.sample_weighting, early_s=args.early_s,
                          growing_weight=args.growing_weight)


def sources(args: argparse.Namespace) -> list[str]:
    """What the data came from, for the manifest."""
    out = list(args.data)
    if args.simulate:
        slow = (f"(F3-F5 {args.sim_slow_duration:g}s)" if args.sim_slow_duration is not None
                else "")
        if args.sim_nuisance_duration is not None:
            slow += f"(N {args.sim_nuisance_duration:g}s)"
        rate = "vary" if args.sim_rate is None else f"{args.sim_rate:g}"
        # No comma before ",seed=": cloud/heldout/suite.py reads N and the seed back.
        how = "+".join(args.sim_engines) + ("+varied" if args.sim_variation else "")
        out.insert(0, f"simulate:{args.simulate}x{args.sim_duration:g}s{slow}"
                      f"@{rate}Hz[{how}],seed={args.seed}")
    return out


def metrics_doc(args: argparse.Namespace, ds: Dataset, split: GroupSplit, ens: Ensemble,
                ev: Evaluation, holdout: Mapping[str, Any]) -> dict[str, Any]:
    """Everything metrics.json holds."""
    return {
        "data": {"n_rows": len(ds), "n_groups": len(ds.groups), "id": ds.fingerprint(),
                 "sources": sources(args), "train_groups": len(split.train),
                 "val_groups": len(split.val), "test_groups": len(split.test),
                 "select_groups": len(split.select),
                 "lag_s": args.lag, "labels": args.labels,
                 "feature_set": args.feature_set},
        "members": list(ens.pipelines),
        "weights": ens.weights,
        "validation_scores": ens.validation_scores,
        "weight_metric": args.weight_metric,
        "threshold": ens.threshold,
        "target_far": args.target_far,
        "threshold_mode": args.threshold_mode,
        "event_margin": args.event_margin,
        "unselected": list(parse_families(args.unselected, "--unselected")),
        "untrained": list(parse_families(args.untrained, "--untrained")),
        "sample_weighting": {"mode": args.sample_weighting, "early_s": args.early_s,
                             "growing_weight": args.growing_weight},
        "seed": args.seed,
        "frame": ev.frame,
        "families": ev.families,
        "holdout_families": dict(holdout),
    }


def manifest_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The short form kept in the manifest (frame scores of the ensemble, detection rates)."""
    from cloud.training.metrics import clean_json

    ens = metrics["frame"]["ensemble"]
    out = {k: ens[k] for k in ("roc_auc", "pr_auc", "f1", "accuracy", "fpr", "brier")}
    out["detection_rate"] = {f: v.get("detection_rate") for f, v in metrics["families"].items()
                             if "detection_rate" in v}
    out["target_far"] = metrics["target_far"]
    out["validation_scores"] = metrics["validation_scores"]
    result: dict[str, Any] = clean_json(out)
    return result


def print_summary(metrics: Mapping[str, Any]) -> None:
    """A few lines on stderr: frame scores and detection per family."""
    for name, m in metrics["frame"].items():
        print(f"{name:>13}: ROC-AUC {m['roc_auc']:.4f}  PR-AUC {m['pr_auc']:.4f}  "
              f"F1 {m['f1']:.4f}  FPR {m['fpr']:.5f}", file=sys.stderr)
    for fam, v in metrics["families"].items():
        det = (f"detected {v['detected']}/{v['fire_runs']}" if "fire_runs" in v
               else "no fire runs")
        print(f"{fam:>22}: {det}, {v['runs_with_false_alarm']}/{v['runs']} runs with a false "
              f"alarm", file=sys.stderr)
