"""Verify a model artifact before anything in it is deserialised (docs/model-artifact.md).

Order: Ed25519 signature over the exact bytes of ``manifest.json`` → SHA-256 of every file
the manifest lists (a missing, changed or unlisted file refuses) → the manifest's schema →
its feature set equals what ``edge.features`` computes. Nothing here unpickles or parses a
model; a ``.tar.gz`` is extracted member by member with every path and size checked.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import json
import logging
import math
import os
import re
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.errors import ModelCompatibilityError, ModelIntegrityError, ModelStorageError
from edge.features import FEATURE_SETS, FeatureParams
from edge.model.calibration import parse_calibration

__all__ = [
    "FORMAT",
    "MAX_ARTIFACT_BYTES",
    "MAX_ARTIFACT_FILES",
    "MAX_MEMBER_BYTES",
    "extract_tarball",
    "load_public_key",
    "sha256_file",
    "verify_artifact",
]

log = logging.getLogger(__name__)

FORMAT = "firedetect-model/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
VERSION_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024
MAX_ARTIFACT_FILES = 256
MAX_MEMBER_BYTES = 256 * 1024 * 1024


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The device's model-signing public key (PEM SubjectPublicKeyInfo, Ed25519).

    :raises ModelIntegrityError: naming the file when it is unreadable or not such a key.
    """
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as exc:
        raise ModelIntegrityError(f"{path}: cannot read the model public key: {exc}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ModelIntegrityError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ModelIntegrityError(f"{path}: a {type(key).__name__}; allowed: Ed25519 only")
    return key


def _safe_member_path(name: str, source: Path) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or not p.parts or any(part in ("..", "") for part in p.parts):
        raise ModelIntegrityError(f"{source}: unsafe path {name!r} in the archive")
    return p


class _ArchiveTooBig(Exception):
    pass


class _Budget(io.RawIOBase):
    """A reader that refuses to hand out more than ``limit`` (uncompressed) bytes in total."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        super().__init__()
        self._raw, self._limit, self.count = raw, limit, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        want = self._limit + 1 - self.count if size is None or size < 0 else size
        data = self._raw.read(min(want, self._limit + 1 - self.count))
        self.count += len(data)
        if self.count > self._limit:
            raise _ArchiveTooBig
        return data


def _write_member(src: IO[bytes], target: Path, dest: Path, name: str, durable: bool) -> None:
    """Copy one member (then fsync it when ``durable``); a write failure is the device's
    storage, not the archive."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = target.open("xb")
    except FileExistsError:
        raise ModelIntegrityError(f"duplicate entry {name!r} in the archive") from None
    except OSError as exc:
        raise ModelStorageError.from_oserror(exc, dest, "unpack the model") from None
    with out:
        while chunk := src.read(1 << 20):  # a read error here is the archive's (caught above)
            try:
                out.write(chunk)
            except OSError as exc:
                raise ModelStorageError.from_oserror(exc, dest, "unpack the model") from None
        try:
            out.flush()
            if durable:
                os.fsync(out.fileno())
        except OSError as exc:
            raise ModelStorageError.from_oserror(exc, dest, "unpack the model") from None


def extract_tarball(tar_path: Path, dest: Path, max_bytes: int = MAX_ARTIFACT_BYTES, *,
                    durable: bool = True) -> Path:
    """Extract ``tar_path`` into the empty or new folder ``dest``; return the artifact folder.

    ``durable``: each file is fsynced (a model kept on the device). False for a folder that is
    read once and deleted (``load_model`` of an archive: ``firedetect replay``), where the
    syncs cost 20–70 ms of start-up for nothing.

    Only regular files and folders under ONE top-level folder are allowed: no absolute
    paths, no ``..``, no links, devices or sparse files; at most ``MAX_ARTIFACT_FILES``
    entries, ``MAX_MEMBER_BYTES`` per file and ``max_bytes`` in total. The archive is read
    as a stream, so a refusal comes at the first entry past a limit, not after reading it all.

    :raises ModelIntegrityError: naming the archive and the offending entry or limit.
    :raises ModelStorageError: ``dest`` cannot be written (disk full, read-only file system).
    """
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelStorageError.from_oserror(exc, dest, "unpack the model") from None
    total = 0
    tops: set[str] = set()
    # the uncompressed stream: every file's bytes plus headers (a few blocks per entry)
    budget_limit = max_bytes + (MAX_ARTIFACT_FILES + 8) * 4 * tarfile.BLOCKSIZE
    try:
        with (
            gzip.open(tar_path, "rb") as gz,
            _Budget(gz, budget_limit) as raw,  # type: ignore[arg-type]
            tarfile.open(fileobj=raw, mode="r|") as tar,  # type: ignore[call-overload]
        ):
            for n, m in enumerate(tar, start=1):
                if n > MAX_ARTIFACT_FILES:
                    raise ModelIntegrityError(
                        f"{tar_path}: more than {MAX_ARTIFACT_FILES} entries; allowed ≤ "
                        f"{MAX_ARTIFACT_FILES} (stopped reading at entry {n})"
                    )
                rel = _safe_member_path(m.name, tar_path)
                tops.add(rel.parts[0])
                if len(tops) > 1:
                    raise ModelIntegrityError(
                        f"{tar_path}: more than one top-level entry ({sorted(tops)})"
                    )
                target = dest.joinpath(*rel.parts)
                if m.isdir():
                    try:
                        target.mkdir(parents=True, exist_ok=True)
                    except OSError as exc:
                        raise ModelStorageError.from_oserror(
                            exc, dest, "unpack the model"
                        ) from None
                    continue
                if m.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
                    raise ModelIntegrityError(
                        f"{tar_path}: {m.name!r} is a link or special file; allowed: files"
                    )
                if m.size > MAX_MEMBER_BYTES:
                    raise ModelIntegrityError(
                        f"{tar_path}: {m.name!r} is {m.size} bytes; allowed ≤ "
                        f"{MAX_MEMBER_BYTES} per file"
                    )
                total += m.size
                if total > max_bytes:
                    raise ModelIntegrityError(
                        f"{tar_path}: more than {max_bytes} bytes unpacked; refused"
                    )
                src = tar.extractfile(m)
                if src is None:
                    raise ModelIntegrityError(f"{tar_path}: cannot read {m.name!r}")
                with src:
                    try:
                        _write_member(src, target, dest, m.name, durable)
                    except ModelIntegrityError as exc:
                        raise ModelIntegrityError(f"{tar_path}: {exc}") from None
    except _ArchiveTooBig:
        raise ModelIntegrityError(
            f"{tar_path}: more than {max_bytes} bytes unpacked; refused"
        ) from None
    except (ModelIntegrityError, ModelStorageError):
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise ModelIntegrityError(f"{tar_path}: not a readable .tar.gz ({exc})") from None
    if not tops:
        raise ModelIntegrityError(f"{tar_path}: empty archive")
    return dest / tops.pop()


def _check_signature(
    folder: Path, manifest_bytes: bytes, public_key: Ed25519PublicKey | None, allow_unsigned: bool
) -> None:
    sig_path = folder / SIGNATURE
    if not sig_path.is_file():
        if allow_unsigned:
            log.warning("model %s is unsigned; accepted because allow_unsigned is set", folder)
            return
        raise ModelIntegrityError(
            f"{folder}: {SIGNATURE} missing; unsigned models are refused "
            "(model.allow_unsigned is false)"
        )
    if public_key is None:
        if allow_unsigned:
            log.warning("no model.public_key configured: signature of %s NOT checked", folder)
            return
        raise ModelIntegrityError(
            f"{folder}: no model.public_key configured to check {SIGNATURE} against"
        )
    try:
        sig = base64.b64decode(sig_path.read_bytes().strip(), validate=True)
        public_key.verify(sig, manifest_bytes)
    except (binascii.Error, ValueError, InvalidSignature):
        raise ModelIntegrityError(
            f"{folder}: {SIGNATURE} does not verify {MANIFEST} against the configured "
            "public key (tampered manifest or another signer)"
        ) from None


def _check_files(folder: Path, files: Any) -> None:
    if not isinstance(files, dict) or not files:
        raise ModelIntegrityError(f"{folder}: manifest field 'files' missing or empty")
    for rel, digest in files.items():
        _safe_member_path(str(rel), folder)
        path = folder / rel
        if path.is_symlink() or not path.is_file():
            raise ModelIntegrityError(f"{folder}: listed file {rel!r} is missing")
        if sha256_file(path) != digest:
            raise ModelIntegrityError(f"{folder}: {rel!r} does not match its SHA-256")
    allowed = set(files) | {MANIFEST, SIGNATURE}
    for p in folder.rglob("*"):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink() or (p.is_file() and rel not in allowed):
            raise ModelIntegrityError(f"{folder}: file {rel!r} is not listed in the manifest")


def _check_schema(folder: Path, m: dict[str, Any]) -> None:
    if m.get("format") != FORMAT:
        raise ModelCompatibilityError(
            f"{folder}: manifest format {m.get('format')!r}; this device reads {FORMAT!r}"
        )
    if not isinstance(m.get("version"), str) or not VERSION_RE.match(m["version"]):
        raise ModelCompatibilityError(f"{folder}: manifest field 'version' {m.get('version')!r}")
    thr = m.get("threshold")
    if not isinstance(thr, int | float) or not 0.0 < thr < 1.0:
        raise ModelCompatibilityError(f"{folder}: manifest field 'threshold' {thr!r}")
    members = m.get("members")
    if not isinstance(members, dict) or not members:
        raise ModelCompatibilityError(f"{folder}: manifest field 'members' missing or empty")
    total = 0.0
    for name, entry in members.items():
        if not isinstance(entry, dict):
            raise ModelCompatibilityError(f"{folder}: members.{name} is not an object")
        w = entry.get("weight")
        if not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise ModelCompatibilityError(f"{folder}: members.{name}.weight {w!r}")
        total += float(w)
        for kind in ("onnx", "joblib"):
            if entry.get(kind) not in m["files"]:
                raise ModelCompatibilityError(
                    f"{folder}: members.{name}.{kind} {entry.get(kind)!r} is not in 'files'"
                )
    if abs(total - 1.0) > 1e-6:
        raise ModelCompatibilityError(f"{folder}: member weights sum to {total}; expected 1")
    fused = m.get("fused")
    if fused is not None:
        if not isinstance(fused, dict) or fused.get("onnx") not in m["files"]:
            raise ModelCompatibilityError(f"{folder}: manifest field 'fused' malformed or its "
                                          "file is not in 'files'")
        outputs = fused.get("outputs")
        if not isinstance(outputs, dict) or set(outputs) != set(members) or not all(
            isinstance(v, str) for v in outputs.values()
        ):
            raise ModelCompatibilityError(
                f"{folder}: fused.outputs must name one output per member {sorted(members)}"
            )
    if "golden.json" not in m["files"]:
        raise ModelCompatibilityError(f"{folder}: golden.json is not in 'files'")
    if m.get("calibration") is not None:
        try:
            parse_calibration(m["calibration"])
        except ValueError as exc:
            raise ModelCompatibilityError(f"{folder}: manifest field {exc}") from None
    _check_detection(folder, m.get("detection"))


def _check_detection(folder: Path, detection: Any) -> None:
    """``detection`` (optional): ``flame_min_score``, ``smoulder_min_score``,
    ``smoulder_early_min_score`` and ``gas_min_score``, numbers in [0, 1]; ``hold_min_score``,
    a number in (0, 1), and ``hold_s``, seconds in (0, 3600], both or neither;
    ``smoulder_early_steps``, a whole number of steps in [2, 59], with
    ``smoulder_early_min_score``, both or neither; ``flame_ladder`` (:func:`_check_ladder`)."""
    if detection is None:
        return
    if isinstance(detection, dict) and "flame_ladder" in detection:
        _check_ladder(folder, detection)
        detection = {k: v for k, v in detection.items() if k != "flame_ladder"}
    allowed: dict[str, tuple[Callable[[float], bool], str]] = {  # key: (test, in words)
        "flame_min_score": (lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1"),
        "gas_min_score": (lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1"),
        "hold_min_score": (lambda v: 0.0 < v < 1.0, "a number between 0 and 1, both excluded"),
        "hold_s": (lambda v: 0.0 < v <= 3600.0, "seconds, more than 0 and at most 3600"),
        "smoulder_min_score": (lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1"),
        "smoulder_early_min_score": (lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1"),
        "smoulder_early_steps": (lambda v: v == int(v) and 2 <= v <= 59,
                                 "a whole number from 2 to 59"),
    }
    if not isinstance(detection, dict) or set(detection) - allowed.keys():
        raise ModelCompatibilityError(
            f"{folder}: manifest field 'detection' {detection!r}; allowed: an object with "
            + ", ".join(f"'{k}'" for k in allowed))
    for key, (ok, what) in allowed.items():
        v = detection.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)
                              or not ok(float(v))):
            raise ModelCompatibilityError(
                f"{folder}: manifest field 'detection.{key}' {v!r}; allowed: {what}")
    for pair in (("hold_min_score", "hold_s"),
                 ("smoulder_early_steps", "smoulder_early_min_score")):
        if (pair[0] in detection) != (pair[1] in detection):
            raise ModelCompatibilityError(
                f"{folder}: manifest field 'detection' has one of '{pair[0]}' and "
                f"'{pair[1]}'; allowed: both or neither")


def _check_ladder(folder: Path, detection: dict[str, Any]) -> None:
    """``flame_ladder`` (:func:`ladder_ok`), which needs ``flame_min_score``."""
    rungs = detection["flame_ladder"]
    if not ladder_ok(detection.get("flame_min_score"), rungs):
        raise ModelCompatibilityError(
            f"{folder}: manifest field 'detection.flame_ladder' {rungs!r}; allowed: with "
            f"'flame_min_score', {LADDER_RULE}")


#: What :func:`ladder_ok` allows, in words.
LADDER_RULE = ("a list of 1 to 8 [seconds, score] pairs, seconds in (0, 600] ascending, each "
               "score from 0 to 1 and under the one before it")


def ladder_ok(top: Any, rungs: Any) -> bool:
    """``rungs`` is a flame ladder under the flame bar ``top``: 1 to 8 ``[seconds, score]``
    pairs (lists or tuples), seconds in (0, 600] ascending, scores from 0 to 1, each under
    the one before and the first under ``top``."""

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    if not (number(top) and isinstance(rungs, list | tuple) and 1 <= len(rungs) <= 8
            and all(isinstance(r, list | tuple) and len(r) == 2 and all(number(v) for v in r)
                    for r in rungs)):
        return False
    prev_s, prev_b = 0.0, float(top)
    for seconds, score in rungs:
        if not (prev_s < seconds <= 600.0 and 0.0 <= score < prev_b):
            return False
        prev_s, prev_b = seconds, score
    return True


def _check_feature_set(folder: Path, fs: Any) -> None:
    """Any set this device knows (every one is a prefix of what the extractor computes),
    with the registry's names in order and this device's parameters of that set."""
    if not isinstance(fs, dict):
        raise ModelCompatibilityError(f"{folder}: manifest field 'feature_set' missing")
    name = fs.get("name")
    if not isinstance(name, str) or name not in FEATURE_SETS:
        raise ModelCompatibilityError(
            f"{folder}: trained on feature set {name!r}, which this device does not compute; "
            f"allowed: {', '.join(sorted(FEATURE_SETS))}"
        )
    if fs.get("names") != list(FEATURE_SETS[name]):
        raise ModelCompatibilityError(
            f"{folder}: feature_set.names differ from this device's {name} features "
            "(names or order)"
        )
    params = FeatureParams().as_dict(name)
    if fs.get("params") != params:
        raw = fs.get("params")
        given: dict[str, Any] = raw if isinstance(raw, dict) else {}
        diff = sorted(k for k in set(params) | set(given) if params.get(k) != given.get(k))
        raise ModelCompatibilityError(
            f"{folder}: feature_set.params differ from this device's {name} parameters in "
            f"{diff}"
        )


def verify_artifact(
    folder: Path, *, public_key: Ed25519PublicKey | None, allow_unsigned: bool = False
) -> dict[str, Any]:
    """Verify the artifact folder (see the module docstring) and return its manifest.

    :raises ModelIntegrityError: signature, hashes or file set.
    :raises ModelCompatibilityError: manifest format or feature set.
    """
    try:
        manifest_bytes = (folder / MANIFEST).read_bytes()
    except OSError:
        raise ModelIntegrityError(f"{folder}: no readable {MANIFEST}") from None
    _check_signature(folder, manifest_bytes, public_key, allow_unsigned)
    try:
        manifest = json.loads(manifest_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelIntegrityError(f"{folder}: {MANIFEST} is not JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise ModelIntegrityError(f"{folder}: {MANIFEST} is not a JSON object")
    _check_files(folder, manifest.get("files"))
    _check_schema(folder, manifest)
    _check_feature_set(folder, manifest.get("feature_set"))
    return manifest
