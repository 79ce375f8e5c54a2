"""ONNX export of ensemble members and the check that it scores like scikit-learn.

Each member is a fitted scikit-learn classifier (usually a ``Pipeline``) over the 18 features,
classes exactly ``[0, 1]``. It is exported with skl2onnx: one float32 input ``"input"`` of
shape ``(None, n_features)``, ``zipmap`` off so the output ``"probabilities"`` is a plain
``(N, 2)`` tensor. Members must score NaN rows (degraded mode): put a ``SimpleImputer`` in the
pipeline, or use an estimator that routes NaN itself (``HistGradientBoostingClassifier``, whose
export needs the small workaround in ``cloud.artifact.onnx_compat``).

The canonical input of a model is float32: scikit-learn is compared on the same float32
values (cast back to float64), which is also what the device's joblib fallback does.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    "final_estimator",
    "fuse_members",
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


def final_estimator(model: Any) -> Any:
    """The last step of a ``Pipeline``, or the model itself."""
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


def export_member(name: str, model: Any, n_features: int) -> bytes:
    """The serialised ONNX model of one member.

    :raises ArtifactExportError: when skl2onnx cannot convert it.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    from cloud.artifact.onnx_compat import custom_converters

    try:
        onx = convert_sklearn(
            model,
            initial_types=[(ONNX_INPUT, FloatTensorType([None, n_features]))],
            options={id(model): {"zipmap": False}},
            target_opset=TARGET_OPSET,
            custom_conversion_functions=custom_converters(),
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
            "imputed inside the pipeline or routed by the estimator)"
        )
    diff = np.abs(p_onnx - p_skl)
    worst = int(np.argmax(diff))
    if diff[worst] > ONNX_TOLERANCE:
        est = final_estimator(model)
        trees = hasattr(est, "estimators_") or hasattr(est, "_predictors")
        hint = ("; ONNX keeps a tree's split thresholds in float32, and a row near one goes "
                "down the other branch: seen when training on very little data (a handful "
                "of runs), so train on more" if trees else "")
        raise ArtifactExportError(
            f"member {name!r}: ONNX and scikit-learn disagree by {diff[worst]:.3g} on check "
            f"row {worst} (allowed ≤ {ONNX_TOLERANCE:g}){hint}"
        )
    return p_onnx


def fuse_members(onnx_models: Mapping[str, bytes]) -> tuple[bytes, dict[str, str]]:
    """One ONNX graph running every member on the shared input (one session call per frame
    instead of one per member); returns it and ``{member: its probabilities output}``.

    Each member's names are prefixed ``<member>__``; only the probability outputs are kept.
    """
    import onnx
    from onnx import compose, helper

    nodes: list[Any] = []
    inits: list[Any] = []
    outputs: list[Any] = []
    opsets: dict[str, int] = {}
    ir_version = 0
    graph_input = None
    names: dict[str, str] = {}
    for name in sorted(onnx_models):
        model = onnx.load_from_string(onnx_models[name])
        ir_version = max(ir_version, model.ir_version)
        model = compose.add_prefix(model, prefix=f"{name}__", rename_inputs=False)
        for imp in model.opset_import:
            opsets[imp.domain] = max(opsets.get(imp.domain, 0), imp.version)
        if graph_input is None:
            graph_input = model.graph.input[0]
        nodes.extend(model.graph.node)
        inits.extend(model.graph.initializer)
        out = next(o for o in model.graph.output if o.name == f"{name}__{ONNX_OUTPUT}")
        outputs.append(out)
        names[name] = out.name
    if graph_input is None:
        raise ArtifactExportError("fused ensemble: no members to fuse")
    graph = helper.make_graph(nodes, "firedetect_ensemble", [graph_input], outputs,
                              initializer=inits)
    fused = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())]
    )
    fused.ir_version = ir_version
    onnx.checker.check_model(fused)
    data: bytes = fused.SerializeToString()
    return data, names


def check_fused(
    fused: bytes, outputs: Mapping[str, str], onnx_models: Mapping[str, bytes],
    X: npt.NDArray[np.float64],
) -> None:
    """The fused graph gives every member's ONNX probabilities on ``X``.

    :raises ArtifactExportError: naming the member whose output differs.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(fused, opts, providers=["CPUExecutionProvider"])
    names = sorted(outputs)
    got = sess.run([outputs[n] for n in names], {ONNX_INPUT: np.asarray(X, dtype=np.float32)})
    for name, arr in zip(names, got, strict=True):
        want = onnx_member_proba(onnx_models[name], X)
        diff = float(np.max(np.abs(np.asarray(arr, dtype=np.float64)[:, 1] - want)))
        if not diff <= ONNX_TOLERANCE:
            raise ArtifactExportError(
                f"fused ensemble: member {name!r} differs from its own ONNX by {diff:.3g}"
            )


def linear_attribution(
    name: str, model: Any, n_features: int
) -> dict[str, Any] | None:
    """The per-feature linear attribution of a ``[SimpleImputer] → [StandardScaler] → linear``
    member, or None when the member is not of that shape.

    Contribution of feature i = ``coef[i] · (x[i] − center[i]) / scale[i]`` (log-odds of that
    member); a missing (NaN) feature contributes 0. The device reads only ``center`` (each
    feature's training mean): the reference its events' ``top_features`` measure the whole
    ensemble against (``edge.model.runtime``).
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
