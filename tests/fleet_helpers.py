"""Fleet clips exactly as the issue-15 contract lays them out (fleet-common.md, docs/fleet.md).

``make_clip`` cuts a stretch of a recording the way a device's ring buffer does (times since
the clip's first second, the device's clock in ``meta.clip``); ``clip_key`` and
``label_key`` give the S3 keys; ``put_clip`` / ``put_label`` / ``write_clip`` store them in
S3 or a folder.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge.recording import Recording, save_recording

#: 2026-03-01 12:00:00 UTC, the devices' clock at their recording's second 0.
BASE_UNIX = 1_772_366_400.0


def clip_key(prefix: str, device_id: str, t0: float, reason: str, seq: int | None) -> str:
    """``<prefix><device_id>/<YYYY-MM-DD>/<unix_ms_of_t0>-<reason>-<seq or 0>.npz``."""
    day = datetime.fromtimestamp(t0, UTC).strftime("%Y-%m-%d")
    return f"{prefix}{device_id}/{day}/{round(t0 * 1000)}-{reason}-{seq or 0}.npz"


def label_key(clip: str) -> str:
    """The verdict object beside a clip."""
    return clip.removesuffix(".npz") + ".label.json"


def make_clip(rec: Recording, start_s: float, end_s: float, *, device_id: str, reason: str,
              seq: int | None, trigger_s: float, base_unix: float = BASE_UNIX,
              model_version: str = "fd-test-1") -> Recording:
    """The clip of ``rec`` over [``start_s``, ``end_s``) (recording seconds) for an event at
    ``trigger_s``; its meta as the device writes it (``fire_start_s`` null: unknown)."""
    f = (rec.frame_t >= start_s) & (rec.frame_t < end_s)
    g = (rec.gas_t >= start_s) & (rec.gas_t < end_s)
    t0 = base_unix + start_s
    meta: dict[str, Any] = {k: v for k, v in rec.meta.items() if k != "fire_start_s"}
    meta |= {
        "device_id": device_id, "model_version": model_version, "fire_start_s": None,
        "clip": {"reason": reason, "seq": seq, "t0": t0, "t1": base_unix + end_s,
                 "trigger_t": trigger_s - start_s,
                 "events": [{"kind": "alarm" if reason == "alarm" else "watch", "seq": seq,
                             "t": trigger_s - start_s}],
                 "scores": [[trigger_s - start_s, 0.9]]},
    }
    return Recording(rec.frame_t[f] - start_s, rec.frames[f], rec.gas_t[g] - start_s,
                     rec.co2_ppm[g], rec.temperature_c[g], rec.humidity_pct[g],
                     rec.frame_resolution_k, meta)


def clip_bytes(clip: Recording) -> bytes:
    """The clip as an ``.npz`` (written and validated by edge.recording)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save_recording(clip, Path(tmp) / "clip.npz")
        return path.read_bytes()


def label_bytes(seq: int, verdict: str, device_id: str, received_at: float = BASE_UNIX
                ) -> bytes:
    """A verdict object as the device writes it."""
    return json.dumps({"seq": seq, "verdict": verdict, "device_id": device_id,
                       "received_at": received_at}).encode()


def _t0(clip: Recording) -> float:
    return float(clip.meta["clip"]["t0"])


def put_clip(s3: Any, bucket: str, prefix: str, clip: Recording) -> str:
    """Store a clip under its contract key; return the key."""
    c = clip.meta["clip"]
    key = clip_key(prefix, clip.meta["device_id"], _t0(clip), c["reason"], c["seq"])
    s3.put_object(Bucket=bucket, Key=key, Body=clip_bytes(clip))
    return key


def put_label(s3: Any, bucket: str, clip_key_: str, body: bytes) -> str:
    """Store a verdict beside a clip; return its key."""
    key = label_key(clip_key_)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return key


def write_clip(folder: Path, clip: Recording, label: bytes | None = None) -> Path:
    """A clip (and its label) in a local folder, at its contract key under it."""
    c = clip.meta["clip"]
    path = folder / clip_key("", clip.meta["device_id"], _t0(clip), c["reason"], c["seq"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(clip_bytes(clip))
    if label is not None:
        Path(label_key(str(path))).write_bytes(label)
    return path


def stretch(n_s: float, hot_from_s: float | None = None) -> Recording:
    """A small synthetic recording (60×80 frames at 1 Hz, gas every 5 s), hot after
    ``hot_from_s``."""
    t = np.arange(0.0, n_s, 1.0)
    frames = np.full((t.size, 60, 80), 29_500, np.uint16)
    gt = np.arange(0.0, n_s, 5.0)
    co2 = np.full(gt.size, 450.0, np.float32)
    if hot_from_s is not None:
        frames[t >= hot_from_s, 20:24, 30:34] = 45_000
        co2[gt >= hot_from_s] = 900.0
    return Recording(t, frames, gt, co2, np.full(gt.size, 22.0, np.float32),
                     np.full(gt.size, 40.0, np.float32), 0.01, {"scenario": "kitchen"})
