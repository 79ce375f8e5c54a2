"""A workaround that lets skl2onnx 1.20 export ``HistGradientBoostingClassifier`` under onnx 1.23.

skl2onnx's tree helper for the histogram-based estimators
(``skl2onnx.common.tree_ensemble.add_tree_to_attribute_pairs_hist_gradient_boosting``) appends
a Python ``False`` to the ``nodes_missing_value_tracks_true`` attribute for every LEAF node
(branch nodes get scikit-learn's ``missing_go_to_left`` as a numpy integer). onnx 1.23's
``helper.make_attribute`` refuses a bool in an INTS attribute ("Expected an int, got a
boolean"), so the conversion fails inside skl2onnx, before any graph exists to repair. The
same helper for the other trees already writes ``0`` ("cannot use boolean in onnx"); skl2onnx
1.20.0 is the newest release on the index (checked 2026-12-04). No upstream issue was found
for the bool itself; the nearest are onnx/sklearn-onnx#1253 (how the tree converters carry
scikit-learn's learned NaN routing into this attribute; the HistGB helper is the one that
copies it) and onnx/sklearn-onnx#358 (the HistGB converter).

The fix, at the conversion step: convert HistGB with skl2onnx's own converter, but through a
container whose ``add_node`` turns that attribute's values into ints (``False`` → 0; branch
values are already 0/1). Nothing else changes, so NaN routing is the one scikit-learn learned;
``cloud.artifact.onnx.compare_member`` checks parity on NaN rows for every artifact.
Remove this module once skl2onnx writes ints itself.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MISSING_ATTR", "custom_converters"]

MISSING_ATTR = "nodes_missing_value_tracks_true"


def _hist_gb_classifier(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx's HistGB classifier converter with the missing-value attribute made ints."""
    from skl2onnx.operator_converters.random_forest import (
        convert_sklearn_random_forest_classifier,
    )

    add_node = container.add_node

    def add_node_int_missing(*args: Any, **attrs: Any) -> Any:
        values = attrs.get(MISSING_ATTR)
        if values is not None:
            attrs[MISSING_ATTR] = [int(v) for v in values]
        return add_node(*args, **attrs)

    container.add_node = add_node_int_missing  # this container only, for this operator
    try:
        convert_sklearn_random_forest_classifier(scope, operator, container)
    finally:
        del container.add_node


def custom_converters() -> dict[type, Any]:
    """``custom_conversion_functions`` for ``skl2onnx.convert_sklearn``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return {HistGradientBoostingClassifier: _hist_gb_classifier}
