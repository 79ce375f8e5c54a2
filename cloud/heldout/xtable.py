"""Cross-engine evaluation, the scores: per training set × held-out engine × mode, per family
and overall, and issue 14's targets with the miss stated.

Uses the held-out suite's definitions (``cloud.heldout.summary``: detection with its Wilson
interval, time to alarm, false alarms per device-day with the exact Poisson (Garwood)
interval, before the smoke detector with its Wilson interval, frame ROC-AUC). Time to alarm
after the fire is visible counts from ``visible_s`` (a new pixel ≥ 60 °C, ``xrun``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cloud.heldout.summary import family_stats, frame_stats, run_outcome

FLAMING = frozenset({"F1", "F2", "F6", "CF1", "CF3", "CF4", "CF5", "CF6", "CF7"})
SMOULDER = frozenset({"F3", "F5", "CF2"})
NO_FA_DAYS = 2.0


def visible_tta(runs: Sequence[Mapping[str, Any]], mode: str) -> dict[str, Any]:
    """Median time from ``visible_s`` to the first alarm over the detected fires that
    showed on the camera; how many showed, and how many of those were missed."""
    ttas, missed, seen = [], 0, 0
    for r in runs:
        if r["fire_start_s"] is None or r.get("visible_s") is None or mode not in r["modes"]:
            continue
        seen += 1
        alarm = run_outcome(r, mode).get("alarm_s")
        if alarm is None:
            missed += 1
        else:
            ttas.append(max(0.0, alarm - r["visible_s"]))
    return {"seen": seen, "missed": missed,
            "median_s": float(np.median(ttas)) if ttas else math.nan}


def cell_stats(runs: Sequence[Mapping[str, Any]], mode: str, lag_s: float) -> dict[str, Any]:
    """Fires, nuisances and frames of ``runs`` in ``mode``, and per family."""
    fires = [r for r in runs if r["fire_start_s"] is not None]
    nuis = [r for r in runs if r["fire_start_s"] is None]
    fams: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        fams.setdefault(f"{r['family']} {r['scenario']}", []).append(r)
    return {
        "fires": family_stats(fires, mode) | {"visible": visible_tta(fires, mode)},
        "nuisances": family_stats(nuis, mode),
        "frame": frame_stats(runs, mode, lag_s),
        "families": {k: family_stats(v, mode) | {"visible": visible_tta(v, mode)}
                     for k, v in sorted(fams.items())},
    }


def _row(name: str, goal: str, value: str, met: bool | None, miss: str) -> dict[str, Any]:
    return {"target": name, "goal": goal, "value": value, "met": met,
            "miss": "" if met or met is None else miss}


def targets(runs: Sequence[Mapping[str, Any]], lag_s: float) -> list[dict[str, Any]]:
    """Issue 14's targets on ``runs`` (fused): each with its value, whether it is met (None:
    not measurable on these runs) and, if missed, by how much."""
    out: list[dict[str, Any]] = []
    fl = [r for r in runs if r["family"] in FLAMING]
    if fl:
        s = family_stats(fl, "fused")
        pct = s["detection_pct"]
        out.append(_row("flaming detected", "100 %", f"{s['detected']}/{s['fire_runs']}",
                        pct >= 100.0, f"{s['fire_runs'] - s['detected']} missed "
                        f"({100 - pct:.1f} pp short)"))
        inview = [r for r in fl if r.get("visible_s") is not None]
        med = family_stats(inview, "fused")["tta"]["median_s"] if inview else math.nan
        out.append(_row("flaming in view: median TTA from ignition", "≤ 15 s",
                        f"{med:.1f} s ({len(inview)} runs)", None if math.isnan(med)
                        else med <= 15.0, f"{med - 15.0:+.1f} s over"))
        sd = s.get("before_smoke_detector")
        if sd and sd["fire_runs"]:
            lo, hi = sd["ci95_pct"]
            out.append(_row("flaming before the smoke detector", "≥ 80 %",
                            f"{sd['before']}/{sd['fire_runs']} = {sd['pct']:.0f} % "
                            f"({lo:.0f}–{hi:.0f})", sd["pct"] >= 80.0,
                            f"{80.0 - sd['pct']:.1f} pp short"))
        else:
            out.append(_row("flaming before the smoke detector", "≥ 80 %",
                            "n/a (no smoke-detector truth)", None, ""))
    fires = [r for r in runs if r["fire_start_s"] is not None]
    if fires:
        s = family_stats(fires, "fused")
        out.append(_row("all fires detected", "≥ 95 %",
                        f"{s['detected']}/{s['fire_runs']} = {s['detection_pct']:.0f} %",
                        s["detection_pct"] >= 95.0,
                        f"{95.0 - s['detection_pct']:.1f} pp short"))
    sm = [r for r in runs if r["family"] in SMOULDER and r.get("visible_s") is not None]
    if sm:
        s = family_stats(sm, "fused")
        out.append(_row("smouldering in view detected", "≥ 90 %",
                        f"{s['detected']}/{s['fire_runs']} = {s['detection_pct']:.0f} %",
                        s["detection_pct"] >= 90.0,
                        f"{90.0 - s['detection_pct']:.1f} pp short"))
    nuis = [r for r in runs if r["fire_start_s"] is None]
    if nuis:
        s = family_stats(nuis, "fused")
        days, fa = s["quiet_device_days"], s["false_alarms"]
        short = max(0.0, NO_FA_DAYS - days)
        why = "; ".join(x for x in (f"{fa} false alarm(s)" if fa else "",
                                    f"{short:.2f} device-days short of {NO_FA_DAYS:g}"
                                    if short else "") if x)
        lo, hi = s["fa_per_device_day_ci95"]
        out.append(_row("no false alarm over ≥ 2 device-days of nuisances", "0 in ≥ 2 days",
                        f"{fa} in {days:.3f} days ({s['fa_per_device_day']:.1f}/day, "
                        f"{lo:.1f}–{hi:.1f})", fa == 0 and days >= NO_FA_DAYS, why))
    auc = float(frame_stats(runs, "fused", lag_s).get("roc_auc", math.nan))
    out.append(_row("frame ROC-AUC", "≥ 0.98", f"{auc:.3f}", None if math.isnan(auc)
                    else auc >= 0.98, f"{0.98 - auc:.3f} short"))
    return out


# ----------------------------------------------------------------------------- markdown


def _pct(k: int, n: int, ci: Sequence[float]) -> str:
    return f"{k}/{n} ({ci[0]:.0f}–{ci[1]:.0f} %)" if n else "–"


def _s(v: float) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def _cols(st: Mapping[str, Any]) -> list[str]:
    fires, nuis, frame = st["fires"], st["nuisances"], st["frame"]
    sd = fires.get("before_smoke_detector")
    return [
        _pct(fires.get("detected", 0), fires.get("fire_runs", 0),
             fires.get("detection_ci95_pct", [0, 0])),
        _s(fires.get("tta", {}).get("median_s", math.nan)),
        _s(fires.get("visible", {}).get("median_s", math.nan)),
        _pct(sd["before"], sd["fire_runs"], sd["ci95_pct"]) if sd else "n/a",
        (f"{nuis['false_alarms']} / {nuis['quiet_device_days']:.3f} d = "
         f"{_s(nuis['fa_per_device_day'])} ({_s(nuis['fa_per_device_day_ci95'][0])}–"
         f"{_s(nuis['fa_per_device_day_ci95'][1])})") if nuis.get("runs") else "–",
        f"{frame.get('roc_auc', math.nan):.3f}",
    ]


HEAD = ("fires detected (Wilson 95 %) | TTA from ignition, median s | TTA after visible "
        "(new px ≥ 60 °C), median s | before the smoke detector (Wilson 95 %) | false alarms / "
        "device-days = per day (Garwood 95 %) | frame ROC-AUC")


def markdown(summary: Mapping[str, Any]) -> str:
    """table.md: the overall table (every training set × held-out engine × mode), the
    targets, then per family (fused)."""
    lines = ["# Cross-engine evaluation", "", f"Command: `{summary.get('command', '')}`", "",
             "## Overall", "", f"| trained on | tested on | replay | {HEAD} |",
             "|" + "---|" * 9]
    for c in summary["cells"]:
        lines.append(f"| {c['train']} | {c['test']} | {c['mode']} | "
                     + " | ".join(_cols(c["stats"])) + " |")
    lines += ["", "## Targets (fused; cross-engine = tested on the engine not trained on)", "",
              "| trained on | tested on | target | goal | value | met | miss |",
              "|---|---|---|---|---|---|---|"]
    for c in summary["cells"]:
        if c["mode"] != "fused":
            continue
        cross = " (cross-engine)" if c["cross"] else ""
        for t in c["targets"]:
            met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
            lines.append(f"| {c['train']} | {c['test']}{cross} | {t['target']} | {t['goal']} | "
                         f"{t['value']} | {met} | {t['miss']} |")
    for c in summary["cells"]:
        if c["mode"] != "fused":
            continue
        lines += ["", f"## Per family: trained on {c['train']}, tested on {c['test']} (fused)",
                  "", f"| family | {HEAD} |", "|" + "---|" * 7]
        for fam, st in c["stats"]["families"].items():
            cols = _cols({"fires": st if "fire_runs" in st else {},
                          "nuisances": st if "fire_runs" not in st else {},
                          "frame": {"roc_auc": math.nan}})
            lines.append(f"| {fam} | " + " | ".join(cols[:5]) + " | – |")
    failed = summary.get("failed_runs", [])
    if failed:
        lines += ["", "Runs CFAST could not compute (not scored): " + ", ".join(
            f"{f['scenario']} seed {f['seed']}" for f in failed)]
    return "\n".join(lines) + "\n"
