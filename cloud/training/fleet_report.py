"""The fleet part of the training report: how much fleet data went in, and how the model does
on the held-out fleet clips (the test side of the device split, ``splits.split_devices``)."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cloud.training.data import Dataset
from cloud.training.ensemble import Ensemble
from cloud.training.metrics import frame_metrics, run_events, summarise_runs


def fleet_groups(ds: Dataset, groups: Sequence[int] | None = None) -> list[int]:
    """The fleet-clip groups among ``groups`` (all groups when None)."""
    ids = range(len(ds.groups)) if groups is None else groups
    return [g for g in ids if ds.groups[g].kind == "fleet"]


def fleet_summary(ds: Dataset) -> dict[str, Any]:
    """Clips by reason, verdict and use, and the rows, devices and hours they gave (after
    de-duplication); an empty dict without fleet clips."""
    if not ds.clips:
        return {}
    used = fleet_groups(ds)
    rows = ds.rows_of(used)
    seconds = 0.0
    for g in used:
        t = ds.t[ds.group == g]
        seconds += float(t.max() - t.min()) if t.size else 0.0
    return {
        "clips": len(ds.clips),
        "by_reason": dict(sorted(Counter(c.reason for c in ds.clips).items())),
        "by_verdict": dict(sorted(Counter(c.verdict or "none" for c in ds.clips).items())),
        "by_use": dict(sorted(Counter(c.use for c in ds.clips).items())),
        "clips_used": len(used),
        "rows": int(rows.size),
        "fire_rows": int(ds.y[rows].sum()),
        "weighted_rows": int((ds.w[rows] != 1.0).sum()),
        "devices": len({c.device_id for c in ds.clips}),
        "devices_used": len({ds.groups[g].device for g in used}),
        "hours": seconds / 3600.0,
        "label_problems": sum(c.label_problem is not None for c in ds.clips),
    }


def fleet_heldout(ds: Dataset, ens: Ensemble, test: Sequence[int]) -> dict[str, Any]:
    """The ensemble on the held-out fleet clips: frame scores and, per use (``fire``,
    ``false_alarm``, ``unlabelled``), the clips where it alarms (and detects a fire)."""
    groups = fleet_groups(ds, test)
    if not groups:
        return {"clips": 0, "devices": 0}
    uses = {c.name: c.use for c in ds.clips}
    rows = ds.rows_of(groups)
    p = ens.predict_proba(ds.X[rows].astype(np.float64))
    runs: dict[str, list[dict[str, Any]]] = {}
    for g in groups:
        info = ds.groups[g]
        sel = ds.group[rows] == g
        ev = run_events(ds.t[rows][sel], p[sel], ens.threshold, info.fire_start_s)
        runs.setdefault(uses.get(info.name, "unlabelled"), []).append(ev)
    return {
        "clips": len(groups),
        "devices": len({ds.groups[g].device for g in groups}),
        "frame": frame_metrics(ds.y[rows], p, ens.threshold),
        "by_use": {use: summarise_runs(evs) for use, evs in sorted(runs.items())},
    }


def _cells(doc: Mapping[str, Any]) -> str:
    return "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_num(v))}</td></tr>"
                   for k, v in doc.items())


def _num(v: Any) -> str:
    if isinstance(v, float):
        return "–" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


def fleet_html(doc: Mapping[str, Any]) -> str:
    """The report's section "Fleet data" (nothing without fleet clips)."""
    if not doc:
        return ""
    counts = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    parts = ["<h2>Fleet data</h2><p>Device clips with their verdicts (docs/fleet.md, "
             "\"Training from the fleet\"), after de-duplication.</p>",
             f"<table>{_cells(counts)}</table>"]
    for key, title in (("by_reason", "Clips by reason"), ("by_verdict", "Clips by verdict"),
                       ("by_use", "Clips by use")):
        parts.append(f"<h3>{title}</h3><table>{_cells(doc.get(key, {}))}</table>")
    held = doc.get("heldout") or {}
    parts.append(f"<h3>Held-out fleet clips (test devices): {held.get('clips', 0)} clips from "
                 f"{held.get('devices', 0)} devices</h3>")
    if held.get("frame"):
        f = held["frame"]
        parts.append("<table>" + _cells({k: f.get(k) for k in (
            "n", "positives", "accuracy", "recall", "fpr", "roc_auc")}) + "</table>")
    for use, v in (held.get("by_use") or {}).items():
        detected = f", fire detected in {v['detected']}/{v['fire_runs']}" if v.get(
            "fire_runs") else ""
        parts.append(f"<p>{html.escape(use)}: {v['runs']} clips, "
                     f"{v['runs_with_false_alarm']} with an alarm outside a fire{detected}.</p>")
    return "".join(parts)
