"""``firedetect plot REC.npz --out REC.png [--replay [--model PATH] [--public-key PEM]]``.

Without ``--replay``: a picture of the recording to judge it by (gas, thermal, features,
thumbnails; ``edge.plot``). With ``--replay``: the daemon's pipeline over it (as ``firedetect
replay``) drawn as the fire score against the threshold, the evidence sources, and the
events, beside thermal thumbnails at the events (``edge.plot_replay``), so a person can see
why a recording alarmed or did not. The picture is a ``.png`` or ``.svg``. matplotlib is in
the ``train`` extra: without it the command says so and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.errors import RecordingError
from edge.recording import Recording, load_recording

FORMATS = (".png", ".svg")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plot", help="draw a recording (or, with --replay, why it alarmed)")
    p.add_argument("recording", type=Path, help="the .npz recording")
    p.add_argument("--out", type=Path, required=True, help="the picture to write (.png, .svg)")
    p.add_argument("--no-features", action="store_true", help="skip the feature panel")
    p.add_argument("--replay", action="store_true",
                   help="run the pipeline over it: score, threshold, evidence, events")
    p.add_argument("--model", type=Path, help="with --replay: a model folder or .tar.gz")
    p.add_argument("--public-key", type=Path, metavar="PEM",
                   help="with --replay: the Ed25519 public key the model is signed with")
    p.add_argument("--config", type=Path, help="with --replay: the TOML config file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() not in FORMATS:
        print(f"{args.out}: the picture must be a {' or '.join(FORMATS)} file; given "
              f"{args.out.suffix or 'no extension'}", file=sys.stderr)
        return 2
    if not args.replay and (args.model or args.public_key or args.config):
        print("--model, --public-key and --config go with --replay", file=sys.stderr)
        return 2
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("firedetect plot needs matplotlib, which is in the train extra (not part of a "
              "device install): pip install 'firedetect[train]'", file=sys.stderr)
        return 2
    try:
        rec = load_recording(args.recording)
        if args.replay:
            return _replay(args, rec)
        from edge.plot import plot_recording

        plot_recording(rec, args.out, features=not args.no_features)
    except RecordingError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.out}: written")
    return 0


def _replay(args: argparse.Namespace, rec: Recording) -> int:
    from edge.commands.replay import configured, replay_pipeline
    from edge.plot_replay import plot_replay, trace_replay

    config = configured(args)
    if isinstance(config, str):
        print(config, file=sys.stderr)
        return 2
    pipeline = replay_pipeline(config)
    if isinstance(pipeline, str):
        print(pipeline, file=sys.stderr)
        return 2
    trace = trace_replay(rec, pipeline)
    plot_replay(rec, trace, args.out, title=args.recording.name)
    alarms = sum(1 for _, kind, _ in trace.events if kind == "alarm")
    print(f"{args.out}: written ({alarms} alarm(s), {len(trace.events)} event(s))")
    return 0
