"""A picture of a recording a person can judge: gas, thermal statistics, features, thumbnails.

``plot_recording(rec, path)`` draws CO2, temperature and humidity, the hottest pixel and the
hot area, a few of the 18 features (``edge.features.featurize_recording``), the fire onset
(``meta.fire_start_s``) on every panel, and a strip of thermal thumbnails. matplotlib is
imported here, lazily: it is part of the ``train`` extra, not of a device install.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from edge.recording import Recording
from edge.types import ZERO_C_K, FloatArray

log = logging.getLogger(__name__)
HOT_C = 60.0
THUMBNAILS = 8
_MAX_POINTS = 1500  # frames summarised for the curves (t_max uses every frame)
_FEATURES = ("t_max", "t_hot_area_pct", "t_diff_mean", "flow_mag_mean", "gas_vel",
             "tproxy_vel")


def thermal_summary(rec: Recording) -> dict[str, FloatArray]:
    """Per-frame t_max, p95, mean (°C) and hot area (% > 60 °C) on at most 1500 frames."""
    n = rec.frames.shape[0]
    pick = np.unique(np.linspace(0, n - 1, min(n, _MAX_POINTS)).astype(np.intp)) if n else \
        np.zeros(0, dtype=np.intp)
    res = rec.frame_resolution_k
    flat = rec.frames[pick].reshape(pick.size, -1)
    hot_count = round((HOT_C + ZERO_C_K) / res)
    return {
        "t": rec.frame_t[pick],
        "t_max": flat.max(axis=1) * res - ZERO_C_K if pick.size else np.zeros(0),
        "t_p95": np.percentile(flat, 95, axis=1) * res - ZERO_C_K if pick.size else np.zeros(0),
        "t_mean": flat.mean(axis=1) * res - ZERO_C_K if pick.size else np.zeros(0),
        "hot_pct": 100.0 * (flat > hot_count).mean(axis=1) if pick.size else np.zeros(0),
    }


def _features(rec: Recording) -> tuple[FloatArray, FloatArray, tuple[str, ...]] | None:
    try:
        from edge.features import FEATURE_NAMES, featurize_recording
    except ImportError:  # features not available in this build
        return None
    t, x = featurize_recording(rec)
    return t, x, FEATURE_NAMES


def plot_recording(rec: Recording, path: str | os.PathLike[str], title: str | None = None,
                   features: bool = True) -> Path:
    """Draw ``rec`` into the PNG ``path`` (overwrites it: it is a picture, not data)."""
    plt = pyplot()
    meta = rec.meta
    onset = rec.fire_start_s
    summary = thermal_summary(rec)
    feats = _features(rec) if features and rec.frames.shape[0] else None
    n_rows = 5 if feats is not None else 4
    fig = plt.figure(figsize=(13, 2.3 * n_rows + 2.2), constrained_layout=True)
    grid = fig.add_gridspec(n_rows + 1, THUMBNAILS, height_ratios=[1.3] + [1.0] * n_rows)
    _thumbnails(fig, grid, rec, onset, summary)
    axes = [fig.add_subplot(grid[i + 1, :]) for i in range(n_rows)]
    for ax in axes[1:]:
        ax.sharex(axes[0])

    ax = axes[0]
    ax.plot(rec.gas_t, rec.co2_ppm, color="tab:green", lw=1.2)
    ax.set_ylabel("CO2 (ppm)")
    ax.set_title(title or _title(meta), loc="left", fontsize=10)
    ax = axes[1]
    ax.plot(rec.gas_t, rec.temperature_c, color="tab:red", lw=1.2, label="temperature (°C)")
    ax.set_ylabel("SCD41 T (°C)")
    twin = ax.twinx()
    twin.plot(rec.gas_t, rec.humidity_pct, color="tab:blue", lw=1.0, label="RH (%)")
    twin.set_ylabel("RH (%)", color="tab:blue")
    ax = axes[2]
    ax.plot(summary["t"], summary["t_max"], color="tab:red", lw=0.8, label="t_max")
    ax.plot(summary["t"], summary["t_p95"], color="tab:orange", lw=0.8, label="t_p95")
    ax.plot(summary["t"], summary["t_mean"], color="tab:gray", lw=0.8, label="t_mean")
    ax.set_ylabel("frame (°C)")
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    ax = axes[3]
    ax.plot(summary["t"], summary["hot_pct"], color="tab:purple", lw=1.0)
    ax.set_ylabel(f"area > {HOT_C:.0f} °C (%)")
    if feats is not None:
        _plot_features(axes[4], *feats)
    axes[-1].set_xlabel("time (s)")
    for ax in axes:
        ax.grid(alpha=0.3)
        if onset is not None:
            ax.axvline(onset, color="red", ls="--", lw=1.2)
    if onset is not None:
        axes[0].annotate("fire onset", (onset, 1.0), xycoords=("data", "axes fraction"),
                         xytext=(3, -12), textcoords="offset points", color="red", fontsize=8)
    return save_figure(fig, path)


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend.

    :raises RuntimeError: matplotlib is not installed (the ``train`` extra).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("plotting needs matplotlib, which is in the train extra: "
                           "pip install 'firedetect[train]'") from exc
    return plt


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` to ``path`` (its folder made; a picture, so overwritten) and close it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    pyplot().close(fig)
    log.info("wrote %s", out)
    return out


def _title(meta: dict[str, Any]) -> str:
    if not meta:
        return "recording"
    parts = [f"{meta.get('family', '?')} {meta.get('scenario', '?')}",
             f"label {meta.get('label', '?')}", f"seed {meta.get('seed', '?')}"]
    if meta.get("background"):
        parts.append(f"over {meta['background']}")
    p = meta.get("params", {})
    for key in ("camera_distance_m", "camera_occlusion", "room_volume_m3"):
        if key in p:
            parts.append(f"{key} {p[key]:.2f}")
    return " · ".join(parts)


def _thumbnails(fig: Any, grid: Any, rec: Recording, onset: float | None,
                summary: dict[str, FloatArray]) -> None:
    n = rec.frames.shape[0]
    if n == 0:
        return
    times = np.linspace(rec.frame_t[0], rec.frame_t[-1], THUMBNAILS)
    if onset is not None:  # make sure the moments after onset are shown
        times = np.sort(np.concatenate([np.linspace(rec.frame_t[0], onset, 3)[:2],
                                        np.linspace(onset, rec.frame_t[-1], THUMBNAILS - 2)]))
    # Show the moments of the largest hot area and the hottest pixel, however brief.
    for key in ("hot_pct", "t_max"):
        if summary[key].size and summary[key].max() > summary[key].min():
            special = float(summary["t"][int(np.argmax(summary[key]))])
            near = int(np.argmin(np.abs(times - special)))
            if onset is not None and abs(times[near] - onset) < 1e-6:
                near = min(near + 1, THUMBNAILS - 1)
            times[near] = special
    times = np.sort(times)
    idx = np.minimum(np.searchsorted(rec.frame_t, times), n - 1)
    shots = rec.frames[idx] * rec.frame_resolution_k - ZERO_C_K
    lo, hi = float(np.percentile(shots, 1)), float(shots.max())
    for k, (i, img) in enumerate(zip(idx, shots, strict=True)):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(img, cmap="inferno", vmin=lo, vmax=max(hi, lo + 1.0))
        ax.set_title(f"{rec.frame_t[i]:.0f} s, max {img.max():.0f} °C", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])


def _plot_features(ax: Any, t: FloatArray, x: FloatArray, names: tuple[str, ...]) -> None:
    for name in _FEATURES:
        if name not in names:
            continue
        col = x[:, names.index(name)]
        ok = np.isfinite(col)
        if not ok.any():
            continue
        span = float(np.nanmax(np.abs(col))) or 1.0
        ax.plot(t[ok], col[ok] / span, lw=0.8, label=f"{name} (÷{span:.3g})")
    ax.set_ylabel("features (scaled)")
    ax.legend(loc="upper left", fontsize=7, ncol=3)
