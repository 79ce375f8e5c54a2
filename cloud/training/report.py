"""The training report: ``metrics.json`` and a self-contained ``report.html`` (PNGs inline).

Tables: frame and event scores on the test runs, the calibration (Brier, log-loss and a
10-bin reliability table before and after, on the validation runs), the threshold's
detection and false alarms per engine, and the drop-one table of the members (validation).
Plots: ROC and PR curves of every member and the ensemble on the held-out test rows, time
to alarm per family, and feature importances. matplotlib is imported here only (the
``train`` extra), with the non-interactive Agg backend.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cloud.training.fleet_report import fleet_html
from cloud.training.metrics import SEED_PUBLISHED, clean_json

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]


def feature_importances(pipelines: Mapping[str, Any], names: tuple[str, ...]
                        ) -> tuple[str, dict[str, float]]:
    """RF impurity importances (else an exact GB's, else |LR coefficient| on standardised
    inputs). HistGradientBoostingClassifier (today's gb) has no impurity importances."""
    for member, kind in (("rf", "RF impurity"), ("gb", "GB impurity")):
        imp = getattr(pipelines[member].named_steps["clf"], "feature_importances_", None) \
            if member in pipelines else None
        if imp is not None:
            return kind, {n: float(v) for n, v in zip(names, imp, strict=True)}
    if "lr" in pipelines:
        coef = np.abs(pipelines["lr"].named_steps["clf"].coef_[0])
        return "|LR coefficient|", {n: float(v) for n, v in zip(names, coef, strict=True)}
    return "none", {}


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _curves_png(y: Array, probs: Mapping[str, Array]) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    if len(np.unique(y)) < 2:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for name, p in probs.items():
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        a.plot(fpr, tpr, label=name, lw=2 if name == "ensemble" else 1)
        b.plot(rec, prec, label=name, lw=2 if name == "ensemble" else 1)
    a.plot([0, 1], [0, 1], ":", color="grey")
    a.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC (test frames)")
    b.set(xlabel="recall", ylabel="precision", title="Precision–recall (test frames)")
    a.legend()
    b.legend()
    return _png(fig)


def _tta_png(families: Mapping[str, Mapping[str, Any]]) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fires = {f: v for f, v in families.items() if v.get("fire_runs")}
    if not fires:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.5 * len(fires)))
    labels = []
    for i, (fam, v) in enumerate(fires.items()):
        tta = v.get("tta_s") or []
        ax.scatter(tta, [i] * len(tta), s=16)
        labels.append(f"{fam} ({v['detected']}/{v['fire_runs']})")
    ax.set_yticks(range(len(fires)), labels)
    ax.set_xlim(left=0)
    ax.set(xlabel="time to alarm after fire onset, s", title="Time to alarm (test runs)")
    return _png(fig)


def _importance_png(kind: str, imp: Mapping[str, float]) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not imp:
        return None
    items = sorted(imp.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set(title=f"Feature importance ({kind})")
    return _png(fig)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    return html.escape(str(v))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _frame_table(frame: Mapping[str, Mapping[str, float]]) -> str:
    rows = []
    for name, m in frame.items():
        seed = SEED_PUBLISHED.get(name.split("@")[0], {})
        rows.append([name, m.get("accuracy"), m.get("f1"), m.get("roc_auc"), m.get("pr_auc"),
                     m.get("fpr"), seed.get("accuracy"), seed.get("f1"), seed.get("roc_auc")])
    return _table(["model", "accuracy", "F1", "ROC-AUC", "PR-AUC", "FPR",
                   "seed accuracy", "seed F1", "seed AUC"], rows)


def _family_table(families: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for fam, v in families.items():
        ci = v.get("detection_ci95") or [None, None]
        rows.append([fam, v["runs"], v.get("detection_rate"), ci[0], ci[1],
                     v.get("tta_median_s"), v.get("tta_p90_s"), v["runs_with_false_alarm"],
                     v["false_alarms_per_device_day"]])
    return _table(["family", "runs", "detection", "CI low", "CI high", "TTA median s",
                   "TTA p90 s", "runs with false alarm", "false alarms / device-day"], rows)


def _calibration_html(cal: Mapping[str, Any]) -> str:
    """Brier/log-loss before and after, and the 10-bin reliability table (validation rows)."""
    if not cal:
        return ""
    before, after = cal["before"], cal["after"]
    rows = [[b["bin"], b["rows"], b["mean_score"], b["fire_share"], a["rows"], a["mean_score"],
             a["fire_share"]] for b, a in zip(before["reliability"], after["reliability"],
                                               strict=True)]
    return "".join([
        f"<h2>Calibration (validation runs): {html.escape(str(cal['method']))}</h2>",
        f"<p>Chosen by {html.escape(str(cal['chosen_by']))}.</p>",
        _table(["", "Brier", "log-loss"],
               [["before", before["brier"], before["log_loss"]],
                ["after", after["brier"], after["log_loss"]]]),
        "<h3>Reliability (10 bins of the score)</h3>",
        _table(["bin", "rows before", "mean score before", "fire share before", "rows after",
                "mean score after", "fire share after"], rows),
    ])


def _validation_html(val: Mapping[str, Any]) -> str:
    """Per-engine validation events and the drop-one table."""
    if not val:
        return ""

    def row(label: str, v: Mapping[str, Any]) -> list[Any]:
        return [label, v.get("runs"), v.get("fire_runs"), v.get("detected"),
                v.get("tta_median_s"), v.get("runs_with_false_alarm"),
                v.get("device_false_alarm_runs")]

    head = ["runs", "fire runs", "detected", "TTA median s", "runs with a frame over the "
            "threshold before the fire", "runs the device alarms before the fire"]
    parts = ["<h2>Threshold per engine (validation runs)</h2>",
             _table(["engine", *head], [row(e, v) for e, v in val.get("engines", {}).items()])]
    drop = val.get("drop_one", {})
    if drop:
        parts += ["<h2>What each member adds (validation runs)</h2><p>The ensemble without "
                  "one member, re-weighted, re-calibrated and re-thresholded the same way.</p>",
                  _table(["variant", "frame ROC-AUC", "threshold", *head],
                         [[k, v.get("frame_roc_auc"), v.get("threshold"), *row(k, v)[1:]]
                          for k, v in drop.items()])]
    return "".join(parts)


def write_report(report_dir: Path, metrics: Mapping[str, Any], *, y_test: Array,
                 test_probs: Mapping[str, Array], importance: tuple[str, Mapping[str, float]],
                 ) -> tuple[Path, Path]:
    """Write ``metrics.json`` and ``report.html``; return both paths (never overwrites)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    mpath, hpath = report_dir / "metrics.json", report_dir / "report.html"
    for p in (mpath, hpath):
        if p.exists():
            raise FileExistsError(f"{p}: exists; refusing to overwrite a report")
    doc = clean_json(metrics)
    mpath.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")

    images = [
        ("ROC and PR curves", _curves_png(y_test, test_probs)),
        ("Time to alarm per family", _tta_png(metrics.get("families", {}))),
        ("Feature importance", _importance_png(*importance)),
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>firedetect training report"
        "</title><style>body{font-family:sans-serif;max-width:70em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "text-align:right}</style></head><body>",
        f"<h1>firedetect model {html.escape(str(metrics.get('version', '')))}</h1>",
        f"<p>{_fmt(metrics.get('data', {}).get('n_rows'))} rows from "
        f"{_fmt(metrics.get('data', {}).get('n_groups'))} recordings/files; threshold "
        f"{_fmt(metrics.get('threshold'))} for a target per-frame false-alarm rate of "
        f"{_fmt(metrics.get('target_far'))}; weights {html.escape(str(metrics.get('weights')))}"
        f".</p>",
        "<h2>Frame level, held-out test recordings</h2>",
        "<p>Seed columns: the original system's published numbers (per sample, on its own "
        "synthetic data; not the same test set).</p>",
        _frame_table(metrics.get("frame", {})),
        "<h2>Event level per family, held-out test recordings</h2>",
        _family_table(metrics.get("families", {})),
    ]
    parts += [fleet_html(metrics.get("fleet", {})),
              _calibration_html(metrics.get("calibration", {})),
              _validation_html(metrics.get("validation", {}))]
    if metrics.get("holdout_families"):
        parts += ["<h2>Leave-one-family-out</h2><p>Trained without the family (fewer trees), "
                  "tested on all its runs.</p>",
                  _family_table(metrics["holdout_families"])]
    for title, png in images:
        if png:
            parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
                         f"src='data:image/png;base64,{png}'>")
    parts.append("</body></html>")
    hpath.write_text("\n".join(parts))
    log.info("report written to %s", hpath)
    return mpath, hpath
