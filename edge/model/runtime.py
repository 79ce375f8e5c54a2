"""Scoring a verified model: ONNX members through onnxruntime, or the joblib members.

Only ``edge.model.load_model`` builds a ``Model``, and only after ``edge.model.verify`` has
passed. The ensemble score is ``Σ weight[name] · p(name)``, keyed by member name, then the
manifest's ``calibration`` map when it has one (``edge.model.calibration``); the members'
probabilities are reported raw.

``top_features`` say which features moved *the ensemble's* score (:meth:`Model.explain`,
asked for an alarm or clear event, not every frame): the contribution of feature i is the
calibrated score of the vector minus the calibrated score of the same vector with feature i
at its training mean (the manifest attribution's ``center``, the linear member's scaler
mean), in units of probability: positive pushes toward fire. A missing (NaN) feature
contributes 0. The three that push toward fire most are reported, largest first (fewer when
fewer push that way); a model whose manifest has no ``center`` reports none, and
:meth:`Model.score` (every frame) reports none.

Until session 19 they were the linear member's own ``coef[i] · (x[i] − mean[i]) /
scale[i]``. That member weighs 0.03 in the demo model, and its collinear CO2 windows gave
contributions of ±2–3 log-odds for a room whose CO2 was flat: an alarm the trees raised on a
hob that had stayed hot for minutes was "explained" by ``co2_slope_300s``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from edge.errors import ModelError, ModelSelfTestError
from edge.features import FEATURE_NAMES
from edge.model.calibration import (
    Calibration,
    apply_calibration,
    calibrate_one,
    parse_calibration,
)
from edge.types import FloatArray

__all__ = [
    "SELF_TEST_TOLERANCE",
    "Backend",
    "Model",
    "Score",
    "open_ensemble",
]

log = logging.getLogger(__name__)

SELF_TEST_TOLERANCE = 1e-5
Backend = Literal["auto", "onnx", "onnx-members", "joblib"]


@dataclass(frozen=True, slots=True)
class Score:
    """One frame's fire score.

    ``top_features``: up to 3 ``(feature name, signed contribution)``, largest first.
    ``degraded``: no model (rule fallback) or a sensor missing (NaN inputs).
    """

    probability: float
    members: dict[str, float]
    top_features: list[tuple[str, float]]
    degraded: bool
    model_version: str
    threshold: float


class Member(Protocol):
    """One ensemble member: P(fire) of every float32 row."""

    def proba(self, X: npt.NDArray[np.float32]) -> FloatArray: ...


class Ensemble(Protocol):
    """Every member's P(fire) of every float32 row, by member name."""

    def proba(self, X: npt.NDArray[np.float32]) -> dict[str, FloatArray]: ...


def _session(onnx_bytes: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # an edge device: never fan out over the sensor loops' cores
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])


class OnnxMember:
    """A member scored by its own onnxruntime session."""

    def __init__(self, onnx_bytes: bytes) -> None:
        self._sess = _session(onnx_bytes)

    def proba(self, X: npt.NDArray[np.float32]) -> FloatArray:
        out = self._sess.run(["probabilities"], {"input": X})[0]
        return np.asarray(out, dtype=np.float64)[:, 1]


class JoblibMember:
    """A member scored by scikit-learn (the fallback when onnxruntime is missing)."""

    def __init__(self, model: Any) -> None:
        for step in [model, *[s for _, s in getattr(model, "steps", [])]]:
            if hasattr(step, "n_jobs"):
                step.n_jobs = 1  # never fan out over every core at inference (seed flaw)
        self.model = model

    def proba(self, X: npt.NDArray[np.float32]) -> FloatArray:
        return np.asarray(self.model.predict_proba(X.astype(np.float64)), dtype=np.float64)[:, 1]


class MemberEnsemble:
    """Members scored one by one (per-member ONNX sessions, or joblib)."""

    def __init__(self, members: dict[str, Member]) -> None:
        self.members = members

    def proba(self, X: npt.NDArray[np.float32]) -> dict[str, FloatArray]:
        return {name: m.proba(X) for name, m in self.members.items()}


class FusedOnnxEnsemble:
    """All members in one ONNX graph (``ensemble.onnx``): one session call per frame."""

    def __init__(self, onnx_bytes: bytes, outputs: Mapping[str, str]) -> None:
        self._sess = _session(onnx_bytes)
        self._names = sorted(outputs)
        self._outputs = [outputs[n] for n in self._names]

    def proba(self, X: npt.NDArray[np.float32]) -> dict[str, FloatArray]:
        res = self._sess.run(self._outputs, {"input": X})
        return {
            name: np.asarray(r, dtype=np.float64)[:, 1]
            for name, r in zip(self._names, res, strict=True)
        }


def _onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def open_ensemble(
    folder: Path, manifest: Mapping[str, Any], backend: Backend
) -> tuple[Ensemble, str]:
    """Deserialise a VERIFIED artifact folder; returns (ensemble, backend used).

    ``onnx`` uses the fused ``ensemble.onnx`` when the manifest has one, else one session per
    member (``onnx-members`` forces that); ``joblib`` the scikit-learn members; ``auto`` is
    ``onnx`` when onnxruntime imports, else ``joblib``.
    """
    if backend == "auto":
        backend = "onnx" if _onnxruntime_available() else "joblib"
        if backend == "joblib":
            log.warning("onnxruntime is not installed: scoring with the joblib members")
    fused = manifest.get("fused")
    if backend == "onnx" and isinstance(fused, dict):
        try:
            ens = FusedOnnxEnsemble((folder / fused["onnx"]).read_bytes(), fused["outputs"])
        except Exception as exc:  # any failure to deserialise refuses the model
            raise ModelError(f"{folder}: {fused.get('onnx')} cannot be loaded: {exc}") from exc
        return ens, "onnx-fused"
    if backend == "joblib":
        from importlib import metadata

        trained = manifest.get("libraries", {}).get("scikit-learn")
        here = metadata.version("scikit-learn")
        if trained != here:
            log.warning("model trained with scikit-learn %s, running %s: the joblib members may "
                        "score differently (the self-test will tell)", trained, here)
    members: dict[str, Member] = {}
    for name in sorted(manifest["members"]):
        entry = manifest["members"][name]
        try:
            if backend in ("onnx", "onnx-members"):
                members[name] = OnnxMember((folder / entry["onnx"]).read_bytes())
            else:
                import joblib

                members[name] = JoblibMember(joblib.load(folder / entry["joblib"]))
        except Exception as exc:  # any failure to deserialise refuses the model
            raise ModelError(
                f"{folder}: member {name!r} cannot be loaded ({backend}): {exc}"
            ) from exc
    return MemberEnsemble(members), "joblib" if backend == "joblib" else "onnx-members"


@dataclass
class Model:
    """A verified, self-tested ensemble; ``score`` is safe to call from several threads."""

    version: str
    threshold: float
    weights: dict[str, float]
    ensemble: Ensemble
    backend: str
    manifest: dict[str, Any]
    _center: FloatArray | None = field(default=None, repr=False)
    _order: tuple[str, ...] = field(default=(), repr=False)
    _names: tuple[str, ...] = field(default=FEATURE_NAMES, repr=False)
    _calibration: Calibration | None = field(default=None, repr=False)

    @property
    def flame_min_score(self) -> float | None:
        """The score that corroborates a growing flame, chosen on the model's validation runs
        (manifest ``detection.flame_min_score``); None: the model does not say."""
        return self._detection("flame_min_score")

    @property
    def flame_ladder(self) -> tuple[tuple[float, float], ...]:
        """``((seconds, score), …)``: a flame growing for that many seconds alarms at that
        score, lower than ``flame_min_score``, chosen on the model's validation runs (manifest
        ``detection.flame_ladder``, verified by ``edge.model.verify``); empty: none."""
        rungs = (self.manifest.get("detection") or {}).get("flame_ladder") or ()
        return tuple((float(s), float(b)) for s, b in rungs)

    @property
    def smoulder_min_score(self) -> float | None:
        """The score that corroborates a smouldering spot, chosen on the model's validation
        runs (manifest ``detection.smoulder_min_score``); None: the model does not say."""
        return self._detection("smoulder_min_score")

    @property
    def gas_min_score(self) -> float | None:
        """The gas-only score that alarms when held, over what every validation no-fire run
        held (manifest ``detection.gas_min_score``); None: the model does not say (the gas
        watch is off)."""
        return self._detection("gas_min_score")

    @property
    def smoulder_early(self) -> tuple[int, float] | None:
        """``(steps, score)``: a spot the smoulder watch sees heating or spreading for that
        many steps alarms at that score, the lowest no validation nuisance reaches (manifest
        ``detection.smoulder_early_steps`` and ``smoulder_early_min_score``); None: the model
        does not say (off)."""
        steps = self._detection("smoulder_early_steps")
        bar = self._detection("smoulder_early_min_score")
        return None if steps is None or bar is None else (int(steps), bar)

    @property
    def hold(self) -> tuple[float, float] | None:
        """``(score, seconds)``: a score held at or above ``score`` for ``seconds`` alarms,
        chosen on the model's validation runs (manifest ``detection.hold_min_score`` and
        ``detection.hold_s``); None: the model does not say."""
        score, seconds = self._detection("hold_min_score"), self._detection("hold_s")
        return None if score is None or seconds is None else (score, seconds)

    def _detection(self, key: str) -> float | None:
        """The manifest's ``detection.<key>`` (verified by ``edge.model.verify``); None: absent."""
        value = (self.manifest.get("detection") or {}).get(key)
        return None if value is None else float(value)

    def __post_init__(self) -> None:
        self._order = tuple(sorted(self.weights))
        fs = self.manifest.get("feature_set")
        names = fs.get("names") if isinstance(fs, dict) else None
        if isinstance(names, list) and names:
            self._names = tuple(str(n) for n in names)
        if self.manifest.get("calibration") is not None:  # verified by edge.model.verify
            self._calibration = parse_calibration(self.manifest["calibration"])
        att = self.manifest.get("attribution")
        center = att.get("center") if isinstance(att, dict) else None
        self._center = None
        if center is not None:
            try:
                ref = np.asarray(center, dtype=np.float64)
            except (TypeError, ValueError):
                ref = np.zeros(0)
            if ref.shape == (len(self._names),):
                self._center = ref
            else:  # explanations are extra: never a reason to refuse a verified model
                log.warning("model %s: attribution center is not %d numbers; its events will "
                            "name no top features", self.version, len(self._names))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features the model scores: the first ``len(feature_names)`` of a vector."""
        return self._names

    def score_batch(self, X: npt.ArrayLike) -> tuple[FloatArray, dict[str, FloatArray]]:
        """Ensemble (calibrated) and per-member (raw) P(fire) of every row of ``X`` (n, ≥ N):
        the first N columns, N the number of features the manifest names."""
        n = len(self._names)
        x64 = np.asarray(X, dtype=np.float64)
        if x64.ndim != 2 or x64.shape[1] < n:
            raise ValueError(f"X: shape {x64.shape}; allowed: (n, ≥ {n})")
        x32 = np.ascontiguousarray(x64[:, :n], dtype=np.float32)
        per = self.ensemble.proba(x32)
        total = np.zeros(x32.shape[0])
        for name in sorted(per):
            total += self.weights[name] * per[name]
        return apply_calibration(self._calibration, total), per

    def score(self, x: npt.ArrayLike) -> Score:
        """Score one feature vector (N or more numbers: the first N, the features the
        manifest names, are scored); NaN features mean a missing sensor (degraded).

        :raises ValueError: when ``x`` is not a vector of at least N numbers.
        :raises ModelError: when the model returns a non-probability (a broken model).
        """
        n = len(self._names)
        v = np.asarray(x, dtype=np.float64)
        if v.ndim != 1 or v.shape[0] < n:
            raise ValueError(f"x: shape {v.shape}; allowed: (≥ {n},)")
        v = v[:n]
        x32 = v.astype(np.float32).reshape(1, n)
        members: dict[str, float] = {}
        p = 0.0
        per = self.ensemble.proba(x32)
        for name in self._order:
            pm = float(per[name][0])
            p += self.weights[name] * pm
            # float32 ONNX outputs may overshoot [0, 1] by ~1e-7: report clean probabilities
            members[name] = min(max(pm, 0.0), 1.0)
        if not (math.isfinite(p) and -1e-6 <= p <= 1.0 + 1e-6):
            raise ModelError(f"model {self.version}: score {p} is not a probability")
        if self._calibration is not None:
            p = calibrate_one(self._calibration, p)
        return Score(
            probability=min(max(p, 0.0), 1.0),
            members=members,
            top_features=[],
            degraded=bool(np.isnan(v).any()),
            model_version=self.version,
            threshold=self.threshold,
        )

    def explain(self, x: npt.ArrayLike, k: int = 3) -> Score:
        """:meth:`score`, with the ``k`` features that pushed the ensemble's score toward fire
        most (see the module docstring): one batch of N rows, for an event, not every frame.

        :raises ValueError: when ``x`` is not a vector of at least N numbers.
        :raises ModelError: when the model returns a non-probability (a broken model).
        """
        score = self.score(x)
        if self._center is None:
            return score
        n = len(self._names)
        v = np.asarray(x, dtype=np.float64)[:n]
        rows = np.repeat(v[None, :], n, axis=0)
        idx = np.arange(n)
        rows[idx, idx] = np.where(np.isnan(v), np.nan, self._center)
        moved, _ = self.score_batch(rows)
        contrib = score.probability - moved
        vals = [0.0 if not math.isfinite(c) else float(c) for c in contrib]
        order = sorted((i for i in range(n) if vals[i] > 0.0), key=lambda i: -vals[i])[:k]
        return replace(score, top_features=[(self._names[i], round(vals[i], 4)) for i in order])

    def self_test(self, golden: Mapping[str, Any]) -> None:
        """Score the golden inputs; every member and the ensemble within 1e-5.

        :raises ModelSelfTestError: naming the member (or ensemble) and the row.
        """
        try:
            X = np.array(
                [[math.nan if v is None else float(v) for v in row] for row in golden["inputs"]],
                dtype=np.float64,
            )
            want_scores = np.asarray(golden["scores"], dtype=np.float64)
            want_members = {n: np.asarray(golden["members"][n], dtype=np.float64)
                            for n in self.weights}
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelSelfTestError(
                f"model {self.version}: golden.json malformed: {exc}"
            ) from None
        total, per = self.score_batch(X)
        checks = [("ensemble", total, want_scores)]
        checks += [(n, per[n], want_members[n]) for n in sorted(per)]
        for name, got, want in checks:
            if got.shape != want.shape:
                raise ModelSelfTestError(
                    f"model {self.version}: golden {name} has {want.shape[0]} rows, got "
                    f"{got.shape[0]}"
                )
            diff = np.abs(got - want)
            diff[np.isnan(diff)] = np.inf
            if diff.size and diff.max() > SELF_TEST_TOLERANCE:
                row = int(np.argmax(diff))
                raise ModelSelfTestError(
                    f"model {self.version}: self-test failed: {name} scores {got[row]:.6g} on "
                    f"golden row {row}, expected {want[row]:.6g} (tolerance "
                    f"{SELF_TEST_TOLERANCE:g}, backend {self.backend})"
                )
