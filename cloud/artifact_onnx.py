"""ONNX export of ensemble members and the check that it scores like scikit-learn.

Each member is a fitted scikit-learn classifier (usually a ``Pipeline``) over the 18 features,
classes exactly ``[0, 1]``. It is exported with skl2onnx: one float32 input ``"input"`` of
shape ``(None, n_features)``, ``zipmap`` off so the output ``"probabilities"`` is a plain
``(N, 2)`` tensor. Members must score NaN rows (degraded mode): put a ``SimpleImputer`` in the
pipeline. ``HistGradientBoostingClassifier`` does *not* export with skl2onnx 1.20 + onnx 1.23
(its missing-value attribute is rejected), so it is refused here with that reason.

The canonical input of a model is float32: scikit-learn is compared on the same float32
values (cast back to float64), which is also what the device's joblib fallback does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "ONNX_INPUT",
    "ONNX_OUTPUT",
    "ONNX_TOLERANCE",
    "ArtifactExportError",
    "check_member",
    "compare_member",
    "export_member",
    "linear_attribution",
    "onnx_member_proba",
    "sklearn_member_proba",
]

ONNX_INPUT = "input"
ONNX_OUTPUT = "probabilities"
ONNX_TOLERANCE = 1e-5
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


class ArtifactExportError(RuntimeError):
    """A member cannot be exported, or its export does not score like the original."""


def _final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def check_member(name: str, model: Any, n_features: int) -> None:
    """Refuse a member that is not a fitted binary classifier over ``n_features`` inputs.

    :raises ValueError: naming the member and what is wrong.
    """
    if not hasattr(model, "predict_proba"):
        raise ValueError(f"member {name!r}: {type(model).__name__} has no predict_proba")
    classes = getattr(model, "classes_", None)
    if classes is None:
        raise ValueError(f"member {name!r}: not fitted (no classes_)")
    if [int(c) for c in classes] != [0, 1]:
        raise ValueError(f"member {name!r}: classes {list(classes)}; allowed: exactly [0, 1]")
    n_in = getattr(model, "n_features_in_", n_features)
    if n_in != n_features:
        raise ValueError(f"member {name!r}: fitted on {n_in} features; expected {n_features}")
    final = _final_estimator(model)
    if type(final).__name__.startswith("HistGradientBoosting"):
        raise ValueError(
            f"member {name!r}: {type(final).__name__} does not export to ONNX with this "
            "skl2onnx/onnx (missing-value attributes rejected); use a Pipeline with "
            "SimpleImputer and GradientBoostingClassifier/RandomForestClassifier"
        )


def export_member(name: str, model: Any, n_features: int) -> bytes:
    """The serialised ONNX model of one member.

    :raises ArtifactExportError: when skl2onnx cannot convert it.
    """
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    try:
        onx = to_onnx(
            model,
            initial_types=[(ONNX_INPUT, FloatTensorType([None, n_features]))],
            options={id(model): {"zipmap": False}},
            target_opset=TARGET_OPSET,
        )
    except Exception as exc:  # skl2onnx raises many types; all mean "cannot export"
        raise ArtifactExportError(
            f"member {name!r}: skl2onnx cannot export {type(model).__name__}: {exc}"
        ) from exc
    data: bytes = onx.SerializeToString()
    return data


def onnx_member_proba(onnx_bytes: bytes, X: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """P(fire) of every row of ``X`` through onnxruntime (single-threaded)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    out = sess.run([ONNX_OUTPUT], {ONNX_INPUT: np.asarray(X, dtype=np.float32)})[0]
    return np.asarray(out, dtype=np.float64)[:, 1]


def sklearn_member_proba(model: Any, X: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """P(fire) of every row through scikit-learn, on the float32-rounded inputs."""
    x32 = np.asarray(X, dtype=np.float32).astype(np.float64)
    return np.asarray(model.predict_proba(x32), dtype=np.float64)[:, 1]


def compare_member(
    name: str, model: Any, onnx_bytes: bytes, X: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Check ONNX against scikit-learn on ``X``; returns the ONNX probabilities.

    :raises ArtifactExportError: when any row differs by more than ``ONNX_TOLERANCE``.
    """
    p_onnx = onnx_member_proba(onnx_bytes, X)
    p_skl = sklearn_member_proba(model, X)
    if not (np.all(np.isfinite(p_onnx)) and np.all(np.isfinite(p_skl))):
        raise ArtifactExportError(
            f"member {name!r}: non-finite probabilities on the check rows (NaN inputs must be "
            "imputed inside the pipeline)"
        )
    diff = np.abs(p_onnx - p_skl)
    worst = int(np.argmax(diff))
    if diff[worst] > ONNX_TOLERANCE:
        raise ArtifactExportError(
            f"member {name!r}: ONNX and scikit-learn disagree by {diff[worst]:.3g} on check "
            f"row {worst} (allowed ≤ {ONNX_TOLERANCE:g})"
        )
    return p_onnx


def linear_attribution(
    name: str, model: Any, n_features: int
) -> dict[str, Any] | None:
    """The per-feature linear attribution of a ``[SimpleImputer] → [StandardScaler] → linear``
    member, or None when the member is not of that shape.

    Contribution of feature i = ``coef[i] · (x[i] − center[i]) / scale[i]`` (log-odds of that
    member); a missing (NaN) feature contributes 0.
    """
    steps = list(getattr(model, "steps", [("", model)]))
    final = steps[-1][1]
    coef = getattr(final, "coef_", None)
    if coef is None or np.shape(coef) != (1, n_features):
        return None
    center = np.zeros(n_features)
    scale = np.ones(n_features)
    for _, step in steps[:-1]:
        kind = type(step).__name__
        if kind == "StandardScaler":
            if getattr(step, "mean_", None) is not None:
                center = np.asarray(step.mean_, dtype=np.float64)
            if getattr(step, "scale_", None) is not None:
                scale = np.asarray(step.scale_, dtype=np.float64)
        elif kind != "SimpleImputer":
            return None
    return {
        "method": "linear",
        "member": name,
        "coef": [float(c) for c in np.asarray(coef, dtype=np.float64)[0]],
        "center": [float(c) for c in center],
        "scale": [float(s) for s in scale],
    }
