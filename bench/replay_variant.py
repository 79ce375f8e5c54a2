"""``firedetect replay`` with another loading path, for ``bench/bench_replay.py``'s side-by-side.

Everything is ``firedetect replay`` except the loading:

- ``whole``: the previous path — the whole recording decompressed by ``load_recording``
  before the first frame is scored, and the modules the old command line imported eagerly
  whatever the command (the drivers, the simulator) imported too;
- ``inline``: streamed, but decompressed on the replaying thread (no reader thread).

Run: python -m bench.replay_variant whole|inline REC.npz [--model PATH] [--config FILE]
"""

from __future__ import annotations

import os
import sys
from dataclasses import fields
from types import TracebackType

import edge.recording_stream
from edge.cli import main
from edge.recording import Recording, load_recording
from edge.recording_stream import RecordingStream


class WholeRecording(Recording):
    """A loaded recording that ``firedetect replay`` can hold like a stream."""

    def __enter__(self) -> WholeRecording:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None


def open_whole(path: str | os.PathLike[str], prefetch: bool = True) -> WholeRecording:
    rec = load_recording(path)
    return WholeRecording(**{f.name: getattr(rec, f.name) for f in fields(rec)})


def open_inline(path: str | os.PathLike[str], prefetch: bool = True) -> RecordingStream:
    return RecordingStream(path, prefetch=False)


if __name__ == "__main__":
    variant, rest = sys.argv[1], sys.argv[2:]
    if variant == "whole":
        import edge.app  # the old command line imported these eagerly
        import edge.sim.sources

        edge.recording_stream.open_recording = open_whole  # type: ignore[assignment]
    elif variant == "inline":
        edge.recording_stream.open_recording = open_inline
    else:
        raise SystemExit(f"variant {variant!r}: whole or inline")
    sys.exit(main(["replay", *rest]))
