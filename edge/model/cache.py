"""The on-disk last-known-good models under ``<state_dir>/models/``.

Layout: one verified artifact folder per version (``models/<version>/``), and
``models/state.json`` = ``{"current": v, "previous": v | null, "rejected": [v, ...],
"refused": [v, ...]}`` (rejected: failed while scoring; refused: older than the model in use,
not downloaded again unless a signed pointer says ``rollback``), replaced
atomically (write, fsync, rename). Folders other than current and previous are pruned. Files
here are re-verified on every load: the cache is a copy, not a trust anchor.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edge.model.verify import VERSION_RE

__all__ = ["CacheState", "ModelCache"]

log = logging.getLogger(__name__)

STATE = "state.json"
MAX_REJECTED = 32


@dataclass
class CacheState:
    """Which cached versions are in use."""

    current: str | None = None
    previous: str | None = None
    rejected: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # older than the model in use (downgrade)


class ModelCache:
    """Verified model folders kept for start-up without network and for rollback."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def read_state(self) -> CacheState:
        """The state file; an empty state when it is missing or unreadable (logged)."""
        path = self.root / STATE
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return CacheState()
        except (OSError, ValueError) as exc:
            log.error("model cache %s unreadable (%s); starting without a cached model", path, exc)
            return CacheState()
        if not isinstance(doc, dict):
            return CacheState()

        def version(key: str) -> str | None:
            v = doc.get(key)
            return v if isinstance(v, str) and VERSION_RE.match(v) else None

        def versions(key: str) -> list[str]:
            raw = doc.get(key, [])
            listed = raw if isinstance(raw, list) else []
            return [v for v in listed if isinstance(v, str)][-MAX_REJECTED:]

        return CacheState(version("current"), version("previous"), versions("rejected"),
                          versions("refused"))

    def write_state(self, state: CacheState) -> None:
        """Replace the state file atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        doc = {
            "current": state.current,
            "previous": state.previous,
            "rejected": state.rejected[-MAX_REJECTED:],
            "refused": state.refused[-MAX_REJECTED:],
        }
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.root / STATE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def folder(self, version: str) -> Path:
        """Where a cached version lives (it may not exist)."""
        if not VERSION_RE.match(version):
            raise ValueError(f"version {version!r}; allowed: {VERSION_RE.pattern}")
        return self.root / version

    def staging_dir(self) -> Path:
        """A new private folder in the cache's file system (same-device renames)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))

    def store(self, source: Path, version: str) -> Path:
        """Copy (or move, when ``source`` is in our staging area) a verified folder in."""
        dest = self.folder(version)
        if source.resolve() == dest.resolve():
            return dest
        tmp = self.staging_dir()
        try:
            if source.resolve().is_relative_to(self.root.resolve()):
                os.rename(source, tmp / "model")
            else:
                shutil.copytree(source, tmp / "model", symlinks=True)
            if dest.exists():
                old = tmp / "old"
                os.rename(dest, old)
            os.rename(tmp / "model", dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest

    def prune(self, keep: set[str]) -> None:
        """Remove cached versions not in ``keep`` (staging folders are left alone)."""
        if not self.root.is_dir():
            return
        for p in self.root.iterdir():
            if p.is_dir() and not p.name.startswith(".") and p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)

    def clean_staging(self) -> None:
        """Remove staging folders left by a crash (call at start-up only)."""
        if not self.root.is_dir():
            return
        for p in self.root.glob(".staging-*"):
            shutil.rmtree(p, ignore_errors=True)
