"""``firedetect features REC.npz``: the feature vectors of a recording, as CSV on stdout.

Header ``t`` and the feature names of ``--feature-set`` (default ``seed-v1``, the 18) in
order; one row per vector of ``edge.features.featurize_recording`` (each frame, plus each
SCD41 reading taken while the frames were stale). Numbers are written in Python's shortest
round-trip form; a missing value (NaN: a sensor without fresh data) is an empty field.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from pathlib import Path

from edge.errors import RecordingError
from edge.features import FEATURE_SETS, FeatureParams, featurize_recording
from edge.recording import load_recording


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "features", help="compute the features of a recording and write them as CSV"
    )
    p.add_argument("recording", type=Path, help="the recording (.npz)")
    p.add_argument(
        "--feature-set",
        choices=sorted(FEATURE_SETS),
        default="seed-v1",
        help="the feature set (default %(default)s; docs/features.md)",
    )
    p.add_argument(
        "--hot-threshold-c",
        type=float,
        default=FeatureParams().hot_threshold_c,
        help="hot pixel threshold, °C (default %(default)s)",
    )
    p.set_defaults(func=run)


def _cell(v: float) -> str:
    return "" if math.isnan(v) else repr(v)


def run(args: argparse.Namespace) -> int:
    try:
        params = FeatureParams(hot_threshold_c=args.hot_threshold_c)
    except ValueError as exc:
        print(f"--hot-threshold-c: {exc}", file=sys.stderr)
        return 2
    try:
        rec = load_recording(args.recording)
    except RecordingError as exc:
        print(exc, file=sys.stderr)
        return 2
    t, x = featurize_recording(rec, params, args.feature_set)
    out = csv.writer(sys.stdout, lineterminator="\n")
    try:
        out.writerow(("t", *FEATURE_SETS[args.feature_set]))
        for ti, row in zip(t.tolist(), x.tolist(), strict=True):
            out.writerow((repr(ti), *(_cell(v) for v in row)))
        sys.stdout.flush()
    except BrokenPipeError:  # the reader (e.g. `head`) went away: not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
        return 0
    return 0
