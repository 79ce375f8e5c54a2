"""The validation runs the alarm threshold and the watches' bars are chosen on, as scored.

Training scores these runs once (``cloud.training.evaluate.fit_on_split``) and chooses from
them the event threshold, the flame, smoulder and gas watches' bars and the sustained alarm's
(:func:`choose_bars`). :class:`ChoiceRuns` holds exactly what those choices read — per row the
run, time, label, the calibrated score, the gas-only score and what the device's watches say —
and no features, so ``cloud/train.py`` writes it beside its report (``choice.npz``, a few tens
of MB for the demo model) and a choice can be audited, or made again with another margin,
without rendering and fitting again (``python -m cloud.training.choice REPORT/choice.npz``).

The file is a NumPy ``.npz`` with no pickled objects: the row arrays, and ``meta``, a JSON
string naming the runs (name, family, ignition, length, kind) and which of them each choice
reads. :func:`load_choice` names what is wrong with a file that is not one.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from cloud.training.data import Dataset, Group

if TYPE_CHECKING:
    from cloud.training.ensemble import Ensemble

log = logging.getLogger(__name__)

__all__ = ["FORMAT", "ChoiceRuns", "choice_runs", "choose_bars", "load_choice", "main"]

#: The file's format tag (``meta["format"]``).
FORMAT = "firedetect-choice-1"
_ARRAYS = {"y": np.int8, "group": np.int32, "t": np.float64, "scored": np.bool_,
           "watch": np.int8, "smoulder": np.bool_, "smoulder_steps": np.int8,
           "p": np.float64, "p_gas": np.float64}
#: Arrays a file may lack (written since): filled with NaN (the flame ladder then has no rungs).
_OPTIONAL = {"watch_s": np.float32}
Array = npt.NDArray[np.float64]


@dataclass
class ChoiceRuns:
    """The chosen-on runs: ``ds`` (their rows only, no feature columns), each row's
    calibrated score ``p`` and gas-only score ``p_gas``, and which runs (indices into
    ``ds.groups``) the watches' bars read: ``watched`` (recordings with camera frames: the
    flame and smoulder bars) and ``gassed`` (recordings: the gas bar). The threshold and the
    sustained alarm read every run."""

    ds: Dataset
    p: Array
    p_gas: Array
    watched: list[int]
    gassed: list[int]

    @property
    def rows(self) -> npt.NDArray[np.intp]:
        return np.arange(self.p.size, dtype=np.intp)

    @property
    def groups(self) -> list[int]:
        return list(range(len(self.ds.groups)))

    def save(self, path: Path) -> Path:
        """Write the runs to ``path`` (``.npz``; the parent is created)."""
        ds = self.ds
        meta = {"format": FORMAT, "watched": self.watched, "gassed": self.gassed,
                "groups": [[g.name, g.family, g.fire_start_s, g.duration_s, g.kind]
                           for g in ds.groups]}
        arrays: dict[str, npt.NDArray[Any]] = {
            "y": ds.y, "group": ds.group, "t": ds.t, "scored": ds.scored, "watch": ds.watch,
            "smoulder": ds.smoulder, "smoulder_steps": ds.smoulder_steps, "p": self.p,
            "p_gas": self.p_gas, "watch_s": ds.watch_s}
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(fh, meta=np.asarray(json.dumps(meta)), **arrays)  # type: ignore[arg-type]
        return path


def choice_runs(ds: Dataset, rows: npt.NDArray[np.intp], p: Array, p_gas: Array,
                groups: Sequence[int], watched: Sequence[int], gassed: Sequence[int]
                ) -> ChoiceRuns:
    """The runs ``groups`` of ``ds`` (``rows``: all their rows, scored ``p`` and ``p_gas``),
    renumbered from 0; ``watched`` and ``gassed`` are among ``groups``.

    :raises ValueError: scores not one per row, or a watched/gassed run not among ``groups``.
    """
    if p.shape != rows.shape or p_gas.shape != rows.shape:
        raise ValueError(f"{p.size} scores and {p_gas.size} gas-only scores for {rows.size} rows")
    index = {g: i for i, g in enumerate(groups)}
    stray = [g for g in (*watched, *gassed) if g not in index]
    if stray:
        raise ValueError(f"runs {stray} are watched or gassed but not among the chosen-on runs")
    renumber = np.full(len(ds.groups), -1, np.int32)
    renumber[list(groups)] = np.arange(len(groups), dtype=np.int32)
    sub = Dataset(np.zeros((rows.size, 0), np.float32), ds.y[rows], renumber[ds.group[rows]],
                  ds.t[rows], ds.scored[rows], [ds.groups[g] for g in groups],
                  watch=ds.watch[rows], smoulder=ds.smoulder[rows],
                  smoulder_steps=ds.smoulder_steps[rows], watch_s=ds.watch_s[rows])
    return ChoiceRuns(sub, p, p_gas, [index[g] for g in watched], [index[g] for g in gassed])


def load_choice(path: Path) -> ChoiceRuns:
    """Read a file :meth:`ChoiceRuns.save` wrote.

    :raises ValueError: naming the file and what is wrong: not an ``.npz``, no or another
        ``meta`` format, a missing or mis-sized array, a row naming no run.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a choice file (an .npz written by cloud/train.py): "
                         f"{exc}") from exc
    try:
        meta = json.loads(str(data["meta"]))
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: no readable 'meta'; allowed: a choice file of format "
                         f"{FORMAT}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path}: format {got!r}; allowed: {FORMAT}")
    missing = [k for k in _ARRAYS if k not in data]
    if missing:
        raise ValueError(f"{path}: arrays {missing} missing; a choice file holds "
                         f"{', '.join(_ARRAYS)}")
    n_rows = np.asarray(data["t"]).shape[:1]
    for name, kind in _OPTIONAL.items():
        data.setdefault(name, np.full(n_rows, np.nan, kind))
    kinds = _ARRAYS | _OPTIONAL
    try:
        arr: dict[str, Any] = {k: np.asarray(data[k]).astype(dt, copy=False)
                               for k, dt in kinds.items()}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: an array is not of numbers ({exc}); a choice file holds "
                         f"{', '.join(f'{k} ({np.dtype(dt).name})' for k, dt in kinds.items())}"
                         ) from exc
    n = arr["t"].shape
    bad = [k for k, a in arr.items() if a.ndim != 1 or a.shape != n]
    if bad:
        raise ValueError(f"{path}: arrays {bad} are not one value per row ({n[0]} rows)")
    try:
        groups = [Group(str(name), str(fam), None if t0 is None else float(t0), float(dur),
                        str(kind)) for name, fam, t0, dur, kind in meta["groups"]]
        watched = [int(g) for g in meta["watched"]]
        gassed = [int(g) for g in meta["gassed"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: 'meta' does not name the runs as {FORMAT} does: "
                         f"{exc}") from exc
    k = len(groups)
    if n[0] and not (int(arr["group"].min()) >= 0 and int(arr["group"].max()) < k):
        raise ValueError(f"{path}: rows name runs outside the {k} the file lists")
    if any(not 0 <= g < k for g in (*watched, *gassed)):
        raise ValueError(f"{path}: watched/gassed runs outside the {k} the file lists")
    ds = Dataset(np.zeros((n[0], 0), np.float32), arr["y"], arr["group"], arr["t"],
                 arr["scored"], groups, watch=arr["watch"], smoulder=arr["smoulder"],
                 smoulder_steps=arr["smoulder_steps"], watch_s=arr["watch_s"])
    return ChoiceRuns(ds, arr["p"], arr["p_gas"], watched, gassed)


def choose_bars(ens: Ensemble, runs: ChoiceRuns, threshold_mode: str = "events",
                margin: float = 0.05) -> None:
    """Choose ``ens``'s event threshold (``threshold_mode`` "events"; "frames" keeps the one it
    has) and its flame, smoulder, gas and sustained-alarm bars on ``runs``, each with
    ``margin`` over what the no-fire streams reach (the modules named in
    ``cloud.training.evaluate.fit_on_split``).

    :raises ValueError: an unknown threshold mode or a margin outside [0, 1).
    """
    from cloud.training.corroborate import choose_flame_bar
    from cloud.training.evaluate import streams_of
    from cloud.training.gas_bar import choose_gas_bar
    from cloud.training.hold import choose_hold_bar, fire_streams
    from cloud.training.smoulder_bar import choose_smoulder_bar
    from cloud.training.threshold import event_threshold

    if threshold_mode not in ("events", "frames"):
        raise ValueError(f"threshold mode {threshold_mode!r}; allowed: frames, events")
    ds, p, rows, groups = runs.ds, runs.p, runs.rows, runs.groups
    streams = streams_of(ds, rows, p, groups)
    if threshold_mode == "events":
        if streams:
            ens.threshold = event_threshold(streams, margin)
        else:
            log.warning("no validation recordings to choose an event threshold on; keeping "
                        "the per-frame threshold %.4f", ens.threshold)
    if runs.watched:
        ens.flame_bar = choose_flame_bar(ds, p, rows, runs.watched, margin)
        ens.smoulder_bar = choose_smoulder_bar(ds, p, rows, runs.watched, margin=margin)
    if runs.gassed:
        ens.gas_bar = choose_gas_bar(ds, runs.p_gas, rows, runs.gassed, margin)
    if streams:
        ens.hold_bar = choose_hold_bar(streams, fire_streams(ds, rows, p, groups),
                                       ens.threshold, margin)


def main(argv: Sequence[str] | None = None) -> int:
    """Choose the threshold and bars again from a saved file and print them as JSON."""
    from cloud.training.ensemble import Ensemble

    ap = argparse.ArgumentParser(
        prog="python -m cloud.training.choice",
        description="Choose the alarm threshold and the watches' bars again from the runs "
                    "training chose them on (REPORT/choice.npz), e.g. with another margin.")
    ap.add_argument("path", type=Path, help="a choice.npz written by cloud/train.py")
    ap.add_argument("--margin", type=float, default=0.05,
                    help="over what the no-fire streams reach (default 0.05, as training)")
    args = ap.parse_args(argv)
    try:
        runs = load_choice(args.path)
        ens = Ensemble(pipelines={}, weights={})
        choose_bars(ens, runs, "events", args.margin)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = {"threshold": ens.threshold, "detection": ens.detection(),
           "flame_bar": None if ens.flame_bar is None else ens.flame_bar.as_dict(),
           "smoulder_bar": None if ens.smoulder_bar is None else ens.smoulder_bar.as_dict(),
           "gas_bar": None if ens.gas_bar is None else ens.gas_bar.as_dict(),
           "hold_bar": None if ens.hold_bar is None else ens.hold_bar.as_dict()}
    print(json.dumps(out, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
