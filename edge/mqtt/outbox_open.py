"""Opening the outbox so that ``seq`` only ever increases, whatever the storage does.

The rule (docs/architecture.md, "seq"): the next seq is above every seq this device is known
to have handed out —

- the outbox file's own counter (every stored event, every reserved seq it could record);
- the **high-water record** (:class:`HighWater`): every seq handed out that is *not* on disk
  (a volatile outbox, an event kept in memory after a failed write) is written to
  ``$RUNTIME_DIRECTORY/seq-<hash of the outbox path>`` (systemd's ``RuntimeDirectory=``,
  ``/run/firedetect``, kept across service restarts by ``RuntimeDirectoryPreserve=yes``);
- where the history is unknowable (a garbage outbox file, nothing readable, no high-water
  record), a floor of the current Unix time in milliseconds.

What :func:`open_outbox` does with the file at ``path``:

- usable → the on-disk outbox, its counter raised to the high-water record + 1;
- not an outbox / corrupt (and the directory writable) → the file is **moved aside** to
  ``<name>.corrupt-<unix ms>`` (never deleted or overwritten; ``-wal``/``-shm`` with it) and a
  new outbox started at the wall-clock floor;
- readable but not writable (a read-only or full file system) → a volatile outbox that holds
  the file's unsent events and continues from its counter (when a high-water record can be
  kept; otherwise from the wall-clock floor);
- nothing readable → a volatile outbox from the wall-clock floor.

A volatile outbox is retried by the daemon (:func:`try_recover`): once the file can be
written, the held events move into it and its counter starts above the last volatile seq.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from edge.errors import OutboxError
from edge.mqtt.outbox import Outbox

__all__ = ["HighWater", "open_outbox", "try_recover"]

log = logging.getLogger(__name__)


def wall_floor() -> int:
    """The current Unix time in milliseconds: above any seq a device can have counted to."""
    return int(time.time() * 1000)


class HighWater:
    """The highest seq handed out without being stored, kept in a small file elsewhere.

    :param path: the record file; None when there is nowhere to keep it (then ``usable`` is
        False and callers fall back to the wall-clock floor).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._last = 0
        self._warned = False

    @classmethod
    def for_outbox(cls, outbox_path: Path, environ: dict[str, str] | None = None) -> HighWater:
        """The record for ``outbox_path`` in ``$RUNTIME_DIRECTORY`` (None outside systemd)."""
        env = os.environ if environ is None else environ
        run_dir = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
        if not run_dir:
            return cls(None)
        key = hashlib.sha256(str(Path(outbox_path).absolute()).encode()).hexdigest()[:16]
        return cls(Path(run_dir) / f"seq-{key}")

    @property
    def usable(self) -> bool:
        """True when the record's directory exists and can be written."""
        return self.path is not None and os.access(self.path.parent, os.W_OK)

    def read(self) -> int:
        """The recorded seq (0 when none or unreadable)."""
        if self.path is None:
            return 0
        try:
            return max(int(self.path.read_text(encoding="ascii").strip()), 0)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.warning("seq high-water record %s unreadable (%s); ignoring it", self.path, exc)
            return 0

    def record(self, seq: int) -> None:
        """Remember ``seq`` if it is the highest so far (atomic replace; failures logged once)."""
        if self.path is None or seq <= self._last:
            return
        self._last = seq
        try:
            fd, tmp = tempfile.mkstemp(prefix=".seq-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(f"{seq}\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.error("cannot record the seq high-water mark in %s: %s", self.path, exc)


def _read_only(path: Path) -> tuple[int, list[tuple[object, ...]]] | None:
    """The counter and unsent events of an outbox file opened read-only; None if it is not
    one (garbage, corrupt) or cannot be read at all."""
    if not path.is_file():
        return None
    for query in ("mode=ro", "immutable=1"):  # a WAL file on a read-only fs needs immutable
        try:
            conn = sqlite3.connect(f"{path.absolute().as_uri()}?{query}", uri=True)
        except sqlite3.Error:
            continue
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
            rows = conn.execute("SELECT seq, topic, payload, qos, retain, created FROM events "
                                "ORDER BY seq").fetchall()
            last = max((int(r[0]) for r in rows), default=0)
            return max(int(row[0]) if row else 1, last + 1), rows
        except sqlite3.Error:
            continue
        finally:
            conn.close()
    return None


def _move_aside(path: Path) -> Path | None:
    """Rename a garbage outbox (and its -wal/-shm) to ``<name>.corrupt-<ms>``; None if not."""
    dest = path.with_name(f"{path.name}.corrupt-{wall_floor()}")
    try:
        os.rename(path, dest)
    except OSError as exc:
        log.error("outbox %s: cannot move the unusable file aside: %s", path, exc)
        return None
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError, OSError):
            os.rename(side, dest.with_name(dest.name + suffix))
    return dest


def _open_file(path: Path, hw: HighWater) -> Outbox:
    """The on-disk outbox, moving a garbage file aside first.

    :raises OutboxError: the file (or a new one) cannot be used.
    """
    floor = hw.read() + 1
    try:
        return Outbox(path, floor=floor)
    except OutboxError:
        if not path.is_file() or _read_only(path) is not None:
            raise  # missing and not creatable, or a real outbox we cannot write: storage
    moved = _move_aside(path)
    if moved is None:
        raise OutboxError(f"{path}: not an event outbox (corrupt), and it cannot be moved aside")
    log.error("outbox %s: not an event outbox (corrupt); kept as %s, a new outbox starts",
              path, moved)
    return Outbox(path, floor=max(floor, wall_floor()))


def open_outbox(path: Path | str, environ: dict[str, str] | None = None) -> Outbox:
    """The outbox at ``path``; if it is unusable, a volatile one — never no outbox at all.

    Seqs keep increasing across every path (see the module docstring). The problem is logged
    at ERROR; a volatile outbox's ``fault`` says why, for the daemon's health.
    """
    path = Path(path)
    hw = HighWater.for_outbox(path, environ)
    try:
        box = _open_file(path, hw)
    except OutboxError as exc:
        old = _read_only(path)
        floor = hw.read() + 1
        if old is not None and hw.usable:
            first, rows = max(old[0], floor), old[1]
        else:
            first, rows = max(floor, wall_floor(), old[0] if old else 1), old[1] if old else []
        log.error("outbox: %s; events are kept in memory only until this is fixed "
                  "(%d unsent event(s) carried over, next seq %d)", exc, len(rows), first)
        box = Outbox.volatile(path, str(exc), first_seq=first)
        box.hold(rows)
    box.on_unstored_seq = hw.record
    return box


def try_recover(box: Outbox, environ: dict[str, str] | None = None) -> bool:
    """A volatile ``box``: try the file again; True once it is on disk (events moved in)."""
    if not box.in_memory:
        return True
    hw = HighWater.for_outbox(box.path, environ)
    floor = hw.read() + 1
    try:
        if box.path.is_file() and _read_only(box.path) is None:
            if _move_aside(box.path) is None:
                return False
            floor = max(floor, wall_floor())
        box.adopt_file(floor)
    except OutboxError as exc:
        log.debug("outbox %s: still unusable: %s", box.path, exc)
        return False
    return True
