"""The crash-safe event outbox."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge.errors import OutboxError
from edge.mqtt.outbox import Outbox, open_outbox

_CHILD = """
import sys
from edge.mqtt.outbox import Outbox, open_outbox
box = Outbox(sys.argv[1])
i = 0
while True:
    i += 1
    seq = box.append_event("fd/alarm", lambda s: b'{"seq": %d, "pad": "%s"}' % (s, b"x" * 2000))
    sys.stdout.write(f"{seq}\\n")
    sys.stdout.flush()
"""


class TestOutbox:
    def test_append_and_pending_in_order(self, tmp_path: Path) -> None:
        """Events come back in append order with consecutive seqs and their fields intact."""
        with Outbox(tmp_path / "o.db") as box:
            seqs = [box.append(f"fd/t{i}", f"p{i}", qos=i % 2, retain=i == 3) for i in range(5)]
            assert seqs == [1, 2, 3, 4, 5]
            items = box.pending()
            assert [(i.seq, i.topic, i.payload, i.qos, i.retain) for i in items] == [
                (1, "fd/t0", b"p0", 0, False),
                (2, "fd/t1", b"p1", 1, False),
                (3, "fd/t2", b"p2", 0, False),
                (4, "fd/t3", b"p3", 1, True),
                (5, "fd/t4", b"p4", 0, False),
            ]
            assert box.depth() == 5

    def test_pending_limit_and_after(self, tmp_path: Path) -> None:
        """pending() pages by limit and by the last seq already seen."""
        with Outbox(tmp_path / "o.db") as box:
            for i in range(10):
                box.append("fd/a", str(i))
            assert [i.seq for i in box.pending(limit=3)] == [1, 2, 3]
            assert [i.seq for i in box.pending(limit=3, after=3)] == [4, 5, 6]
            assert box.pending(after=10) == []

    def test_ack_deletes_only_that_event(self, tmp_path: Path) -> None:
        """ack(seq) removes one event; unknown seqs are ignored."""
        with Outbox(tmp_path / "o.db") as box:
            for i in range(3):
                box.append("fd/a", str(i))
            box.ack(2)
            box.ack(99)
            assert [i.seq for i in box.pending()] == [1, 3]
            assert box.depth() == 2

    def test_payload_built_with_its_seq(self, tmp_path: Path) -> None:
        """append_event lets the caller put the assigned seq into the payload."""
        with Outbox(tmp_path / "o.db") as box:
            box.append("fd/a", "x")
            seq = box.append_event("fd/a", lambda s: json.dumps({"seq": s}))
            assert seq == 2
            assert json.loads(box.pending()[-1].payload) == {"seq": 2}

    def test_failing_payload_builder_stores_nothing(self, tmp_path: Path) -> None:
        """If make_payload raises, no event is stored and the seq is not consumed."""
        with Outbox(tmp_path / "o.db") as box:

            def boom(seq: int) -> bytes:
                raise RuntimeError("no payload")

            with pytest.raises(RuntimeError):
                box.append_event("fd/a", boom)
            assert box.depth() == 0
            assert box.append("fd/a", "x") == 1

    def test_restart_keeps_events_and_seq(self, tmp_path: Path) -> None:
        """Events and the seq counter survive close and reopen."""
        path = tmp_path / "o.db"
        with Outbox(path) as box:
            for i in range(3):
                box.append("fd/a", str(i))
        with Outbox(path) as box:
            assert [i.payload for i in box.pending()] == [b"0", b"1", b"2"]
            assert box.append("fd/a", "3") == 4

    def test_seq_never_reused_after_deletions(self, tmp_path: Path) -> None:
        """Acking every event, even across a restart, never makes a seq come back."""
        path = tmp_path / "o.db"
        with Outbox(path) as box:
            for _ in range(3):
                box.append("fd/a", "x")
            for s in (1, 2, 3):
                box.ack(s)
            assert box.append("fd/a", "y") == 4
            box.ack(4)
        with Outbox(path) as box:
            assert box.depth() == 0
            assert box.next_seq() == 5
            assert box.append("fd/a", "z") == 5

    def test_reserved_seq_is_skipped(self, tmp_path: Path) -> None:
        """A seq reserved for an in-memory event is never given to a stored one."""
        path = tmp_path / "o.db"
        with Outbox(path) as box:
            assert box.append("fd/a", "x") == 1
            assert box.reserve_seq() == 2
            assert box.append("fd/a", "y") == 3
        with Outbox(path) as box:
            assert box.append("fd/a", "z") == 4

    def test_wal_and_full_sync(self, tmp_path: Path) -> None:
        """The database is in WAL mode and the connection syncs fully."""
        path = tmp_path / "o.db"
        with Outbox(path) as box:
            box.append("fd/a", "x")
            assert box._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()

    def test_concurrent_appenders(self, tmp_path: Path) -> None:
        """Threads appending at once get unique consecutive seqs and nothing is lost."""
        with Outbox(tmp_path / "o.db") as box:
            got: list[int] = []
            lock = threading.Lock()

            def work(n: int) -> None:
                for i in range(25):
                    seq = box.append_event("fd/a", lambda s, n=n, i=i: f"{n}:{i}:{s}")
                    with lock:
                        got.append(seq)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(got) == list(range(1, 101))
            items = box.pending(limit=1000)
            assert [i.seq for i in items] == list(range(1, 101))
            assert all(i.payload.decode().endswith(f":{i.seq}") for i in items)

    def test_sigkill_mid_write_loses_nothing_acknowledged(self, tmp_path: Path) -> None:
        """A process killed while appending keeps every event whose append() returned."""
        path = tmp_path / "o.db"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
        )
        assert proc.stdout is not None
        returned: list[int] = []
        for line in proc.stdout:
            returned.append(int(line))
            if len(returned) >= 40:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        returned.extend(int(line) for line in proc.stdout.read().split())
        with Outbox(path) as box:
            items = box.pending(limit=100_000)
            seqs = [i.seq for i in items]
            assert set(returned) <= set(seqs)
            assert seqs == list(range(1, len(seqs) + 1))
            assert all(json.loads(i.payload)["seq"] == i.seq for i in items)
            assert box.append("fd/a", "after") == len(seqs) + 1

    def test_corrupt_file_names_the_file(self, tmp_path: Path) -> None:
        """A file that is not a database gives an OutboxError naming it."""
        path = tmp_path / "o.db"
        path.write_bytes(b"this is not sqlite" * 100)
        with pytest.raises(OutboxError, match=re.escape(str(path))):
            Outbox(path)
        assert path.read_bytes() == b"this is not sqlite" * 100

    def test_unopenable_path_names_the_file(self, tmp_path: Path) -> None:
        """A path whose directory is a regular file gives an OutboxError naming it."""
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(OutboxError, match=re.escape("file/o.db")):
            Outbox(blocker / "o.db")

    def test_disk_full_raises_and_keeps_stored_events(self, tmp_path: Path) -> None:
        """When the disk is full, append raises OutboxError and earlier events stay intact."""
        path = tmp_path / "o.db"
        with Outbox(path) as box:
            box.append("fd/a", "kept")
            pages = box._conn.execute("PRAGMA page_count").fetchone()[0]
            box._conn.execute(f"PRAGMA max_page_count={pages}")
            with pytest.raises(OutboxError, match=re.escape(str(path))):
                for _ in range(50):
                    box.append("fd/a", b"x" * 4000)
            assert box.pending(limit=1)[0].payload == b"kept"
        with Outbox(path) as box:
            items = box.pending(limit=1000)
            assert items[0].payload == b"kept"
            assert [i.seq for i in items] == list(range(1, len(items) + 1))

    @pytest.mark.parametrize(("topic", "qos"), [("", 1), ("fd/#", 1), ("fd/a", 2)])
    def test_bad_arguments_raise_value_error(self, tmp_path: Path, topic: str, qos: int) -> None:
        """A wildcard or empty topic, or QoS 2, is misuse."""
        with Outbox(tmp_path / "o.db") as box, pytest.raises(ValueError, match="outbox"):
            box.append(topic, "x", qos=qos)

    def test_open_outbox_moves_garbage_aside(self, tmp_path: Path) -> None:
        """A garbage file is moved aside intact and a new on-disk outbox starts above any seq
        the broken file could have held (Unix ms)."""
        path = tmp_path / "o.db"
        path.write_bytes(b"garbage" * 500)
        box = open_outbox(path)
        assert box.fault is None and not box.in_memory
        first = box.append("fd/a", "x")
        assert first > 1_000_000_000_000  # Unix ms: above any seq the broken file held
        assert box.append("fd/a", "y") == first + 1
        assert [i.seq for i in box.pending()] == [first, first + 1]
        box.close()
        moved = list(tmp_path.glob("o.db.corrupt-*"))
        assert [m.read_bytes() for m in moved if not m.name.endswith(("-wal", "-shm"))] == [
            b"garbage" * 500]

    def test_open_outbox_normal_file_has_no_fault(self, tmp_path: Path) -> None:
        """A healthy path opens the on-disk outbox, without a fault."""
        with open_outbox(tmp_path / "o.db") as box:
            assert box.fault is None
            assert box.append("fd/a", "x") == 1


class TestSeqAcrossStorageFaults:
    def test_recovery_starts_above_the_volatile_seqs(self, tmp_path: Path) -> None:
        """A volatile outbox (its directory missing) recovers into the file once it can be
        written: held events move in and the next seq is above every volatile one."""
        from edge.mqtt.outbox_open import try_recover

        path = tmp_path / "gone" / "o.db"
        box = open_outbox(path)
        assert box.in_memory and box.fault is not None
        held = [box.append("fd/a", "x"), box.append("fd/a", "y")]
        assert not try_recover(box)
        path.parent.mkdir()
        assert try_recover(box) and box.fault is None and not box.in_memory
        assert [i.seq for i in box.pending()] == held
        assert box.append("fd/a", "z") == held[-1] + 1
        box.close()
        with Outbox(path) as again:
            assert again.next_seq() == held[-1] + 2

    def test_restart_after_volatile_run_continues_from_the_high_water(
            self, tmp_path: Path) -> None:
        """Seqs handed out while volatile are recorded in $RUNTIME_DIRECTORY; the next start
        on the (now writable) file continues above them."""
        run = tmp_path / "run"
        run.mkdir()
        env = {"RUNTIME_DIRECTORY": str(run)}
        path = tmp_path / "d" / "o.db"
        from edge.mqtt.outbox_open import open_outbox as open_with_env

        volatile = open_with_env(path, env)
        last = volatile.append("fd/a", "x")
        volatile.close()
        path.parent.mkdir()
        with open_with_env(path, env) as box:
            assert box.append("fd/a", "y") == last + 1
