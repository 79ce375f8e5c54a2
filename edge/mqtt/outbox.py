"""The crash-safe event outbox: every alarm event is on disk before anyone is told it exists.

SQLite in WAL mode with ``synchronous=FULL``: :meth:`Outbox.append` returns only after the
event is committed and synced, so a crash or a power cut after it returns loses nothing. An
event leaves the outbox only when :meth:`Outbox.ack` is called (the MQTT link does so on the
broker's PUBACK).

``seq`` numbers events: it increases by one for every event ever appended, is stored in the
database (so it survives restarts) and is never reused, even after the rows are deleted.

Any SQLite failure — a corrupt file, a read-only directory, a full disk — raises
:class:`edge.errors.OutboxError` naming the file; the caller keeps the event in memory (it
can take a seq that is never reused from :meth:`Outbox.reserve_seq`) and reports a fault.
:func:`open_outbox` never leaves the daemon without an outbox: if the file is unusable it
returns an in-memory stand-in (:meth:`Outbox.volatile`) whose ``fault`` says why.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.errors import OutboxError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq     INTEGER PRIMARY KEY,
    topic   TEXT    NOT NULL,
    payload BLOB    NOT NULL,
    qos     INTEGER NOT NULL,
    retain  INTEGER NOT NULL,
    created REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One stored event, waiting for the broker's acknowledgement."""

    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


def _as_bytes(payload: bytes | str) -> bytes:
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, bytes):
        return payload
    raise TypeError(f"outbox payload must be bytes or str, got {type(payload).__name__}")


def _check(topic: str, qos: int) -> None:
    if not topic or any(c in topic for c in "+#\0"):
        raise ValueError(f"outbox topic must be a non-empty MQTT topic name, got {topic!r}")
    if qos not in (0, 1):
        raise ValueError(f"outbox qos must be 0 or 1, got {qos!r}")


class Outbox:
    """A disk-backed FIFO of events with persistent sequence numbers. Thread-safe."""

    def __init__(
        self, path: Path | str, *, _volatile_first_seq: int | None = None, floor: int = 1
    ) -> None:
        """Open (or create) the outbox database at ``path``.

        ``floor``: the lowest seq the next event may get (seqs issued elsewhere — a volatile
        period, a file moved aside — must not repeat); the stored counter is raised to it.

        :raises OutboxError: the file cannot be opened, is not an outbox, or is corrupt.
        """
        self.path = Path(path)
        #: Why this outbox is not crash-safe (None for a normal, on-disk outbox).
        self.fault: str | None = None
        #: The latest failed write or read (None once a write succeeds again).
        self.last_error: str | None = None
        #: Called with every seq handed out that is not stored on disk (volatile, reserved),
        #: so it can be recorded where a restart finds it (:mod:`edge.mqtt.outbox_open`).
        self.on_unstored_seq: Callable[[int], None] | None = None
        self._lock = threading.Lock()
        self._next_volatile = 0
        self.in_memory = _volatile_first_seq is not None
        first = max(_volatile_first_seq or 1, floor)
        self._conn = self._connect(first)
        log.debug("outbox %s opened, %d pending", self.path, self.depth())

    def _connect(self, first: int) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                ":memory:" if self.in_memory else self.path,
                isolation_level=None, check_same_thread=False, timeout=10.0,
            )
        except sqlite3.Error as exc:
            raise OutboxError(f"{self.path}: cannot open the event outbox: {exc}") from exc
        try:
            if not self.in_memory:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise OutboxError(
                        f"{self.path}: cannot switch the outbox to WAL (got {mode})"
                    )
                conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise OutboxError(f"{self.path}: the event outbox is corrupt: {check}")
            row = conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
            if row is None or int(row[0]) < first:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)",
                             (max(first, int(row[0]) if row else 1),))
        except sqlite3.Error as exc:
            conn.close()
            raise OutboxError(
                f"{self.path}: not a usable event outbox (corrupt or unwritable): {exc}"
            ) from exc
        except OutboxError:
            conn.close()
            raise
        return conn

    @classmethod
    def volatile(cls, path: Path | str, reason: str, first_seq: int) -> Outbox:
        """An in-memory outbox standing in for the unusable one at ``path``.

        Same API, but events do not survive a restart; ``fault`` says why. Its seqs start at
        ``first_seq`` so they do not repeat the (unreadable) on-disk ones.
        """
        if first_seq < 1:
            raise ValueError(f"first_seq must be ≥ 1, got {first_seq}")
        box = cls(path, _volatile_first_seq=first_seq)
        box.fault = reason
        return box

    def append(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> int:
        """Store one event; return its seq once it is committed and synced to disk.

        :raises OutboxError: the event could not be stored (nothing was written).
        :raises ValueError: a bad topic or qos.
        """
        data = _as_bytes(payload)
        return self.append_event(topic, lambda _seq: data, qos, retain)

    def append_event(
        self,
        topic: str,
        make_payload: Callable[[int], bytes | str],
        qos: int = 1,
        retain: bool = False,
    ) -> int:
        """Like :meth:`append`, but the payload is built from the seq this event gets.

        ``make_payload(seq)`` runs inside the write transaction; if it raises, nothing is
        stored and the exception propagates.

        :raises OutboxError: the event could not be stored (nothing was written).
        """
        _check(topic, qos)
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error("cannot start a write", exc) from exc
            try:
                row = self._conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
                seq = max(int(row[0]) if row else 1, self._next_volatile + 1)
                payload = _as_bytes(make_payload(seq))
                self._conn.execute(
                    "INSERT INTO events (seq, topic, payload, qos, retain, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (seq, topic, payload, qos, int(retain), time.time()),
                )
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)", (seq + 1,)
                )
                self._conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise self._error("cannot store an event", exc) from exc
                raise
            self._next_volatile = max(self._next_volatile, seq)
            self.last_error = None
        if self.in_memory:
            self._unstored(seq)
        return seq

    def reserve_seq(self) -> int:
        """A seq for an event that could not be stored: never handed out again by this object.

        Tries to record it on disk too, so a restart also skips it; ignores failures to do so.
        """
        with self._lock:
            try:
                row = self._conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
                stored = int(row[0]) if row else 1
            except sqlite3.Error:
                stored = 1
            seq = max(stored, self._next_volatile + 1)
            self._next_volatile = seq
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)", (seq + 1,)
                )
            except sqlite3.Error as exc:
                log.debug("outbox %s: could not record reserved seq %d: %s", self.path, seq, exc)
        self._unstored(seq)
        return seq

    def _unstored(self, seq: int) -> None:
        if self.on_unstored_seq is not None:
            try:
                self.on_unstored_seq(seq)
            except Exception:  # recording the high-water mark must never cost an event
                log.exception("outbox %s: could not record seq %d", self.path, seq)

    def hold(self, rows: Sequence[tuple[object, ...]]) -> None:
        """Take in unsent ``(seq, topic, payload, qos, retain, created)`` rows of another
        outbox (a read-only file's), keeping their seqs."""
        with self._lock:
            self._conn.executemany("INSERT OR IGNORE INTO events (seq, topic, payload, qos, "
                                   "retain, created) VALUES (?, ?, ?, ?, ?, ?)", rows)

    def adopt_file(self, floor: int) -> None:
        """Recovery: move this volatile outbox's pending events into the file at ``path``.

        The file's counter is raised above every seq handed out here (and to ``floor``), so
        seqs keep increasing. On success the outbox is crash-safe again (``fault`` None).

        :raises OutboxError: the file is still unusable (nothing changed).
        """
        if not self.in_memory:
            return
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
            first = max(int(row[0]) if row else 1, self._next_volatile + 1, floor)
            self.in_memory = False
            try:
                conn = self._connect(first)
            except OutboxError:
                self.in_memory = True
                raise
            rows = self._conn.execute(
                "SELECT seq, topic, payload, qos, retain, created FROM events ORDER BY seq"
            ).fetchall()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR IGNORE INTO events (seq, topic, payload, qos, "
                                 "retain, created) VALUES (?, ?, ?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                conn.close()
                self.in_memory = True
                raise OutboxError(f"{self.path}: cannot move the held events in: {exc}") from exc
            self._conn.close()
            self._conn = conn
            self.fault = None
            self.last_error = None
        log.warning("outbox %s: writable again; %d held event(s) moved in, next seq %d",
                    self.path, len(rows), first)

    def pending(self, limit: int = 100, after: int = 0) -> list[OutboxItem]:
        """Up to ``limit`` stored events with seq > ``after``, oldest first.

        :raises OutboxError: the database cannot be read.
        """
        if limit < 1:
            raise ValueError(f"pending limit must be ≥ 1, got {limit!r}")
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT seq, topic, payload, qos, retain FROM events WHERE seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (after, limit),
                ).fetchall()
            except sqlite3.Error as exc:
                raise self._error("cannot read pending events", exc) from exc
        return [OutboxItem(int(s), str(t), bytes(p), int(q), bool(r)) for s, t, p, q, r in rows]

    def ack(self, seq: int) -> None:
        """Delete the event ``seq`` (the broker has it). Unknown seqs are ignored.

        :raises OutboxError: the deletion could not be written.
        """
        with self._lock:
            try:
                self._conn.execute("DELETE FROM events WHERE seq = ?", (seq,))
            except sqlite3.Error as exc:
                raise self._error(f"cannot acknowledge event {seq}", exc) from exc

    def depth(self) -> int:
        """How many events wait for acknowledgement.

        :raises OutboxError: the database cannot be read.
        """
        with self._lock:
            try:
                return int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            except sqlite3.Error as exc:
                raise self._error("cannot count events", exc) from exc

    def next_seq(self) -> int:
        """The seq the next stored event will get."""
        with self._lock:
            try:
                row = self._conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
            except sqlite3.Error as exc:
                raise self._error("cannot read the sequence counter", exc) from exc
            return max(int(row[0]) if row else 1, self._next_volatile + 1)

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rollback(self) -> None:
        # No transaction open, or the connection is gone: nothing to undo either way.
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    def _error(self, what: str, exc: sqlite3.Error) -> OutboxError:
        log.error("outbox %s: %s: %s", self.path, what, exc)
        self.last_error = f"{self.path}: {what}: {exc}"
        return OutboxError(self.last_error)


def open_outbox(path: Path | str) -> Outbox:
    """The outbox at ``path``, or a volatile stand-in (``edge.mqtt.outbox_open``)."""
    from edge.mqtt.outbox_open import open_outbox as _open

    return _open(path)
