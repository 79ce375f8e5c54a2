"""Raw held-out results on disk: one JSON file per run as it finishes, so an interrupted
evaluation keeps what it did (``--from-raw``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def raw_sink(folder: Path) -> Callable[[int, dict[str, Any]], None]:
    """Writes each result as ``folder/NNNN.json`` (new files only)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)

    def sink(i: int, res: dict[str, Any]) -> None:
        with open(folder / f"{i:04d}.json", "x", encoding="utf-8") as f:
            json.dump(_plain(res), f)

    return sink


def load_raw(out: Path) -> list[dict[str, Any]]:
    """The results ``raw_sink`` left under ``out/raw``, in order."""
    import json

    return [json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((out / "raw").glob("*.json"))]
