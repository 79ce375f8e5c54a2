"""``firedetect plot REC.npz --out REC.png``: a picture of a recording to judge it by."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.errors import RecordingError
from edge.recording import load_recording


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plot", help="draw a recording: gas, thermal, features, thumbnails")
    p.add_argument("recording", type=Path, help="the .npz recording")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    p.add_argument("--no-features", action="store_true", help="skip the feature panel")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.plot import plot_recording

    if args.out.suffix.lower() != ".png":
        print(f"{args.out}: the picture must be a .png file", file=sys.stderr)
        return 2
    try:
        rec = load_recording(args.recording)
        plot_recording(rec, args.out, features=not args.no_features)
    except RecordingError as exc:
        print(exc, file=sys.stderr)
        return 2
    except RuntimeError as exc:  # matplotlib missing
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.out}: written")
    return 0
