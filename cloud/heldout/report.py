"""The held-out evaluation's report: ``summary.json``, ``runs.json``, PNG plots, ``report.md``.

Plots (matplotlib, Agg): detection rate per fire family with Wilson 95 % bars for each mode;
Kaplan–Meier "not yet alarmed" curves per fire family; ROC and PR curves per mode; nuisance
runs alarming per family; and one score trace per family.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cloud.heldout.metrics import kaplan_meier
from cloud.heldout.summary import frame_arrays, run_outcome

log = logging.getLogger(__name__)

MODE_LABELS = {"fused": "fused", "thermal_only": "thermal only (SCD41 NaN)",
               "co2_only": "CO2/T/RH only (Lepton NaN)",
               "no_watches": "fused, no flame/smoulder watches"}


def _clean(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _plot_detection(summary: Mapping[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    modes = list(summary["modes"])
    fams = [f for f, s in summary["modes"][modes[0]]["families"].items() if "fire_runs" in s]
    fig, ax = plt.subplots(figsize=(9, 4))
    if not fams:  # a nuisance-only suite: nothing to detect
        ax.text(0.5, 0.5, "no fire runs in this suite", ha="center", va="center")
        ax.set_axis_off()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return
    width = 0.8 / max(len(modes), 1)
    for i, mode in enumerate(modes):
        # a family none of whose runs was replayed in this mode has no detection figures
        st = [summary["modes"][mode]["families"][f] for f in fams]
        vals = np.array([s.get("detection_pct", math.nan) for s in st], float)
        ci = np.array([s.get("detection_ci95_pct", [math.nan, math.nan]) for s in st], float)
        lo, hi = vals - ci[:, 0], ci[:, 1] - vals
        ax.bar(np.arange(len(fams)) + i * width, vals, width, yerr=[lo, hi], capsize=3,
               label=MODE_LABELS.get(mode, mode))
    ax.set_xticks(np.arange(len(fams)) + width * (len(modes) - 1) / 2, fams, rotation=20,
                  fontsize=8)
    ax.set_ylabel("detected, % (Wilson 95 %)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    ax.set_title("Fire runs detected by the device pipeline")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_km(results: Sequence[Mapping[str, Any]], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    fams = sorted({(r["family"], r["scenario"]) for r in results if r["fire_start_s"] is not None})
    for code, name in fams:
        outs = [run_outcome(r, "fused") for r in results if r["scenario"] == name]
        times = [o["tta_s"] if o["detected"] else o["fire_s"] for o in outs]
        km = kaplan_meier(times, [o["detected"] for o in outs])
        ax.step(km.times, km.survival, where="post", label=f"{code} {name}")
    ax.axvline(15, color="grey", ls=":", lw=1)
    ax.axvline(45, color="grey", ls="--", lw=1)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("seconds after fire_start_s")
    ax.set_ylabel("runs not yet alarmed (Kaplan–Meier)")
    if fams:
        ax.legend(fontsize=7)
    ax.set_title("Time to alarm, fused (misses censored at run end)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_curves(results: Sequence[Mapping[str, Any]], summary: Mapping[str, Any],
                 path: Path) -> None:
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for mode in summary["modes"]:
        y, p = frame_arrays(results, mode, summary["lag_s"])
        if y.all() or not y.any():
            continue
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        fr = summary["modes"][mode]["frame"]
        a.plot(fpr, tpr, label=f"{MODE_LABELS[mode]} AUC {fr['roc_auc']:.3f}")
        b.plot(rec, prec, label=f"{MODE_LABELS[mode]} AP {fr['pr_auc']:.3f}")
    a.set_xscale("log")
    a.set_xlim(1e-5, 1)
    a.set_xlabel("false-positive rate (per scored reading)")
    a.set_ylabel("true-positive rate")
    b.set_xlabel("recall")
    b.set_ylabel("precision")
    for ax in (a, b):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    a.set_title("ROC (held-out frames)")
    b.set_title("Precision–recall")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_nuisance(summary: Mapping[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    modes = list(summary["modes"])
    fams = [f for f, s in summary["modes"][modes[0]]["families"].items()
            if "fire_runs" not in s]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(len(modes), 1)
    for i, mode in enumerate(modes):
        st = [summary["modes"][mode]["families"][f] for f in fams]
        vals = np.array([s["runs_alarming_pct"] for s in st])
        hi = np.array([s["runs_alarming_ci95_pct"][1] for s in st]) - vals
        ax.bar(np.arange(len(fams)) + i * width, vals, width, yerr=[np.zeros_like(hi), hi],
               capsize=3, label=MODE_LABELS.get(mode, mode))
    ax.set_xticks(np.arange(len(fams)) + width * (len(modes) - 1) / 2, fams, rotation=20,
                  fontsize=8)
    ax.set_ylabel("runs alarming, % (upper Wilson 95 %)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    ax.set_title("Nuisance runs that raised an alarm")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_traces(results: Sequence[Mapping[str, Any]], path: Path) -> None:
    import matplotlib.pyplot as plt

    firsts: dict[str, Mapping[str, Any]] = {}
    for r in results:
        firsts.setdefault(str(r["scenario"]), r)
    n = len(firsts)
    fig, axes = plt.subplots(math.ceil(n / 3), 3, figsize=(12, 1.8 * math.ceil(n / 3)),
                             sharey=True, squeeze=False)
    for ax, (name, r) in zip(axes.flat, sorted(firsts.items(), key=lambda kv: kv[1]["family"]),
                             strict=False):
        m = r["modes"]["fused"]
        ax.plot(m["t"], m["p"], lw=0.6)
        ax.axhline(m["threshold"], color="grey", ls=":", lw=1)
        if r["fire_start_s"] is not None:
            ax.axvline(r["fire_start_s"], color="red", lw=1)
        for e in m["events"]:
            if e["kind"] == "alarm":
                ax.axvline(e["t"], color="orange", ls="--", lw=1)
        ax.set_title(f"{r['family']} {name} seed {r['seed']}", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle("Fused score per run (red: fire_start_s, orange: alarm, dotted: threshold)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def smoke_cell(s: Mapping[str, Any]) -> str:
    """"k/n = x % (Wilson 95 %), median lead" of the before-smoke-detector share; "n/a"
    without smoke-detector truth (our engine), "–" for nuisances."""
    if "fire_runs" not in s:
        return "–"
    b = s.get("before_smoke_detector")
    if b is None:
        return "n/a"
    lo, hi = b["ci95_pct"]
    return (f"{b['before']}/{b['fire_runs']} = {_fmt(b['pct'])} % ({_fmt(lo)}–{_fmt(hi)}); "
            f"lead {_fmt(b['median_lead_s'])} s; neither within the run (left out): "
            f"{b['undecided']}")


def family_table(stats: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The per-family Markdown table of one mode."""
    lines = ["| family | runs | detected (Wilson 95 %) | TTA from ignition, median / p95 s | "
             "KM median / p95 s | TTA after visible (4 px / 1 px), median s | alarmed before "
             "the smoke detector (Wilson 95 %; median lead) | runs alarming "
             "(before t0 or nuisance) | false alarms / device-day (Poisson 95 %) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for fam, s in stats.items():
        det = tta = km = vis = "–"
        if "fire_runs" in s:
            lo, hi = s["detection_ci95_pct"]
            det = f"{s['detected']}/{s['fire_runs']} = {_fmt(s['detection_pct'])} % " \
                  f"({_fmt(lo)}–{_fmt(hi)})"
            t = s["tta"]
            tta = f"{_fmt(t['median_s'])} / {_fmt(t['p95_s'])}"
            km = f"{_fmt(t['km_median_s'])} / {_fmt(t['km_p95_s'])}"
            f4, f1 = s["tta_from_flame_4px"], s["tta_from_spot"]
            vis = f"{_fmt(f4['median_s'])} / {_fmt(f1['median_s'])} (never seen: " \
                  f"{f4['never_seen']} / {f1['never_seen']})"
        lo, hi = s["fa_per_device_day_ci95"]
        fa = f"{_fmt(s['fa_per_device_day'], 2)} ({_fmt(lo, 2)}–{_fmt(hi, 2)}) over " \
             f"{_fmt(s['quiet_device_days'], 3)} d"
        lines.append(f"| {fam} | {s['runs']} | {det} | {tta} | {km} | {vis} | {smoke_cell(s)} | "
                     f"{s['runs_alarming']} ({_fmt(s['runs_alarming_pct'])} %) | {fa} |")
    return lines


def markdown(summary: Mapping[str, Any], lofo: Mapping[str, Any] | None) -> str:
    """The report body (tables only; docs/evaluation.md adds the discussion)."""
    out = [f"# Held-out evaluation — model {summary['model']['version']}", "",
           f"Command: `{summary['command']}`", "",
           f"{summary['n_runs']} held-out runs; frame metrics leave out {summary['lag_s']:g} s "
           "after each onset.", "", "## Targets (fused, fire-science.md §6)", "",
           "| target | goal | measured | 95 % CI | met |", "|---|---|---|---|---|"]
    if summary.get("failed_runs"):
        fails = summary["failed_runs"]
        out[6:6] = [f"**{len(fails)} run(s) could not be rendered and are not scored:** "
                    + "; ".join(f"{f['scenario']} seed {f['seed']} ({f['failed']})"
                                for f in fails), ""]
    if not summary.get("targets"):
        out[-2:] = ["(none: the §6 targets are defined on our engine's families)"]
    for t in summary.get("targets", []):
        ci = t["ci95"]
        cis = "–" if ci is None else f"{_fmt(ci[0], 3)}–{_fmt(ci[1], 3)}"
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        out.append(f"| {t['target']} | {t['goal']} | {_fmt(t['value'], 3)} {t['unit']} | "
                   f"{cis} | {met} |")
    if summary.get("engines"):
        out += ["", "## By engine (every fire, every nuisance run)", "",
                "CFAST families are coded CF1… (fires) and CN1… (nuisances); the smoke "
                "detector column is n/a for our engine (no smoke-detector truth).", ""]
        for mode in summary["modes"]:
            out += [f"{MODE_LABELS.get(mode, mode)}:", "", *family_table(
                {f"{eng} {kind}": st for eng, both in summary["engines"].items()
                 for kind, st in both[mode].items() if st["runs"]}), ""]
    for mode, ms in summary["modes"].items():
        fr = ms["frame"]
        out += ["", f"## {MODE_LABELS.get(mode, mode)}", "", *family_table(ms["families"]), "",
                f"Frame level: n = {fr['n']} ({fr['positives']} fire), ROC-AUC "
                f"{_fmt(fr.get('roc_auc'), 4)}, PR-AUC {_fmt(fr.get('pr_auc'), 4)}, F1 "
                f"{_fmt(fr.get('f1'), 4)} at threshold {_fmt(fr['threshold'], 4)}, balanced "
                f"accuracy {_fmt(fr.get('balanced_accuracy'), 4)}, Brier "
                f"{_fmt(fr.get('brier'), 4)}.", ""]
        for rate, f in ms["frame_by_rate"].items():
            out.append(f"- runs at {rate}: n = {f['n']}, ROC-AUC {_fmt(f.get('roc_auc'), 4)}, "
                       f"PR-AUC {_fmt(f.get('pr_auc'), 4)}, F1 {_fmt(f.get('f1'), 4)}")
        for kind, f in ms.get("frame_by_fire_kind", {}).items():
            out.append(f"- {kind} against every no-fire frame: {f['positives']} fire frames, "
                       f"ROC-AUC {_fmt(f.get('roc_auc'), 4)}, PR-AUC {_fmt(f.get('pr_auc'), 4)}")
        if mode == "fused":
            out += ["", "Fire runs by view and distance:", "",
                    *family_table(ms["fires_by_view"] | ms["fires_by_distance"])]
    if lofo:
        out += ["", "## Leave one family out (from the training report)", "",
                "Members retrained without the family (at most 50 trees, 60 000 rows), "
                "tested on every run of it from the training simulation; events here are "
                "raw frames above the threshold (no alarm state machine).", "",
                "| held-out family | runs | detected | runs with a false alarm | false alarms "
                "/ device-day | threshold |", "|---|---|---|---|---|---|"]
        for fam, s in sorted(lofo.items()):
            det = (f"{s.get('detected')}/{s.get('fire_runs')}" if "fire_runs" in s else "–")
            if "skipped" in s:
                det = f"skipped: {s['skipped']}"
            out.append(f"| {fam} | {s.get('runs')} | {det} | {s.get('runs_with_false_alarm')} "
                       f"| {_fmt(s.get('false_alarms_per_device_day'), 2)} | "
                       f"{_fmt(s.get('threshold'), 4)} |")
    out += ["", "![detection](detection.png)", "![time to alarm](tta_km.png)",
            "![ROC and PR](roc_pr.png)", "![nuisances](nuisance.png)", "![traces](traces.png)",
            ""]
    return "\n".join(out)


def write_report(out: Path, results: Sequence[Mapping[str, Any]], summary: Mapping[str, Any],
                 lofo: Mapping[str, Any] | None = None) -> None:
    """Write everything into ``out`` (created; files are new there)."""
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    slim = [{k: v for k, v in r.items() if k != "modes"}
            | {"outcomes": {m: run_outcome(r, m) for m in r["modes"]},
               "events": {m: r["modes"][m]["events"] for m in r["modes"]}} for r in results]
    (out / "runs.json").write_text(json.dumps(_clean(slim), indent=1, allow_nan=False))
    (out / "summary.json").write_text(json.dumps(_clean(summary), indent=1, allow_nan=False))
    if lofo is not None:
        lofo = lofo.get("holdout_families", lofo)
    _plot_detection(summary, out / "detection.png")
    _plot_km(results, out / "tta_km.png")
    _plot_curves(results, summary, out / "roc_pr.png")
    _plot_nuisance(summary, out / "nuisance.png")
    _plot_traces(results, out / "traces.png")
    (out / "report.md").write_text(markdown(_clean(summary), lofo))
    log.info("report written to %s", out)
