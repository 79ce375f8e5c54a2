"""Write a signed model artifact: the folder and its ``<version>.tar.gz`` (docs/model-artifact.md).

Usage (what ``cloud/train.py`` calls)::

    from cloud.artifact.write import write_artifact
    from cloud.artifact.signing import load_private_key
    from cloud.artifact.s3 import upload_artifact

    info = write_artifact(
        out_dir,
        pipelines={"rf": rf_pipe, "gb": gb_pipe, "lr": lr_pipe},   # fitted, classes [0, 1]
        weights={"rf": 0.49, "gb": 0.49, "lr": 0.02},              # keyed by name, sum 1
        threshold=0.5,
        feature_params=FeatureParams().as_dict(),
        metrics={...}, training_data={"id": ..., "n_samples": ...},
        golden_inputs=X_test[:32], X_check=X_test[:2000],
        private_key=load_private_key(),                            # or None + unsigned=True
    )
    upload_artifact(info.tarball, "s3://bucket/models/")

The writer exports every member to ONNX, refuses the artifact when ONNX and scikit-learn
disagree by more than 1e-5 on the check rows (``X_check`` plus NaN variants of them), computes
the golden scores the device re-checks on every load (the weighted sum, then the
``calibration`` map when one is given: ``edge.model.calibration``), and writes nothing under its
final name until everything is written (temporary folder, then rename). It never overwrites.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import platform
import re
import shutil
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.artifact.onnx import (
    ArtifactExportError,
    check_fused,
    check_member,
    compare_member,
    export_member,
    final_estimator,
    fuse_members,
    linear_attribution,
)
from cloud.artifact.signing import sign
from edge.features import FEATURE_NAMES, FEATURE_SET
from edge.model.calibration import apply_calibration, parse_calibration
from edge.model.verify import LADDER_RULE, ladder_ok, sha256_file

__all__ = ["FORMAT", "ArtifactExportError", "ArtifactInfo", "write_artifact"]

log = logging.getLogger(__name__)

FORMAT = "firedetect-model/1"
VERSION_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MEMBER_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_N_NAN_VARIANTS = 64


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """What ``write_artifact`` made."""

    path: Path
    tarball: Path
    version: str
    manifest: dict[str, Any]



def _libraries() -> dict[str, str]:
    libs = {"python": platform.python_version()}
    for dist in ("numpy", "scikit-learn", "onnx", "skl2onnx", "onnxruntime", "joblib"):
        try:
            libs[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            libs[dist] = "absent"
    return libs


def _nan_variants(X: npt.NDArray[np.float64], n_thermal: int | None
                  ) -> npt.NDArray[np.float64]:
    """Rows with the thermal block missing, then with the gas block missing (degraded mode).

    ``n_thermal``: the camera's columns are the first ``n_thermal``; ``None``: those of the
    feature set as wide as ``X``.
    """
    from edge.features import camera_columns

    camera = (camera_columns(X.shape[1]) if n_thermal is None
              else np.arange(X.shape[1]) < n_thermal)
    base = X[:_N_NAN_VARIANTS]
    no_thermal = base.copy()
    no_thermal[:, camera] = np.nan
    no_gas = base.copy()
    no_gas[:, ~camera] = np.nan
    return np.vstack([no_thermal, no_gas])


def _as_matrix(name: str, X: Any, n_features: int) -> npt.NDArray[np.float64]:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != n_features or arr.shape[0] < 1:
        raise ValueError(f"{name}: shape {arr.shape}; allowed: (n ≥ 1, {n_features})")
    if np.isinf(arr).any():
        raise ValueError(f"{name}: contains ±inf; allowed: finite numbers or NaN")
    return arr


def _check_weights(pipelines: Mapping[str, Any], weights: Mapping[str, float]) -> None:
    if not pipelines:
        raise ValueError("pipelines: empty; allowed: at least one member")
    for name in pipelines:
        if not MEMBER_RE.match(name):
            raise ValueError(f"member name {name!r}: allowed: {MEMBER_RE.pattern}")
    if set(weights) != set(pipelines):
        raise ValueError(
            f"weights keys {sorted(weights)} must equal the member names {sorted(pipelines)}"
        )
    for name, w in weights.items():
        if not (math.isfinite(w) and w >= 0.0):
            raise ValueError(f"weights[{name!r}] = {w}; allowed: a finite number ≥ 0")
    total = math.fsum(weights.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"weights sum to {total}; allowed: 1 (± 1e-6)")


def _numpy_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def _json_bytes(obj: Any, what: str) -> bytes:
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False, default=_numpy_default)
        return (text + "\n").encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: not JSON-serialisable without NaN/inf: {exc}") from None


def _nan_to_none(rows: npt.NDArray[np.float64]) -> list[list[float | None]]:
    return [[None if math.isnan(v) else float(v) for v in row] for row in rows]


def _make_tarball(folder: Path, arcname: str, dest: Path) -> None:
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    with tarfile.open(dest, "w:gz") as tar:
        tar.add(folder, arcname=arcname, recursive=True, filter=clean)


def write_artifact(
    out_dir: Path | str,
    *,
    pipelines: Mapping[str, Any],
    weights: Mapping[str, float],
    threshold: float,
    feature_params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    training_data: Mapping[str, Any],
    golden_inputs: npt.ArrayLike,
    X_check: npt.ArrayLike | None,
    private_key: Ed25519PrivateKey | None,
    version: str | None = None,
    unsigned: bool = False,
    feature_set: str = FEATURE_SET,
    feature_names: Sequence[str] = FEATURE_NAMES,
    n_thermal: int | None = None,
    calibration: Mapping[str, Any] | None = None,
    flame_min_score: float | None = None,
    hold: tuple[float, float] | None = None,
    smoulder_min_score: float | None = None,
    smoulder_early: tuple[int, float] | None = None,
    gas_min_score: float | None = None,
    flame_ladder: Sequence[tuple[float, float]] = (),
) -> ArtifactInfo:
    """Write ``out_dir/<version>/`` and ``out_dir/<version>.tar.gz``; see the module docstring.

    ``version`` defaults to ``<UTC created>-<8 hex of the content hash>``. Signing needs
    ``private_key``; an unsigned artifact is written only with ``private_key=None`` AND
    ``unsigned=True``. ``n_thermal`` is how many leading features come from the camera (for
    the NaN variants of the check and golden rows); ``None``: the camera's columns of the
    known feature set as wide as ``feature_names``. ``calibration`` is the manifest's map of
    the weighted score (``edge.model.calibration``); None writes an uncalibrated model.
    ``flame_min_score``: the score that corroborates a growing flame, chosen on validation runs
    (``cloud.training.corroborate``), written as ``detection.flame_min_score``; None: none.
    ``hold``: ``(score, seconds)``, a score held that long alarms (``cloud.training.hold``),
    written as ``detection.hold_min_score`` and ``detection.hold_s``; None: none.
    ``smoulder_min_score``: the score that corroborates a smouldering spot
    (``cloud.training.smoulder_bar``), written as ``detection.smoulder_min_score``; None: none.
    ``smoulder_early``: ``(steps, score)``, a spot the smoulder watch sees heating or spreading
    for that many steps alarms at that score (``cloud.training.smoulder_bar``), written as
    ``detection.smoulder_early_steps`` and ``smoulder_early_min_score``; None: none.
    ``gas_min_score``: the gas-only score that alarms when held (``cloud.training.gas_bar``),
    written as ``detection.gas_min_score``; None: none.
    ``flame_ladder``: ``((seconds, score), …)``, lower flame bars for a flame growing that long
    (``cloud.training.corroborate``), written as ``detection.flame_ladder``; empty: none.

    :raises ValueError: bad arguments (named), or the folder/tarball already exists.
    :raises ArtifactExportError: a member does not export, or its ONNX scores differ.
    """
    out = Path(out_dir)
    names = list(feature_names)
    n_features = len(names)
    if private_key is None and not unsigned:
        raise ValueError("private_key is None: pass a signing key, or unsigned=True explicitly")
    if private_key is not None and unsigned:
        raise ValueError("unsigned=True with a private_key: choose one")
    if not (0.0 < threshold < 1.0):
        raise ValueError(f"threshold {threshold}; allowed: 0 < threshold < 1")
    if flame_min_score is not None and not 0.0 <= flame_min_score <= 1.0:
        raise ValueError(f"flame_min_score {flame_min_score}; allowed: 0 ≤ flame_min_score ≤ 1")
    for key, bar in (("smoulder_min_score", smoulder_min_score),
                     ("gas_min_score", gas_min_score),
                     ("smoulder_early score", None if smoulder_early is None
                      else smoulder_early[1])):
        if bar is not None and not 0.0 <= bar <= 1.0:
            raise ValueError(f"{key} {bar}; allowed: 0 ≤ {key} ≤ 1")
    if smoulder_early is not None and not (isinstance(smoulder_early[0], int)
                                           and 2 <= smoulder_early[0] <= 59):
        raise ValueError(f"smoulder_early steps {smoulder_early[0]!r}; allowed: a whole "
                         "number from 2 to 59")
    if flame_ladder and not ladder_ok(flame_min_score, flame_ladder):
        raise ValueError(f"flame_ladder {flame_ladder!r} under flame_min_score "
                         f"{flame_min_score}; allowed: {LADDER_RULE}")
    if hold is not None and not (0.0 < hold[0] < 1.0 and 0.0 < hold[1] <= 3600.0):
        raise ValueError(f"hold {hold}; allowed: a score in (0, 1) held for (0, 3600] s")
    if version is not None and not VERSION_RE.match(version):
        raise ValueError(f"version {version!r}; allowed: {VERSION_RE.pattern}")
    detection: dict[str, Any] = {}
    if flame_min_score is not None:
        detection["flame_min_score"] = float(flame_min_score)
    if flame_ladder:
        detection["flame_ladder"] = [[float(s), float(b)] for s, b in flame_ladder]
    if hold is not None:
        detection["hold_min_score"], detection["hold_s"] = float(hold[0]), float(hold[1])
    if smoulder_min_score is not None:
        detection["smoulder_min_score"] = float(smoulder_min_score)
    if smoulder_early is not None:
        detection["smoulder_early_steps"] = smoulder_early[0]
        detection["smoulder_early_min_score"] = float(smoulder_early[1])
    if gas_min_score is not None:
        detection["gas_min_score"] = float(gas_min_score)
    _check_weights(pipelines, weights)
    try:
        cal = None if calibration is None else parse_calibration(calibration)
    except ValueError as exc:
        raise ValueError(f"calibration argument: {exc}") from None
    for name, model in pipelines.items():
        check_member(name, model, n_features)
    golden = _as_matrix("golden_inputs", golden_inputs, n_features)
    golden = np.vstack([golden, _nan_variants(golden[:1], n_thermal)])
    check = golden if X_check is None else _as_matrix("X_check", X_check, n_features)
    check = np.vstack([check, _nan_variants(check, n_thermal), golden])
    if version is not None:
        _refuse_existing(out, version)

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".artifact-", dir=out))
    tar_tmp: Path | None = None
    try:
        (tmp / "members").mkdir()
        golden_members: dict[str, list[float]] = {}
        member_entries: dict[str, dict[str, Any]] = {}
        attribution: dict[str, Any] | None = None
        exported: dict[str, bytes] = {}
        for name in sorted(pipelines):
            model = pipelines[name]
            onnx_bytes = exported[name] = export_member(name, model, n_features)
            compare_member(name, model, onnx_bytes, check)
            golden_members[name] = [
                float(p) for p in compare_member(name, model, onnx_bytes, golden)
            ]
            (tmp / "members" / f"{name}.onnx").write_bytes(onnx_bytes)
            joblib.dump(model, tmp / "members" / f"{name}.joblib")
            member_entries[name] = {
                "weight": float(weights[name]),
                "joblib": f"members/{name}.joblib",
                "onnx": f"members/{name}.onnx",
                "estimator": type(final_estimator(model)).__name__,
            }
            if attribution is None:
                attribution = linear_attribution(name, model, n_features)
        fused, fused_outputs = fuse_members(exported)
        check_fused(fused, fused_outputs, exported, check)
        (tmp / "ensemble.onnx").write_bytes(fused)
        raw_scores = [
            math.fsum(weights[n] * golden_members[n][i] for n in sorted(pipelines))
            for i in range(golden.shape[0])
        ]
        scores = [float(v) for v in apply_calibration(cal, raw_scores)]
        golden_doc = {"inputs": _nan_to_none(golden), "scores": scores, "members": golden_members}
        (tmp / "golden.json").write_bytes(_json_bytes(golden_doc, "golden.json"))

        files = {
            p.relative_to(tmp).as_posix(): sha256_file(p)
            for p in sorted(tmp.rglob("*"))
            if p.is_file()
        }
        created = dt.datetime.now(dt.UTC).replace(microsecond=0)
        if version is None:
            digest = hashlib.sha256("".join(f"{k}={v};" for k, v in files.items()).encode())
            version = f"{created:%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:8]}"
            _refuse_existing(out, version)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": version,
            "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "feature_set": {"name": feature_set, "names": names, "params": dict(feature_params)},
            "members": member_entries,
            "fused": {"onnx": "ensemble.onnx", "outputs": fused_outputs},
            "threshold": float(threshold),
            **({} if cal is None else {"calibration": cal.as_dict()}),
            **({"detection": detection} if detection else {}),
            "attribution": attribution,
            "libraries": _libraries(),
            "metrics": dict(metrics),
            "training_data": dict(training_data),
            "files": files,
        }
        manifest_bytes = _json_bytes(manifest, "manifest")
        manifest = json.loads(manifest_bytes)  # what the file says, numpy numbers converted
        (tmp / "manifest.json").write_bytes(manifest_bytes)
        if private_key is not None:
            (tmp / "manifest.json.sig").write_bytes(sign(manifest_bytes, private_key) + b"\n")
        else:
            log.warning("model %s written UNSIGNED (unsigned=True); devices refuse it by default",
                        version)
        tar_tmp = out / f".{version}.tar.gz.tmp"
        _make_tarball(tmp, version, tar_tmp)
        tarball = out / f"{version}.tar.gz"
        os.replace(tar_tmp, tarball)
        final = out / version
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if tar_tmp is not None:
            tar_tmp.unlink(missing_ok=True)
        raise
    log.info("model artifact %s written to %s (%d members)", version, final, len(pipelines))
    return ArtifactInfo(path=final, tarball=tarball, version=version, manifest=manifest)


def _refuse_existing(out: Path, version: str) -> None:
    for p in (out / version, out / f"{version}.tar.gz"):
        if p.exists():
            raise ValueError(f"{p}: exists; refusing to overwrite a model artifact")
