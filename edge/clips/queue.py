"""The clip upload queue on disk: survives restarts, never fills the SD card.

Each item is a body file (a clip's ``.npz`` or a verdict's ``.label.json``) and a small
``.item`` file beside it naming its S3 key and reason; the ``.item`` is written (atomically)
last, so a body without one is an interrupted write and is removed at start. Items are
uploaded oldest first, so a later verdict for the same clip overwrites an earlier one in S3.

The cap (``max_queue_mb``): when a new item would exceed it, the oldest ``near_miss`` and
``fault`` clips are dropped first. ``alarm`` and ``verdict`` clips and labels are never
dropped: if only those remain, a new near-miss or fault clip is refused (logged), while a new
alarm or verdict item is kept even over the cap (logged at ERROR).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Reasons whose items may be dropped to make room, oldest first.
DROPPABLE = frozenset({"near_miss", "fault"})


@dataclass(frozen=True, slots=True)
class Item:
    """One queued upload."""

    body: Path
    key: str
    reason: str
    size: int

    @property
    def meta(self) -> Path:
        return self.body.with_name(self.body.name + ".item")


class ClipQueue:
    """The queue in ``directory`` (created), capped at ``max_bytes`` of bodies."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._n = 0
        self.dropped = 0
        self.refused = 0
        self._recover()

    def _recover(self) -> None:
        metas = {p.name[: -len(".item")] for p in self.dir.glob("*.item")}
        for p in self.dir.iterdir():
            if p.name.startswith(".") or (not p.name.endswith(".item") and p.name not in metas):
                log.warning("clips: removing %s (an interrupted write)", p)
                p.unlink(missing_ok=True)

    def new_path(self, name: str) -> Path:
        """A fresh body path for ``name`` (ordered after every existing item)."""
        with self._lock:
            self._n += 1
            return self.dir / f"{time.time_ns():020d}-{self._n:06d}-{name}"

    def items(self) -> list[Item]:
        """Every complete item, oldest first."""
        out = []
        for meta in sorted(self.dir.glob("*.item")):
            body = meta.with_name(meta.name[: -len(".item")])
            try:
                info = json.loads(meta.read_text(encoding="utf-8"))
                out.append(Item(body, str(info["key"]), str(info["reason"]),
                                body.stat().st_size))
            except (OSError, ValueError, KeyError) as exc:
                log.error("clips: %s: unreadable queue item (%s); removing it", meta, exc)
                meta.unlink(missing_ok=True)
                body.unlink(missing_ok=True)
        return out

    def total_bytes(self) -> int:
        return sum(i.size for i in self.items())

    def add(self, body: Path, key: str, reason: str) -> bool:
        """Enqueue the already written ``body`` (from :meth:`new_path`); False if refused."""
        size = body.stat().st_size
        with self._lock:
            items = self.items()
            total = sum(i.size for i in items)
            for old in items:
                if total + size <= self.max_bytes:
                    break
                if old.reason in DROPPABLE:
                    log.warning("clips: queue over %d bytes: dropping the %s clip %s",
                                self.max_bytes, old.reason, old.key)
                    self._remove(old)
                    self.dropped += 1
                    total -= old.size
            if total + size > self.max_bytes:
                if reason in DROPPABLE:
                    log.warning("clips: queue full of alarm/verdict items (%d bytes, cap %d): "
                                "refusing the %s clip %s", total, self.max_bytes, reason, key)
                    body.unlink(missing_ok=True)
                    self.refused += 1
                    return False
                log.error("clips: queue over its cap (%d + %d bytes, cap %d) with alarm/verdict "
                          "items only: keeping the %s item %s anyway", total, size,
                          self.max_bytes, reason, key)
            item = Item(body, key, reason, size)
            tmp = item.meta.with_name("." + item.meta.name)
            tmp.write_text(json.dumps({"key": key, "reason": reason}), encoding="utf-8")
            os.replace(tmp, item.meta)
        log.info("clips: queued %s (%s, %d bytes)", key, reason, size)
        return True

    def add_bytes(self, name: str, data: bytes, key: str, reason: str) -> bool:
        """Write ``data`` as a new item body and enqueue it."""
        path = self.new_path(name)
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return self.add(path, key, reason)

    def done(self, item: Item) -> None:
        """``item`` was uploaded: remove it."""
        with self._lock:
            self._remove(item)

    def _remove(self, item: Item) -> None:
        item.meta.unlink(missing_ok=True)
        item.body.unlink(missing_ok=True)
