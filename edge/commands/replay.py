"""``firedetect replay REC.npz [--model PATH] [--public-key PEM] [--config FILE]``: offline.

The daemon's pipeline over a recording.

Output is exactly recording.md's "Replay output": one JSON object per line on stdout for every
event the daemon would publish (``alarm``, ``clear``, ``fault``), with ``t`` in recording
seconds and the ensemble's ``score`` at that moment, then other fields. Nothing else goes to
stdout. A broken recording → its ``RecordingError`` on stderr, exit 2: a broken rule before
anything is replayed; a truncated or corrupt stretch of ``frames`` when the replay reaches it
(the events before it have been printed, none after it).

The recording is streamed (``edge.recording_stream``), so memory stays flat in its length;
the pipeline is imported only once the command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from edge.errors import ConfigError, ModelError, RecordingError

if TYPE_CHECKING:
    from edge.config import Config
    from edge.detect.pipeline import DetectionEvent, Pipeline
    from edge.recording import FrameSource

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay", help="run the detection pipeline over a recording; JSON events on stdout"
    )
    p.add_argument("recording", type=Path, help="the .npz recording")
    p.add_argument("--model", type=Path, help="a model folder or .tar.gz (overrides config)")
    p.add_argument("--public-key", type=Path, metavar="PEM",
                   help="the Ed25519 public key the model is signed with (overrides config)")
    p.add_argument("--config", type=Path, help="the TOML config file (alarm settings, model)")
    p.set_defaults(func=run)


def event_line(ev: DetectionEvent) -> dict[str, Any]:
    """One replay output object: ``t``, ``event``, ``score`` first, then details."""
    score = ev.score if ev.score == ev.score else None  # NaN → null
    out: dict[str, Any] = {"t": round(ev.t, 3), "event": ev.kind,
                           "score": None if score is None else round(score, 4)}
    if ev.kind == "fault":
        out["sensor"] = ev.sensor
        out["reason"] = ev.reason
        out["why"] = ev.why or f"{ev.sensor} faulted ({ev.reason})"
    elif ev.alarm is not None:
        out["reason"] = ev.alarm.reason
        out["why"] = ev.why or ev.alarm.why
    if ev.detail is not None:
        out["model"] = ev.detail.model_version
        out["degraded"] = ev.detail.degraded
    return out


def replay(rec: FrameSource, pipeline: Pipeline, out: TextIO) -> int:
    """Feed the whole recording through ``pipeline``; write each event; return how many.

    A streamed recording's ``RecordingError`` propagates when its broken chunk is reached."""
    from edge.recording import readings
    from edge.types import ThermalFrame

    count = 0
    for reading in readings(rec):
        if isinstance(reading, ThermalFrame):
            step = pipeline.frame(reading)
        else:
            step = pipeline.gas(reading)
        for ev in step.events:
            out.write(json.dumps(event_line(ev), allow_nan=False) + "\n")
            count += 1
    return count


def refusal(path: Path, exc: ModelError, public_key: Path | None) -> str:
    """One line: the model path as given, why it was refused, and what to do if no key was given."""
    why = str(exc).removeprefix(f"{path}: ")
    if public_key is None and "model.public_key" in why:
        why += "; give the signer's key with --public-key PEM (or model.public_key in --config)"
    return f"{path}: model refused: {why}"


def configured(args: argparse.Namespace) -> Config | str:
    """The ``--config`` file (defaults when none) with ``--model``/``--public-key`` applied,
    or the error to print."""
    from edge.config import load_config

    try:
        config = load_config(args.config)  # defaults when no file is given
    except ConfigError as exc:
        return str(exc)
    given = {k: v for k, v in (("path", args.model), ("public_key", args.public_key)) if v}
    if given:
        config = config.model_copy(update={"model": config.model.model_copy(update=given)})
    return config


def replay_pipeline(config: Config) -> Pipeline | str:
    """The daemon's pipeline with ``config``'s model (the rule fallback when none), or why
    the model was refused."""
    from edge.detect.pipeline import build_pipeline
    from edge.model.holder import ModelHolder

    holder = ModelHolder(config.model)
    if config.model.path is not None:
        try:  # load, not install: the error is said once, here, not logged as well
            holder.swap(holder.load(config.model.path))
        except ModelError as exc:
            return refusal(config.model.path, exc, config.model.public_key)
    else:
        log.warning("replay: no model given; scoring with the rule fallback (degraded)")
    return build_pipeline(config, holder, start_t=0.0)


def run(args: argparse.Namespace) -> int:
    from edge.recording_stream import open_recording

    config = configured(args)
    if isinstance(config, str):
        print(config, file=sys.stderr)
        return 2
    try:
        rec = open_recording(args.recording)
    except RecordingError as exc:
        print(exc, file=sys.stderr)
        return 2
    with rec:
        pipeline = replay_pipeline(config)
        if isinstance(pipeline, str):
            print(pipeline, file=sys.stderr)
            return 2
        try:
            n = replay(rec, pipeline, sys.stdout)
        except RecordingError as exc:
            sys.stdout.flush()  # the events before the broken stretch, then the error
            print(exc, file=sys.stderr)
            return 2
    sys.stdout.flush()
    log.info("replay: %d events over %.1f s of recording", n, rec.duration_s)
    return 0
