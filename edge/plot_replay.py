"""A picture of a replay: why a recording alarmed, or did not.

:func:`trace_replay` runs the daemon's pipeline over a recording and keeps, per scored
reading, the fire score, the alarm threshold in use, which evidence sources spoke (the flame
and smoulder watches, the known-scene rule) and the events. :func:`plot_replay` draws it: a
strip of thermal thumbnails at the events and at regular times, then the score against the
threshold with the events marked, then the evidence sources as bars over time, then the
hottest pixel and CO2. matplotlib is imported lazily: it is in the ``train`` extra, not on a
device.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.detect.pipeline import Pipeline
from edge.plot import pyplot, save_figure
from edge.recording import Recording, readings
from edge.types import ZERO_C_K, ThermalFrame

log = logging.getLogger(__name__)

#: The evidence sources drawn, in the order of their bars (edge/detect/evidence.py).
SOURCES = ("flame_growth", "smoulder", "gas", "known_scene")
#: Thumbnails in the strip: the events first, then regular times, at most this many.
THUMBNAILS = 8
#: The panels' titles (the test and the reader find them by these).
TITLES = ("fire score and alarm threshold", "evidence sources", "hottest pixel and CO2")
_EVENT_COLOURS = {"alarm": "red", "clear": "tab:green", "fault": "tab:orange"}


@dataclass
class ReplayTrace:
    """What the pipeline did over a recording (see the module docstring)."""

    t: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    active: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SOURCES})
    events: list[tuple[float, str, str]] = field(default_factory=list)  # (t, kind, why)


def trace_replay(rec: Recording, pipeline: Pipeline) -> ReplayTrace:
    """Feed ``rec`` through ``pipeline`` and keep what :func:`plot_replay` draws."""
    trace = ReplayTrace()
    for reading in readings(rec):
        step = pipeline.frame(reading) if isinstance(reading, ThermalFrame) else \
            pipeline.gas(reading)
        if step.score is not None:
            p = float(step.score.probability)
            trace.t.append(step.t)
            trace.score.append(p if math.isfinite(p) else math.nan)
            trace.threshold.append(pipeline.alarm.threshold)
        for ev in step.evidence:
            if ev.source in trace.active:
                trace.active[ev.source].append(step.t)
        for de in step.events:
            trace.events.append((de.t, de.kind, de.why or de.reason or ""))
    return trace


def plot_replay(rec: Recording, trace: ReplayTrace, path: str | os.PathLike[str],
                title: str = "replay") -> list[str]:
    """Draw ``trace`` beside ``rec``'s thumbnails into ``path`` (.png or .svg; overwritten:
    it is a picture, not data); return the panels' titles, thumbnails' first.

    :raises RuntimeError: matplotlib is not installed (the ``train`` extra).
    """
    plt = pyplot()
    fig = plt.figure(figsize=(13, 10), constrained_layout=True)
    grid = fig.add_gridspec(4, THUMBNAILS, height_ratios=[1.3, 1.4, 0.8, 1.0])
    titles = _thumbnails(fig, grid, rec, trace)
    ax_s = fig.add_subplot(grid[1, :])
    ax_e = fig.add_subplot(grid[2, :], sharex=ax_s)
    ax_r = fig.add_subplot(grid[3, :], sharex=ax_s)
    ax_s.plot(trace.t, trace.score, color="black", lw=0.9, label="fire score")
    ax_s.plot(trace.t, trace.threshold, color="red", ls="--", lw=1.0, label="threshold")
    ax_s.set_ylim(-0.02, 1.02)
    ax_s.set_ylabel("score")
    for t, kind, why in trace.events:
        for ax in (ax_s, ax_e, ax_r):
            ax.axvline(t, color=_EVENT_COLOURS.get(kind, "gray"), lw=1.2)
        ax_s.annotate(kind, (t, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12),
                      textcoords="offset points", fontsize=8,
                      color=_EVENT_COLOURS.get(kind, "gray"))
        log.info("plot: %s at %.1f s: %s", kind, t, why)
    ax_s.legend(loc="upper left", fontsize=8)
    for row, name in enumerate(SOURCES):
        times = trace.active[name]
        ax_e.scatter(times, [row] * len(times), marker="|", s=80, label=name)
    ax_e.set_yticks(range(len(SOURCES)), SOURCES, fontsize=8)
    ax_e.set_ylim(-0.7, len(SOURCES) - 0.3)
    frames_c = rec.frames.reshape(rec.frames.shape[0], -1).max(axis=1) * \
        rec.frame_resolution_k - ZERO_C_K if rec.frames.shape[0] else np.zeros(0)
    ax_r.plot(rec.frame_t, frames_c, color="tab:red", lw=0.8)
    ax_r.set_ylabel("hottest (°C)", color="tab:red")
    twin = ax_r.twinx()
    twin.plot(rec.gas_t, rec.co2_ppm, color="tab:green", lw=1.0)
    twin.set_ylabel("CO2 (ppm)", color="tab:green")
    ax_r.set_xlabel("time (s)")
    for ax, name in zip((ax_s, ax_e, ax_r), TITLES, strict=True):
        ax.set_title(name, loc="left", fontsize=10)
        ax.grid(alpha=0.3)
        titles.append(name)
    fig.suptitle(f"{title}: {_summary(trace)}", fontsize=10)
    save_figure(fig, path)
    return titles


def thumbnail_times(rec: Recording, trace: ReplayTrace, n: int = THUMBNAILS) -> list[float]:
    """The frames shown: one at each event (the first ``n``), the rest at regular times."""
    if rec.frames.shape[0] == 0:
        return []
    at_events = sorted({t for t, _, _ in trace.events})[:n]
    regular = np.linspace(rec.frame_t[0], rec.frame_t[-1], n - len(at_events)).tolist() \
        if n > len(at_events) else []
    return sorted(at_events + [float(t) for t in regular])


def _thumbnails(fig: Any, grid: Any, rec: Recording, trace: ReplayTrace) -> list[str]:
    times = thumbnail_times(rec, trace)
    if not times:
        return []
    events = {t: kind for t, kind, _ in trace.events}
    idx = np.minimum(np.searchsorted(rec.frame_t, times), rec.frames.shape[0] - 1)
    shots = rec.frames[idx] * rec.frame_resolution_k - ZERO_C_K
    lo, hi = float(np.percentile(shots, 1)), float(shots.max())
    titles = []
    for k, (t, img) in enumerate(zip(times, shots, strict=True)):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(img, cmap="inferno", vmin=lo, vmax=max(hi, lo + 1.0))
        name = f"{t:.0f} s{' ' + events[t] if t in events else ''}, max {img.max():.0f} °C"
        ax.set_title(name, fontsize=7, color=_EVENT_COLOURS.get(events.get(t, ""), "black"))
        ax.set_xticks([])
        ax.set_yticks([])
        titles.append(name)
    return titles


def _summary(trace: ReplayTrace) -> str:
    alarms = [t for t, kind, _ in trace.events if kind == "alarm"]
    if not alarms:
        peak = np.nanmax(trace.score) if trace.score and not np.all(np.isnan(trace.score)) \
            else math.nan
        return f"no alarm (highest score {peak:.2f})"
    first = next(why for t, kind, why in trace.events if kind == "alarm")
    return f"{len(alarms)} alarm(s), first at {alarms[0]:.0f} s: {first}"
