"""Fleet clips as training rows: the device's clips with their verdicts (docs/fleet.md,
"Training from the fleet").

A clip is a recording whose ``meta`` holds a ``clip`` block and a ``device_id``; its verdict,
if any, is the sibling ``<clip without .npz>.label.json``. The rule:

- verdict ``fire``: rows from the event's ``trigger_t`` − 30 s on are label 1, earlier rows
  are left out;
- verdict ``false_alarm``: every row label 0 (the verdict outranks the device's own alarm);
- verdict ``test``: the clip is left out;
- no verdict: alarm (and unjudged ``verdict``) clips are left out; near-miss and fault clips
  are label 0 with weight 0.3.

A label that cannot be read is named with its key and the clip is used as unlabelled.
Overlapping clips of one device are de-duplicated by :func:`dedup`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud.training.data import Dataset, Group, Source
from cloud.training.fleet_types import (
    FIRE_LEAD_S,
    REASONS,
    UNLABELLED_WEIGHT,
    VERDICTS,
    FleetClip,
)
from edge.detect.plausibility import plausible_recording
from edge.errors import TrainingDataError
from edge.features import FEATURE_SETS, FeatureParams, featurize_recording
from edge.recording import Recording

log = logging.getLogger(__name__)

LABEL_SUFFIX = ".label.json"
FAMILY = "fleet"


def is_clip(rec: Recording) -> bool:
    """Whether a recording is a device's fleet clip (its meta has a ``clip`` block)."""
    return "clip" in rec.meta


def label_name(clip_name: str) -> str:
    """The verdict's name beside a clip: ``…/<clip_id>.npz`` → ``…/<clip_id>.label.json``."""
    return clip_name.removesuffix(".npz") + LABEL_SUFFIX


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def clip_info(meta: Mapping[str, Any], name: str) -> tuple[str, str, int | None, float, float]:
    """The clip's device id, reason, seq, ``t0`` and ``trigger_t`` from its meta.

    :raises TrainingDataError: naming the file, the meta key, the value and what is allowed.
    """
    device = meta.get("device_id")
    if not isinstance(device, str) or not device:
        raise TrainingDataError(f"{name}: meta 'device_id' is {device!r}; allowed: a non-empty "
                                f"string")
    clip = meta["clip"]
    if not isinstance(clip, dict):
        raise TrainingDataError(f"{name}: meta 'clip' is {clip!r}; allowed: an object")
    reason = clip.get("reason")
    if reason not in REASONS:
        raise TrainingDataError(f"{name}: meta 'clip.reason' is {reason!r}; allowed: "
                                f"{', '.join(REASONS)}")
    seq = clip.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
        raise TrainingDataError(f"{name}: meta 'clip.seq' is {seq!r}; allowed: an integer or "
                                f"null")
    for key, what in (("t0", "the device's clock, unix s"), ("t1", "the device's clock, unix s"),
                      ("trigger_t", "seconds from the clip's start, as its frame times")):
        if not _finite(clip.get(key)):
            raise TrainingDataError(f"{name}: meta 'clip.{key}' is {clip.get(key)!r}; allowed: "
                                    f"a finite number ({what})")
    return device, str(reason), seq, float(clip["t0"]), float(clip["trigger_t"])


def parse_label(data: bytes, name: str, device_id: str, seq: int | None) -> str:
    """The verdict of a ``.label.json`` for the clip of ``device_id`` and ``seq``.

    :raises TrainingDataError: naming the label's key and what is wrong with it.
    """
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise TrainingDataError(f"{name}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise TrainingDataError(f'{name}: expected an object {{"seq": N, "verdict": ...}}, '
                                f"got {type(doc).__name__}")
    verdict = doc.get("verdict")
    if verdict not in VERDICTS:
        raise TrainingDataError(f"{name}: 'verdict' is {verdict!r}; allowed: "
                                f"{', '.join(VERDICTS)}")
    lseq = doc.get("seq")
    if isinstance(lseq, bool) or not isinstance(lseq, int):
        raise TrainingDataError(f"{name}: 'seq' is {lseq!r}; allowed: an integer")
    if seq is not None and lseq != seq:
        raise TrainingDataError(f"{name}: 'seq' is {lseq}, the clip's is {seq}; a label "
                                f"judges the event of its own clip")
    dev = doc.get("device_id")
    if dev is not None and dev != device_id:
        raise TrainingDataError(f"{name}: 'device_id' is {dev!r}, the clip's is "
                                f"{device_id!r}")
    return str(verdict)


def _span(rec: Recording, t0: float) -> tuple[float, float]:
    times = np.concatenate([rec.frame_t, rec.gas_t])
    return (t0 + float(times.min()), t0 + float(times.max())) if times.size else (t0, t0)


def clip_rows(rec: Recording, name: str, label: Source | None, params: FeatureParams,
              feature_set: str = "seed-v1") -> Dataset:
    """A clip's rows under the fleet rule (none when it is left out), and its
    :class:`FleetClip` in ``clips``. Recording times are seconds since ``clip.t0``.

    :raises TrainingDataError: for an unusable clip meta, or a clip that gives no rows.
    """
    device, reason, seq, t0, trigger_t = clip_info(rec.meta, name)
    verdict: str | None = None
    problem: str | None = None
    if label is not None:
        try:
            verdict = parse_label(label.data(), label.name, device, seq)
        except TrainingDataError as exc:
            problem = str(exc).removeprefix(f"{label.name}: ")
            log.warning("%s; the clip %s is used as unlabelled", exc, name)
        except OSError as exc:
            problem = f"cannot read ({exc})"
            log.warning("%s: %s; the clip %s is used as unlabelled", label.name, problem, name)
    if verdict in ("fire", "false_alarm"):
        use = str(verdict)
    elif verdict is None and reason in ("near_miss", "fault"):
        use = "unlabelled"
    else:  # a test, or an alarm nobody judged
        use = "left_out"

    def result(ds: Dataset, use: str) -> Dataset:
        ds.clips = [FleetClip(name, device, reason, seq, t0, verdict, use, len(ds),
                              _span(rec, t0), problem)]
        return ds

    width = len(FEATURE_SETS[feature_set])
    if use == "left_out":
        return result(Dataset.empty(width), use)
    rec = plausible_recording(rec)  # what the device's pipeline feeds its features
    t, X = featurize_recording(rec, params, feature_set)
    if t.size == 0:
        raise TrainingDataError(f"{name}: the clip gives no feature rows (no frames and no "
                                f"gas readings)")
    fire_start: float | None = None
    keep = np.ones(t.size, bool)
    if use == "fire":
        fire_start = trigger_t - FIRE_LEAD_S  # trigger_t is on the recording's time axis
        keep = t >= fire_start
        if not keep.any():
            return result(Dataset.empty(width), "left_out")
    n = int(keep.sum())
    y = np.full(n, 1 if use == "fire" else 0, np.int8)
    w = np.full(n, UNLABELLED_WEIGHT if use == "unlabelled" else 1.0, np.float32)
    group = Group(name, FAMILY, fire_start, rec.duration_s, "fleet", device)
    ds = Dataset(np.asarray(X[keep], np.float32), y, np.zeros(n, np.int32),
                 np.asarray(t[keep], np.float64), np.ones(n, bool), [group], w)
    return result(ds, use)


def dedup(ds: Dataset) -> tuple[Dataset, int]:
    """Rows of one device at the same times kept once: clips are taken in priority order
    (verdict > alarm > fault > near-miss, then the earlier), each claims its whole span —
    left-out clips too — and a later clip loses its rows inside a span already claimed.
    Returns the dataset and how many rows were dropped."""
    clips = {c.name: c for c in ds.clips}
    order = sorted(clips.values(), key=lambda c: (-c.priority, c.t0, c.name))
    index = {g.name: i for i, g in enumerate(ds.groups) if g.kind == "fleet"}
    keep = np.ones(len(ds), bool)
    claimed: dict[str, list[tuple[float, float]]] = {}
    for clip in order:
        spans = claimed.setdefault(clip.device_id, [])
        g = index.get(clip.name)
        if g is not None and spans:
            rows = np.flatnonzero(ds.group == g)
            at = ds.t[rows] + clip.t0
            taken = np.zeros(rows.size, bool)
            for lo, hi in spans:
                taken |= (at >= lo) & (at <= hi)
            keep[rows[taken]] = False
        spans.append(clip.span)
    dropped = int((~keep).sum())
    if dropped:
        log.info("fleet: %d rows of overlapping clips de-duplicated", dropped)
    return subset(ds, keep), dropped


def subset(ds: Dataset, keep: np.ndarray) -> Dataset:
    """The rows where ``keep`` holds; groups left without rows go, the rest are renumbered."""
    if keep.all():
        return ds
    used = np.unique(ds.group[keep])
    renumber = np.full(len(ds.groups), -1, np.int32)
    renumber[used] = np.arange(used.size, dtype=np.int32)
    return Dataset(ds.X[keep], ds.y[keep], renumber[ds.group[keep]], ds.t[keep],
                   ds.scored[keep], [ds.groups[int(g)] for g in used], ds.w[keep],
                   list(ds.clips), ds.watch[keep], ds.smoulder[keep],
                   ds.smoulder_steps[keep], ds.watch_s[keep])
