"""Training data: the seed's JSON sample files and ``.npz`` recordings, as feature rows.

Simulated recordings are rendered and featurised in :mod:`cloud.training.simulated`.

Every input becomes rows of the 18 features (float32 values, NaN for a missing sensor) with
a label, a group (one recording or one JSON file: splits never cut a group), the time in its
recording, and whether the row counts in frame-level scores (rows in [t0, t0 + Δ] after the
fire onset t0 do not: the sensors have not seen the fire yet; fire-science.md §4).

A bad file is skipped with its name and reason (``Skipped``), or, in strict mode, stops the
load with a ``TrainingDataError``. Nothing in a file can crash the loader.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from cloud.training.observable import (  # re-exported: callers import them from here
    OBSERVABLE_CO2_PPM as OBSERVABLE_CO2_PPM,
)
from cloud.training.observable import (
    OBSERVABLE_HOT_C as OBSERVABLE_HOT_C,
)
from cloud.training.observable import (
    observable_time as observable_time,
)
from edge.detect.plausibility import plausible_recording
from edge.errors import RecordingError, TrainingDataError
from edge.features import FEATURE_NAMES, FeatureParams, featurize_recording
from edge.recording import Recording, load_recording

if TYPE_CHECKING:
    from cloud.training.fleet_types import FleetClip

log = logging.getLogger(__name__)

SUFFIXES = (".json", ".npz")
DEFAULT_LAG_S = 30.0
LABEL_MODES = ("onset", "observable")
#: Families that take tens of minutes to develop (smoulders, overheating): ``--sim-slow-
#: duration`` applies to them.
SLOW_CODES = frozenset({"F3", "F4", "F5"})
_NAMES = set(FEATURE_NAMES)


@dataclass(frozen=True)
class Group:
    """One recording or JSON file."""

    name: str
    family: str  # scenario family name, or "json" for the seed's sample files
    fire_start_s: float | None
    duration_s: float
    kind: str  # "recording", "json" or "fleet" (a device's clip, cloud.training.fleet)
    device: str | None = None  # a fleet clip's device id


@dataclass(frozen=True)
class Skipped:
    """A file left out of the training data, and why."""

    name: str
    reason: str


@dataclass
class Dataset:
    """Feature rows with labels, groups, times, the frame-scoring mask and sample weights
    (``w``: 1 unless a fleet rule says less); ``clips``: every fleet clip seen, used or not."""

    X: npt.NDArray[np.float32]
    y: npt.NDArray[np.int8]
    group: npt.NDArray[np.int32]
    t: npt.NDArray[np.float64]
    scored: npt.NDArray[np.bool_]
    groups: list[Group] = field(default_factory=list)
    w: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    clips: list[FleetClip] = field(default_factory=list)
    #: Per row, what the device's flame watch says of that camera frame (``WATCH_*``: none,
    #: growing, sure; ``cloud.training.corroborate``); none for rows without a frame.
    watch: npt.NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, np.int8))
    #: Per row, whether the device's smoulder watch says that camera frame's new spot keeps
    #: heating or spreading (``cloud.training.corroborate.watches``); False without a frame.
    smoulder: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    #: Per row, for how many steps in a row the smoulder watch saw the spot heat or spread
    #: (``SmoulderEvidence.steady_steps``); 0 without a frame.
    smoulder_steps: npt.NDArray[np.int8] = field(
        default_factory=lambda: np.zeros(0, np.int8))
    #: Per row, for how many seconds the flame watch has seen the region grow
    #: (``FlameEvidence.growing_s``); NaN when it does not grow, or without a frame.
    watch_s: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))

    def __post_init__(self) -> None:
        if self.w.size == 0 and self.y.size:
            self.w = np.ones(self.y.size, np.float32)
        if self.watch.size == 0 and self.y.size:
            self.watch = np.zeros(self.y.size, np.int8)
        if self.smoulder.size == 0 and self.y.size:
            self.smoulder = np.zeros(self.y.size, bool)
        if self.smoulder_steps.size == 0 and self.y.size:
            self.smoulder_steps = np.zeros(self.y.size, np.int8)
        if self.watch_s.size == 0 and self.y.size:
            self.watch_s = np.full(self.y.size, np.nan, np.float32)

    @classmethod
    def empty(cls, n_features: int | None = None) -> Dataset:
        n = len(FEATURE_NAMES) if n_features is None else n_features
        return cls(np.zeros((0, n), np.float32), np.zeros(0, np.int8), np.zeros(0, np.int32),
                   np.zeros(0, np.float64), np.zeros(0, bool), [])

    @classmethod
    def concat(cls, parts: Sequence[Dataset]) -> Dataset:
        """One dataset from many; group indices are renumbered."""
        if not parts:
            return cls.empty()
        offsets = np.cumsum([0] + [len(p.groups) for p in parts[:-1]])
        return cls(
            X=np.concatenate([p.X for p in parts]),
            y=np.concatenate([p.y for p in parts]),
            group=np.concatenate([p.group + o for p, o in zip(parts, offsets, strict=True)])
            .astype(np.int32),
            t=np.concatenate([p.t for p in parts]),
            scored=np.concatenate([p.scored for p in parts]),
            groups=[g for p in parts for g in p.groups],
            w=np.concatenate([p.w for p in parts]).astype(np.float32),
            clips=[c for p in parts for c in p.clips],
            watch=np.concatenate([p.watch for p in parts]).astype(np.int8),
            smoulder=np.concatenate([p.smoulder for p in parts]).astype(bool),
            smoulder_steps=np.concatenate([p.smoulder_steps for p in parts]).astype(np.int8),
            watch_s=np.concatenate([p.watch_s for p in parts]).astype(np.float32),
        )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def rows_of(self, group_ids: Sequence[int] | npt.NDArray[np.integer[Any]]) -> npt.NDArray[
            np.intp]:
        """Row indices belonging to the given groups, in row order."""
        return np.flatnonzero(np.isin(self.group, np.asarray(group_ids)))

    @property
    def families(self) -> list[str]:
        """Each group's family, by group index."""
        return [g.family for g in self.groups]

    def has_fire(self) -> list[bool]:
        """Each group's "has a fire row", by group index (one pass over the rows)."""
        fire_rows = np.bincount(self.group[self.y != 0], minlength=len(self.groups))
        return [bool(n) for n in fire_rows[: len(self.groups)]]

    def fingerprint(self) -> str:
        """A content id: SHA-256 over features, labels and groups (the artifact's data id)."""
        h = hashlib.sha256()
        for a in (self.X, self.y, self.group):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def _one_group(name: str, X: npt.NDArray[Any], y: npt.NDArray[Any], t: npt.NDArray[Any],
               scored: npt.NDArray[np.bool_], group: Group) -> Dataset:
    n = y.shape[0]
    return Dataset(np.asarray(X, np.float32), np.asarray(y, np.int8), np.zeros(n, np.int32),
                   np.asarray(t, np.float64), scored, [group])


# ------------------------------------------------------------------------------ JSON samples


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _number(v: Any) -> float | None:
    """A finite number, NaN for null (a missing sensor), or None when not acceptable."""
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:  # an int beyond any float
        return None
    if math.isnan(f):
        return f
    # Features are stored as float32: a finite value beyond its range would turn into inf.
    return f if math.isfinite(f) and abs(f) <= _FLOAT32_MAX else None


def parse_json_samples(data: bytes, name: str) -> Dataset:
    """The seed's ``{"samples": [{"features": {...18...}, "label": 0|1}]}`` as one group.

    :raises TrainingDataError: naming the file, the sample and the rule it breaks.
    """
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise TrainingDataError(f"{name}: not JSON ({exc})") from None
    samples = doc.get("samples") if isinstance(doc, dict) else None
    if not isinstance(samples, list):
        raise TrainingDataError(f'{name}: expected an object {{"samples": [...]}}')
    if not samples:
        raise TrainingDataError(f"{name}: holds no samples")
    n = len(samples)
    X = np.empty((n, len(FEATURE_NAMES)), np.float32)
    y = np.empty(n, np.int8)
    for i, s in enumerate(samples):
        feats = s.get("features") if isinstance(s, dict) else None
        if not isinstance(feats, dict):
            raise TrainingDataError(f'{name}: sample {i}: expected {{"features": {{...}}, '
                                    f'"label": 0|1}}')
        keys = set(feats)
        if keys != _NAMES:
            missing, extra = sorted(_NAMES - keys), sorted(keys - _NAMES)
            what = "; ".join(x for x in (f"missing {missing}" if missing else "",
                                         f"unknown {extra}" if extra else "") if x)
            raise TrainingDataError(f"{name}: sample {i}: features {what} (feature set seed-v1 "
                                    f"has exactly the 18 names)")
        for j, fname in enumerate(FEATURE_NAMES):
            v = _number(feats[fname])
            if v is None:
                raise TrainingDataError(f"{name}: sample {i}: feature {fname!r} is "
                                        f"{feats[fname]!r}; allowed: a finite number "
                                        f"within float32 range (±3.4e38) or null")
            X[i, j] = v
        label = s.get("label")
        if isinstance(label, bool) or label not in (0, 1):
            raise TrainingDataError(f"{name}: sample {i}: label {label!r}; allowed: 0 or 1")
        y[i] = int(label)
    if np.isnan(X).all(axis=1).any():
        i = int(np.flatnonzero(np.isnan(X).all(axis=1))[0])
        raise TrainingDataError(f"{name}: sample {i}: every feature is null")
    t = np.full(n, np.nan)
    group = Group(name, "json", None, 0.0, "json")
    return _one_group(name, X, y, t, np.ones(n, bool), group)


# ------------------------------------------------------------------------------ recordings


def recording_rows(rec: Recording, name: str, params: FeatureParams,
                   lag_s: float = DEFAULT_LAG_S, labels: str = "onset",
                   feature_set: str = "seed-v1", watch: bool = True) -> Dataset:
    """Feature rows of a recording with the device's own code; ``watch``: with what the
    device's flame and smoulder watches say of each frame (``Dataset.watch``,
    ``Dataset.smoulder``).

    ``labels="onset"``: label 1 from ``fire_start_s``, rows in [t0, t0 + ``lag_s``] left out
    of training and frame scores. ``labels="observable"``: label 1 only from when the fire
    shows to a sensor (:func:`observable_time`); rows in [t0, that time) — all rows after t0
    when it never shows — are left out instead, so quiet frames are never called fire.

    :raises TrainingDataError: when the recording gives no rows or its meta is unusable.
    :raises ValueError: for an unknown ``labels`` mode.
    """
    if labels not in LABEL_MODES:
        raise ValueError(f"labels {labels!r}; allowed: {', '.join(LABEL_MODES)}")
    rec = plausible_recording(rec)  # what the device's pipeline feeds its features
    t, X = featurize_recording(rec, params, feature_set)
    if t.size == 0:
        raise TrainingDataError(f"{name}: the recording gives no feature rows (no frames and "
                                f"no gas readings)")
    t0 = rec.fire_start_s
    family = rec.meta.get("scenario") or rec.meta.get("family") or "recorded"
    if not isinstance(family, str):
        raise TrainingDataError(f"{name}: meta 'scenario' is {family!r}; allowed: a string")
    if t0 is None:
        y = np.zeros(t.size, np.int8)
        scored = np.ones(t.size, bool)
    elif labels == "observable":
        t_obs = observable_time(rec)
        seen = math.inf if t_obs is None else t_obs
        y = (t >= seen).astype(np.int8)
        scored = ~((t >= t0) & (t < seen))
    else:
        y = (t >= t0).astype(np.int8)
        scored = ~((t >= t0) & (t <= t0 + lag_s))
    group = Group(name, family, t0, rec.duration_s, "recording")
    ds = _one_group(name, X, y, t, scored, group)
    if watch:
        from cloud.training.corroborate import watches

        verdicts = watches(rec, params)
        ds.watch, ds.smoulder = verdicts.flame, verdicts.smoulder
        ds.smoulder_steps, ds.watch_s = verdicts.steady, verdicts.flame_s
    return ds


# ------------------------------------------------------------------------------ sources


@dataclass(frozen=True)
class Source:
    """One input file: local, or an object in S3 (read on demand)."""

    name: str
    path: Path | None = None
    read_bytes: Callable[[], bytes] | None = None

    def data(self) -> bytes:
        if self.path is not None:
            return self.path.read_bytes()
        if self.read_bytes is None:
            raise TrainingDataError(f"{self.name}: a source needs a path or a reader")
        return self.read_bytes()


def _s3_sources(url: str, endpoint_url: str | None) -> Iterator[Source]:
    from cloud.artifact.s3 import parse_s3_url, s3_client

    bucket, prefix = parse_s3_url(url)
    client = s3_client(endpoint_url)
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}/" if prefix else "")
    for page in pages:
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith(SUFFIXES):

                def read(key: str = key) -> bytes:
                    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                    return body

                yield Source(f"s3://{bucket}/{key}", read_bytes=read)


def list_sources(paths: Sequence[str], endpoint_url: str | None = None
                 ) -> tuple[list[Source], list[Skipped]]:
    """Every ``.json``/``.npz`` under the given files, folders and ``s3://`` prefixes."""
    sources: list[Source] = []
    skipped: list[Skipped] = []
    for p in paths:
        if p.startswith("s3://"):
            sources.extend(_s3_sources(p, endpoint_url))
            continue
        path = Path(p)
        if path.is_dir():
            sources.extend(Source(str(f), f) for f in sorted(path.rglob("*"))
                           if f.is_file() and f.suffix in SUFFIXES)
        elif path.is_file():
            if path.suffix in SUFFIXES:
                sources.append(Source(str(path), path))
            else:
                skipped.append(Skipped(str(path), f"not a .json or .npz file ({path.suffix!r})"))
        else:
            skipped.append(Skipped(p, "no such file or folder"))
    return sources, skipped


def load_source(src: Source, params: FeatureParams, lag_s: float = DEFAULT_LAG_S,
                labels: str = "onset", feature_set: str = "seed-v1",
                verdict: Source | None = None) -> Dataset:
    """One file's rows, of ``feature_set`` (JSON samples carry ``seed-v1`` only); a fleet
    clip's by the fleet rule with its ``verdict`` file (:mod:`cloud.training.fleet`).

    :raises TrainingDataError: with the file's name and what is wrong with it.
    """
    try:
        if src.name.endswith(".json"):
            if feature_set != "seed-v1":
                raise TrainingDataError(
                    f"{src.name}: JSON samples carry the 18 seed-v1 features only; feature "
                    f"set {feature_set!r} needs recordings (.npz); allowed for JSON: seed-v1"
                )
            return parse_json_samples(src.data(), src.name)
        if src.path is not None:
            rec = load_recording(src.path)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "recording.npz"
                local.write_bytes(src.data())
                try:
                    rec = load_recording(local)
                except RecordingError as exc:
                    raise RecordingError(str(exc).replace(str(local), src.name)) from None
        if "clip" in rec.meta:
            from cloud.training.fleet import clip_rows

            return clip_rows(rec, src.name, verdict, params, feature_set)
        return recording_rows(rec, src.name, params, lag_s, labels, feature_set)
    except RecordingError as exc:
        raise TrainingDataError(str(exc)) from None
    except OSError as exc:
        raise TrainingDataError(f"{src.name}: cannot read ({exc})") from None


def load_paths(paths: Sequence[str], *, params: FeatureParams | None = None,
               strict: bool = False, endpoint_url: str | None = None,
               lag_s: float = DEFAULT_LAG_S, progress: bool = True, labels: str = "onset",
               feature_set: str = "seed-v1") -> tuple[Dataset, list[Skipped]]:
    """Load every file; skip (or, ``strict``, refuse) bad ones with their reason. Fleet
    clips are paired with their ``.label.json`` and overlapping ones de-duplicated; a label
    that cannot be used is listed as skipped (its clip counts as unlabelled).

    :raises TrainingDataError: in strict mode, for the first bad file.
    """
    from tqdm import tqdm

    from cloud.training.fleet import LABEL_SUFFIX, dedup, label_name

    fp = params if params is not None else FeatureParams()
    sources, skipped = list_sources(paths, endpoint_url)
    if strict and skipped:
        raise TrainingDataError(f"{skipped[0].name}: {skipped[0].reason}")
    verdicts = {s.name: s for s in sources if s.name.endswith(LABEL_SUFFIX)}
    parts: list[Dataset] = []
    for src in tqdm([s for s in sources if s.name not in verdicts], desc="load data",
                    unit="file", disable=not progress):
        try:
            part = load_source(src, fp, lag_s, labels, feature_set,
                               verdicts.get(label_name(src.name)))
        except TrainingDataError as exc:
            if strict:
                raise
            skipped.append(Skipped(src.name, str(exc).removeprefix(f"{src.name}: ")))
            log.warning("skipping %s", exc)
            continue
        for clip in part.clips:
            if clip.label_problem is not None:
                if strict:
                    raise TrainingDataError(f"{label_name(clip.name)}: {clip.label_problem}")
                skipped.append(Skipped(label_name(clip.name), f"{clip.label_problem} (the "
                                       f"clip is used as unlabelled)"))
        parts.append(part)
    ds, _ = dedup(Dataset.concat(parts))
    return ds, skipped


def skip_summary(skipped: Sequence[Skipped]) -> str:
    """A human summary of skipped files, one per line."""
    if not skipped:
        return "no files skipped"
    lines = [f"{len(skipped)} file(s) skipped:"]
    lines += [f"  {s.name}: {s.reason}" for s in skipped]
    return "\n".join(lines)
