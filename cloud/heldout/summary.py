"""Scores of held-out replays: events per family, frames overall, and the §6 targets.

Input: ``cloud.heldout.suite.evaluate_run`` results (a run's truth plus, per mode, the events the
device published and every score it computed). Definitions (fire-science.md §4–§6):

- A fire run is **detected** when an ``alarm`` event comes at or after ``fire_start_s`` (t0),
  or an alarm raised before t0 is still standing at t0 (TTA 0; that alarm also counts as a
  false alarm). **TTA** = first alarm time − t0; a miss is censored at the run's end.
- A **false alarm** is an ``alarm`` event before t0 or anywhere in a nuisance run. False
  alarms per device-day = alarms in nuisance runs / nuisance run time (days), with the exact
  Poisson interval; "runs alarming" is the share of nuisance runs with ≥ 1 alarm.
- **Frame level**: every score the pipeline computed, labelled fire from t0; scores in
  [t0, t0 + lag] are left out (the sensors have not seen the fire yet). F1 at the alarm
  threshold (score ≥ threshold, as the alarm state machine compares). **By fire kind**: the
  fire frames of one kind of fire (``FIRE_KINDS``: flaming, smouldering in view, out of
  view) against every no-fire frame of every run, so a kind the model cannot rank shows
  by itself instead of only pulling the overall figure down.
- **Before the smoke detector** (runs whose truth has ``smoke_detector_s``, i.e. CFAST's):
  the share of fire runs whose first alarm came strictly before the ceiling smoke detector;
  a fire the detector never notices counts as "before" if alarmed at all, a miss never; a
  run where neither alarmed within the run is undecided and left out
  (``cloud.heldout.metrics.before_smoke_detector``). None (shown "n/a") without that truth.
- Per engine (``ours``/``cfast``): every fire and every nuisance run of the engine together.
  The §6 targets are computed on our engine's runs only (their family codes are ours).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from cloud.heldout.metrics import before_smoke_detector, poisson_rate_ci, tta_summary, wilson_ci

DAY_S = 86_400.0
FLAMING = ("F1", "F2", "F6")
SMOULDER_IN_VIEW = ("F3", "F5")
OUT_OF_VIEW = ("F4",)
COOKING = ("N2", "N3")
QUIET_NUISANCES = ("N4", "N5", "N6")
#: Fire kinds for the frame metrics by kind, by family code (CF2 is CFAST's smoulder,
#: cloud.heldout.engines.CFAST_CODES); every other fire family is flaming.
FIRE_KINDS: dict[str, tuple[str, ...]] = {
    "smouldering in view (F3, F5, CF2)": (*SMOULDER_IN_VIEW, "CF2"),
    "out of view, CO2 only (F4)": OUT_OF_VIEW,
}
FLAMING_KIND = "flaming (F1, F2, F6, CF1, CF3–CF7)"


def fire_kind(run: Mapping[str, Any]) -> str | None:
    """The kind of fire a run holds (None for a no-fire run): a ``FIRE_KINDS`` key or
    ``FLAMING_KIND``."""
    if run["fire_start_s"] is None:
        return None
    return next((kind for kind, codes in FIRE_KINDS.items() if run["family"] in codes),
                FLAMING_KIND)


def run_outcome(run: Mapping[str, Any], mode: str) -> dict[str, Any]:
    """One run's events in ``mode``: detection, TTA, false alarms, faults."""
    m = run["modes"][mode]
    t0 = run["fire_start_s"]
    alarms = [e for e in m["events"] if e["kind"] == "alarm"]
    clears = [e for e in m["events"] if e["kind"] == "clear"]
    before = [e["t"] for e in alarms if t0 is None or e["t"] < t0]
    out: dict[str, Any] = {"false_alarms": len(before),
                           "faults": sorted({e["sensor"] for e in m["events"]
                                             if e["kind"] == "fault"})}
    if t0 is not None:
        after = [e["t"] for e in alarms if e["t"] >= t0]
        standing = bool(before) and not any(before[-1] < c["t"] < t0 for c in clears)
        tta = 0.0 if standing else (after[0] - t0 if after else None)
        out.update(detected=tta is not None, tta_s=tta, standing_at_t0=standing,
                   fire_s=float(run["duration_s"]) - t0)
        first = (t0 + tta) if tta is not None else None
        out["alarm_s"] = first
        for key in ("flame_4px_s", "spot_s"):  # TTA from when the camera could see it
            seen = run.get(key)
            out[f"from_{key}"] = None if seen is None else (
                {"tta_s": first - seen, "detected": True} if first is not None
                else {"tta_s": float(run["duration_s"]) - seen, "detected": False})
        out["quiet_s"] = float(t0)
    else:
        out["quiet_s"] = float(run["duration_s"])
    return out


def family_stats(runs: Sequence[Mapping[str, Any]], mode: str) -> dict[str, Any]:
    """Detection (Wilson CI), TTA, runs alarming and false alarms per device-day of the runs
    replayed in ``mode``."""
    outs = [run_outcome(r, mode) for r in runs if mode in r["modes"]]
    fires = [o for o in outs if "detected" in o]
    n_fa_runs = sum(o["false_alarms"] > 0 for o in outs)
    fa = sum(o["false_alarms"] for o in outs)
    days = sum(o["quiet_s"] for o in outs) / DAY_S
    rate, lo, hi = poisson_rate_ci(fa, days)
    rlo, rhi = wilson_ci(n_fa_runs, len(outs)) if outs else (math.nan, math.nan)
    st: dict[str, Any] = {
        "runs": len(outs), "runs_alarming": n_fa_runs,
        "runs_alarming_pct": 100.0 * n_fa_runs / len(outs) if outs else math.nan,
        "runs_alarming_ci95_pct": [100 * rlo, 100 * rhi],
        "false_alarms": fa, "quiet_device_days": days,
        "fa_per_device_day": rate, "fa_per_device_day_ci95": [lo, hi],
    }
    if fires:
        k = sum(o["detected"] for o in fires)
        dlo, dhi = wilson_ci(k, len(fires))
        tta = [o["tta_s"] for o in fires if o["detected"]]
        cens = [o["fire_s"] for o in fires if not o["detected"]]
        st.update(fire_runs=len(fires), detected=k, detection_pct=100.0 * k / len(fires),
                  detection_ci95_pct=[100 * dlo, 100 * dhi], tta=tta_summary(tta, cens),
                  standing_at_t0=sum(o["standing_at_t0"] for o in fires))
        for key in ("flame_4px_s", "spot_s"):
            seen = [o[f"from_{key}"] for o in fires if o[f"from_{key}"] is not None]
            st[f"tta_from_{key.removesuffix('_s')}"] = tta_summary(
                [v["tta_s"] for v in seen if v["detected"]],
                [v["tta_s"] for v in seen if not v["detected"]]) | {
                "never_seen": len(fires) - len(seen)}
        smoke = [(o["alarm_s"], r["smoke_detector_s"], float(r["duration_s"])) for r, o in zip(
            (r for r in runs if mode in r["modes"]), outs, strict=True)
            if "detected" in o and "smoke_detector_s" in r]
        st["before_smoke_detector"] = before_smoke_detector(smoke) if smoke else None
    return st


def frame_arrays(runs: Sequence[Mapping[str, Any]], mode: str, lag_s: float,
                 kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frame labels (t ≥ fire_start_s) and scores of every run in ``mode``.

    NaN scores and the sensor-lag window [t0, t0 + lag_s] are left out (fire-science.md §4).
    With ``kind``, only the fire frames of runs of that kind (:func:`fire_kind`) are kept;
    every run's no-fire frames stay.
    """
    ys, ps = [], []
    for r in runs:
        if mode not in r["modes"]:
            continue
        m = r["modes"][mode]
        t, p = np.asarray(m["t"], float), np.asarray(m["p"], float)
        t0 = r["fire_start_s"]
        y = np.zeros(t.size, bool) if t0 is None else t >= t0
        keep = np.isfinite(p)
        if t0 is not None:
            keep &= ~((t >= t0) & (t <= t0 + lag_s))
            if kind is not None and fire_kind(r) != kind:
                keep &= ~y
        ys.append(y[keep])
        ps.append(p[keep])
    if not ys:
        return np.zeros(0, bool), np.zeros(0)
    return np.concatenate(ys), np.concatenate(ps)


def frame_stats(runs: Sequence[Mapping[str, Any]], mode: str, lag_s: float,
                kind: str | None = None) -> dict[str, Any]:
    """ROC-AUC, PR-AUC, F1 at the threshold, balanced accuracy and Brier over all scores
    (with ``kind``, the fire frames of that kind of fire only: :func:`frame_arrays`)."""
    from sklearn.metrics import (
        average_precision_score,
        balanced_accuracy_score,
        brier_score_loss,
        f1_score,
        roc_auc_score,
    )

    y, p = frame_arrays(runs, mode, lag_s, kind)
    threshold = next((r["modes"][mode]["threshold"] for r in reversed(runs)
                      if mode in r["modes"]), math.nan)
    out: dict[str, Any] = {"n": int(y.size), "positives": int(y.sum()), "threshold": threshold}
    if y.size == 0 or y.all() or not y.any():
        return out | {"roc_auc": math.nan, "pr_auc": math.nan, "f1": math.nan}
    pred = p >= threshold
    out.update(roc_auc=float(roc_auc_score(y, p)), pr_auc=float(average_precision_score(y, p)),
               f1=float(f1_score(y, pred, zero_division=0)),
               balanced_accuracy=float(balanced_accuracy_score(y, pred)),
               brier=float(brier_score_loss(y, np.clip(p, 0, 1))))
    return out


def frame_by_kind(runs: Sequence[Mapping[str, Any]], mode: str, lag_s: float
                  ) -> dict[str, dict[str, Any]]:
    """:func:`frame_stats` for each kind of fire the runs hold (:func:`fire_kind`)."""
    kinds = {fire_kind(r) for r in runs} - {None}
    order = [FLAMING_KIND, *FIRE_KINDS]
    return {k: frame_stats(runs, mode, lag_s, k) for k in order if k in kinds}


def _group(runs: Sequence[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], str]
           ) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        out.setdefault(key(r), []).append(r)
    return dict(sorted(out.items()))


def _distance_bin(r: Mapping[str, Any]) -> str:
    d = r.get("distance_m")
    if d is None:
        return "unknown"
    return "≤2 m" if d <= 2 else ("2–4 m" if d <= 4 else ">4 m")


def _view_bin(r: Mapping[str, Any]) -> str:
    occ = r.get("occlusion")
    if occ is None:
        return "unknown"
    return "in view (<50 % occluded)" if occ < 0.5 else "occluded (≥50 %)"


def summarise(results: Sequence[Mapping[str, Any]], lag_s: float = 30.0) -> dict[str, Any]:
    """Every table of the report, per mode; plus the §6 targets for the fused mode."""
    modes = [m for m in ("fused", "thermal_only", "co2_only", "no_watches")
             if any(m in r["modes"] for r in results)]
    fires = [r for r in results if r["fire_start_s"] is not None]
    nuis = [r for r in results if r["fire_start_s"] is None]
    out: dict[str, Any] = {"lag_s": lag_s, "n_runs": len(results), "modes": {}}
    for mode in modes:
        fam = {f"{rs[0]['family']} {name}": family_stats(rs, mode)
               for name, rs in _group(results, lambda r: str(r["scenario"])).items()}
        out["modes"][mode] = {
            "families": dict(sorted(fam.items())),
            "frame": frame_stats(results, mode, lag_s),
            "frame_by_rate": {f"{rate} Hz": frame_stats(rs, mode, lag_s) for rate, rs in
                              _group(results, lambda r: f"{r['rate_hz']:g}").items()},
            "frame_by_fire_kind": frame_by_kind(results, mode, lag_s),
            "nuisance_mix": family_stats(nuis, mode) if nuis else {},
            "fires_by_view": {k: family_stats(v, mode) for k, v in
                              _group(fires, _view_bin).items()},
            "fires_by_distance": {k: family_stats(v, mode) for k, v in
                                  _group(fires, _distance_bin).items()},
        }
    by_engine = _group(results, lambda r: str(r.get("engine", "ours")))
    out["engines"] = {eng: {mode: {"fires": family_stats(
        [r for r in rs if r["fire_start_s"] is not None], mode), "nuisances": family_stats(
        [r for r in rs if r["fire_start_s"] is None], mode)} for mode in modes}
        for eng, rs in by_engine.items()}
    if "fused" in modes and "ours" in by_engine:
        out["targets"] = targets(by_engine["ours"], lag_s)
    return out


def _subset(results: Sequence[Mapping[str, Any]], codes: Sequence[str]
            ) -> list[Mapping[str, Any]]:
    return [r for r in results if r["family"] in codes]


def targets(results: Sequence[Mapping[str, Any]], lag_s: float = 30.0) -> list[dict[str, Any]]:
    """fire-science.md §6, fused mode: each target, the measured value and whether it is met."""
    rows: list[dict[str, Any]] = []

    def add(name: str, target: str, value: float, ok: bool | None, unit: str = "",
            ci: Sequence[float] | None = None) -> None:
        rows.append({"target": name, "goal": target, "value": value, "unit": unit,
                     "ci95": list(ci) if ci is not None else None,
                     "met": ok if not (isinstance(value, float) and math.isnan(value)) else None})

    flaming = _subset(results, FLAMING)
    if flaming:
        s = family_stats(flaming, "fused")
        add("flaming F1/F2/F6 detected", "≥ 99 %", s["detection_pct"],
            s["detection_pct"] >= 99.0, "%", s["detection_ci95_pct"])
        vis = s["tta_from_flame_4px"]
        add("flaming TTA median after ≥ 4 new px ≥ 140 °C", "≤ 15 s", vis["median_s"],
            vis["median_s"] <= 15.0, "s")
        add("flaming TTA p95 after ≥ 4 new px ≥ 140 °C", "≤ 45 s", vis["p95_s"],
            vis["p95_s"] <= 45.0, "s")
        add("flaming TTA median / p95 from ignition (information)", "–", s["tta"]["median_s"],
            None, f"s / {s['tta']['p95_s']:.1f} s")
        seen = [r for r in flaming if r.get("flame_4px_s") is not None]
        if seen:
            seen_st = family_stats(seen, "fused")
            add(f"flaming detected, of the {len(seen)} runs seen on ≥ 4 px (information)", "–",
                seen_st["detection_pct"], None, "%", seen_st["detection_ci95_pct"])
    smoulder = _subset(results, SMOULDER_IN_VIEW)
    if smoulder:
        s = family_stats(smoulder, "fused")
        add("smouldering in view F3/F5 detected", "≥ 95 %", s["detection_pct"],
            s["detection_pct"] >= 95.0, "%", s["detection_ci95_pct"])
        seen = [r for r in smoulder if r.get("spot_s") is not None]
        if seen:
            seen_st = family_stats(seen, "fused")
            add(f"smouldering detected, of the {len(seen)} runs whose spot was seen "
                "(information)", "–", seen_st["detection_pct"], None, "%",
                seen_st["detection_ci95_pct"])
        spot = s["tta_from_spot"]
        add("smouldering TTA median after a new px ≥ 140 °C", "≤ 180 s", spot["median_s"],
            spot["median_s"] <= 180.0, "s")
        add("smouldering TTA p95 after a new px ≥ 140 °C", "≤ 600 s", spot["p95_s"],
            spot["p95_s"] <= 600.0, "s")
    f4 = _subset(results, OUT_OF_VIEW)
    if f4:
        s = family_stats(f4, "fused")
        add("F4 (CO2-only case) detected — not a gate", "aim ≥ 50 %", s["detection_pct"],
            None, "%")
    nuis = [r for r in results if r["fire_start_s"] is None]
    if nuis:
        s = family_stats(nuis, "fused")
        add("false alarms, N1–N6 mix", "≤ 0.01 /device-day", s["fa_per_device_day"],
            s["fa_per_device_day"] <= 0.01, "/day", s["fa_per_device_day_ci95"])
    for codes, goal, name in ((COOKING, 2.0, "cooking N2/N3 runs alarming"),
                              (QUIET_NUISANCES, 1.0, "N4–N6 runs alarming")):
        sub = _subset(results, codes)
        if sub:
            s = family_stats(sub, "fused")
            add(name, f"≤ {goal:g} %", s["runs_alarming_pct"], s["runs_alarming_pct"] <= goal,
                "%", s["runs_alarming_ci95_pct"])
    fr = frame_stats(results, "fused", lag_s)
    for key, goal in (("roc_auc", 0.98), ("pr_auc", 0.95), ("f1", 0.93)):
        v = float(fr.get(key, math.nan))
        add(f"frame {key}", f"≥ {goal:g}", v, v >= goal)
    for kind, st in frame_by_kind(results, "fused", lag_s).items():
        add(f"frame roc_auc, {kind} against every no-fire frame (information)", "–",
            float(st.get("roc_auc", math.nan)), None)
    return rows
